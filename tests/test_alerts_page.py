"""The Alerts page, headless (AppTest): the stored alerts with the metric functions' numbers,
the period filter choosing which resolved ones show, "open" buttons that switch to the page
explaining an alert with its filters, the rule editor, a test message to a real webhook
server, in English and Chinese."""

import shutil
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest
from alert_servers import HookServer
from streamlit.testing.v1 import AppTest
from test_alerts import alert_day

from connectors.sql import sqlite_url
from metrics.channels import channel_table
from metrics.kpis import daily_kpis
from metrics.registry import KPIS, format_value
from shop_analytics.alerts.check import run_check
from shop_analytics.alerts.config import alert_config
from shop_analytics.alerts.rules import AlertRule
from shop_analytics.alerts.store import AlertStore
from shop_analytics.config import Settings
from shop_analytics.i18n import format_day, format_number, label
from shop_analytics.ui.filters import CHANNELS_KEY, DATES_KEY

TZ = "Asia/Shanghai"
APP = str(Path(__file__).resolve().parents[1] / "app.py")


def cpc_by_channel(shop, day) -> dict[str, float]:
    table = channel_table(shop.events, shop.sessions, shop.orders, shop.users, shop.ad_spend, shop.order_items, shop.products,
                          start=day, end=day, tz=TZ)
    return dict(table.filter(pl.col("cpc").is_not_null()).select("channel", "cpc").iter_rows())


@pytest.fixture(scope="module")
def checked(small_shop, tmp_path_factory):
    """A store after the checks of the small shop's last alert day D and of D + 1, with a rule
    CPC > the median channel CPC of D."""
    when, kpi = alert_day(small_shop)
    threshold = pl.Series(list(cpc_by_channel(small_shop, when).values())).median()
    database = tmp_path_factory.mktemp("alerts") / "alerts.db"
    config = alert_config({"database": str(database)}, Settings())
    store = AlertStore(database)
    store.add_rule(AlertRule("cpc", ">", threshold))
    for day in (when, when + timedelta(days=1)):
        run_check(small_shop, store, config, Settings(), day=day)
    return {"database": database, "day": when, "kpi": kpi, "threshold": threshold}


def open_page(small_shop_db, database, *, alerts=None, lang=None, period=None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.secrets["connections"] = {"shop": {"url": sqlite_url(small_shop_db)}}
    at.secrets["alerts"] = {"database": str(database), **(alerts or {})}
    if lang:
        at.session_state["language"] = lang
    at.run()
    if period:
        at.date_input(key=DATES_KEY).set_value(period).run()
    return at.switch_page("pages/alerts.py").run()


@pytest.fixture
def database(checked, tmp_path):
    """A copy of the checked store for one test to change."""
    return shutil.copy(checked["database"], tmp_path / "alerts.db")


def lines(at) -> list[str]:
    return [markdown.value for markdown in at.markdown if "-badge[" in markdown.value]


def test_the_alerts_show_their_state_and_the_metric_numbers(small_shop_db, small_shop, checked, database):
    when, kpi = checked["day"], checked["kpi"]
    after = when + timedelta(days=1)
    at = open_page(small_shop_db, database, period=(when - timedelta(days=2), after))
    assert not at.exception and not at.error
    first, _ = small_shop.date_span(TZ)
    daily = daily_kpis(small_shop.events, small_shop.sessions, small_shop.orders, small_shop.users, start=first, end=after, tz=TZ)
    value_after = daily.filter(pl.col("date") == after)[kpi].item()
    entry = KPIS[kpi]
    resolved = (
        f":green-badge[resolved] {entry.label_in('en')}: back to normal on {format_day(after, 'en')}, "
        f"now {format_value(entry, value_after)} (alerting since {format_day(when, 'en')})"
    )
    assert resolved in lines(at)
    over_before = {channel for channel, cpc in cpc_by_channel(small_shop, when).items() if cpc > checked["threshold"]}
    over_after = {channel: cpc for channel, cpc in cpc_by_channel(small_shop, after).items() if cpc > checked["threshold"]}
    open_lines = [line for line in lines(at) if line.startswith(":red-badge[open]")]
    assert sorted(open_lines) == sorted(
        f":red-badge[open] CPC > {format_number(checked['threshold'], 'money', 'en')}, Channel {label('channel', channel, 'en')}: {format_number(cpc, 'money', 'en')} on {format_day(after, 'en')}"
        for channel, cpc in over_after.items()
    )
    resolved_channels = [line for line in lines(at) if line.startswith(":green-badge[resolved] CPC")]
    assert len(resolved_channels) == len(over_before - set(over_after))
    assert "First seen" in at.caption[0].value and "not sent yet" in at.caption[0].value
    assert at.info[-1].value.startswith("No notification targets")


def test_the_period_filter_chooses_which_resolved_alerts_show(small_shop_db, small_shop, checked, database):
    when = checked["day"]
    around = open_page(small_shop_db, database, period=(when - timedelta(days=2), when + timedelta(days=1)))
    _, last = small_shop.date_span(TZ)
    around.date_input(key=DATES_KEY).set_value((when + timedelta(days=3), last)).run()
    later = lines(around)
    assert not around.exception
    assert all(line.startswith(":red-badge[open]") for line in later)
    assert 0 < len(later) < len(lines(open_page(small_shop_db, database, period=(when - timedelta(days=2), when + timedelta(days=1)))))


def test_open_switches_to_the_explaining_page_with_its_filters(small_shop_db, small_shop, checked, database):
    when = checked["day"]
    after = when + timedelta(days=1)
    at = open_page(small_shop_db, database, period=(when - timedelta(days=2), after))
    channel_button = next(button for button in at.button if button.label == "Open Traffic & channels")
    words = next(line for line in lines(at) if line.startswith(":red-badge[open] CPC")).split("Channel ")[1].split(":")[0]
    channel = next(code for code in small_shop.users["channel"].cast(pl.String).unique() if label("channel", code, "en") == words)
    assert channel_button.key == f"alert_view_{next(a['id'] for a in AlertStore(database).alerts() if a['member'] == channel and a['status'] == 'open')}"
    channel_button.click().run()
    assert not at.exception
    assert at.title[0].value == "Traffic & channels"
    assert at.session_state[CHANNELS_KEY] == [channel]
    assert at.session_state[DATES_KEY] == (after, after)


def test_the_rule_editor_adds_edits_and_deletes_rules(small_shop_db, checked, database):
    at = open_page(small_shop_db, database)
    at.selectbox(key="rule_metric").set_value("roi")
    at.selectbox(key="rule_operator").set_value("<")
    at.number_input(key="rule_threshold").set_value(5.0)
    at.button(key="rule_save").click().run()
    assert not at.exception
    store = AlertStore(database)
    added = store.rules()[-1]
    assert (added.metric, added.operator, added.threshold, added.kind) == ("roi", "<", 0.05, "value")
    assert at.success[0].value == "Saved: ROI < 5.00%"
    assert f"**#{added.id}** ROI < 5.00%" in [markdown.value for markdown in at.markdown]

    at.button(key=f"rule_edit_{added.id}").click().run()
    assert at.number_input(key="rule_threshold").value == 5.0
    at.number_input(key="rule_threshold").set_value(8.0)
    at.radio(key="rule_kind").set_value("relative_change")
    at.button(key="rule_save").click().run()
    assert [(rule.id, rule.threshold, rule.kind) for rule in store.rules() if rule.metric == "roi"] == [(added.id, 0.08, "relative_change")]

    at.button(key=f"rule_delete_{added.id}").click().run()
    at.button(key=f"rule_delete_yes_{added.id}").click().run()  # Delete asks first
    assert [rule.metric for rule in store.rules()] == ["cpc"]


def test_a_rule_that_cannot_be_kept_is_refused_in_the_readers_language(small_shop_db, small_shop, checked, database):
    at = open_page(small_shop_db, database, lang="zh")
    channel = next(iter(cpc_by_channel(small_shop, checked["day"])))
    at.selectbox(key="rule_metric").set_value("first_response_hours_p90")
    at.number_input(key="rule_threshold").set_value(24.0)
    at.multiselect(key="rule_channels").set_value([channel])
    at.button(key="rule_save").click().run()
    assert at.error[0].value == "规则未保存：first_response_hours_p90 基于全店工单计算：请去掉渠道、设备和地区筛选。"
    assert [rule.metric for rule in AlertStore(database).rules()] == ["cpc"]


def test_a_test_message_reaches_the_webhook_and_the_history_shows_each_send(small_shop_db, checked, database):
    hook = HookServer(statuses=[500, 500]).start()
    alerts = {"send_attempts": 2, "retry_seconds": 0, "webhooks": [{"name": "ops", "kind": "slack", "url": f"{hook.url}/services/T0/B0/XYZsecret"}]}
    try:
        at = open_page(small_shop_db, database, alerts=alerts)
        assert "**ops** · slack webhook at 127.0.0.1" in [markdown.value for markdown in at.markdown]
        at.button(key="test_ops").click().run()
        assert at.error[0].value == "The test message did not reach ops after 2 attempt(s): HTTP 500 Internal Server Error"
        at.button(key="test_ops").click().run()
    finally:
        hook.stop()
    assert at.success[0].value == "The test message reached ops (attempts: 1)."
    assert [post["body"]["blocks"][0]["text"]["text"] for post in hook.posts] == ["Test message from Shop analytics"] * 3
    history = at.dataframe[-1].value
    assert list(zip(history["target"], history["status"], history["attempts"], history["purpose"])) == [("ops", "sent", 1, "test"), ("ops", "failed", 2, "test")]
    assert not any("XYZsecret" in str(value) for value in history.to_numpy().ravel())


def test_check_now_runs_the_scheduled_check(small_shop_db, small_shop, tmp_path):
    _, last = small_shop.date_span(TZ)
    cpcs = cpc_by_channel(small_shop, last)
    threshold = min(cpcs.values())
    database = tmp_path / "alerts.db"
    AlertStore(database).add_rule(AlertRule("cpc", ">=", threshold))
    at = open_page(small_shop_db, database)
    at.button(key="alerts_check_now").click().run()
    assert not at.exception
    found = AlertStore(database).alerts()
    anomalies = [alert for alert in found if alert["kind"] == "anomaly"]
    assert len(found) == len(cpcs) + len(anomalies)
    assert at.success[0].value == f"Checked {format_day(last, 'en')}: {len(found)} new, 0 resolved, 0 failed sends."


def test_in_chinese_and_with_wrong_settings_or_a_missing_table(small_shop_db, small_shop, checked, database, tmp_path):
    at = open_page(small_shop_db, database, lang="zh")
    assert at.title[0].value == "预警"
    assert [subheader.value for subheader in at.subheader] == ["当前预警", "预警规则", "通知对象", "发送记录"]
    assert at.button(key="alerts_check_now").label == "立即检查"
    assert all("预警中" in line or "已恢复" in line for line in lines(at))

    wrong = open_page(small_shop_db, database, alerts={"smtp": {"host": "h", "from": "a@b", "to": "c@d", "tls": "yes"}})
    assert [error.value for error in wrong.error] == [
        "The configuration in `.streamlit/secrets.toml` is wrong: [alerts.smtp] tls = 'yes': Input should be 'starttls', 'ssl' or 'none'"
    ]

    folder = tmp_path / "shop"
    folder.mkdir()
    derived = {"events": ["session_id", "session_channel", "session_device"]}
    for name in ("events", "users"):
        small_shop.tables[name].drop(derived.get(name, [])).write_parquet(folder / f"{name}.parquet")
    missing = AppTest.from_file(APP, default_timeout=120)
    missing.secrets["connections"] = {"shop": {"folder": str(folder)}}
    missing.secrets["alerts"] = {"database": str(database)}
    missing.run()
    missing.switch_page("pages/alerts.py").run()
    assert not missing.exception
    # events and users are enough: the activity KPIs are watched, the order KPIs are not available
    assert not missing.warning and missing.title[0].value == "Alerts"
