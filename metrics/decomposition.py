"""Visitors, UV value and the GMV decomposition (SPEC section 3).

SPEC: "Visitors (访客数) of a period = distinct users (or anonymous visitors) with a session
starting in it. UV value (UV价值) = GMV / visitors. GMV decomposition: GMV = visitors x
visitor conversion (buyers / visitors) x orders per buyer x AOV; the change between two
periods is split over the factors by the logarithmic mean Divisia index (each factor's part =
L(GMV1, GMV0) x ln(f1 / f0), L the logarithmic mean), so the parts add up to the change
exactly; a factor that is 0 in either period makes the split empty, with the reason."

The factors of one period come from `gmv_factors` (the whole shop, or by channel) or
`category_gmv_factors`; `decompose_gmv` splits the change between two such frames. The
comparison period is the caller's choice (`metrics.periods.comparison_periods`).
"""

from collections.abc import Sequence
from datetime import date
from typing import Literal

import polars as pl

from metrics.orders import attribute_orders, is_valid_order
from metrics.registry import ratio
from metrics.time import as_utc, between, utc_bounds

FACTORS = ("visitors", "visitor_conversion", "orders_per_buyer", "aov")
FACTOR_COLUMNS = ("visitors", "buyers", "orders", "gmv", "visitor_conversion", "orders_per_buyer", "aov", "uv_value")
DECOMPOSITION_COLUMNS = ("factor", "comparison", "current", "relative_change", "part", "empty_reason")
UNKNOWN = "(unknown)"
_COUNTS = ("visitors", "buyers", "orders")
_PERIODS = {"current": "_current", "comparison": "_comparison"}


def _with_ratios(measures: pl.DataFrame) -> pl.DataFrame:
    """visitors, buyers, orders, gmv completed with the factors and UV value (null where a
    denominator is zero)."""
    return measures.with_columns(
        *[pl.col(name).fill_null(0).cast(pl.Int64) for name in _COUNTS],
        pl.col("gmv").fill_null(0.0).cast(pl.Float64),
    ).with_columns(
        visitor_conversion=ratio("buyers", "visitors"),
        orders_per_buyer=ratio("orders", "buyers"),
        aov=ratio("gmv", "orders"),
        uv_value=ratio("gmv", "visitors"),
    )


def _period_orders(orders: pl.DataFrame, users: pl.DataFrame | None, lower, upper) -> pl.DataFrame:
    valid = between(as_utc(orders, "created_at").filter(is_valid_order()), "created_at", lower, upper)
    # Loaded orders are attributed already; raw ones take their user's acquisition channel.
    needs_channel = "channel" not in valid.columns or valid["channel"].null_count()
    if needs_channel and users is not None:
        valid = attribute_orders(valid, users)
    if "channel" not in valid.columns:
        valid = valid.with_columns(channel=pl.lit(None, pl.String))
    return valid


def gmv_factors(
    sessions: pl.DataFrame,
    orders: pl.DataFrame,
    *,
    start: date,
    end: date,
    tz: str,
    by: Literal["channel"] | None = None,
    users: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """The GMV factors of the business days `start`..`end`, for the shop or per channel.

    SPEC: visitors = distinct users with a session starting in the period; visitor
    conversion = buyers / visitors; orders per buyer = orders / buyers; AOV = GMV / orders;
    UV value = GMV / visitors. Buyers, orders and GMV are the valid orders created in the
    period, so visitors x conversion x orders per buyer x AOV = GMV.

    `by="channel"`: visitors by the channel of their sessions (a session's channel is its
    first event's; a user with sessions of two channels is a visitor of both), orders by the
    order's channel (its own, else its user's acquisition channel, taken from `users` when
    `orders` are not attributed yet); a missing channel is "(unknown)". A buyer need not be a
    visitor of the same channel, so a channel's conversion can exceed 1. Channels that have
    visitors or orders in the period are listed, sorted by GMV descending, then channel.

    Grain: one row (or one per channel). Columns: [channel,] FACTOR_COLUMNS.
    """
    lower, upper = utc_bounds(start, end, tz)
    period_sessions = between(as_utc(sessions, "started_at"), "started_at", lower, upper)
    valid = _period_orders(orders, users, lower, upper)
    sales = {"buyers": pl.col("user_id").n_unique(), "orders": pl.len(), "gmv": pl.col("amount").sum()}
    if by is None:
        measures = pl.DataFrame({"visitors": period_sessions["user_id"].n_unique()}).hstack(valid.select(**sales))
        return _with_ratios(measures).select(FACTOR_COLUMNS)
    if by != "channel":
        raise ValueError(f"gmv_factors groups by 'channel' or nothing, not {by!r}; categories: category_gmv_factors")
    channel = pl.col("channel").fill_null(UNKNOWN)
    traffic = period_sessions.group_by(channel).agg(visitors=pl.col("user_id").n_unique())
    sold = valid.group_by(channel).agg(**sales)
    measures = traffic.join(sold, on="channel", how="full", coalesce=True)
    return (
        _with_ratios(measures)
        .select("channel", *FACTOR_COLUMNS)
        .sort(["gmv", "channel"], descending=[True, False])
    )


def category_gmv_factors(
    events: pl.DataFrame,
    sessions: pl.DataFrame,
    orders: pl.DataFrame,
    order_items: pl.DataFrame,
    products: pl.DataFrame,
    *,
    start: date,
    end: date,
    tz: str,
) -> pl.DataFrame:
    """The GMV factors of each product category for the business days `start`..`end`.

    A category's visitors are the distinct users with a `product_view` of one of its products
    in a session starting in the period (`events` carry `session_id`, as loading gives
    them). Its buyers and orders are the valid orders created in the period with an item of
    the category; its GMV is each such order's `amount` split over the order's categories in
    proportion to item revenue (quantity x unit_price), as the anomaly contributors split it,
    so the categories' GMV adds up to the shop's GMV; an order without item revenue, and an
    item whose product has no category, count under "(unknown)". An order with items of two
    categories is an order of both, so orders and buyers do not add up across categories.
    Within a category visitors x conversion x orders per buyer x AOV = its GMV.

    Grain: one row per category with visitors or orders. Columns: category, FACTOR_COLUMNS,
    sorted by GMV descending, then category.
    """
    lower, upper = utc_bounds(start, end, tz)
    category_of = products.select("product_id", pl.col("category").cast(pl.String))
    period_sessions = between(as_utc(sessions, "started_at"), "started_at", lower, upper).select("session_id", "user_id")
    views = events.filter(pl.col("event_type") == "product_view").select("session_id", "product_id")
    traffic = (
        views.join(period_sessions, on="session_id", how="inner")
        .join(category_of, on="product_id", how="left")
        .group_by(pl.col("category").fill_null(UNKNOWN))
        .agg(visitors=pl.col("user_id").n_unique())
    )
    valid = _period_orders(orders, None, lower, upper).select("order_id", "user_id", pl.col("amount").cast(pl.Float64))
    revenue_shares = (
        order_items.join(valid.select("order_id"), on="order_id", how="semi")
        .join(category_of, on="product_id", how="left")
        .group_by("order_id", pl.col("category").fill_null(UNKNOWN))
        .agg(revenue=(pl.col("quantity") * pl.col("unit_price")).sum().cast(pl.Float64))
        .with_columns(revenue_share=pl.col("revenue") / pl.col("revenue").sum().over("order_id"))
        .filter(pl.col("revenue_share").is_finite())
    )
    sold = (
        valid.join(revenue_shares, on="order_id", how="left")
        .with_columns(pl.col("category").fill_null(UNKNOWN), pl.col("revenue_share").fill_null(1.0))
        .group_by("category")
        .agg(
            buyers=pl.col("user_id").n_unique(),
            orders=pl.col("order_id").n_unique(),
            gmv=(pl.col("amount") * pl.col("revenue_share")).sum(),
        )
    )
    measures = traffic.join(sold, on="category", how="full", coalesce=True)
    return (
        _with_ratios(measures)
        .select("category", *FACTOR_COLUMNS)
        .sort(["gmv", "category"], descending=[True, False])
    )


def _logarithmic_mean(after: pl.Expr, before: pl.Expr) -> pl.Expr:
    """L(a, b) = (a - b) / (ln a - ln b), L(a, a) = a; ln a - ln b as log1p((a - b) / b), so
    that two nearly equal GMVs do not lose their digits to cancellation."""
    log_ratio = ((after - before) / before).log1p()
    return pl.when(log_ratio != 0).then((after - before) / log_ratio).otherwise(before)


def decompose_gmv(
    current: pl.DataFrame, comparison: pl.DataFrame, *, keys: Sequence[str] = ()
) -> pl.DataFrame:
    """Each factor's part of the GMV change from the comparison period to the current one.

    SPEC: "each factor's part = L(GMV1, GMV0) x ln(f1 / f0), L the logarithmic mean, so the
    parts add up to the change exactly; a factor that is 0 in either period makes the split
    empty, with the reason."

    `current` and `comparison` are frames of `gmv_factors` or `category_gmv_factors` (one
    row, or one per value of `keys`, e.g. ["channel"]); a group present in only one of them
    has no visitors, buyers, orders or GMV in the other.

    Grain: per group, one row per factor in FACTORS order, then a row "gmv" whose part is the
    whole change (so the four parts add up to it). Columns: keys, DECOMPOSITION_COLUMNS:
    comparison and current are the factor's values, relative_change = current / comparison
    - 1 (null when comparison is 0 or null), part = money. When a factor is 0 or undefined
    in either period, the four parts are null and empty_reason names the first such factor
    and the period, e.g. "visitors_zero_comparison" or "visitor_conversion_zero_current"
    (a factor after a zero one is undefined, so the first zero is the cause); the gmv row
    keeps the change. Groups in the order of `current`, then those only in `comparison`.
    """
    keys = list(keys)
    group = keys or ["_whole_shop"]
    measures = ["visitors", "buyers", "orders", "gmv"]

    def measures_of(frame: pl.DataFrame) -> pl.DataFrame:
        frame = frame if keys else frame.with_columns(_whole_shop=pl.lit(0))
        return frame.select(*group, *measures)

    both = measures_of(current).with_row_index("_order").join(
        measures_of(comparison), on=group, how="full", coalesce=True, suffix="_comparison"
    ).rename({name: f"{name}_current" for name in measures})
    for suffix in _PERIODS.values():
        # a group missing from one period has no visitors, buyers, orders or GMV in it
        completed = _with_ratios(both.select(*[pl.col(f"{name}{suffix}").alias(name) for name in measures]))
        both = both.with_columns(completed.select(*[pl.col(name).alias(f"{name}{suffix}") for name in (*measures, *FACTORS[1:])]))

    def value(factor: str, period: str) -> pl.Expr:
        return pl.col(f"{factor}{_PERIODS[period]}")

    empty_reason = pl.lit(None, pl.String)
    for period in reversed(_PERIODS):
        for factor in reversed(FACTORS):
            is_zero = value(factor, period).fill_null(0) == 0
            empty_reason = pl.when(is_zero).then(pl.lit(f"{factor}_zero_{period}")).otherwise(empty_reason)
    gmv_current, gmv_comparison = value("gmv", "current"), value("gmv", "comparison")
    weight = _logarithmic_mean(gmv_current, gmv_comparison)
    both = both.with_columns(empty_reason=empty_reason).with_columns(
        pl.when(pl.col("empty_reason").is_null())
        .then(weight * (value(factor, "current") / value(factor, "comparison")).log())
        .alias(f"{factor}_part")
        for factor in FACTORS
    ).with_columns(gmv_part=gmv_current - gmv_comparison)

    rows = [
        both.select(
            "_order", *group,
            factor=pl.lit(factor),
            comparison=value(factor, "comparison").cast(pl.Float64),
            current=value(factor, "current").cast(pl.Float64),
            part=pl.col(f"{factor}_part"),
            empty_reason="empty_reason",
            _factor_order=pl.lit(position),
        )
        for position, factor in enumerate((*FACTORS, "gmv"))
    ]
    return (
        pl.concat(rows)
        .with_columns(
            relative_change=pl.when(pl.col("comparison") != 0).then(pl.col("current") / pl.col("comparison") - 1)
        )
        .sort(pl.col("_order").fill_null(pl.col("_order").max() + 1), *group, "_factor_order")
        .select(*keys, *DECOMPOSITION_COLUMNS)
    )
