"""The Campaigns & ROI page, headless (AppTest): the campaign table and the before/after
verdict are the metric functions' for the same filters; a click on a bar or a row chooses
the campaign compared."""

from datetime import date, timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from connectors.sql import sqlite_url
from metrics.campaigns import (
    FIXED_BASELINE_DAYS,
    baseline_period,
    campaign_table,
    effect_verdict,
)
from metrics.compare import before_after
from metrics.segments import Segment
from shop_analytics.ui.filters import CHANNELS_KEY, DATES_KEY

TZ = "Asia/Shanghai"
APP = str(Path(__file__).resolve().parents[1] / "app.py")
EVERYONE = Segment()
# Four months: Double 11, Golden Week, 99 Brand Day and Back to School.
WIDE = (date(2026, 8, 1), date(2026, 11, 22))


@pytest.fixture
def app(small_shop_db):
    at = AppTest.from_file(APP, default_timeout=120)
    at.secrets["connections"] = {"shop": {"url": sqlite_url(small_shop_db)}}
    at.run()
    return at.switch_page("pages/campaigns.py").run()


def expected_table(shop, period, segment=EVERYONE):
    frames = segment.apply(shop.events, shop.sessions, shop.orders, shop.users)
    return campaign_table(shop.campaigns, frames[2], shop.ad_spend, shop.order_items, shop.products, start=period[0], end=period[1], tz=TZ)


def expected_verdicts(shop, campaign, baseline_days=None, words="the same number of days before", lang="en"):
    window = (campaign["start_date"], campaign["end_date"])
    data_end = max(shop.events["event_time"].max(), shop.orders["created_at"].max())
    comparison = before_after(
        shop.events, shop.sessions, shop.orders, shop.users,
        before=baseline_period(window, baseline_days), after=window, tz=TZ, data_end=data_end,
    )
    rows = {row["measure"]: row for row in comparison.iter_rows(named=True)}
    return {measure: effect_verdict(row, campaign=campaign["name"], baseline=words, lang=lang) for measure, row in rows.items()}


def verdict_shown(at):
    return next(element.value for element in (*at.success, *at.info, *at.error) if "during" in element.value or "期间" in element.value)


def test_the_campaign_table_and_the_verdict_are_the_metrics(app, small_shop):
    assert not app.exception
    period = app.session_state[DATES_KEY]
    table = expected_table(small_shop, period)
    shown = app.dataframe[0].value
    assert list(shown["name"]) == table["name"].to_list() == ["Double 11 双十一"]
    assert list(shown["gmv"]) == pytest.approx(table["gmv"].to_list())
    assert list(shown["spend"]) == pytest.approx(table["spend"].to_list())
    assert list(shown["roi"]) == pytest.approx(table["roi"].to_list())
    verdicts = expected_verdicts(small_shop, table.row(0, named=True))
    assert verdict_shown(app) == verdicts["gmv_per_day"]
    assert verdicts["gmv_per_day"].startswith("GMV per day rose")
    assert [verdicts["conversion_rate"], verdicts["session_conversion"], verdicts["aov"]] == app.markdown[0].value.replace("- ", "").split("\n")


def test_a_click_on_a_bar_or_a_row_chooses_the_campaign(app, small_shop):
    app.date_input(key=DATES_KEY).set_value(WIDE).run()
    table = expected_table(small_shop, WIDE)
    assert list(app.dataframe[0].value["name"]) == table["name"].to_list()
    assert table.height == 4
    golden_week = table.row(1, named=True)
    app.session_state["campaigns_roi"] = {"selection": {"points": [{"customdata": golden_week["campaign_id"]}], "point_indices": [1], "box": [], "lasso": []}}
    app.run()
    assert not app.exception
    assert app.subheader[0].value == f"Before and after: {golden_week['name']}"
    assert verdict_shown(app) == expected_verdicts(small_shop, golden_week)["gmv_per_day"]
    # the picker moves on its own afterwards, then a row of the table chooses
    app.selectbox(key="campaigns_pick").set_value(table["campaign_id"][0]).run()
    assert app.subheader[0].value == f"Before and after: {table['name'][0]}"
    app.session_state["campaigns_table"] = {"selection": {"rows": [3], "columns": [], "cells": []}}
    app.run()
    assert app.subheader[0].value == f"Before and after: {table['name'][3]}"


def test_a_fixed_baseline_of_28_days(app, small_shop):
    app.segmented_control(key="campaigns_baseline").set_value("fixed_days").run()
    assert not app.exception
    campaign = expected_table(small_shop, app.session_state[DATES_KEY]).row(0, named=True)
    baseline = baseline_period((campaign["start_date"], campaign["end_date"]), FIXED_BASELINE_DAYS)
    assert baseline == (campaign["start_date"] - timedelta(days=28), campaign["start_date"] - timedelta(days=1))
    assert f"against {baseline[0]} to {baseline[1]}" in " ".join(caption.value for caption in app.caption)
    assert verdict_shown(app) == expected_verdicts(small_shop, campaign, FIXED_BASELINE_DAYS, "the 28 days before")["gmv_per_day"]


def test_the_channel_filter_changes_the_numbers(app, small_shop):
    period = app.session_state[DATES_KEY]
    everyone = list(app.dataframe[0].value["gmv"])
    app.multiselect(key=CHANNELS_KEY).set_value(["organic"]).run()
    organic = expected_table(small_shop, period, Segment(channels=("organic",)))
    assert list(app.dataframe[0].value["gmv"]) == pytest.approx(organic["gmv"].to_list())
    assert organic["gmv"].to_list() != pytest.approx(everyone)


def test_a_period_without_campaigns_says_so(app):
    app.date_input(key=DATES_KEY).set_value((date(2026, 6, 20), date(2026, 7, 10))).run()
    assert not app.exception
    assert [info.value for info in app.info] == ["No campaign runs between 2026-06-20 and 2026-07-10. Widen the period in the sidebar."]


def test_in_chinese(app, small_shop):
    app.session_state["language"] = "zh"
    app.run()
    assert not app.exception
    assert app.title[0].value == "活动与 ROI"
    campaign = expected_table(small_shop, app.session_state[DATES_KEY]).row(0, named=True)
    verdict = expected_verdicts(small_shop, campaign, words="活动前相同天数", lang="zh")["gmv_per_day"]
    assert verdict_shown(app) == verdict and verdict.startswith("Double 11 双十一期间，与活动前相同天数相比，日均 GMV 上升")


def test_without_a_campaigns_table_the_page_says_which_table_it_needs(tmp_path, small_shop):
    derived_columns = {"events": ["session_id", "session_channel", "session_device"], "orders": ["device"]}
    for name, table in small_shop.tables.items():
        if name != "campaigns":
            table.drop(derived_columns.get(name, [])).write_parquet(tmp_path / f"{name}.parquet")
    at = AppTest.from_file(APP, default_timeout=120)
    at.secrets["connections"] = {"shop": {"folder": str(tmp_path)}}
    at.run()
    at.switch_page("pages/campaigns.py").run()
    assert not at.exception
    assert [warning.value for warning in at.warning] == [
        f"Campaigns & ROI needs the campaigns table(s), which {tmp_path} does not have; map them on the Data sources page."
    ]
