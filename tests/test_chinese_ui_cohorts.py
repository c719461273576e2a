"""Issue 21: cohorts by month on the default 30 days were one cohort, single dots and an
empty Curves chart. A period too short for its grain now gives way to the last 6 months (or
12 weeks) up to its end, and the page says so, in English and Chinese; a span with no cohort
at all still says why it is empty."""

import json
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from connectors.sql import sqlite_url
from metrics.cohorts import retention
from shop_analytics.ui.cohort_span import cohort_start
from shop_analytics.ui.filters import DATES_KEY

TZ = "Asia/Shanghai"
APP = str(Path(__file__).resolve().parents[1] / "app.py")
FIRST = date(2025, 11, 23)


@pytest.mark.parametrize(
    ("period", "start", "end", "expected"),
    [
        ("month", date(2026, 10, 24), date(2026, 11, 22), date(2026, 6, 1)),  # the default 30 days: one month begins
        ("month", date(2026, 7, 25), date(2026, 11, 22), date(2026, 7, 25)),  # four months begin: as chosen
        ("week", date(2026, 10, 24), date(2026, 11, 22), date(2026, 10, 24)),  # four Mondays: as chosen
        ("week", date(2026, 11, 21), date(2026, 11, 22), date(2026, 8, 31)),  # a weekend: the 12 weeks to its end
        ("month", date(2025, 12, 1), date(2025, 12, 20), FIRST),  # not before the data's first day
    ],
)
def test_where_the_cohorts_start(period, start, end, expected):
    assert cohort_start(period, start, end, FIRST) == expected


def cohorts_by_month(small_shop_db, lang: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.secrets["connections"] = {"shop": {"url": sqlite_url(small_shop_db)}}
    at.secrets["settings"] = {"language": lang}
    at.query_params["grain"] = "month"
    at.switch_page("pages/cohorts.py").run()
    assert not at.exception
    return at


@pytest.mark.parametrize(("lang", "words"), [("en", "the cohort views start 6 months back, from {start}"), ("zh", "群组视图从 6 个月前开始，即 {start}")])
def test_month_cohorts_on_the_default_30_days_start_six_months_back(small_shop_db, small_shop, lang, words):
    at = cohorts_by_month(small_shop_db, lang)
    chosen_start, end = at.session_state[DATES_KEY]
    assert (end - chosen_start).days == 29
    start = cohort_start("month", chosen_start, end, small_shop.date_span(TZ)[0])
    assert start < chosen_start and start.day == 1
    assert any(words.format(start=start) in info.value for info in at.info)
    expected = retention(small_shop.events, small_shop.orders, small_shop.users, start=start, end=end, tz=TZ, period="month")
    heatmap, curves = (json.loads(chart.proto.spec)["data"] for chart in at.get("plotly_chart")[:2])
    assert len(heatmap[0]["y"]) == expected["cohort"].n_unique() == 6
    # the curves have lines now: every cohort with a finished month after its first
    complete = expected.filter(pl.col("complete"))
    assert {trace["name"] for trace in curves[:-1]} == {str(cohort) for cohort in complete["cohort"].unique()}
    assert max(len(trace["x"]) for trace in curves) >= 5
