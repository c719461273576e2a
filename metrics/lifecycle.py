"""User lifecycle: new, returning, resurrecting and dormant users per interval (SPEC section 3)."""

from datetime import date, datetime

import polars as pl

from metrics.cohorts import (
    Period,
    active_periods,
    index_of_day,
    last_period_index,
    period_index,
    period_start,
    require_choice,
    resolve_data_end,
    until,
)
from metrics.time import as_utc, business_day

LIFECYCLE_PERIODS = ("day", "week", "month")
LIFECYCLE_COLUMNS = ("period", "new", "returning", "resurrecting", "dormant", "complete")


def lifecycle(
    events: pl.DataFrame,
    users: pl.DataFrame,
    *,
    start: date,
    end: date,
    tz: str,
    period: Period = "day",
    data_end: datetime | None = None,
) -> pl.DataFrame:
    """Users in each lifecycle state, one row per interval.

    SPEC: "Lifecycle (per day, week or month): new (active and signed up in the interval),
    returning (active now and in the previous interval, not new), resurrecting (active now,
    not in the previous interval, not new), dormant (active in the previous interval, not now);
    the interval before the first one counts, so the first row has returning and dormant users."

    Active means at least one event in the interval. Intervals are whole calendar days, weeks
    (Monday to Sunday) or months: those holding a business day of start..end, so a first or
    last interval reaches past start or end rather than being cut short. complete is False for
    an interval that has not ended at the data's end (`data_end`, default the latest event);
    events after `data_end` are ignored, and intervals after it are present, incomplete.

    Columns: LIFECYCLE_COLUMNS; period is the interval's first day; dormant is a positive count
    (charts draw it below zero).
    """
    require_choice("period", period, LIFECYCLE_PERIODS)
    events, users = as_utc(events, "event_time"), as_utc(users, "signup_at")
    data_end = resolve_data_end(data_end, events["event_time"])
    events = until(events, "event_time", data_end)
    first, last = index_of_day(start, period), index_of_day(end, period)
    same_user_before = pl.col("user_id").shift(1) == pl.col("user_id")
    same_user_after = pl.col("user_id").shift(-1) == pl.col("user_id")
    active = (
        active_periods(events, "event_time", range(first - 1, last + 1), tz=tz, period=period)
        .sort("user_id", "period")
        .with_columns(
            previous=pl.when(same_user_before).then(pl.col("period").shift(1)),
            following=pl.when(same_user_after).then(pl.col("period").shift(-1)),
        )
    )
    signups = users.select("user_id", signup_period=period_index(business_day("signup_at", tz), period))
    current = active.filter(pl.col("period") >= first).join(signups, on="user_id", how="left")
    is_new = (pl.col("signup_period") == pl.col("period")).fill_null(False)
    was_active_before = (pl.col("previous") == pl.col("period") - 1).fill_null(False)
    states = current.group_by("period").agg(
        new=is_new.sum(),
        returning=(~is_new & was_active_before).sum(),
        resurrecting=(~is_new & ~was_active_before).sum(),
    )
    # A user goes dormant in the interval after an active one that is not followed by activity.
    dormant = (
        active.filter((pl.col("following") != pl.col("period") + 1).fill_null(True))
        .group_by(period=pl.col("period") + 1)
        .agg(dormant=pl.len())
    )
    last_period = last_period_index(data_end, tz, period)
    return (
        pl.DataFrame({"period": list(range(first, last + 1))}, schema={"period": pl.Int32})
        .join(states, on="period", how="left")
        .join(dormant, on="period", how="left")
        .with_columns(
            *[pl.col(name).fill_null(0).cast(pl.Int64) for name in ("new", "returning", "resurrecting", "dormant")],
            complete=(pl.col("period") < pl.lit(last_period, pl.Int32)).fill_null(False),
        )
        .with_columns(period=period_start(pl.col("period"), period))
        .select(LIFECYCLE_COLUMNS)
    )
