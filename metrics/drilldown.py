"""What lies behind one day's numbers: its channels, top products and orders."""

from datetime import date

import polars as pl

from metrics.orders import is_valid_order
from metrics.registry import with_ratios
from metrics.time import utc_bounds


def _on_day(frame: pl.DataFrame, column: str, day: date, tz: str) -> pl.DataFrame:
    lower, upper = utc_bounds(day, day, tz)
    return frame.filter(pl.col(column) >= lower, pl.col(column) < upper)


def channels_on_day(sessions: pl.DataFrame, orders: pl.DataFrame, *, day: date, tz: str) -> pl.DataFrame:
    """Per channel on business day `day`: sessions, bounce rate, session conversion (sessions
    by their first event's channel) and orders, buyers, GMV, AOV (valid orders by attributed
    channel). Channels with sessions or orders that day, by GMV then sessions, descending.
    """
    traffic = (
        _on_day(sessions, "started_at", day, tz)
        .group_by("channel")
        .agg(
            sessions=pl.len(),
            bounced_sessions=(pl.col("event_count") == 1).sum(),
            converted_sessions=pl.col("has_purchase").sum(),
        )
    )
    sales = (
        _on_day(orders.filter(is_valid_order()), "created_at", day, tz)
        .group_by("channel")
        .agg(orders=pl.len(), buyers=pl.col("user_id").n_unique(), gmv=pl.col("amount").sum())
    )
    table = traffic.join(sales, on="channel", how="full", coalesce=True).with_columns(
        pl.col("sessions", "bounced_sessions", "converted_sessions", "orders", "buyers")
        .fill_null(0)
        .cast(pl.Int64),
        pl.col("gmv").fill_null(0.0),
    )
    table = with_ratios(table, ["bounce_rate", "session_conversion", "aov"])
    return table.select(
        pl.col("channel").fill_null("(unknown)"),
        "sessions", "bounce_rate", "session_conversion", "orders", "buyers", "gmv", "aov",
    ).sort(["gmv", "sessions", "channel"], descending=[True, True, False])


def top_products_on_day(
    orders: pl.DataFrame,
    order_items: pl.DataFrame,
    products: pl.DataFrame,
    *,
    day: date,
    tz: str,
    limit: int = 10,
) -> pl.DataFrame:
    """The `limit` products with the most GMV in valid orders created on `day`: product_id,
    name, category, orders, units, GMV (quantity x unit_price)."""
    day_orders = _on_day(orders.filter(is_valid_order()), "created_at", day, tz).select("order_id")
    return (
        order_items.join(day_orders, on="order_id", how="semi")
        .group_by("product_id")
        .agg(
            orders=pl.col("order_id").n_unique(),
            units=pl.col("quantity").sum(),
            gmv=(pl.col("quantity") * pl.col("unit_price")).sum(),
        )
        .join(products.select("product_id", "name", "category"), on="product_id", how="left")
        .sort(["gmv", "product_id"], descending=[True, False])
        .head(limit)
        .select("product_id", "name", "category", "orders", "units", "gmv")
    )


def orders_on_day(orders: pl.DataFrame, *, day: date, tz: str) -> pl.DataFrame:
    """Every order created on `day`, any status, newest first, with its local time."""
    columns = [c for c in ("order_id", "user_id", "amount", "status", "channel", "payment_method", "coupon_code") if c in orders.columns]
    return (
        _on_day(orders, "created_at", day, tz)
        .sort("created_at", descending=True)
        .select(pl.col("created_at").dt.convert_time_zone(tz).alias("created_at_local"), *columns)
    )
