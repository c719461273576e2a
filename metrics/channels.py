"""Traffic, sales, ad spend and return per channel (SPEC section 3, Channel)."""

from datetime import date, datetime

import polars as pl

from metrics.orders import attribute_orders, is_valid_order
from metrics.registry import ratio
from metrics.sessions import derive_sessions
from metrics.time import as_utc, between, business_day, calendar, utc_bounds

DEFAULT_MARGIN = 0.30
CPC_TARGET = 1.0  # SPEC section 1: "paid-ad cost per click (target: at most 1 yuan)"
ROI_TARGET = 0.05  # SPEC section 1: "ROI of each activity and channel (target: above 5 %)"
UNKNOWN_CHANNEL = "(unknown)"

CHANNEL_COLUMNS = (
    "channel", "sessions", "visitors", "new_users", "bounce_rate", "session_conversion",
    "orders", "gmv", "first_time_buyers", "margin", "gross_profit", "spend", "impressions",
    "clicks", "cpc", "cac", "roas", "roi", "cpc_above_target", "roi_below_target",
)
_COUNTS = ("sessions", "visitors", "new_users", "bounced_sessions", "converted_sessions",
           "orders", "first_time_buyers")
_SPEND_COLUMNS = {"spend": pl.Float64, "impressions": pl.Int64, "clicks": pl.Int64}


def order_margins(
    orders: pl.DataFrame,
    order_items: pl.DataFrame | None = None,
    products: pl.DataFrame | None = None,
    *,
    default_margin: float = DEFAULT_MARGIN,
) -> pl.DataFrame:
    """The gross margin of every order in `orders`: order_id, margin.

    SPEC: "gross profit = GMV x margin (margin from `products.cost` where present, else a
    setting, default 30 %)". An order's margin is 1 - cost / revenue over its items, where
    revenue = sum(quantity x unit_price) and an item's cost is quantity x products.cost, or,
    for an item whose product has no cost (or is not in the catalogue), its revenue x
    (1 - default_margin). So the blend weighs the known and the default margins by item
    revenue. An order without items (or without item revenue) has `default_margin`.
    """
    if order_items is None:
        return orders.select("order_id", margin=pl.lit(default_margin, pl.Float64))
    items = order_items.join(orders.select("order_id"), on="order_id", how="semi")
    if products is not None and "cost" in products.columns:
        items = items.join(products.select("product_id", "cost"), on="product_id", how="left")
    else:
        items = items.with_columns(cost=pl.lit(None, pl.Float64))
    item_revenue = pl.col("quantity") * pl.col("unit_price")
    item_cost = pl.coalesce(pl.col("quantity") * pl.col("cost"), item_revenue * (1 - default_margin))
    per_order = items.group_by("order_id").agg(
        revenue=item_revenue.sum().cast(pl.Float64), cost=item_cost.sum().cast(pl.Float64)
    )
    return orders.select("order_id").join(per_order, on="order_id", how="left").select(
        "order_id",
        margin=pl.when(pl.col("revenue") > 0)
        .then(1 - pl.col("cost") / pl.col("revenue"))
        .otherwise(pl.lit(default_margin, pl.Float64)),
    )


# Joins do not match null keys, so an unknown channel needs a name before the parts meet.
_KNOWN_CHANNEL = pl.col("channel").fill_null(UNKNOWN_CHANNEL)


def _traffic(sessions: pl.DataFrame, lower: datetime, upper: datetime) -> pl.DataFrame:
    return (
        between(sessions, "started_at", lower, upper)
        .group_by(_KNOWN_CHANNEL)
        .agg(
            sessions=pl.len(),
            visitors=pl.col("user_id").n_unique(),
            bounced_sessions=(pl.col("event_count") == 1).sum(),
            converted_sessions=pl.col("has_purchase").sum(),
        )
    )


def _new_users(users: pl.DataFrame, lower: datetime, upper: datetime) -> pl.DataFrame:
    if "channel" not in users.columns:
        users = users.with_columns(channel=pl.lit(None, pl.String))
    return between(users, "signup_at", lower, upper).group_by(_KNOWN_CHANNEL).agg(new_users=pl.len())


def _sales(period_orders: pl.DataFrame, margins: pl.DataFrame) -> pl.DataFrame:
    return (
        period_orders.join(margins, on="order_id", how="left")
        .group_by(_KNOWN_CHANNEL)
        .agg(
            orders=pl.len(),
            gmv=pl.col("amount").sum(),
            gross_profit=(pl.col("amount") * pl.col("margin")).sum(),
        )
    )


def _first_time_buyers(valid_orders: pl.DataFrame, lower: datetime, upper: datetime) -> pl.DataFrame:
    # Two first orders at the same instant: the lower order_id is the first, as in the oracle.
    first_orders = valid_orders.sort("created_at", "order_id").unique("user_id", keep="first")
    return (
        between(first_orders, "created_at", lower, upper)
        .group_by(_KNOWN_CHANNEL)
        .agg(first_time_buyers=pl.len())
    )


def _spend(ad_spend: pl.DataFrame, start: date, end: date) -> pl.DataFrame:
    present = [name for name in _SPEND_COLUMNS if name in ad_spend.columns]
    return (
        ad_spend.filter(pl.col("date").is_between(start, end))
        .group_by(_KNOWN_CHANNEL)
        .agg(pl.col(present).sum())
    )


def channel_table(
    events: pl.DataFrame,
    sessions: pl.DataFrame | None,
    orders: pl.DataFrame,
    users: pl.DataFrame,
    ad_spend: pl.DataFrame | None,
    order_items: pl.DataFrame | None = None,
    products: pl.DataFrame | None = None,
    *,
    start: date,
    end: date,
    tz: str,
    default_margin: float = DEFAULT_MARGIN,
    cpc_target: float = CPC_TARGET,
    roi_target: float = ROI_TARGET,
) -> pl.DataFrame:
    """One row per channel for the business days `start`..`end`.

    SPEC section 3: "a session's channel is its first event's `channel`; an order's is its own
    `channel`, else its user's acquisition channel. Per channel: sessions, visitors, new users,
    bounce rate, session conversion, orders, GMV, spend, CPC = spend / clicks, CAC = spend /
    first-time buyers, ROAS = GMV / spend, ROI = (gross profit - spend) / spend, gross profit =
    GMV x margin (margin from `products.cost` where present, else a setting, default 30 %)."

    - sessions, bounce rate ("sessions with exactly one event / sessions"), session conversion
      ("sessions with a `purchase` event / sessions"): sessions starting in the period, by
      their first event's channel; visitors = distinct users with such a session.
    - new_users: users whose `signup_at` falls in the period, by acquisition channel.
    - orders, GMV: valid orders created in the period, by the order's channel.
    - first_time_buyers: users whose first valid order ever falls in the period, by that
      order's channel.
    - spend, impressions, clicks: `ad_spend` rows whose `date` is in the period. Without an
      `ad_spend` table they are null (unknown, not 0), and so are CPC, CAC, ROAS and ROI;
      without its optional clicks or impressions column, that column (and CPC) is null. A
      channel the table has no rows for in the period spent 0: its CPC, ROAS and ROI are null,
      its CAC is 0 when it has first-time buyers.
    - gross profit = sum over the channel's orders of amount x the order's margin (see
      `order_margins`); margin = gross profit / GMV.
    - cpc_above_target = CPC > `cpc_target`, roi_below_target = ROI < `roi_target`; null where
      the value is null.

    Ratios with a zero denominator are null. `sessions` comes from
    `metrics.sessions.derive_sessions` over all events; when None it is derived here from
    `events`. `orders` may come raw or already attributed (as `loading` gives them).
    A channel is listed when any of these parts has data for it in the period; a missing
    channel is named "(unknown)". There is no total row: visitors and first-time buyers are
    distinct per channel and do not add up. Sorted by GMV, then sessions, descending.
    Columns: CHANNEL_COLUMNS.
    """
    if sessions is None:
        _, sessions = derive_sessions(events)
    sessions, orders, users = as_utc(sessions, "started_at"), as_utc(orders, "created_at"), as_utc(users, "signup_at")
    lower, upper = utc_bounds(start, end, tz)
    valid_orders = orders.filter(is_valid_order())
    # Loaded orders are attributed already; the users join is only needed for orders that
    # still lack a channel.
    if "channel" not in valid_orders.columns or valid_orders["channel"].null_count():
        valid_orders = attribute_orders(valid_orders, users)
    period_orders = between(valid_orders, "created_at", lower, upper)
    margins = order_margins(period_orders, order_items, products, default_margin=default_margin)
    parts = [
        _traffic(sessions, lower, upper),
        _new_users(users, lower, upper),
        _sales(period_orders, margins),
        _first_time_buyers(valid_orders, lower, upper),
    ]
    if ad_spend is not None:
        parts.append(_spend(ad_spend, start, end))
    if len({part.schema["channel"] for part in parts}) > 1:
        # a table without its own channel column (users without acquisition channel) gives
        # text where the others give categories: one dtype for the join
        parts = [part.with_columns(pl.col("channel").cast(pl.String)) for part in parts]
    table = pl.concat([part.select("channel") for part in parts]).unique()
    for part in parts:
        table = table.join(part, on="channel", how="left")
    table = table.with_columns(
        *[pl.col(name).fill_null(0).cast(pl.Int64) for name in _COUNTS],
        *[pl.col(name).fill_null(0.0).cast(pl.Float64) for name in ("gmv", "gross_profit")],
        # A spend column the source lacks stays null (unknown); one it has is 0 where no row is.
        *[
            pl.col(name).fill_null(0).cast(dtype) if name in table.columns else pl.lit(None, dtype).alias(name)
            for name, dtype in _SPEND_COLUMNS.items()
        ],
    ).with_columns(profit_after_spend=pl.col("gross_profit") - pl.col("spend"))
    table = table.with_columns(
        bounce_rate=ratio("bounced_sessions", "sessions"),
        session_conversion=ratio("converted_sessions", "sessions"),
        margin=ratio("gross_profit", "gmv"),
        cpc=ratio("spend", "clicks"),
        cac=ratio("spend", "first_time_buyers"),
        roas=ratio("gmv", "spend"),
        roi=ratio("profit_after_spend", "spend"),
    ).with_columns(
        cpc_above_target=pl.col("cpc") > cpc_target,
        roi_below_target=pl.col("roi") < roi_target,
    )
    return table.select(CHANNEL_COLUMNS).sort(["gmv", "sessions", "channel"], descending=[True, True, False])


def channel_spend_trend(
    orders: pl.DataFrame,
    users: pl.DataFrame,
    ad_spend: pl.DataFrame,
    *,
    start: date,
    end: date,
    tz: str,
) -> pl.DataFrame:
    """Spend and return per business day for each paid channel: a channel with `ad_spend`
    rows in the period.

    As in `channel_table` (SPEC section 3): spend and clicks are the `ad_spend` rows of the
    day; GMV is the amount of the valid orders created that day whose channel (its own, else
    its user's acquisition channel) is the channel; ROAS = GMV / spend, CPC = spend / clicks,
    null where the denominator is zero (and CPC null without a clicks column). Every day of
    the period is present for every paid channel, 0 where it has no data.
    Columns: date, channel, spend, clicks, gmv, roas, cpc.
    """
    spend = ad_spend.filter(pl.col("date").is_between(start, end))
    if "clicks" not in spend.columns:
        spend = spend.with_columns(clicks=pl.lit(None, pl.Int64))
    daily_spend = spend.group_by("date", _KNOWN_CHANNEL).agg(
        pl.col("spend").sum().cast(pl.Float64), pl.col("clicks").sum().cast(pl.Int64)
    )
    if "clicks" not in ad_spend.columns:
        daily_spend = daily_spend.with_columns(clicks=pl.lit(None, pl.Int64))
    valid_orders = as_utc(orders, "created_at").filter(is_valid_order())
    if "channel" not in valid_orders.columns or valid_orders["channel"].null_count():
        valid_orders = attribute_orders(valid_orders, as_utc(users, "signup_at"))
    lower, upper = utc_bounds(start, end, tz)
    daily_gmv = (
        between(valid_orders, "created_at", lower, upper)
        .with_columns(date=business_day("created_at", tz))
        .group_by("date", _KNOWN_CHANNEL)
        .agg(gmv=pl.col("amount").sum().cast(pl.Float64))
    )
    grid = calendar(start, end).join(daily_spend.select("channel").unique(), how="cross")
    return (
        grid.join(daily_spend, on=["date", "channel"], how="left")
        .join(daily_gmv, on=["date", "channel"], how="left")
        .with_columns(
            pl.col("spend").fill_null(0.0),
            pl.col("gmv").fill_null(0.0),
            pl.col("clicks").fill_null(0) if "clicks" in ad_spend.columns else pl.col("clicks"),
        )
        .with_columns(roas=ratio("gmv", "spend"), cpc=ratio("spend", "clicks"))
        .select("date", "channel", "spend", "clicks", "gmv", "roas", "cpc")
        .sort("channel", "date")
    )
