"""Payment methods, payment failure and coupons on hand-made data, and payment failure against
a slow pure-Python oracle on random data.

Business zone Asia/Shanghai (UTC+8): 2026-03-02 local runs from 2026-03-01 16:00 UTC to
2026-03-02 16:00 UTC.
"""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import duckdb
import polars as pl
from conftest import utc
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from metrics.payments import coupon_repeat_purchase, coupon_summary, payment_failure_rate, payment_methods

TZ = "Asia/Shanghai"
DAY = date(2026, 3, 2)
UTC_TIME = pl.Datetime("us", "UTC")
ORDER_SCHEMA = {
    "order_id": pl.Int64, "user_id": pl.Int64, "created_at": UTC_TIME, "amount": pl.Float64,
    "status": pl.String, "payment_method": pl.String, "coupon_code": pl.String, "discount": pl.Float64,
}


def make_orders(rows) -> pl.DataFrame:
    return pl.DataFrame(
        [(row[0], row[1], utc(row[2]), *row[3:]) for row in rows], schema=ORDER_SCHEMA, orient="row"
    )


ORDERS = make_orders(
    [
        (1, 11, "2026-03-02 01:00", 100.0, "completed", "alipay", None, 0.0),
        (2, 12, "2026-03-02 02:00", 50.0, "paid", "wechat_pay", "SAVE10", 10.0),
        (3, 3, "2026-03-02 03:10", 30.0, "refunded", "alipay", None, 5.0),  # rescues user 3's checkout
        (4, 4, "2026-03-02 04:05", 70.0, "cancelled", "card", "SAVE10", 10.0),  # not valid: rescues nothing
        (5, 15, "2026-03-02 05:00", 20.0, "shipped", None, " ", 0.0),  # a blank code is no coupon
        (6, 16, "2026-03-02 16:00", 40.0, "paid", "card", None, 0.0),  # 03-03 00:00 local
        (7, 17, "2026-03-01 15:59", 60.0, "completed", "alipay", "SAVE10", 5.0),  # 03-01 23:59 local
    ]
)

# (user, time UTC, event type)
EVENT_ROWS = [
    (1, "2026-03-02 01:00", "checkout"),
    (1, "2026-03-02 01:30", "purchase"),  # exactly 30 minutes: paid
    (1, "2026-03-02 06:00", "checkout"),  # nothing after it: failed
    (2, "2026-03-02 02:00", "checkout"),
    (2, "2026-03-02 02:30:01", "purchase"),  # 30 minutes 1 second: failed
    (3, "2026-03-02 03:00", "checkout"),  # paid by order 3, without a purchase event
    (4, "2026-03-02 04:00", "checkout"),  # only a cancelled order follows: failed
    (5, "2026-03-02 15:50", "checkout"),  # 23:50 local
    (5, "2026-03-02 16:10", "purchase"),  # paid after the period's end: still paid
    (6, "2026-03-02 05:00", "purchase"),
    (6, "2026-03-02 05:10", "checkout"),  # a purchase before does not pay it: failed
    (8, "2026-03-02 08:00", "checkout"),
    (9, "2026-03-02 08:05", "purchase"),  # another user's purchase: user 8 failed
    (7, "2026-03-02 16:00", "checkout"),  # 03-03 00:00 local
]
EVENTS = pl.DataFrame(
    {
        "user_id": [row[0] for row in EVENT_ROWS],
        "event_time": [utc(row[1]) for row in EVENT_ROWS],
        "event_type": [row[2] for row in EVENT_ROWS],
    }
)


def test_payment_methods():
    table = payment_methods(ORDERS, start=DAY, end=DAY, tz=TZ)
    expected = pl.DataFrame(
        {
            "payment_method": ["alipay", "wechat_pay", "(unknown)"],
            "orders": [2, 1, 1],
            "gmv": [130.0, 50.0, 20.0],
            "order_share": [0.5, 0.25, 0.25],
            "gmv_share": [0.65, 0.25, 0.1],
        },
        schema_overrides={"orders": pl.Int64},
    )
    assert_frame_equal(table, expected)


def test_payment_failure_rate_for_the_period():
    table = payment_failure_rate(EVENTS, ORDERS, start=DAY, end=DAY, tz=TZ)
    # failed: user 1 at 06:00, 2, 4, 6 and 8, of 8 checkouts
    expected = pl.DataFrame(
        {"checkouts": [8], "failed_checkouts": [5], "payment_failure_rate": [5 / 8]},
        schema_overrides={"checkouts": pl.Int64, "failed_checkouts": pl.Int64},
    )
    assert_frame_equal(table, expected)


def test_payment_failure_rate_per_day_has_every_day():
    table = payment_failure_rate(EVENTS, ORDERS, start=DAY, end=date(2026, 3, 4), tz=TZ, by="date")
    expected = pl.DataFrame(
        {
            "date": [DAY, date(2026, 3, 3), date(2026, 3, 4)],
            "checkouts": [8, 1, 0],
            "failed_checkouts": [5, 1, 0],
            "payment_failure_rate": [5 / 8, 1.0, None],
        },
        schema_overrides={"checkouts": pl.Int64, "failed_checkouts": pl.Int64},
    )
    assert_frame_equal(table, expected)


def test_coupon_summary():
    table = coupon_summary(ORDERS, start=DAY, end=DAY, tz=TZ)
    # valid orders 1, 2, 3, 5; only 2 has a code; order 3's discount without a coupon costs too,
    # cancelled order 4's does not
    expected = pl.DataFrame(
        {"orders": [4], "coupon_orders": [1], "redemption_rate": [0.25], "discount_cost": [15.0]},
        schema_overrides={"orders": pl.Int64, "coupon_orders": pl.Int64},
    )
    assert_frame_equal(table, expected)


def test_repeat_purchase_of_coupon_buyers_and_other_buyers():
    orders = make_orders(
        [
            (1, 21, "2026-03-02 01:00", 10.0, "completed", "alipay", "SAVE10", 1.0),
            (2, 21, "2026-03-02 02:00", 10.0, "completed", "alipay", None, 0.0),  # 21: coupon, repeat
            (3, 22, "2026-03-02 03:00", 10.0, "paid", "alipay", "SAVE10", 1.0),  # 22: coupon, once
            (4, 23, "2026-03-02 04:00", 10.0, "cancelled", "alipay", "SAVE10", 1.0),
            (5, 23, "2026-03-02 05:00", 10.0, "paid", "alipay", None, 0.0),  # 23: other, once
            (6, 24, "2026-03-02 06:00", 10.0, "paid", "alipay", None, 0.0),
            (7, 24, "2026-03-02 07:00", 10.0, "refunded", "alipay", None, 0.0),  # 24: other, repeat
            (8, 25, "2026-03-01 15:00", 10.0, "paid", "alipay", None, 0.0),  # the day before
            (9, 25, "2026-03-02 08:00", 10.0, "paid", "alipay", None, 0.0),  # 25: other, once
        ]
    )
    table = coupon_repeat_purchase(orders, start=DAY, end=DAY, tz=TZ)
    expected = pl.DataFrame(
        {
            "buyer_group": ["coupon", "other"],
            "buyers": [2, 3],
            "repeat_buyers": [1, 1],
            "repeat_purchase_rate": [0.5, 1 / 3],
        },
        schema_overrides={"buyers": pl.Int64, "repeat_buyers": pl.Int64},
    )
    assert_frame_equal(table, expected)
    empty = coupon_repeat_purchase(orders, start=date(2026, 4, 1), end=date(2026, 4, 1), tz=TZ)
    assert empty.rows() == [("coupon", 0, 0, None), ("other", 0, 0, None)]


ORIGIN = datetime(2026, 3, 1, 12, tzinfo=UTC)  # 20:00 local, the day before START
START, END = date(2026, 3, 2), date(2026, 3, 3)
WINDOW = timedelta(minutes=30)
VALID = ("paid", "shipped", "completed", "refunded")
moments = st.integers(0, 4 * 24 * 3600).map(lambda seconds: ORIGIN + timedelta(seconds=seconds))
users = st.integers(1, 3)
# Follow-ups at the edges of the window: before, at, inside, exactly at and just after 30 min.
offsets = st.sampled_from([-60, 0, 60, 1799, 1800, 1801, 3600]).map(
    lambda seconds: timedelta(seconds=seconds)
)
statuses = st.sampled_from(["paid", "cancelled", "pending", "refunded"])


def near(checkout, offset, other_user, same_user):
    user, time = checkout
    return (user if same_user else other_user, time + offset)


@st.composite
def checkout_histories(draw):
    """Checkouts at random; purchases and orders at random or at a checkout's window edges,
    by its user or by another."""
    checkouts = draw(st.lists(st.tuples(users, moments), max_size=12))
    completion = st.tuples(users, moments)
    if checkouts:
        completion |= st.builds(near, st.sampled_from(checkouts), offsets, users, st.booleans())
    purchases = draw(st.lists(completion, max_size=12))
    orders = draw(st.lists(st.tuples(completion, statuses), max_size=12))
    return checkouts, purchases, [(user, time, status) for (user, time), status in orders]


def failures_by_hand(checkouts, purchases, orders) -> dict[date, tuple[int, int]]:
    """Per local day: (checkouts, failed), by looking at every completion of the same user."""
    zone = ZoneInfo(TZ)
    completions = purchases + [(user, time) for user, time, status in orders if status in VALID]
    days: dict[date, tuple[int, int]] = {}
    for user, time in checkouts:
        day = time.astimezone(zone).date()
        if not START <= day <= END:
            continue
        paid = any(other == user and time <= done <= time + WINDOW for other, done in completions)
        count, failed = days.get(day, (0, 0))
        days[day] = (count + 1, failed + (not paid))
    return days


@settings(max_examples=300, deadline=None)
@given(checkout_histories())
def test_payment_failure_rate_matches_a_pure_python_oracle(history):
    checkouts, purchases, orders = history
    events = pl.DataFrame(
        {
            "user_id": [user for user, _ in checkouts + purchases],
            "event_time": [time for _, time in checkouts + purchases],
            "event_type": ["checkout"] * len(checkouts) + ["purchase"] * len(purchases),
        },
        schema={"user_id": pl.Int64, "event_time": UTC_TIME, "event_type": pl.String},
    )
    order_frame = pl.DataFrame(
        orders, schema={"user_id": pl.Int64, "created_at": UTC_TIME, "status": pl.String}, orient="row"
    )
    table = payment_failure_rate(events, order_frame, start=START, end=END, tz=TZ, by="date")
    by_hand = failures_by_hand(checkouts, purchases, orders)
    expected = [(day, *by_hand.get(day, (0, 0))) for day in (START, END)]
    assert table.select("date", "checkouts", "failed_checkouts").rows() == expected
    assert table["payment_failure_rate"].to_list() == [
        failed / count if count else None for _, count, failed in expected
    ]


SAMPLE_START, SAMPLE_END = date(2026, 8, 25), date(2026, 11, 22)
VALID_SQL = "status IN ('paid', 'shipped', 'completed', 'refunded')"
FAILURE_SQL = f"""
WITH completions AS (
    SELECT user_id, event_time AS done FROM events WHERE event_type = 'purchase'
    UNION ALL SELECT user_id, created_at FROM orders WHERE {VALID_SQL}
),
checkouts AS (
    SELECT user_id, event_time, CAST(timezone($tz, event_time) AS DATE) AS day
    FROM events WHERE event_type = 'checkout'
)
SELECT CAST(d AS DATE) AS date,
       (SELECT COUNT(*) FROM checkouts k WHERE k.day = CAST(d AS DATE)) AS checkouts,
       (SELECT COUNT(*) FROM checkouts k WHERE k.day = CAST(d AS DATE) AND NOT EXISTS (
            SELECT 1 FROM completions c WHERE c.user_id = k.user_id
            AND c.done BETWEEN k.event_time AND k.event_time + INTERVAL 30 MINUTE)) AS failed_checkouts
FROM range($start, $end + INTERVAL 1 DAY, INTERVAL 1 DAY) t(d) ORDER BY 1
"""
ORDERS_SQL = f"""
SELECT * FROM orders
WHERE {VALID_SQL} AND CAST(timezone($tz, created_at) AS DATE) BETWEEN $start AND $end
"""
METHODS_SQL = """
SELECT COALESCE(payment_method, '(unknown)') AS payment_method, COUNT(*) AS orders, SUM(amount) AS gmv,
       COUNT(*) / SUM(COUNT(*)) OVER () AS order_share, SUM(amount) / SUM(SUM(amount)) OVER () AS gmv_share
FROM period_orders GROUP BY 1 ORDER BY gmv DESC, payment_method
"""
COUPONS_SQL = """
SELECT COUNT(*) AS orders, COUNT(*) FILTER (WHERE trim(coupon_code) <> '') AS coupon_orders,
       COUNT(*) FILTER (WHERE trim(coupon_code) <> '') / COUNT(*) AS redemption_rate,
       COALESCE(SUM(discount), 0) AS discount_cost
FROM period_orders
"""
REPEAT_SQL = """
WITH buyers AS (
    SELECT user_id, COUNT(*) AS orders, bool_or(trim(coupon_code) <> '') AS used_coupon
    FROM period_orders GROUP BY user_id
)
SELECT CASE WHEN used_coupon THEN 'coupon' ELSE 'other' END AS buyer_group, COUNT(*) AS buyers,
       COUNT(*) FILTER (WHERE orders >= 2) AS repeat_buyers,
       COUNT(*) FILTER (WHERE orders >= 2) / COUNT(*) AS repeat_purchase_rate
FROM buyers GROUP BY 1 ORDER BY 1
"""


def test_payment_and_coupon_metrics_equal_duckdb_oracles_on_the_sample_shop(small_shop):
    period = {"start": SAMPLE_START, "end": SAMPLE_END, "tz": TZ}
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    connection.register("events", small_shop.events.to_arrow())
    connection.register("orders", small_shop.orders.to_arrow())
    period_orders = connection.sql(ORDERS_SQL, params=period).pl()
    connection.register("period_orders", period_orders.to_arrow())

    def oracle(sql: str, params: dict | None = None) -> pl.DataFrame:
        frame = connection.sql(sql, params=params).pl()
        return frame.cast({name: pl.Int64 for name, dtype in frame.schema.items() if dtype.is_integer()})

    failures = oracle(FAILURE_SQL, period).with_columns(
        payment_failure_rate=pl.when(pl.col("checkouts") > 0).then(
            pl.col("failed_checkouts") / pl.col("checkouts")
        )
    )
    assert failures["failed_checkouts"].sum() > 0
    table = payment_failure_rate(small_shop.events, small_shop.orders, **period, by="date")
    assert_frame_equal(table, failures)
    # the loaded shop's labels are categorical, DuckDB's text
    methods = payment_methods(small_shop.orders, **period).with_columns(pl.col("payment_method").cast(pl.String))
    assert_frame_equal(methods, oracle(METHODS_SQL))
    assert_frame_equal(coupon_summary(small_shop.orders, **period), oracle(COUPONS_SQL))
    assert_frame_equal(coupon_repeat_purchase(small_shop.orders, **period), oracle(REPEAT_SQL))
