"""Cart and checkout abandonment, the abandoned carts' value, and who abandoned (SPEC section 3).

SPEC: "Cart abandonment: sessions with an `add_to_cart` and no `purchase` / sessions with an
`add_to_cart`; checkout abandonment likewise from `checkout`. The abandoned cart's value is
the sum of the carted products' price (products.price) where known."

A session belongs to the period of its first event (SPEC conventions) and keeps all its
events, also those after the period's end. Its channel and device are its first event's.
"""

from collections.abc import Sequence
from datetime import date
from typing import Literal

import polars as pl

from metrics.registry import ratio
from metrics.time import as_utc, between, utc_bounds

BREAKDOWNS = ("channel", "device")
STAGES = {"cart": "add_to_cart", "checkout": "checkout"}
ABANDONMENT_COLUMNS = (
    "cart_sessions", "abandoned_carts", "cart_abandonment_rate",
    "checkout_sessions", "abandoned_checkouts", "checkout_abandonment_rate",
    "abandoned_cart_value", "unpriced_cart_products",
)
AUDIENCE_COLUMNS = (
    "user_id", "abandoned_sessions", "last_abandoned_at", "channel", "device", "abandoned_cart_value",
    "unpriced_cart_products", "bought_since",
)
UNKNOWN = "(unknown)"


def _stage_sessions(events: pl.DataFrame, sessions: pl.DataFrame, *, start: date, end: date, tz: str) -> pl.DataFrame:
    """The period's sessions that reached the cart or checkout: session_id, user_id,
    started_at, channel, device, has_purchase, has_cart, has_checkout."""
    if "session_id" not in events.columns:
        raise ValueError("abandonment needs the events' session_id: pass the events as loading derives them")
    lower, upper = utc_bounds(start, end, tz)
    period_sessions = between(as_utc(sessions, "started_at"), "started_at", lower, upper)
    for name in BREAKDOWNS:
        if name not in period_sessions.columns:
            period_sessions = period_sessions.with_columns(pl.lit(None, pl.String).alias(name))
    # A session's events come at or after its start, so earlier events can be dropped before
    # the join; later ones stay, since a session keeps its events past the period's end.
    reached = (
        as_utc(events, "event_time")
        .filter(pl.col("event_type").is_in(list(STAGES.values())), pl.col("event_time") >= lower)
        .group_by("session_id")
        .agg(
            has_cart=(pl.col("event_type") == STAGES["cart"]).any(),
            has_checkout=(pl.col("event_type") == STAGES["checkout"]).any(),
        )
    )
    return period_sessions.select(
        "session_id", "user_id", "started_at", "has_purchase",
        *[pl.col(name).fill_null(UNKNOWN) for name in BREAKDOWNS],
    ).join(reached, on="session_id", how="inner")


def _cart_values(events: pl.DataFrame, session_ids: pl.DataFrame, products: pl.DataFrame | None) -> pl.DataFrame:
    """Per session of `session_ids`: the summed price of its distinct carted products
    (abandoned_cart_value) and how many of them have no known price (unpriced_cart_products)."""
    carted = (
        events.filter(pl.col("event_type") == STAGES["cart"])
        .join(session_ids, on="session_id", how="semi")
        .select("session_id", pl.col("product_id") if "product_id" in events.columns else pl.lit(None).alias("product_id"))
        .unique()
    )
    if products is not None and "price" in products.columns:
        carted = carted.join(products.select("product_id", "price"), on="product_id", how="left")
    else:
        carted = carted.with_columns(price=pl.lit(None, pl.Float64))
    return carted.group_by("session_id").agg(
        abandoned_cart_value=pl.col("price").sum().cast(pl.Float64),
        unpriced_cart_products=pl.col("price").is_null().sum().cast(pl.Int64),
    )


def abandonment(
    events: pl.DataFrame,
    sessions: pl.DataFrame,
    products: pl.DataFrame | None = None,
    *,
    start: date,
    end: date,
    tz: str,
    by: Sequence[str] = (),
) -> pl.DataFrame:
    """Cart and checkout abandonment of the sessions starting in `start`..`end`.

    cart_sessions = sessions with an `add_to_cart` event, abandoned_carts = those without a
    `purchase` event, cart_abandonment_rate = abandoned_carts / cart_sessions; likewise from
    `checkout`. abandoned_cart_value = over the abandoned carts, the sum of the price
    (products.price) of each product carted in the session, a product carted twice in one
    session counting once (events carry no quantity, and a second add is as often a
    re-click as a second unit); unpriced_cart_products counts the carted products of those
    sessions whose price is not known (no product_id, not in `products`, no price), which
    the value leaves out. Without `products` every carted product is unpriced.

    `by`: any of "channel", "device" (the session's, "(unknown)" when missing). `events`
    carry `session_id` as loading gives them. Ratios with no sessions are null.
    Grain: one row, or one per group present, sorted by the groups. Columns: by,
    ABANDONMENT_COLUMNS.
    """
    unknown = [name for name in by if name not in BREAKDOWNS]
    if unknown:
        raise ValueError(f"abandonment breaks down by {' or '.join(BREAKDOWNS)}, not {', '.join(unknown)}")
    by = list(by)
    reached = _stage_sessions(events, sessions, start=start, end=end, tz=tz).with_columns(
        abandoned_cart=pl.col("has_cart") & ~pl.col("has_purchase"),
        abandoned_checkout=pl.col("has_checkout") & ~pl.col("has_purchase"),
    )
    values = _cart_values(events, reached.filter("abandoned_cart").select("session_id"), products)
    aggregates = {
        "cart_sessions": pl.col("has_cart").sum().cast(pl.Int64),
        "abandoned_carts": pl.col("abandoned_cart").sum().cast(pl.Int64),
        "checkout_sessions": pl.col("has_checkout").sum().cast(pl.Int64),
        "abandoned_checkouts": pl.col("abandoned_checkout").sum().cast(pl.Int64),
        "abandoned_cart_value": pl.col("abandoned_cart_value").sum().cast(pl.Float64),
        "unpriced_cart_products": pl.col("unpriced_cart_products").sum().cast(pl.Int64),
    }
    joined = reached.join(values, on="session_id", how="left")
    # Without groups the period is one row, also when no session reached the cart.
    measures = joined.group_by(by).agg(**aggregates).sort(by) if by else joined.select(**aggregates)
    return (
        measures.with_columns(
            cart_abandonment_rate=ratio("abandoned_carts", "cart_sessions"),
            checkout_abandonment_rate=ratio("abandoned_checkouts", "checkout_sessions"),
        )
        .select(*by, *ABANDONMENT_COLUMNS)
    )


def abandoning_users(
    events: pl.DataFrame,
    sessions: pl.DataFrame,
    products: pl.DataFrame | None = None,
    *,
    start: date,
    end: date,
    tz: str,
    stage: Literal["cart", "checkout"] = "cart",
) -> pl.DataFrame:
    """The users who abandoned a cart (or a checkout) in a session starting in `start`..`end`:
    an audience to list, export or contact.

    One row per user: abandoned_sessions (their sessions of the period that reached the stage
    without a `purchase`), last_abandoned_at (the last such session's start) and its channel
    and device, abandoned_cart_value and unpriced_cart_products over those sessions (as in
    `abandonment`), and bought_since: whether a later session of theirs (any time in the
    data) has a `purchase`, so a reminder can skip those who came back.

    Sorted by abandoned_cart_value descending, then user_id. Columns: AUDIENCE_COLUMNS.
    """
    if stage not in STAGES:
        raise ValueError(f"stage must be one of {', '.join(STAGES)}, not {stage!r}")
    reached = _stage_sessions(events, sessions, start=start, end=end, tz=tz)
    abandoned = reached.filter(pl.col(f"has_{stage}"), ~pl.col("has_purchase"))
    values = _cart_values(events, abandoned.select("session_id"), products)
    audience = (
        abandoned.join(values, on="session_id", how="left")
        .sort("user_id", "started_at", "session_id")
        .group_by("user_id", maintain_order=True)
        .agg(
            abandoned_sessions=pl.len().cast(pl.Int64),
            last_abandoned_at=pl.col("started_at").last(),
            channel=pl.col("channel").last(),
            device=pl.col("device").last(),
            abandoned_cart_value=pl.col("abandoned_cart_value").sum().cast(pl.Float64),
            unpriced_cart_products=pl.col("unpriced_cart_products").fill_null(0).sum().cast(pl.Int64),
        )
    )
    later_purchases = (
        as_utc(sessions, "started_at")
        .filter(pl.col("has_purchase"))
        .join(audience.select("user_id", "last_abandoned_at"), on="user_id", how="inner")
        .filter(pl.col("started_at") > pl.col("last_abandoned_at"))
        .select("user_id", bought_since=pl.lit(True))
        .unique()
    )
    return (
        audience.join(later_purchases, on="user_id", how="left")
        .with_columns(pl.col("bought_since").fill_null(False))
        .select(AUDIENCE_COLUMNS)
        .sort(["abandoned_cart_value", "user_id"], descending=[True, False])
    )
