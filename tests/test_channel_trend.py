"""Spend, GMV, ROAS and CPC per day and paid channel, on a hand-made shop."""

from datetime import date

import polars as pl
from conftest import utc
from polars.testing import assert_frame_equal

from metrics.channels import channel_spend_trend

TZ = "Asia/Shanghai"
AD_SPEND = pl.DataFrame(
    {
        "date": [date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 2), date(2026, 3, 3)],
        "channel": ["paid_search", "paid_search", "social", "social"],
        "spend": [10.0, 5.0, 8.0, 99.0],  # 03-03 is after the period
        "clicks": [20, 0, 4, 50],
    }
)
ORDERS = pl.DataFrame(
    {
        "order_id": [1, 2, 3, 4, 5],
        "user_id": [1, 2, 1, 3, 4],
        "created_at": [utc("2026-03-01 02:00"), utc("2026-02-28 16:30"), utc("2026-03-02 03:00"), utc("2026-03-02 03:00"), utc("2026-03-01 05:00")],
        "amount": [30.0, 12.0, 100.0, 7.0, 50.0],
        "status": ["paid", "completed", "cancelled", "refunded", "paid"],
        "channel": ["paid_search", None, "paid_search", "paid_search", "email"],
    }
)
USERS = pl.DataFrame({"user_id": [1, 2, 3, 4], "signup_at": [utc("2026-01-01 00:00")] * 4, "channel": ["paid_search", "social", "email", "email"]})


def test_each_paid_channel_has_every_day_with_its_spend_and_return():
    trend = channel_spend_trend(ORDERS, USERS, AD_SPEND, start=date(2026, 3, 1), end=date(2026, 3, 2), tz=TZ)
    expected = pl.DataFrame(
        {
            "date": [date(2026, 3, 1), date(2026, 3, 2)] * 2,
            "channel": ["paid_search", "paid_search", "social", "social"],
            "spend": [10.0, 5.0, 0.0, 8.0],
            "clicks": [20, 0, 0, 4],
            # order 2 has no channel: its user came by social; 00:30 local is 03-01
            "gmv": [30.0, 7.0, 12.0, 0.0],
            "roas": [3.0, 1.4, None, 0.0],
            "cpc": [0.5, None, None, 2.0],
        }
    )
    assert_frame_equal(trend, expected)


def test_without_clicks_cpc_is_unknown():
    trend = channel_spend_trend(ORDERS, USERS, AD_SPEND.drop("clicks"), start=date(2026, 3, 1), end=date(2026, 3, 1), tz=TZ)
    # social spent nothing on 03-01, so only paid_search is a paid channel of that period
    assert trend["channel"].to_list() == ["paid_search"]
    assert trend["clicks"].to_list() == [None]
    assert trend["cpc"].to_list() == [None]
    assert trend["roas"].to_list() == [3.0]
