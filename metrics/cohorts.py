"""Cohort retention, historical LTV curves and channel payback (SPEC section 3, Cohort retention).

SPEC: "a user's cohort is the week (Monday start) or month of their first event (or signup, or
first valid order: selectable). Retention at offset n = cohort users active (or buying,
selectable) in period cohort+n / cohort size ("on"); the "on or after" variant counts users
active in period n or any later one. Offset 0 is 100 % for activity cohorts. Cells whose period
has not ended at the data's end are marked incomplete. Revenue per cohort user by offset,
cumulative, is the historical LTV curve; by acquisition channel with that channel's CAC it gives
the payback period."

Periods are calendar periods of business days, handled as running numbers (`period_index`), so
that an offset is a subtraction and "the previous interval" is the number before. The data's
end is an instant (default: the latest event or order); data after it is ignored, and a period
has ended at it when it falls on a business day of a later period.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal

import polars as pl

from metrics.orders import attribute_orders, is_valid_order
from metrics.registry import ratio
from metrics.time import as_utc, business_day, latest_instant, utc_bounds

Period = Literal["day", "week", "month"]
CohortPeriod = Literal["week", "month"]
CohortBy = Literal["activity", "signup", "first_order"]
Measure = Literal["activity", "purchase"]
RetentionMode = Literal["on", "on_or_after"]

COHORT_PERIODS = ("week", "month")
COHORT_SOURCES = ("activity", "signup", "first_order")
MEASURES = ("activity", "purchase")
RETENTION_MODES = ("on", "on_or_after")
DEFAULT_MARGIN = 0.30

RETENTION_COLUMNS = ("cohort", "offset", "cohort_size", "retained", "rate", "complete")
LTV_COLUMNS = ("cohort", "offset", "cohort_size", "revenue", "revenue_per_user", "ltv", "complete")
PAYBACK_CHANNEL_COLUMNS = ("channel", "spend", "first_time_buyers", "cac", "payback_offset")
PAYBACK_CURVE_COLUMNS = (
    "channel", "offset", "observed_buyers", "revenue_per_buyer", "cumulative_revenue_per_buyer",
)

_FIRST_MONDAY = 4  # 1970-01-05 is day 4 of the epoch: weeks are counted from it


def period_index(day: pl.Expr, period: Period) -> pl.Expr:
    """The running number of the calendar day, Monday-start week or month that holds `day`."""
    days_since_epoch = day.cast(pl.Int32)
    if period == "day":
        return days_since_epoch
    if period == "week":
        return (days_since_epoch - _FIRST_MONDAY) // 7  # floor division: right before 1970 too
    if period == "month":
        return day.dt.year().cast(pl.Int32) * 12 + day.dt.month().cast(pl.Int32) - 1
    raise ValueError(f"period must be day, week or month, not {period!r}")


def period_start(index: pl.Expr, period: Period) -> pl.Expr:
    """The first day of the period numbered `index`: the inverse of `period_index`."""
    if period == "day":
        return index.cast(pl.Date)
    if period == "week":
        return (index * 7 + _FIRST_MONDAY).cast(pl.Date)
    if period == "month":
        return pl.date(index // 12, index % 12 + 1, 1)
    raise ValueError(f"period must be day, week or month, not {period!r}")


def index_of_day(day: date, period: Period) -> int:
    """`period_index` of one date."""
    return pl.select(period_index(pl.lit(day, pl.Date), period)).item()


def require_choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}, not {value!r}")


def resolve_data_end(data_end: datetime | None, *times: pl.Series) -> datetime | None:
    """The data's end as a UTC-aware instant: `data_end` (zoneless means UTC), else the latest
    of `times`; None when there is no data at all."""
    if data_end is not None:
        return (data_end if data_end.tzinfo else data_end.replace(tzinfo=UTC)).astimezone(UTC)
    return latest_instant(*times)


def last_period_index(data_end: datetime | None, tz: str, period: Period) -> int | None:
    """The number of the period holding the data's end, the last period with cells."""
    if data_end is None:
        return None
    moment = pl.DataFrame({"moment": [data_end]}, schema={"moment": pl.Datetime("us", "UTC")})
    return index_of_day(moment.select(business_day("moment", tz)).item(), period)


def until(frame: pl.DataFrame, column: str, data_end: datetime | None) -> pl.DataFrame:
    """The rows of `frame` at or before the data's end."""
    return frame if data_end is None else frame.filter(pl.col(column) <= data_end)


def period_starts_utc(first_period: int, last_period: int, tz: str, period: Period) -> pl.Series:
    """The UTC instants at which periods first..last begin in the business zone."""
    first_days = pl.select(period_start(pl.int_range(first_period, last_period + 1, dtype=pl.Int32), period))
    return pl.Series(
        [utc_bounds(day, day, tz)[0] for day in first_days.to_series()], dtype=pl.Datetime("us", "UTC")
    )


def active_periods(frame: pl.DataFrame, column: str, periods: range, *, tz: str, period: Period) -> pl.DataFrame:
    """Distinct (user_id, period) pairs of the rows whose `column` falls in one of `periods`.

    Locating millions of timestamps among a few hundred period boundaries is several times
    faster than taking each one's business day, and gives the same period.
    """
    if not periods:
        return pl.DataFrame(schema={"user_id": frame.schema["user_id"], "period": pl.Int32})
    boundaries = period_starts_utc(periods.start, periods.stop, tz, period)
    return (
        frame.lazy()
        .filter(pl.col(column) >= boundaries[0], pl.col(column) < boundaries[-1])
        .select(
            "user_id",
            period=pl.lit(boundaries).search_sorted(pl.col(column), side="right").cast(pl.Int32)
            + (periods.start - 1),
        )
        .unique()
        .collect()
    )


@dataclass(frozen=True)
class _Cohorts:
    """Cohort members (user_id, cohort) and every cell (cohort, offset, cohort_size) from
    offset 0 to the period holding the data's end; cohorts are period numbers here."""

    members: pl.DataFrame
    cells: pl.DataFrame
    first_cohort: int
    last_period: int | None

    @property
    def periods(self) -> range:
        """The periods the cells cover."""
        return range(0) if self.last_period is None else range(self.first_cohort, self.last_period + 1)


def _first_times(
    events: pl.DataFrame, orders: pl.DataFrame, users: pl.DataFrame, cohort_by: CohortBy
) -> pl.DataFrame:
    """Per user, the instant that places them in a cohort, over all data."""
    if cohort_by == "activity":
        return events.group_by("user_id").agg(first_at=pl.col("event_time").min())
    if cohort_by == "signup":
        return users.select("user_id", first_at=pl.col("signup_at")).drop_nulls("first_at")
    return (
        orders.filter(is_valid_order()).group_by("user_id").agg(first_at=pl.col("created_at").min())
    )


def _cohorts(first_times: pl.DataFrame, *, start: date, end: date, tz: str, period: Period,
             data_end: datetime | None) -> _Cohorts:
    """The cohorts whose period starts on a business day in start..end, up to the data's end.

    Cohorts without members are present with size 0, as days without data are in daily tables.
    """
    last_period = last_period_index(data_end, tz, period)
    first_cohort = index_of_day(start - timedelta(days=1), period) + 1  # the first to start on or after `start`
    last_cohort = index_of_day(end, period)
    if last_period is not None:
        last_cohort = min(last_cohort, last_period)
    members = first_times.select(
        "user_id", cohort=period_index(business_day("first_at", tz), period)
    ).filter(pl.col("cohort").is_between(first_cohort, last_cohort))
    sizes = members.group_by("cohort").agg(cohort_size=pl.len().cast(pl.Int64))
    cohort_numbers = [] if last_period is None else list(range(first_cohort, last_cohort + 1))
    cells = (
        pl.DataFrame({"cohort": cohort_numbers}, schema={"cohort": pl.Int32})
        .with_columns(offset=pl.int_ranges(0, last_period - pl.col("cohort") + 1, dtype=pl.Int32))
        .explode("offset")
        .join(sizes, on="cohort", how="left")
        .with_columns(pl.col("cohort_size").fill_null(0))
    )
    return _Cohorts(members=members, cells=cells, first_cohort=first_cohort, last_period=last_period)


def _finish(table: pl.DataFrame, last_period: int | None, period: Period, columns) -> pl.DataFrame:
    """Mark incomplete cells, turn cohort numbers into their first day, order the columns."""
    return (
        table.with_columns(
            complete=(pl.col("cohort") + pl.col("offset")) < pl.lit(last_period, pl.Int32),
            cohort=period_start(pl.col("cohort"), period),
            offset=pl.col("offset").cast(pl.Int64),
        )
        .select(columns)
        .sort("cohort", "offset")
    )


def _prepared(
    events: pl.DataFrame, orders: pl.DataFrame, users: pl.DataFrame, data_end: datetime | None
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, datetime | None]:
    """The frames with UTC timestamps, events and orders cut at the data's end, and that end."""
    events, orders, users = as_utc(events, "event_time"), as_utc(orders, "created_at"), as_utc(users, "signup_at")
    data_end = resolve_data_end(data_end, events["event_time"], orders["created_at"])
    return until(events, "event_time", data_end), until(orders, "created_at", data_end), users, data_end


def retention(
    events: pl.DataFrame,
    orders: pl.DataFrame,
    users: pl.DataFrame,
    *,
    start: date,
    end: date,
    tz: str,
    period: CohortPeriod = "week",
    cohort_by: CohortBy = "activity",
    measure: Measure = "activity",
    mode: RetentionMode = "on",
    data_end: datetime | None = None,
) -> pl.DataFrame:
    """The retention triangle in long form: one row per cohort and offset.

    SPEC: "Retention at offset n = cohort users active (or buying, selectable) in period
    cohort+n / cohort size ("on"); the "on or after" variant counts users active in period n or
    any later one. Offset 0 is 100 % for activity cohorts."

    A user's cohort is the week or month of their first event, signup or first valid order over
    all data; the cohorts shown are those whose period starts on a business day in start..end.
    Active means an event (measure "activity") or a valid order (measure "purchase") in the
    period. Offsets run to the period holding `data_end` (default: the latest event or order);
    data after `data_end` is ignored. Activity before the cohort's period is not counted.

    Columns: RETENTION_COLUMNS; cohort is the period's first day (a Monday or the 1st), rate is
    retained / cohort_size (null for an empty cohort), complete is False for cells whose period
    has not ended at the data's end.
    """
    for name, value, allowed in (("period", period, COHORT_PERIODS), ("cohort_by", cohort_by, COHORT_SOURCES),
                                 ("measure", measure, MEASURES), ("mode", mode, RETENTION_MODES)):
        require_choice(name, value, allowed)
    events, orders, users, data_end = _prepared(events, orders, users, data_end)
    cohorts = _cohorts(_first_times(events, orders, users, cohort_by), start=start, end=end, tz=tz,
                       period=period, data_end=data_end)
    activity = (
        active_periods(events, "event_time", cohorts.periods, tz=tz, period=period)
        if measure == "activity"
        else active_periods(orders.filter(is_valid_order()), "created_at", cohorts.periods, tz=tz, period=period)
    )
    # Activity before the cohort's period (say, before signing up) has a negative offset, which
    # no cell has: the join with the cells leaves it out.
    user_offsets = cohorts.members.join(activity, on="user_id").select(
        "user_id", "cohort", offset=pl.col("period") - pl.col("cohort")
    )
    if mode == "on_or_after":
        # A user counts at every offset up to their last active one: count last offsets, then
        # sum them from the far end of each cohort's row.
        user_offsets = user_offsets.group_by("user_id", "cohort").agg(pl.col("offset").max())
    counts = user_offsets.group_by("cohort", "offset").agg(retained=pl.len().cast(pl.Int64))
    table = cohorts.cells.join(counts, on=["cohort", "offset"], how="left").with_columns(
        pl.col("retained").fill_null(0)
    )
    if mode == "on_or_after":
        table = table.sort("cohort", "offset").with_columns(
            pl.col("retained").cum_sum(reverse=True).over("cohort")
        )
    table = table.with_columns(rate=ratio("retained", "cohort_size"))
    return _finish(table, cohorts.last_period, period, RETENTION_COLUMNS)


def ltv_curves(
    orders: pl.DataFrame,
    users: pl.DataFrame,
    events: pl.DataFrame,
    *,
    start: date,
    end: date,
    tz: str,
    period: CohortPeriod = "month",
    cohort_by: CohortBy = "first_order",
    data_end: datetime | None = None,
) -> pl.DataFrame:
    """The historical LTV curve of each cohort: revenue per cohort user by offset, cumulative.

    SPEC: "Revenue per cohort user by offset, cumulative, is the historical LTV curve."
    Revenue is GMV: the amount of the cohort's valid orders (refunded ones included) by the
    period of `created_at`. Cohorts, offsets and completeness are those of `retention`; orders
    before a user's cohort period (say, bought before signing up) are not counted.

    Columns: LTV_COLUMNS; revenue is the cohort's GMV in the offset's period, revenue_per_user
    = revenue / cohort_size, ltv = GMV of offsets 0..offset / cohort_size (null for an empty
    cohort).
    """
    require_choice("period", period, COHORT_PERIODS)
    require_choice("cohort_by", cohort_by, COHORT_SOURCES)
    events, orders, users, data_end = _prepared(events, orders, users, data_end)
    cohorts = _cohorts(_first_times(events, orders, users, cohort_by), start=start, end=end, tz=tz,
                       period=period, data_end=data_end)
    revenue = (
        orders.filter(is_valid_order())
        .select("user_id", "amount", period=period_index(business_day("created_at", tz), period))
        .join(cohorts.members, on="user_id")
        .group_by("cohort", offset=pl.col("period") - pl.col("cohort"))
        .agg(revenue=pl.col("amount").sum().cast(pl.Float64))
    )
    table = (
        cohorts.cells.join(revenue, on=["cohort", "offset"], how="left")
        .with_columns(pl.col("revenue").fill_null(0.0))
        .sort("cohort", "offset")
        .with_columns(cumulative_revenue=pl.col("revenue").cum_sum().over("cohort"))
        .with_columns(
            revenue_per_user=ratio("revenue", "cohort_size"), ltv=ratio("cumulative_revenue", "cohort_size")
        )
    )
    return _finish(table, cohorts.last_period, period, LTV_COLUMNS)


@dataclass(frozen=True)
class ChannelPayback:
    """`channels`: one row per acquisition channel, PAYBACK_CHANNEL_COLUMNS.
    `curves`: cumulative revenue per acquired buyer by offset, PAYBACK_CURVE_COLUMNS."""

    channels: pl.DataFrame
    curves: pl.DataFrame


def channel_payback(
    orders: pl.DataFrame,
    users: pl.DataFrame,
    ad_spend: pl.DataFrame,
    *,
    start: date,
    end: date,
    tz: str,
    period: CohortPeriod = "month",
    margin: float = DEFAULT_MARGIN,
    data_end: datetime | None = None,
) -> ChannelPayback:
    """CAC, the LTV curve of the buyers each channel acquired, and when they paid back.

    SPEC: "CAC = spend / first-time buyers", an order's channel being "its own `channel`, else
    its user's acquisition channel"; "Revenue per cohort user by offset, cumulative, is the
    historical LTV curve; by acquisition channel with that channel's CAC it gives the payback
    period."

    A first-time buyer is a user whose first valid order (over all data) falls on a business day
    in start..end; that order's channel acquired them. Spend is `ad_spend` dated start..end; a
    channel without spend rows spent 0, so its CAC is 0 and it pays back at offset 0. Offsets are
    calendar periods since the first order's period (offset 0 holds the first order); revenue is
    the GMV of all the buyer's valid orders, whatever their channel. Buyers enter the curve at
    an offset only once its period has ended at the data's end (default: the latest order), so
    an unfinished period does not pull the average down: revenue_per_buyer is the mean GMV in
    the offset over those observed buyers, and the cumulative curve sums these means.
    payback_offset is the first offset where cumulative revenue per buyer x `margin` >= CAC,
    null when that never happens or CAC is null (spend but no first-time buyers).
    """
    require_choice("period", period, COHORT_PERIODS)
    orders = as_utc(orders, "created_at")
    data_end = resolve_data_end(data_end, orders["created_at"])
    last_period = last_period_index(data_end, tz, period)
    valid = (
        attribute_orders(until(orders, "created_at", data_end), users)
        .filter(is_valid_order())
        .with_columns(period=period_index(business_day("created_at", tz), period))
    )
    lower, upper = utc_bounds(start, end, tz)
    acquired = (
        valid.sort("created_at", "order_id")
        .unique("user_id", keep="first", maintain_order=True)
        .filter(pl.col("created_at") >= lower, pl.col("created_at") < upper)
        .select("user_id", "channel", first_period="period")
    )
    spend = (
        ad_spend.filter(pl.col("date").is_between(start, end))
        .group_by("channel")
        .agg(spend=pl.col("spend").sum().cast(pl.Float64))
    )
    buyers = acquired.group_by("channel").agg(first_time_buyers=pl.len().cast(pl.Int64))
    channels = (
        spend.join(buyers, on="channel", how="full", coalesce=True, nulls_equal=True)
        .with_columns(pl.col("spend").fill_null(0.0), pl.col("first_time_buyers").fill_null(0))
        .with_columns(cac=ratio("spend", "first_time_buyers"))
    )
    curves = _payback_curves(valid, acquired, last_period)
    paid_back = (
        curves.join(channels.select("channel", "cac"), on="channel", nulls_equal=True)
        .filter(pl.col("cumulative_revenue_per_buyer") * margin >= pl.col("cac"))
        .group_by("channel")
        .agg(payback_offset=pl.col("offset").min())
    )
    channels = channels.join(paid_back, on="channel", how="left", nulls_equal=True)
    return ChannelPayback(
        channels=channels.select(PAYBACK_CHANNEL_COLUMNS).sort("channel"),
        curves=curves.select(PAYBACK_CURVE_COLUMNS).sort("channel", "offset"),
    )


def _payback_curves(valid: pl.DataFrame, acquired: pl.DataFrame, last_period: int | None) -> pl.DataFrame:
    """Per channel and complete offset: observed buyers and their mean and cumulative GMV."""
    # Buyers acquired in the same period are observed at the same offsets, 0 up to the last
    # period that has ended, so expanding (channel, first period) groups stays small.
    observed = (
        acquired.group_by("channel", "first_period")
        .agg(buyers=pl.len())
        .with_columns(offset=pl.int_ranges(0, pl.lit(last_period, pl.Int32) - pl.col("first_period"), dtype=pl.Int32))
        .explode("offset")
        .drop_nulls("offset")
        .group_by("channel", "offset")
        .agg(observed_buyers=pl.col("buyers").sum().cast(pl.Int64))
    )
    revenue = (
        valid.select("user_id", "period", "amount")
        .join(acquired, on="user_id")
        .with_columns(offset=pl.col("period") - pl.col("first_period"))
        .filter(pl.col("period") < last_period)
        .group_by("channel", "offset")
        .agg(revenue=pl.col("amount").sum().cast(pl.Float64))
    )
    return (
        observed.join(revenue, on=["channel", "offset"], how="left", nulls_equal=True)
        .with_columns(pl.col("revenue").fill_null(0.0))
        .with_columns(revenue_per_buyer=ratio("revenue", "observed_buyers"))
        .sort("channel", "offset")
        .with_columns(
            cumulative_revenue_per_buyer=pl.col("revenue_per_buyer").cum_sum().over("channel"),
            offset=pl.col("offset").cast(pl.Int64),
        )
    )
