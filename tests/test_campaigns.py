"""Campaigns: spend and return per campaign on a hand-made shop, the baseline a campaign is
compared with, and the verdict sentence written from a comparison's numbers.

Zone UTC, so every timestamp's day is its UTC date. Period 2026-03-03..03-06.
Campaign 1 (03-01..03-05, budget 100) spent 20 + 10 on 30 clicks in the period (the 50
on 03-02 is before it) and has two valid orders (100 and 50) from one buyer inside it (a
cancelled one and one on 03-07 do not count); campaign 3 (03-05..03-10) has no spend rows and
one refunded (valid) order of 80; campaign 2 (June) is outside the period.
"""

from datetime import date, timedelta

import polars as pl
import pytest
from conftest import utc
from polars.testing import assert_frame_equal

from metrics.campaigns import (
    CAMPAIGN_COLUMNS,
    baseline_period,
    campaign_table,
    effect_verdict,
)
from metrics.compare import before_after
from metrics.sessions import derive_sessions

TZ = "UTC"
PERIOD = {"start": date(2026, 3, 3), "end": date(2026, 3, 6), "tz": TZ}


@pytest.fixture
def campaigns():
    return pl.DataFrame(
        {
            "campaign_id": [1, 2, 3],
            "name": ["Spring", "Summer", "Flash"],
            "start_date": [date(2026, 3, 1), date(2026, 6, 1), date(2026, 3, 5)],
            "end_date": [date(2026, 3, 5), date(2026, 6, 3), date(2026, 3, 10)],
            "budget": [100.0, 10.0, None],
        }
    )


@pytest.fixture
def ad_spend():
    return pl.DataFrame(
        {
            "date": [date(2026, 3, 2), date(2026, 3, 3), date(2026, 3, 4), date(2026, 3, 4), date(2026, 6, 1)],
            "channel": ["social", "social", "email", "paid_search", "social"],
            "spend": [50.0, 20.0, 10.0, 99.0, 5.0],
            "campaign_id": [1, 1, 1, None, 2],
            "impressions": [500, 100, 200, 900, 50],
            "clicks": [50, 10, 20, 90, 5],
        }
    )


@pytest.fixture
def orders():
    rows = [
        (1, 1, "2026-03-03 10:00", 100.0, "paid", 1),
        (2, 1, "2026-03-04 10:00", 50.0, "completed", 1),
        (3, 2, "2026-03-05 10:00", 30.0, "cancelled", 1),
        (4, 3, "2026-03-07 10:00", 40.0, "paid", 1),
        (5, 2, "2026-03-06 23:59", 80.0, "refunded", 3),
        (6, 4, "2026-03-04 10:00", 500.0, "paid", None),
    ]
    return pl.DataFrame(
        {
            "order_id": [row[0] for row in rows],
            "user_id": [row[1] for row in rows],
            "created_at": [utc(row[2]) for row in rows],
            "amount": [row[3] for row in rows],
            "status": [row[4] for row in rows],
            "campaign_id": [row[5] for row in rows],
        }
    )


def expected_table(**changes) -> pl.DataFrame:
    columns = {
        "campaign_id": [3, 1], "name": ["Flash", "Spring"],
        "start_date": [date(2026, 3, 5), date(2026, 3, 1)], "end_date": [date(2026, 3, 10), date(2026, 3, 5)],
        "channel": [None, None], "kind": [None, None], "days_in_period": [2, 3],
        "budget": [None, 100.0], "spend": [0.0, 30.0], "budget_used": [None, 0.3],
        "impressions": [0, 300], "clicks": [0, 30], "cpc": [None, 1.0],
        "orders": [1, 2], "buyers": [1, 1], "gmv": [80.0, 150.0], "gross_profit": [24.0, 45.0],
        "roas": [None, 5.0], "roi": [None, 0.5],
        "cpc_above_target": [None, False], "roi_below_target": [None, False],
    } | changes
    schema = {
        "campaign_id": pl.Int64, "name": pl.String, "start_date": pl.Date, "end_date": pl.Date,
        "channel": pl.String, "kind": pl.String, "days_in_period": pl.Int64, "budget": pl.Float64,
        "spend": pl.Float64, "budget_used": pl.Float64, "impressions": pl.Int64, "clicks": pl.Int64,
        "cpc": pl.Float64, "orders": pl.Int64, "buyers": pl.Int64, "gmv": pl.Float64,
        "gross_profit": pl.Float64, "roas": pl.Float64, "roi": pl.Float64,
        "cpc_above_target": pl.Boolean, "roi_below_target": pl.Boolean,
    }
    return pl.DataFrame(columns, schema=schema).select(CAMPAIGN_COLUMNS)


def test_spend_and_return_per_campaign_in_the_period(campaigns, orders, ad_spend):
    table = campaign_table(campaigns, orders, ad_spend, **PERIOD)
    assert_frame_equal(table, expected_table(), check_exact=False)


def test_targets_flag_the_campaigns_that_miss_them(campaigns, orders, ad_spend):
    table = campaign_table(campaigns, orders, ad_spend, **PERIOD, cpc_target=0.5, roi_target=0.6)
    assert table["cpc_above_target"].to_list() == [None, True]
    assert table["roi_below_target"].to_list() == [None, True]


def test_margin_comes_from_product_cost_where_known(campaigns, orders, ad_spend):
    items = pl.DataFrame({"order_id": [1], "product_id": ["p1"], "quantity": [1], "unit_price": [100.0]})
    products = pl.DataFrame({"product_id": ["p1"], "name": ["Tea"], "category": ["food"], "cost": [40.0]})
    table = campaign_table(campaigns, orders, ad_spend, items, products, **PERIOD)
    # order 1 earns 100 - 40 = 60, order 2 (no items) 50 x the default 30 %: 75 against a spend of 30
    assert table.filter(pl.col("campaign_id") == 1).select("gross_profit", "roi").row(0) == pytest.approx((75.0, 1.5))


def test_without_spend_or_campaign_orders_the_unknowns_stay_empty(campaigns, orders, ad_spend):
    no_spend = campaign_table(campaigns, orders, None, **PERIOD)
    assert no_spend["spend"].to_list() == [None, None] and no_spend["roi"].to_list() == [None, None]
    assert no_spend["gmv"].to_list() == [80.0, 150.0]
    no_ids = campaign_table(campaigns, orders.drop("campaign_id"), ad_spend.drop("campaign_id"), **PERIOD)
    assert no_ids.select("spend", "orders", "gmv", "roas").null_count().row(0) == (2, 2, 2, 2)


def test_a_business_day_is_the_local_one(campaigns, orders, ad_spend):
    # At UTC+8 order 5 (23:59 UTC on 03-06) is made on 03-07, after the period.
    table = campaign_table(campaigns, orders, ad_spend, **(PERIOD | {"tz": "Asia/Shanghai"}))
    assert table.filter(pl.col("campaign_id") == 3)["orders"].item() == 0


def test_no_campaign_in_the_period_gives_an_empty_table(campaigns, orders, ad_spend):
    table = campaign_table(campaigns, orders, ad_spend, start=date(2026, 4, 1), end=date(2026, 4, 30), tz=TZ)
    assert table.height == 0 and table.columns == list(CAMPAIGN_COLUMNS)


def test_baseline_periods():
    window = (date(2026, 11, 1), date(2026, 11, 11))
    assert baseline_period(window) == (date(2026, 10, 21), date(2026, 10, 31))
    assert baseline_period(window, 28) == (date(2026, 10, 4), date(2026, 10, 31))
    with pytest.raises(ValueError, match="at least one day"):
        baseline_period(window, 0)


UPLIFT = {"measure": "gmv_per_day", "before": 100.0, "after": 138.0, "ci_low": 21.0, "ci_high": 55.0, "p_value": 0.001, "significant": True}


def test_a_significant_rise_is_a_real_uplift_in_both_languages():
    assert effect_verdict(UPLIFT, campaign="Double 11", baseline="the 28 days before", lang="en") == (
        "GMV per day rose 38% (95% CI +21% to +55%) during Double 11 against the 28 days before: a real uplift."
    )
    assert effect_verdict(UPLIFT, campaign="双十一", baseline="活动前 28 天", lang="zh") == (
        "双十一期间，与活动前 28 天相比，日均 GMV 上升 38%（95% 置信区间 +21% 至 +55%）：确有提升。"
    )


def test_an_interval_across_zero_is_not_distinguishable_and_missing_data_says_so():
    flat = UPLIFT | {"before": 200.0, "after": 190.0, "ci_low": -30.0, "ci_high": 10.0, "p_value": 0.4, "significant": False}
    assert effect_verdict(flat, campaign="Flash", baseline="the 3 days before", lang="en") == (
        "GMV per day fell 5% (95% CI -15% to +5%) during Flash against the 3 days before: not distinguishable from the baseline."
    )
    drop = flat | {"ci_high": -2.0, "p_value": 0.01, "significant": True}
    assert effect_verdict(drop, campaign="Flash", baseline="b", lang="en").endswith(": a real drop.")
    empty = UPLIFT | {"before": None, "difference": None, "ci_low": None, "ci_high": None, "p_value": None}
    assert effect_verdict(empty, campaign="Flash", baseline="the 3 days before", lang="en") == (
        "GMV per day during Flash cannot be compared with the 3 days before: there is not enough data on one side."
    )


def test_the_verdict_of_a_computed_comparison():
    """A campaign that doubles daily GMV (one order a day: 100 or 120 for 28 days, then 200
    or 220 for 4 days) is a real uplift; the interval is Welch's, as a share of 110."""
    window = (date(2026, 3, 29), date(2026, 4, 1))
    baseline = baseline_period(window, 28)
    days = [baseline[0] + timedelta(days=n) for n in range(32)]
    amounts = [100.0 + 20 * (n % 2) + (100.0 if day >= window[0] else 0.0) for n, day in enumerate(days)]
    times = [utc(f"{day} 12:00") for day in days]
    orders = pl.DataFrame({"order_id": range(32), "user_id": range(32), "created_at": times, "amount": amounts, "status": ["paid"] * 32})
    events, sessions = derive_sessions(pl.DataFrame({"user_id": range(32), "event_time": times, "event_type": ["purchase"] * 32}))
    users = pl.DataFrame({"user_id": range(32), "signup_at": times})
    table = before_after(events, sessions, orders, users, before=baseline, after=window, tz=TZ, data_end=utc("2026-04-02 00:00"))
    row = table.filter(pl.col("measure") == "gmv_per_day").row(0, named=True)
    assert (row["before"], row["after"]) == pytest.approx((110.0, 210.0))
    sentence = effect_verdict(row, campaign="Spring", baseline="the 28 days before", lang="en")
    low, high = f"{row['ci_low'] / 110:+.0%}", f"{row['ci_high'] / 110:+.0%}"
    assert sentence == f"GMV per day rose 91% (95% CI {low} to {high}) during Spring against the 28 days before: a real uplift."
