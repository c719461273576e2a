"""Order-level definitions shared by the KPI, channel and drill-down views (SPEC section 3)."""

import polars as pl

VALID_ORDER_STATUSES = ("paid", "shipped", "completed", "refunded")


def is_valid_order() -> pl.Expr:
    """SPEC: "Valid order: status in paid, shipped, completed, refunded"."""
    return pl.col("status").is_in(VALID_ORDER_STATUSES)


def attribute_orders(orders: pl.DataFrame, users: pl.DataFrame) -> pl.DataFrame:
    """Give every order the channel and device the segment filters use.

    SPEC: "an order's [channel] is its own `channel`, else its user's acquisition channel."
    Orders carry no device, so an order's device is its user's `device` (null when unknown).
    """
    user_columns = [name for name in ("channel", "device") if name in users.columns]
    profile = users.select(
        "user_id", *[pl.col(name).alias(f"user_{name}") for name in user_columns]
    )
    attributed = orders.join(profile, on="user_id", how="left", maintain_order="left")
    own_channel = pl.col("channel") if "channel" in orders.columns else pl.lit(None, users.schema.get("channel", pl.Categorical))
    user_channel = pl.col("user_channel") if "channel" in user_columns else pl.lit(None, pl.String)
    user_device = pl.col("user_device") if "device" in user_columns else pl.lit(None, pl.String)
    # the user's channel in the order's own channel's dtype, so the two coalesce
    # (without either, the canonical label dtype: categories)
    own_dtype = orders.schema["channel"] if "channel" in orders.columns else users.schema.get("channel", pl.Categorical)
    return attributed.with_columns(
        channel=pl.coalesce(own_channel, user_channel.cast(own_dtype)), device=user_device
    ).drop([f"user_{name}" for name in user_columns])


def refund_lines(orders: pl.DataFrame) -> pl.DataFrame:
    """One row per refunded valid order: `refund` money and the `refund_time` it counts at.

    SPEC: "Refunds = sum of `refund_amount` (or `amount` of refunded orders when that column is
    absent) by `refunded_at` (else `created_at`)." Where the column exists but is empty for an
    order whose status is refunded, its `amount` is the refund, so a full refund recorded only
    by status is not lost. Only valid orders refund: a cancelled order never entered GMV, so
    it cannot be subtracted from it.
    """
    has_amount_column = "refund_amount" in orders.columns
    refund = pl.when(pl.col("status") == "refunded").then(pl.col("amount")).otherwise(0.0)
    if has_amount_column:
        refund = pl.coalesce(pl.col("refund_amount"), refund)
    refund_time = pl.col("created_at")
    if "refunded_at" in orders.columns:
        refund_time = pl.coalesce(pl.col("refunded_at"), refund_time)
    return (
        orders.filter(is_valid_order())
        .with_columns(refund=refund.cast(pl.Float64), refund_time=refund_time)
        .filter(pl.col("refund") > 0)
    )
