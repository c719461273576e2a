"""Period summaries and period comparisons (SPEC section 3: KPIs, Period comparison)."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import polars as pl

from metrics.kpis import utc_frames
from metrics.orders import is_valid_order, refund_lines
from metrics.registry import KPIS, with_ratios
from metrics.time import between, business_day, latest_instant, previous_period, utc_bounds

PERIOD_COLUMNS = (
    "active_users", "new_users", "orders", "buyers", "gmv", "refunds", "net_revenue",
    "conversion_rate", "aov", "arppu", "arpu", "repeat_purchase_rate", "sessions", "bounce_rate",
    "session_conversion", "stickiness", "user_growth_rate",
)
COMPARISONS = ("previous", "week_before", "year_before")


def period_summary(
    events: pl.DataFrame,
    sessions: pl.DataFrame,
    orders: pl.DataFrame,
    users: pl.DataFrame,
    *,
    start: date,
    end: date,
    tz: str,
    until: datetime | None = None,
) -> dict[str, float | int | None]:
    """The KPIs of the period start..end as a whole, cut at the instant `until` if given.

    SPEC section 3: active users = distinct users with an event in the period; conversion
    rate(period) = buyers / active users; ARPU = GMV / active users; repeat purchase rate =
    buyers with at least 2 valid orders in the period / buyers; stickiness = mean DAU over the
    period / MAU at its last day; user growth rate = registered users at its end / registered
    users at its start - 1; the other KPIs as in `daily_kpis`, over the whole period.

    `until` serves the comparison of a period still in progress: everything stops there, and
    stickiness averages DAU over the days begun by then. Keys: PERIOD_COLUMNS.
    """
    events, sessions, orders, users = utc_frames(events, sessions, orders, users)
    lower, upper = utc_bounds(start, end, tz)
    if until is not None:
        upper = max(lower, min(upper, until))
    last_moment = (upper - timedelta(microseconds=1)).astimezone(ZoneInfo(tz))
    last_day = min(end, max(start, last_moment.date()))
    valid = between(orders.filter(is_valid_order()), "created_at", lower, upper)
    period_sessions = between(sessions, "started_at", lower, upper)
    period_events = between(events, "event_time", lower, upper)
    days = (last_day - start).days + 1
    month_lower, _ = utc_bounds(last_day - timedelta(days=29), last_day, tz)
    orders_per_buyer = valid.group_by("user_id").len()
    measures = pl.DataFrame(
        {
            "active_users": period_events["user_id"].n_unique(),
            "new_users": between(users, "signup_at", lower, upper).height,
            "orders": valid.height,
            "buyers": orders_per_buyer.height,
            "repeat_buyers": orders_per_buyer.filter(pl.col("len") >= 2).height,
            "gmv": float(valid["amount"].sum()),
            "refunds": float(between(refund_lines(orders), "refund_time", lower, upper)["refund"].sum()),
            "sessions": period_sessions.height,
            "bounced_sessions": int((period_sessions["event_count"] == 1).sum()),
            "converted_sessions": int(period_sessions["has_purchase"].sum()),
            "mean_dau": period_events.select(pl.struct("user_id", business_day("event_time", tz)).n_unique()).item() / days,
            "mau_at_end": between(events, "event_time", month_lower, upper)["user_id"].n_unique(),
            "registered_at_start": users.filter(pl.col("signup_at") < lower).height,
            "registered_at_end": users.filter(pl.col("signup_at") < upper).height,
        },
        schema_overrides={"mean_dau": pl.Float64},
    ).with_columns(
        net_revenue=pl.col("gmv") - pl.col("refunds"),
        user_growth_rate=pl.when(pl.col("registered_at_start") > 0).then(
            pl.col("registered_at_end") / pl.col("registered_at_start") - 1
        ),
    )
    ratios = [name for name in PERIOD_COLUMNS if KPIS[name].is_ratio]
    return with_ratios(measures, ratios).select(PERIOD_COLUMNS).row(0, named=True)


def _year_before(day: date) -> date:
    """The same calendar date a year earlier (29 February becomes the 28th)."""
    try:
        return day.replace(year=day.year - 1)
    except ValueError:
        return day.replace(year=day.year - 1, day=28)


def comparison_periods(start: date, end: date) -> dict[str, tuple[date, date]]:
    """The periods a period is compared with: the previous one of the same length, and the
    same period a week and a (calendar) year earlier."""
    week = timedelta(days=7)
    return {
        "previous": previous_period(start, end),
        "week_before": (start - week, end - week),
        "year_before": (_year_before(start), _year_before(start) + (end - start)),
    }


def compare_periods(
    events: pl.DataFrame,
    sessions: pl.DataFrame,
    orders: pl.DataFrame,
    users: pl.DataFrame,
    *,
    start: date,
    end: date,
    tz: str,
    data_end: datetime | None = None,
) -> pl.DataFrame:
    """Each period KPI for start..end beside the previous period of the same length and the
    same period a week and a year earlier.

    SPEC: "when the current period is still in progress, it is compared with the same elapsed
    part of the other period, never with a whole one." The period is in progress when the
    data end (`data_end`, default the latest event or order) comes before the period's end;
    then every period is cut at its start plus the elapsed time.

    Columns: kpi, current, previous, week_before, year_before and change_vs_previous,
    change_vs_week_before, change_vs_year_before (current / other - 1; null when the other
    is zero or null). `elapsed_part` tells whether and where the periods were cut.
    """
    frames = (events, sessions, orders, users)
    elapsed = elapsed_part(events, orders, start=start, end=end, tz=tz, data_end=data_end)
    lower, _ = utc_bounds(start, end, tz)
    values = {"current": period_summary(*frames, start=start, end=end, tz=tz, until=None if elapsed is None else lower + elapsed)}
    for name, (other_start, other_end) in comparison_periods(start, end).items():
        other_lower, _ = utc_bounds(other_start, other_end, tz)
        until = None if elapsed is None else other_lower + elapsed
        values[name] = period_summary(*frames, start=other_start, end=other_end, tz=tz, until=until)
    table = pl.DataFrame(
        {"kpi": list(PERIOD_COLUMNS)}
        | {
            column: [None if value is None else float(value) for value in (summary[k] for k in PERIOD_COLUMNS)]
            for column, summary in values.items()
        },
        schema={"kpi": pl.String} | {column: pl.Float64 for column in values},
    )
    return table.with_columns(
        pl.when(pl.col(name) != 0).then(pl.col("current") / pl.col(name) - 1).alias(f"change_vs_{name}")
        for name in COMPARISONS
    )


def elapsed_part(
    events: pl.DataFrame,
    orders: pl.DataFrame,
    *,
    start: date,
    end: date,
    tz: str,
    data_end: datetime | None = None,
) -> timedelta | None:
    """How much of the period start..end the data covers, when it ends inside the period
    (None when the period is complete). The data end is included: its instant counts."""
    if data_end is None:
        data_end = latest_instant(*(frame[column] for frame, column in ((events, "event_time"), (orders, "created_at")) if frame.height))
        if data_end is None:
            return None
    lower, upper = utc_bounds(start, end, tz)
    covered_until = data_end + timedelta(microseconds=1)
    if covered_until >= upper:
        return None
    return max(covered_until - lower, timedelta(0))
