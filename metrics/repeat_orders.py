"""New and repeat orders, and repurchase within N days (SPEC section 3).

SPEC: "New and repeat orders: an order is the buyer's first when no valid order of the same
user is earlier (ever, not only in the period); the rest are repeat. Per period: new-buyer and
repeat-buyer orders, GMV and AOV. Repurchase rate within N days (N = 30, 90): buyers of the
period whose next valid order falls within N days of one of their orders in it / buyers; only
buyers whose N days have passed by the data's end count (the rest are shown as pending)."
"""

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Literal

import polars as pl

from metrics.cohorts import index_of_day, period_index, period_start, resolve_data_end, until
from metrics.orders import is_valid_order
from metrics.registry import ratio
from metrics.time import as_utc, between, business_day, utc_bounds

BUYER_KINDS = ("new", "repeat")
NEW_REPEAT_COLUMNS = ("buyer_kind", "orders", "buyers", "gmv", "aov", "share_of_orders", "share_of_gmv")
REPURCHASE_WINDOWS = (30, 90)
REPURCHASE_COLUMNS = (
    "window_days", "buyers", "eligible_buyers", "repurchased_buyers", "repurchase_rate", "pending_buyers",
)


def _valid_in_sequence(orders: pl.DataFrame) -> pl.DataFrame:
    """Valid orders in each user's sequence: by created_at, then order_id, so two orders at the
    same instant have one first (the lower order_id, as the channel table's first-time buyers)."""
    return (
        as_utc(orders, "created_at")
        .filter(is_valid_order())
        .select("order_id", "user_id", "created_at", pl.col("amount").cast(pl.Float64))
        .sort("user_id", "created_at", "order_id")
    )


def new_and_repeat_orders(orders: pl.DataFrame, *, start: date, end: date, tz: str) -> pl.DataFrame:
    """Orders, buyers, GMV and AOV of new-buyer and repeat-buyer orders in `start`..`end`.

    An order is "new" when it is its user's first valid order ever (orders before the period
    count), else "repeat"; a buyer whose first order is in the period and who orders again in
    it has one new and one repeat order, so buyers of the two rows can add up to more than
    the period's buyers. AOV = GMV / orders; share_of_orders and share_of_gmv are of the
    period's valid orders and GMV. Null where the denominator is zero.

    Grain: two rows, "new" then "repeat", present even without orders. Columns:
    NEW_REPEAT_COLUMNS.
    """
    lower, upper = utc_bounds(start, end, tz)
    sequenced = _valid_in_sequence(orders).with_columns(
        buyer_kind=pl.when(pl.col("user_id").is_first_distinct()).then(pl.lit("new")).otherwise(pl.lit("repeat"))
    )
    counted = (
        between(sequenced, "created_at", lower, upper)
        .group_by("buyer_kind")
        .agg(orders=pl.len(), buyers=pl.col("user_id").n_unique(), gmv=pl.col("amount").sum())
    )
    return (
        pl.DataFrame({"buyer_kind": BUYER_KINDS})
        .join(counted, on="buyer_kind", how="left")
        .with_columns(
            pl.col("orders").fill_null(0).cast(pl.Int64),
            pl.col("buyers").fill_null(0).cast(pl.Int64),
            pl.col("gmv").fill_null(0.0),
        )
        .with_columns(
            aov=ratio("gmv", "orders"),
            total_orders=pl.col("orders").sum(),
            total_gmv=pl.col("gmv").sum(),
        )
        .with_columns(share_of_orders=ratio("orders", "total_orders"), share_of_gmv=ratio("gmv", "total_gmv"))
        .select(NEW_REPEAT_COLUMNS)
    )


def repurchase_rates(
    orders: pl.DataFrame,
    *,
    start: date,
    end: date,
    tz: str,
    windows: Sequence[int] = REPURCHASE_WINDOWS,
    data_end: datetime | None = None,
    period: Literal["week", "month"] | None = None,
) -> pl.DataFrame:
    """Repurchase rate within each of `windows` days of the buyers of `start`..`end`.

    A buyer of the period (a user with a valid order created in it) repurchased within N days
    when, for one of their orders in the period, their next valid order (in the period or
    after it) comes at most N x 24 hours later (windows are inclusive). Their N days have
    passed when the data's end is at least N days after their last order in the period: then
    every one of their windows has closed and the answer is final. Only those buyers count
    (eligible_buyers); the others are pending_buyers, even when they already repurchased, so
    that a buyer who has not yet had the time to come back does not lower the rate and one
    who came back early does not raise it. repurchase_rate = repurchased_buyers /
    eligible_buyers, null when no buyer is eligible yet. Two valid orders at the same instant
    are a first order and its next one.

    `data_end` is an instant (zoneless means UTC), default the latest `created_at` in
    `orders`; orders after it are ignored. `period` ("week" Monday start, or "month") splits
    start..end into calendar periods, each with its own buyers, clipped to start..end.

    Grain: one row per window (per period and window with `period`, every period touching
    start..end present). Columns: [period_start,] REPURCHASE_COLUMNS.
    """
    if not windows or any(isinstance(days, bool) or not isinstance(days, int) or days <= 0 for days in windows):
        raise ValueError(f"repurchase windows are positive whole numbers of days, not {list(windows)}")
    orders = as_utc(orders, "created_at")
    data_end = resolve_data_end(data_end, orders["created_at"])
    sequenced = _valid_in_sequence(until(orders, "created_at", data_end)).with_columns(
        gap=(pl.col("created_at").shift(-1) - pl.col("created_at")).over("user_id")
    )
    lower, upper = utc_bounds(start, end, tz)
    group = (
        period_index(business_day("created_at", tz), period).alias("period_index")
        if period else pl.lit(0, pl.Int32).alias("period_index")
    )
    buyers = (
        between(sequenced, "created_at", lower, upper)
        .group_by(group, "user_id")
        .agg(last_order_at=pl.col("created_at").max(), shortest_gap=pl.col("gap").min())
    )
    per_window = []
    for days in windows:
        window = timedelta(days=days)
        eligible = (pl.col("last_order_at") + window <= data_end) if data_end is not None else pl.lit(False)
        per_window.append(
            buyers.group_by("period_index").agg(
                window_days=pl.lit(days, pl.Int64),
                buyers=pl.len().cast(pl.Int64),
                eligible_buyers=eligible.sum().cast(pl.Int64),
                repurchased_buyers=(eligible & (pl.col("shortest_gap") <= window)).sum().cast(pl.Int64),
            )
        )
    first, last = (index_of_day(start, period), index_of_day(end, period)) if period else (0, 0)
    grid = pl.DataFrame({"period_index": pl.int_range(first, last + 1, dtype=pl.Int32, eager=True)}).join(
        pl.DataFrame({"window_days": list(windows)}, schema={"window_days": pl.Int64}), how="cross"
    )
    table = grid.join(pl.concat(per_window), on=["period_index", "window_days"], how="left").with_columns(
        pl.col(name).fill_null(0) for name in ("buyers", "eligible_buyers", "repurchased_buyers")
    ).with_columns(
        repurchase_rate=ratio("repurchased_buyers", "eligible_buyers"),
        pending_buyers=pl.col("buyers") - pl.col("eligible_buyers"),
    )
    if not period:
        return table.select(REPURCHASE_COLUMNS)
    return table.with_columns(period_start=period_start(pl.col("period_index"), period)).select(
        "period_start", *REPURCHASE_COLUMNS
    ).sort("period_start", "window_days")
