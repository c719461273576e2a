"""The Reports page (AppTest): it builds the report of the chosen period and language (in the
background, the page following its progress), shows the metric functions' numbers, previews
the HTML and offers the files to download; a link from a report message opens that report;
subscriptions are added with their next run, refused with the reason, sent now into the
history."""

import time
from datetime import date
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from connectors.sql import sqlite_url
from metrics.periods import compare_periods
from shop_analytics.config import Settings
from shop_analytics.i18n import format_number
from shop_analytics.reports.content import build_report

TZ = "Asia/Shanghai"
APP = str(Path(__file__).resolve().parents[1] / "app.py")


@pytest.fixture
def page(small_shop_db, tmp_path):
    at = AppTest.from_file(APP, default_timeout=180)
    at.secrets["connections"] = {"shop": {"url": sqlite_url(small_shop_db)}}
    at.secrets["alerts"] = {"database": str(tmp_path / "alerts.db")}
    at.run()
    return at.switch_page("pages/reports.py").run()


def build(at):
    return at.button(key="report_build").click().run()


def metric(at, label):
    return next(card for card in at.metric if card.label == label)


def preview(at) -> str:
    return next(element for element in at.get("iframe")).proto.srcdoc


def period_kpis(shop, start, end):
    frames = (shop.events, shop.sessions, shop.orders, shop.users)
    return {row["kpi"]: row for row in compare_periods(*frames, start=start, end=end, tz=TZ).iter_rows(named=True)}


def test_the_page_waits_for_a_request_then_shows_the_metric_numbers(page, small_shop):
    assert not page.exception
    assert page.title[0].value == "Reports"
    assert page.info[0].value == "Choose the period and the language, then build the report."
    assert not page.metric
    # The default day is the last day of the data: the week of 2026-11-16 to 2026-11-22.
    assert page.date_input(key="report_day").value == date(2026, 11, 22)
    build(page)
    assert not page.exception and not page.error
    kpis = period_kpis(small_shop, date(2026, 11, 16), date(2026, 11, 22))
    assert page.subheader[0].value == "Weekly management report, 2026-11-16 – 2026-11-22"
    # Money on a card is shortened so that it fits (¥1.80K), the whole value in its help.
    assert metric(page, "GMV").value == format_number(kpis["gmv"]["current"], "money", "en", compact=True)
    assert metric(page, "GMV").proto.help == format_number(kpis["gmv"]["current"], "money", "en")
    assert metric(page, "GMV").delta == f"{kpis['gmv']['change_vs_previous']:+.1%}"
    assert metric(page, "Orders").value == f"{kpis['orders']['current']:,.0f}"
    assert metric(page, "Conversion rate").value == format_number(kpis["conversion_rate"]["current"], "ratio", "en")
    report = build_report(small_shop, kind="week", day=date(2026, 11, 22), lang="en", settings=Settings())
    assert all(f"- {sentence}" in page.markdown[0].value for sentence in report.highlights)
    assert "in progress" in page.warning[0].value
    html = preview(page)
    assert html.startswith("<!DOCTYPE html>") and format_number(kpis["gmv"]["current"], "money", "en") in html
    assert "<script src=" not in html
    assert [button.label for button in page.get("download_button")] == ["Download HTML", "Download PDF", "Download XLSX"]


def test_a_month_in_chinese_with_only_the_excel_file(page, small_shop):
    page.segmented_control(key="report_kind").set_value("month")
    page.date_input(key="report_day").set_value(date(2026, 10, 9))
    page.segmented_control(key="report_lang").set_value("zh")
    page.pills(key="report_formats").set_value(["xlsx"])
    build(page)
    assert not page.exception
    kpis = period_kpis(small_shop, date(2026, 10, 1), date(2026, 10, 31))
    assert page.subheader[0].value == "管理月报（2026年10月1日 – 10月31日）"
    assert metric(page, "GMV").value == format_number(kpis["gmv"]["current"], "money", "zh", compact=True)
    assert metric(page, "订单数").value == f"{kpis['orders']['current']:,.0f}"
    assert metric(page, "GMV").delta == f"{kpis['gmv']['change_vs_previous']:+.1%}"
    assert not page.warning  # October is over
    assert page.markdown[0].value.startswith("**要点**")
    assert '<html lang="zh-CN">' in preview(page)
    # The page's own words stay English; only the report is in Chinese.
    assert [button.label for button in page.get("download_button")] == ["Download XLSX"]


def test_the_page_in_chinese(small_shop_db):
    at = AppTest.from_file(APP, default_timeout=180)
    at.secrets["connections"] = {"shop": {"url": sqlite_url(small_shop_db)}}
    at.session_state["language"] = "zh"
    at.run()
    at.switch_page("pages/reports.py").run()
    assert not at.exception
    assert at.title[0].value == "报告"
    assert at.info[0].value == "请选择周期和语言，然后生成报告。"
    assert at.segmented_control(key="report_kind").options == ["周报", "月报"]
    assert at.segmented_control(key="report_lang").value == "zh"
    assert at.button(key="report_build").label == "生成报告"


def test_without_orders_the_report_is_built_with_order_measures_not_available(tmp_path, small_shop):
    """An events-only shop (issue 14): the report is built, its activity KPIs computed and its
    order KPIs shown as not available ("–"), never as zeros."""
    derived_columns = {"events": ["session_id", "session_channel", "session_device"]}
    for name, table in small_shop.tables.items():
        if name != "orders":
            table.drop(derived_columns.get(name, [])).write_parquet(tmp_path / f"{name}.parquet")
    at = AppTest.from_file(APP, default_timeout=180)
    at.secrets["connections"] = {"shop": {"folder": str(tmp_path)}}
    at.secrets["alerts"] = {"database": str(tmp_path / "alerts.db")}
    at.run()
    at.switch_page("pages/reports.py").run()
    build(at)
    assert not at.exception and not at.error
    cards = {metric.label: metric.value for metric in at.metric}
    assert cards["GMV"] == "–" and cards["Orders"] == "–"
    assert cards["Active users"] not in ("–", "0")


def test_a_link_from_a_report_message_offers_that_report(small_shop_db, tmp_path):
    """A monthly report's message links to /reports?from=2026-10-01&to=2026-10-31 (and the
    report's language, which sets the dashboard's)."""
    at = AppTest.from_file(APP, default_timeout=180)
    at.secrets["connections"] = {"shop": {"url": sqlite_url(small_shop_db)}}
    at.secrets["alerts"] = {"database": str(tmp_path / "alerts.db")}
    at.query_params.update({"from": "2026-10-01", "to": "2026-10-31"})
    at.run()
    at.switch_page("pages/reports.py").run()
    assert at.segmented_control(key="report_kind").value == "month"
    assert at.date_input(key="report_day").value == date(2026, 10, 31)
    build(at)
    assert not at.exception
    assert at.subheader[0].value == "Monthly management report, 2026-10-01 – 2026-10-31"


def _subscribe(at, **values):
    at.text_input(key="subscription_name").input(values.get("name", "Weekly for the board"))
    at.text_area(key="subscription_emails").input(values.get("emails", ""))
    if "robot" in values:
        at.selectbox(key="subscription_robot").set_value(values["robot"])
        at.text_input(key="subscription_robot_url").input(values["url"])
    return at.button(key="subscription_save").click().run()


def test_subscriptions_are_added_with_their_next_run_refused_with_the_reason_and_sent_now(page, tmp_path):
    from alert_servers import HookServer

    from shop_analytics.alerts.store import AlertStore
    from shop_analytics.scheduler.state import ScheduleStore

    assert "No subscriptions yet." in [info.value for info in page.info]
    _subscribe(page, emails="not-an-address")
    assert [error.value for error in page.error] == ["The subscription was not saved: 'not-an-address' is not an e-mail address"]
    hook = HookServer().start()
    try:
        _subscribe(page, emails="", robot="generic", url=f"{hook.url}/reports?token=T0KEN-123456789")
        assert [success.value for success in page.success] == ["Saved: Weekly for the board"]
        [caption] = [caption.value for caption in page.caption if caption.value.startswith("Mondays 08:00")]
        assert caption.startswith("Mondays 08:00; next ") and caption.endswith("; to generic @ 127.0.0.1")
        assert "T0KEN" not in str([element.value for element in [*page.caption, *page.markdown]])
        page.button(key="subscription_send_1").click().run()
        assert not page.exception
        store = ScheduleStore(AlertStore(tmp_path / "alerts.db"))
        for _ in range(240):  # the send runs in the background: a report to build, one post
            if store.history()["status"].to_list() == ["sent"]:
                break
            time.sleep(0.25)
    finally:
        hook.stop()
    assert len(hook.posts) == 1
    page.run()
    history = page.dataframe[-1].value
    assert history[["subscription", "trigger", "recipient", "status"]].values.tolist() == [["Weekly for the board", "manual", "generic @ 127.0.0.1", "sent"]]
