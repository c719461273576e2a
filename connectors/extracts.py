"""Local Parquet extracts of a shop database: read once, refreshed after a time-to-live,
served when the database cannot be reached.

An extract is a folder (default `.extracts/<hash of the source description>/`, git-ignored)
holding Parquet files per canonical table and `manifest.json`, which names the files of the
current generation with, per table, when it was refreshed, its row count, its newest time and
updated-at stamp, and the source's description (never a password). Events are kept in one
file per week (Monday to Sunday, UTC) of their time, so that a refresh rewrites only the
weeks it changes and a read of a period opens only its weeks; every other table is one file.

A refresh reads what changed (`ExtractSource.refresh`): the rows of the last
`refresh_window_days` before each table's newest time again (late events, orders refunded,
tickets answered), the rows whose updated-at column (the mapping's `updated_at`) is newer than
the last one read, and in full the tables without a time column; each changed row replaces
the extract's row of the same key (KEYS). A full refresh reads every table whole; each table
is read whole again once a day (FULL_REFRESH_EVERY) so that edits older than the window
arrive too. The manifest says, per generation, after which instant the events were replaced
(`replaced_since`), so that loading can derive again only the sessions of the users with
changed events (shop_analytics/loading.py).

A tracker's export (connectors/trackers) is extracted as its canonical events, converted at
the first refresh; a refresh by changes reads the export's events of the window again, with
who each visitor signed in as taken from the whole export, so the new events carry the
customer ids of visitors who signed in at any time. Two things that join an event of the
window to one before it wait for the next full refresh (at most `full_refresh_hours` later):
a visitor who signs in for the first time within the window keeps, on the events before it,
the visitor id they were extracted with; and a purchase sent again within the window (a
thank-you page reopened days later) with the transaction id of one before it is counted until
then. Events before the window are not rewritten, so that a load by changes derives only the
sessions near the window again (shop_analytics/loading.py); and finding the purchases before
the window means decoding every event's parameters (at 2 M GA4 events, 3.3 s of CPU against
0.2 s for the sign-ins), which would make every refresh cost most of a full one.

A refresh is all or nothing. Each file is written to a temporary file and renamed
(os.replace) to a name carrying the new generation (a week of events that did not change
keeps its file, named by both manifests); only then is the manifest replaced, the same way,
to name them. A refresh that stops anywhere before that last rename, by an exception, a kill
or a database that goes away, leaves the previous manifest naming the previous, complete
files, so a half-written file is never read. Files named by neither the current nor the
previous manifest are removed after the commit; the previous one stays for readers still
pinned to it.

An extract holds the shop's customers and orders: its folder is its owner's only (0700) and
every file in it is created readable and writable by its owner only (0600; a umask can only
take bits away from that, never open it to others).
"""

import copy
import fcntl
import hashlib
import json
import os
import re
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import sqlalchemy as sa

from connectors.base import Source, SourceError, time_window, wanted_columns
from connectors.combined import CombinedSource
from connectors.files import window_filter
from connectors.schema import TABLES, TIME_COLUMN
from connectors.sql import SqlSource
from connectors.trackers import TrackerSource

EXTRACTS_ROOT = Path(__file__).resolve().parents[1] / ".extracts"
DEFAULT_TTL = timedelta(minutes=60)

KEYS = {
    "orders": ("order_id",),
    "users": ("user_id",),
    "reviews": ("review_id",),
    "tickets": ("ticket_id",),
    "ad_spend": ("date", "channel", "campaign_id"),
}
"""The columns that name a row of each table refreshed by its changes: a changed row read
again replaces the extract's row of the same key (an order refunded, a ticket answered)."""

DEFAULT_REFRESH_WINDOW = timedelta(days=3)
"""How far before a table's newest time a refresh reads the source again (a setting,
`refresh_window_days`): rows later than (newest - window) are replaced by the source's, so
events a tracker uploads late (GA4 rewrites its last three days), orders refunded, tickets
answered within it are neither missed nor doubled. Changes older than that are read by the
mapping's updated-at column where it names one (`updated_at`), else by the next full
refresh."""

INCREMENTAL_OVERLAP = timedelta(hours=1)
"""How far before the newest updated-at stamp already read a refresh reads the source's
changes again: a transaction stamps its rows when it writes them but commits later, so a row
stamped before the newest one seen can still appear."""

FULL_REFRESH_EVERY = timedelta(days=1)
"""A table is read whole again once its last full read is this old (a setting,
`full_refresh_hours`), so that edited and deleted rows older than the window, and very late
events, reach the extract within a day."""

RETRY_AFTER_FAILURE = timedelta(minutes=1)
"""After a refresh fails, reads keep serving the extract without asking the database again
for this long, so a page does not wait on an unreachable server at every rerun."""

MANIFEST = "manifest.json"
_LOCK = ".lock"
FOLDER_MODE = 0o700
FILE_MODE = 0o600
# A password in a URL quoted by an error message: scheme://user:password@host
_URL_PASSWORD = re.compile(r"(://[^:/@\s]*):[^@\s]*@")


def _moment(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _text(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


@dataclass(frozen=True)
class TableExtract:
    """One table of an extract: its files, when it was refreshed (and last read whole), its
    rows, its newest time and newest updated-at stamp, and, for a refresh that read only
    changes, the instant after which its rows were read again (`replaced_after`; None for a
    full read)."""

    files: tuple[str, ...]
    refreshed_at: datetime
    full_refreshed_at: datetime
    rows: int
    newest: datetime | None
    replaced_after: datetime | None = None
    updated_newest: datetime | None = None

    @property
    def incremental(self) -> bool:
        return self.replaced_after is not None

    def as_json(self) -> dict:
        return {
            "files": list(self.files),
            "refreshed_at": self.refreshed_at.isoformat(),
            "full_refreshed_at": self.full_refreshed_at.isoformat(),
            "rows": self.rows,
            "newest": _text(self.newest),
            "replaced_after": _text(self.replaced_after),
            "updated_newest": _text(self.updated_newest),
        }

    @classmethod
    def from_json(cls, values: dict) -> "TableExtract":
        return cls(
            files=tuple(values["files"]) if "files" in values else (values["file"],),  # one file before events had weeks
            refreshed_at=datetime.fromisoformat(values["refreshed_at"]),
            full_refreshed_at=datetime.fromisoformat(values["full_refreshed_at"]),
            rows=values["rows"],
            newest=_moment(values["newest"]),
            replaced_after=_moment(values.get("replaced_after")),
            updated_newest=_moment(values.get("updated_newest")),
        )


EVENT_HISTORY = 48
"""How many generations back the manifest says where the events were replaced: enough for a
loaded shop a day and more old at an hourly time-to-live to be brought up to date by its
changes (older ones are loaded whole)."""


@dataclass(frozen=True)
class Manifest:
    """The committed state of an extract: generation, source and tables, and for each of the
    last EVENT_HISTORY generations the instant after which it replaced the events (None: it
    read them whole, or there are none)."""

    generation: int
    source: str
    refreshed_at: datetime
    tables: dict[str, TableExtract] = field(default_factory=dict)
    events_replaced: tuple[tuple[int, datetime | None], ...] = ()

    def as_json(self) -> dict:
        return {
            "generation": self.generation,
            "source": self.source,
            "refreshed_at": self.refreshed_at.isoformat(),
            "tables": {name: table.as_json() for name, table in self.tables.items()},
            "events_replaced": [[generation, _text(cut)] for generation, cut in self.events_replaced],
        }

    @classmethod
    def from_json(cls, values: dict) -> "Manifest":
        return cls(
            generation=values["generation"],
            source=values["source"],
            refreshed_at=datetime.fromisoformat(values["refreshed_at"]),
            tables={name: TableExtract.from_json(table) for name, table in values["tables"].items()},
            events_replaced=tuple((generation, _moment(cut)) for generation, cut in values.get("events_replaced", [])),
        )

    def replaced_since(self, generation: int) -> datetime | None:
        """The instant after which this generation's events may differ from those of the
        earlier `generation` (the earliest instant any refresh since replaced them after);
        None when a refresh since read them whole, or the history does not reach back to it.
        A generation is unchanged after its own newest event."""
        if generation == self.generation:
            events = self.tables.get("events")
            return datetime.max.replace(tzinfo=UTC) if events is None or events.newest is None else events.newest
        since = [cut for later, cut in self.events_replaced if later > generation]
        cuts = [cut for cut in since if cut is not None]
        if generation > self.generation or len(cuts) != self.generation - generation:
            return None
        return min(cuts)


@dataclass(frozen=True)
class Staleness:
    """Why the extract being served is older than its time-to-live: the last refresh failed.

    `unreachable` says the failure was the database not answering (as opposed to, say, a
    table that lost a required column); `reason` is the error's first line, password-free.
    """

    refreshed_at: datetime
    failed_at: datetime
    reason: str
    unreachable: bool

    def age(self, now: datetime) -> timedelta:
        """How old the extract being served is at `now`."""
        return now - self.refreshed_at


def worth_extracting(source: Source) -> bool:
    """Whether the app should read `source` through an extract: a PostgreSQL or MySQL server,
    a tracker's export, or a shop with a table from either (CombinedSource).

    A local SQLite file or folder of tables is read directly. It cannot become unreachable,
    and the app keeps the loaded shop in memory, so an extract would only speed up a
    restart: on the 2,000,000-event sample shop reading SQLite took 2.2 s, writing the
    Parquet extract 0.3 s (14 MB) and reading it 0.1 s. A first start through an extract is
    the slower one (2.5 s), and the extract could lag a file that changed.

    A tracker's export is not a table to read but one to convert: its nested parameters
    decoded, repeated purchases left out, visitors stitched to customers, sessions and their
    channels settled. At 10 M GA4 events that took 27 s of CPU against 4 s for loading the
    same canonical events (bench/RESULTS.md, bench_trackers). Through an extract it is paid
    once, by the first refresh; each later refresh reads only the export's last days again
    (the tracker's `refresh_overlap`: GA4 rewrites a day's table for three days), every load
    and restart reads canonical Parquet, and a server sees the tables the tracker adds every
    day, which a folder read once at start would not."""
    if isinstance(source, CombinedSource):
        return any(worth_extracting(part) for part in (source.base, *source.tables.values()))
    if isinstance(source, TrackerSource):
        return True
    return isinstance(source, SqlSource) and source.url.get_backend_name() != "sqlite"


def default_folder(description: str) -> Path:
    """`.extracts/<first 16 hex digits of the SHA-256 of the source description>/`."""
    return EXTRACTS_ROOT / hashlib.sha256(description.encode()).hexdigest()[:16]


def _unreachable(error: BaseException) -> bool:
    """Whether `error` (or an error it was raised from) is the database not answering."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, (sa.exc.OperationalError, sa.exc.InterfaceError, ConnectionError, TimeoutError)):
            return True
        if "connect" in str(seen).lower():
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _reason(error: BaseException) -> str:
    lines = str(error).strip().splitlines() or [type(error).__name__]
    return _URL_PASSWORD.sub(r"\1:***@", lines[0])


class ExtractSource:
    """A source read through a local Parquet extract (see the module docstring).

    `open_source` opens the database anew for each refresh, so reflection sees the tables as
    they are now and an unreachable server fails at once instead of behind a pooled
    connection. Reads are pinned to one generation of the extract: `current()` moves the pin
    (refreshing first when the time-to-live has passed); `read_table` and `table_names` read
    the pinned generation, so the tables of one load always come from the same refresh.
    """

    def __init__(
        self,
        open_source: Callable[[], Source],
        *,
        folder: str | Path | None = None,
        ttl: timedelta = DEFAULT_TTL,
        window: timedelta = DEFAULT_REFRESH_WINDOW,
        full_every: timedelta = FULL_REFRESH_EVERY,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        for label, value in (("time-to-live", ttl), ("refresh window", window), ("time between full refreshes", full_every)):
            if value <= timedelta(0):
                raise ValueError(f"the extract's {label} must be positive, got {value}")
        self._open_source = open_source
        source = open_source()
        self.description = source.description
        self.folder = Path(folder) if folder is not None else default_folder(self.description)
        self.ttl = ttl
        # never shorter than the time a tracker rewrites its export in (GA4: three days), or a
        # refresh would miss the late events of the days before its window
        self.window = max(window, getattr(source, "refresh_overlap", window))
        self.full_every = full_every
        self._clock = clock
        self._pinned: Manifest | None = None
        self._fixed = False  # a pinned() copy: current() keeps its generation
        self.stale: Staleness | None = None

    # -- the committed state -------------------------------------------------------------

    def manifest(self) -> Manifest | None:
        """The extract's committed manifest on disk, None when there is none for this source."""
        try:
            values = json.loads((self.folder / MANIFEST).read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as error:
            raise SourceError(f"the extract's manifest {self.folder / MANIFEST} cannot be read ({error}); delete the folder to rebuild it.") from None
        manifest = Manifest.from_json(values)
        return manifest if manifest.source == self.description else None

    def refresh_due(self, ahead: timedelta = timedelta(0)) -> bool:
        """Whether reading now refreshes first: no extract yet, or its time-to-live has passed
        (and no refresh failed in the last RETRY_AFTER_FAILURE). `ahead`: or will pass within
        that time (the scheduler refreshes before a visitor's page would have to)."""
        return self._due(self.manifest(), self._clock(), ahead)

    def _due(self, manifest: Manifest | None, now: datetime, ahead: timedelta = timedelta(0)) -> bool:
        if manifest is None:
            return True
        if now + ahead - manifest.refreshed_at < self.ttl:
            return False
        return self.stale is None or now - self.stale.failed_at >= RETRY_AFTER_FAILURE

    def current(self) -> Manifest:
        """The generation to read, refreshed first when the time-to-live has passed.

        When that refresh fails and an extract exists, the extract is served and `stale` says
        how old it is and why; with no extract at all, SourceError says the source cannot be
        read.
        """
        if self._fixed and self._pinned is not None:
            return self._pinned
        manifest = self.manifest()
        if self._due(manifest, self._clock()):
            try:
                manifest = self.refresh(if_due=True)
            except SourceError:
                if manifest is None:
                    raise
        if manifest is None:  # nothing due and nothing made: cannot happen, a missing extract is due
            raise SourceError(f"{self.description} has no extract in {self.folder}; refresh it.")
        self._pinned = manifest
        return manifest

    # -- refreshing ----------------------------------------------------------------------

    @contextmanager
    def _locked(self):
        """Hold the extract's lock: one refresh at a time, across threads and processes.
        The operating system releases it when a refreshing process dies."""
        _private_folder(self.folder)
        with os.fdopen(os.open(self.folder / _LOCK, os.O_WRONLY | os.O_CREAT, FILE_MODE), "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def refresh(
        self, *, full: bool = False, if_due: bool = False, ahead: timedelta = timedelta(0),
        progress: Callable[[str], None] | None = None,
    ) -> Manifest:
        """Read the source's changes (everything, with `full`) into a new generation of the
        extract and commit it.

        A table with a time column whose last full read is younger than `full_every` is read
        by its changes (`_changed_table`); the others are read whole. `if_due`: only when a
        refresh is still due (within `ahead`: `refresh_due`) once the lock is held (another
        thread or process may have just refreshed). `progress(name)` after each table. On
        failure nothing is committed, `stale` records why, and SourceError says it.
        """
        with self._locked():
            previous = self.manifest()
            started = self._clock()
            if if_due and previous is not None and not self._due(previous, started, ahead):
                return previous
            generation = (previous.generation if previous else 0) + 1
            self._discard(lambda path: path.suffix == ".tmp")  # left by a refresh that was killed
            try:
                source = self._open_source()
                names = [name for name in TABLES if name in source.table_names()]
                tables = {}
                for name in names:
                    before = None if full or previous is None else previous.tables.get(name)
                    tables[name] = self._refresh_table(source, name, before, generation, started)
                    if progress:
                        progress(name)
            except Exception as error:
                self._discard(lambda path: path.name.endswith(f".{generation}.parquet"))
                if previous is not None:
                    self.stale = Staleness(previous.refreshed_at, started, _reason(error), _unreachable(error))
                if isinstance(error, SourceError):
                    raise
                raise SourceError(f"cannot refresh the extract of {self.description}: {_reason(error)}") from error
            events = tables.get("events")
            replaced = (generation, None if events is None else events.replaced_after)
            history = (previous.events_replaced if previous else ()) + (replaced,)
            manifest = Manifest(generation, self.description, started, tables, history[-EVENT_HISTORY:])
            _replace_atomically(self.folder / MANIFEST, lambda path: path.write_text(json.dumps(manifest.as_json(), indent=2)))
            self.stale = None
            self._pinned = manifest
            named = {file for kept in (manifest, previous) if kept for table in kept.tables.values() for file in table.files}
            self._discard(lambda path: path.suffix == ".parquet" and path.name not in named)
            return manifest

    def _refresh_table(self, source: Source, name: str, before: TableExtract | None, generation: int, now: datetime) -> TableExtract:
        """Table `name` of the new generation: its changes merged into the extract's rows when
        they can be read (`_changed_table`), else read whole."""
        if (
            before is not None
            and before.newest is not None
            and name in TIME_COLUMN
            and now - before.full_refreshed_at < self.full_every
            and (name == "events" or hasattr(source, "read_changes"))
        ):
            changed = self._changed_table(source, name, before, before.newest, generation, now)
            if changed is not None:
                return changed
        if hasattr(source, "read_changes") and name in TIME_COLUMN:
            frame, updated_newest = source.read_changes(name, since=None, updated_since=None)
        else:
            frame, updated_newest = source.read_table(name), None
        files = self._write(name, frame, generation)
        return TableExtract(files, now, now, frame.height, _newest(name, frame), None, updated_newest)

    def _changed_table(
        self, source: Source, name: str, before: TableExtract, newest: datetime, generation: int, now: datetime
    ) -> TableExtract | None:
        """Table `name` with the rows of its last `window` before its newest time, and the rows
        changed since its newest updated-at stamp (less INCREMENTAL_OVERLAP), read again: they
        replace the extract's rows after that instant and its rows of the same key (KEYS).
        The events keep the files of the weeks before that instant. None when the source's
        columns changed since the extract was written (then the table is read whole)."""
        cut = _day_start(newest - self.window) if _is_date(name) else newest - self.window
        updated_since = None if before.updated_newest is None else before.updated_newest - INCREMENTAL_OVERLAP
        if hasattr(source, "read_changes"):
            changes, updated_newest = source.read_changes(name, since=cut, updated_since=updated_since)
        else:  # a source that cannot say what changed: the window's rows only
            changes, updated_newest = source.read_table(name, since=cut), None
        # whole weeks before the cut's keep their files; the undated file, and a file written
        # before events had weeks, are rewritten ("~" sorts after every week)
        cut_week = (cut.astimezone(UTC).date() - timedelta(days=cut.astimezone(UTC).weekday())).isoformat()
        kept_files = [file for file in before.files if name == "events" and (_week_of(file) or "~") < cut_week]
        rewritten = pl.scan_parquet([self.folder / file for file in before.files if file not in kept_files])
        schema = rewritten.collect_schema()
        if set(schema.names()) != set(changes.columns):
            return None
        try:
            # a read of a few rows may type a column otherwise (an id column without values)
            changes = changes.select(schema.names()).cast(dict(schema))
        except pl.exceptions.PolarsError:
            return None
        column = pl.col(TIME_COLUMN[name])
        kept = rewritten.filter(column <= (cut.date() if _is_date(name) else cut))
        if not hasattr(source, "read_changes"):
            kept = pl.concat([kept, rewritten.filter(column.is_null())])  # rows without a time cannot be read again
        keys = [key for key in KEYS.get(name, ()) if key in schema]
        if keys and changes.height:
            kept = kept.join(changes.lazy().select(keys), on=keys, how="anti", nulls_equal=True)
        frame = pl.concat([kept.collect(), changes])
        files = (*kept_files, *self._write(name, frame, generation))
        untouched = pl.scan_parquet([self.folder / file for file in kept_files]) if kept_files else None
        rows = frame.height + (untouched.select(pl.len()).collect().item() if untouched is not None else 0)
        latest = _newest(name, frame)
        if latest is None and untouched is not None:
            latest = _as_instant(untouched.select(column.max()).collect().item())
        updated = [stamp for stamp in (before.updated_newest, updated_newest) if stamp is not None]
        return TableExtract(files, now, before.full_refreshed_at, rows, latest, cut, max(updated) if updated else None)

    def _write(self, name: str, frame: pl.DataFrame, generation: int) -> tuple[str, ...]:
        """Write `frame` as table `name` of `generation`: the events one file per week of
        their time (events without a time in a file of their own), any other table one file.
        The files' names, in order."""
        if name != "events":
            file = f"{name}.{generation}.parquet"
            _replace_atomically(self.folder / file, frame.write_parquet)
            return (file,)
        # the Monday (UTC) of each event's week: a date key, cheaper to split by than text
        weeks = frame.select(pl.col("event_time").dt.convert_time_zone("UTC").dt.truncate("1w").dt.date()).to_series()
        if weeks.n_unique() == 1:
            parts = {(weeks[0],): frame}
        else:
            parts = frame.with_columns(weeks.alias("__week")).partition_by("__week", as_dict=True, include_key=False)
        files = []
        for (week,), part in sorted(parts.items(), key=lambda item: (item[0][0] is None, item[0][0] or date.min)):
            file = f"events.{UNDATED if week is None else week.isoformat()}.{generation}.parquet"
            # each week's in the order a load sorts the events into (by user, session and time;
            # metrics.sessions.derive_sessions): that sort then finds runs, and its gather reads
            # rows near each other. At 10 M GA4 events deriving the sessions took 10.0 s of CPU
            # from events in time order, 6.3 s from events so.
            order = [key for key in ("user_id", "session_id", "event_time") if key in part.columns]
            _replace_atomically(self.folder / file, part.sort(order, maintain_order=True, nulls_last=False).write_parquet)
            files.append(file)
        if not files:  # no events at all: an empty file keeps the columns
            file = f"events.{UNDATED}.{generation}.parquet"
            _replace_atomically(self.folder / file, frame.write_parquet)
            files.append(file)
        return tuple(files)

    def _discard(self, unwanted: Callable[[Path], bool]) -> None:
        """Remove the extract's files for which `unwanted(path)` holds (under the lock)."""
        for path in self.folder.iterdir():
            if unwanted(path):
                path.unlink(missing_ok=True)

    # -- reading (the Source protocol) ---------------------------------------------------

    def _manifest_to_read(self) -> Manifest:
        return self._pinned if self._pinned is not None else self.current()

    def table_names(self) -> set[str]:
        return set(self._manifest_to_read().tables)

    def read_table(
        self,
        name: str,
        *,
        columns: Iterable[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> pl.DataFrame:
        """The canonical table `name` from the pinned generation of the extract; the columns
        and the time window are pushed into the Parquet scan (a window of events opens only
        the files of its weeks)."""
        wanted = wanted_columns(name, columns)
        window = time_window(name, since, until)
        try:
            scan = self.scan(name)
            schema = scan.collect_schema()
            if window is not None:
                scan = scan.filter(window_filter(window, schema[window.column]))
            return scan.select([column for column in wanted if column in schema]).collect()
        except FileNotFoundError:
            raise SourceError(
                f"the extract of {self.description} was refreshed twice while this load read it; load again."
            ) from None

    def scan(self, name: str) -> pl.LazyFrame:
        """Table `name` of the pinned generation as a lazy Parquet scan, for reads that filter
        and aggregate it without holding it (the events of the weeks asked for only)."""
        manifest = self._manifest_to_read()
        if name not in manifest.tables:
            raise SourceError(f"{self.description} has no table '{name}'.")
        # a filter on the time reads only the files (row groups) whose statistics can hold it
        return pl.scan_parquet([self.folder / file for file in manifest.tables[name].files])

    def pinned(self) -> "ExtractSource":
        """This extract with its reads pinned for good to the generation they are pinned to
        now (refreshing first when due), whoever moves this one's pin meanwhile: the source
        one load reads from start to end."""
        manifest = self._manifest_to_read()
        fixed = copy.copy(self)
        fixed._pinned, fixed._fixed = manifest, True
        return fixed

    @property
    def generation(self) -> int | None:
        """The generation reads are pinned to, None before the first read."""
        return None if self._pinned is None else self._pinned.generation

    def row_count(self, name: str) -> int:
        """How many rows table `name` of the pinned generation holds (its manifest says)."""
        return self._manifest_to_read().tables[name].rows

    def replaced_since(self, generation: int) -> datetime | None:
        """The instant after which the pinned generation's events may differ from those of
        `generation` (Manifest.replaced_since)."""
        return self._manifest_to_read().replaced_since(generation)

    def first_events(self, before: datetime) -> pl.DataFrame:
        """Each user's first event at or before `before` (user_id, event_time), aggregated
        over the extract's scan without holding the events."""
        return (
            self.scan("events").select("user_id", "event_time").filter(pl.col("event_time") <= before)
            .group_by("user_id").agg(pl.col("event_time").min()).collect()
        )

    def time_span(self, name: str) -> tuple[datetime, datetime] | None:
        """The first and last value of table `name`'s time column."""
        column = pl.col(TIME_COLUMN[name])
        first, last = (_as_instant(value) for value in self.scan(name).select(column.min().alias("first"), column.max().alias("last")).collect().row(0))
        return None if first is None or last is None else (first, last)


def _private_folder(folder: Path) -> None:
    """Make `folder` (and its parents) if needed, and leave it and its files its owner's only
    (FOLDER_MODE, FILE_MODE), also when an earlier version left them open to everyone."""
    folder.mkdir(parents=True, exist_ok=True, mode=FOLDER_MODE)
    if folder.stat().st_mode & 0o777 != FOLDER_MODE:
        folder.chmod(FOLDER_MODE)
        for path in folder.iterdir():
            if path.is_file():
                path.chmod(FILE_MODE)


def _replace_atomically(path: Path, write: Callable[[Path], object]) -> None:
    """Write `path` through `write(temporary)` then rename it into place (os.replace): the
    name `path` only ever holds a complete file, created FILE_MODE (the temporary file is made
    empty with that mode first, and writing into an existing file keeps its mode). The
    temporary file is removed on failure."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE))
        write(temporary)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


UNDATED = "undated"
"""The week-file name part of events without a time."""


def _week_of(file: str) -> str | None:
    """The Monday (YYYY-MM-DD) of the week a file of events holds, None for any other file."""
    parts = file.split(".")
    return parts[1] if len(parts) == 4 and re.fullmatch(r"\d{4}-\d{2}-\d{2}", parts[1]) else None


def _is_date(name: str) -> bool:
    return name in TIME_COLUMN and TABLES[name].columns[TIME_COLUMN[name]] == pl.Date


def _day_start(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def _as_instant(value) -> datetime | None:
    """A time column's value as a UTC datetime (a date as its midnight)."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime(value.year, value.month, value.day, tzinfo=UTC)


def _newest(name: str, frame: pl.DataFrame) -> datetime | None:
    """The newest value of table `name`'s time column in `frame`, None without one."""
    if name not in TIME_COLUMN or frame.is_empty():
        return None
    return _as_instant(frame[TIME_COLUMN[name]].max())
