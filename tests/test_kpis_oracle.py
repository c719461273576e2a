"""The daily KPI table against an independent oracle: hand-written DuckDB SQL, sessions
included, on random shops (hypothesis)."""

from datetime import UTC, date, datetime, timedelta

import duckdb
import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from metrics.kpis import DAILY_COLUMNS, daily_kpis
from metrics.sessions import derive_sessions

TZ = "Asia/Shanghai"
ORIGIN = datetime(2026, 2, 20, tzinfo=UTC)
START, END = date(2026, 3, 1), date(2026, 3, 8)
UTC_TIME = pl.Datetime("us", "UTC")

ORACLE_SQL = """
WITH calendar AS (
    SELECT CAST(d AS DATE) AS day FROM range(DATE '{start}', DATE '{end}' + INTERVAL 1 DAY, INTERVAL 1 DAY) t(d)
),
active AS (
    SELECT DISTINCT user_id, CAST(timezone('{tz}', event_time) AS DATE) AS day FROM events
),
ordered AS (
    SELECT *, CASE WHEN LAG(event_time) OVER w IS NULL
                     OR event_time - LAG(event_time) OVER w > INTERVAL 30 MINUTE THEN 1 ELSE 0 END AS starts
    FROM events WINDOW w AS (PARTITION BY user_id ORDER BY event_time)
),
numbered AS (
    SELECT *, SUM(starts) OVER (PARTITION BY user_id ORDER BY event_time ROWS UNBOUNDED PRECEDING) AS n
    FROM ordered
),
sessions AS (
    SELECT CAST(timezone('{tz}', MIN(event_time)) AS DATE) AS day, COUNT(*) AS events,
           MAX(CASE WHEN event_type = 'purchase' THEN 1 ELSE 0 END) AS bought
    FROM numbered GROUP BY user_id, n
),
valid AS (
    SELECT *, CAST(timezone('{tz}', created_at) AS DATE) AS day FROM orders
    WHERE status IN ('paid', 'shipped', 'completed', 'refunded')
),
refunds AS (
    SELECT CAST(timezone('{tz}', COALESCE(refunded_at, created_at)) AS DATE) AS day,
           SUM(COALESCE(refund_amount, CASE WHEN status = 'refunded' THEN amount ELSE 0 END)) AS refunds
    FROM valid GROUP BY 1
)
SELECT c.day AS date,
  (SELECT COUNT(*) FROM active a WHERE a.day = c.day) AS dau,
  (SELECT COUNT(DISTINCT user_id) FROM active a WHERE a.day BETWEEN c.day - 6 AND c.day) AS wau,
  (SELECT COUNT(DISTINCT user_id) FROM active a WHERE a.day BETWEEN c.day - 29 AND c.day) AS mau,
  (SELECT COUNT(*) FROM users u WHERE CAST(timezone('{tz}', u.signup_at) AS DATE) = c.day) AS new_users,
  (SELECT COUNT(*) FROM valid v WHERE v.day = c.day) AS orders,
  (SELECT COUNT(DISTINCT user_id) FROM valid v WHERE v.day = c.day) AS buyers,
  (SELECT COALESCE(SUM(amount), 0) FROM valid v WHERE v.day = c.day) AS gmv,
  (SELECT COALESCE(SUM(refunds), 0) FROM refunds r WHERE r.day = c.day) AS refunds,
  (SELECT COUNT(*) FROM sessions s WHERE s.day = c.day) AS sessions,
  (SELECT COUNT(*) FROM sessions s WHERE s.day = c.day AND s.events = 1) AS bounced,
  (SELECT COUNT(*) FROM sessions s WHERE s.day = c.day AND s.bought = 1) AS converted
FROM calendar c ORDER BY c.day
"""


def oracle(events: pl.DataFrame, orders: pl.DataFrame, users: pl.DataFrame) -> pl.DataFrame:
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    for name, table in (("events", events), ("orders", orders), ("users", users)):
        connection.register(name, table.to_arrow())
    raw = connection.sql(ORACLE_SQL.format(start=START, end=END, tz=TZ)).pl()

    def share(numerator, denominator):
        return pl.when(pl.col(denominator) > 0).then(pl.col(numerator) / pl.col(denominator))

    return raw.with_columns(
        net_revenue=pl.col("gmv") - pl.col("refunds"),
        conversion_rate=share("buyers", "dau"),
        aov=share("gmv", "orders"),
        arppu=share("gmv", "buyers"),
        bounce_rate=share("bounced", "sessions"),
        session_conversion=share("converted", "sessions"),
    ).select(DAILY_COLUMNS)


minutes = st.integers(min_value=0, max_value=20 * 24 * 60)
event_rows = st.lists(
    st.tuples(st.integers(1, 6), minutes, st.sampled_from(["page_view", "product_view", "add_to_cart", "purchase"])),
    min_size=1,
    max_size=60,
)
order_rows = st.lists(
    st.tuples(
        st.integers(1, 6),
        minutes,
        st.integers(1, 500),
        st.sampled_from(["paid", "shipped", "completed", "refunded", "cancelled", "pending"]),
        st.one_of(st.none(), st.integers(1, 100)),
        st.one_of(st.none(), minutes),
    ),
    max_size=25,
)
signups = st.lists(minutes, min_size=6, max_size=6)


def at(minute: int) -> datetime:
    return ORIGIN + timedelta(minutes=minute)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(event_rows, order_rows, signups)
def test_daily_kpis_equal_the_sql_oracle(event_list, order_list, signup_minutes):
    events = pl.DataFrame(
        {
            "user_id": [row[0] for row in event_list],
            "event_time": [at(row[1]) for row in event_list],
            "event_type": [row[2] for row in event_list],
        },
        schema={"user_id": pl.Int64, "event_time": UTC_TIME, "event_type": pl.String},
    )
    orders = pl.DataFrame(
        {
            "order_id": list(range(len(order_list))),
            "user_id": [row[0] for row in order_list],
            "created_at": [at(row[1]) for row in order_list],
            "amount": [float(row[2]) for row in order_list],
            "status": [row[3] for row in order_list],
            "refund_amount": [None if row[4] is None else float(row[4]) for row in order_list],
            "refunded_at": [None if row[5] is None else at(row[5]) for row in order_list],
        },
        schema={
            "order_id": pl.Int64, "user_id": pl.Int64, "created_at": UTC_TIME, "amount": pl.Float64,
            "status": pl.String, "refund_amount": pl.Float64, "refunded_at": UTC_TIME,
        },
    )
    users = pl.DataFrame(
        {"user_id": list(range(1, 7)), "signup_at": [at(minute) for minute in signup_minutes]},
        schema={"user_id": pl.Int64, "signup_at": UTC_TIME},
    )
    derived, sessions = derive_sessions(events)
    table = daily_kpis(derived, sessions, orders, users, start=START, end=END, tz=TZ)
    assert_frame_equal(table, oracle(events, orders, users), check_dtypes=False, abs_tol=1e-9)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 5), st.integers(0, 45 * 24 * 60)), min_size=1, max_size=50))
def test_dau_wau_mau_equal_a_slow_pure_python_count(activity):
    """For each day D: distinct users with an event on D, in the 7 and in the 30 days ending on D."""
    from zoneinfo import ZoneInfo

    origin = datetime(2026, 1, 10, tzinfo=UTC)
    events = pl.DataFrame(
        {
            "user_id": [user for user, _ in activity],
            "event_time": [origin + timedelta(minutes=minute) for _, minute in activity],
            "event_type": ["page_view"] * len(activity),
        },
        schema={"user_id": pl.Int64, "event_time": UTC_TIME, "event_type": pl.String},
    )
    users = pl.DataFrame({"user_id": [1], "signup_at": [origin]}, schema={"user_id": pl.Int64, "signup_at": UTC_TIME})
    orders = pl.DataFrame(schema={"order_id": pl.Int64, "user_id": pl.Int64, "created_at": UTC_TIME, "amount": pl.Float64, "status": pl.String})
    start, end = date(2026, 2, 1), date(2026, 2, 24)
    derived, sessions = derive_sessions(events)
    table = daily_kpis(derived, sessions, orders, users, start=start, end=end, tz=TZ)
    active_on = {}
    for user, minute in activity:
        day = (origin + timedelta(minutes=minute)).astimezone(ZoneInfo(TZ)).date()
        active_on.setdefault(day, set()).add(user)

    def distinct_in(last: date, days: int) -> int:
        return len(set().union(*(active_on.get(last - timedelta(days=back), set()) for back in range(days))))

    expected = [(distinct_in(day, 1), distinct_in(day, 7), distinct_in(day, 30)) for day in table["date"]]
    assert table.select("dau", "wau", "mau").rows() == expected
