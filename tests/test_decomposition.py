"""Visitors, UV value and the GMV decomposition (SPEC section 3): hand-computed tables, a DuckDB
oracle on the sample shop, and the parts adding up to the change on random shops."""

import math
from datetime import UTC, date, datetime, timedelta

import duckdb
import polars as pl
from conftest import UTC_TIME, utc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from metrics.decomposition import (
    DECOMPOSITION_COLUMNS,
    FACTOR_COLUMNS,
    category_gmv_factors,
    decompose_gmv,
    gmv_factors,
)

TZ = "UTC"
COMPARISON = (date(2026, 3, 1), date(2026, 3, 7))
CURRENT = (date(2026, 3, 8), date(2026, 3, 14))
SESSION_SCHEMA = {"session_id": pl.Int64, "user_id": pl.Int64, "started_at": UTC_TIME, "channel": pl.String}
ORDER_SCHEMA = {
    "order_id": pl.Int64, "user_id": pl.Int64, "created_at": UTC_TIME, "amount": pl.Float64,
    "status": pl.String, "channel": pl.String,
}


def sessions_frame(rows) -> pl.DataFrame:
    """Sessions from (user_id, 'YYYY-MM-DD HH:MM', channel) rows, numbered from 1."""
    return pl.DataFrame(
        [(number, user, utc(at), channel) for number, (user, at, channel) in enumerate(rows, start=1)],
        schema=SESSION_SCHEMA, orient="row",
    )


def orders_frame(rows) -> pl.DataFrame:
    """Orders from (user_id, 'YYYY-MM-DD HH:MM', amount, status, channel) rows, numbered from 1."""
    return pl.DataFrame(
        [(number, user, utc(at), amount, status, channel) for number, (user, at, amount, status, channel) in enumerate(rows, start=1)],
        schema=ORDER_SCHEMA, orient="row",
    )


# Comparison week: 4 visitors, 2 buyers, 2 orders, GMV 100. Current week: 8 visitors, 2 buyers,
# 4 orders, GMV 200. So visitors x2, conversion x1/2, orders per buyer x2, AOV x1, and every
# factor's part is L(200, 100) x ln(ratio) = (100 / ln 2) x (+-ln 2 or 0) = +100, -100, +100, 0.
SESSIONS = sessions_frame([
    (1, "2026-02-28 23:00", "email"),  # before the comparison week
    (1, "2026-03-02 10:00", "email"), (2, "2026-03-03 10:00", "email"),
    (3, "2026-03-04 10:00", "social"), (4, "2026-03-05 10:00", "social"),
    (1, "2026-03-08 10:00", "email"), (1, "2026-03-09 10:00", "email"), (2, "2026-03-09 11:00", "email"),
    (5, "2026-03-10 10:00", "email"), (6, "2026-03-11 10:00", "email"),
    (3, "2026-03-08 12:00", "social"), (4, "2026-03-09 12:00", "social"),
    (7, "2026-03-10 12:00", "social"), (8, "2026-03-14 23:59", "social"),
    (9, "2026-03-15 00:00", "email"),  # after the current week
])
ORDERS = orders_frame([
    (2, "2026-03-03 10:10", 60.0, "completed", "email"),
    (4, "2026-03-05 10:10", 40.0, "refunded", "social"),
    (1, "2026-03-08 10:10", 60.0, "paid", "email"),
    (1, "2026-03-09 10:10", 60.0, "shipped", "email"),
    (1, "2026-03-09 10:20", 999.0, "cancelled", "email"),
    (3, "2026-03-08 12:10", 40.0, "completed", "social"),
    (3, "2026-03-12 12:10", 40.0, "completed", "social"),
    (7, "2026-03-13 09:00", 5.0, "pending", "social"),
])


def factors(rows, by_channel: bool = False) -> pl.DataFrame:
    keys = ["channel"] if by_channel else []
    names = [*keys, "visitors", "buyers", "orders", "gmv", "visitor_conversion", "orders_per_buyer", "aov", "uv_value"]
    schema = {"channel": pl.String} if by_channel else {}
    schema |= {"visitors": pl.Int64, "buyers": pl.Int64, "orders": pl.Int64}
    schema |= {name: pl.Float64 for name in names if name not in schema}
    return pl.DataFrame(rows, schema=schema, orient="row").select(*keys, *FACTOR_COLUMNS)


def test_gmv_factors_of_a_week_by_hand():
    current = gmv_factors(SESSIONS, ORDERS, start=CURRENT[0], end=CURRENT[1], tz=TZ)
    comparison = gmv_factors(SESSIONS, ORDERS, start=COMPARISON[0], end=COMPARISON[1], tz=TZ)
    # visitors 8 (user 1's two sessions are one visitor); UV value = GMV / visitors
    assert_frame_equal(current, factors([(8, 2, 4, 200.0, 0.25, 2.0, 50.0, 25.0)]))
    assert_frame_equal(comparison, factors([(4, 2, 2, 100.0, 0.5, 1.0, 50.0, 25.0)]))


def test_gmv_factors_by_channel_by_hand():
    current = gmv_factors(SESSIONS, ORDERS, start=CURRENT[0], end=CURRENT[1], tz=TZ, by="channel")
    expected = factors(
        [("email", 4, 1, 2, 120.0, 0.25, 2.0, 60.0, 30.0), ("social", 4, 1, 2, 80.0, 0.25, 2.0, 40.0, 20.0)],
        by_channel=True,
    )
    assert_frame_equal(current, expected)


def test_decomposition_of_the_week_by_hand():
    current = gmv_factors(SESSIONS, ORDERS, start=CURRENT[0], end=CURRENT[1], tz=TZ)
    comparison = gmv_factors(SESSIONS, ORDERS, start=COMPARISON[0], end=COMPARISON[1], tz=TZ)
    expected = pl.DataFrame(
        {
            "factor": ["visitors", "visitor_conversion", "orders_per_buyer", "aov", "gmv"],
            "comparison": [4.0, 0.5, 1.0, 50.0, 100.0],
            "current": [8.0, 0.25, 2.0, 50.0, 200.0],
            "relative_change": [1.0, -0.5, 1.0, 0.0, 1.0],
            "part": [100.0, -100.0, 100.0, 0.0, 100.0],
            "empty_reason": [None] * 5,
        },
        schema_overrides={"empty_reason": pl.String},
    )
    assert_frame_equal(decompose_gmv(current, comparison), expected, abs_tol=1e-9)


def test_decomposition_by_channel_with_a_channel_in_one_period_only():
    current = factors(
        [("email", 4, 1, 2, 120.0, 0.25, 2.0, 60.0, 30.0), ("affiliate", 2, 0, 0, 0.0, 0.0, None, None, 0.0)],
        by_channel=True,
    )
    comparison = factors(
        [("email", 2, 1, 1, 60.0, 0.5, 1.0, 60.0, 30.0), ("social", 2, 1, 1, 40.0, 0.5, 1.0, 40.0, 20.0)],
        by_channel=True,
    )
    table = decompose_gmv(current, comparison, keys=["channel"])
    factor_names = ["visitors", "visitor_conversion", "orders_per_buyer", "aov", "gmv"]
    expected = pl.DataFrame(
        {
            "channel": ["email"] * 5 + ["affiliate"] * 5 + ["social"] * 5,
            "factor": factor_names * 3,
            "comparison": [2.0, 0.5, 1.0, 60.0, 60.0, 0.0, None, None, None, 0.0, 2.0, 0.5, 1.0, 40.0, 40.0],
            "current": [4.0, 0.25, 2.0, 60.0, 120.0, 2.0, 0.0, None, None, 0.0, 0.0, None, None, None, 0.0],
            "relative_change": [1.0, -0.5, 1.0, 0.0, 1.0, None, None, None, None, None,
                                -1.0, None, None, None, -1.0],
            # L(120, 60) x ln 2 = 60; a group with a zero factor has no split, only its change
            "part": [60.0, -60.0, 60.0, 0.0, 60.0, None, None, None, None, 0.0, None, None, None, None, -40.0],
            "empty_reason": [None] * 5 + ["visitor_conversion_zero_current"] * 5 + ["visitors_zero_current"] * 5,
        },
        schema_overrides={"empty_reason": pl.String},
    )
    assert table.columns == ["channel", *DECOMPOSITION_COLUMNS]
    assert_frame_equal(table, expected, abs_tol=1e-9)


def test_equal_gmv_uses_the_limit_of_the_logarithmic_mean():
    comparison = factors([(10, 5, 5, 100.0, 0.5, 1.0, 20.0, 10.0)])
    current = factors([(20, 5, 5, 100.0, 0.25, 1.0, 20.0, 5.0)])
    parts = decompose_gmv(current, comparison)["part"].to_list()
    # L(100, 100) = 100: visitors + 100 ln 2, conversion - 100 ln 2, the rest 0, change 0
    assert parts == [100 * math.log(2), 100 * math.log(0.5), 0.0, 0.0, 0.0]


def test_category_factors_by_hand():
    sessions = sessions_frame([
        (1, "2026-03-08 10:00", "email"), (2, "2026-03-08 11:00", "email"),
        (3, "2026-03-07 23:50", "email"),  # started before the week: its views do not count
    ])
    events = pl.DataFrame(
        [(1, 1, "product_view", 10), (1, 1, "product_view", 11), (1, 1, "product_view", 10),
         (2, 2, "product_view", 20), (2, 2, "add_to_cart", 11), (3, 3, "product_view", 20),
         (2, 2, "product_view", 99)],
        schema={"session_id": pl.Int64, "user_id": pl.Int64, "event_type": pl.String, "product_id": pl.Int64},
        orient="row",
    )
    products = pl.DataFrame({"product_id": [10, 11, 20], "category": ["shoes", "shoes", "bags"]})
    orders = orders_frame([
        (1, "2026-03-08 10:30", 90.0, "paid", "email"),    # shoes 60 + bags 30 of items
        (2, "2026-03-09 10:30", 50.0, "paid", "email"),    # bags only
        (3, "2026-03-09 11:30", 20.0, "paid", "email"),    # no items: (unknown)
        (2, "2026-03-10 10:30", 10.0, "cancelled", "email"),
    ])
    items = pl.DataFrame(
        {"order_id": [1, 1, 2, 4], "product_id": [10, 20, 20, 10], "quantity": [2, 1, 1, 1],
         "unit_price": [40.0, 40.0, 45.0, 10.0]},
    )
    table = category_gmv_factors(events, sessions, orders, items, products, start=CURRENT[0], end=CURRENT[1], tz=TZ)
    # order 1: item revenue 80 + 40, so shoes take 2/3 of 90 = 60 and bags 30; bags 30 + 50 = 80;
    # the product 99 is in no category; a visitor of (unknown) is user 2.
    expected = pl.DataFrame(
        [("bags", 1, 2, 2, 80.0, 2.0, 1.0, 40.0, 80.0), ("shoes", 1, 1, 1, 60.0, 1.0, 1.0, 60.0, 60.0),
         ("(unknown)", 1, 1, 1, 20.0, 1.0, 1.0, 20.0, 20.0)],
        schema={"category": pl.String, "visitors": pl.Int64, "buyers": pl.Int64, "orders": pl.Int64,
                "gmv": pl.Float64, "visitor_conversion": pl.Float64, "orders_per_buyer": pl.Float64,
                "aov": pl.Float64, "uv_value": pl.Float64},
        orient="row",
    )
    assert_frame_equal(table, expected)


# --- the sample shop against DuckDB --------------------------------------------------------

ORACLE_SQL = """
WITH ordered AS (
    SELECT *, CASE WHEN LAG(event_time) OVER w IS NULL
                     OR event_time - LAG(event_time) OVER w > INTERVAL 30 MINUTE THEN 1 ELSE 0 END AS starts
    FROM events WINDOW w AS (PARTITION BY user_id ORDER BY event_time)
), numbered AS (
    SELECT *, SUM(starts) OVER (PARTITION BY user_id ORDER BY event_time ROWS UNBOUNDED PRECEDING) AS n
    FROM ordered
), sessions AS (
    SELECT user_id, n, CAST(timezone($tz, MIN(event_time)) AS DATE) AS day,
           COALESCE(arg_min_null(channel, event_time), '(unknown)') AS channel
    FROM numbered GROUP BY user_id, n
), period_sessions AS (
    SELECT * FROM sessions WHERE day BETWEEN $start AND $end
), valid AS (
    SELECT o.order_id, o.user_id, o.amount, COALESCE(o.channel, u.channel, '(unknown)') AS channel
    FROM orders o LEFT JOIN users u USING (user_id)
    WHERE o.status IN ('paid', 'shipped', 'completed', 'refunded')
      AND CAST(timezone($tz, o.created_at) AS DATE) BETWEEN $start AND $end
), category_views AS (
    SELECT DISTINCT COALESCE(p.category, '(unknown)') AS category, e.user_id
    FROM numbered e JOIN period_sessions s USING (user_id, n) LEFT JOIN products p USING (product_id)
    WHERE e.event_type = 'product_view'
), item_revenue AS (
    SELECT i.order_id, COALESCE(p.category, '(unknown)') AS category, SUM(i.quantity * i.unit_price) AS revenue
    FROM order_items i LEFT JOIN products p USING (product_id) GROUP BY 1, 2
), order_categories AS (
    SELECT v.order_id, v.user_id, COALESCE(r.category, '(unknown)') AS category,
           v.amount * COALESCE(r.revenue / NULLIF(SUM(r.revenue) OVER (PARTITION BY v.order_id), 0), 1) AS amount
    FROM valid v LEFT JOIN item_revenue r USING (order_id)
)
SELECT 'shop' AS grouping, NULL AS member,
       (SELECT COUNT(DISTINCT user_id) FROM period_sessions) AS visitors,
       (SELECT COUNT(DISTINCT user_id) FROM valid) AS buyers,
       (SELECT COUNT(*) FROM valid) AS orders, (SELECT COALESCE(SUM(amount), 0) FROM valid) AS gmv
UNION ALL
SELECT 'channel', channel, COALESCE(t.visitors, 0), COALESCE(s.buyers, 0), COALESCE(s.orders, 0), COALESCE(s.gmv, 0)
FROM (SELECT channel, COUNT(DISTINCT user_id) AS visitors FROM period_sessions GROUP BY 1) t
FULL JOIN (SELECT channel, COUNT(DISTINCT user_id) AS buyers, COUNT(*) AS orders, SUM(amount) AS gmv
           FROM valid GROUP BY 1) s USING (channel)
UNION ALL
SELECT 'category', category, COALESCE(t.visitors, 0), COALESCE(s.buyers, 0), COALESCE(s.orders, 0), COALESCE(s.gmv, 0)
FROM (SELECT category, COUNT(*) AS visitors FROM category_views GROUP BY 1) t
FULL JOIN (SELECT category, COUNT(DISTINCT user_id) AS buyers, COUNT(DISTINCT order_id) AS orders, SUM(amount) AS gmv
           FROM order_categories GROUP BY 1) s USING (category)
"""


def with_factor_ratios(frame: pl.DataFrame) -> pl.DataFrame:
    def share(numerator, denominator):
        return pl.when(pl.col(denominator) > 0).then(pl.col(numerator) / pl.col(denominator))

    return frame.with_columns(
        visitor_conversion=share("buyers", "visitors"), orders_per_buyer=share("orders", "buyers"),
        aov=share("gmv", "orders"), uv_value=share("gmv", "visitors"),
    )


def test_sample_shop_factors_equal_hand_written_sql(small_shop):
    tz = "Asia/Shanghai"
    _, last_day = small_shop.date_span(tz)
    start, end = last_day - timedelta(days=59), last_day
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    connection.register("events", small_shop.events.select("user_id", "event_time", "event_type", "channel", "product_id").to_arrow())
    for name in ("orders", "users", "order_items", "products"):
        connection.register(name, getattr(small_shop, name).to_arrow())
    raw = with_factor_ratios(connection.sql(ORACLE_SQL, params={"tz": tz, "start": start, "end": end}).pl())

    def oracle(grouping: str, key: str) -> pl.DataFrame:
        rows = raw.filter(pl.col("grouping") == grouping).rename({"member": key})
        return rows.select(key, *FACTOR_COLUMNS).sort(key)

    shop = gmv_factors(small_shop.sessions, small_shop.orders, start=start, end=end, tz=tz)
    by_channel = gmv_factors(small_shop.sessions, small_shop.orders, start=start, end=end, tz=tz, by="channel")
    by_category = category_gmv_factors(
        small_shop.events, small_shop.sessions, small_shop.orders, small_shop.order_items, small_shop.products,
        start=start, end=end, tz=tz,
    )
    assert shop["orders"].item() > 20 and by_category.height > 3
    assert_frame_equal(shop, oracle("shop", "member").drop("member"), check_dtypes=False, abs_tol=1e-6)
    assert_frame_equal(by_channel.sort("channel"), oracle("channel", "channel"), check_dtypes=False, abs_tol=1e-6)
    assert_frame_equal(by_category.sort("category"), oracle("category", "category"), check_dtypes=False, abs_tol=1e-6)
    assert abs(by_category["gmv"].sum() - shop["gmv"].item()) < 0.005


# --- the parts add up to the change, to the cent, on random shops ---------------------------

ORIGIN = datetime(2026, 3, 1, tzinfo=UTC)
minutes = st.integers(min_value=0, max_value=14 * 24 * 60 - 1)
session_rows = st.lists(
    st.tuples(st.integers(1, 12), minutes, st.sampled_from(["email", "social", "direct", None])), min_size=1, max_size=60,
)
order_rows = st.lists(
    st.tuples(
        st.integers(1, 12), minutes,
        st.one_of(st.integers(1, 99_999_999), st.integers(1, 500)).map(lambda cents: cents / 100),
        st.sampled_from(["paid", "completed", "refunded", "cancelled"]),
        st.sampled_from(["email", "social", "direct", None]),
    ),
    max_size=40,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(session_rows, order_rows)
def test_parts_add_up_to_the_gmv_change_to_the_cent(session_list, order_list):
    sessions = pl.DataFrame(
        [(number, user, ORIGIN + timedelta(minutes=minute), channel)
         for number, (user, minute, channel) in enumerate(session_list, start=1)],
        schema=SESSION_SCHEMA, orient="row",
    )
    orders = pl.DataFrame(
        [(number, user, ORIGIN + timedelta(minutes=minute), amount, status, channel)
         for number, (user, minute, amount, status, channel) in enumerate(order_list, start=1)],
        schema=ORDER_SCHEMA, orient="row",
    )
    for by, keys in ((None, []), ("channel", ["channel"])):
        current = gmv_factors(sessions, orders, start=CURRENT[0], end=CURRENT[1], tz=TZ, by=by)
        comparison = gmv_factors(sessions, orders, start=COMPARISON[0], end=COMPARISON[1], tz=TZ, by=by)
        table = decompose_gmv(current, comparison, keys=keys)
        groups = table.partition_by(keys, maintain_order=True) if keys else [table]
        for group in groups:
            change = group.filter(pl.col("factor") == "gmv")
            gmv_before, gmv_after = change["comparison"].item(), change["current"].item()
            assert change["part"].item() == gmv_after - gmv_before
            parts = group.filter(pl.col("factor") != "gmv")["part"]
            if group["empty_reason"][0] is None:
                assert abs(parts.sum() - (gmv_after - gmv_before)) < 0.005
            else:
                assert parts.null_count() == 4
        assert abs(current["gmv"].sum() - gmv_factors(sessions, orders, start=CURRENT[0], end=CURRENT[1], tz=TZ)["gmv"].item()) < 1e-6
