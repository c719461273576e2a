"""How customers pay, how often paying fails, and what coupons bring (SPEC section 3).

SPEC, Payment: "payment failure rate = `checkout` events not followed by a `purchase` event or
a valid order of the same user within 30 minutes / `checkout` events; GMV and orders by
`payment_method`." Coupons: "redemption = valid orders with a `coupon_code` / valid orders;
discount cost = sum of `discount`; repeat purchase rate of coupon buyers vs others."
"""

from datetime import date, timedelta

import polars as pl

from metrics.orders import is_valid_order
from metrics.registry import ratio
from metrics.time import as_utc, calendar, in_days

DEFAULT_PAYMENT_WINDOW = timedelta(minutes=30)
UNKNOWN = "(unknown)"
BUYER_GROUPS = ("coupon", "other")


def _valid_orders(orders: pl.DataFrame, start: date, end: date, tz: str) -> pl.DataFrame:
    """Valid orders created on business days start..end, with that `date`."""
    valid = as_utc(orders, "created_at").filter(is_valid_order())
    return in_days(valid, "created_at", start, end, tz)


def _has_coupon() -> pl.Expr:
    return pl.col("coupon_code").str.strip_chars().fill_null("") != ""


def payment_methods(orders: pl.DataFrame, *, start: date, end: date, tz: str) -> pl.DataFrame:
    """Orders and GMV by payment method, for valid orders created on days start..end.

    SPEC: "GMV and orders by `payment_method`", GMV = sum of `amount` of valid orders by
    `created_at`. Columns: payment_method ("(unknown)" where empty), orders, gmv, order_share
    (of all valid orders in the period), gmv_share (of their GMV). By GMV (descending), then
    payment_method.
    """
    return (
        _valid_orders(orders, start, end, tz)
        .group_by(payment_method=pl.col("payment_method").fill_null(UNKNOWN))
        .agg(orders=pl.len().cast(pl.Int64), gmv=pl.col("amount").sum())
        .with_columns(total_orders=pl.col("orders").sum(), total_gmv=pl.col("gmv").sum())
        .with_columns(
            order_share=ratio("orders", "total_orders"), gmv_share=ratio("gmv", "total_gmv")
        )
        .select("payment_method", "orders", "gmv", "order_share", "gmv_share")
        .sort(["gmv", "payment_method"], descending=[True, False])
    )


def payment_failure_rate(
    events: pl.DataFrame,
    orders: pl.DataFrame,
    *,
    start: date,
    end: date,
    tz: str,
    window: timedelta = DEFAULT_PAYMENT_WINDOW,
    by: str | None = None,
) -> pl.DataFrame:
    """Checkouts that were not paid, for `checkout` events on business days start..end.

    SPEC: "payment failure rate = `checkout` events not followed by a `purchase` event or a
    valid order of the same user within 30 minutes / `checkout` events." A checkout is paid
    when the user's next purchase event or valid order (`created_at`) comes at the checkout's
    time or later and at most `window` after it (inclusive: exactly 30 minutes is in time).
    The follow-up may fall after the period's end, so a late-evening checkout is not failed
    by the cut. A checkout counts on the day of its own event.

    `by`: None for one row for the period, "date" for one row per day (every day present).
    Columns: [date], checkouts, failed_checkouts, payment_failure_rate.
    """
    if by not in (None, "date"):
        raise ValueError(f"payment failure rate is by None or 'date', not {by!r}")
    steps = as_utc(events, "event_time").filter(
        pl.col("event_type").is_in(["checkout", "purchase"])
    )
    checkouts = in_days(
        steps.filter(pl.col("event_type") == "checkout").select("user_id", "event_time"),
        "event_time", start, end, tz,
    )
    purchases = steps.filter(pl.col("event_type") == "purchase")
    valid_orders = as_utc(orders, "created_at").filter(is_valid_order())
    completions = pl.concat(
        [
            purchases.select("user_id", completed_at="event_time"),
            valid_orders.select("user_id", completed_at="created_at"),
        ],
        how="vertical_relaxed",
    ).sort("completed_at")
    # Both sides are sorted by time here; Polars cannot verify that within `by` groups.
    matched = checkouts.sort("event_time").join_asof(
        completions, left_on="event_time", right_on="completed_at", by="user_id",
        strategy="forward", check_sortedness=False,
    )
    failed = pl.col("completed_at").is_null() | (
        pl.col("completed_at") - pl.col("event_time") > window
    )
    counts = [
        pl.len().cast(pl.Int64).alias("checkouts"),
        failed.sum().cast(pl.Int64).alias("failed_checkouts"),
    ]
    if by is None:
        table = matched.select(counts)
    else:
        table = (
            calendar(start, end)
            .join(matched.group_by("date").agg(counts), on="date", how="left")
            .with_columns(pl.col("checkouts", "failed_checkouts").fill_null(0))
        )
    return table.with_columns(payment_failure_rate=ratio("failed_checkouts", "checkouts"))


def coupon_summary(orders: pl.DataFrame, *, start: date, end: date, tz: str) -> pl.DataFrame:
    """Coupon use in valid orders created on days start..end, as one row.

    SPEC: "redemption = valid orders with a `coupon_code` / valid orders; discount cost = sum
    of `discount`." Discount cost sums the discount of every valid order (a discount without
    a coupon is a cost too); cancelled and pending orders gave nothing away. A blank code is
    no coupon. Columns: orders, coupon_orders, redemption_rate, discount_cost.
    """
    return (
        _valid_orders(orders, start, end, tz)
        .select(
            orders=pl.len().cast(pl.Int64),
            coupon_orders=_has_coupon().sum().cast(pl.Int64),
            discount_cost=pl.col("discount").fill_null(0.0).sum().cast(pl.Float64),
        )
        .with_columns(redemption_rate=ratio("coupon_orders", "orders"))
        .select("orders", "coupon_orders", "redemption_rate", "discount_cost")
    )


def coupon_repeat_purchase(
    orders: pl.DataFrame, *, start: date, end: date, tz: str
) -> pl.DataFrame:
    """Repeat purchase rate of coupon buyers against other buyers, days start..end.

    SPEC: "repeat purchase rate of coupon buyers vs others", with "Repeat purchase rate(period)
    = buyers with at least 2 valid orders in the period / buyers". A coupon buyer has at least
    one valid order with a coupon in the period; every other buyer is "other".
    Columns: buyer_group ("coupon", then "other"; both always present), buyers,
    repeat_buyers, repeat_purchase_rate.
    """
    group = pl.when(pl.col("used_coupon")).then(pl.lit("coupon")).otherwise(pl.lit("other"))
    buyers = (
        _valid_orders(orders, start, end, tz)
        .group_by("user_id")
        .agg(orders=pl.len(), used_coupon=_has_coupon().any())
        .group_by(buyer_group=group)
        .agg(buyers=pl.len(), repeat_buyers=(pl.col("orders") >= 2).sum())
    )
    return (
        pl.DataFrame({"buyer_group": BUYER_GROUPS})
        .join(buyers, on="buyer_group", how="left", maintain_order="left")
        .with_columns(pl.col("buyers", "repeat_buyers").fill_null(0).cast(pl.Int64))
        .with_columns(repeat_purchase_rate=ratio("repeat_buyers", "buyers"))
    )
