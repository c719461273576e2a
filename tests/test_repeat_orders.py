"""New and repeat orders, repurchase within N days (SPEC section 3): hand-computed tables and a
DuckDB oracle on the sample shop."""

from datetime import date, timedelta

import duckdb
import polars as pl
import pytest
from conftest import UTC_TIME, utc
from polars.testing import assert_frame_equal

from metrics.repeat_orders import NEW_REPEAT_COLUMNS, REPURCHASE_COLUMNS, new_and_repeat_orders, repurchase_rates

TZ = "Asia/Shanghai"
FEBRUARY = (date(2026, 2, 1), date(2026, 2, 28))
ORDER_SCHEMA = {"order_id": pl.Int64, "user_id": pl.Int64, "created_at": UTC_TIME, "amount": pl.Float64, "status": pl.String}


def orders_frame(rows) -> pl.DataFrame:
    """Orders from (order_id, user_id, 'YYYY-MM-DD HH:MM' UTC, amount, status) rows."""
    return pl.DataFrame([(oid, user, utc(at), amount, status) for oid, user, at, amount, status in rows],
                        schema=ORDER_SCHEMA, orient="row")


# Business days are Shanghai days (UTC+8): 2026-01-31 16:00 UTC is 1 February.
ORDERS = orders_frame([
    (1, 1, "2026-01-10 02:00", 100.0, "completed"),  # user 1's first order, in January
    (2, 1, "2026-02-03 02:00", 50.0, "completed"),   # repeat (24 days after order 1)
    (3, 2, "2026-01-31 16:00", 80.0, "paid"),        # user 2's first, 1 February in Shanghai
    (4, 2, "2026-03-02 16:00", 20.0, "refunded"),    # exactly 30 days after order 3: inside
    (5, 3, "2026-02-10 02:00", 10.0, "cancelled"),   # not valid: user 3's first valid is order 6
    (6, 3, "2026-02-20 02:00", 30.0, "shipped"),
    (7, 3, "2026-02-20 02:00", 40.0, "paid"),        # same instant: the next of order 6, a repeat
    (8, 4, "2026-02-27 02:00", 60.0, "completed"),   # a lone buyer late in the month
    (9, 5, "2026-01-20 02:00", 70.0, "pending"),
])


def test_new_and_repeat_orders_by_hand():
    table = new_and_repeat_orders(ORDERS, start=FEBRUARY[0], end=FEBRUARY[1], tz=TZ)
    # new: orders 3, 6, 8 (users 2, 3, 4); repeat: orders 2 and 7 (users 1 and 3)
    expected = pl.DataFrame(
        [("new", 3, 3, 170.0, 170.0 / 3, 0.6, 170.0 / 260.0), ("repeat", 2, 2, 90.0, 45.0, 0.4, 90.0 / 260.0)],
        schema=dict(zip(NEW_REPEAT_COLUMNS, [pl.String, pl.Int64, pl.Int64, pl.Float64, pl.Float64, pl.Float64, pl.Float64])),
        orient="row",
    )
    assert_frame_equal(table, expected)


def test_a_period_without_orders_has_both_rows_with_zeros():
    table = new_and_repeat_orders(ORDERS, start=date(2026, 6, 1), end=date(2026, 6, 30), tz=TZ)
    assert table.rows() == [("new", 0, 0, 0.0, None, None, None), ("repeat", 0, 0, 0.0, None, None, None)]


def repurchase(rows) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=dict(zip(REPURCHASE_COLUMNS, [pl.Int64] * 4 + [pl.Float64, pl.Int64])), orient="row")


def test_repurchase_within_30_and_90_days_by_hand():
    # February's buyers 1, 2, 3, 4; their last February orders: 02-03, 02-01, 02-20, 02-27 (UTC
    # 2026-02-03 02:00, 01-31 16:00, 02-20 02:00, 02-27 02:00). Data end 2026-03-25 00:00 UTC.
    # 30 days: 1 (03-05), 2 (03-02 16:00), 3 (03-22) have passed, 4 (03-29) is pending.
    # Repurchased: 2 (order 4, exactly 30 days later) and 3 (order 7 at the same instant);
    # 1's next order never came. 90 days: nobody's have passed.
    table = repurchase_rates(ORDERS, start=FEBRUARY[0], end=FEBRUARY[1], tz=TZ, data_end=utc("2026-03-25 00:00"))
    assert_frame_equal(table, repurchase([(30, 4, 3, 2, 2 / 3, 1), (90, 4, 0, 0, None, 4)]))


def test_repurchase_ignores_orders_after_the_data_end_and_defaults_it_to_the_last_order():
    # With the data ending before order 4, user 2 did not (yet) come back; the default data end
    # is the latest order, 03-02 16:00, when only user 2's 30 days have passed.
    cut = repurchase_rates(ORDERS, start=FEBRUARY[0], end=FEBRUARY[1], tz=TZ, windows=(30,), data_end=utc("2026-03-02 15:59"))
    assert_frame_equal(cut, repurchase([(30, 4, 0, 0, None, 4)]))
    default = repurchase_rates(ORDERS, start=FEBRUARY[0], end=FEBRUARY[1], tz=TZ, windows=(30,))
    assert_frame_equal(default, repurchase([(30, 4, 1, 1, 1.0, 3)]))


def test_repurchase_by_month_lists_every_month():
    table = repurchase_rates(
        ORDERS, start=date(2026, 1, 1), end=date(2026, 3, 31), tz=TZ, windows=(30,), data_end=utc("2026-06-01 00:00"),
        period="month",
    )
    # January: user 1 (order 1, next 24 days later). February as above, all 4 due, 2 and 3 came
    # back. March: user 2's order 4 (3 March in Shanghai), never followed.
    expected = pl.DataFrame(
        [(date(2026, 1, 1), 30, 1, 1, 1, 1.0, 0), (date(2026, 2, 1), 30, 4, 4, 2, 0.5, 0),
         (date(2026, 3, 1), 30, 1, 1, 0, 0.0, 0)],
        schema={"period_start": pl.Date} | dict(zip(REPURCHASE_COLUMNS, [pl.Int64] * 4 + [pl.Float64, pl.Int64])),
        orient="row",
    )
    assert_frame_equal(table, expected)


def test_repurchase_windows_are_checked():
    with pytest.raises(ValueError, match="positive whole numbers"):
        repurchase_rates(ORDERS, start=FEBRUARY[0], end=FEBRUARY[1], tz=TZ, windows=(0,))


# --- the sample shop against DuckDB --------------------------------------------------------

ORACLE_SQL = """
WITH valid AS (
    SELECT order_id, user_id, created_at, amount,
           CAST(timezone($tz, created_at) AS DATE) AS day,
           ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY created_at, order_id) AS nth,
           LEAD(created_at) OVER (PARTITION BY user_id ORDER BY created_at, order_id) AS next_at
    FROM orders WHERE status IN ('paid', 'shipped', 'completed', 'refunded') AND created_at <= $data_end
), in_period AS (
    SELECT * FROM valid WHERE day BETWEEN $start AND $end
), buyers AS (
    SELECT date_trunc('month', day) AS month, user_id, MAX(created_at) AS last_at, MIN(next_at - created_at) AS gap
    FROM in_period GROUP BY 1, 2
)
SELECT 'kinds' AS part, CASE WHEN nth = 1 THEN 'new' ELSE 'repeat' END AS buyer_kind, NULL::DATE AS month,
       NULL::BIGINT AS window_days, COUNT(*) AS orders, COUNT(DISTINCT user_id) AS buyers, SUM(amount) AS gmv,
       NULL::BIGINT AS eligible, NULL::BIGINT AS repurchased
FROM in_period GROUP BY 2
UNION ALL
SELECT 'repurchase', NULL, CAST(month AS DATE), w.days, NULL, COUNT(*), NULL,
       COUNT(*) FILTER (WHERE last_at + w.days * INTERVAL 1 DAY <= $data_end),
       COUNT(*) FILTER (WHERE last_at + w.days * INTERVAL 1 DAY <= $data_end AND gap <= w.days * INTERVAL 1 DAY)
FROM buyers CROSS JOIN (VALUES (30), (90)) w(days) GROUP BY 3, 4
"""


def test_sample_shop_equals_hand_written_sql(small_shop):
    orders = small_shop.orders
    _, last_day = small_shop.date_span(TZ)
    start = date(last_day.year, last_day.month, 1) - timedelta(days=1)
    start = date(start.year, start.month, 1) - timedelta(days=1)
    start = date(start.year, start.month, 1)  # the first day of the month two months back
    data_end = orders["created_at"].max()
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    connection.register("orders", orders.to_arrow())
    raw = connection.sql(ORACLE_SQL, params={"tz": TZ, "start": start, "end": last_day, "data_end": data_end}).pl()

    kinds = new_and_repeat_orders(orders, start=start, end=last_day, tz=TZ)
    expected_kinds = raw.filter(pl.col("part") == "kinds").sort("buyer_kind")
    assert kinds.select("buyer_kind", "orders", "buyers").rows() == expected_kinds.select("buyer_kind", "orders", "buyers").rows()
    assert kinds["gmv"].to_list() == pytest.approx(expected_kinds["gmv"].to_list())
    assert kinds["orders"].min() > 5

    monthly = repurchase_rates(orders, start=start, end=last_day, tz=TZ, period="month")
    expected_monthly = (
        raw.filter(pl.col("part") == "repurchase")
        .select(period_start="month", window_days="window_days", buyers="buyers", eligible_buyers="eligible",
                repurchased_buyers="repurchased")
        .sort("period_start", "window_days")
    )
    assert_frame_equal(monthly.drop("repurchase_rate", "pending_buyers"), expected_monthly, check_dtypes=False)
    assert monthly["repurchased_buyers"].sum() > 0 and monthly["pending_buyers"].sum() > 0
    whole = repurchase_rates(orders, start=start, end=last_day, tz=TZ)
    assert whole["buyers"].to_list() == [orders.filter(
        pl.col("status").is_in(["paid", "shipped", "completed", "refunded"]),
        pl.col("created_at").dt.convert_time_zone(TZ).dt.date().is_between(start, last_day),
    )["user_id"].n_unique()] * 2
