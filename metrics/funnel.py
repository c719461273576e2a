"""Conversion funnels (SPEC section 3, Funnel): users per step, entrants, drop-offs, step times.

SPEC: "**Funnel** (ordered): steps s1..sk (event types, each with optional property filters),
a conversion window W (default 7 days; optionally one window per step). A user enters at
any s1 event inside the period; later steps may fall after the period's end, within the
window (the period bounds entry only, so late converters are not cut off). The user
reaches step j when some s1 event at t1 is followed by events of s2..sj, each a different
event of the user (a repeated step type needs a repeated event; different events at the
same time may match consecutive steps), at t1 <= t2 <= ... <= tj with tj - t1 <= W; each
user counts once per step, using the entry that reaches the furthest step (ties: the
earliest entry). Exclusion events: an entry with an excluded event between two of its
matched steps does not count. Entries whose window has not yet closed at the data's end are
flagged as in progress."

How this module reads the parts the SPEC leaves open:
- "Between" is strictly between in time, for exclusions and for strict mode alike: an event
  at the same instant as a matched step is not between it and its neighbour.
- An excluded event between the entry's matched steps voids the whole entry, as in the tools
  analysts know (the user leaves the funnel rather than dropping off at the step before); it
  is judged on the earliest matching to the entry's furthest step, which spans the least
  time, so a later match never avoids an exclusion that the earliest one meets. An excluded
  event after the furthest matched step does not count against the entry. Another entry of
  the user that avoids the exclusion counts instead.
- An entry is in progress when entry_time + W is after the latest event in `events`.
- Entries of one user at one instant are one entry (the first such event gives the breakdown).
"""

from datetime import date, datetime, timedelta

import polars as pl

from metrics.funnel_matching import (
    StepMatcher,
    first_of_run,
    numbered_instants,
    step_at,
)
from metrics.funnel_modes import match_ordered, match_strict, match_unordered
from metrics.funnel_spec import FunnelSpec, FunnelStep
from metrics.time import as_utc, utc_bounds

__all__ = ["FunnelSpec", "FunnelStep", "funnel", "funnel_users", "drop_offs", "time_between_steps"]

MATCHERS = {"ordered": match_ordered, "strict": match_strict, "unordered": match_unordered}


def _user_breakdown(events: pl.DataFrame, spec: FunnelSpec, users: pl.DataFrame | None) -> pl.DataFrame | None:
    """Checks that the events hold the columns the spec reads; returns user_id and the
    breakdown of `users` when the breakdown is a users column, None when it is none or an
    events column."""
    missing = sorted(spec.columns_used() - set(events.columns))
    if missing:
        raise ValueError(f"the funnel's step filters need event columns the events do not have: {', '.join(missing)}")
    if not spec.breakdown or spec.breakdown in events.columns:
        return None
    if users is None or spec.breakdown not in users.columns:
        raise ValueError(f"the breakdown {spec.breakdown!r} is neither an events column nor a users column")
    return users.select("user_id", spec.breakdown)


def _scoped_events(events: pl.DataFrame, spec: FunnelSpec, lower: datetime, upper: datetime) -> pl.DataFrame:
    """The events a funnel can use, in one pass: those in [lower - reach back, upper + W], with
    only the columns it reads (user_id, event_time, event_type, the step filters' columns and
    an events breakdown). Outside strict mode, only events of a step's or an excluded type.

    Unordered windows may hold events up to W before the entry; the others start at it.
    Strict mode keeps every event type: any of them breaks a chain.
    """
    reach_back = spec.window if spec.mode == "unordered" else timedelta(0)
    carried = [spec.breakdown] if spec.breakdown in events.columns else []
    columns = list(dict.fromkeys(["user_id", "event_time", "event_type", *sorted(spec.columns_used()), *carried]))
    scoped = (
        events.lazy()
        .filter(pl.col("event_time") >= lower - reach_back, pl.col("event_time") <= upper + spec.window)
        .select(columns)
        .collect()
    )
    if spec.mode != "strict":
        # Filtering by type after the time range, on the smaller frame, is cheaper than in the pass.
        types = list(dict.fromkeys([*(step.event_type for step in spec.steps), *spec.exclusions]))
        scoped = scoped.filter(pl.col("event_type").is_in(types))
    return numbered_instants(scoped)


def _entries(scoped: pl.DataFrame, spec: FunnelSpec, lower: datetime, upper: datetime) -> pl.DataFrame:
    """One row per user and instant of an s1 event in [lower, upper) (its day, in the business
    zone, is in the period), from `_scoped_events`."""
    carried = [spec.breakdown] if spec.breakdown in scoped.columns else []
    s1_events = scoped.filter(spec.steps[0].condition(), pl.col("event_time") >= lower, pl.col("event_time") < upper)
    # `scoped` is sorted by instant, stably, so an instant's first row is its first event.
    return s1_events.filter(first_of_run("_instant")).select(
        "user_id", pl.col("event_time").alias("entry_time"), *carried, "_instant"
    )


def _entrants_schema(events: pl.DataFrame, spec: FunnelSpec, user_breakdown: pl.DataFrame | None) -> dict:
    time = events.schema["event_time"]
    schema = {"user_id": events.schema["user_id"], "entry_time": time, "furthest_step": pl.Int64}
    schema |= {step_at(step): time for step in range(1, len(spec.steps) + 1)}
    schema["in_progress"] = pl.Boolean
    if spec.breakdown:
        source = events if user_breakdown is None else user_breakdown
        schema[spec.breakdown] = source.schema[spec.breakdown]
    return schema


def funnel_users(
    events: pl.DataFrame,
    spec: FunnelSpec,
    *,
    start: date,
    end: date,
    tz: str,
    users: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """One row per entering user: the entry that counts for them and the steps it reached.

    Columns: user_id, entry_time, furthest_step, step_1_at..step_k_at (null past the furthest
    step), in_progress, and the breakdown column when the spec has one (its value at the
    entry's s1 event, or the user's, from `users`). A user enters at an s1 event whose
    business day (zone `tz`) is in start..end; the user's entry is the one reaching the
    furthest step, the earliest on ties; entries voided by an exclusion do not count, so a
    user whose every entry is voided is not listed. Sorted by user_id.
    """
    events = as_utc(events, "event_time")
    user_breakdown = _user_breakdown(events, spec, users)
    schema = _entrants_schema(events, spec, user_breakdown)
    lower, upper = utc_bounds(start, end, tz)
    scoped = _scoped_events(events, spec, lower, upper)
    entries = _entries(scoped, spec, lower, upper)
    if entries.is_empty():
        return pl.DataFrame(schema=schema)

    nearby = scoped.join(entries.select("user_id").unique(), on="user_id", how="semi")
    exclusions = nearby.filter(pl.col("event_type").is_in(spec.exclusions)).select("user_id", "event_time").sort("user_id", "event_time")
    matcher = StepMatcher(spec)
    relevant = matcher.with_conditions(nearby)
    if spec.mode != "strict":  # strict mode needs every event: any of them breaks a chain
        relevant = relevant.filter("_is_step")
    matched = MATCHERS[spec.mode](matcher, relevant, entries, exclusions)

    data_end = events["event_time"].max()
    entrants = (
        matched.filter(~pl.col("excluded"))
        # In entry order (by user, then time), the first of each user's entries that reach
        # the user's furthest step.
        .sort("_instant")
        .filter(pl.col("reached") == pl.col("reached").max().over("user_id"))
        .filter(first_of_run("user_id"))
        .rename({"reached": "furthest_step"})
        .with_columns(in_progress=pl.col("entry_time") + spec.window > data_end)
    )
    if user_breakdown is not None:
        entrants = entrants.join(user_breakdown, on="user_id", how="left")
    return entrants.select(*schema).cast(schema)


def _steps_long(entrants: pl.DataFrame, spec: FunnelSpec) -> pl.DataFrame:
    """One row per entrant and step reached: step, reached_at, seconds_from_previous."""
    step_columns = [step_at(step) for step in range(1, len(spec.steps) + 1)]
    long = entrants.unpivot(
        index=[column for column in entrants.columns if column not in step_columns],
        on=step_columns,
        variable_name="step",
        value_name="reached_at",
    ).with_columns(step=pl.col("step").str.extract(r"step_(\d+)_at").cast(pl.Int64))
    return (
        long.filter(pl.col("reached_at").is_not_null())
        .sort("user_id", "step")
        .with_columns(
            seconds_from_previous=(pl.col("reached_at") - pl.col("reached_at").shift(1).over("user_id"))
            .dt.total_microseconds()
            / 1_000_000
        )
    )


def _per_step(entrants: pl.DataFrame, spec: FunnelSpec, keys: list[str]) -> pl.DataFrame:
    """Per breakdown value and step: users, median_seconds_from_previous, in_progress.

    The same figures as grouping `_steps_long` by step, read off the wide step_j_at columns
    without unpivoting: a user is at step j when step_j_at is set, and the time from the
    previous step is from the latest set step before j (as the long frame's shift finds it).
    Every breakdown value among the entrants gets every step, with 0 users where none reached it.
    """
    step_count = len(spec.steps)
    figures = []
    for step in range(1, step_count + 1):
        reached_at = pl.col(step_at(step))
        if step == 1:
            seconds = pl.lit(None, pl.Float64)
        else:
            previous = pl.coalesce(step_at(earlier) for earlier in range(step - 1, 0, -1))
            seconds = (reached_at - previous).dt.total_microseconds() / 1_000_000
        figures += [
            reached_at.is_not_null().sum().cast(pl.Int64).alias(f"users_{step}"),
            seconds.median().alias(f"median_{step}"),
            (pl.col("in_progress") & reached_at.is_not_null()).sum().cast(pl.Int64).alias(f"in_progress_{step}"),
        ]
    wide = entrants.group_by(keys).agg(figures) if keys else entrants.select(figures)
    return pl.concat(
        [
            wide.select(
                *keys,
                step=pl.lit(step, pl.Int64),
                users=pl.col(f"users_{step}"),
                median_seconds_from_previous=pl.col(f"median_{step}").cast(pl.Float64),
                in_progress=pl.col(f"in_progress_{step}"),
            )
            for step in range(1, step_count + 1)
        ]
    )


def funnel(
    events: pl.DataFrame,
    spec: FunnelSpec,
    *,
    start: date,
    end: date,
    tz: str,
    users: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """The funnel table: one row per step (per breakdown value when the spec has one).

    SPEC: "Shown: users per step, conversion from the previous and from the first step,
    median time between steps, drop-off users (listable and exportable), breakdown by one
    property (its value at step 1)."

    Columns: [breakdown], step (1-based), event (the step as written, filters included),
    users, conversion_from_previous (null for step 1, which has none), conversion_from_first,
    median_seconds_from_previous (over the users at the step), in_progress (users at the step
    whose entry's window is still open at the data's end). Ratios over zero users are null.
    Rows are sorted by breakdown value, then step.
    """
    entrants = funnel_users(events, spec, start=start, end=end, tz=tz, users=users)
    keys = [spec.breakdown] if spec.breakdown else []
    steps = pl.DataFrame(
        {"step": range(1, len(spec.steps) + 1), "event": [step.describe() for step in spec.steps]},
        schema={"step": pl.Int64, "event": pl.String},
    )
    table = _per_step(entrants, spec, keys).join(steps, on="step")
    table = table.sort(*keys, "step", nulls_last=True)

    def share_of(denominator: pl.Expr) -> pl.Expr:
        denominator = denominator.over(keys) if keys else denominator
        return pl.when(denominator > 0).then(pl.col("users") / denominator)

    return table.with_columns(
        conversion_from_previous=share_of(pl.col("users").shift(1)),
        conversion_from_first=share_of(pl.col("users").first()),
    ).select(
        *keys, "step", "event", "users", "conversion_from_previous", "conversion_from_first",
        "median_seconds_from_previous", "in_progress",
    )


def drop_offs(
    events: pl.DataFrame,
    spec: FunnelSpec,
    *,
    start: date,
    end: date,
    tz: str,
    users: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Users who reached step j but not step j + 1, for j = 1..k-1: the list behind each drop.

    Columns: step (the last step reached), user_id, entry_time, reached_at (when that step
    was reached), in_progress (the window is still open, so the user may yet go on), and the
    breakdown column when set. Sorted by step, then user_id.
    """
    entrants = funnel_users(events, spec, start=start, end=end, tz=tz, users=users)
    keys = [spec.breakdown] if spec.breakdown else []
    return (
        _steps_long(entrants, spec)
        .filter(pl.col("step") == pl.col("furthest_step"), pl.col("step") < len(spec.steps))
        .select("step", "user_id", "entry_time", "reached_at", "in_progress", *keys)
        .sort("step", "user_id")
    )


def time_between_steps(
    events: pl.DataFrame,
    spec: FunnelSpec,
    *,
    start: date,
    end: date,
    tz: str,
    users: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Seconds each entrant took from one step to the next, for histograms and percentiles.

    One row per entrant and step j >= 2 that they reached: user_id, from_step (j - 1),
    to_step (j), seconds (step_j_at - step_{j-1}_at, >= 0), and the breakdown column when set.
    Sorted by to_step, then user_id.
    """
    entrants = funnel_users(events, spec, start=start, end=end, tz=tz, users=users)
    keys = [spec.breakdown] if spec.breakdown else []
    return (
        _steps_long(entrants, spec)
        .filter(pl.col("step") > 1)
        .select(
            "user_id",
            (pl.col("step") - 1).alias("from_step"),
            pl.col("step").alias("to_step"),
            pl.col("seconds_from_previous").alias("seconds"),
            *keys,
        )
        .sort("to_step", "user_id")
    )
