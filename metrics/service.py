"""Customer service and fulfilment: how fast tickets are answered and orders shipped.

SPEC section 3, Service: "first-response time = first_response_at - created_at; share
answered within 24 h; resolution time; return rate = orders with a return ticket or refund /
valid orders; mean satisfaction." Fulfilment: "order-to-ship = shipped_at - paid_at (else
created_at); ship-to-delivery = delivered_at - shipped_at; late = over a setting (default 48 h
to ship)."

Medians and 90th percentiles interpolate linearly between the two nearest values (numpy's
default) and skip what has not happened yet (an unanswered ticket, an unshipped order).
"""

from datetime import date, datetime

import polars as pl

from metrics.orders import is_valid_order, refund_lines
from metrics.registry import ratio
from metrics.time import as_utc, calendar, in_days

DEFAULT_PROMISE_HOURS = 24
DEFAULT_LATE_AFTER_HOURS = 48
DEFAULT_BIN_HOURS = 6
AWAITING_SHIPMENT = "paid"
FULFILMENT_MEASURES = ("order_to_ship_hours", "ship_to_delivery_hours")
_MICROSECONDS_PER_HOUR = 3_600_000_000
_TICKET_TIMES = ("created_at", "first_response_at", "resolved_at")
_ORDER_TIMES = ("created_at", "paid_at", "shipped_at", "delivered_at", "refunded_at")


def _hours(start: pl.Expr, finish: pl.Expr) -> pl.Expr:
    return (finish - start).dt.total_microseconds() / _MICROSECONDS_PER_HOUR


def _median_and_p90(column: str) -> list[pl.Expr]:
    return [
        pl.col(column).median().alias(f"{column}_median"),
        pl.col(column).quantile(0.9, interpolation="linear").alias(f"{column}_p90"),
    ]


def _count(condition: pl.Expr, name: str) -> pl.Expr:
    return condition.sum().cast(pl.Int64).alias(name)


def _latest(frame: pl.DataFrame, columns: tuple[str, ...]) -> datetime | None:
    """The latest of the named timestamps in `frame`: how far its data reaches."""
    present = [name for name in columns if name in frame.columns]
    return frame.select(pl.max_horizontal(pl.col(present).max())).item()


def _summarise(
    frame: pl.DataFrame, measures: list[pl.Expr], by: str | None, start: date, end: date
) -> pl.DataFrame:
    """`measures` over the whole frame (by None), per `by` value sorted by it, or per `date`
    with every day start..end present: zero counts (the Int64 columns) and null times on days
    without rows."""
    if by is None:
        return frame.select(measures)
    table = frame.group_by(by).agg(measures).sort(by)
    if by != "date":
        return table
    counts = [name for name, dtype in table.schema.items() if dtype == pl.Int64]
    return (
        calendar(start, end)
        .join(table, on="date", how="left")
        .with_columns(pl.col(counts).fill_null(0))
    )


def ticket_times(tickets: pl.DataFrame) -> pl.DataFrame:
    """`tickets` with UTC-aware times, first_response_hours = first_response_at - created_at
    and resolution_hours = resolved_at - created_at (null while not there)."""
    tickets = as_utc(tickets, *_TICKET_TIMES)
    return tickets.with_columns(
        first_response_hours=_hours(pl.col("created_at"), pl.col("first_response_at")),
        resolution_hours=_hours(pl.col("created_at"), pl.col("resolved_at")),
    )


def return_rate(
    tickets: pl.DataFrame,
    orders: pl.DataFrame,
    *,
    start: date,
    end: date,
    tz: str,
    by: str | None = None,
) -> pl.DataFrame:
    """Returned orders among the valid orders created on business days start..end.

    SPEC: "return rate = orders with a return ticket or refund / valid orders". An order is
    returned when a ticket of category "return" names it (whenever it was opened) or it is
    refunded (`refund_amount`, or status refunded). `by`: None for one row, "date" for one row
    per day of order creation (every day present).
    Columns: [date], orders, returned_orders, return_rate.
    """
    if by not in (None, "date"):
        raise ValueError(f"return rate is by None or 'date', not {by!r}")
    returned = pl.concat(
        [
            tickets.filter(pl.col("category") == "return").select("order_id").drop_nulls(),
            refund_lines(orders).select("order_id"),
        ],
        how="vertical_relaxed",
    )["order_id"]
    valid = in_days(
        as_utc(orders, "created_at").filter(is_valid_order()), "created_at", start, end, tz
    )
    counts = [
        pl.len().cast(pl.Int64).alias("orders"),
        _count(pl.col("order_id").is_in(returned.implode()), "returned_orders"),
    ]
    return _summarise(valid, counts, by, start, end).with_columns(
        return_rate=ratio("returned_orders", "orders")
    )


def service_summary(
    tickets: pl.DataFrame,
    orders: pl.DataFrame,
    *,
    start: date,
    end: date,
    tz: str,
    promise_hours: float = DEFAULT_PROMISE_HOURS,
    by: str | None = None,
    as_of: datetime | None = None,
) -> pl.DataFrame:
    """Service quality for tickets created on business days start..end.

    SPEC: "first-response time = first_response_at - created_at; share answered within 24 h;
    resolution time; return rate = orders with a return ticket or refund / valid orders; mean
    satisfaction." Per group of tickets:
    - tickets; first_response_hours_median and _p90 over answered tickets;
    - answered_within_promise: first response at most `promise_hours` after creation (exactly
      24 h is within); tickets_due: answered tickets plus unanswered ones whose promise has
      run out by `as_of` (UTC-aware; default: the latest timestamp in `tickets`, how far the
      data reaches), which count as not answered in time; an unanswered ticket still inside its
      promise is not judged yet. answered_within_promise_share = the first / the second;
    - resolution_hours_median over resolved tickets (resolved_at - created_at);
    - mean_satisfaction over rated tickets (null ratings ignored);
    - orders, returned_orders, return_rate as in `return_rate`, over valid orders created in
      the period (by "date": on that day). Returns are an order measure with no ticket
      category or contact channel, so they are null in those breakdowns.
    `by`: None (one row), "date" (every day present), "category" or "channel" (the ticket's
    contact channel); groups sorted by name.
    """
    if by not in (None, "date", "category", "channel"):
        raise ValueError(f"service summary is by None, 'date', 'category' or 'channel', not {by!r}")
    timed = ticket_times(tickets)
    as_of = as_of or _latest(timed, _TICKET_TIMES)
    answered = pl.col("first_response_at").is_not_null()
    promise_passed = _hours(pl.col("created_at"), pl.lit(as_of)) >= promise_hours
    measures = [
        pl.len().cast(pl.Int64).alias("tickets"),
        *_median_and_p90("first_response_hours"),
        _count(pl.col("first_response_hours") <= promise_hours, "answered_within_promise"),
        _count(answered | promise_passed, "tickets_due"),
        pl.col("resolution_hours").median().alias("resolution_hours_median"),
        pl.col("satisfaction").cast(pl.Float64).mean().alias("mean_satisfaction"),
    ]
    table = _summarise(in_days(timed, "created_at", start, end, tz), measures, by, start, end)
    table = table.with_columns(
        answered_within_promise_share=ratio("answered_within_promise", "tickets_due")
    )
    if by in ("category", "channel"):
        return table.with_columns(
            pl.lit(None, pl.Int64).alias("orders"),
            pl.lit(None, pl.Int64).alias("returned_orders"),
            pl.lit(None, pl.Float64).alias("return_rate"),
        )
    returns = return_rate(tickets, orders, start=start, end=end, tz=tz, by=by)
    if by is None:
        return pl.concat([table, returns], how="horizontal")
    return table.join(returns, on="date", how="left", maintain_order="left")


def _ship_clock_start(orders: pl.DataFrame) -> pl.Expr:
    """When the wait for shipping starts: payment, else the order's creation."""
    if "paid_at" in orders.columns:
        return pl.coalesce(pl.col("paid_at"), pl.col("created_at"))
    return pl.col("created_at")


def fulfilment_times(orders: pl.DataFrame) -> pl.DataFrame:
    """`orders` with UTC-aware times, order_to_ship_hours = shipped_at - paid_at (else
    created_at) and ship_to_delivery_hours = delivered_at - shipped_at (null while not there,
    or when the source has no delivered_at)."""
    orders = as_utc(orders, *_ORDER_TIMES)
    delivered_at = pl.col("delivered_at")
    if "delivered_at" not in orders.columns:
        delivered_at = pl.lit(None, orders.schema["shipped_at"])
    return orders.with_columns(
        order_to_ship_hours=_hours(_ship_clock_start(orders), pl.col("shipped_at")),
        ship_to_delivery_hours=_hours(pl.col("shipped_at"), delivered_at),
    )


def fulfilment_summary(
    orders: pl.DataFrame,
    *,
    start: date,
    end: date,
    tz: str,
    late_after_hours: float = DEFAULT_LATE_AFTER_HOURS,
    by: str | None = None,
    as_of: datetime | None = None,
) -> pl.DataFrame:
    """Shipping and delivery times of valid orders created on business days start..end.

    SPEC: "order-to-ship = shipped_at - paid_at (else created_at); ship-to-delivery =
    delivered_at - shipped_at; late = over a setting (default 48 h to ship)." Columns:
    [date], orders, shipped_orders, order_to_ship_hours_median and _p90 (over shipped orders),
    ship_to_delivery_hours_median and _p90 (over delivered orders), late_orders, orders_due,
    late_share = late_orders / orders_due.
    An order is late when it shipped more than `late_after_hours` after payment (exactly 48 h
    is on time), or when it still awaits shipment (status "paid", no shipped_at) and that many
    hours have passed by `as_of` (UTC-aware; default: the latest timestamp in `orders`, how far
    the data reaches). orders_due = shipped orders plus those overdue ones: an order still
    inside its limit, or refunded before shipping, is not judged. `by`: None (one row) or "date" (day of
    order creation, every day present).
    """
    if by not in (None, "date"):
        raise ValueError(f"fulfilment summary is by None or 'date', not {by!r}")
    timed = fulfilment_times(orders)
    as_of = as_of or _latest(timed, _ORDER_TIMES)
    shipped = pl.col("shipped_at").is_not_null()
    overdue = (
        ~shipped
        & (pl.col("status") == AWAITING_SHIPMENT)
        & (_hours(_ship_clock_start(timed), pl.lit(as_of, dtype=pl.Datetime("us", "UTC"))) >= late_after_hours)
    )
    shipped_late = (pl.col("order_to_ship_hours") > late_after_hours).fill_null(False)
    measures = [
        pl.len().cast(pl.Int64).alias("orders"),
        _count(shipped, "shipped_orders"),
        *_median_and_p90("order_to_ship_hours"),
        *_median_and_p90("ship_to_delivery_hours"),
        _count(shipped_late | overdue, "late_orders"),
        _count(shipped | overdue, "orders_due"),
    ]
    period = in_days(timed.filter(is_valid_order()), "created_at", start, end, tz)
    return _summarise(period, measures, by, start, end).with_columns(
        late_share=ratio("late_orders", "orders_due")
    )


def fulfilment_distribution(
    orders: pl.DataFrame, *, start: date, end: date, tz: str, bin_hours: float = DEFAULT_BIN_HOURS
) -> pl.DataFrame:
    """Histogram bins of the order-to-ship and ship-to-delivery hours of valid orders created
    on business days start..end.

    Columns: measure ("order_to_ship_hours", then "ship_to_delivery_hours"), bin_start_hours,
    bin_end_hours (a bin holds start <= hours < end), orders. Every bin from a measure's
    lowest to its highest is present, empty ones with 0 orders.
    """
    timed = in_days(
        fulfilment_times(orders).filter(is_valid_order()), "created_at", start, end, tz
    )
    binned = (
        pl.concat(
            [timed.select(measure=pl.lit(name), hours=pl.col(name)) for name in FULFILMENT_MEASURES]
        )
        .drop_nulls("hours")
        .with_columns(bin=(pl.col("hours") / bin_hours).floor().cast(pl.Int64))
    )
    every_bin = (
        binned.group_by("measure")
        .agg(bin=pl.int_range(pl.col("bin").min(), pl.col("bin").max() + 1))
        .explode("bin")
    )
    counts = binned.group_by("measure", "bin").agg(orders=pl.len().cast(pl.Int64))
    return (
        every_bin.join(counts, on=["measure", "bin"], how="left")
        .sort("measure", "bin")
        .select(
            "measure",
            bin_start_hours=pl.col("bin") * float(bin_hours),
            bin_end_hours=(pl.col("bin") + 1) * float(bin_hours),
            orders=pl.col("orders").fill_null(0),
        )
    )
