"""Lifecycle states on a hand-made shop whose answers were computed by hand, and against a slow
pure-Python oracle on random shops (hypothesis).

Asia/Shanghai is UTC+8: 16:00 UTC is midnight of the next local day.
"""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import duckdb
import polars as pl
from conftest import events_frame, users_frame, utc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from metrics.lifecycle import lifecycle

SHANGHAI = "Asia/Shanghai"
UTC_TIME = pl.Datetime("us", "UTC")
LIFECYCLE_SCHEMA = {
    "period": pl.Date, "new": pl.Int64, "returning": pl.Int64, "resurrecting": pl.Int64,
    "dormant": pl.Int64, "complete": pl.Boolean,
}


def expected(rows) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=LIFECYCLE_SCHEMA, orient="row")


def test_weekly_lifecycle_has_all_four_states_from_the_first_row():
    # Weeks (Shanghai): W-2 = 02-16, W-1 = 02-23, W0 = 03-02, W1 = 03-09, W2 = 03-16.
    users = users_frame(
        [
            (1, "2026-01-05 02:00"),
            (2, "2026-01-05 02:00"),
            (3, "2026-03-03 02:00"),  # W0
            (4, "2026-03-10 02:00"),  # W1, first active in W2
            (5, "2026-03-16 02:00"),  # W2, browsed in W1 before signing up
            (6, "2026-02-24 02:00"),  # W-1
            (7, "2026-01-05 02:00"),
        ]
    )
    events = events_frame(
        [
            (1, "2026-02-24 02:00"), (1, "2026-03-01 16:10"), (1, "2026-03-10 02:00"),  # 03-02 00:10 local: W0
            (2, "2026-02-25 02:00"), (2, "2026-03-11 02:00"), (2, "2026-03-17 02:00"),
            (3, "2026-03-03 02:00"), (3, "2026-03-18 02:00"),  # the latest event
            (4, "2026-03-17 02:00"),
            (5, "2026-03-12 02:00"), (5, "2026-03-16 02:00"),
            (6, "2026-02-24 02:00"),
            (7, "2026-02-17 02:00"), (7, "2026-03-05 02:00"),
        ]
    )
    # The range starts and ends on Wednesdays: the intervals are the whole weeks around them.
    table = lifecycle(events, users, start=date(2026, 3, 4), end=date(2026, 3, 18), tz=SHANGHAI, period="week")
    assert_frame_equal(
        table,
        expected(
            [
                # new 3; returning 1 (active in W-1); resurrecting 7; dormant 2 and 6
                (date(2026, 3, 2), 1, 1, 1, 2, True),
                # returning 1; resurrecting 2 and 5 (not new: signs up in W2); dormant 3 and 7
                (date(2026, 3, 9), 0, 1, 2, 2, True),
                # new 5 (though active in W1); returning 2; resurrecting 3 and 4; dormant 1
                (date(2026, 3, 16), 1, 1, 2, 1, False),
            ]
        ),
    )


def test_daily_lifecycle_across_the_end_of_summer_time_in_berlin():
    # Berlin leaves UTC+2 for UTC+1 at 01:00 UTC on Sunday 2026-10-25.
    users = users_frame([(1, "2026-10-24 22:30"), (2, "2026-09-01 10:00")])
    events = events_frame(
        [
            (1, "2026-10-24 22:30"),  # Sunday 10-25 00:30 CEST (Saturday 23:30 in winter time)
            (1, "2026-10-25 23:30"),  # Monday 10-26 00:30 CET
            (2, "2026-10-23 21:59"),  # Friday 23:59 CEST
            (2, "2026-10-25 22:59"),  # Sunday 23:59 CET
        ]
    )
    table = lifecycle(events, users, start=date(2026, 10, 24), end=date(2026, 10, 26), tz="Europe/Berlin",
                      data_end=utc("2026-10-26 23:00"))  # Tuesday 00:00 CET: Monday has ended
    assert_frame_equal(
        table,
        expected(
            [
                (date(2026, 10, 24), 0, 0, 0, 1, True),  # 2 was active on Friday
                (date(2026, 10, 25), 1, 0, 1, 0, True),  # 1 signs up; 2 comes back
                (date(2026, 10, 26), 0, 1, 0, 1, True),  # 1 returns; 2 goes dormant
            ]
        ),
    )


def test_monthly_intervals_after_the_data_are_present_and_incomplete():
    events = events_frame([(1, "2026-01-10 02:00"), (1, "2026-02-10 02:00")])
    users = users_frame([(1, "2026-01-10 02:00")])
    table = lifecycle(events, users, start=date(2026, 1, 15), end=date(2026, 3, 15), tz=SHANGHAI, period="month")
    assert_frame_equal(
        table,
        expected(
            [
                (date(2026, 1, 1), 1, 0, 0, 0, True),
                (date(2026, 2, 1), 0, 1, 0, 0, False),  # holds the latest event
                (date(2026, 3, 1), 0, 0, 0, 1, False),
            ]
        ),
    )


# ---- against a slow oracle -------------------------------------------------------------------

ORIGIN = datetime(2026, 2, 20, tzinfo=UTC)
ZONES = ("Asia/Shanghai", "Europe/Berlin", "America/New_York", "UTC", "Asia/Kolkata")
SPAN_MINUTES = 100 * 24 * 60


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


def previous_period(first_day: date, period: str) -> date:
    return period_containing(first_day - timedelta(days=1), period)


def slow_lifecycle(events, users, *, start, end, tz, period, data_end):
    if data_end is None:
        data_end = max((time for _, time in events), default=None)
    zone = ZoneInfo(tz)

    def local_period(instant: datetime) -> date:
        return period_containing(instant.astimezone(zone).date(), period)

    active = {(user, local_period(time)) for user, time in events if data_end is None or time <= data_end}
    signup_period = {user: local_period(time) for user, time in users.items()}
    last = None if data_end is None else local_period(data_end)
    rows = []
    current = period_containing(start, period)
    while current <= end:
        before = previous_period(current, period)
        now = {user for user, p in active if p == current}
        earlier = {user for user, p in active if p == before}
        new = {user for user in now if signup_period.get(user) == current}
        rows.append(
            (current, len(new), len((now & earlier) - new), len(now - earlier - new), len(earlier - now),
             last is not None and last > current)
        )
        current = next_period(current, period)
    return expected(rows)


# Half-hour steps land on local midnights (Kolkata is UTC+5:30) often enough to test them.
minutes = st.integers(0, SPAN_MINUTES) | st.integers(0, SPAN_MINUTES // 30).map(lambda steps: steps * 30)
instants = minutes.map(lambda offset: ORIGIN + timedelta(minutes=offset))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    events=st.lists(st.tuples(st.integers(1, 6), instants), max_size=40),
    users=st.dictionaries(st.integers(1, 6), instants),
    days=st.tuples(st.integers(0, 80), st.integers(0, 40)),
    data_end=st.none() | instants,
    tz=st.sampled_from(ZONES),
    period=st.sampled_from(["day", "week", "month"]),
)
def test_lifecycle_matches_a_slow_oracle(events, users, days, data_end, tz, period):
    start = ORIGIN.date() + timedelta(days=days[0])
    end = start + timedelta(days=days[1])
    events_table = pl.DataFrame(
        {"user_id": [e[0] for e in events], "event_time": [e[1] for e in events]},
        schema={"user_id": pl.Int64, "event_time": UTC_TIME},
    )
    users_table = pl.DataFrame(
        {"user_id": list(users), "signup_at": list(users.values())}, schema={"user_id": pl.Int64, "signup_at": UTC_TIME}
    )
    options = dict(start=start, end=end, tz=tz, period=period, data_end=data_end)
    assert_frame_equal(lifecycle(events_table, users_table, **options), slow_lifecycle(events, users, **options))


WEEKLY_LIFECYCLE_SQL = """
WITH active AS (
    SELECT DISTINCT user_id, CAST(date_trunc('week', CAST(timezone('{tz}', event_time) AS DATE)) AS DATE) AS week
    FROM events
),
signups AS (
    SELECT user_id, CAST(date_trunc('week', CAST(timezone('{tz}', signup_at) AS DATE)) AS DATE) AS week FROM users
),
states AS (
    SELECT a.week,
           CASE WHEN s.week = a.week THEN 'new'
                WHEN p.user_id IS NOT NULL THEN 'returning'
                ELSE 'resurrecting' END AS state
    FROM active a
    LEFT JOIN signups s ON s.user_id = a.user_id
    LEFT JOIN active p ON p.user_id = a.user_id AND p.week = a.week - 7
    UNION ALL
    SELECT p.week + 7, 'dormant'
    FROM active p LEFT JOIN active n ON n.user_id = p.user_id AND n.week = p.week + 7
    WHERE n.user_id IS NULL
)
SELECT week AS period,
       COUNT(*) FILTER (state = 'new') AS new,
       COUNT(*) FILTER (state = 'returning') AS returning,
       COUNT(*) FILTER (state = 'resurrecting') AS resurrecting,
       COUNT(*) FILTER (state = 'dormant') AS dormant
FROM states GROUP BY week
"""


def test_sample_shop_weekly_lifecycle_equals_hand_written_sql(small_shop):
    first_day, last_day = small_shop.date_span(SHANGHAI)
    start = first_day + timedelta(days=28)  # a first interval with activity before it
    table = lifecycle(small_shop.events, small_shop.users, start=start, end=last_day, tz=SHANGHAI, period="week")
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    connection.register("events", small_shop.events.select("user_id", "event_time").to_arrow())
    connection.register("users", small_shop.users.select("user_id", "signup_at").to_arrow())
    oracle = connection.sql(WEEKLY_LIFECYCLE_SQL.format(tz=SHANGHAI)).pl()
    assert table.height >= 48 and table["returning"][0] > 0 and table["dormant"][0] > 0
    assert_frame_equal(
        table.drop("complete"),
        table.select("period").join(oracle, on="period", how="left").fill_null(0),
    )
