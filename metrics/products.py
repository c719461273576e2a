"""Product and category performance, and the products that moved most (SPEC section 3)."""

from datetime import date, datetime
from typing import Literal

import polars as pl

from metrics.orders import is_valid_order, refund_lines
from metrics.registry import ratio
from metrics.time import (
    as_utc,
    between,
    business_day,
    calendar,
    previous_period,
    utc_bounds,
)

PRODUCT_EVENTS = ("product_impression", "product_click", "product_view")
MEASURE_COLUMNS = (
    "impressions", "clicks", "ctr", "views", "viewers", "buyers", "conversion", "orders",
    "units", "gmv", "refunded_orders", "refund_rate",
)
PRODUCT_COLUMNS = ("product_id", "name", "category", *MEASURE_COLUMNS)
CATEGORY_COLUMNS = ("category", "products", *MEASURE_COLUMNS)
UNKNOWN_CATEGORY = "(unknown)"
_COUNTS = ("impressions", "clicks", "views", "viewers", "buyers", "orders", "units", "refunded_orders")


def _product_events(events: pl.DataFrame, lower: datetime, upper: datetime) -> pl.DataFrame:
    """user_id, product_id, event_type, event_time of the period's product events."""
    events = as_utc(events, "event_time")
    return between(events, "event_time", lower, upper).filter(
        pl.col("event_type").is_in(PRODUCT_EVENTS), pl.col("product_id").is_not_null()
    ).select("user_id", "product_id", "event_type", "event_time")


def _sold_items(
    orders: pl.DataFrame, order_items: pl.DataFrame, lower: datetime, upper: datetime
) -> pl.DataFrame:
    """The items of valid orders created in the period, with the order's user and whether
    the order was refunded (a refund of any part of it, see `refund_lines`)."""
    orders = as_utc(orders, "created_at", "refunded_at")
    refunded = refund_lines(orders).select("order_id", refunded=pl.lit(True))
    period_orders = (
        between(orders.filter(is_valid_order()), "created_at", lower, upper)
        .select("order_id", "user_id", "created_at")
        .join(refunded, on="order_id", how="left")
        .with_columns(pl.col("refunded").fill_null(False))
    )
    return order_items.join(period_orders, on="order_id", how="inner")


def _measures(product_events: pl.DataFrame, sold_items: pl.DataFrame, key: str) -> pl.DataFrame:
    """The measures of MEASURE_COLUMNS per `key`, distinct counts taken at that grain."""
    is_type = {name: pl.col("event_type") == name for name in PRODUCT_EVENTS}
    attention = product_events.group_by(key).agg(
        impressions=is_type["product_impression"].sum(),
        clicks=is_type["product_click"].sum(),
        views=is_type["product_view"].sum(),
        viewers=pl.col("user_id").filter(is_type["product_view"]).n_unique(),
    )
    sales = sold_items.group_by(key).agg(
        buyers=pl.col("user_id").n_unique(),
        orders=pl.col("order_id").n_unique(),
        units=pl.col("quantity").sum(),
        gmv=(pl.col("quantity") * pl.col("unit_price")).sum().cast(pl.Float64),
        refunded_orders=pl.col("order_id").filter(pl.col("refunded")).n_unique(),
    )
    return (
        attention.join(sales, on=key, how="full", coalesce=True)
        .with_columns(
            *[pl.col(name).fill_null(0).cast(pl.Int64) for name in _COUNTS],
            pl.col("gmv").fill_null(0.0),
        )
        .with_columns(
            ctr=ratio("clicks", "impressions"),
            conversion=ratio("buyers", "viewers"),
            refund_rate=ratio("refunded_orders", "orders"),
        )
    )


def product_table(
    events: pl.DataFrame,
    orders: pl.DataFrame,
    order_items: pl.DataFrame,
    products: pl.DataFrame,
    *,
    start: date,
    end: date,
    tz: str,
) -> pl.DataFrame:
    """One row per product with events or valid sales in the business days `start`..`end`.

    SPEC section 3: "Product CTR = `product_click` / `product_impression` events for that
    product. Product conversion = distinct buyers of the product / distinct viewers
    (`product_view`)."

    - impressions, clicks, views: the period's events of those types for the product;
      viewers = distinct users with a `product_view` of it.
    - buyers: distinct users with a valid order created in the period that contains it (a
      buyer need not have viewed it, so conversion can exceed 1); orders: those orders.
    - units = sum of quantity, GMV = sum of quantity x unit_price, over those orders' items
      (before order-level discounts, so it need not add up to the orders' `amount`).
    - refund_rate = refunded_orders / orders: of the valid orders created in the period that
      contain the product, the share refunded (status `refunded` or a refund amount), whenever
      the refund happened; an order counts whole, even when the refund was partial.

    Ratios with a zero denominator are null. A product missing from `products` keeps a null
    name and category. Sorted by GMV, then views, descending. Columns: PRODUCT_COLUMNS.
    """
    lower, upper = utc_bounds(start, end, tz)
    sold_items = _sold_items(orders, order_items, lower, upper)
    return (
        _measures(_product_events(events, lower, upper), sold_items, "product_id")
        .join(products.select("product_id", "name", "category"), on="product_id", how="left")
        .select(PRODUCT_COLUMNS)
        .sort(["gmv", "views", "product_id"], descending=[True, True, False])
    )


def product_daily(
    events: pl.DataFrame,
    orders: pl.DataFrame,
    order_items: pl.DataFrame,
    *,
    product_id,
    start: date,
    end: date,
    tz: str,
) -> pl.DataFrame:
    """One product's measures per business day `start`..`end`, as `product_table` defines
    them for a period (events by their day, sales by the day the order was created; distinct
    viewers and buyers per day). Every day is present: counts 0, ratios null on a day without
    data. Columns: date, MEASURE_COLUMNS.
    """
    lower, upper = utc_bounds(start, end, tz)
    product_events = _product_events(events.filter(pl.col("product_id") == product_id), lower, upper)
    sold_items = _sold_items(orders, order_items.filter(pl.col("product_id") == product_id), lower, upper)
    measures = _measures(
        product_events.with_columns(date=business_day("event_time", tz)),
        sold_items.with_columns(date=business_day("created_at", tz)),
        "date",
    )
    return (
        calendar(start, end)
        .join(measures, on="date", how="left")
        .with_columns(*[pl.col(name).fill_null(0) for name in _COUNTS], pl.col("gmv").fill_null(0.0))
        .select("date", *MEASURE_COLUMNS)
    )


def category_table(
    events: pl.DataFrame,
    orders: pl.DataFrame,
    order_items: pl.DataFrame,
    products: pl.DataFrame,
    *,
    start: date,
    end: date,
    tz: str,
) -> pl.DataFrame:
    """One row per product category: the measures of `product_table`, taken per category.

    Distinct counts are recomputed at the category grain, not summed over products: viewers
    and buyers are distinct users, orders distinct orders with any product of the category.
    `products` = distinct products with events or sales in the period. Products not in the
    catalogue, or without a category, fall under "(unknown)". Sorted by GMV, then views,
    descending. Columns: CATEGORY_COLUMNS.
    """
    lower, upper = utc_bounds(start, end, tz)
    categories = products.select("product_id", pl.col("category").fill_null(UNKNOWN_CATEGORY))

    def with_category(frame: pl.DataFrame) -> pl.DataFrame:
        return frame.join(categories, on="product_id", how="left").with_columns(
            pl.col("category").fill_null(UNKNOWN_CATEGORY)
        )

    product_events = with_category(_product_events(events, lower, upper))
    sold_items = with_category(_sold_items(orders, order_items, lower, upper))
    active_products = (
        pl.concat([product_events.select("category", "product_id"), sold_items.select("category", "product_id")])
        .group_by("category")
        .agg(products=pl.col("product_id").n_unique().cast(pl.Int64))
    )
    return (
        _measures(product_events, sold_items, "category")
        .join(active_products, on="category", how="left")
        .select(CATEGORY_COLUMNS)
        .sort(["gmv", "views", "category"], descending=[True, True, False])
    )


def top_movers(
    current: pl.DataFrame,
    previous: pl.DataFrame,
    *,
    key: str = "product_id",
    value: str = "gmv",
    limit: int = 10,
    by: Literal["absolute", "relative"] = "absolute",
) -> pl.DataFrame:
    """The `limit` rows of `key` whose `value` changed most from `previous` to `current`.

    `current` and `previous` are tables of the same kind (e.g. `product_table` of a period and
    of the previous period of the same length). A key missing from one of them has 0 there.
    change = current - previous; relative_change = change / previous (null when previous is
    0); is_new = the key has no row in `previous`. `by="absolute"` ranks by |change|,
    `by="relative"` by |relative_change| (keys without a relative change are left out); ties by
    key. `name` and `category` come along when the tables have them.
    Columns: key, [name, category], value, previous_<value>, change, relative_change, is_new.
    """
    previous_value = f"previous_{value}"
    labels = [
        name for name in ("name", "category")
        if name != key and name in current.columns and name in previous.columns
    ]
    joined = current.select(key, *labels, value).join(
        previous.select(key, *labels, pl.col(value).alias(previous_value), is_new=pl.lit(False)),
        on=key,
        how="full",
        coalesce=True,
        suffix="_previous",
    )
    moved = joined.with_columns(
        *[pl.coalesce(label, f"{label}_previous") for label in labels],
        pl.col(value).fill_null(0),
        pl.col(previous_value).fill_null(0),
        pl.col("is_new").fill_null(True),
    ).with_columns(change=pl.col(value) - pl.col(previous_value))
    moved = moved.with_columns(relative_change=ratio("change", previous_value))
    rank_by = "change" if by == "absolute" else "relative_change"
    return (
        moved.filter(pl.col(rank_by).is_not_null())
        .sort([pl.col(rank_by).abs(), pl.col(key)], descending=[True, False])
        .head(limit)
        .select(key, *labels, value, previous_value, "change", "relative_change", "is_new")
    )


def product_movers(
    events: pl.DataFrame,
    orders: pl.DataFrame,
    order_items: pl.DataFrame,
    products: pl.DataFrame,
    *,
    start: date,
    end: date,
    tz: str,
    value: str = "gmv",
    limit: int = 10,
    by: Literal["absolute", "relative"] = "absolute",
) -> pl.DataFrame:
    """`top_movers` of the products of start..end against "the previous period of the same
    length" (SPEC section 3, Period comparison)."""
    previous_start, previous_end = previous_period(start, end)
    frames = (events, orders, order_items, products)
    return top_movers(
        product_table(*frames, start=start, end=end, tz=tz),
        product_table(*frames, start=previous_start, end=previous_end, tz=tz),
        value=value,
        limit=limit,
        by=by,
    )
