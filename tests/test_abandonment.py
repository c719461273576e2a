"""Cart and checkout abandonment, the abandoned carts' value and the abandoning users (SPEC
section 3): hand-computed tables and a DuckDB oracle on the sample shop."""

from datetime import date, timedelta

import duckdb
import polars as pl
import pytest
from conftest import UTC_TIME, utc
from polars.testing import assert_frame_equal

from metrics.abandonment import ABANDONMENT_COLUMNS, AUDIENCE_COLUMNS, abandoning_users, abandonment
from metrics.sessions import derive_sessions

TZ = "UTC"
WEEK = {"start": date(2026, 3, 8), "end": date(2026, 3, 14), "tz": TZ}
EVENT_SCHEMA = {
    "user_id": pl.Int64, "event_time": UTC_TIME, "event_type": pl.String, "product_id": pl.Int64,
    "channel": pl.String, "device": pl.String,
}
PRODUCTS = pl.DataFrame({"product_id": [10, 11, 12], "price": [100.0, 50.0, None]})

# Sessions (a gap over 30 minutes starts a new one; channel and device are the first event's):
# A user 1 email/app: carts 10 twice and 11, checks out, no purchase: cart and checkout abandoned,
#   value 100 + 50 (10 counts once)
# B user 2 email/desktop: cart, checkout, purchase: nothing abandoned
# C user 3 social/app: carts 12 (no price) and 99 (not in the catalogue): value 0, 2 unpriced
# D user 1 social/app: carts 11: value 50; E user 1 direct: a purchase two days later
# F user 4 affiliate/no device: starts 03-14 23:50, carts 10 after midnight: in the week, value 100
# G user 5: starts before the week: not counted; H user 6 direct/mobile_web: checkout only
EVENTS = pl.DataFrame(
    [(user, utc(at), kind, product, channel, device) for user, at, kind, product, channel, device in [
        (1, "2026-03-08 10:00", "page_view", None, "email", "app"),
        (1, "2026-03-08 10:01", "add_to_cart", 10, None, "app"),
        (1, "2026-03-08 10:02", "add_to_cart", 10, None, "app"),
        (1, "2026-03-08 10:03", "add_to_cart", 11, None, "app"),
        (1, "2026-03-08 10:04", "checkout", None, None, "app"),
        (2, "2026-03-09 09:00", "add_to_cart", 10, "email", "desktop"),
        (2, "2026-03-09 09:01", "checkout", None, "email", "desktop"),
        (2, "2026-03-09 09:02", "purchase", None, "email", "desktop"),
        (3, "2026-03-09 11:00", "add_to_cart", 12, "social", "app"),
        (3, "2026-03-09 11:05", "add_to_cart", 99, "social", "app"),
        (1, "2026-03-10 12:00", "product_view", 11, "social", "app"),
        (1, "2026-03-10 12:01", "add_to_cart", 11, "social", "app"),
        (1, "2026-03-12 08:00", "purchase", None, "direct", "app"),
        (4, "2026-03-14 23:50", "page_view", None, "affiliate", None),
        (4, "2026-03-15 00:10", "add_to_cart", 10, "affiliate", None),
        (5, "2026-03-07 23:50", "page_view", None, "email", "app"),
        (5, "2026-03-08 00:05", "add_to_cart", 10, "email", "app"),
        (6, "2026-03-11 15:00", "checkout", None, "direct", "mobile_web"),
    ]],
    schema=EVENT_SCHEMA, orient="row",
)
SCHEMA = dict(zip(ABANDONMENT_COLUMNS, [pl.Int64, pl.Int64, pl.Float64, pl.Int64, pl.Int64, pl.Float64, pl.Float64, pl.Int64]))


def test_abandonment_of_the_week_by_hand():
    events, sessions = derive_sessions(EVENTS)
    table = abandonment(events, sessions, PRODUCTS, **WEEK)
    # carts: A B C D F, abandoned A C D F; checkouts: A B H, abandoned A H
    expected = pl.DataFrame([(5, 4, 0.8, 3, 2, 2 / 3, 300.0, 2)], schema=SCHEMA, orient="row")
    assert_frame_equal(table, expected)


def test_abandonment_by_channel_by_hand():
    events, sessions = derive_sessions(EVENTS)
    table = abandonment(events, sessions, PRODUCTS, by=["channel"], **WEEK)
    expected = pl.DataFrame(
        [("affiliate", 1, 1, 1.0, 0, 0, None, 100.0, 0), ("direct", 0, 0, None, 1, 1, 1.0, 0.0, 0),
         ("email", 2, 1, 0.5, 2, 1, 0.5, 150.0, 0), ("social", 2, 2, 1.0, 0, 0, None, 50.0, 2)],
        schema={"channel": pl.String} | SCHEMA, orient="row",
    )
    assert_frame_equal(table, expected)


def test_without_prices_every_carted_product_is_unpriced():
    events, sessions = derive_sessions(EVENTS)
    table = abandonment(events, sessions, None, **WEEK)
    # abandoned carts hold 10, 11 (A), 12, 99 (C), 11 (D), 10 (F)
    assert table.select("abandoned_cart_value", "unpriced_cart_products").row(0) == (0.0, 6)


def test_a_week_without_carts_is_one_row_of_zeros():
    events, sessions = derive_sessions(EVENTS)
    table = abandonment(events, sessions, PRODUCTS, start=date(2026, 4, 1), end=date(2026, 4, 7), tz=TZ)
    assert table.rows() == [(0, 0, None, 0, 0, None, 0.0, 0)]


def test_abandoning_users_by_hand():
    events, sessions = derive_sessions(EVENTS)
    audience_schema = dict(zip(AUDIENCE_COLUMNS, [pl.Int64, pl.Int64, UTC_TIME, pl.String, pl.String, pl.Float64, pl.Int64, pl.Boolean]))
    carts = abandoning_users(events, sessions, PRODUCTS, **WEEK)
    expected_carts = pl.DataFrame(
        [(1, 2, utc("2026-03-10 12:00"), "social", "app", 200.0, 0, True),
         (4, 1, utc("2026-03-14 23:50"), "affiliate", "(unknown)", 100.0, 0, False),
         (3, 1, utc("2026-03-09 11:00"), "social", "app", 0.0, 2, False)],
        schema=audience_schema, orient="row",
    )
    assert_frame_equal(carts, expected_carts)
    checkouts = abandoning_users(events, sessions, PRODUCTS, stage="checkout", **WEEK)
    expected_checkouts = pl.DataFrame(
        [(1, 1, utc("2026-03-08 10:00"), "email", "app", 150.0, 0, True),
         (6, 1, utc("2026-03-11 15:00"), "direct", "mobile_web", 0.0, 0, False)],
        schema=audience_schema, orient="row",
    )
    assert_frame_equal(checkouts, expected_checkouts)


def test_unknown_breakdowns_and_stages_are_refused():
    events, sessions = derive_sessions(EVENTS)
    with pytest.raises(ValueError, match="channel or device"):
        abandonment(events, sessions, PRODUCTS, by=["region"], **WEEK)
    with pytest.raises(ValueError, match="stage"):
        abandoning_users(events, sessions, PRODUCTS, stage="payment", **WEEK)


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
           COALESCE(arg_min_null(channel, event_time), '(unknown)') AS channel,
           COALESCE(arg_min_null(device, event_time), '(unknown)') AS device,
           BOOL_OR(event_type = 'add_to_cart') AS carted, BOOL_OR(event_type = 'checkout') AS checked_out,
           BOOL_OR(event_type = 'purchase') AS bought
    FROM numbered GROUP BY user_id, n
), abandoned_values AS (
    SELECT c.user_id, c.n, SUM(p.price) AS value, COUNT(*) FILTER (WHERE p.price IS NULL) AS unpriced
    FROM (SELECT DISTINCT user_id, n, product_id FROM numbered WHERE event_type = 'add_to_cart') c
    LEFT JOIN products p USING (product_id) GROUP BY 1, 2
), period AS (
    SELECT s.*, v.value, v.unpriced FROM sessions s LEFT JOIN abandoned_values v USING (user_id, n)
    WHERE s.day BETWEEN $start AND $end AND (s.carted OR s.checked_out)
)
SELECT channel, device,
       COUNT(*) FILTER (WHERE carted) AS cart_sessions,
       COUNT(*) FILTER (WHERE carted AND NOT bought) AS abandoned_carts,
       COUNT(*) FILTER (WHERE checked_out) AS checkout_sessions,
       COUNT(*) FILTER (WHERE checked_out AND NOT bought) AS abandoned_checkouts,
       COALESCE(SUM(value) FILTER (WHERE carted AND NOT bought), 0) AS abandoned_cart_value,
       COALESCE(SUM(unpriced) FILTER (WHERE carted AND NOT bought), 0) AS unpriced_cart_products
FROM period GROUP BY ALL ORDER BY channel, device
"""


def test_sample_shop_equals_hand_written_sql(small_shop):
    tz = "Asia/Shanghai"
    _, last_day = small_shop.date_span(tz)
    start = last_day - timedelta(days=59)
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    connection.register(
        "events", small_shop.events.select("user_id", "event_time", "event_type", "product_id", "channel", "device").to_arrow()
    )
    connection.register("products", small_shop.products.to_arrow())
    raw = connection.sql(ORACLE_SQL, params={"tz": tz, "start": start, "end": last_day}).pl()
    expected = raw.with_columns(
        cart_abandonment_rate=pl.col("abandoned_carts") / pl.col("cart_sessions"),
        checkout_abandonment_rate=pl.when(pl.col("checkout_sessions") > 0).then(
            pl.col("abandoned_checkouts") / pl.col("checkout_sessions")
        ),
    ).select("channel", "device", *ABANDONMENT_COLUMNS)
    period = {"start": start, "end": last_day, "tz": tz}
    table = abandonment(small_shop.events, small_shop.sessions, small_shop.products, by=["channel", "device"], **period)
    assert_frame_equal(table, expected, check_dtypes=False, abs_tol=1e-6)
    assert table["abandoned_carts"].sum() > 20 and table["abandoned_cart_value"].sum() > 0

    whole = abandonment(small_shop.events, small_shop.sessions, small_shop.products, **period)
    assert whole.select("cart_sessions", "abandoned_carts", "checkout_sessions", "abandoned_checkouts").row(0) == tuple(
        expected[name].sum() for name in ("cart_sessions", "abandoned_carts", "checkout_sessions", "abandoned_checkouts")
    )
    audience = abandoning_users(small_shop.events, small_shop.sessions, small_shop.products, **period)
    assert audience["abandoned_sessions"].sum() == whole["abandoned_carts"].item()
    assert audience["abandoned_cart_value"].sum() == pytest.approx(whole["abandoned_cart_value"].item())
    assert audience["user_id"].is_unique().all()
