"""Daily KPI table and period summaries (SPEC section 3)."""

from datetime import date, timedelta

import polars as pl

from metrics.orders import is_valid_order, refund_lines
from metrics.registry import with_ratios
from metrics.time import as_utc, calendar, in_days

DAILY_COLUMNS = (
    "date", "dau", "wau", "mau", "new_users", "orders", "buyers", "gmv", "refunds",
    "net_revenue", "conversion_rate", "aov", "arppu", "sessions", "bounce_rate",
    "session_conversion",
)
_ROLLING_WINDOWS = {"wau": 7, "mau": 30}


def _rolling_active_users(active_days: pl.DataFrame, start: date, end: date) -> pl.DataFrame:
    """WAU and MAU for start..end from distinct (user_id, date) activity pairs.

    A user active on day d counts on every day D with d <= D <= d + window - 1. Clipping each
    such interval at the user's next active day makes a user's intervals disjoint, so a
    difference array summed over days gives the distinct count in one pass.
    """
    by_user = active_days.sort("user_id", "date").with_columns(
        next_active=pl.col("date").shift(-1).over("user_id")
    )
    days = calendar(start - timedelta(days=max(_ROLLING_WINDOWS.values())), end + timedelta(days=1))
    result = calendar(start, end)
    for name, window in _ROLLING_WINDOWS.items():
        covered_until = pl.min_horizontal(
            pl.col("date") + timedelta(days=window - 1),
            (pl.col("next_active") - timedelta(days=1)).fill_null(date.max),
        )
        steps = pl.concat(
            [
                by_user.select("date", step=pl.lit(1, pl.Int64)),
                by_user.select(date=covered_until + timedelta(days=1), step=pl.lit(-1, pl.Int64)),
            ]
        ).group_by("date").agg(pl.col("step").sum())
        counts = (
            days.join(steps, on="date", how="left")
            .sort("date")
            .select("date", pl.col("step").fill_null(0).cum_sum().alias(name))
        )
        result = result.join(counts, on="date", how="left")
    return result


def utc_frames(events, sessions, orders, users):
    """The four frames with their timestamps UTC-aware (SPEC: a zoneless timestamp is UTC)."""
    return (
        as_utc(events, "event_time"),
        as_utc(sessions, "started_at"),
        as_utc(orders, "created_at", "refunded_at"),
        as_utc(users, "signup_at"),
    )


def daily_kpis(
    events: pl.DataFrame,
    sessions: pl.DataFrame,
    orders: pl.DataFrame,
    users: pl.DataFrame,
    *,
    start: date,
    end: date,
    tz: str,
) -> pl.DataFrame:
    """The daily KPI table: one row per business day D from `start` to `end` inclusive.

    SPEC section 3: DAU(D) = users with at least one event on D; WAU(D) / MAU(D) = distinct
    users active in the 7 / 30 days ending on D; new users(D) = users whose signup_at falls on
    D; orders = count of valid orders, buyers = distinct users with a valid order, GMV = sum of
    amount of valid orders, all by created_at; refunds by refunded_at (else created_at); net
    revenue = GMV - refunds; conversion rate = buyers on D / DAU on D; AOV = GMV / orders;
    ARPPU = GMV / buyers; sessions belong to the day of their first event; bounce rate =
    sessions with exactly one event / sessions; session conversion = sessions with a purchase
    event / sessions. Days without data are present with zero counts and null ratios.

    `sessions` comes from `metrics.sessions.derive_sessions` over all events.
    Columns: DAILY_COLUMNS.
    """
    events, sessions, orders, users = utc_frames(events, sessions, orders, users)
    days = calendar(start, end)
    rolling_start = start - timedelta(days=max(_ROLLING_WINDOWS.values()) - 1)
    active_days = in_days(events, "event_time", rolling_start, end, tz).select("user_id", "date").unique()
    dau = active_days.filter(pl.col("date") >= start).group_by("date").agg(active_users=pl.len())
    rolling = _rolling_active_users(active_days, start, end)

    new_users = in_days(users, "signup_at", start, end, tz).group_by("date").agg(new_users=pl.len())
    sales = (
        in_days(orders.filter(is_valid_order()), "created_at", start, end, tz)
        .group_by("date")
        .agg(orders=pl.len(), buyers=pl.col("user_id").n_unique(), gmv=pl.col("amount").sum())
    )
    refunds = (
        in_days(refund_lines(orders), "refund_time", start, end, tz)
        .group_by("date")
        .agg(refunds=pl.col("refund").sum())
    )
    session_counts = (
        in_days(sessions, "started_at", start, end, tz)
        .group_by("date")
        .agg(
            sessions=pl.len(),
            bounced_sessions=(pl.col("event_count") == 1).sum(),
            converted_sessions=pl.col("has_purchase").sum(),
        )
    )
    table = days
    for part in (dau, rolling, new_users, sales, refunds, session_counts):
        table = table.join(part, on="date", how="left")
    counts = ["active_users", "wau", "mau", "new_users", "orders", "buyers", "sessions",
              "bounced_sessions", "converted_sessions"]
    table = table.with_columns(
        *[pl.col(name).fill_null(0).cast(pl.Int64) for name in counts],
        *[pl.col(name).fill_null(0.0).cast(pl.Float64) for name in ("gmv", "refunds")],
    ).with_columns(net_revenue=pl.col("gmv") - pl.col("refunds"))
    table = with_ratios(table, ["conversion_rate", "aov", "arppu", "bounce_rate", "session_conversion"])
    return table.rename({"active_users": "dau"}).select(DAILY_COLUMNS).sort("date")
