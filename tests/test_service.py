"""Service quality, returns and fulfilment on hand-made tickets and orders.

Business zone Asia/Shanghai (UTC+8): 2026-03-02 local runs from 2026-03-01 16:00 UTC to
2026-03-02 16:00 UTC.
"""

from datetime import date

import duckdb
import polars as pl
import pytest
from conftest import utc
from polars.testing import assert_frame_equal, assert_series_equal

from metrics.service import (
    fulfilment_distribution,
    fulfilment_summary,
    fulfilment_times,
    service_summary,
)

TZ = "Asia/Shanghai"
DAY, NEXT_DAY, DAY_AFTER = date(2026, 3, 2), date(2026, 3, 3), date(2026, 3, 4)
UTC_TIME = pl.Datetime("us", "UTC")
SECOND = 1 / 3600


def timed_frame(rows, schema) -> pl.DataFrame:
    """A frame from literal rows whose datetime columns are given as UTC text."""
    dtypes = list(schema.values())
    converted = [
        tuple(utc(value) if dtype == UTC_TIME and value else value for value, dtype in zip(row, dtypes))
        for row in rows
    ]
    return pl.DataFrame(converted, schema=schema, orient="row")


TICKETS = timed_frame(
    [
        # answered after exactly 24 h: within the promise
        (1, "2026-03-02 01:00", "inquiry", None, "2026-03-03 01:00", "2026-03-03 05:00", "chat", 5),
        # answered 24 h 1 s after: late; no rating
        (2, "2026-03-02 02:00", "complaint", None, "2026-03-03 02:00:01", "2026-03-03 12:00", "phone", None),
        (3, "2026-03-02 03:00", "return", 3, "2026-03-02 05:00", None, "chat", 3),
        # unanswered, 26 h before the data's end (03-03 12:00): counts as not answered in time
        (4, "2026-03-02 10:00", "inquiry", None, None, None, "email", None),
        # unanswered, 21 h before the data's end: not judged yet
        (5, "2026-03-02 15:00", "other", None, None, None, "email", None),
        (6, "2026-03-02 16:00", "return", 6, "2026-03-03 00:00", None, "email", 4),  # 03-03 00:00 local
        (7, "2026-03-01 15:59", "inquiry", None, "2026-03-01 16:30", None, "chat", 1),  # 03-01 local
    ],
    {
        "ticket_id": pl.Int64, "created_at": UTC_TIME, "category": pl.String, "order_id": pl.Int64,
        "first_response_at": UTC_TIME, "resolved_at": UTC_TIME, "channel": pl.String,
        "satisfaction": pl.Int32,
    },
)
SERVICE_ORDERS = timed_frame(
    [
        (1, "2026-03-02 01:00", 10.0, "completed", None),
        (2, "2026-03-02 02:00", 20.0, "refunded", 20.0),  # refunded: returned
        (3, "2026-03-02 03:00", 30.0, "completed", None),  # ticket 3 returns it
        (4, "2026-03-02 04:00", 40.0, "cancelled", None),  # not a valid order
        (5, "2026-03-02 05:00", 50.0, "completed", None),
        (6, "2026-03-02 16:30", 60.0, "completed", None),  # 03-03 local; ticket 6 returns it
    ],
    {
        "order_id": pl.Int64, "created_at": UTC_TIME, "amount": pl.Float64, "status": pl.String,
        "refund_amount": pl.Float64,
    },
)
SERVICE_COUNTS = ("tickets", "answered_within_promise", "tickets_due", "orders", "returned_orders")


def service_frame(columns: dict) -> pl.DataFrame:
    dtypes = {name: pl.Int64 for name in SERVICE_COUNTS} | {"return_rate": pl.Float64}
    return pl.DataFrame(columns, schema_overrides=dtypes)


def test_service_summary_for_the_period():
    table = service_summary(TICKETS, SERVICE_ORDERS, start=DAY, end=DAY, tz=TZ)
    expected = service_frame(
        {
            "tickets": [5],
            "first_response_hours_median": [24.0],  # of 2, 24 and 24 h 1 s
            "first_response_hours_p90": [24 + 0.8 * SECOND],
            "answered_within_promise": [2],  # tickets 1 and 3
            "tickets_due": [4],  # 1, 2, 3 answered; 4 overdue
            "resolution_hours_median": [31.0],  # 28 and 34
            "mean_satisfaction": [4.0],  # 5 and 3; null ratings ignored
            "answered_within_promise_share": [0.5],
            "orders": [4],
            "returned_orders": [2],
            "return_rate": [0.5],
        }
    )
    assert_frame_equal(table, expected)


def test_service_summary_by_category_leaves_returns_empty():
    table = service_summary(TICKETS, SERVICE_ORDERS, start=DAY, end=DAY, tz=TZ, by="category")
    expected = service_frame(
        {
            "category": ["complaint", "inquiry", "other", "return"],
            "tickets": [1, 2, 1, 1],
            "first_response_hours_median": [24 + SECOND, 24.0, None, 2.0],
            "first_response_hours_p90": [24 + SECOND, 24.0, None, 2.0],
            "answered_within_promise": [0, 1, 0, 1],
            "tickets_due": [1, 2, 0, 1],
            "resolution_hours_median": [34.0, 28.0, None, None],
            "mean_satisfaction": [None, 5.0, None, 3.0],
            "answered_within_promise_share": [0.0, 0.5, None, 1.0],
            "orders": [None, None, None, None],
            "returned_orders": [None, None, None, None],
            "return_rate": [None, None, None, None],
        }
    )
    assert_frame_equal(table, expected)


def test_service_summary_per_day_splits_at_midnight_in_shanghai():
    table = service_summary(TICKETS, SERVICE_ORDERS, start=DAY, end=DAY_AFTER, tz=TZ, by="date")
    expected = service_frame(
        {
            "date": [DAY, NEXT_DAY, DAY_AFTER],
            "tickets": [5, 1, 0],
            "first_response_hours_median": [24.0, 8.0, None],
            "first_response_hours_p90": [24 + 0.8 * SECOND, 8.0, None],
            "answered_within_promise": [2, 1, 0],
            "tickets_due": [4, 1, 0],
            "resolution_hours_median": [31.0, None, None],
            "mean_satisfaction": [4.0, 4.0, None],
            "answered_within_promise_share": [0.5, 1.0, None],
            "orders": [4, 1, 0],
            "returned_orders": [2, 1, 0],
            "return_rate": [0.5, 1.0, None],
        }
    )
    assert_frame_equal(table, expected)


def test_a_later_data_end_judges_the_open_ticket():
    table = service_summary(TICKETS, SERVICE_ORDERS, start=DAY, end=DAY, tz=TZ, as_of=utc("2026-03-03 15:00"))
    assert table.select("answered_within_promise", "tickets_due").row(0) == (2, 5)


ORDERS = timed_frame(
    [
        # shipped 24 h after payment, delivered 12 h later
        (1, "2026-03-02 01:00", "completed", "2026-03-02 01:10", "2026-03-03 01:10", "2026-03-03 13:10"),
        # no paid_at: 48 h from creation, exactly the limit, on time; delivered 6 h later
        (2, "2026-03-02 02:00", "completed", None, "2026-03-04 02:00", "2026-03-04 08:00"),
        # 48 h 1 s: late; not delivered yet
        (3, "2026-03-02 03:00", "shipped", "2026-03-02 03:00", "2026-03-04 03:00:01", None),
        # awaiting shipment 54 h at the data's end (03-04 10:00): late
        (4, "2026-03-02 04:00", "paid", "2026-03-02 04:00", None, None),
        # awaiting shipment 43 h at the data's end: not judged yet
        (5, "2026-03-02 15:00", "paid", "2026-03-02 15:00", None, None),
        # refunded before shipping: not judged
        (6, "2026-03-02 05:00", "refunded", "2026-03-02 05:00", None, None),
        (7, "2026-03-02 06:00", "cancelled", None, None, None),  # not a valid order
        # 03-03 00:00 local
        (8, "2026-03-02 16:00", "completed", "2026-03-02 16:00", "2026-03-03 16:00", "2026-03-04 10:00"),
    ],
    {
        "order_id": pl.Int64, "created_at": UTC_TIME, "status": pl.String, "paid_at": UTC_TIME,
        "shipped_at": UTC_TIME, "delivered_at": UTC_TIME,
    },
)
FULFILMENT_COUNTS = ("orders", "shipped_orders", "late_orders", "orders_due")


def fulfilment_frame(columns: dict) -> pl.DataFrame:
    return pl.DataFrame(columns, schema_overrides={name: pl.Int64 for name in FULFILMENT_COUNTS})


def test_fulfilment_per_day():
    table = fulfilment_summary(ORDERS, start=DAY, end=NEXT_DAY, tz=TZ, by="date")
    expected = fulfilment_frame(
        {
            "date": [DAY, NEXT_DAY],
            "orders": [6, 1],
            "shipped_orders": [3, 1],
            "order_to_ship_hours_median": [48.0, 24.0],  # of 24, 48 and 48 h 1 s
            "order_to_ship_hours_p90": [48 + 0.8 * SECOND, 24.0],
            "ship_to_delivery_hours_median": [9.0, 18.0],  # of 6 and 12
            "ship_to_delivery_hours_p90": [11.4, 18.0],
            "late_orders": [2, 0],  # 3 shipped late, 4 still waiting
            "orders_due": [4, 1],
            "late_share": [0.5, 0.0],
        }
    )
    assert_frame_equal(table, expected)


def test_fulfilment_over_the_period():
    table = fulfilment_summary(ORDERS, start=DAY, end=NEXT_DAY, tz=TZ)
    expected = fulfilment_frame(
        {
            "orders": [7],
            "shipped_orders": [4],
            "order_to_ship_hours_median": [36.0],  # of 24, 24, 48 and 48 h 1 s
            "order_to_ship_hours_p90": [48 + 0.7 * SECOND],
            "ship_to_delivery_hours_median": [12.0],  # of 6, 12 and 18
            "ship_to_delivery_hours_p90": [16.8],
            "late_orders": [2],
            "orders_due": [5],
            "late_share": [0.4],
        }
    )
    assert_frame_equal(table, expected)


def test_the_wait_starts_at_creation_without_paid_at_and_delivery_needs_delivered_at():
    times = fulfilment_times(ORDERS.drop("paid_at", "delivered_at"))
    # order 1 now waits from its creation, 10 minutes before its payment
    waits = [24 + 1 / 6, 48.0, 48 + SECOND, None, None, None, None, 24.0]
    assert_series_equal(times["order_to_ship_hours"], pl.Series("order_to_ship_hours", waits))
    assert times["ship_to_delivery_hours"].null_count() == times.height


def test_fulfilment_distribution_has_every_bin_between_the_extremes():
    table = fulfilment_distribution(ORDERS, start=DAY, end=NEXT_DAY, tz=TZ, bin_hours=12)
    expected = pl.DataFrame(
        {
            "measure": ["order_to_ship_hours"] * 3 + ["ship_to_delivery_hours"] * 2,
            "bin_start_hours": [24.0, 36.0, 48.0, 0.0, 12.0],
            "bin_end_hours": [36.0, 48.0, 60.0, 12.0, 24.0],
            "orders": [2, 0, 2, 1, 2],
        },
        schema_overrides={"orders": pl.Int64},
    )
    assert_frame_equal(table, expected)


@pytest.mark.parametrize("summary", [fulfilment_summary, service_summary])
def test_an_unknown_breakdown_is_refused(summary):
    frames = (ORDERS,) if summary is fulfilment_summary else (TICKETS, SERVICE_ORDERS)
    with pytest.raises(ValueError, match="not 'device'"):
        summary(*frames, start=DAY, end=DAY, tz=TZ, by="device")


HOURS = "/ 3600000000.0"
SERVICE_SQL = f"""
WITH data_end AS (
    SELECT greatest(MAX(created_at), MAX(first_response_at), MAX(resolved_at)) AS ends_at FROM tickets
),
timed AS (
    SELECT *, CAST(timezone($tz, created_at) AS DATE) AS day,
           date_diff('microsecond', created_at, first_response_at) {HOURS} AS first_response_hours,
           date_diff('microsecond', created_at, resolved_at) {HOURS} AS resolution_hours,
           date_diff('microsecond', created_at, (SELECT ends_at FROM data_end)) {HOURS} AS age_hours
    FROM tickets
),
returned AS (
    SELECT order_id FROM tickets WHERE category = 'return'
    UNION SELECT order_id FROM orders
    WHERE COALESCE(refund_amount, CASE WHEN status = 'refunded' THEN amount ELSE 0 END) > 0
),
valid AS (
    SELECT CAST(timezone($tz, created_at) AS DATE) AS day,
           order_id IN (SELECT order_id FROM returned) AS was_returned
    FROM orders WHERE status IN ('paid', 'shipped', 'completed', 'refunded')
),
days AS (SELECT CAST(d AS DATE) AS day FROM range($start, $end + INTERVAL 1 DAY, INTERVAL 1 DAY) t(d)),
service AS (
    SELECT days.day, COUNT(ticket_id) AS tickets,
           quantile_cont(first_response_hours, 0.5) AS first_response_hours_median,
           quantile_cont(first_response_hours, 0.9) AS first_response_hours_p90,
           COUNT(*) FILTER (WHERE first_response_hours <= 24) AS answered_within_promise,
           COUNT(*) FILTER (WHERE first_response_at IS NOT NULL OR age_hours >= 24) AS tickets_due,
           quantile_cont(resolution_hours, 0.5) AS resolution_hours_median,
           AVG(satisfaction) AS mean_satisfaction
    FROM days LEFT JOIN timed USING (day) GROUP BY days.day
),
returns AS (
    SELECT days.day, COUNT(was_returned) AS orders, COUNT(*) FILTER (WHERE was_returned) AS returned_orders
    FROM days LEFT JOIN valid USING (day) GROUP BY days.day
)
SELECT * FROM service JOIN returns USING (day) ORDER BY day
"""
FULFILMENT_SQL = f"""
WITH data_end AS (
    SELECT greatest(MAX(created_at), MAX(paid_at), MAX(shipped_at), MAX(delivered_at), MAX(refunded_at)) AS ends_at
    FROM orders
),
timed AS (
    SELECT CAST(timezone($tz, created_at) AS DATE) AS day, shipped_at,
           date_diff('microsecond', COALESCE(paid_at, created_at), shipped_at) {HOURS} AS order_to_ship_hours,
           date_diff('microsecond', shipped_at, delivered_at) {HOURS} AS ship_to_delivery_hours,
           shipped_at IS NULL AND status = 'paid' AND date_diff(
               'microsecond', COALESCE(paid_at, created_at), (SELECT ends_at FROM data_end)
           ) {HOURS} >= 48 AS overdue
    FROM orders WHERE status IN ('paid', 'shipped', 'completed', 'refunded')
)
SELECT CAST(d AS DATE) AS date, COUNT(overdue) AS orders, COUNT(shipped_at) AS shipped_orders,
       quantile_cont(order_to_ship_hours, 0.5) AS order_to_ship_hours_median,
       quantile_cont(order_to_ship_hours, 0.9) AS order_to_ship_hours_p90,
       quantile_cont(ship_to_delivery_hours, 0.5) AS ship_to_delivery_hours_median,
       quantile_cont(ship_to_delivery_hours, 0.9) AS ship_to_delivery_hours_p90,
       COUNT(*) FILTER (WHERE order_to_ship_hours > 48 OR overdue) AS late_orders,
       COUNT(*) FILTER (WHERE shipped_at IS NOT NULL OR overdue) AS orders_due
FROM range($start, $end + INTERVAL 1 DAY, INTERVAL 1 DAY) t(d) LEFT JOIN timed ON timed.day = CAST(d AS DATE)
GROUP BY 1 ORDER BY 1
"""


def test_service_and_fulfilment_per_day_equal_duckdb_oracles_on_the_sample_shop(small_shop):
    period = {"start": date(2026, 8, 25), "end": date(2026, 11, 22), "tz": TZ}
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    connection.register("tickets", small_shop.tickets.to_arrow())
    connection.register("orders", small_shop.orders.to_arrow())

    def oracle(sql: str) -> pl.DataFrame:
        frame = connection.sql(sql, params=period).pl()
        return frame.cast({name: pl.Int64 for name, dtype in frame.schema.items() if dtype.is_integer()})

    def share(numerator: str, denominator: str) -> pl.Expr:
        return pl.when(pl.col(denominator) > 0).then(pl.col(numerator) / pl.col(denominator))

    service = oracle(SERVICE_SQL).rename({"day": "date"}).with_columns(
        answered_within_promise_share=share("answered_within_promise", "tickets_due"),
        return_rate=share("returned_orders", "orders"),
    )
    table = service_summary(small_shop.tickets, small_shop.orders, **period, by="date")
    assert service["tickets"].sum() > 20 and service["returned_orders"].sum() > 0
    assert_frame_equal(table, service.select(table.columns))
    fulfilment = oracle(FULFILMENT_SQL).with_columns(late_share=share("late_orders", "orders_due"))
    assert fulfilment["late_orders"].sum() > 0
    assert_frame_equal(fulfilment_summary(small_shop.orders, **period, by="date"), fulfilment)
