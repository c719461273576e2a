"""Cohort retention, LTV curves and channel payback on hand-made shops whose answers were
computed by hand, and against slow pure-Python oracles on random shops (hypothesis).

Asia/Shanghai is UTC+8: 16:00 UTC is midnight of the next local day. Europe/Berlin moves from
UTC+1 to UTC+2 at 01:00 UTC on Sunday 2026-03-29.
"""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import duckdb
import polars as pl
import pytest
from conftest import events_frame, users_frame, utc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from metrics.cohorts import channel_payback, ltv_curves, retention
from metrics.orders import VALID_ORDER_STATUSES

SHANGHAI = "Asia/Shanghai"
UTC_TIME = pl.Datetime("us", "UTC")
RETENTION_SCHEMA = {
    "cohort": pl.Date, "offset": pl.Int64, "cohort_size": pl.Int64, "retained": pl.Int64,
    "rate": pl.Float64, "complete": pl.Boolean,
}
LTV_SCHEMA = {
    "cohort": pl.Date, "offset": pl.Int64, "cohort_size": pl.Int64, "revenue": pl.Float64,
    "revenue_per_user": pl.Float64, "ltv": pl.Float64, "complete": pl.Boolean,
}


def orders_frame(rows) -> pl.DataFrame:
    """Rows: (order_id, user_id, created_at, amount, status[, channel])."""
    return pl.DataFrame(
        {
            "order_id": [row[0] for row in rows],
            "user_id": [row[1] for row in rows],
            "created_at": [utc(row[2]) for row in rows],
            "amount": [float(row[3]) for row in rows],
            "status": [row[4] for row in rows],
            "channel": [row[5] if len(row) > 5 else None for row in rows],
        },
        schema={"order_id": pl.Int64, "user_id": pl.Int64, "created_at": UTC_TIME, "amount": pl.Float64,
                "status": pl.String, "channel": pl.String},
    )


def expected(rows, schema) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=schema, orient="row")


NO_ORDERS = orders_frame([])
NO_USERS = users_frame([])

# Weeks (Monday start, Shanghai): W0 = 03-02..03-08, W1 = 03-09..03-15, W2 = 03-16..03-22.
WEEKLY_EVENTS = events_frame(
    [
        (1, "2026-03-03 02:00"), (1, "2026-03-10 02:00"), (1, "2026-03-17 02:00"),
        (2, "2026-03-04 02:00"), (2, "2026-03-18 02:00"),  # skips W1; the latest event
        (3, "2026-03-11 02:00"), (3, "2026-03-15 16:00"),  # Monday 03-16 00:00 local: W2
        (4, "2026-03-08 15:30"),  # Sunday 03-08 23:30 local: W0
        (4, "2026-03-08 16:10"),  # Monday 03-09 00:10 local, though still Sunday in UTC: W1
        (5, "2026-03-01 16:10"),  # Monday 03-02 00:10 local (Sunday 03-01 in UTC): W0
        (6, "2026-02-25 02:00"), (6, "2026-03-03 02:00"),  # first event before the range: no cohort
    ]
)


def test_weekly_activity_retention_on_the_local_week_boundary():
    table = retention(WEEKLY_EVENTS, NO_ORDERS, NO_USERS, start=date(2026, 3, 2), end=date(2026, 3, 15), tz=SHANGHAI)
    assert_frame_equal(
        table,
        expected(
            [
                (date(2026, 3, 2), 0, 4, 4, 1.0, True),
                (date(2026, 3, 2), 1, 4, 2, 0.5, True),  # users 1 and 4
                (date(2026, 3, 2), 2, 4, 2, 0.5, False),  # users 1 and 2; W2 holds the data's end
                (date(2026, 3, 9), 0, 1, 1, 1.0, True),
                (date(2026, 3, 9), 1, 1, 1, 1.0, False),
            ],
            RETENTION_SCHEMA,
        ),
    )


def test_on_or_after_counts_users_active_in_any_later_week():
    table = retention(WEEKLY_EVENTS, NO_ORDERS, NO_USERS, start=date(2026, 3, 2), end=date(2026, 3, 15),
                      tz=SHANGHAI, mode="on_or_after")
    assert table["retained"].to_list() == [4, 3, 2, 1, 1]  # user 2 skips W1 but comes back in W2
    assert table["rate"].to_list() == [1.0, 0.75, 0.5, 1.0, 1.0]


def test_cohorts_are_the_periods_starting_inside_the_range():
    table = retention(WEEKLY_EVENTS, NO_ORDERS, NO_USERS, start=date(2026, 3, 3), end=date(2026, 3, 9), tz=SHANGHAI)
    assert table.select("cohort", "offset", "cohort_size").rows() == [(date(2026, 3, 9), 0, 1), (date(2026, 3, 9), 1, 1)]


# Months (Shanghai): user 2 signs up on 01-31 23:30 local but is first seen on 02-01 00:20
# local; user 3's cancelled February order is not a first order, its next one is on 03-01
# 00:30 local (still February in UTC); user 4 has only a pending order.
MONTHLY_USERS = users_frame(
    [(1, "2026-01-10 02:00"), (2, "2026-01-31 15:30"), (3, "2026-02-10 02:00"), (4, "2026-02-20 02:00")]
)
MONTHLY_EVENTS = events_frame(
    [
        (1, "2026-01-12 02:00"), (1, "2026-03-03 02:00"),
        (2, "2026-01-31 16:20"), (2, "2026-03-02 02:00"),
        (3, "2026-02-11 02:00"),
        (4, "2026-02-21 02:00"), (4, "2026-03-10 02:00"),
    ]
)
MONTHLY_ORDERS = orders_frame(
    [
        (1, 1, "2026-01-15 02:00", 100, "completed"),
        (2, 1, "2026-02-03 02:00", 50, "cancelled"),
        (3, 1, "2026-03-05 02:00", 30, "paid"),
        (4, 2, "2026-02-02 02:00", 80, "refunded"),
        (5, 3, "2026-02-12 02:00", 40, "cancelled"),
        (6, 3, "2026-02-28 16:30", 60, "completed"),
        (7, 4, "2026-03-12 02:00", 25, "pending"),
    ]
)
MONTHLY = dict(start=date(2026, 1, 1), end=date(2026, 3, 31), tz=SHANGHAI, period="month",
               data_end=utc("2026-03-20 00:00"))


def monthly_retention(**options) -> pl.DataFrame:
    return retention(MONTHLY_EVENTS, MONTHLY_ORDERS, MONTHLY_USERS, **MONTHLY, **options)


def test_monthly_activity_cohorts_by_the_local_month_of_the_first_event():
    assert_frame_equal(
        monthly_retention(),
        expected(
            [
                (date(2026, 1, 1), 0, 1, 1, 1.0, True),
                (date(2026, 1, 1), 1, 1, 0, 0.0, True),
                (date(2026, 1, 1), 2, 1, 1, 1.0, False),
                (date(2026, 2, 1), 0, 3, 3, 1.0, True),
                (date(2026, 2, 1), 1, 3, 2, 2 / 3, False),
                (date(2026, 3, 1), 0, 0, 0, None, False),  # nobody was first seen in March
            ],
            RETENTION_SCHEMA,
        ),
    )


def test_signup_cohorts_measured_by_purchase_ignore_cancelled_and_pending_orders():
    assert_frame_equal(
        monthly_retention(cohort_by="signup", measure="purchase"),
        expected(
            [
                (date(2026, 1, 1), 0, 2, 1, 0.5, True),  # user 1
                (date(2026, 1, 1), 1, 2, 1, 0.5, True),  # user 2's refunded order; user 1's is cancelled
                (date(2026, 1, 1), 2, 2, 1, 0.5, False),
                (date(2026, 2, 1), 0, 2, 0, 0.0, True),  # user 3's February order is cancelled
                (date(2026, 2, 1), 1, 2, 1, 0.5, False),  # user 3 on 03-01 local; user 4 pending
                (date(2026, 3, 1), 0, 0, 0, None, False),
            ],
            RETENTION_SCHEMA,
        ),
    )


def test_signup_cohorts_on_or_after_purchase():
    table = monthly_retention(cohort_by="signup", measure="purchase", mode="on_or_after")
    assert table["retained"].to_list() == [2, 2, 1, 1, 1, 0]


def test_first_order_cohorts_start_at_the_first_valid_order():
    assert_frame_equal(
        monthly_retention(cohort_by="first_order", measure="purchase"),
        expected(
            [
                (date(2026, 1, 1), 0, 1, 1, 1.0, True),
                (date(2026, 1, 1), 1, 1, 0, 0.0, True),
                (date(2026, 1, 1), 2, 1, 1, 1.0, False),
                (date(2026, 2, 1), 0, 1, 1, 1.0, True),
                (date(2026, 2, 1), 1, 1, 0, 0.0, False),
                (date(2026, 3, 1), 0, 1, 1, 1.0, False),  # user 3
            ],
            RETENTION_SCHEMA,
        ),
    )


def test_data_end_defaults_to_the_latest_event_or_order():
    options = {key: value for key, value in MONTHLY.items() if key != "data_end"}
    table = retention(MONTHLY_EVENTS, MONTHLY_ORDERS, MONTHLY_USERS, **options)
    assert_frame_equal(table, monthly_retention())


def test_berlin_weeks_follow_summer_time():
    events = events_frame(
        [
            (1, "2026-03-29 21:30"),  # Sunday 23:30 CEST: week of 03-23
            (1, "2026-03-29 22:30"),  # Monday 00:30 CEST (23:30 in winter time): week of 03-30
            (2, "2026-03-22 23:30"),  # Monday 03-23 00:30 CET, Sunday in UTC
            (2, "2026-04-05 21:59"),  # Sunday 23:59 CEST
            (3, "2026-03-29 22:30"),
        ]
    )
    # Monday 04-06 00:00 CEST: the week of 03-30 has just ended, that of 04-06 just begun.
    table = retention(events, NO_ORDERS, NO_USERS, start=date(2026, 3, 23), end=date(2026, 4, 5),
                      tz="Europe/Berlin", data_end=utc("2026-04-05 22:00"))
    assert_frame_equal(
        table,
        expected(
            [
                (date(2026, 3, 23), 0, 2, 2, 1.0, True),
                (date(2026, 3, 23), 1, 2, 2, 1.0, True),
                (date(2026, 3, 23), 2, 2, 0, 0.0, False),
                (date(2026, 3, 30), 0, 1, 1, 1.0, True),
                (date(2026, 3, 30), 1, 1, 0, 0.0, False),
            ],
            RETENTION_SCHEMA,
        ),
    )


def test_unknown_options_are_refused():
    with pytest.raises(ValueError, match="mode"):
        retention(WEEKLY_EVENTS, NO_ORDERS, NO_USERS, start=date(2026, 3, 2), end=date(2026, 3, 15), tz=SHANGHAI,
                  mode="after")


def test_ltv_curve_of_signup_cohorts_counts_valid_orders_in_gmv():
    table = ltv_curves(MONTHLY_ORDERS, MONTHLY_USERS, MONTHLY_EVENTS, **MONTHLY, cohort_by="signup")
    assert_frame_equal(
        table,
        expected(
            [
                (date(2026, 1, 1), 0, 2, 100.0, 50.0, 50.0, True),
                (date(2026, 1, 1), 1, 2, 80.0, 40.0, 90.0, True),  # refunded counts in GMV; cancelled not
                (date(2026, 1, 1), 2, 2, 30.0, 15.0, 105.0, False),
                (date(2026, 2, 1), 0, 2, 0.0, 0.0, 0.0, True),
                (date(2026, 2, 1), 1, 2, 60.0, 30.0, 30.0, False),
                (date(2026, 3, 1), 0, 0, 0.0, None, None, False),
            ],
            LTV_SCHEMA,
        ),
    )


def test_ltv_curve_of_first_order_cohorts():
    table = ltv_curves(MONTHLY_ORDERS, MONTHLY_USERS, MONTHLY_EVENTS, **MONTHLY)
    assert table.select("cohort", "offset", "ltv").rows() == [
        (date(2026, 1, 1), 0, 100.0), (date(2026, 1, 1), 1, 100.0), (date(2026, 1, 1), 2, 130.0),
        (date(2026, 2, 1), 0, 80.0), (date(2026, 2, 1), 1, 80.0),
        (date(2026, 3, 1), 0, 60.0),
    ]


PAYBACK_USERS = pl.DataFrame(
    {
        "user_id": [10, 11, 12, 13, 20, 21, 30],
        "signup_at": [utc("2025-12-01 02:00")] * 7,
        "channel": ["social", "social", "social", "social", "paid_search", "paid_search", "organic"],
    },
    schema={"user_id": pl.Int64, "signup_at": UTC_TIME, "channel": pl.String},
)
PAYBACK_ORDERS = orders_frame(
    [
        (1, 10, "2025-12-20 02:00", 70, "completed", "social"),  # a December buyer: not acquired
        (2, 10, "2026-01-08 02:00", 40, "completed", "social"),
        (3, 11, "2026-01-05 02:00", 100, "completed", "social"),
        (4, 11, "2026-02-10 02:00", 50, "completed", "social"),
        (5, 11, "2026-03-03 02:00", 200, "completed", "social"),
        (6, 12, "2026-01-20 02:00", 60, "completed", "social"),
        (7, 12, "2026-03-20 02:00", 40, "paid", "email"),  # the buyer's revenue, whatever the channel
        (8, 13, "2026-01-25 02:00", 35, "cancelled", "social"),
        (9, 13, "2026-02-02 02:00", 90, "completed", "social"),  # first valid order: February
        (10, 20, "2026-01-15 02:00", 20, "completed", "paid_search"),
        (11, 20, "2026-04-01 02:00", 500, "completed", "paid_search"),  # April has not ended
        (12, 21, "2026-02-28 16:30", 45, "completed", "paid_search"),  # 03-01 local: after the range
        (13, 30, "2026-01-10 02:00", 30, "completed"),  # no channel of its own: the user's
    ]
)
PAYBACK_SPEND = pl.DataFrame(
    {
        "date": [date(2026, 1, 3), date(2026, 1, 20), date(2026, 2, 14), date(2026, 1, 10), date(2026, 2, 5),
                 date(2026, 3, 1), date(2025, 12, 31)],
        "channel": ["social", "social", "social", "paid_search", "affiliate", "social", "paid_search"],
        "spend": [120.0, 80.0, 100.0, 100.0, 50.0, 999.0, 500.0],
    }
)
PAYBACK = dict(start=date(2026, 1, 1), end=date(2026, 2, 28), tz=SHANGHAI, data_end=utc("2026-04-15 00:00"))


def test_channel_payback_compares_margin_on_revenue_per_buyer_with_cac():
    payback = channel_payback(PAYBACK_ORDERS, PAYBACK_USERS, PAYBACK_SPEND, **PAYBACK, margin=0.5)
    assert_frame_equal(
        payback.channels,
        pl.DataFrame(
            {
                "channel": ["affiliate", "organic", "paid_search", "social"],
                "spend": [50.0, 0.0, 100.0, 300.0],
                "first_time_buyers": [0, 1, 1, 3],
                "cac": [None, 0.0, 100.0, 100.0],
                # social: 0.5 x (250/3, 250/3 + 50/3, 100 + 240/2) reaches 100 at offset 2
                "payback_offset": [None, 0, None, 2],
            },
            schema_overrides={"first_time_buyers": pl.Int64, "payback_offset": pl.Int64},
        ),
    )
    assert_frame_equal(
        payback.curves,
        pl.DataFrame(
            {
                "channel": ["organic"] * 3 + ["paid_search"] * 3 + ["social"] * 3,
                "offset": [0, 1, 2] * 3,
                # user 13 (acquired in February) is not observed at offset 2, April
                "observed_buyers": [1, 1, 1, 1, 1, 1, 3, 3, 2],
                "revenue_per_buyer": [30.0, 0.0, 0.0, 20.0, 0.0, 0.0, 250 / 3, 50 / 3, 120.0],
                "cumulative_revenue_per_buyer": [30.0, 30.0, 30.0, 20.0, 20.0, 20.0, 250 / 3, 100.0, 220.0],
            },
            schema_overrides={"observed_buyers": pl.Int64},
        ),
    )


def test_channel_payback_at_the_default_margin():
    payback = channel_payback(PAYBACK_ORDERS, PAYBACK_USERS, PAYBACK_SPEND, **PAYBACK)
    assert payback.channels["payback_offset"].to_list() == [None, 0, None, None]  # social: 0.3 x 220 < 100


# ---- against slow oracles -------------------------------------------------------------------

ORIGIN = datetime(2026, 2, 20, tzinfo=UTC)
ZONES = ("Asia/Shanghai", "Europe/Berlin", "America/New_York", "UTC", "Asia/Kolkata")
SPAN_MINUTES = 100 * 24 * 60


def local_period(instant: datetime, tz: str, period: str) -> date:
    day = instant.astimezone(ZoneInfo(tz)).date()
    return period_containing(day, period)


def period_containing(day: date, period: str) -> date:
    if period == "day":
        return day
    if period == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def next_period(first_day: date, period: str) -> date:
    if period == "day":
        return first_day + timedelta(days=1)
    if period == "week":
        return first_day + timedelta(days=7)
    return (first_day.replace(day=28) + timedelta(days=4)).replace(day=1)


def slow_cohort_cells(shop, *, start, end, tz, period, cohort_by, data_end):
    """Yield (cohort first day, offset, period first day, members, orders and events up to the
    data's end, is the period over) for every cell, by walking the calendar."""
    events, orders, users = shop
    if data_end is None:
        data_end = max([time for _, time in events] + [order[1] for order in orders], default=None)
    if data_end is None:
        return
    events = [(user, time) for user, time in events if time <= data_end]
    orders = [order for order in orders if order[1] <= data_end]
    valid = [order for order in orders if order[3] in VALID_ORDER_STATUSES]
    if cohort_by == "signup":
        firsts = dict(users)
    else:
        firsts = {}
        for user, time in events if cohort_by == "activity" else [(order[0], order[1]) for order in valid]:
            firsts[user] = min(time, firsts.get(user, time))
    cohort_of = {user: local_period(time, tz, period) for user, time in firsts.items()}
    last = local_period(data_end, tz, period)
    cohort = period_containing(start, period)
    if cohort < start:
        cohort = next_period(cohort, period)
    while cohort <= min(end, last):
        members = {user for user, first in cohort_of.items() if first == cohort}
        current, offset = cohort, 0
        while current <= last:
            yield cohort, offset, current, members, events, valid, last > current
            current, offset = next_period(current, period), offset + 1
        cohort = next_period(cohort, period)


def slow_retention(shop, *, start, end, tz, period, cohort_by, measure, mode, data_end):
    rows = []
    for cohort, offset, current, members, events, valid, complete in slow_cohort_cells(
        shop, start=start, end=end, tz=tz, period=period, cohort_by=cohort_by, data_end=data_end
    ):
        times = events if measure == "activity" else [(order[0], order[1]) for order in valid]
        active = {(user, local_period(time, tz, period)) for user, time in times}
        retained = sum(
            1 for user in members
            if any(u == user and (p == current if mode == "on" else p >= current) for u, p in active)
        )
        rate = retained / len(members) if members else None
        rows.append((cohort, offset, len(members), retained, rate, complete))
    return expected(rows, RETENTION_SCHEMA)


def slow_ltv(shop, *, start, end, tz, period, cohort_by, data_end):
    rows, cumulative = [], 0.0
    for cohort, offset, current, members, _, valid, complete in slow_cohort_cells(
        shop, start=start, end=end, tz=tz, period=period, cohort_by=cohort_by, data_end=data_end
    ):
        revenue = sum(order[2] for order in valid
                      if order[0] in members and local_period(order[1], tz, period) == current)
        cumulative = revenue if offset == 0 else cumulative + revenue
        size = len(members)
        rows.append((cohort, offset, size, float(revenue), revenue / size if size else None,
                     cumulative / size if size else None, complete))
    return expected(rows, LTV_SCHEMA)


def random_instant(minutes: int) -> datetime:
    return ORIGIN + timedelta(minutes=minutes)


# Half-hour steps land on local midnights (Kolkata is UTC+5:30) often enough to test them.
minutes = st.integers(0, SPAN_MINUTES) | st.integers(0, SPAN_MINUTES // 30).map(lambda steps: steps * 30)
random_shops = st.tuples(
    st.lists(st.tuples(st.integers(1, 6), minutes.map(random_instant)), max_size=40),
    st.lists(
        st.tuples(st.integers(1, 6), minutes.map(random_instant), st.integers(1, 100),
                  st.sampled_from(["paid", "completed", "refunded", "cancelled", "pending"])),
        max_size=15,
    ),
    st.dictionaries(st.integers(1, 6), st.integers(-20 * 24 * 60, SPAN_MINUTES).map(random_instant)),
)
ranges = st.tuples(st.integers(0, 60), st.integers(0, 60)).map(
    lambda days: (ORIGIN.date() + timedelta(days=days[0]), ORIGIN.date() + timedelta(days=sum(days)))
)
data_ends = st.none() | minutes.map(random_instant)


def frames(shop):
    events, orders, users = shop
    return (
        pl.DataFrame({"user_id": [e[0] for e in events], "event_time": [e[1] for e in events]},
                     schema={"user_id": pl.Int64, "event_time": UTC_TIME}),
        pl.DataFrame(
            {"order_id": list(range(len(orders))), "user_id": [o[0] for o in orders],
             "created_at": [o[1] for o in orders], "amount": [float(o[2]) for o in orders],
             "status": [o[3] for o in orders]},
            schema={"order_id": pl.Int64, "user_id": pl.Int64, "created_at": UTC_TIME, "amount": pl.Float64,
                    "status": pl.String},
        ),
        pl.DataFrame({"user_id": list(users), "signup_at": list(users.values())},
                     schema={"user_id": pl.Int64, "signup_at": UTC_TIME}),
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    shop=random_shops, days=ranges, data_end=data_ends, tz=st.sampled_from(ZONES),
    period=st.sampled_from(["week", "month"]), cohort_by=st.sampled_from(["activity", "signup", "first_order"]),
    measure=st.sampled_from(["activity", "purchase"]), mode=st.sampled_from(["on", "on_or_after"]),
)
def test_retention_matches_a_slow_oracle(shop, days, data_end, tz, period, cohort_by, measure, mode):
    start, end = days
    options = dict(start=start, end=end, tz=tz, period=period, cohort_by=cohort_by, data_end=data_end)
    events, orders, users = frames(shop)
    table = retention(events, orders, users, measure=measure, mode=mode, **options)
    assert_frame_equal(table, slow_retention(shop, measure=measure, mode=mode, **options))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    shop=random_shops, days=ranges, data_end=data_ends, tz=st.sampled_from(ZONES),
    period=st.sampled_from(["week", "month"]), cohort_by=st.sampled_from(["activity", "signup", "first_order"]),
)
def test_ltv_curves_match_a_slow_oracle(shop, days, data_end, tz, period, cohort_by):
    start, end = days
    options = dict(start=start, end=end, tz=tz, period=period, cohort_by=cohort_by, data_end=data_end)
    events, orders, users = frames(shop)
    assert_frame_equal(ltv_curves(orders, users, events, **options), slow_ltv(shop, **options))


WEEKLY_RETENTION_SQL = """
WITH active AS (
    SELECT DISTINCT user_id, CAST(date_trunc('week', CAST(timezone('{tz}', event_time) AS DATE)) AS DATE) AS week
    FROM events
),
cohorts AS (SELECT user_id, MIN(week) AS cohort FROM active GROUP BY user_id)
SELECT c.cohort, datediff('day', c.cohort, a.week) // 7 AS "offset", COUNT(*) AS retained
FROM cohorts c JOIN active a USING (user_id)
GROUP BY ALL
"""


def test_sample_shop_weekly_retention_equals_hand_written_sql(small_shop):
    first_day, last_day = small_shop.date_span(SHANGHAI)
    table = retention(small_shop.events, small_shop.orders, small_shop.users, start=first_day, end=last_day,
                      tz=SHANGHAI)
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    connection.register("events", small_shop.events.select("user_id", "event_time").to_arrow())
    oracle = connection.sql(WEEKLY_RETENTION_SQL.format(tz=SHANGHAI)).pl()
    assert table.height > 1000
    assert_frame_equal(
        table.filter(pl.col("retained") > 0).select("cohort", "offset", "retained"),
        oracle.join(table.select("cohort").unique(), on="cohort").sort("cohort", "offset"),
    )
    assert_frame_equal(
        table.filter(pl.col("offset") == 0).select("cohort", retained="cohort_size"),
        oracle.filter(pl.col("offset") == 0).join(table.select("cohort").unique(), on="cohort")
        .select("cohort", "retained").sort("cohort"),
    )
