"""Sessions (SPEC section 2 and 3): derived once per load, read by every metric."""

from datetime import timedelta

import polars as pl

DEFAULT_SESSION_GAP = timedelta(minutes=30)


def user_time_order(events: pl.DataFrame) -> pl.Series:
    """The row numbers of `events` in a stable sort by (user_id, event_time): rows with the
    same user and time keep their order, nulls come first.

    Two stable one-key sorts, by time and then by user (the least significant key first, as
    a radix sort does), give the order of the stable two-key sort. Polars' two-key
    `arg_sort_by(..., maintain_order=True)` took 3.8 s of CPU at 10,000,000 events and
    14.0 s at 20,000,000 (3.7x); these two take 0.7 s and 1.7 s (bench/RESULTS.md).
    """
    return stable_order(events, ("user_id", "event_time"))


def stable_order(frame: pl.DataFrame, keys: tuple[str, ...]) -> pl.Series:
    """The row numbers of `frame` in a stable sort by the columns `keys` (the first the most
    significant; nulls first): one stable one-key sort per key, from the last key to the
    first, as a radix sort does (user_time_order says why). A key whose values are already
    in order leaves every row where it is and is not sorted: events read in time order (a
    log table's) skip the sort by time, 0.7 s of CPU at 10,000,000 events."""
    order: pl.Series | None = None
    for key in reversed(keys):
        column = _sortable(frame.get_column(key).rechunk())
        values = column if order is None else column.gather(order)
        if values.is_sorted(nulls_last=False):
            continue
        by_key = values.to_frame().select(pl.arg_sort_by(column.name, maintain_order=True)).to_series()
        order = by_key if order is None else order.gather(by_key)
    return pl.int_range(frame.height, dtype=pl.get_index_type(), eager=True) if order is None else order


def _sortable(column: pl.Series) -> pl.Series:
    """`column`, or for text its values' places in the sorted distinct values (nulls kept):
    the same order, sorted as numbers. A tracker's visitor ids are text, and sorting the
    2,000,000 of a GA4 export took 0.55 s of CPU, their places found and sorted 0.21 s."""
    if column.dtype != pl.String:
        return column
    distinct = column.drop_nulls().unique().sort()
    return column.replace_strict(distinct, pl.int_range(distinct.len(), eager=True, dtype=pl.UInt32), default=None, return_dtype=pl.UInt32)


def gather_rows(frame: pl.DataFrame, rows: pl.Series) -> pl.DataFrame:
    """`frame`'s rows in the order of the row numbers `rows`, one column at a time.

    A frame read in parts (a Parquet file's row groups, a database read in chunks) holds each
    column as many chunks, and a gather across chunks costs more per row the more chunks
    there are: at 10,000,000 events in 80 chunks it took 2.0 s of CPU, at 20,000,000 in 160
    chunks 5.0 s. Each column is made one chunk first (0.4 s and 0.8 s of user CPU, gather
    included), one column at a time, so that only one column is ever copied beside the frame.
    """
    return pl.DataFrame([frame.get_column(name).rechunk().gather(rows) for name in frame.columns])


def derive_sessions(
    events: pl.DataFrame, *, gap: timedelta = DEFAULT_SESSION_GAP
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Assign every event to a session and summarise the sessions.

    SPEC: "When `session_id` is absent, sessions are derived: a new session starts at a
    user's first event and after every gap of more than 30 minutes (setting)." A session's
    channel (and device) is its first event's. When the source gives `session_id`, a session
    is one (user_id, session_id) pair.

    Returns `(events, sessions)`: the events sorted by user and time (by user, the source's
    session id and time when it gives them), their `session_id` replaced by a dense Int64 key, plus `session_channel` and `session_device`; and one row
    per session with session_id, user_id, started_at, channel, device, event_count and
    has_purchase.
    """
    # Sorting the keys and gathering every column once needs about 0.8 GB less at
    # 10,000,000 events than DataFrame.sort, which copies the string columns twice.
    if "session_id" in events.columns:
        # the source's sessions, numbered in (user, session id) order, each in time order:
        # one stable three-key order and one gather (with a dense rank of (user, session id)
        # and a second sort of every column, 2,000,000 GA4 events took 1.2 s of CPU, 1.0 s so)
        events = gather_rows(events, stable_order(events, ("user_id", "session_id", "event_time")))
        first_row = pl.int_range(pl.len()) == 0
        starts_session = first_row | pl.col("user_id").ne_missing(pl.col("user_id").shift(1)) | pl.col("session_id").ne_missing(pl.col("session_id").shift(1))
        events = events.with_columns(session_id=starts_session.cast(pl.Int64).cum_sum())
    else:
        events = gather_rows(events, user_time_order(events))
        new_session = (pl.col("user_id") != pl.col("user_id").shift(1)).fill_null(True) | (
            pl.col("event_time") - pl.col("event_time").shift(1) > gap
        ).fill_null(True)
        events = events.with_columns(session_id=new_session.cast(pl.Int64).cum_sum())

    first_value = {
        name: pl.col(name).first()
        for name in ("channel", "device")
        if name in events.columns
    }
    sessions = events.group_by("session_id", maintain_order=True).agg(
        pl.col("user_id").first(),
        started_at=pl.col("event_time").first(),
        event_count=pl.len().cast(pl.Int64),
        has_purchase=(pl.col("event_type") == "purchase").any(),
        **first_value,
    )
    for name in ("channel", "device"):
        if name not in sessions.columns:
            sessions = sessions.with_columns(pl.lit(None, pl.String).alias(name))
    # Session ids run 1..n in the order of `sessions`, so a gather attaches each session's
    # channel and device without a hash join's copy of the events.
    row_of_session = events["session_id"] - 1
    events = events.with_columns(
        session_channel=sessions["channel"].gather(row_of_session),
        session_device=sessions["device"].gather(row_of_session),
    )
    return events, sessions
