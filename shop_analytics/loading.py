"""The loading edge: a source's canonical tables plus what is derived once per load.

Sessions are derived here, over all events, so that every metric reads the same sessions
and none derives them again per query. A shop loaded again from a newer generation of the
same extract derives again only the sessions (and activity events) of the users whose events
changed (`PreviousLoad`, `rederive_sessions`), and gives exactly what a load from scratch
gives. A one-off command may load only the tables and the events its view reads
(`EventBounds`, shop_analytics/bounds.py).
"""

import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cached_property

import numpy as np
import polars as pl

from connectors import Source, SourceError
from connectors.extracts import ExtractSource
from connectors.schema import TABLES, TIME_COLUMN, UTC_DATETIME, DType
from metrics.orders import attribute_orders
from metrics.sessions import DEFAULT_SESSION_GAP, derive_sessions
from metrics.time import DEFAULT_TIME_ZONE, business_day
from shop_analytics.pushdown import (
    DEFAULT_SPARK_MASTER,
    DEFAULT_THRESHOLD,
    Pushdown,
    PushedEvents,
    engine_for,
    pushed_events,
)
from shop_analytics.pushdown.frames import ACTIVITY_COLUMNS, activity_from_events

LOAD_ORDER = tuple(TABLES)


class MissingTable(SourceError):
    """A view asked for a table the shop does not have; says which and how to map it."""

    def __init__(self, table: str, description: str):
        self.table, self.description = table, description
        super().__init__(
            f"this view needs the '{table}' table, which {description} does not have; "
            f"map it in the data-source settings ([tables.{table}] of the mapping, or the Data sources page)."
        )


def empty_table(name: str, id_dtype: DType = pl.Int64) -> pl.DataFrame:
    """A canonical table with all its columns (required and optional) and no rows."""
    return pl.DataFrame(schema={column: dtype or id_dtype for column, dtype in TABLES[name].columns.items()})


def _block_starts(counts: np.ndarray) -> np.ndarray:
    """Where each of blocks of `counts` rows, one after the other, starts."""
    return np.cumsum(counts) - counts


def _expanded(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The row numbers of blocks of `counts` rows from `starts`, block after block."""
    return np.repeat(starts - _block_starts(counts), counts) + np.arange(int(counts.sum()))


class PlacedEvents:
    """Events (or activity events) in session order not yet made (a load by changes,
    `rederive_sessions`), told session by session: session i + 1's `counts[i]` rows are those of `new` (without
    `session_id`) from row `starts[i]` when `from_new[i]`, else those of `base` (events in
    session order) from row `starts[i]`; `session_id` runs 1..n. Made once, under a lock
    (pages run in threads), when first asked for; what it was made from is dropped then. A
    later load by changes reads its sessions' rows and places its own sessions on these
    (`placed`), work in proportion to the sessions, not to the events."""

    def __init__(self, base: pl.DataFrame, new: pl.DataFrame, from_new: np.ndarray, starts: np.ndarray, counts: np.ndarray) -> None:
        self.columns = base.columns
        self.height = int(counts.sum())
        self.counts = counts
        self._parts: tuple[pl.DataFrame, pl.DataFrame, np.ndarray, np.ndarray] | None = (
            base, new.select(pl.col(name).cast(base.schema[name]) for name in base.columns if name != "session_id"), from_new, starts,
        )
        self._made: pl.DataFrame | None = None
        self._lock = threading.Lock()

    @classmethod
    def whole(cls, events: pl.DataFrame, sessions: int) -> "PlacedEvents":
        """Events already made (loading's order, session ids 1..`sessions`), told by session."""
        if events.get_column("event_time").null_count():
            raise IncompleteDerivation
        counts = _rows_per_session(events, sessions)
        placed = cls(events, events.clear().drop("session_id"), np.zeros(sessions, bool), _block_starts(counts), counts)
        placed._made, placed._parts = events, None
        return placed

    @property
    def is_made(self) -> bool:
        return self._made is not None

    def made(self) -> pl.DataFrame:
        """The events, made on the first call: the base's rows gathered once into their
        places, the new rows written over theirs (`_interleaved`)."""
        with self._lock:
            if self._made is None:
                assert self._parts is not None
                base, new, from_new, starts = self._parts
                out_starts = _block_starts(self.counts)
                source_rows = np.repeat(np.where(from_new, 0, starts - out_starts), self.counts) + np.arange(self.height)
                new_at = _expanded(out_starts[from_new], self.counts[from_new])
                source_rows[new_at] = 0
                new_rows = new.gather(pl.Series(_expanded(starts[from_new], self.counts[from_new])))
                merged = _interleaved(base.drop("session_id"), new_rows, source_rows, new_at)
                ids = pl.Series("session_id", np.repeat(np.arange(1, self.counts.size + 1), self.counts))
                self._made, self._parts = merged.insert_column(base.get_column_index("session_id"), ids), None
            return self._made

    def _pieces(self) -> tuple[pl.DataFrame, pl.DataFrame, np.ndarray, np.ndarray]:
        with self._lock:
            if self._parts is None:
                assert self._made is not None
                return self._made, self._made.clear().drop("session_id"), np.zeros(self.counts.size, bool), _block_starts(self.counts)
            return self._parts

    def last_times(self) -> pl.Series:
        """Each session's last event_time."""
        base, new, from_new, starts = self._pieces()
        last_rows = starts + self.counts - 1
        times = np.empty(self.counts.size, np.int64)
        for frame, chosen in ((base, ~from_new), (new, from_new)):
            column = frame.get_column("event_time")
            times[chosen] = column.gather(pl.Series(last_rows[chosen])).to_physical().to_numpy()
        return pl.Series("event_time", times).cast(base.schema["event_time"])

    def rows_of(self, sessions: np.ndarray, columns: list[str]) -> pl.DataFrame:
        """The `columns` of the rows of the sessions at indices `sessions` (ascending), in
        session order."""
        base, new, from_new, starts = self._pieces()
        counts = self.counts[sessions]
        out_starts = _block_starts(counts)
        parts, places = [], []
        for frame, chosen in ((base, ~from_new[sessions]), (new, from_new[sessions])):
            chosen_sessions = sessions[chosen]
            parts.append(frame.select(columns).gather(pl.Series(_expanded(starts[chosen_sessions], self.counts[chosen_sessions]))))
            places.append(_expanded(out_starts[chosen], counts[chosen]))
        order = np.empty(int(counts.sum()), np.int64)
        order[places[0]], order[places[1]] = np.arange(places[0].size), places[0].size + np.arange(places[1].size)
        return pl.concat(parts).gather(pl.Series(order))

    def placed(
        self, kept: np.ndarray, kept_places: np.ndarray, new_places: np.ndarray, new: pl.DataFrame, new_counts: np.ndarray,
    ) -> "PlacedEvents":
        """These events' sessions at indices `kept` (ascending) at the places `kept_places`
        of the merged sessions, and sessions of `new`'s rows (in session order, `new_counts`
        each) at `new_places`: placed on what these are made from, so that neither is made
        now. The new rows still held are laid out in the merged order (the rows of sessions
        not kept dropped)."""
        base, earlier_new, from_new, starts = self._pieces()
        sessions = kept.size + new_places.size
        merged_from_new, merged_starts, merged_counts = np.zeros(sessions, bool), np.zeros(sessions, np.int64), np.zeros(sessions, np.int64)
        merged_from_new[kept_places], merged_starts[kept_places], merged_counts[kept_places] = from_new[kept], starts[kept], self.counts[kept]
        merged_from_new[new_places], merged_counts[new_places] = True, new_counts
        merged_starts[new_places] = earlier_new.height + _block_starts(new_counts)
        new = new.select(pl.col(name).cast(earlier_new.schema[name]) for name in earlier_new.columns)
        held = pl.concat([earlier_new, new]).gather(pl.Series(_expanded(merged_starts[merged_from_new], merged_counts[merged_from_new])))
        held_counts = merged_counts[merged_from_new]
        merged_starts[merged_from_new] = _block_starts(held_counts)
        return PlacedEvents(base, held, merged_from_new, merged_starts, merged_counts)


class Tables(Mapping[str, pl.DataFrame]):
    """A shop's tables by canonical name, read-only. The events may be given placed, not made
    (`PlacedEvents`): made when first asked for. Asking whether a table is there, or for the
    names, makes nothing."""

    def __init__(self, made: Mapping[str, pl.DataFrame], placed: Mapping[str, PlacedEvents] | None = None) -> None:
        self._made = dict(made)
        self._placed = {name: rows for name, rows in (placed or {}).items() if name not in self._made}

    def __getitem__(self, name: str) -> pl.DataFrame:
        if name in self._placed:
            return self._placed[name].made()
        return self._made[name]

    def __contains__(self, name: object) -> bool:
        return name in self._made or name in self._placed

    def __iter__(self) -> Iterator[str]:
        return iter([*self._made, *self._placed])

    def __len__(self) -> int:
        return len(self._made) + len(self._placed)

    def placed(self, name: str) -> PlacedEvents | None:
        """Table `name` when it is given placed and not made yet."""
        rows = self._placed.get(name)
        return None if rows is None or rows.is_made else rows

    def made(self) -> list[pl.DataFrame]:
        """The tables made so far."""
        return [*self._made.values(), *(rows.made() for rows in self._placed.values() if rows.is_made)]

    def updated(self, tables: Mapping[str, pl.DataFrame]) -> "Tables":
        """These tables with `tables` in place of their own; the others stay as they are,
        made or placed (the same placed rows: made once for both)."""
        return Tables({**self._made, **tables}, {name: rows for name, rows in self._placed.items() if name not in tables})


class Shop:
    """A loaded shop: its canonical tables, its derived sessions, and what it lacks.

    Each canonical table is a typed attribute (`shop.orders`, ...) that raises MissingTable
    for a table the source does not have; `optional(name)` is the one way to ask for a table
    a view can do without (None when absent). `events` carry `session_id`,
    `session_channel` and `session_device`; `orders` carry the attributed `channel` and the
    user's `device`. A shop without a users table has users all the same: the distinct ids of
    its events and orders, without signup (`users_derived`; `missing` still names it, so a
    view that reads signup says so). A shop loaded with push-down (`pushed`) keeps its events
    where they are: `events` raises NeedsEvents. `activity` holds the activity events in
    business zone `zone`. Nothing about a loaded shop changes: its answers (activity, the
    date span, the filter labels) are computed once, when first asked. A shop loaded in part
    for one view (load_shop's `tables` and `bounds`) keeps the date span of the whole data.
    """

    _whole_span: Callable[[], tuple[datetime, datetime] | None] | None = None
    """For a shop loaded in part, how to find the first and last instants of the whole data
    (asked of the source when the date span is first wanted): set once by load_shop, before
    the shop is handed out."""

    def __init__(
        self,
        tables: Mapping[str, pl.DataFrame] | Tables,
        sessions: pl.DataFrame | None,
        description: str,
        missing: tuple[str, ...] = (),
        pushed: PushedEvents | None = None,
        zone: str = DEFAULT_TIME_ZONE,
        users_derived: bool = False,
    ) -> None:
        self._tables = tables if isinstance(tables, Tables) else Tables(tables)
        self.sessions = sessions
        self.description = description
        self.missing = tuple(missing)
        self.pushed = pushed
        self.zone = zone
        self.users_derived = users_derived

    def replaced(self, *, sessions: pl.DataFrame | None = None, **tables: pl.DataFrame) -> "Shop":
        """This shop with some of its tables (and its sessions) in place of its own, such as
        a segment's rows; what it lacks stays lacking. With its events and sessions, it keeps
        its activity events and the whole data's date span (of a shop loaded in part)."""
        unknown = set(tables) - set(TABLES)
        if unknown:
            raise KeyError(f"not canonical tables: {', '.join(sorted(unknown))}")
        kept = {name: frame for name, frame in tables.items() if name in self._tables}
        shop = Shop(
            self._tables.updated(kept), self.sessions if sessions is None else sessions, self.description,
            self.missing, self.pushed, self.zone, self.users_derived,
        )
        if "events" not in kept and sessions is None:
            shop._whole_span = self._whole_span
            if "activity" in self.__dict__:
                shop.__dict__["activity"] = self.__dict__["activity"]
        return shop

    def __repr__(self) -> str:
        return f"Shop({self.description!r}, tables={sorted(self._tables)}, missing={list(self.missing)})"

    @property
    def tables(self) -> Mapping[str, pl.DataFrame]:
        """The tables the shop has (read-only), by canonical name."""
        return self._tables

    def _table(self, name: str) -> pl.DataFrame:
        if name not in self._tables:
            raise MissingTable(name, self.description)
        return self._tables[name]

    @property
    def users(self) -> pl.DataFrame:
        return self._table("users")

    @property
    def events(self) -> pl.DataFrame:
        if self.pushed is not None:
            raise self.pushed.needs_events()
        return self._table("events")

    @property
    def orders(self) -> pl.DataFrame:
        return self._table("orders")

    @property
    def order_items(self) -> pl.DataFrame:
        return self._table("order_items")

    @property
    def products(self) -> pl.DataFrame:
        return self._table("products")

    @property
    def campaigns(self) -> pl.DataFrame:
        return self._table("campaigns")

    @property
    def ad_spend(self) -> pl.DataFrame:
        return self._table("ad_spend")

    @property
    def reviews(self) -> pl.DataFrame:
        return self._table("reviews")

    @property
    def tickets(self) -> pl.DataFrame:
        return self._table("tickets")

    def optional(self, name: str) -> pl.DataFrame | None:
        """The table `name` when the shop has it, else None: for what a view can do without."""
        if name not in TABLES:
            raise KeyError(f"{name!r} is not a canonical table")
        return self._tables.get(name)

    def or_empty(self, name: str) -> pl.DataFrame:
        """The table `name`, or an empty one with its required columns, for the measures
        that read it to come out as zero rows, which the surfaces then mark as not available
        (views.mask_unavailable), never as a day of zeros."""
        table = self._tables.get(name)
        if table is not None:
            return table
        if name == "events" and self.pushed is not None:
            # the events exist, where the engine keeps them: not a missing table
            raise self.pushed.needs_events()
        frames = [*self._tables.made(), *([] if self.sessions is None else [self.sessions])]
        known = next((frame["user_id"].dtype for frame in frames if "user_id" in frame.columns), pl.Int64)
        if name == "events":
            return derive_sessions(empty_table(name, known))[0]  # with the session columns loading adds
        return empty_table(name, known)

    def has(self, *names: str) -> bool:
        return all((name in self._tables and not (name == "users" and self.users_derived)) or (name == "events" and self.pushed is not None) for name in names)

    @cached_property
    def activity(self) -> pl.DataFrame:
        """The activity events (pushdown.frames), cut into business days of `zone`, which the
        metrics that only ask who was active when read (daily KPIs, period summaries,
        retention, lifecycle, LTV curves, anomalies) and on which they give what they give on
        every event: the engine's with push-down, else derived once from the events in memory
        (436,814 rows for the sample shop's 2,000,000 events)."""
        if self.pushed is not None:
            return self.pushed.activity
        return activity_from_events(self.or_empty("events"), tz=self.zone)

    @cached_property
    def _first_and_last(self) -> tuple[datetime, datetime] | None:
        """The first and last instants with activity: events, else orders."""
        if self._whole_span is not None:
            return self._whole_span()
        events: pl.DataFrame | None
        if self.pushed is not None:
            events = self.pushed.activity
        elif self._tables.placed("events") is not None and "activity" in self.__dict__:
            # the first and last events are activity events: the events need not be made
            events = self.__dict__["activity"]
        else:
            events = self._tables.get("events")
        for frame, column in ((events, "event_time"), (self._tables.get("orders"), "created_at")):
            if frame is not None and frame.height:
                return frame.select(pl.col(column).min().alias("first"), pl.col(column).max().alias("last")).row(0)
        return None

    def date_span(self, tz: str) -> tuple[date, date] | None:
        """First and last business day (zone `tz`) with activity: events, else orders."""
        if self._first_and_last is None:
            return None
        # the business day only moves forward with time, so the first and last instants give
        # the first and last days without converting every row
        ends = pl.DataFrame({"first": [self._first_and_last[0]], "last": [self._first_and_last[1]]})
        first, last = ends.select(business_day("first", tz), business_day("last", tz)).row(0)
        return first, last

    @cached_property
    def _labels(self) -> dict[str, list[str]]:
        values: dict[str, set[str]] = {}
        for frame in (self.sessions, self._tables.get("users")):
            for column in ("channel", "device", "region"):
                if frame is not None and column in frame.columns:
                    values.setdefault(column, set()).update(frame[column].drop_nulls().unique().to_list())
        return {column: sorted(found) for column, found in values.items()}

    def labels(self, column: str) -> list[str]:
        """The values of a session and user label (channel, device, region) in the shop,
        sorted: what the filters offer."""
        return self._labels.get(column, [])


def derived_users(tables: Mapping[str, pl.DataFrame]) -> pl.DataFrame | None:
    """The users of a shop without a users table: the distinct ids of its events and orders,
    without signup (SPEC section 2: a view that needs signup says so)."""
    ids = [tables[name].select("user_id") for name in ("events", "orders") if name in tables]
    if not ids:
        return None
    dtypes = {frame["user_id"].dtype for frame in ids}
    # ids of one shop share a dtype; where two sources disagree, text holds both
    dtype = dtypes.pop() if len(dtypes) == 1 else pl.String
    users = pl.concat([frame.with_columns(pl.col("user_id").cast(dtype)) for frame in ids]).unique().sort("user_id")
    return users.with_columns(signup_at=pl.lit(None, UTC_DATETIME))


@dataclass(frozen=True)
class PreviousLoad:
    """A shop loaded earlier from an extract, the generation it was loaded from and the
    session gap its sessions were derived with: what a load of a newer generation of the same
    extract starts from (`load_shop(previous=...)`)."""

    shop: Shop
    generation: int
    session_gap: timedelta


@dataclass(frozen=True)
class EventBounds:
    """The events a one-off command's view reads: from the instant `first` on (None: all),
    with the sessions of those events exactly as over all events; with `first_seen`, also each
    user's first event before them, for the definitions that ask who was seen before (a
    cohort of first activity)."""

    first: datetime | None
    first_seen: bool = False


class IncompleteDerivation(Exception):
    """The changed events cannot be merged into the previous load (the source numbers its own
    sessions, or rows the change does not say): load from scratch."""


@dataclass(frozen=True)
class Rederived:
    """What `rederive_sessions` gives: the events placed (made when first asked for), the
    sessions, and the activity events when asked for."""

    events: PlacedEvents
    sessions: pl.DataFrame
    activity: pl.DataFrame | None


def rederive_sessions(
    previous: Shop, changed: pl.DataFrame, cut: datetime, *, gap: timedelta, activity_zone: str | None = None
) -> Rederived:
    """The events, sessions and (with `activity_zone`) activity events of `previous` after
    its events later than `cut` were replaced by `changed` (the source's events later than
    `cut`): exactly what `derive_sessions` and `activity_from_events` give over all of them.

    Sessions belong to one user, so only the users whose events later than `cut` changed (new
    ones, late ones, edited or deleted ones: the rows read again are compared with those held)
    have sessions derived again: those that ended within the gap before `cut` or later (a
    session can continue across `cut`), over all their events; every other session keeps its
    events and activity events (rows of one user at one instant keep the order of the
    earlier read). Sessions are numbered 1..n in (user, start) order, as derive_sessions
    numbers them: the kept and the new sessions, each side in that order, are merged by user,
    and the rows of events and activity events are laid out session by session from that
    merge instead of sorted again.

    The sessions and activity events are made here. The events are only placed
    (`PlacedEvents`): making them copies every row (1 s at 10,000,000 events, half of it the
    kernel's for fresh memory), which the pages, reports and alerts that read sessions and
    activity events never wait for; a page that reads every event makes them. Events of
    `previous` not made yet are read where they lie, and the new placement is put on theirs.
    """
    sessions = previous.sessions
    if sessions is None:
        raise IncompleteDerivation
    placed = previous._tables.placed("events") or PlacedEvents.whole(previous.events, sessions.height)
    raw = [column for column in placed.columns if column not in ("session_id", "session_channel", "session_device")]
    if "session_id" in changed.columns or set(changed.columns) != set(raw) or placed.counts.size != sessions.height:
        raise IncompleteDerivation
    changed = changed.select(raw)
    last_times = placed.last_times()
    held = placed.rows_of(np.flatnonzero((last_times > cut).to_numpy()), raw).filter(pl.col("event_time") > cut)
    touched = _users_with_changes(held, changed).implode()
    # A changed event (later than `cut`) can only join a session whose last event is within
    # the gap before it: a touched user's sessions that ended earlier stay as they are. Those
    # after them (a suffix of the user's sessions) are derived again.
    redone = (sessions.get_column("user_id").is_in(touched) & (last_times >= cut - gap)).to_numpy()
    before = placed.rows_of(np.flatnonzero(redone), raw).filter(pl.col("event_time") <= cut)
    after = changed.filter(pl.col("user_id").is_in(touched))
    new_events, new_sessions = derive_sessions(pl.concat([before, after], how="vertical_relaxed"), gap=gap)
    # the sessions, each side in (user, start) order, merged by user (a user's kept sessions
    # come before the ones derived again): a session's place in the merge is its new id
    kept = np.flatnonzero(~redone)
    kept_places, new_places = _merged_places(sessions.get_column("user_id").gather(kept), new_sessions.get_column("user_id"))
    source_rows = np.zeros(kept.size + new_sessions.height, np.int64)
    source_rows[kept_places] = kept
    all_sessions = _interleaved(sessions, new_sessions, source_rows, new_places)
    all_sessions = all_sessions.with_columns(session_id=pl.int_range(1, all_sessions.height + 1, dtype=pl.Int64))

    activity = None
    if activity_zone is not None:
        new_activity = activity_from_events(new_events, tz=activity_zone).select(ACTIVITY_COLUMNS)
        placed_activity = PlacedEvents.whole(previous.activity, sessions.height).placed(
            kept, kept_places, new_places, new_activity.drop("session_id"), _rows_per_session(new_activity, new_sessions.height),
        )
        activity = placed_activity.made()
    events = placed.placed(kept, kept_places, new_places, new_events.drop("session_id"), _rows_per_session(new_events, new_sessions.height))
    return Rederived(events, all_sessions, activity)


def _rows_per_session(frame: pl.DataFrame, sessions: int) -> np.ndarray:
    """How many rows of `frame` each of `sessions` sessions has; IncompleteDerivation unless
    the frame is in loading's session order (session ids 1..`sessions`, ascending)."""
    ids = frame.get_column("session_id")
    if not ids.is_sorted() or (ids.len() and (ids[0] < 1 or ids[-1] > sessions)):
        raise IncompleteDerivation  # a frame loaded in part, say
    return np.bincount(ids.to_numpy(), minlength=sessions + 1)[1:]


def _merged_places(kept: pl.Series | np.ndarray, new: pl.Series | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each value of two ascending sequences lands when they are merged, a kept value
    before a new one equal to it: its place in its own sequence plus the count of the other's
    values that come before it.

    Only the few new values are searched for among the many kept ones; a kept value's count
    of new values before it is a step that rises by one at each new value's place, laid out
    run by run (np.repeat: at 10,000,000 kept values 0.04 s, a running count over them 0.2 s)."""
    if isinstance(kept, pl.Series) and isinstance(new, pl.Series):
        before = kept.search_sorted(new, side="right").to_numpy().astype(np.int64)
    else:
        before = np.searchsorted(np.asarray(kept), np.asarray(new), side="right")
    size = len(kept)
    smaller_new = np.repeat(np.arange(len(before) + 1), np.diff(before, prepend=0, append=size))
    return np.arange(size) + smaller_new, np.arange(len(before)) + before


def _interleaved(old: pl.DataFrame, new: pl.DataFrame, source_rows: np.ndarray, new_at: np.ndarray) -> pl.DataFrame:
    """One frame of rows of `old` and all rows of `new` (the same columns): row i is `old`'s
    row source_rows[i], except at places `new_at`, which take `new`'s rows in order. Every
    column of `old` is gathered once (the new rows' places hold a copy of some old row
    meanwhile), then the few new rows are written over them (Series.scatter, in place): at
    10,000,000 events with 930,000 rows of changed users, 0.5-0.8 s of CPU against 1.2-1.6 s
    for joining the runs of kept rows as slices (12,000 of them) into one chunk per column.
    Columns whose types differ (one read without values) take the type that holds both."""
    new = new.select(old.columns)
    if new.schema != old.schema:
        common = pl.concat([old.clear(), new.clear()], how="vertical_relaxed").schema
        old, new = old.cast(common), new.cast(common)
    if old.is_empty():
        return new
    placed = old.select(pl.all().gather(pl.Series(source_rows)))
    if new.is_empty():
        return placed
    places = pl.Series(new_at)
    return pl.DataFrame([placed.get_column(name).scatter(places, new.get_column(name)) for name in old.columns])


def _users_with_changes(held: pl.DataFrame, read: pl.DataFrame) -> pl.Series:
    """The users whose rows differ between `held` and `read` (the same columns), counting
    repeated rows: each distinct row's count on both sides, compared."""
    columns = held.columns
    counts = [frame.group_by(columns).agg(pl.len().alias(side)) for frame, side in ((held, "held"), (read, "read"))]
    both = counts[0].join(counts[1], on=columns, how="full", nulls_equal=True, coalesce=True)
    differing = both.filter(pl.col("held").fill_null(0) != pl.col("read").fill_null(0))
    return differing.get_column("user_id").unique()


def load_shop(
    source: Source,
    *,
    session_gap: timedelta = DEFAULT_SESSION_GAP,
    progress: Callable[[str], None] | None = None,
    pushdown: str | Pushdown = "never",
    pushdown_threshold: int = DEFAULT_THRESHOLD,
    pushdown_engine: str = "native",
    spark_master: str = DEFAULT_SPARK_MASTER,
    tz: str = DEFAULT_TIME_ZONE,
    previous: PreviousLoad | None = None,
    tables: tuple[str, ...] | None = None,
    bounds: EventBounds | None = None,
) -> Shop:
    """Read every canonical table the source has and derive sessions and order attribution.

    `pushdown` ("never", "auto" or "always", pushdown.engine_for, or an engine such as
    pushdown.spark.SparkPushdown) may leave the events where they are: then sessions and the
    activity events, cut into business days in zone `tz`, come from the engine, and only the
    other tables are read. `pushdown_engine` "spark" runs a folder's push-down in Spark SQL at
    `spark_master`; `pushdown.pushdown_options` reads all four from `[connections.shop]`.

    `previous`: a shop loaded from an earlier generation of the same extract (`source`); only
    the sessions of the users whose events changed since are derived again
    (`rederive_sessions`; the events themselves are made when first asked for), the other
    tables are read again whole. `tables` and `bounds`: a
    one-off command's view reads only these tables and these events (shop_analytics/bounds.py);
    the shop's date span stays the data's own.
    """
    present = source.table_names()
    available = present if tables is None else present & set(tables)
    engine = None
    if "events" in available:
        engine = (
            engine_for(source, pushdown, pushdown_threshold, engine=pushdown_engine, spark_master=spark_master)
            if isinstance(pushdown, str) else pushdown
        )
    read: dict[str, pl.DataFrame] = {}
    placed: dict[str, PlacedEvents] = {}
    for name in LOAD_ORDER:
        if name in available and name != "events":
            read[name] = source.read_table(name)
        if progress:
            progress(name)
    sessions = pushed = activity = None
    since = None  # the bound of bounded events
    if engine is not None:
        pushed, sessions = pushed_events(engine, tz=tz, gap=session_gap)
    elif "events" in available and bounds is not None and bounds.first is not None:
        read["events"], sessions, since = _bounded_sessions(source, bounds.first, session_gap)
    elif "events" in available:
        events, sessions, activity = _derived_sessions(source, previous if tables is None else None, session_gap, tz)
        if isinstance(events, PlacedEvents) and "users" in read:
            placed["events"] = events
        else:  # a shop without users: its users are its events' (derived_users)
            read["events"] = events.made() if isinstance(events, PlacedEvents) else events
    if sessions is None:
        # no events: no sessions, in the shape the metrics read
        id_dtype = next((frame["user_id"].dtype for frame in read.values() if "user_id" in frame.columns), pl.Int64)
        _, sessions = derive_sessions(empty_table("events", id_dtype), gap=session_gap)
    users_derived = False
    if "users" not in read and "users" not in present:
        users = derived_users({**read, **({"events": pushed.activity} if pushed is not None else {})})
        if users is not None:
            read["users"], users_derived = users, True
    if "orders" in read:
        users = read.get("users", pl.DataFrame({"user_id": []}, schema={"user_id": read["orders"]["user_id"].dtype}))
        read["orders"] = attribute_orders(read["orders"], users)
    if progress:
        progress("sessions")
    # what the shop lacks, whatever this load chose to read of it
    lacking = set(TABLES) - present | ({"users"} if users_derived else set())
    missing = tuple(name for name in TABLES if name in lacking and not (name == "events" and pushed))
    shop = Shop(tables=Tables(read, placed), sessions=sessions, description=source.description, missing=missing, pushed=pushed, zone=tz, users_derived=users_derived)
    if activity is not None:
        shop.__dict__["activity"] = activity  # the cached property, derived for the changed users only
    if tables is not None or bounds is not None:
        _in_part(shop, source, present, since if bounds is not None and bounds.first_seen else None)
    return shop


def _derived_sessions(
    source: Source, previous: PreviousLoad | None, gap: timedelta, tz: str
) -> tuple[pl.DataFrame | PlacedEvents, pl.DataFrame, pl.DataFrame | None]:
    """The source's events (or placed events, made when first asked for) with their sessions, and the activity
    events when they came for free: derived again for the users whose events changed since
    `previous` where the extract can say which did (`rederive_sessions`), else over all
    events."""
    cut = _unchanged_until(source, previous, gap)
    if cut is not None and previous is not None and isinstance(source, ExtractSource):
        shop = previous.shop
        zone = tz if shop.zone == tz and "activity" in shop.__dict__ else None
        try:
            rederived = rederive_sessions(shop, source.read_table("events", since=cut), cut, gap=gap, activity_zone=zone)
            if rederived.events.height == source.row_count("events"):
                return rederived.events, rederived.sessions, rederived.activity
        except IncompleteDerivation:
            pass
    # the raw frame goes straight in: it can be freed as soon as derive_sessions has reordered it
    events, sessions = derive_sessions(source.read_table("events"), gap=gap)
    return events, sessions, None


def _bounded_sessions(source: Source, first: datetime, gap: timedelta) -> tuple[pl.DataFrame, pl.DataFrame, datetime]:
    """The events later than a bound, with their sessions, exact from `first` on, and the
    bound: a day and a session gap before `first`, farther back while a session that may have
    begun before the bound still runs at `first`.

    A session starting after the bound is derived as over all events: its first event has no
    earlier one within the gap. One that began before it is seen to start at its first event
    after the bound, within the gap after it; if that session still runs at `first`, its
    channel and device could be wrong from `first` on, so the bound moves back (doubling the
    margin) until none does."""
    margin = gap + timedelta(days=1)
    while True:
        since = first - margin
        events, sessions = derive_sessions(source.read_table("events", since=since), gap=gap)
        cut_short = sessions.filter(pl.col("started_at") <= since + gap).get_column("session_id")
        running = events.filter(pl.col("session_id").is_in(cut_short.implode()) & (pl.col("event_time") >= first))
        if running.is_empty() or cut_short.is_empty():
            return events, sessions, since
        margin *= 2


def _unchanged_until(source: Source, previous: PreviousLoad | None, gap: timedelta) -> datetime | None:
    """The instant after which `source`'s events may differ from those `previous` was loaded
    with; None when it cannot say (not the same extract, another session gap, a full refresh
    since, push-down), and the shop is loaded from scratch."""
    if previous is None or not isinstance(source, ExtractSource) or previous.session_gap != gap:
        return None
    shop = previous.shop
    if shop.pushed is not None or "events" not in shop.tables:
        return None
    return source.replaced_since(previous.generation)


def _in_part(shop: Shop, source: Source, present: set[str], first_seen_before: datetime | None) -> None:
    """Give a shop loaded in part (some tables, bounded events) the date span of the whole
    data (Shop.date_span: events, else orders); with `first_seen_before`, add the first event
    of every user seen at or before that instant to its activity events (session 0, ahead of
    the others), so that a cohort of first activity knows who came earlier."""
    timed = [name for name in ("events", "orders") if name in present]
    shop._whole_span = lambda: next((span for span in (time_span(source, name) for name in timed) if span is not None), None)
    if first_seen_before is not None:
        schema = shop.activity.schema
        earlier = _first_events(source, first_seen_before).select(
            pl.col("user_id").cast(schema["user_id"]), pl.col("event_time").cast(schema["event_time"]),
            session_id=pl.lit(0, pl.Int64), session_channel=pl.lit(None, schema["session_channel"]),
            session_device=pl.lit(None, schema["session_device"]),
        )
        shop.__dict__["activity"] = pl.concat([earlier.sort("user_id"), shop.activity])


def time_span(source: Source, name: str) -> tuple[datetime, datetime] | None:
    """The first and last value of table `name`'s time column in `source`: asked of the
    source where it can say it without handing the table out (a database, an extract)."""
    if hasattr(source, "time_span"):
        return source.time_span(name)
    column = TIME_COLUMN[name]
    frame = source.read_table(name, columns=[column])
    return None if frame.is_empty() else frame.select(pl.col(column).min().alias("first"), pl.col(column).max().alias("last")).row(0)


def _first_events(source: Source, before: datetime) -> pl.DataFrame:
    if hasattr(source, "first_events"):
        return source.first_events(before)
    earlier = source.read_table("events", columns=["user_id", "event_time"], until=before + timedelta(microseconds=1))
    return earlier.group_by("user_id").agg(pl.col("event_time").min())
