"""A tracker's export as a Source (connectors/base.py): the canonical `events` table (and
`users` where the tracker records sign-ups), read through a tracker preset.

Reading is all or nothing: the export is read lazily, file by file (Parquet for the
columns and row groups asked for only), into the shared shape of common.py, collected by
Polars' streaming engine, and checked; a file with a column missing, a time that is not in
the tracker's unit, a JSON column that does not hold JSON, an event without a name (or one
the preset refuses) raises SourceError naming the file, the column and the rows, and
nothing is handed out. What is read but worth knowing (event names kept as their own types,
repeated purchases left out, visitors without an id) is said in `problems`, which the Data
sources page shows.
"""

import importlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

import polars as pl

from connectors.base import SHOWN_ROWS, SourceError, conform, time_window, wanted_columns
from connectors.schema import EVENT_TYPES
from connectors.trackers.common import (
    RAW_COLUMNS,
    SESSION_KEY,
    first_purchases,
    identity_pairs,
    once_each,
    session_channels,
    session_ids,
    stitched_user_ids,
    typed_events,
    unknown_names_note,
    visit_channels,
)
from connectors.trackers.preset import TrackerPreset, load_tracker_mapping, load_tracker_preset
from connectors.trackers.store import ROW, DatabaseStore, FolderStore, RawTable, open_store

SESSION_GAP = timedelta(minutes=30)
"""The SPEC's session gap, for events a tracker gives no session id; the loading edge's
setting (`session_gap`) is passed in where it differs."""
# What a reader's events hold that the source reads (a reader may compute more for itself).
READ_COLUMNS = (ROW, *RAW_COLUMNS, SESSION_KEY, "event_id")
# Times outside these years are a unit misread (milliseconds taken for microseconds put an
# event in January 1970), not events.
EARLIEST_EVENT = datetime(2000, 1, 1, tzinfo=UTC)
LATEST_EVENT = datetime(2200, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class EventPart:
    """One raw table's events in the shared shape (common.RAW_COLUMNS, `ROW`, and
    `session_key` for trackers with sessions), with what a message about them names: the
    raw time column and the unit the tracker writes it in, and the raw columns holding
    JSON ("object" or "array")."""

    table: RawTable
    events: pl.LazyFrame
    time_column: str
    time_unit: str
    json_columns: dict[str, str] = field(default_factory=dict)


class Tracker(Protocol):
    """A tracker's reader (ga4.py, snowplow.py, segment.py, posthog.py)."""

    title: str
    has_sessions: bool
    refresh_overlap: timedelta
    users_table: str | None  # the raw table the canonical users come from, if any

    def event_tables(self, store: FolderStore | DatabaseStore) -> list[str]:
        """The export's tables that hold events, in the order they are read."""

    def event_parts(
        self, store: FolderStore | DatabaseStore, since: datetime | None, until: datetime | None
    ) -> list[EventPart]:
        """The events of every event table, lazily; `since` / `until` (UTC) may be pushed
        into the reads, which must keep at least the events strictly between them."""

    def sign_ins(self, store: FolderStore | DatabaseStore) -> pl.DataFrame | None:
        """(anonymous_id, user_id, at) the tracker records apart from its events."""

    def users(self, store: FolderStore | DatabaseStore) -> pl.DataFrame | None:
        """The canonical users the export names (user_id, signup_at), or None."""


_READERS = {
    "ga4": ("ga4", "GA4Export"),
    "snowplow": ("snowplow", "SnowplowEvents"),
    "segment": ("segment", "SegmentWarehouse"),
    "rudderstack": ("segment", "RudderStackWarehouse"),
    "posthog": ("posthog", "PostHogExport"),
}


def tracker_reader(preset: TrackerPreset) -> Tracker:
    """The reader of the preset's tracker, reading its event names; each tracker's module
    is imported when a preset names it."""
    module, reader = _READERS[preset.tracker]
    return getattr(importlib.import_module(f"connectors.trackers.{module}"), reader)(preset.event_types)


class TrackerSource:
    """A tracker's export (a folder of files, or a database given by its URL) read through a
    tracker preset: the shipped one named `preset`, or the TOML file `mapping`."""

    def __init__(
        self,
        location: str | Path,
        *,
        preset: str | None = None,
        mapping: str | Path | None = None,
        session_gap: timedelta = SESSION_GAP,
        schema: str | None = None,
    ) -> None:
        if preset is not None and mapping is None:
            self.preset: TrackerPreset = load_tracker_preset(preset)
        elif mapping is not None and preset is None:
            self.preset = load_tracker_mapping(mapping)
        else:
            raise SourceError("a tracker export is read through a tracker preset or a tracker mapping file (one of them).")
        self.tracker = tracker_reader(self.preset)
        self.store = open_store(location, schema=schema)
        self.session_gap = session_gap
        self.problems: dict[str, str] = {}

    @property
    def description(self) -> str:
        return f"{self.store.description} ({self.preset.name})"

    @property
    def refresh_overlap(self) -> timedelta:
        """How far before the newest event a refresh must read again: GA4 rewrites a day's
        table for three days after it, other trackers load late events within the hour."""
        return self.tracker.refresh_overlap

    def table_names(self) -> set[str]:
        names = set()
        if self.tracker.event_tables(self.store):
            names.add("events")
        if self.tracker.users_table is not None and self.tracker.users_table in self.store.tables():
            names.add("users")
        return names

    def read_table(
        self,
        name: str,
        *,
        columns: Iterable[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> pl.DataFrame:
        wanted = wanted_columns(name, columns)
        window = time_window(name, since, until)
        if name == "events":
            frame = self._events(window)
        elif name == "users" and (users := self.tracker.users(self.store)) is not None:
            frame = users if window is None else users.filter(window.conditions(pl.col(window.column)))
        else:
            raise SourceError(f"{self.description} has no table '{name}': a tracker's export gives events and users.")
        return conform(name, frame, self.description, wanted)

    def identities(self) -> pl.DataFrame:
        """(anonymous_id, user_id): every visitor id of the export that signed in, and the
        customer id it signed in as (the latest, for one that signed in as several). The
        events' `user_id` is that customer id for all the visitor's events; a visitor id
        not listed never signed in and is its events' `user_id` itself."""
        return identity_pairs(self._customer_events(), self.tracker.sign_ins(self.store)).select(
            "anonymous_id", "user_id"
        )

    # -- reading ---------------------------------------------------------------------------

    def _raw_events(self, window) -> pl.DataFrame:
        """The export's events in the shared shape with their canonical event_type, checked
        (all or nothing), before purchases, ids, sessions and channels are settled."""
        since = None if window is None else window.since
        until = None if window is None else window.until
        parts = self.tracker.event_parts(self.store, since, until)
        if not parts:
            raise SourceError(
                f"{self.store.description} holds no {self.preset.name} events "
                f"(the tables it has: {', '.join(self.store.tables()) or 'none'})."
            )
        frames = []
        for index, part in enumerate(parts):
            events = part.events.select(column for column in READ_COLUMNS if column in part.events.collect_schema())
            if window is not None:
                # a time that cannot be read stays in, so that the checks below name it
                events = events.filter(pl.col("event_time").is_null() | pl.all_horizontal(window.conditions(pl.col("event_time"))))
            events = typed_events(events.with_columns(part=pl.lit(index, pl.UInt32)), self.preset.event_types)
            # part by part: one plan over all of them held every part's buffers at once
            # (3.6 GB at 10 million GA4 events; 1.5 GB so)
            try:
                # one chunk per part: the streaming engine hands out a chunk per morsel (386
                # for 2 million events), and every step below paid for them (_check took 0.14 s
                # of CPU over those, 0.003 s over one chunk a part)
                frames.append(events.collect(engine="streaming").rechunk())
            except pl.exceptions.PolarsError as error:
                raise _unreadable([part], error) from None
        loaded = pl.concat(frames, how="diagonal_relaxed", rechunk=False)
        _check(loaded, parts, self.preset)
        return loaded

    def _customer_events(self) -> pl.DataFrame:
        """(anonymous_id, customer_id, event_time) of every event of the export that
        carries a customer id: the columns read for that only."""
        parts = self.tracker.event_parts(self.store, None, None)
        frames = []
        for part in parts:
            customers = part.events.select("anonymous_id", "customer_id", "event_time").filter(
                pl.col("customer_id").is_not_null() & pl.col("anonymous_id").is_not_null()
            )
            try:
                frames.append(customers.collect(engine="streaming"))
            except pl.exceptions.PolarsError as error:
                raise _unreadable([part], error) from None
        return pl.concat(frames, how="vertical_relaxed")

    def _events(self, window) -> pl.DataFrame:
        events = self._raw_events(window)
        notes = []
        nameless = events.filter(pl.col("anonymous_id").is_null())
        if nameless.height:
            notes.append(f"left out {nameless.height:,} event(s) without a visitor id (sent without consent to cookies)")
            events = events.filter(pl.col("anonymous_id").is_not_null())
        events = events.drop("part", ROW, "listed")
        events, twice = once_each(events)
        if twice:
            notes.append(f"left out {twice:,} event row(s) loaded twice (the same event id)")
        events, repeated = first_purchases(events)
        if repeated:
            notes.append(f"left out {repeated:,} purchase event(s) repeating an earlier one's transaction id")
        sign_ins = self.tracker.sign_ins(self.store)
        # who a visitor signed in as may be recorded outside the window
        pairs = identity_pairs(events if window is None else self._customer_events(), sign_ins)
        events = stitched_user_ids(events, pairs)
        if self.tracker.has_sessions:
            events = session_channels(session_ids(events, self.session_gap))
        else:
            events = visit_channels(events)
        note = unknown_names_note(events, set(EVENT_TYPES))
        if note:
            notes.append(note)
        if notes:
            self.problems["events"] = "; ".join(notes) + "."
        else:
            self.problems.pop("events", None)
        return events


def _rows(rows: pl.Series) -> str:
    shown = rows.unique(maintain_order=True)
    listed = ", ".join(str(row) for row in shown.head(SHOWN_ROWS))
    more = f" and {shown.len() - SHOWN_ROWS:,} more" if shown.len() > SHOWN_ROWS else ""
    return ("rows " if shown.len() > 1 else "row ") + listed + more


def _check(events: pl.DataFrame, parts: list[EventPart], preset: TrackerPreset) -> None:
    """Raise SourceError for the first file with events the canonical model cannot hold:
    a time that cannot be read or lies outside 2000-2200 (a unit misread), an event
    without a name, or a name the preset refuses."""
    checks = [
        (pl.col("event_time").is_null(), lambda part: (part.time_column, f"cannot be read as a time ({part.time_unit})")),
        (
            (pl.col("event_time") < EARLIEST_EVENT) | (pl.col("event_time") >= LATEST_EVENT),
            lambda part: (part.time_column, f"fall outside 2000-2200: they are not {part.time_unit}"),
        ),
        (pl.col("event_type").is_null(), lambda part: ("event name", "are missing: an event needs its name")),
    ]
    if preset.event_types.unknown == "refuse":
        checks.append((
            ~pl.col("listed"),
            lambda part: ("event name", f"are not in the preset {preset.origin}, which refuses names it does not list"),
        ))
    for condition, describe in checks:
        bad = events.filter(condition)
        if bad.is_empty():
            continue
        index = bad["part"][0]
        part = parts[index]
        origin, start, numbers = part.table.locate(sorted(bad.filter(pl.col("part") == index)[ROW].unique().to_list()))
        rows = bad.filter((pl.col("part") == index) & (pl.col(ROW) - start).is_in(numbers))
        column, what = describe(part)
        examples = ""
        if column == "event name" and rows["event_type"].is_not_null().any():
            names = rows["event_type"].drop_nulls().cast(pl.String).unique(maintain_order=True).head(3).to_list()
            examples = f" (for example {', '.join(repr(name) for name in names)})"
        raise SourceError(
            f"{origin}: column '{column}': {len(numbers):,} value(s) {what}, in {_rows(pl.Series(numbers))}"
            f"{examples}. Nothing was loaded; correct the export or the preset."
        )


def _unreadable(parts: list[EventPart], error: pl.exceptions.PolarsError) -> SourceError:
    """The error for an export Polars could not read: the file, column and rows of a JSON
    column that does not hold JSON (of the kind the tracker writes there), else Polars'
    own message."""
    for part in parts:
        for column, kind in part.json_columns.items():
            if column not in part.table.schema or part.table.schema[column] != pl.String:
                continue
            text = pl.col(column).str.strip_chars()
            opening = "{" if kind == "object" else "["
            bad = (
                part.table.frame.select(ROW, column)
                .filter(text.is_not_null() & (text != "") & (text.str.json_path_match("$").is_null() | ~text.str.starts_with(opening)))
                .collect()
            )
            if bad.height:
                origin, _, numbers = part.table.locate(bad[ROW].to_list())
                examples = ", ".join(repr(value[:40]) for value in bad[column].unique(maintain_order=True).head(3))
                return SourceError(
                    f"{origin}: column '{column}': {len(numbers):,} value(s) are not a JSON {kind}, in "
                    f"{_rows(pl.Series(numbers))} (for example {examples}). Nothing was loaded; correct the export."
                )
    for part in parts:
        for path in part.table.files:
            if path.suffix in JSON_LINES and (line := _first_line_not_json(path)) is not None:
                number, content = line
                return SourceError(
                    f"{path}: line {number} is not a JSON object (it begins {content[:40]!r}): a file cut short by a copy "
                    f"ends mid-line. Nothing was loaded; correct or export the file again."
                )
    origins = ", ".join(part.table.origin for part in parts[:3]) + (" ..." if len(parts) > 3 else "")
    return SourceError(f"cannot read the tracker export {origins}: {str(error).splitlines()[0]}")


JSON_LINES = (".jsonl", ".ndjson")


def _first_line_not_json(path: Path) -> tuple[int, str] | None:
    """The number and text of the first line of the JSON lines file `path` that is not a
    JSON object (blank lines are skipped, as Polars skips them), None when every line is one."""
    with path.open(encoding="utf-8", errors="replace") as file:
        for number, line in enumerate(file, 1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except ValueError:
                return number, line.strip()
            if not isinstance(value, dict):
                return number, line.strip()
    return None

