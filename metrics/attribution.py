"""Attribution models: which channels get the credit for an order (SPEC section 3).

SPEC: "Attribution: an order's channel credit over the user's sessions in the lookback before
the order (setting, default 30 days; sessions started after the order do not count): last
non-direct (default: the last session whose channel is not `direct`, else direct), last,
first, linear (equal parts), position-based (40 % first, 40 % last, 20 % spread over the
middle; one session takes 100 %, two take 50/50). Orders with no session in the lookback keep
the order's own channel (SPEC channel rule). Credit sums to each order's amount, so a model's
channel GMVs sum to the period's GMV; ROI and ROAS by model use that credit."
"""

from collections.abc import Sequence
from datetime import date, timedelta

import polars as pl

from metrics.channels import DEFAULT_MARGIN, order_margins
from metrics.orders import attribute_orders, is_valid_order
from metrics.registry import ratio
from metrics.time import as_utc, between, utc_bounds

MODELS = ("last_non_direct", "last", "first", "linear", "position_based")
DEFAULT_MODEL = "last_non_direct"
DEFAULT_LOOKBACK = timedelta(days=30)
DIRECT = "direct"
UNKNOWN = "(unknown)"
CREDIT_COLUMNS = ("order_id", "channel", "credit", "share")
ATTRIBUTED_COLUMNS = ("channel", "orders", "gmv", "gross_profit", "spend", "roas", "roi")


def _check_model(model: str) -> None:
    if model not in MODELS:
        raise ValueError(f"attribution model must be one of {', '.join(MODELS)}, not {model!r}")


def _period_orders(orders: pl.DataFrame, users: pl.DataFrame | None, *, start: date, end: date, tz: str) -> pl.DataFrame:
    """The period's valid orders: order_id, user_id, created_at, amount, own_channel (the
    order's channel, else its user's acquisition channel, "(unknown)" when neither)."""
    lower, upper = utc_bounds(start, end, tz)
    valid = between(as_utc(orders, "created_at").filter(is_valid_order()), "created_at", lower, upper)
    if ("channel" not in valid.columns or valid["channel"].null_count()) and users is not None:
        valid = attribute_orders(valid, users)
    own_channel = pl.col("channel") if "channel" in valid.columns else pl.lit(None, pl.String)
    return valid.select(
        "order_id", "user_id", "created_at", pl.col("amount").cast(pl.Float64),
        own_channel=own_channel.fill_null(UNKNOWN),
    )


def touchpoints(
    sessions: pl.DataFrame,
    orders: pl.DataFrame,
    *,
    start: date,
    end: date,
    tz: str,
    lookback: timedelta = DEFAULT_LOOKBACK,
    users: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Each valid order of `start`..`end` with the sessions every model distributes it over.

    A touchpoint is a session of the order's user that started at most `lookback` before the
    order and not after it (both ends inclusive); touchpoints are numbered by start time
    (then session_id) as position 0..touches-1. A session without a channel is "(unknown)",
    which last non-direct passes over like `direct`. An order without a touchpoint has one
    row with a null position and its own channel (its `channel`, else its user's acquisition
    channel, taken from `users` when the orders are not attributed yet).

    Columns: order_id, amount, channel, position, touches, credited_position (the position
    last non-direct credits: the last session of a known channel other than direct, else the
    last session).
    """
    if lookback < timedelta(0):
        raise ValueError(f"the attribution lookback is a duration of at least 0, not {lookback}")
    period_orders = _period_orders(orders, users, start=start, end=end, tz=tz)
    lower, upper = utc_bounds(start, end, tz)
    candidate_sessions = (
        between(as_utc(sessions, "started_at"), "started_at", lower - lookback, upper)
        .join(period_orders.select("user_id").unique(), on="user_id", how="semi")
        .select("user_id", "session_id", "started_at", channel=pl.col("channel").fill_null(UNKNOWN))
    )
    touches = (
        period_orders.join(candidate_sessions, on="user_id", how="inner")
        .filter(
            pl.col("started_at") <= pl.col("created_at"),
            pl.col("started_at") >= pl.col("created_at") - lookback,
        )
        .sort("order_id", "started_at", "session_id")
        .with_columns(
            position=pl.int_range(pl.len(), dtype=pl.Int64).over("order_id"),
            touches=pl.len().over("order_id").cast(pl.Int64),
        )
    )
    is_referred = ~pl.col("channel").is_in([DIRECT, UNKNOWN])
    touches = touches.with_columns(
        credited_position=pl.coalesce(
            pl.col("position").filter(is_referred).max().over("order_id"), pl.col("touches") - 1
        )
    )
    untouched = period_orders.join(touches.select("order_id").unique(), on="order_id", how="anti").select(
        "order_id", "amount", channel="own_channel",
        position=pl.lit(None, pl.Int64), touches=pl.lit(0, pl.Int64), credited_position=pl.lit(None, pl.Int64),
    )
    return pl.concat(
        [touches.select("order_id", "amount", "channel", "position", "touches", "credited_position"), untouched]
    )


def _share(model: str) -> pl.Expr:
    """The share of an order a touchpoint takes under `model` (1 for an order's own channel)."""
    position, touches = pl.col("position"), pl.col("touches")
    first, last = position == 0, position == touches - 1
    shares = {
        "last_non_direct": (position == pl.col("credited_position")).cast(pl.Float64),
        "last": last.cast(pl.Float64),
        "first": first.cast(pl.Float64),
        "linear": 1.0 / touches,
        "position_based": pl.when(touches == 1).then(1.0)
        .when(touches == 2).then(0.5)
        .when(first | last).then(0.4)
        .otherwise(0.2 / (touches - 2)),
    }
    return pl.when(position.is_null()).then(1.0).otherwise(shares[model])


def credit_from_touchpoints(touches: pl.DataFrame, model: str = DEFAULT_MODEL) -> pl.DataFrame:
    """Each order's credit per channel under `model`, from `touchpoints`: one row per order
    and credited channel (a channel met twice adds up), credit = amount x share, so each
    order's credit sums to its amount. Columns: CREDIT_COLUMNS, sorted by order_id, channel."""
    _check_model(model)
    return (
        touches.with_columns(share=_share(model))
        .filter(pl.col("share") > 0)
        .group_by("order_id", "channel")
        .agg(credit=(pl.col("amount") * pl.col("share")).sum(), share=pl.col("share").sum())
        .select(CREDIT_COLUMNS)
        .sort("order_id", "channel")
    )


def attribution_credit(
    sessions: pl.DataFrame,
    orders: pl.DataFrame,
    *,
    start: date,
    end: date,
    tz: str,
    model: str = DEFAULT_MODEL,
    lookback: timedelta = DEFAULT_LOOKBACK,
    users: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Each valid order of `start`..`end` credited to channels under `model` (MODELS) over the
    sessions of the `lookback` before it (see `touchpoints`, `credit_from_touchpoints`).
    Columns: CREDIT_COLUMNS."""
    _check_model(model)
    touches = touchpoints(sessions, orders, start=start, end=end, tz=tz, lookback=lookback, users=users)
    return credit_from_touchpoints(touches, model)


def _channel_returns(
    credit: pl.DataFrame, margins: pl.DataFrame, spend: pl.DataFrame | None
) -> pl.DataFrame:
    credited = (
        credit.join(margins, on="order_id", how="left")
        .group_by("channel")
        .agg(
            orders=pl.col("share").sum(),
            gmv=pl.col("credit").sum(),
            gross_profit=(pl.col("credit") * pl.col("margin")).sum(),
        )
    )
    if spend is None:
        table = credited.with_columns(spend=pl.lit(None, pl.Float64))
    else:
        table = credited.join(spend, on="channel", how="full", coalesce=True).with_columns(
            pl.col("spend").fill_null(0.0)
        )
    return (
        table.with_columns(pl.col(name).fill_null(0.0) for name in ("orders", "gmv", "gross_profit"))
        .with_columns(profit_after_spend=pl.col("gross_profit") - pl.col("spend"))
        .with_columns(roas=ratio("gmv", "spend"), roi=ratio("profit_after_spend", "spend"))
        .select(ATTRIBUTED_COLUMNS)
        .sort(["gmv", "channel"], descending=[True, False])
    )


def compare_attribution_models(
    sessions: pl.DataFrame,
    orders: pl.DataFrame,
    ad_spend: pl.DataFrame | None = None,
    order_items: pl.DataFrame | None = None,
    products: pl.DataFrame | None = None,
    *,
    start: date,
    end: date,
    tz: str,
    models: Sequence[str] = MODELS,
    lookback: timedelta = DEFAULT_LOOKBACK,
    default_margin: float = DEFAULT_MARGIN,
    users: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """GMV, ROAS and ROI per channel under each of `models`, side by side.

    Per model and channel: orders = the orders' shares credited to the channel (a fraction
    under linear and position-based), gmv = the credit, gross_profit = credit x the order's
    margin (`metrics.channels.order_margins`: products.cost where present, else
    `default_margin`), spend = the channel's `ad_spend` in the period, ROAS = GMV / spend,
    ROI = (gross profit - spend) / spend, as the channel table defines them (SPEC Channel),
    on the credit. Without `ad_spend`, spend, ROAS and ROI are null; a channel with spend and
    no credit is listed with GMV 0. Each model's GMV sums to the period's GMV.

    Grain: one row per model and channel; models in the order given, channels by GMV
    descending, then name. Columns: model, ATTRIBUTED_COLUMNS.
    """
    for model in models:
        _check_model(model)
    touches = touchpoints(sessions, orders, start=start, end=end, tz=tz, lookback=lookback, users=users)
    margins = order_margins(touches.select("order_id").unique(), order_items, products, default_margin=default_margin)
    spend = None
    if ad_spend is not None:
        spend = (
            ad_spend.filter(pl.col("date").is_between(start, end))
            .group_by(pl.col("channel").fill_null(UNKNOWN))
            .agg(pl.col("spend").sum().cast(pl.Float64))
        )
    return pl.concat(
        [
            _channel_returns(credit_from_touchpoints(touches, model), margins, spend).select(
                pl.lit(model).alias("model"), *ATTRIBUTED_COLUMNS
            )
            for model in models
        ]
    )


def attributed_channel_table(
    sessions: pl.DataFrame,
    orders: pl.DataFrame,
    ad_spend: pl.DataFrame | None = None,
    order_items: pl.DataFrame | None = None,
    products: pl.DataFrame | None = None,
    *,
    start: date,
    end: date,
    tz: str,
    model: str = DEFAULT_MODEL,
    lookback: timedelta = DEFAULT_LOOKBACK,
    default_margin: float = DEFAULT_MARGIN,
    users: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """GMV, ROAS and ROI per channel under one attribution `model` (see
    `compare_attribution_models`). Columns: ATTRIBUTED_COLUMNS."""
    return compare_attribution_models(
        sessions, orders, ad_spend, order_items, products, start=start, end=end, tz=tz, models=[model],
        lookback=lookback, default_margin=default_margin, users=users,
    ).drop("model")
