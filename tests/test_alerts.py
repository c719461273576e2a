"""Alerts: rules and anomalies judged on hand-made daily tables; state kept so that a check
sends once and a cleared alert sends "resolved"; messages delivered to a real SMTP server
(aiosmtpd) and real HTTP servers on loopback in each webhook format, with retries after a
refusal; the command line for cron."""

import base64
import hashlib
import hmac
import re
import subprocess
import sys
import time
import tomllib
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from alert_servers import HookServer, SmtpSink, free_port, self_signed_certificate

from metrics.anomalies import (
    alert_contributors,
    baseline_days,
    detect_anomalies,
    special_days,
)
from metrics.channels import channel_table
from metrics.kpis import daily_kpis
from metrics.registry import KPIS, format_value
from shop_analytics.alerts.check import notify_owed, run_check, send_test
from shop_analytics.alerts.config import AlertConfigError, alert_config
from shop_analytics.alerts.evaluate import (
    AnomalySettings,
    Evaluation,
    Finding,
    anomaly_findings,
    evaluate_shop,
    rule_findings,
)
from shop_analytics.alerts.messages import (
    Line,
    Message,
    alert_line,
    explaining_view,
    markdown,
    plain_text,
)
from shop_analytics.alerts.notify import (
    DINGTALK,
    Delivery,
    Retry,
    WebhookTarget,
    deliver,
    webhook_body,
)
from shop_analytics.alerts.rules import AlertRule, RuleError
from shop_analytics.alerts.store import FAILED, SENT, AlertStore
from shop_analytics.config import Settings
from shop_analytics.i18n import format_day, format_number, label

ROOT = Path(__file__).resolve().parents[1]
TZ = "Asia/Shanghai"
SETTINGS = Settings()
NO_WAIT = Retry(attempts=3, first_wait=0.0)


def day(n: int) -> date:
    return date(2026, 3, 1) + timedelta(days=n - 1)


def config_for(tmp_path: Path, *, lang: str = "en", webhooks=(), smtp=None, **extra):
    values = {"database": str(tmp_path / "alerts.db"), "language": lang, "send_attempts": 3, "retry_seconds": 0, **extra}
    if webhooks:
        values["webhooks"] = list(webhooks)
    if smtp:
        values["smtp"] = smtp
    return alert_config(values, SETTINGS, environ={"HOOK_SECRET": "SEC-signing-secret"})


@pytest.fixture
def hook():
    server = HookServer().start()
    yield server
    server.stop()


# Rules and anomalies on hand-made daily tables -------------------------------------------------

def test_value_and_relative_change_rules_on_a_hand_made_daily_table():
    daily = pl.DataFrame({"date": [day(1), day(2), day(3)], "gmv": [1000.0, 1200.0, 600.0], "aov": [50.0, None, 40.0]})
    found, values = rule_findings(daily, AlertRule("gmv", "<", 700, id=1), day=day(3))
    assert [(f.key, f.value, f.reference) for f in found] == [("rule:1", 600.0, 700.0)]
    assert values == {"rule:1": 600.0}
    falls = AlertRule("gmv", "<", -0.3, "relative_change", id=2)
    found, _ = rule_findings(daily, falls, day=day(3))  # 600 / 1200 - 1 = -50 %
    assert [(f.key, f.value, f.details["metric_value"]) for f in found] == [("rule:2", pytest.approx(-0.5), 600.0)]
    assert rule_findings(daily, falls, day=day(2))[0] == []  # 1200 / 1000 - 1 = +20 %
    found, values = rule_findings(daily, AlertRule("aov", ">", 0, id=3), day=day(2))
    assert found == [] and values == {"rule:3": None}  # a null value breaks nothing


def test_a_channel_rule_breaks_in_each_channel_on_its_own():
    values = pl.DataFrame({
        "date": [day(1)] * 3 + [day(2)] * 3,
        "channel": ["ads", "search", "social"] * 2,
        "cpc": [0.8, 1.1, None, 1.2, 0.9, 2.0],
    })
    found, current = rule_findings(values, AlertRule("cpc", ">", 1.0, id=4), day=day(2), by=("channel",))
    assert {f.key: (f.member, f.value) for f in found} == {"rule:4:ads": ("ads", 1.2), "rule:4:social": ("social", 2.0)}
    assert current == {"rule:4:ads": 1.2, "rule:4:search": 0.9, "rule:4:social": 2.0}
    # ads 0.8 -> 1.2 is +50 %, search 1.1 -> 0.9 is -18 %, social has no previous value
    found, _ = rule_findings(values, AlertRule("cpc", ">", 0.25, "relative_change", id=5), day=day(2), by=("channel",))
    assert [(f.member, pytest.approx(f.value)) for f in found] == [("ads", 0.5)]


def anomaly_table(last: dict) -> pl.DataFrame:
    """28 baseline days alternating two values per KPI, then day 29 with `last`."""
    baseline = {"orders": (10, 12), "gmv": (100.0, 120.0), "bounce_rate": (0.4, 0.5)}
    rows = {kpi: [pair[n % 2] for n in range(28)] + [last[kpi]] for kpi, pair in baseline.items()}
    return pl.DataFrame({"date": [day(n) for n in range(1, 30)], **rows}).cast({"orders": pl.Int64})


def test_anomalies_alert_only_in_the_bad_direction_with_the_spec_z():
    # Baselines: orders 10/12 -> median 11, MAD 1; gmv 100/120 -> 110, 10; bounce 0.4/0.5 -> 0.45, 0.05.
    table = anomaly_table({"orders": 2, "gmv": 300.0, "bounce_rate": 0.9})
    found, values = anomaly_findings(table, day=day(29))
    assert values == {"anomaly:orders": 2.0, "anomaly:gmv": 300.0, "anomaly:bounce_rate": 0.9}
    by_key = {f.key: f for f in found}
    assert list(by_key) == ["anomaly:orders", "anomaly:bounce_rate"]  # GMV far up is good news
    assert by_key["anomaly:orders"].reference == 11.0
    assert by_key["anomaly:orders"].details["z"] == pytest.approx((2 - 11) / 1.4826)
    assert by_key["anomaly:bounce_rate"].details == {"z": pytest.approx(0.45 / (1.4826 * 0.05)), "direction": "up", "compared_with": "ordinary days"}
    # a higher threshold setting lets orders (|z| 6.07) pass
    assert anomaly_findings(table, day=day(29), settings=AnomalySettings(threshold=6.5))[0] == []
    # a campaign day without past campaign days to compare with is no alarm (SPEC)
    assert anomaly_findings(table, day=day(29), settings=AnomalySettings(holidays=(day(29),)))[0] == []


def test_a_rule_that_cannot_be_kept_says_why_in_both_languages():
    with pytest.raises(RuleError, match="Unknown metric revenue_per_visit: a rule watches one of dau, "):
        AlertRule("revenue_per_visit", ">", 1)
    with pytest.raises(RuleError) as problem:
        AlertRule("first_response_hours_p90", ">", 24, channels=("ads",))
    assert "remove the channel, device and region filters" in str(problem.value)
    assert "请去掉渠道、设备和地区筛选" in problem.value.in_language("zh")
    with pytest.raises(RuleError, match="operator must be one of"):
        AlertRule("cpc", "=>", 1)
    with pytest.raises(RuleError, match="finite number"):
        AlertRule("cpc", ">", float("nan"))
    assert AlertRule("roi", "<", 0.05).describe("en") == "ROI < 5.00%"
    assert AlertRule("gmv", "<", -0.3, "relative_change", channels=["ads"]).describe("zh") == "GMV 较前一日变化 < -30.00%（渠道：ads）"


def test_a_shop_anomaly_names_the_channel_and_category_that_moved_it_most(small_shop):
    first, last = small_shop.date_span(TZ)
    daily = daily_kpis(small_shop.events, small_shop.sessions, small_shop.orders, small_shop.users, start=first, end=last, tz=TZ)
    special = special_days(small_shop.tables["campaigns"])
    verdicts = detect_anomalies(daily, kpis=["gmv"], special_days=special)
    when = verdicts.filter((pl.col("direction") == "down") & (pl.col("compared_with") == "ordinary days"))["date"].max()
    # every move in the bad direction alerts at threshold 0
    evaluation = evaluate_shop(small_shop, [], day=when, settings=SETTINGS, anomaly=AnomalySettings(threshold=0.0))
    gmv = next(finding for finding in evaluation.findings if finding.key == "anomaly:gmv")
    days = daily.filter(pl.col("date") <= when)["date"].to_list()
    table = alert_contributors(small_shop.events, small_shop.sessions, small_shop.orders, small_shop.order_items, small_shop.products,
                               kpi="gmv", day=when, baseline_days=baseline_days(when, days, special), tz=TZ)
    leaders = [table.filter(pl.col("dimension") == dimension).row(0, named=True) for dimension in ("channel", "category")]
    assert gmv.details["contributors"] == [
        {"dimension": leader["dimension"], "member": leader["member"], "change": pytest.approx(leader["change"]), "share": pytest.approx(leader["share"])}
        for leader in leaders
    ]
    alert = {"kind": "anomaly", "metric": "gmv", "value": gmv.value, "reference": gmv.reference, "details": gmv.details,
             "last_seen_day": when, "member": None}
    channel, category = leaders
    # members in the reader's words, as the pages and the report name them (paid_search is "paid search", 付费搜索)
    assert alert_line(alert, "en", "¥").endswith(
        f"; most of the change: Channel {label('channel', channel['member'], 'en')} {format_number(channel['change'], 'money', 'en')} "
        f"({format_number(channel['share'], 'ratio', 'en')} of it); Category {label('category', category['member'], 'en')} "
        f"{format_number(category['change'], 'money', 'en')} ({format_number(category['share'], 'ratio', 'en')} of it)"
    )
    chinese = alert_line(alert, "zh", "¥")
    assert label("channel", channel["member"], "zh") in chinese and label("category", category["member"], "zh") in chinese
    assert channel["member"] not in chinese or channel["member"] == label("channel", channel["member"], "zh")
    assert explaining_view(alert).page == ("products" if abs(category["share"]) > abs(channel["share"]) else "overview")


# State: a check sends once; an alert that clears sends "resolved" -------------------------------

def orders_finding(value: float = 2.0) -> Finding:
    return Finding("anomaly:orders", "anomaly", "orders", day(29), value, 11.0,
                   details={"z": (value - 11) / 1.4826, "direction": "down", "compared_with": "ordinary days", "contributors": []})


def test_an_alert_is_sent_once_and_its_resolution_once(tmp_path, hook):
    config = config_for(tmp_path, webhooks=[{"name": "ops", "kind": "generic", "url": hook.url}])
    store = AlertStore(config.database)
    now = datetime(2026, 3, 30, 1, tzinfo=UTC)
    assert store.record(Evaluation(day(29), [orders_finding()], {"anomaly:orders": 2.0}), now=now) == ([1], [])
    notify_owed(store, config, day=day(29))
    store.record(Evaluation(day(29), [orders_finding()], {"anomaly:orders": 2.0}), now=now)  # the same check again
    notify_owed(store, config, day=day(29))
    assert len(hook.posts) == 1
    [item] = hook.posts[0]["body"]["alerts"]
    assert item | {"text": None} == {
        "event": "new", "key": "anomaly:orders", "kind": "anomaly", "metric": "orders", "member": None, "rule_id": None,
        "value": 2.0, "reference": 11.0, "resolved_value": None, "first_seen_day": "2026-03-29",
        "last_seen_day": "2026-03-29", "resolved_day": None, "text": None, "link": None,
    }
    assert item["text"] == "Orders 2 on Sun 03-29, down from a usual 11 (robust z -6.1, against ordinary days)"

    assert store.record(Evaluation(day(30), [], {"anomaly:orders": 12.0}), now=now) == ([], [1])
    notify_owed(store, config, day=day(30))
    notify_owed(store, config, day=day(30))
    assert len(hook.posts) == 2
    assert hook.posts[1]["body"]["title"] == "Shop alerts Mon 03-30: 0 new, 1 resolved"
    [item] = hook.posts[1]["body"]["alerts"]
    assert (item["event"], item["resolved_day"], item["resolved_value"]) == ("resolved", "2026-03-30", 12.0)
    assert item["text"] == "Orders: back to normal on Mon 03-30, now 12 (alerting since Sun 03-29)"
    [alert] = store.alerts()
    assert (alert["status"], alert["first_seen_day"], alert["resolved_day"]) == ("resolved", day(29), day(30))
    assert alert["last_sent_at"] is not None
    # found again later, it is a new alert
    assert store.record(Evaluation(day(31), [orders_finding(1.0)], {}), now=now) == ([2], [])


def test_a_failed_send_is_kept_and_the_next_check_delivers_it(tmp_path):
    hook = HookServer(statuses=[500, 500, 500]).start()
    try:
        config = config_for(tmp_path, webhooks=[{"name": "ops", "kind": "generic", "url": hook.url}])
        store = AlertStore(config.database)
        store.record(Evaluation(day(29), [orders_finding()], {}), now=datetime.now(UTC))
        [failed] = notify_owed(store, config, day=day(29))
        assert (failed.delivery.delivered, failed.delivery.attempts, failed.delivery.error) == (False, 3, "HTTP 500 Internal Server Error")
        assert store.alerts()[0]["last_sent_at"] is None
        [sent] = notify_owed(store, config, day=day(29))  # the server answers now
        assert sent.delivery == Delivery(True, 1)
        history = store.sends()
        assert history.select("status", "attempts", "alerts", "error").rows() == [(SENT, 1, 1, None), (FAILED, 3, 1, "HTTP 500 Internal Server Error")]
        assert notify_owed(store, config, day=day(29)) == []
        assert len(hook.posts) == 4
    finally:
        hook.stop()


# Delivery: retries with back-off ----------------------------------------------------------------

def sample_message() -> Message:
    return Message("Shop alerts Sun 03-29: 1 new, 0 resolved", (("New alerts", (Line("CPC > ¥1.00: ¥1.20 on Sun 03-29", "http://dash/channels?channel=ads"),)),), "en")


def test_a_server_that_answers_500_once_gets_the_retry(tmp_path):
    hook = HookServer(statuses=[500]).start()
    waits = []
    try:
        delivery = deliver(WebhookTarget("ops", "generic", hook.url), sample_message(), Retry(4, 0.5), sleep=waits.append)
    finally:
        hook.stop()
    assert (delivery.delivered, delivery.attempts, waits) == (True, 2, [0.5])
    assert hook.posts[0]["body"] == hook.posts[1]["body"]


def test_a_server_not_yet_listening_gets_the_retry():
    hook = HookServer(port=free_port())  # not started: the first post is refused
    waits = []

    def wait(seconds):
        waits.append(seconds)
        hook.start()

    try:
        delivery = deliver(WebhookTarget("ops", "slack", hook.url), sample_message(), Retry(4, 2.0), sleep=wait)
    finally:
        hook.stop()
    assert (delivery.delivered, delivery.attempts, waits, len(hook.posts)) == (True, 2, [2.0], 1)


def test_back_off_doubles_and_gives_up_after_the_last_attempt_without_the_url_key():
    hook = HookServer(statuses=[503] * 9).start()
    waits = []
    try:
        target = WebhookTarget("ops", "wecom", f"{hook.url}/cgi-bin/webhook/send?key=KEY-123-secret")
        delivery = deliver(target, sample_message(), Retry(4, 1.5), sleep=waits.append)
    finally:
        hook.stop()
    assert (delivery.delivered, delivery.attempts, waits) == (False, 4, [1.5, 3.0, 6.0])
    assert delivery.error == "HTTP 503 Service Unavailable"
    assert "KEY-123" not in repr(target)


def test_a_rejected_request_is_not_repeated_and_a_robot_error_is_a_failure():
    hook = HookServer(statuses=[400]).start()
    refused = HookServer(reply=b'{"errcode": 93000, "errmsg": "invalid webhook url"}').start()
    try:
        rejected = deliver(WebhookTarget("ops", "slack", hook.url), sample_message(), NO_WAIT, sleep=pytest.fail)
        robot = deliver(WebhookTarget("ops", "wecom", refused.url), sample_message(), NO_WAIT)
    finally:
        hook.stop()
        refused.stop()
    assert (rejected.delivered, rejected.attempts, rejected.error) == (False, 1, "HTTP 400 Bad Request")
    assert (robot.delivered, robot.attempts, robot.error) == (False, 3, "wecom error 93000: invalid webhook url")


# Webhook formats ----------------------------------------------------------------------------

def test_each_webhook_kind_posts_its_documented_body(hook):
    message = sample_message()
    kinds = ("generic", "wecom", "dingtalk", "slack")
    for kind in kinds:
        target = WebhookTarget(kind, kind, f"{hook.url}/{kind}?access_token=T0KEN", secret="SEC-signing" if kind == DINGTALK else None)
        assert deliver(target, message, NO_WAIT).delivered
    posts = {post["path"].strip("/"): post for post in hook.posts}
    assert all(post["content_type"] == "application/json; charset=utf-8" for post in posts.values())
    assert posts["generic"]["body"] == {"title": message.title, "text": plain_text(message), "language": "en", "alerts": []}
    expected_markdown = (
        "### Shop alerts Sun 03-29: 1 new, 0 resolved\n\n**New alerts**\n"
        "- CPC > ¥1.00: ¥1.20 on Sun 03-29 [Open](http://dash/channels?channel=ads)"
    )
    assert posts["wecom"]["body"] == {"msgtype": "markdown", "markdown": {"content": expected_markdown}}
    assert posts["dingtalk"]["body"] == {"msgtype": "markdown", "markdown": {"title": message.title, "text": expected_markdown}}
    assert posts["slack"]["body"] == {
        "text": message.title,
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": message.title}},
            {"type": "section", "text": {"type": "mrkdwn", "text": "*New alerts*\n• CPC &gt; ¥1.00: ¥1.20 on Sun 03-29 <http://dash/channels?channel=ads|Open>"}},
        ],
    }
    # DingTalk's signature: base64(HMAC-SHA256(secret, "timestamp\nsecret")), timestamp in ms
    query = posts["dingtalk"]["query"]
    timestamp, sign = query["timestamp"][0], query["sign"][0]
    assert query["access_token"] == ["T0KEN"]
    assert abs(int(timestamp) - time.time() * 1000) < 60_000
    expected = base64.b64encode(hmac.new(b"SEC-signing", f"{timestamp}\nSEC-signing".encode(), hashlib.sha256).digest()).decode()
    assert sign == expected
    assert "timestamp" not in posts["wecom"]["query"]


def test_wecom_content_is_cut_to_its_4096_bytes():
    lines = tuple(Line(f"第 {n} 条预警：GMV 下降") for n in range(400))
    message = Message("店铺预警", (("新预警", lines),), "zh")
    content = webhook_body("wecom", message)["markdown"]["content"]
    assert len(content.encode()) <= 4096 < len(markdown(message, link_word="查看").encode())
    assert content.endswith("\n…") and content.startswith("### 店铺预警\n\n**新预警**\n- 第 0 条预警")


# E-mail ------------------------------------------------------------------------------------

def alert_day(shop) -> tuple[date, str]:
    """The last day of the small shop with an anomaly alert (bad direction) that clears the
    next day, and its KPI, by the metric functions."""
    first, last = shop.date_span(TZ)
    daily = daily_kpis(shop.events, shop.sessions, shop.orders, shop.users, start=first, end=last, tz=TZ)
    verdicts = detect_anomalies(daily, special_days=special_days(shop.tables.get("campaigns")))
    alerts = verdicts.filter(pl.col("is_alert") & pl.col("bad"))
    pairs = set(zip(alerts["date"], alerts["kpi"]))
    return max((when, kpi) for when, kpi in pairs if (when + timedelta(days=1), kpi) not in pairs and when < last)


def test_a_check_emails_its_alerts_once_with_the_metric_numbers_and_then_the_resolution(tmp_path, small_shop):
    when, kpi = alert_day(small_shop)
    first, _ = small_shop.date_span(TZ)
    daily = daily_kpis(small_shop.events, small_shop.sessions, small_shop.orders, small_shop.users, start=first, end=when + timedelta(days=1), tz=TZ)
    verdicts = detect_anomalies(daily, special_days=special_days(small_shop.tables["campaigns"])).filter(pl.col("date") == when)
    verdict = verdicts.filter(pl.col("kpi") == kpi).row(0, named=True)
    anomalies = verdicts.filter(pl.col("is_alert") & pl.col("bad")).height
    channels = channel_table(small_shop.events, small_shop.sessions, small_shop.orders, small_shop.users, small_shop.ad_spend,
                             small_shop.order_items, small_shop.products, start=when, end=when, tz=TZ)
    threshold = channels["cpc"].drop_nulls().median()
    over = channels.filter(pl.col("cpc") > threshold).select("channel", "cpc").rows()
    assert over

    with SmtpSink() as sink:
        smtp = {"host": "127.0.0.1", "port": sink.port, "tls": "none", "from": "alerts@shop.example", "to": ["ops@shop.example", "lead@shop.example"]}
        config = config_for(tmp_path, smtp=smtp)
        store = AlertStore(config.database)
        store.add_rule(AlertRule("cpc", ">", threshold))
        first_check = run_check(small_shop, store, config, SETTINGS, day=when)
        second_check = run_check(small_shop, store, config, SETTINGS, day=when)
        assert len(sink.messages) == 1
        next_day = run_check(small_shop, store, config, SETTINGS, day=when + timedelta(days=1))
        assert len(sink.messages) == 2

    assert first_check.summary() == f"{anomalies + len(over)} new, 0 resolved, 0 failed"
    assert second_check.summary() == "0 new, 0 resolved, 0 failed"
    assert len(next_day.resolved) >= 1
    mail = sink.messages[0]
    assert mail["Subject"] == f"Shop alerts {format_day(when, 'en')}: {anomalies + len(over)} new, 0 resolved"
    assert mail["To"] == "ops@shop.example, lead@shop.example"
    body = mail.get_content()
    kpi_entry = KPIS[kpi]
    assert (
        f"{kpi_entry.label_in('en')} {format_value(kpi_entry, verdict['value'])} on {format_day(when, 'en')}, "
        f"{verdict['direction']} from a usual {format_value(kpi_entry, verdict['baseline_median'])} (robust z {verdict['robust_z']:+.1f}"
    ) in body
    for channel, cpc in over:
        money = format_number(threshold, "money", "en"), format_number(cpc, "money", "en")
        assert f"CPC > {money[0]}, Channel {label('channel', channel, 'en')}: {money[1]} on {format_day(when, 'en')}" in body
    resolution = sink.messages[1].get_content()
    value_next_day = daily.filter(pl.col("date") == when + timedelta(days=1))[kpi].item()
    assert (
        f"{kpi_entry.label_in('en')}: back to normal on {format_day(when + timedelta(days=1), 'en')}, "
        f"now {format_value(kpi_entry, value_next_day)} (alerting since {format_day(when, 'en')})"
    ) in resolution


def test_a_chinese_deployment_mails_in_chinese_and_a_refused_first_mail_is_retried(tmp_path):
    with SmtpSink(fail_first=1) as sink:
        config = config_for(tmp_path, lang="zh", smtp={"host": "127.0.0.1", "port": sink.port, "tls": "none", "from": "a@shop.example", "to": "ops@shop.example"})
        store = AlertStore(config.database)
        store.record(Evaluation(day(29), [orders_finding()], {}), now=datetime.now(UTC))
        [outcome] = notify_owed(store, config, day=day(29))
    assert (outcome.delivery.delivered, outcome.delivery.attempts) == (True, 2)
    [mail] = sink.messages
    assert mail["Subject"] == "店铺预警 3月29日 周日：新增 1 条，已恢复 0 条"
    assert "- 订单数 在 3月29日 周日 为 2，偏低，通常为 11（稳健 z 值 -6.1，对比普通日）" in mail.get_content()


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")  # SMTPS is TLS from the start
@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_email_over_tls_logs_in_and_never_keeps_the_password(tmp_path, security):
    certificate, key = self_signed_certificate(tmp_path)
    with SmtpSink(tls=(certificate, key), implicit_tls=security == "ssl") as sink:
        smtp = {"host": "127.0.0.1", "port": sink.port, "tls": security, "user": "alerts", "password_env": "SMTP_PASSWORD",
                "from": "alerts@shop.example", "to": "ops@shop.example", "ca_file": str(certificate)}
        config = alert_config({"database": str(tmp_path / "a.db"), "smtp": smtp, "retry_seconds": 0}, SETTINGS, environ={"SMTP_PASSWORD": sink.password})
        store = AlertStore(config.database)
        outcome = send_test(store, config, "email")
        wrong = alert_config({"database": str(tmp_path / "a.db"), "smtp": smtp | {"password_env": "WRONG"}, "retry_seconds": 0}, SETTINGS, environ={"WRONG": "not-the-password"})
        refused = send_test(store, wrong, "email")
    assert outcome.delivery.delivered
    assert [mail["Subject"] for mail in sink.messages] == ["Test message from Shop analytics"]
    assert "If you can read this, alerts reach email." in sink.messages[0].get_content()
    if security == "starttls":
        assert sink.logins[0] == ("alerts", sink.password)
    assert (refused.delivery.delivered, refused.delivery.attempts) == (False, 1)  # 535: wrong credentials are not retried
    assert refused.delivery.error.startswith("SMTP 535")
    history = store.sends()
    assert history["status"].to_list() == [FAILED, SENT]
    kept = " ".join(str(value) for value in history.rows()[0] + history.rows()[1])
    assert sink.password not in kept and "not-the-password" not in kept and "not-the-password" not in refused.delivery.error
    assert sink.password not in repr(config.targets[0])


# Settings -----------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"smtp": {"host": "h", "from": "a@b", "to": "c@d", "tls": "maybe"}}, "[alerts.smtp] tls = 'maybe': Input should be 'starttls', 'ssl' or 'none'"),
        ({"smtp": {"host": "h", "from": "a@b", "to": "c@d", "user": "u", "password_env": "NOT_SET"}}, "environment variable NOT_SET, which is not set"),
        ({"smtp": {"host": "h", "from": "a@b", "to": "c@d", "user": "u"}}, "[alerts.smtp] needs password (or password_env"),
        ({"webhooks": [{"kind": "teams", "url": "https://x"}]}, "[[alerts.webhooks]] number 1 kind = 'teams': Input should be 'generic', 'wecom', 'dingtalk', 'slack' or 'feishu'"),
        ({"webhooks": [{"kind": "slack", "url": "https://x", "secret": "s"}]}, "[[alerts.webhooks]] number 1: only a dingtalk or feishu robot takes a signing secret"),
        ({"webhooks": [{"kind": "slack", "url": "https://x", "name": "a"}, {"kind": "wecom", "url": "https://y", "name": "a"}]}, "need different names"),
        ({"send_attempts": 0}, "[alerts] send_attempts = 0: Input should be greater than or equal to 1"),
        ({"language": "fr"}, "[alerts] language = 'fr': use one of en, zh"),
        ({"holidays": ["10/01"]}, "[alerts] holidays item 1 = '10/01': Input should be a valid date"),
        ({"smpt": {}}, "[alerts] smpt is not a key of this table: remove it or fix its spelling"),
    ],
)
def test_wrong_settings_say_what_to_fix(values, message):
    with pytest.raises(AlertConfigError) as problem:
        alert_config(values, SETTINGS, environ={})
    assert message in str(problem.value)


def test_secrets_come_from_the_environment_and_defaults_hold(tmp_path):
    config = config_for(tmp_path, webhooks=[{"kind": "dingtalk", "url": "https://oapi.dingtalk.com/robot/send?access_token=t", "secret_env": "HOOK_SECRET"}])
    [robot] = config.targets
    assert (robot.name, robot.kind, robot.secret) == ("dingtalk-1", "dingtalk", "SEC-signing-secret")
    assert "SEC-signing-secret" not in repr(config) and "access_token" not in repr(config)
    assert robot.describe() == "dingtalk webhook at oapi.dingtalk.com"
    default = alert_config(None, SETTINGS)
    assert (default.database, default.language, default.targets, default.anomaly) == (ROOT / ".alerts" / "alerts.db", "en", (), AnomalySettings())


def test_the_example_settings_file_is_valid_with_its_targets_uncommented():
    example = (ROOT / ".streamlit" / "secrets.toml.example").read_text()
    alerts_part = example[example.index("\n[alerts]\n"):]
    setting = re.compile(r"^# (\[\[?alerts\.|[a-z_]+ = )")
    uncommented = "\n".join(line[2:] if setting.match(line) else line for line in alerts_part.splitlines())
    environ = {"ALERTS_SMTP_PASSWORD": "p", "ALERTS_WECOM_URL": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k", "ALERTS_DINGTALK_SECRET": "SECx"}
    config = alert_config(tomllib.loads(uncommented)["alerts"], Settings.from_mapping(tomllib.loads(example)["settings"]), environ=environ)
    assert [(target.name, target.kind) for target in config.targets] == [("email", "email"), ("ops-group", "wecom"), ("ops-dingtalk", "dingtalk")]
    assert (config.language, config.retry, config.anomaly.window, config.targets[0].port) == ("zh", Retry(4, 30.0), 28, 587)
    assert alert_config(tomllib.loads(alerts_part)["alerts"], SETTINGS).targets == ()  # as shipped: no targets


# The command line --------------------------------------------------------------------------

def run_cli(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "cli.py", "alerts", *arguments], check=False, cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_cron_check_reports_a_failed_send_then_delivers_it_and_then_sends_nothing(tmp_path, small_shop_db, small_shop):
    when, kpi = alert_day(small_shop)
    hook = HookServer(statuses=[500, 500]).start()
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(
        f'[alerts]\ndatabase = "{tmp_path / "alerts.db"}"\nsend_attempts = 2\nretry_seconds = 0\n'
        f'[[alerts.webhooks]]\nname = "ops"\nkind = "wecom"\nurl = "{hook.url}/cgi-bin/webhook/send?key=KEY-42-secret"\n'
    )
    common = ("--source", str(small_shop_db), "--date", str(when), "--secrets", str(secrets))
    try:
        failing = run_cli("check", *common)
        delivering = run_cli("check", *common)
        repeated = run_cli("check", *common)
    finally:
        hook.stop()
    assert failing.returncode == 0, failing.stderr
    new = int(failing.stdout.split(": ")[1].split(" new")[0])
    assert failing.stdout == f"{when}: {new} new, 0 resolved, 1 failed\n"
    assert "failed: ops after 2 attempt(s): HTTP 500 Internal Server Error; kept in" in failing.stderr
    assert "KEY-42" not in failing.stderr + failing.stdout
    assert delivering.stdout == f"{when}: 0 new, 0 resolved, 0 failed\n"
    assert repeated.stdout == f"{when}: 0 new, 0 resolved, 0 failed\n"
    assert len(hook.posts) == 3 and hook.posts[1]["body"] == hook.posts[2]["body"]
    assert KPIS[kpi].label_in("en") in hook.posts[2]["body"]["markdown"]["content"]
    listed = run_cli("list", "--secrets", str(secrets))
    assert listed.returncode == 0 and len(listed.stdout.splitlines()) == new
    assert f"open      {when}..{when}" in listed.stdout and "not sent" not in listed.stdout


def test_bad_settings_and_arguments_exit_2_with_one_line(tmp_path, small_shop_db, small_shop):
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('[alerts]\nsmtp = { host = "h", from = "a@b", to = "c@d", tls = "tls1.3" }\n')
    result = run_cli("check", "--secrets", str(secrets))
    assert result.returncode == 2
    assert result.stderr == "cli.py: error: [alerts.smtp] tls = 'tls1.3': Input should be 'starttls', 'ssl' or 'none'\n"
    outside = run_cli("check", "--date", "2030-01-01", "--source", str(small_shop_db), "--secrets", str(tmp_path / "none.toml"))
    first, last = small_shop.date_span(TZ)
    assert outside.returncode == 2 and outside.stderr.endswith(f"2030-01-01 is outside the data ({first} to {last}); pick a --date between them\n")
    bad_date = run_cli("check", "--date", "2026-02-30")
    assert bad_date.returncode == 2 and len(bad_date.stderr.splitlines()) == 1 and "YYYY-MM-DD" in bad_date.stderr

