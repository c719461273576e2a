"""The channel table on a hand-made shop whose answers were computed by hand, on the sample
shop against the daily KPIs, and against an independent DuckDB oracle on random shops.

Business zone Asia/Shanghai (UTC+8): 16:00 UTC is midnight of the next local day. The
period is 03-01..03-02 local, i.e. 02-28 16:00 to 03-02 16:00 UTC.
"""

from datetime import UTC, date, datetime, timedelta

import duckdb
import polars as pl
import pytest
from conftest import utc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from metrics.channels import CHANNEL_COLUMNS, channel_table, order_margins
from metrics.kpis import daily_kpis
from metrics.sessions import derive_sessions

TZ = "Asia/Shanghai"
START, END = date(2026, 3, 1), date(2026, 3, 2)
UTC_TIME = pl.Datetime("us", "UTC")
SPEND_COLUMNS = ("spend", "impressions", "clicks", "cpc", "cac", "roas", "roi", "cpc_above_target", "roi_below_target")


def events_frame(rows) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "user_id": [row[0] for row in rows],
            "event_time": [utc(row[1]) for row in rows],
            "event_type": [row[2] for row in rows],
            "channel": [row[3] for row in rows],
        }
    )


@pytest.fixture(scope="module")
def shop():
    users = pl.DataFrame(
        {
            "user_id": [1, 2, 3, 4, 5],
            "signup_at": [
                utc("2026-02-28 16:30"),  # 03-01 00:30 local: new
                utc("2026-02-28 15:59"),  # 02-28 23:59 local: before the period
                utc("2026-03-02 15:59"),  # 03-02 23:59 local: new
                utc("2026-01-10 08:00"),
                utc("2025-12-01 08:00"),
            ],
            "channel": ["social", "paid_search", "email", "organic", None],
        }
    )
    events = events_frame(
        [
            (1, "2026-02-28 16:10", "page_view", "social"),  # first event: the session is social's
            (1, "2026-02-28 16:20", "product_view", "paid_search"),
            (1, "2026-02-28 16:25", "purchase", "paid_search"),
            (1, "2026-03-01 05:00", "page_view", "paid_search"),  # a new, bounced session
            (2, "2026-02-28 15:50", "page_view", "paid_search"),  # began before the period
            (2, "2026-02-28 16:05", "product_view", "paid_search"),
            (2, "2026-03-02 15:55", "page_view", "paid_search"),  # 03-02 23:55 local, bounced
            (2, "2026-03-02 16:30", "page_view", "paid_search"),  # 03-03 local
            (3, "2026-03-02 10:00", "page_view", "email"),
            (3, "2026-03-02 10:10", "add_to_cart", "email"),
            (4, "2026-03-01 02:00", "page_view", "organic"),
            (4, "2026-03-01 02:05", "purchase", "organic"),
        ]
    )
    orders = pl.DataFrame(
        {
            "order_id": [10, 1, 2, 3, 4, 5, 6, 7],
            "user_id": [4, 1, 4, 3, 2, 2, 1, 5],
            "created_at": [
                utc("2026-01-20 08:00"),
                utc("2026-02-28 16:25"),
                utc("2026-03-01 02:05"),
                utc("2026-03-02 11:00"),
                utc("2026-03-01 03:00"),
                utc("2026-03-02 16:10"),  # 03-03 00:10 local
                utc("2026-03-02 12:00"),
                utc("2026-03-01 10:00"),
            ],
            "amount": [50.0, 200.0, 90.0, 120.0, 500.0, 80.0, 60.0, 40.0],
            "status": ["completed", "completed", "paid", "refunded", "cancelled", "paid", "shipped", "completed"],
            # order 2 has no channel of its own: its user's acquisition channel, organic
            "channel": ["organic", "paid_search", None, "email", "paid_search", "paid_search", "social", None],
        }
    )
    order_items = pl.DataFrame(
        {
            "order_id": [1, 1, 2, 6, 7],
            "product_id": [1, 2, 3, 2, 4],
            "quantity": [2, 1, 1, 1, 1],
            "unit_price": [50.0, 100.0, 100.0, 60.0, 40.0],
        }
    )
    # product 2 has no cost; product 4 is not in the catalogue
    products = pl.DataFrame(
        {"product_id": [1, 2, 3], "name": ["Mug", "Tee", "Lamp"], "category": ["Home", "Apparel", "Home"],
         "cost": [30.0, None, 40.0]}
    )
    ad_spend = pl.DataFrame(
        {
            "date": [date(2026, 2, 28), date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 2), date(2026, 3, 1),
                     date(2026, 3, 1), date(2026, 3, 3), date(2026, 3, 2)],
            "channel": ["paid_search", "paid_search", "paid_search", "paid_search", "social", "email", "affiliate", "affiliate"],
            "spend": [999.0, 30.0, 20.0, 10.0, 40.0, 0.0, 5.0, 10.0],
            "impressions": [9999, 1000, 1000, 500, 5000, 0, 50, 300],
            "clicks": [999, 20, 20, 10, 100, 0, 5, 0],
        }
    )
    events, sessions = derive_sessions(events)
    return {"events": events, "sessions": sessions, "orders": orders, "users": users, "ad_spend": ad_spend,
            "order_items": order_items, "products": products}


def table_of(shop, **options) -> pl.DataFrame:
    return channel_table(
        shop["events"], shop["sessions"], shop["orders"], shop["users"], options.pop("ad_spend", shop["ad_spend"]),
        shop["order_items"], shop["products"], start=START, end=END, tz=TZ, **options,
    )


# order 1: items 2 x 50 (cost 30) and 1 x 100 (no cost: 30 % margin), so cost 60 + 70 of 200
# order 2: 1 x 100 at cost 40, margin 0.6 applied to its amount 90 (a discount)
# order 3: no items, order 6: only a cost-less product, order 7: a product not in the catalogue
EXPECTED = pl.DataFrame(
    {
        "channel": ["paid_search", "email", "organic", "social", "(unknown)", "affiliate"],
        "sessions": [2, 1, 1, 1, 0, 0],
        "visitors": [2, 1, 1, 1, 0, 0],
        "new_users": [0, 1, 0, 1, 0, 0],
        "bounce_rate": [1.0, 0.0, 0.0, 0.0, None, None],
        "session_conversion": [0.0, 0.0, 1.0, 1.0, None, None],
        "orders": [1, 1, 1, 1, 1, 0],
        "gmv": [200.0, 120.0, 90.0, 60.0, 40.0, 0.0],
        "first_time_buyers": [1, 1, 0, 0, 1, 0],  # user 4's first order was in January
        "margin": [0.35, 0.3, 0.6, 0.3, 0.3, None],
        "gross_profit": [70.0, 36.0, 54.0, 18.0, 12.0, 0.0],
        "spend": [60.0, 0.0, 0.0, 40.0, 0.0, 10.0],
        "impressions": [2500, 0, 0, 5000, 0, 300],
        "clicks": [50, 0, 0, 100, 0, 0],
        "cpc": [1.2, None, None, 0.4, None, None],
        "cac": [60.0, 0.0, None, None, 0.0, None],
        "roas": [200 / 60, None, None, 1.5, None, 0.0],
        "roi": [10 / 60, None, None, -0.55, None, -1.0],
        "cpc_above_target": [True, None, None, False, None, None],
        "roi_below_target": [False, None, None, True, None, True],
    },
    schema_overrides={name: pl.Int64 for name in
                      ("sessions", "visitors", "new_users", "orders", "first_time_buyers", "impressions", "clicks")},
)


def test_channel_table_matches_hand_computed_table(shop):
    assert_frame_equal(table_of(shop), EXPECTED)


def test_without_ad_spend_the_spend_columns_are_unknown_not_zero(shop):
    expected = EXPECTED.filter(pl.col("channel") != "affiliate").with_columns(
        pl.lit(None, EXPECTED.schema[name]).alias(name) for name in SPEND_COLUMNS
    )
    assert_frame_equal(table_of(shop, ad_spend=None), expected)


def test_spend_without_clicks_and_impressions_leaves_cpc_unknown(shop):
    table = table_of(shop, ad_spend=shop["ad_spend"].drop("clicks", "impressions"))
    expected = EXPECTED.with_columns(
        impressions=pl.lit(None, pl.Int64), clicks=pl.lit(None, pl.Int64),
        cpc=pl.lit(None, pl.Float64), cpc_above_target=pl.lit(None, pl.Boolean),
    )
    assert_frame_equal(table, expected)


def test_targets_and_default_margin_are_settings(shop):
    table = table_of(shop, default_margin=0.5, cpc_target=1.2, roi_target=0.4)
    # order 1: cost 60 + 100 x 0.5 of 200; orders 3, 6 and 7 now have margin 0.5.
    # paid_search's CPC is 60 / 50 = 1.2: at the target is not above it.
    expected = pl.DataFrame(
        {
            "channel": ["paid_search", "email", "organic", "social", "(unknown)", "affiliate"],
            "margin": [0.45, 0.5, 0.6, 0.5, 0.5, None],
            "gross_profit": [90.0, 60.0, 54.0, 30.0, 20.0, 0.0],
            "roi": [0.5, None, None, -0.25, None, -1.0],
            "cpc_above_target": [False, None, None, False, None, None],
            "roi_below_target": [False, None, None, True, None, True],
        }
    )
    assert_frame_equal(table.select(expected.columns), expected)


def test_sessions_are_derived_from_events_when_not_given(shop):
    raw_events = shop["events"].select("user_id", "event_time", "event_type", "channel")
    table = channel_table(
        raw_events, None, shop["orders"], shop["users"], shop["ad_spend"], shop["order_items"], shop["products"],
        start=START, end=END, tz=TZ,
    )
    assert_frame_equal(table, EXPECTED)


def test_order_margins_blend_known_costs_with_the_default_by_item_revenue(shop):
    margins = order_margins(shop["orders"], shop["order_items"], shop["products"], default_margin=0.3)
    assert dict(margins.rows()) == pytest.approx({10: 0.3, 1: 0.35, 2: 0.6, 3: 0.3, 4: 0.3, 5: 0.3, 6: 0.3, 7: 0.3})
    without_items = order_margins(shop["orders"], None, None, default_margin=0.25)
    assert without_items["margin"].to_list() == [0.25] * 8


def test_channel_table_adds_up_to_the_daily_kpis_of_the_sample_shop(small_shop):
    start, end = small_shop.date_span(TZ)
    start = end - timedelta(days=29)
    table = channel_table(
        small_shop.events, small_shop.sessions, small_shop.orders, small_shop.users, small_shop.ad_spend,
        small_shop.order_items, small_shop.products, start=start, end=end, tz=TZ,
    )
    daily = daily_kpis(small_shop.events, small_shop.sessions, small_shop.orders, small_shop.users,
                       start=start, end=end, tz=TZ)
    for name in ("sessions", "new_users", "orders"):
        assert table[name].sum() == daily[name].sum()
    assert table["gmv"].sum() == pytest.approx(daily["gmv"].sum())
    spend = small_shop.ad_spend.filter(pl.col("date").is_between(start, end))["spend"].sum()
    assert table["spend"].sum() == pytest.approx(spend)
    assert table.columns == list(CHANNEL_COLUMNS) and table["channel"].is_unique().all()


# --- independent oracle ------------------------------------------------------------------

ORACLE_SQL = """
WITH ordered AS (
    SELECT *, CASE WHEN LAG(event_time) OVER w IS NULL
                     OR event_time - LAG(event_time) OVER w > INTERVAL 30 MINUTE THEN 1 ELSE 0 END AS starts
    FROM events WINDOW w AS (PARTITION BY user_id ORDER BY event_time)
), numbered AS (
    SELECT *, SUM(starts) OVER (PARTITION BY user_id ORDER BY event_time ROWS UNBOUNDED PRECEDING) AS n
    FROM ordered
), sessions AS (
    SELECT user_id, CAST(timezone($tz, MIN(event_time)) AS DATE) AS day,
           COALESCE(arg_min_null(channel, event_time), '(unknown)') AS channel,
           COUNT(*) AS event_count, BOOL_OR(event_type = 'purchase') AS bought
    FROM numbered GROUP BY user_id, n
), traffic AS (
    SELECT channel, COUNT(*) AS sessions, COUNT(DISTINCT user_id) AS visitors,
           COUNT(*) FILTER (WHERE event_count = 1) AS bounced, COUNT(*) FILTER (WHERE bought) AS converted
    FROM sessions WHERE day BETWEEN $start AND $end GROUP BY channel
), signups AS (
    SELECT COALESCE(channel, '(unknown)') AS channel, COUNT(*) AS new_users FROM users
    WHERE CAST(timezone($tz, signup_at) AS DATE) BETWEEN $start AND $end GROUP BY 1
), valid AS (
    SELECT o.order_id, o.user_id, o.created_at, o.amount,
           COALESCE(o.channel, u.channel, '(unknown)') AS channel,
           CAST(timezone($tz, o.created_at) AS DATE) AS day,
           ROW_NUMBER() OVER (PARTITION BY o.user_id ORDER BY o.created_at, o.order_id) AS nth
    FROM orders o LEFT JOIN users u USING (user_id)
    WHERE o.status IN ('paid', 'shipped', 'completed', 'refunded')
), item_money AS (
    SELECT i.order_id, SUM(i.quantity * i.unit_price) AS revenue,
           SUM(COALESCE(i.quantity * p.cost, i.quantity * i.unit_price * (1 - $default_margin))) AS cost
    FROM order_items i LEFT JOIN products p USING (product_id) GROUP BY i.order_id
), sales AS (
    SELECT v.channel, COUNT(*) AS orders, SUM(v.amount) AS gmv,
           SUM(v.amount * CASE WHEN m.revenue > 0 THEN 1 - m.cost / m.revenue ELSE $default_margin END) AS gross_profit
    FROM valid v LEFT JOIN item_money m USING (order_id)
    WHERE v.day BETWEEN $start AND $end GROUP BY v.channel
), first_buyers AS (
    SELECT channel, COUNT(*) AS first_time_buyers FROM valid
    WHERE nth = 1 AND day BETWEEN $start AND $end GROUP BY channel
), spending AS (
    SELECT COALESCE(channel, '(unknown)') AS channel, SUM(spend) AS spend,
           SUM(impressions) AS impressions, SUM(clicks) AS clicks
    FROM ad_spend WHERE date BETWEEN $start AND $end GROUP BY 1
), channels AS (
    SELECT channel FROM traffic UNION SELECT channel FROM signups UNION SELECT channel FROM sales
    UNION SELECT channel FROM first_buyers UNION SELECT channel FROM spending
), measures AS (
    SELECT c.channel, COALESCE(t.sessions, 0) AS sessions, COALESCE(t.visitors, 0) AS visitors,
           COALESCE(n.new_users, 0) AS new_users, t.bounced, t.converted,
           COALESCE(s.orders, 0) AS orders, COALESCE(s.gmv, 0) AS gmv,
           COALESCE(f.first_time_buyers, 0) AS first_time_buyers, COALESCE(s.gross_profit, 0) AS gross_profit,
           CASE WHEN $has_spend THEN COALESCE(p.spend, 0) END AS spend,
           CASE WHEN $has_spend THEN COALESCE(p.impressions, 0) END AS impressions,
           CASE WHEN $has_spend THEN COALESCE(p.clicks, 0) END AS clicks
    FROM channels c LEFT JOIN traffic t USING (channel) LEFT JOIN signups n USING (channel)
    LEFT JOIN sales s USING (channel) LEFT JOIN first_buyers f USING (channel) LEFT JOIN spending p USING (channel)
), ratios AS (
    SELECT *, bounced / NULLIF(sessions, 0) AS bounce_rate, converted / NULLIF(sessions, 0) AS session_conversion,
           gross_profit / NULLIF(gmv, 0) AS margin, spend / NULLIF(clicks, 0) AS cpc,
           spend / NULLIF(first_time_buyers, 0) AS cac, gmv / NULLIF(spend, 0) AS roas,
           (gross_profit - spend) / NULLIF(spend, 0) AS roi
    FROM measures
)
SELECT channel, sessions, visitors, new_users, bounce_rate, session_conversion, orders, gmv,
       first_time_buyers, margin, gross_profit, spend, impressions, clicks, cpc, cac, roas, roi,
       cpc > $cpc_target AS cpc_above_target, roi < $roi_target AS roi_below_target
FROM ratios ORDER BY channel
"""

ORIGIN = datetime(2026, 2, 26, tzinfo=UTC)
CHANNELS = st.sampled_from(["direct", "email", "social", None])
# the period's bounds in minutes after ORIGIN (02-28 16:00 and 03-02 16:00 UTC), often hit
BOUNDARY_MINUTES = (3839, 3840, 6719, 6720)
minutes = st.one_of(st.integers(min_value=0, max_value=5 * 24 * 60), st.sampled_from(BOUNDARY_MINUTES))


def at(minute: int) -> datetime:
    return ORIGIN + timedelta(minutes=minute)


def oracle(tables: dict[str, pl.DataFrame], **settings) -> pl.DataFrame:
    """ORACLE_SQL over `tables`; settings: has_spend, default_margin, cpc_target, roi_target."""
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    for name, table in tables.items():
        connection.register(name, table.to_arrow())
    return connection.sql(ORACLE_SQL, params={"tz": TZ, "start": START, "end": END, **settings}).pl()


# events of one user have distinct times, so "first event" has one answer
event_rows = st.lists(
    st.tuples(st.integers(1, 5), minutes, st.sampled_from(["page_view", "product_view", "purchase"]), CHANNELS),
    min_size=15, max_size=60, unique_by=lambda row: (row[0], row[1]),
)
order_rows = st.lists(
    st.tuples(st.integers(1, 5), minutes, st.integers(1, 300),
              st.sampled_from(["paid", "shipped", "completed", "refunded", "cancelled", "pending"]), CHANNELS),
    min_size=3, max_size=20,
)
item_rows = st.lists(
    st.tuples(st.integers(0, 19), st.integers(1, 5), st.integers(1, 3), st.integers(0, 100)), min_size=3, max_size=30,
)
costs = st.lists(st.one_of(st.none(), st.integers(0, 120)), min_size=4, max_size=4)
spend_rows = st.lists(
    st.tuples(st.integers(0, 6), st.sampled_from(["direct", "email", "search", None]),
              st.sampled_from([0, 0.5, 7, 40]), st.integers(0, 2000), st.integers(0, 30)),
    min_size=2, max_size=15,
)
user_rows = st.lists(st.tuples(minutes, CHANNELS), min_size=5, max_size=5)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(event_rows, order_rows, item_rows, costs, spend_rows, user_rows, st.booleans(),
       st.sampled_from([0.0, 0.3]), st.sampled_from([0.5, 1.0]), st.sampled_from([0.05, 2.0]))
def test_channel_table_equals_the_sql_oracle(event_list, order_list, item_list, cost_list, spend_list, user_list,
                                             has_spend, default_margin, cpc_target, roi_target):
    events = pl.DataFrame(
        {"user_id": [r[0] for r in event_list], "event_time": [at(r[1]) for r in event_list],
         "event_type": [r[2] for r in event_list], "channel": [r[3] for r in event_list]},
        schema={"user_id": pl.Int64, "event_time": UTC_TIME, "event_type": pl.String, "channel": pl.String},
    )
    orders = pl.DataFrame(
        {"order_id": list(range(len(order_list))), "user_id": [r[0] for r in order_list],
         "created_at": [at(r[1]) for r in order_list], "amount": [float(r[2]) for r in order_list],
         "status": [r[3] for r in order_list], "channel": [r[4] for r in order_list]},
        schema={"order_id": pl.Int64, "user_id": pl.Int64, "created_at": UTC_TIME, "amount": pl.Float64,
                "status": pl.String, "channel": pl.String},
    )
    order_items = pl.DataFrame(
        {"order_id": [r[0] for r in item_list], "product_id": [r[1] for r in item_list],
         "quantity": [r[2] for r in item_list], "unit_price": [float(r[3]) for r in item_list]},
        schema={"order_id": pl.Int64, "product_id": pl.Int64, "quantity": pl.Int64, "unit_price": pl.Float64},
    )
    # product 5 is not in the catalogue
    products = pl.DataFrame(
        {"product_id": [1, 2, 3, 4], "cost": [None if c is None else float(c) for c in cost_list]},
        schema={"product_id": pl.Int64, "cost": pl.Float64},
    )
    ad_spend = pl.DataFrame(
        {"date": [date(2026, 2, 26) + timedelta(days=r[0]) for r in spend_list], "channel": [r[1] for r in spend_list],
         "spend": [float(r[2]) for r in spend_list], "impressions": [r[3] for r in spend_list],
         "clicks": [r[4] for r in spend_list]},
        schema={"date": pl.Date, "channel": pl.String, "spend": pl.Float64, "impressions": pl.Int64, "clicks": pl.Int64},
    )
    users = pl.DataFrame(
        {"user_id": [1, 2, 3, 4, 5], "signup_at": [at(r[0]) for r in user_list], "channel": [r[1] for r in user_list]},
        schema={"user_id": pl.Int64, "signup_at": UTC_TIME, "channel": pl.String},
    )
    derived, sessions = derive_sessions(events)
    table = channel_table(
        derived, sessions, orders, users, ad_spend if has_spend else None, order_items, products,
        start=START, end=END, tz=TZ, default_margin=default_margin, cpc_target=cpc_target, roi_target=roi_target,
    )
    tables = {"events": events, "orders": orders, "users": users, "order_items": order_items,
              "products": products, "ad_spend": ad_spend if has_spend else ad_spend.clear()}
    expected = oracle(tables, has_spend=has_spend, default_margin=default_margin,
                      cpc_target=cpc_target, roi_target=roi_target)
    assert_frame_equal(table.sort("channel"), expected, check_dtypes=False, abs_tol=1e-9)
