"""Issue 21: "yesterday" in one click. Quick periods in the sidebar (yesterday, the last 7 / 30
days, this week, this month, last month, the same days last year) set the period and stay in
the URL; a one-day period reads "1 day" (plural rules), is not called in progress once its
day has passed, and its trend is one marker in the middle of its day with a single tick."""

import json
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from connectors.sql import sqlite_url
from shop_analytics.charts.axes import DAY_MS
from shop_analytics.i18n import count_text
from shop_analytics.ui.filters import DATES_KEY, PRESET_KEY, preset_period

TZ = "Asia/Shanghai"
APP = str(Path(__file__).resolve().parents[1] / "app.py")
FIRST, LAST = date(2025, 12, 1), date(2026, 11, 22)  # a Sunday


@pytest.mark.parametrize(
    ("name", "days"),
    [
        ("yesterday", (date(2026, 11, 22), date(2026, 11, 22))),
        ("last_7", (date(2026, 11, 16), date(2026, 11, 22))),
        ("last_30", (date(2026, 10, 24), date(2026, 11, 22))),
        ("this_week", (date(2026, 11, 16), date(2026, 11, 22))),
        ("this_month", (date(2026, 11, 1), date(2026, 11, 22))),
        ("last_month", (date(2026, 10, 1), date(2026, 10, 31))),
        ("year_before", (date(2025, 12, 1), date(2025, 12, 20))),  # 2025-11-25.. cut at the data's first day
    ],
)
def test_quick_periods_on_data_that_ended_before_today(name, days):
    assert preset_period(name, FIRST, LAST, today=date(2026, 12, 6), current=(date(2026, 11, 25), date(2026, 12, 20))) == days


def test_on_live_data_yesterday_is_the_day_before_today():
    assert preset_period("yesterday", FIRST, LAST, today=LAST, current=(LAST, LAST)) == (LAST - timedelta(days=1),) * 2
    assert preset_period("last_7", FIRST, LAST, today=LAST, current=(LAST, LAST)) == (date(2026, 11, 15), date(2026, 11, 21))
    assert preset_period("this_month", FIRST, LAST, today=LAST, current=(LAST, LAST)) == (date(2026, 11, 1), LAST)


def test_a_period_without_data_is_none():
    assert preset_period("year_before", FIRST, LAST, today=date(2026, 12, 6), current=(date(2026, 11, 1), date(2026, 11, 22))) is None


def test_plural_rules():
    assert [count_text("filters.days", count, "en") for count in (1, 2, 30)] == ["1 day", "2 days", "30 days"]
    assert [count_text("filters.days", count, "zh") for count in (1, 30)] == ["1 天", "30 天"]


def new_app(small_shop_db, **params) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.secrets["connections"] = {"shop": {"url": sqlite_url(small_shop_db)}}
    for name, value in params.items():
        at.query_params[name] = value
    return at


def param(at, name):
    value = at.query_params.get(name)
    return value[0] if isinstance(value, list) else value


def trend_axis(at) -> dict:
    figure = json.loads(at.get("plotly_chart")[0].proto.spec)
    return figure["layout"]["xaxis"], figure["data"][-1]


def test_yesterday_in_one_click_reads_as_one_finished_day(small_shop_db, small_shop):
    at = new_app(small_shop_db).run()
    _, last = small_shop.date_span(TZ)
    assert last < datetime.now().date()  # the sample data ended before today
    at.sidebar.pills(key=PRESET_KEY).set_value("yesterday").run()
    assert not at.exception
    assert at.session_state[DATES_KEY] == (last, last)
    assert (param(at, "period"), param(at, "from"), param(at, "to")) == ("yesterday", str(last), str(last))
    caption = at.caption[0].value
    assert f"{last} to {last} (1 day, {TZ})" in caption
    assert "in progress" not in caption and "The data ends at" in caption
    axis, line = trend_axis(at)
    # one tick for the day, the day in the middle of a one-day range, one large marker
    assert axis["dtick"] == DAY_MS and axis["tick0"] == str(last) and axis["tickformat"] == "%m-%d"
    assert axis["range"] == [f"{last - timedelta(days=1)}T12:00:00", f"{last}T12:00:00"]
    assert line["x"] == [str(last)] and line["marker"]["size"] == 12
    at.radio(key="language_switch").set_value("zh").run()
    assert f"（1 天，{TZ}）" in at.caption[0].value and "尚未结束" not in at.caption[0].value
    axis, _ = trend_axis(at)
    assert axis["tickformat"] == "%-m月%-d日"


def test_a_link_with_a_quick_period_opens_its_days(small_shop_db, small_shop):
    _, last = small_shop.date_span(TZ)
    at = new_app(small_shop_db, period="last_7").run()
    assert not at.exception
    assert at.session_state[DATES_KEY] == (last - timedelta(days=6), last)
    assert at.sidebar.pills(key=PRESET_KEY).value == "last_7"
    assert f"(7 days, {TZ})" in at.caption[0].value


def test_days_picked_by_hand_are_no_quick_period(small_shop_db, small_shop):
    _, last = small_shop.date_span(TZ)
    at = new_app(small_shop_db, period="yesterday").run()
    at.sidebar.date_input(key=DATES_KEY).set_value((last - timedelta(days=2), last)).run()
    assert at.session_state[PRESET_KEY] is None and param(at, "period") is None
    assert (param(at, "from"), param(at, "to")) == (str(last - timedelta(days=2)), str(last))


def test_a_link_naming_no_quick_period_says_so(small_shop_db):
    at = new_app(small_shop_db, period="fortnight").run()
    assert not at.exception
    assert any("period=fortnight" in warning.value for warning in at.sidebar.warning)
