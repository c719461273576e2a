"""The report scheduler, with a clock the tests move: a subscription due Monday 08:00 in the
business zone is received once by a real SMTP server on loopback (aiosmtpd) with the PDF
attached, and once by a webhook receiver that refused its first two attempts (retried with
back-off); a scheduler stopped before the due time and started after it sends it once; two
started at once send it once; a report missed for longer than the catch-up window is kept as
missed, not sent; WeCom gets the file, Feishu a signed message; the alerts check runs once a
day; "send now"."""

import base64
import hashlib
import hmac
import json
import re
import shutil
import threading
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest
from alert_servers import HookServer, SmtpSink
from conftest import age_manifest
from pdf_text import pdf_pages_text

from connectors.extracts import MANIFEST
from shop_analytics.alerts.store import AlertStore
from shop_analytics.config import config_from_mapping
from shop_analytics.opening import extract_for, open_shop
from shop_analytics.scheduler.runner import Scheduler, SchedulerSettings
from shop_analytics.scheduler.state import ScheduleStore
from shop_analytics.scheduler.subscriptions import (
    Recipient,
    Subscription,
    SubscriptionError,
    check_subscription,
    latest_due,
    next_due,
    reported_period,
)

TZ = "Asia/Shanghai"
# Monday 2026-11-23 08:00 in Shanghai; the small shop's data ends on Sunday 11-22.
DUE = datetime(2026, 11, 23, 0, tzinfo=UTC)
CREATED = datetime(2026, 11, 20, 6, tzinfo=UTC)
FAST = SchedulerSettings(first_wait=timedelta(minutes=1), attempts=4)


def _config(tmp_path, smtp_port: int | None = None, **alerts):
    section = {"database": str(tmp_path / "alerts.db"), "timeout_seconds": 3, "app_url": "https://dash.example", **alerts}
    if smtp_port:
        section["smtp"] = {"host": "127.0.0.1", "port": smtp_port, "tls": "none", "from": "reports@shop.example", "to": ["ops@shop.example"]}
    return config_from_mapping({"alerts": section})


def _scheduler(config, small_shop, settings=FAST) -> Scheduler:
    store = ScheduleStore(AlertStore(config.alerts.database_path))
    return Scheduler(config, store, open_shop=lambda: small_shop, settings=settings)


def _weekly(*recipients: Recipient, formats=("xlsx",), lang="zh") -> Subscription:
    return Subscription("Weekly for management", "week", lang, formats, day=0, hour=8, recipients=recipients)


def test_due_times_are_in_the_business_zone():
    subscription = _weekly(Recipient("email", "a@b.example"))
    assert next_due(subscription, TZ, CREATED) == DUE
    assert latest_due(subscription, TZ, DUE) == DUE
    assert latest_due(subscription, TZ, DUE - timedelta(seconds=1)) == DUE - timedelta(days=7)
    assert reported_period("week", DUE, TZ) == (datetime(2026, 11, 16).date(), datetime(2026, 11, 22).date())
    monthly = Subscription("Monthly", "month", "en", ("pdf",), day=1, hour=9, recipients=(Recipient("email", "a@b.example"),))
    assert next_due(monthly, TZ, CREATED) == datetime(2026, 12, 1, 1, tzinfo=UTC)
    assert reported_period("month", datetime(2026, 12, 1, 1, tzinfo=UTC), TZ) == (datetime(2026, 11, 1).date(), datetime(2026, 11, 30).date())
    assert monthly.schedule("en") == "day 1 of each month, 09:00" and subscription.schedule("zh") == "每周一 08:00"


@pytest.mark.parametrize(("change", "message"), [
    ({"recipients": ()}, "add at least one recipient"),
    ({"day": 7}, "0 (Monday) to 6 (Sunday)"),
    ({"kind": "month", "day": 31}, "1 to 28"),
    ({"formats": ("docx",)}, "choose one or more formats"),
    ({"recipients": (Recipient("email", "not-an-address"),)}, "is not an e-mail address"),
    ({"recipients": (Recipient("slack", url="ftp://x"),)}, "must start with https://"),
    ({"recipients": (Recipient("slack", url="https://hooks.slack.com/x", secret="s"),)}, "only dingtalk and feishu robots"),
])
def test_a_subscription_that_cannot_be_kept_says_why(change, message):
    values = {"name": "x", "kind": "week", "language": "en", "formats": ("pdf",), "day": 0, "hour": 8,
              "recipients": (Recipient("email", "a@b.example"),)} | change
    with pytest.raises(SubscriptionError, match=re.escape(message)):
        check_subscription(Subscription(**values))


def test_due_monday_8_it_arrives_once_by_mail_with_the_pdf_and_once_at_a_webhook_that_refused_twice(tmp_path, small_shop):
    hook = HookServer(statuses=[500, 500]).start()
    with SmtpSink() as sink:
        config = _config(tmp_path, sink.port)
        scheduler = _scheduler(config, small_shop)
        subscription_id = scheduler.store.add(_weekly(Recipient("email", "boss@shop.example"), Recipient("generic", url=f"{hook.url}/reports"),
                                                      formats=("pdf", "xlsx")), now=CREATED)
        ticks = {}
        for minutes in (-1, 0, 1, 2, 3, 10, 60 * 24):
            ticks[minutes] = scheduler.tick(DUE + timedelta(minutes=minutes))
        hook.stop()
    assert ticks[-1].summary() == "0 due, 0 missed, 0 built, 0 sent, 0 to retry, 0 failed, 0 unknown"
    assert (len(ticks[0].created), len(ticks[0].built), len(ticks[0].sent), len(ticks[0].retried)) == (1, 1, 1, 1)
    assert len(ticks[1].retried) == 1 and not ticks[2].sent  # waits 1 min, then 2
    assert len(ticks[3].sent) == 1 and not ticks[10].sent and not ticks[60 * 24].sent
    # The mail: once, Chinese, the PDF attached.
    [mail] = sink.messages
    assert mail["To"] == "boss@shop.example" and mail["Subject"] == "管理周报（2026年11月16日 – 11月22日）"
    attachments = {part.get_filename(): part.get_content() for part in mail.iter_attachments()}
    assert set(attachments) == {"report_week_2026-11-16_zh.pdf", "report_week_2026-11-16_zh.xlsx"}
    assert "管理周报" in "".join(pdf_pages_text(attachments["report_week_2026-11-16_zh.pdf"])[0].split())
    body = mail.get_body(("plain",)).get_content()
    assert "GMV：¥" in body and "附件：report_week_2026-11-16_zh.pdf、report_week_2026-11-16_zh.xlsx" in body
    # The webhook: three posts, one accepted, all with the same idempotency key.
    assert [post["status"] for post in hook.posts] == [500, 500, 200]
    assert len({post["headers"]["Idempotency-Key"] for post in hook.posts}) == 1
    text = hook.posts[-1]["body"]["text"]
    assert "https://dash.example/reports?from=2026-11-16&to=2026-11-22&lang=zh" in text
    history = scheduler.store.history()
    assert history.select("recipient", "status", "attempts").rows() == [("boss@shop.example", "sent", 1), ("generic @ 127.0.0.1", "sent", 3)]
    assert history["subscription"].unique().to_list() == ["Weekly for management"] and subscription_id == 1


def test_stopped_before_the_due_time_and_started_after_it_sends_once(tmp_path, small_shop):
    hook = HookServer().start()
    config = _config(tmp_path)
    first = _scheduler(config, small_shop)
    first.store.add(_weekly(Recipient("slack", url=f"{hook.url}/services/T1/B2/abcdefghijklmnopqrstuvwx")), now=CREATED)
    first.tick(DUE - timedelta(hours=9))  # Sunday 23:00 in Shanghai: nothing due; then the scheduler stops
    restarted = _scheduler(config, small_shop)  # a new process, four and a half hours after 08:00
    sent = restarted.tick(DUE + timedelta(hours=4, minutes=30))
    again = _scheduler(config, small_shop).tick(DUE + timedelta(days=1))
    hook.stop()
    assert len(sent.sent) == 1 and not again.created and not again.sent
    assert len(hook.posts) == 1 and hook.posts[0]["body"]["text"] == "管理周报（2026年11月16日 – 11月22日）"


def test_a_report_missed_for_longer_than_the_catch_up_window_is_kept_as_missed(tmp_path, small_shop):
    hook = HookServer().start()
    config = _config(tmp_path)
    scheduler = _scheduler(config, small_shop)
    scheduler.store.add(_weekly(Recipient("generic", url=f"{hook.url}/x")), now=CREATED)
    result = scheduler.tick(DUE + timedelta(days=2, hours=1))  # the default catch-up is 2 days
    hook.stop()
    assert len(result.missed) == 1 and not result.sent and hook.posts == []
    assert scheduler.store.history().select("status", "period_start").rows() == [("missed", datetime(2026, 11, 16).date())]


def test_two_schedulers_started_at_once_send_once(tmp_path, small_shop):
    hook = HookServer(late=1, late_seconds=0.5).start()
    with SmtpSink() as sink:
        config = _config(tmp_path, sink.port)
        _scheduler(config, small_shop).store.add(
            _weekly(Recipient("email", "boss@shop.example"), Recipient("dingtalk", url=f"{hook.url}/robot/send?access_token=T0K")), now=CREATED)
        together = threading.Barrier(2)
        results, errors = [], []

        def run():
            scheduler = _scheduler(config, small_shop)  # its own connection, as another process
            together.wait()
            try:
                results.append(scheduler.tick(DUE + timedelta(minutes=5)))
            except Exception as error:  # noqa: BLE001 - kept to fail the test with it below
                errors.append(error)

        threads = [threading.Thread(target=run) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    hook.stop()
    assert not errors
    assert len(sink.messages) == 1 and len(hook.posts) == 1
    assert sorted(len(result.created) for result in results) == [0, 1]
    assert sum(len(result.sent) for result in results) == 2


def test_wecom_gets_the_file_and_feishu_a_signed_message(tmp_path, small_shop):
    hook = HookServer(reply=b'{"errcode": 0, "errmsg": "ok", "code": 0, "msg": "success"}').start()
    config = _config(tmp_path)
    scheduler = _scheduler(config, small_shop)
    secret = "feishu-signing-secret"
    scheduler.store.add(_weekly(Recipient("wecom", url=f"{hook.url}/cgi-bin/webhook/send?key=WKEY"),
                                Recipient("feishu", url=f"{hook.url}/open-apis/bot/v2/hook/abc", secret=secret), lang="en"), now=CREATED)
    result = scheduler.tick(DUE)
    hook.stop()
    assert len(result.sent) == 3  # WeCom: the message and the Excel file; Feishu: the message
    wecom = [post for post in hook.posts if post["path"].startswith("/cgi-bin")]
    assert [post["path"] for post in wecom] == ["/cgi-bin/webhook/send", "/cgi-bin/webhook/upload_media", "/cgi-bin/webhook/send"]
    assert wecom[0]["body"]["msgtype"] == "markdown" and "Attached: report_week_2026-11-16_en.xlsx" in wecom[0]["body"]["markdown"]["content"]
    assert wecom[1]["query"] == {"key": ["WKEY"], "type": ["file"]} and b'filename="report_week_2026-11-16_en.xlsx"' in wecom[1]["body"]
    assert wecom[2]["body"] == {"msgtype": "file", "file": {"media_id": "MEDIA-1"}}
    [feishu] = [post for post in hook.posts if post["path"].startswith("/open-apis")]
    body = feishu["body"]
    # Feishu's check: HMAC-SHA256 keyed by "timestamp\nsecret" over nothing, base64.
    expected = base64.b64encode(hmac.new(f"{body['timestamp']}\n{secret}".encode(), b"", hashlib.sha256).digest()).decode()
    assert body["sign"] == expected and abs(int(body["timestamp"]) - datetime.now(UTC).timestamp()) < 60
    post = body["content"]["post"]["en_us"]
    assert post["title"] == "Weekly management report, 2026-11-16 – 2026-11-22"
    links = [element for paragraph in post["content"] for element in paragraph if element["tag"] == "a"]
    assert links == [{"tag": "a", "text": " Open", "href": "https://dash.example/reports?from=2026-11-16&to=2026-11-22&lang=en"}]


def test_the_alerts_check_runs_once_a_day_at_its_time(tmp_path, small_shop):
    config = _config(tmp_path)
    settings = SchedulerSettings(alerts_check_at=time(7, 30))
    first, second = _scheduler(config, small_shop, settings), _scheduler(config, small_shop, settings)
    # Started at 07:29 in Shanghai: yesterday's 07:30 check had not run, so it catches up.
    before = first.tick(datetime(2026, 11, 22, 23, 29, tzinfo=UTC))
    again = first.tick(datetime(2026, 11, 22, 23, 29, 30, tzinfo=UTC))
    at = first.tick(datetime(2026, 11, 22, 23, 30, tzinfo=UTC))
    other = second.tick(datetime(2026, 11, 22, 23, 31, tzinfo=UTC))
    assert len(before.checks) == 1 and not again.checks and len(at.checks) == 1 and not other.checks
    jobs = first.store.jobs()
    assert [(job["name"], str(job["day"]), job["status"]) for job in jobs] == [
        ("alerts check", "2026-11-23", "done"), ("alerts check", "2026-11-22", "done")]
    assert jobs[0]["summary"].startswith("2026-11-22: ")  # the check looks at the last whole day


def test_send_now_sends_the_last_complete_period(tmp_path, small_shop):
    hook = HookServer().start()
    config = _config(tmp_path)
    scheduler = _scheduler(config, small_shop)
    subscription_id = scheduler.store.add(_weekly(Recipient("generic", url=f"{hook.url}/x"), lang="en"), now=CREATED)
    now = datetime(2026, 11, 24, 3, tzinfo=UTC)  # a Tuesday, after the Monday send
    scheduler.tick(now)  # the Monday report, late but within the catch-up window
    run_id = scheduler.send_now(subscription_id, now + timedelta(minutes=1))
    scheduler.tick(now + timedelta(minutes=1))
    hook.stop()
    assert len(hook.posts) == 2
    history = scheduler.store.history()
    assert history.filter(history["run_id"] == run_id)["trigger"].to_list() == ["manual"]


def test_the_scheduler_refreshes_the_extract_before_a_visitor_would_have_to_and_a_failure_keeps_it(tmp_path):
    """A GA4 export read through its extract (10 minutes to live), polled every 30 s: a tick
    before the export's folder exists says so; the first tick after makes the extract; a tick with more than a minute to live leaves it; a tick
    within two polls of its end refreshes it, so the dashboard finds it fresh; when the export
    cannot be read the tick says why, the extract keeps serving, and the next tick within
    RETRY_AFTER_FAILURE does not ask the export again."""
    export = tmp_path / "ga4"
    extract_folder = tmp_path / "extract"
    config = config_from_mapping({
        "connections": {"shop": {"folder": str(export), "preset": "ga4", "extract_folder": str(extract_folder), "extract_ttl_minutes": 10}},
        "alerts": {"database": str(tmp_path / "alerts.db")},
        "settings": {"time_zone": "UTC"},
    })
    opened = []

    def open_extract():
        opened.append(extract_for(config))
        return opened[-1]

    scheduler = Scheduler(config, ScheduleStore(AlertStore(config.alerts.database_path)), open_shop=lambda: open_shop(config),
                          settings=SchedulerSettings(poll_seconds=30), open_extract=open_extract)
    # started before the export's folder is there: the tick says so and the scheduler goes on
    assert scheduler.tick(datetime.now(UTC)).extract == f"the shop's source cannot be opened: {export} is not a folder of tracker export files."
    shutil.copytree(Path(__file__).parent / "fixtures" / "ga4", export)

    def generation() -> int:
        return json.loads((extract_folder / MANIFEST).read_text())["generation"]

    def age(minutes: float) -> None:
        age_manifest(extract_folder, timedelta(minutes=minutes))

    assert scheduler.tick(datetime.now(UTC)).extract == "extract at generation 1"
    extract = opened[-1]
    assert extract is not None
    age(8.5)  # 90 s to live: more than two polls
    assert scheduler.tick(datetime.now(UTC)).extract is None and generation() == 1
    age(1)  # 30 s to live
    assert scheduler.tick(datetime.now(UTC)).extract == "extract at generation 2"
    assert not extract_for(config).refresh_due()  # a visitor's page now reads without refreshing

    (export / "events_20260302.jsonl").write_text('{"event_name": "page_view"\n')
    age(10)
    failed = scheduler.tick(datetime.now(UTC))
    assert failed.extract is not None and "events_20260302.jsonl: line 1 is not a JSON object" in failed.extract
    assert generation() == 2 and extract.stale is not None
    assert scheduler.tick(datetime.now(UTC)).extract is None  # within a minute of the failure
    assert open_shop(config).events.height > 0  # the last good extract still serves
