"""Daily KPIs and period summaries on a hand-made shop whose answers were computed by hand.

Business zone Asia/Shanghai (UTC+8): 16:00 UTC is midnight of the next local day.
"""

from datetime import date

import polars as pl
import pytest
from conftest import utc
from polars.testing import assert_frame_equal

from metrics.kpis import daily_kpis
from metrics.periods import compare_periods, elapsed_part, period_summary
from metrics.sessions import derive_sessions

TZ = "Asia/Shanghai"
UTC_TIME = pl.Datetime("us", "UTC")


@pytest.fixture(scope="module")
def shop():
    users = pl.DataFrame(
        {
            "user_id": [1, 2, 3, 4],
            "signup_at": [
                utc("2026-02-28 16:30"),  # 03-01 00:30 local
                utc("2026-03-01 15:59"),  # 03-01 23:59 local
                utc("2026-03-01 16:00"),  # 03-02 00:00 local
                utc("2026-01-15 08:00"),
            ],
        }
    )
    event_rows = [
        (1, "2026-02-28 15:59", "page_view"),  # 02-28 23:59 local: session starts before the period
        (1, "2026-02-28 16:01", "page_view"),  # 03-01 00:01 local, same session
        (1, "2026-03-01 02:00", "page_view"),
        (1, "2026-03-01 02:10", "product_view"),
        (1, "2026-03-01 02:20", "purchase"),
        (1, "2026-03-01 02:51", "page_view"),  # 31-minute gap: a new, bounced session
        (2, "2026-03-01 15:59", "page_view"),  # 03-01 23:59 local
        (2, "2026-03-01 16:00", "page_view"),  # 03-02 00:00 local, same session
        (2, "2026-03-02 04:00", "page_view"),  # bounced session on 03-02
        (3, "2026-03-03 01:00", "page_view"),
        (3, "2026-03-03 01:30", "add_to_cart"),  # exactly 30 minutes: same session
        (4, "2026-02-05 03:00", "page_view"),  # 24 days before the period: in MAU only
    ]
    events = pl.DataFrame(
        {
            "user_id": [row[0] for row in event_rows],
            "event_time": [utc(row[1]) for row in event_rows],
            "event_type": [row[2] for row in event_rows],
        }
    )
    orders = pl.DataFrame(
        {
            "order_id": [1, 2, 3, 4, 5, 6],
            "user_id": [1, 1, 2, 2, 3, 4],
            "created_at": [
                utc("2026-03-01 02:20"),
                utc("2026-03-01 03:00"),
                utc("2026-03-01 15:30"),  # 03-01 23:30 local
                utc("2026-03-01 16:30"),  # 03-02 00:30 local
                utc("2026-03-03 01:40"),
                utc("2026-03-03 10:00"),
            ],
            "amount": [100.0, 50.0, 80.0, 40.0, 200.0, 60.0],
            "status": ["completed", "cancelled", "refunded", "paid", "pending", "shipped"],
            "refund_amount": [None, None, 80.0, 10.0, None, None],
            "refunded_at": [None, None, utc("2026-03-02 17:00"), None, None, None],
        },
        schema_overrides={"refunded_at": UTC_TIME},
    )
    events, sessions = derive_sessions(events)
    return events, sessions, orders, users


def test_daily_kpis_match_hand_computed_table(shop):
    table = daily_kpis(*shop, start=date(2026, 3, 1), end=date(2026, 3, 4), tz=TZ)
    expected = pl.DataFrame(
        {
            "date": [date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3), date(2026, 3, 4)],
            "dau": [2, 1, 1, 0],
            "wau": [2, 2, 3, 3],
            "mau": [3, 3, 4, 4],
            "new_users": [2, 1, 0, 0],
            "orders": [2, 1, 1, 0],
            "buyers": [2, 1, 1, 0],
            "gmv": [180.0, 40.0, 60.0, 0.0],
            "refunds": [0.0, 10.0, 80.0, 0.0],
            "net_revenue": [180.0, 30.0, -20.0, 0.0],
            "conversion_rate": [1.0, 1.0, 1.0, None],
            "aov": [90.0, 40.0, 60.0, None],
            "arppu": [90.0, 40.0, 60.0, None],
            "sessions": [3, 1, 1, 0],
            "bounce_rate": [1 / 3, 1.0, 0.0, None],
            "session_conversion": [1 / 3, 0.0, 0.0, None],
        },
        schema_overrides={name: pl.Int64 for name in ("dau", "wau", "mau", "new_users", "orders", "buyers", "sessions")},
    )
    assert_frame_equal(table, expected)


def test_period_summary_counts_distinct_users_over_the_whole_period(shop):
    summary = period_summary(*shop, start=date(2026, 3, 1), end=date(2026, 3, 3), tz=TZ)
    assert summary == pytest.approx(
        {
            "active_users": 3,
            "new_users": 3,
            "orders": 4,
            "buyers": 3,
            "gmv": 280.0,
            "refunds": 90.0,
            "net_revenue": 190.0,
            "conversion_rate": 1.0,
            "aov": 70.0,
            "arppu": 280 / 3,
            "arpu": 280 / 3,
            "repeat_purchase_rate": 1 / 3,  # user 2: two valid orders; user 1's second is cancelled
            "sessions": 5,
            "bounce_rate": 2 / 5,
            "session_conversion": 1 / 5,
            "stickiness": (4 / 3) / 4,  # DAU 2, 1, 1; MAU on 03-03 is 4
            "user_growth_rate": 4 / 1 - 1,  # only user 4 had signed up before 03-01 local
        }
    )


def test_comparison_uses_the_previous_period_of_the_same_length(shop):
    comparison = compare_periods(*shop, start=date(2026, 3, 2), end=date(2026, 3, 3), tz=TZ, data_end=utc("2026-03-05 00:00"))
    gmv = comparison.filter(pl.col("kpi") == "gmv").row(0, named=True)
    # 03-02..03-03 has GMV 40 + 60; the previous two days, 02-28..03-01, have 180; nothing a week or a year before
    assert gmv == pytest.approx(
        {"kpi": "gmv", "current": 100.0, "previous": 180.0, "week_before": 0.0, "year_before": 0.0,
         "change_vs_previous": 100 / 180 - 1, "change_vs_week_before": None, "change_vs_year_before": None}
    )
    sessions = comparison.filter(pl.col("kpi") == "sessions").row(0, named=True)
    # previous period: the 02-28 session plus the three of 03-01
    assert sessions["previous"] == 4 and sessions["current"] == 2


def test_a_period_in_progress_is_compared_with_the_same_elapsed_part(shop):
    events, _, orders, _ = shop
    data_end = utc("2026-03-02 04:00")  # 12:00 on 03-02 in Shanghai
    day = date(2026, 3, 2)
    assert elapsed_part(events, orders, start=day, end=day, tz=TZ, data_end=data_end).total_seconds() == pytest.approx(12 * 3600, abs=1e-3)
    comparison = compare_periods(*shop, start=day, end=day, tz=TZ, data_end=data_end)
    gmv = comparison.filter(pl.col("kpi") == "gmv").row(0, named=True)
    # 03-01 until noon holds order 1 (100) only; order 3 (80, 23:30) is after the cut
    assert (gmv["current"], gmv["previous"]) == (40.0, 100.0)
    assert gmv["change_vs_previous"] == pytest.approx(-0.6)
    sessions = comparison.filter(pl.col("kpi") == "sessions").row(0, named=True)
    assert (sessions["current"], sessions["previous"]) == (1, 2)


def test_a_finished_period_is_not_cut(shop):
    events, _, orders, _ = shop
    assert elapsed_part(events, orders, start=date(2026, 3, 1), end=date(2026, 3, 2), tz=TZ) is None


def test_the_same_period_a_year_before_keeps_the_calendar_dates():
    from metrics.periods import comparison_periods

    periods = comparison_periods(date(2028, 2, 29), date(2028, 3, 6))
    assert periods == {
        "previous": (date(2028, 2, 22), date(2028, 2, 28)),
        "week_before": (date(2028, 2, 22), date(2028, 2, 28)),
        "year_before": (date(2027, 2, 28), date(2027, 3, 6)),
    }


def test_a_naive_timestamp_is_read_as_utc(shop):
    events, sessions, orders, users = shop
    naive_orders = orders.with_columns(pl.col("created_at").dt.replace_time_zone(None))
    table = daily_kpis(events, sessions, naive_orders, users, start=date(2026, 3, 1), end=date(2026, 3, 2), tz=TZ)
    assert table["gmv"].to_list() == [180.0, 40.0]


def test_refunds_use_amount_when_the_refund_column_is_absent(shop):
    events, sessions, orders, users = shop
    table = daily_kpis(
        events, sessions, orders.drop("refund_amount", "refunded_at"), users,
        start=date(2026, 3, 1), end=date(2026, 3, 3), tz=TZ,
    )
    # only the refunded order refunds, its whole amount, on its created day (03-01 local)
    assert table["refunds"].to_list() == [80.0, 0.0, 0.0]


def test_days_follow_daylight_saving_in_berlin():
    # 2026-03-29: clocks go from 02:00 CET to 03:00 CEST, so that day has 23 hours
    events = pl.DataFrame(
        {
            "user_id": [1, 2, 3, 4],
            "event_time": [utc("2026-03-28 22:59"), utc("2026-03-28 23:00"), utc("2026-03-29 21:59"), utc("2026-03-29 22:00")],
            "event_type": ["purchase"] * 4,
        }
    )
    orders = pl.DataFrame(
        {
            "order_id": [1, 2, 3, 4],
            "user_id": [1, 2, 3, 4],
            "created_at": events["event_time"],
            "amount": [10.0, 20.0, 30.0, 40.0],
            "status": ["paid"] * 4,
        }
    )
    users = pl.DataFrame({"user_id": [1, 2, 3, 4], "signup_at": events["event_time"]})
    derived, sessions = derive_sessions(events)
    table = daily_kpis(derived, sessions, orders, users, start=date(2026, 3, 28), end=date(2026, 3, 30), tz="Europe/Berlin")
    assert table.select("date", "dau", "new_users", "orders", "gmv", "sessions").rows() == [
        (date(2026, 3, 28), 1, 1, 1, 10.0, 1),
        (date(2026, 3, 29), 2, 2, 2, 50.0, 2),
        (date(2026, 3, 30), 1, 1, 1, 40.0, 1),
    ]


def test_a_range_without_data_has_every_day_with_zeros_and_empty_ratios(shop):
    table = daily_kpis(*shop, start=date(2030, 1, 1), end=date(2030, 1, 2), tz=TZ)
    assert table["date"].to_list() == [date(2030, 1, 1), date(2030, 1, 2)]
    assert table.select("dau", "wau", "mau", "orders", "sessions").sum().row(0) == (0, 0, 0, 0, 0)
    assert table.select("gmv", "refunds", "net_revenue").sum().row(0) == (0.0, 0.0, 0.0)
    assert table.select("conversion_rate", "aov", "arppu", "bounce_rate", "session_conversion").null_count().row(0) == (2, 2, 2, 2, 2)


def test_empty_tables_give_an_all_zero_table():
    events = pl.DataFrame(schema={"user_id": pl.Int64, "event_time": UTC_TIME, "event_type": pl.String})
    orders = pl.DataFrame(schema={"order_id": pl.Int64, "user_id": pl.Int64, "created_at": UTC_TIME, "amount": pl.Float64, "status": pl.String})
    users = pl.DataFrame(schema={"user_id": pl.Int64, "signup_at": UTC_TIME})
    derived, sessions = derive_sessions(events)
    table = daily_kpis(derived, sessions, orders, users, start=date(2026, 3, 1), end=date(2026, 3, 3), tz=TZ)
    assert table.height == 3 and table["dau"].to_list() == [0, 0, 0] and table["gmv"].to_list() == [0.0, 0.0, 0.0]
