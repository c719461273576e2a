"""Issue 21: alerts contradicted each other (the Overview listed refund alerts, the Alerts page
said none, the weekly report counted ten). With the one anomaly pipeline
(metrics.anomalies.anomaly_verdicts + alerts_of) they agree on screen, in English and
Chinese: the issue's period on the small shop, and a week of the small shop with an alert,
checked day by day as the scheduler does."""

from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from connectors.sql import sqlite_url
from metrics.anomalies import AnomalySettings, alerts_of, anomaly_verdicts
from metrics.kpis import daily_kpis
from metrics.registry import KPIS
from shop_analytics.alerts.check import run_check
from shop_analytics.alerts.config import alert_config
from shop_analytics.alerts.store import AlertStore
from shop_analytics.config import Settings
from shop_analytics.i18n import format_day
from shop_analytics.reports.content import build_report
from shop_analytics.ui.filters import DATES_KEY

TZ = "Asia/Shanghai"
APP = str(Path(__file__).resolve().parents[1] / "app.py")
ISSUE_PERIOD = (date(2026, 10, 24), date(2026, 11, 22))


def app(small_shop_db, database: Path, lang: str, page: str, start: date, end: date) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.secrets["connections"] = {"shop": {"url": sqlite_url(small_shop_db)}}
    at.secrets["alerts"] = {"database": str(database)}
    at.secrets["settings"] = {"language": lang}
    at.query_params["from"], at.query_params["to"] = str(start), str(end)
    at.switch_page(f"pages/{page}.py").run()
    assert not at.exception
    return at


def overview_alerts(at) -> list[str]:
    return [markdown.value for markdown in at.markdown if markdown.value.startswith(":red[")]


def alerts_page_lines(at) -> list[str]:
    return [markdown.value for markdown in at.markdown if "-badge[" in markdown.value]


def test_the_issues_period_agrees_on_the_overview_the_alerts_page_and_the_report(small_shop_db, small_shop, tmp_path):
    assert small_shop.date_span(TZ)[1] == ISSUE_PERIOD[1]
    database = tmp_path / "alerts.db"
    overview = app(small_shop_db, database, "en", "overview", *ISSUE_PERIOD)
    assert overview.session_state[DATES_KEY] == ISSUE_PERIOD
    alerts = app(small_shop_db, database, "en", "alerts", *ISSUE_PERIOD)
    alerts.button(key="alerts_check_now").click().run()
    report = build_report(small_shop, kind="week", day=ISSUE_PERIOD[1], lang="zh", settings=Settings())
    shown = len(overview_alerts(overview))
    assert shown == len(alerts_page_lines(alerts)) == report.alerts.height
    assert alerts.success[0].value.startswith(f"Checked {format_day(ISSUE_PERIOD[1], 'en')}: {shown} new")


def week_with_an_alert(shop) -> tuple[date, date, pl.DataFrame]:
    """The latest Monday-to-Sunday week of the small shop with a bad-direction alert, and its alerts."""
    first, last = shop.date_span(TZ)
    daily = daily_kpis(shop.events, shop.sessions, shop.orders, shop.users, start=first, end=last, tz=TZ)
    alerts = alerts_of(anomaly_verdicts(daily, shop.tables.get("campaigns"), AnomalySettings()))
    end = max(day + timedelta(days=6 - day.weekday()) for day in alerts["date"] if day + timedelta(days=6 - day.weekday()) <= last)
    start = end - timedelta(days=6)
    return start, end, alerts.filter(pl.col("date").is_between(start, end))


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_week_with_an_alert_shows_the_same_alerts_on_every_screen(small_shop_db, small_shop, tmp_path, lang):
    start, end, expected = week_with_an_alert(small_shop)
    assert expected.height > 0
    database = tmp_path / "alerts.db"
    config = alert_config({"database": str(database)}, Settings())
    for offset in range(7):  # the scheduler's daily checks
        run_check(small_shop, AlertStore(database), config, Settings(), day=start + timedelta(days=offset))
    # the overview's alerts are those of the 7 days to its period's end: the report's week
    overview = overview_alerts(app(small_shop_db, database, lang, "overview", end - timedelta(days=29), end))
    page = alerts_page_lines(app(small_shop_db, database, lang, "alerts", start, end))
    report = build_report(small_shop, kind="week", day=end, lang=lang, settings=Settings())
    assert sorted(report.alerts.select("date", "kpi").rows()) == sorted(expected.select("date", "kpi").rows())
    assert len(overview) == expected.height
    for day, kpi in expected.select("date", "kpi").iter_rows():
        words = KPIS[kpi].label_in(lang)
        assert any(line.startswith(f":red[{format_day(day, lang)}]") and words in line for line in overview)
        assert any(words in line for line in page)
    # one alert per KPI on the Alerts page, however many days it held
    assert len(page) == expected["kpi"].n_unique()
