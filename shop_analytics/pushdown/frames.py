"""The push-down results as the metrics read them, and the same first steps in Polars.

Sessions and per-user daily activity both follow from the session days (one row per user,
session and business day, pushdown.queries.session_days):

- `sessions_from_days` gives the sessions table `metrics.sessions.derive_sessions` gives;
- `activity_from_days` gives the *activity events*: the first and last event of every
  session on every business day it touches, with the session columns loading adds to events.
  The metrics that read events only for who was active when (the daily KPI table, period
  summaries, retention, lifecycle, LTV curves, anomalies) give on them what they give on every
  event: each (user, day) pair is there, each user's first and last event is there, and a
  user active in [a day's start, any instant) has a first event of that day there.

`session_days_lazy`, `funnel_events_lazy` and `latest_event_lazy` are the Polars versions of
the queries, for Parquet processed by Polars' streaming engine (pushdown.engines).
"""

from collections.abc import Mapping
from datetime import date, datetime, timedelta

import polars as pl

from connectors.base import canonical_value
from connectors.schema import LABEL, UTC_DATETIME, DType
from metrics.funnel_spec import FunnelSpec
from metrics.time import as_utc, business_day, in_days
from shop_analytics.pushdown.queries import DAILY_ACTIVE_COLUMNS, SESSION_DAY_COLUMNS

ACTIVITY_COLUMNS = ("user_id", "event_time", "session_id", "session_channel", "session_device")
SESSION_COLUMNS = ("session_id", "user_id", "started_at", "event_count", "has_purchase", "channel", "device")
_SESSION_DAY_TYPES: dict[str, DType] = {
    "session_number": pl.Int64, "date": pl.Date, "first_at": UTC_DATETIME, "last_at": UTC_DATETIME,
    "events": pl.Int64, "purchases": pl.Int64, "starts_session": pl.Int64,
}


def typed(frame: pl.DataFrame, types: Mapping[str, DType]) -> pl.DataFrame:
    """`frame` with the named columns in the given dtypes, whatever a database gave: text
    times and dates from SQLite, zoneless UTC times from MySQL, decimals from MySQL's SUM."""
    return frame.with_columns(
        canonical_value(name, frame.schema[name], dtype) for name, dtype in types.items() if name in frame.columns
    )


def labels(frame: pl.DataFrame, has: dict[str, bool], *names: str) -> pl.DataFrame:
    """The label columns `names` as the canonical events give them: categorical when the
    events have that column (`has`), else an empty text column, as derive_sessions leaves it."""
    return frame.with_columns(
        pl.col(name).cast(pl.String).cast(LABEL) if has[name] else pl.lit(None, pl.String).alias(name) for name in names
    )


def typed_session_days(frame: pl.DataFrame, has: dict[str, bool]) -> pl.DataFrame:
    """Session days as read from an engine, in canonical dtypes (SESSION_DAY_COLUMNS)."""
    return labels(typed(frame, _SESSION_DAY_TYPES), has, "channel", "device").select(SESSION_DAY_COLUMNS)


def session_days_lazy(events: pl.LazyFrame, *, tz: str, gap: timedelta) -> pl.LazyFrame:
    """pushdown.queries.session_days in Polars, over canonical events.

    Sessions are numbered across users here (the SQL numbers them per user); both give the
    same sessions once `sessions_from_days` numbers them in (user, start) order.
    """
    schema = events.collect_schema()
    optional = [pl.col(name) if name in schema else pl.lit(None, pl.String).alias(name) for name in ("channel", "device")]
    starts = (pl.col("user_id") != pl.col("user_id").shift(1)).fill_null(True) | (
        pl.col("event_time") - pl.col("event_time").shift(1) > gap
    ).fill_null(True)
    return (
        events.select("user_id", "event_time", "event_type", *optional)
        .sort("user_id", "event_time", maintain_order=True)
        .with_columns(starts=starts)
        .with_columns(session_number=pl.col("starts").cast(pl.Int64).cum_sum(), date=business_day("event_time", tz))
        .group_by("user_id", "session_number", "date")
        .agg(
            first_at=pl.col("event_time").min(),
            last_at=pl.col("event_time").max(),
            events=pl.len().cast(pl.Int64),
            purchases=(pl.col("event_type") == "purchase").sum().cast(pl.Int64),
            starts_session=pl.col("starts").any().cast(pl.Int64),
            # the one starting event's label: a max over one value, which Polars aggregates
            # on its fast path (a filter then first would run per group)
            channel=pl.when("starts").then(pl.col("channel").cast(pl.String)).max(),
            device=pl.when("starts").then(pl.col("device").cast(pl.String)).max(),
        )
        .select(SESSION_DAY_COLUMNS)
    )


def _numbered_sessions(days: pl.DataFrame) -> pl.DataFrame:
    """One row per session with its session_number and the dense session_id derive_sessions
    gives: 1..n in (user_id, started_at) order."""
    keys = ["user_id", "session_number"]
    totals = days.group_by(keys).agg(
        started_at=pl.col("first_at").min(),
        event_count=pl.col("events").sum().cast(pl.Int64),
        has_purchase=pl.col("purchases").sum() > 0,
    )
    # the row holding a session's first event carries its channel and device
    labels = days.filter(pl.col("starts_session") == 1).select(*keys, "channel", "device")
    return (
        totals.join(labels, on=keys, how="left")
        .sort("user_id", "started_at")
        .with_columns(session_id=pl.int_range(1, pl.len() + 1, dtype=pl.Int64))
    )


def sessions_and_activity(days: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """`sessions_from_days` and `activity_from_days` of `days`, numbering the sessions once."""
    numbered = _numbered_sessions(days)
    return numbered.select(SESSION_COLUMNS), _activity(days, numbered)


def sessions_from_days(days: pl.DataFrame) -> pl.DataFrame:
    """The sessions table of metrics.sessions.derive_sessions, from session days:
    SESSION_COLUMNS, one row per session."""
    return _numbered_sessions(days).select(SESSION_COLUMNS)


def activity_from_days(days: pl.DataFrame) -> pl.DataFrame:
    """The activity events (module docstring): the first and last event of each session day
    (one row when they are one event), with the session's id, channel and device, sorted by
    user and time. Columns: ACTIVITY_COLUMNS."""
    return _activity(days, _numbered_sessions(days))


def activity_from_events(events: pl.DataFrame, *, tz: str) -> pl.DataFrame:
    """The activity events (module docstring) of events in memory as loading gives them
    (sorted by session and time, with `session_id`, `session_channel`, `session_device`): the
    first and last event of every session on every business day of zone `tz` it touches, one
    row when they are at one instant. The rows `activity_from_days` gives for the same events
    (ACTIVITY_COLUMNS), in the events' order; found by comparing each event with its
    neighbours, so no grouping or sorting is needed."""
    dated = as_utc(events.select(ACTIVITY_COLUMNS), "event_time").with_columns(date=business_day("event_time", tz))
    group_starts = ((pl.col("session_id") != pl.col("session_id").shift(1)) | (pl.col("date") != pl.col("date").shift(1))).fill_null(True)
    group_ends = ((pl.col("session_id") != pl.col("session_id").shift(-1)) | (pl.col("date") != pl.col("date").shift(-1))).fill_null(True)
    first_at = pl.when(group_starts).then(pl.col("event_time")).forward_fill()
    return dated.filter(group_starts | (group_ends & (pl.col("event_time") != first_at))).select(ACTIVITY_COLUMNS)


def _activity(days: pl.DataFrame, numbered: pl.DataFrame) -> pl.DataFrame:
    sessions = numbered.select(
        "user_id", "session_number", "session_id", session_channel="channel", session_device="device"
    )
    located = days.select("user_id", "session_number", "first_at", "last_at").join(
        sessions, on=["user_id", "session_number"]
    )
    first = located.select("user_id", pl.col("first_at").alias("event_time"), *ACTIVITY_COLUMNS[2:])
    # a session day of one event has one row (its first event is its last)
    last = located.filter(pl.col("last_at") != pl.col("first_at")).select(
        "user_id", pl.col("last_at").alias("event_time"), *ACTIVITY_COLUMNS[2:]
    )
    return pl.concat([first, last]).sort("user_id", "event_time").select(ACTIVITY_COLUMNS)


def daily_active_users(events: pl.DataFrame, *, start: date, end: date, tz: str) -> pl.DataFrame:
    """DAU per business day start..end and session channel from events that carry
    `session_channel` (as loaded, or activity events): DAILY_ACTIVE_COLUMNS, days and
    channels without activity absent. The in-memory side of queries.daily_active_users."""
    return (
        in_days(events, "event_time", start, end, tz)
        .group_by("date", channel=pl.col("session_channel"))
        .agg(dau=pl.col("user_id").n_unique().cast(pl.Int64))
        .select(DAILY_ACTIVE_COLUMNS)
        .sort("date", "channel", nulls_last=True)
    )


def typed_daily_active_users(frame: pl.DataFrame) -> pl.DataFrame:
    """DAU rows as read from an engine, in the dtypes and order of `daily_active_users`."""
    return (
        typed(frame, {"date": pl.Date, "dau": pl.Int64})
        .with_columns(pl.col("channel").cast(pl.String).cast(LABEL))
        .select(DAILY_ACTIVE_COLUMNS)
        .sort("date", "channel", nulls_last=True)
    )


def funnel_events_lazy(events: pl.LazyFrame, spec: FunnelSpec, *, lower: datetime, upper: datetime) -> pl.LazyFrame:
    """pushdown.queries.funnel_events in Polars."""
    schema = events.collect_schema()
    reach_back = spec.window if spec.mode == "unordered" else timedelta(0)
    carried = [spec.breakdown] if spec.breakdown and spec.breakdown in schema else []
    columns = list(dict.fromkeys(["user_id", "event_time", "event_type", *sorted(spec.columns_used()), *carried]))
    entrants = events.filter(
        spec.steps[0].condition(), pl.col("event_time") >= lower, pl.col("event_time") < upper
    ).select("user_id").unique()
    scoped = events.filter(pl.col("event_time") >= lower - reach_back, pl.col("event_time") <= upper + spec.window)
    if spec.mode != "strict":
        types = list(dict.fromkeys([*(step.event_type for step in spec.steps), *spec.exclusions]))
        scoped = scoped.filter(pl.col("event_type").cast(pl.String).is_in(types))
    return scoped.join(entrants, on="user_id", how="semi").select(columns)


def latest_event_lazy(events: pl.LazyFrame, columns: list[str]) -> pl.LazyFrame:
    """pushdown.queries.latest_event in Polars."""
    return events.select(columns).top_k(1, by="event_time")


def with_data_end(funnel_rows: pl.DataFrame, latest: pl.DataFrame) -> pl.DataFrame:
    """The funnel's events plus the shop's latest event when they do not reach it.

    metrics.funnel takes the data's end from the latest event it is given. That event is
    outside the funnel's rows or among them; outside, it belongs to no entering user inside
    the window (else the query would have kept it), so adding it changes no match and only
    sets the data's end.
    """
    if latest.is_empty() or (funnel_rows["event_time"] >= latest["event_time"].max()).any():
        return funnel_rows
    return pl.concat([funnel_rows, latest.select(funnel_rows.columns)], how="vertical_relaxed")


def with_session_columns(events: pl.DataFrame, sessions: pl.DataFrame) -> pl.DataFrame:
    """`events` with the session_id, session_channel and session_device of the session each
    belongs to: its user's latest session started at or before it (sessions cover a user's
    events without overlap, SESSION_COLUMNS)."""
    located = sessions.select(
        "user_id", "started_at", "session_id", session_channel="channel", session_device="device"
    ).sort("started_at")
    return (
        events.with_row_index("_row")
        .sort("event_time")
        # both sides are sorted by time just above, which Polars cannot check within `by` groups
        .join_asof(located, left_on="event_time", right_on="started_at", by="user_id", strategy="backward", check_sortedness=False)
        .sort("_row")
        .drop("_row", "started_at")
    )
