"""Local Parquet extracts of a shop database: read once, refreshed after a time-to-live,
served when the database cannot be reached.

An extract is a folder (default `.extracts/<hash of the source description>/`, git-ignored)
holding one Parquet file per canonical table and `manifest.json`, which names the files of
the current generation with, per table, when it was refreshed, its row count and its newest
timestamp, and the source's description (never a password).

A refresh is all or nothing. Each table is written to a temporary file and renamed
(os.replace) to a name carrying the new generation; only then is the manifest replaced, the
same way, to name them. A refresh that stops anywhere before that last rename, by an
exception or a kill, leaves the previous manifest naming the previous, complete files, so a
half-written file is never read. Files of generations older than the previous one are
removed after the commit; the previous one stays for readers still pinned to it.

An extract holds the shop's customers and orders: its folder is its owner's only (0700) and
every file in it is created readable and writable by its owner only (0600; a umask can only
take bits away from that, never open it to others).
"""

import fcntl
import hashlib
import json
import os
import re
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import sqlalchemy as sa

from connectors.base import Source, SourceError, time_window, wanted_columns
from connectors.files import window_filter
from connectors.schema import TABLES, TIME_COLUMN
from connectors.sql import SqlSource

EXTRACTS_ROOT = Path(__file__).resolve().parents[1] / ".extracts"
DEFAULT_TTL = timedelta(minutes=60)

APPEND_ONLY = frozenset({"events"})
"""Tables refreshed incrementally by their newest timestamp (TIME_COLUMN).

Only `events`: an event is a fact written once and never changed, and it is the table with
millions of rows. Every other table is reloaded in full, because its rows change after they
are written or it has no time column: orders change status and gain paid_at, shipped_at,
delivered_at and refunds; tickets gain first_response_at and resolved_at; users change
member_level; reviews are edited or removed by moderation; ad platforms revise the spend of
past days; order_items, products and campaigns have no time column. They are small beside
events (11,590 orders to 2,000,000 events in the sample shop).
"""

INCREMENTAL_OVERLAP = timedelta(hours=1)
"""How far before the extract's newest timestamp an incremental refresh reads again.

The extract's rows later than (newest - overlap) are replaced by the source's, so events
stamped at the newest instant but written after the last refresh, and events a tracker
uploads late but stamped less than an hour before the newest, are neither missed nor
doubled. Older late arrivals, edited and deleted events need a full refresh."""

FULL_REFRESH_EVERY = timedelta(days=1)
"""An append-only table is read whole again once its last full read is this old, so edited,
deleted and very late events reach the extract within a day."""

RETRY_AFTER_FAILURE = timedelta(minutes=1)
"""After a refresh fails, reads keep serving the extract without asking the database again
for this long, so a page does not wait on an unreachable server at every rerun."""

MANIFEST = "manifest.json"
_LOCK = ".lock"
FOLDER_MODE = 0o700
FILE_MODE = 0o600
# A password in a URL quoted by an error message: scheme://user:password@host
_URL_PASSWORD = re.compile(r"(://[^:/@\s]*):[^@\s]*@")


@dataclass(frozen=True)
class TableExtract:
    """One table of an extract: its file, when it was refreshed (and last read whole), its
    rows, its newest time, and whether the last refresh was incremental."""

    file: str
    refreshed_at: datetime
    full_refreshed_at: datetime
    rows: int
    newest: datetime | None
    incremental: bool

    def as_json(self) -> dict:
        return {
            "file": self.file,
            "refreshed_at": self.refreshed_at.isoformat(),
            "full_refreshed_at": self.full_refreshed_at.isoformat(),
            "rows": self.rows,
            "newest": None if self.newest is None else self.newest.isoformat(),
            "incremental": self.incremental,
        }

    @classmethod
    def from_json(cls, values: dict) -> "TableExtract":
        newest = values["newest"]
        return cls(
            file=values["file"],
            refreshed_at=datetime.fromisoformat(values["refreshed_at"]),
            full_refreshed_at=datetime.fromisoformat(values["full_refreshed_at"]),
            rows=values["rows"],
            newest=None if newest is None else datetime.fromisoformat(newest),
            incremental=values["incremental"],
        )


@dataclass(frozen=True)
class Manifest:
    """The committed state of an extract: generation, source and tables."""

    generation: int
    source: str
    refreshed_at: datetime
    tables: dict[str, TableExtract] = field(default_factory=dict)

    def as_json(self) -> dict:
        return {
            "generation": self.generation,
            "source": self.source,
            "refreshed_at": self.refreshed_at.isoformat(),
            "tables": {name: table.as_json() for name, table in self.tables.items()},
        }

    @classmethod
    def from_json(cls, values: dict) -> "Manifest":
        return cls(
            generation=values["generation"],
            source=values["source"],
            refreshed_at=datetime.fromisoformat(values["refreshed_at"]),
            tables={name: TableExtract.from_json(table) for name, table in values["tables"].items()},
        )


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
    """Whether the app should read `source` through an extract: a PostgreSQL or MySQL server.

    A local SQLite file or folder of tables is read directly. It cannot become unreachable,
    and the app keeps the loaded shop in memory, so an extract would only speed up a
    restart: on the 2,000,000-event sample shop reading SQLite took 2.2 s, writing the
    Parquet extract 0.3 s (14 MB) and reading it 0.1 s. A first start through an extract is
    the slower one (2.5 s), and the extract could lag a file that changed.
    """
    return isinstance(source, SqlSource) and source.url.get_backend_name() != "sqlite"


def default_folder(description: str) -> Path:
    """`.extracts/<first 16 hex digits of the SHA-256 of the source description>/`."""
    return EXTRACTS_ROOT / hashlib.sha256(description.encode()).hexdigest()[:16]


def _unreachable(error: BaseException) -> bool:
    """Whether `error` (or an error it was raised from) is the database not answering."""
    seen = error
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
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if ttl <= timedelta(0):
            raise ValueError(f"the extract's time-to-live must be positive, got {ttl}")
        self._open_source = open_source
        self.description = open_source().description
        self.folder = Path(folder) if folder is not None else default_folder(self.description)
        self.ttl = ttl
        self._clock = clock
        self._pinned: Manifest | None = None
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

    def refresh_due(self) -> bool:
        """Whether reading now refreshes first: no extract yet, or its time-to-live has passed
        (and no refresh failed in the last RETRY_AFTER_FAILURE)."""
        return self._due(self.manifest(), self._clock())

    def _due(self, manifest: Manifest | None, now: datetime) -> bool:
        if manifest is None:
            return True
        if now - manifest.refreshed_at < self.ttl:
            return False
        return self.stale is None or now - self.stale.failed_at >= RETRY_AFTER_FAILURE

    def current(self) -> Manifest:
        """The generation to read, refreshed first when the time-to-live has passed.

        When that refresh fails and an extract exists, the extract is served and `stale` says
        how old it is and why; with no extract at all, SourceError says the source cannot be
        read.
        """
        manifest = self.manifest()
        if self._due(manifest, self._clock()):
            try:
                manifest = self.refresh(if_due=True)
            except SourceError:
                if manifest is None:
                    raise
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
        self, *, full: bool = False, if_due: bool = False, progress: Callable[[str], None] | None = None
    ) -> Manifest:
        """Read the source into a new generation of the extract and commit it.

        Append-only tables (APPEND_ONLY) are read from INCREMENTAL_OVERLAP before their newest
        timestamp, unless `full` or their last full read is FULL_REFRESH_EVERY old; every other
        table is read whole. `if_due`: only when a refresh is still due once the lock is held
        (another thread or process may have just refreshed). `progress(name)` after each table.
        On failure nothing is committed, `stale` records why, and SourceError says it.
        """
        with self._locked():
            previous = self.manifest()
            started = self._clock()
            if if_due and not self._due(previous, started):
                return previous
            generation = (previous.generation if previous else 0) + 1
            self._discard(lambda path: path.suffix == ".tmp")  # left by a refresh that was killed
            try:
                source = self._open_source()
                names = [name for name in TABLES if name in source.table_names()]
                tables = {}
                for name in names:
                    tables[name] = self._refresh_table(source, name, previous, generation, started, full)
                    if progress:
                        progress(name)
            except Exception as error:
                self._discard(lambda path: path.name.endswith(f".{generation}.parquet"))
                if previous is not None:
                    self.stale = Staleness(previous.refreshed_at, started, _reason(error), _unreachable(error))
                if isinstance(error, SourceError):
                    raise
                raise SourceError(f"cannot refresh the extract of {self.description}: {_reason(error)}") from error
            manifest = Manifest(generation, self.description, started, tables)
            _replace_atomically(self.folder / MANIFEST, lambda path: path.write_text(json.dumps(manifest.as_json(), indent=2)))
            self.stale = None
            self._pinned = manifest
            named = {table.file for kept in (manifest, previous) if kept for table in kept.tables.values()}
            self._discard(lambda path: path.suffix == ".parquet" and path.name not in named)
            return manifest

    def _refresh_table(
        self, source: Source, name: str, previous: Manifest | None, generation: int, now: datetime, full: bool
    ) -> TableExtract:
        before = previous.tables.get(name) if previous else None
        incremental = (
            not full
            and name in APPEND_ONLY
            and before is not None
            and before.newest is not None
            and now - before.full_refreshed_at < FULL_REFRESH_EVERY
        )
        if incremental:
            cut = before.newest - INCREMENTAL_OVERLAP
            column = TIME_COLUMN[name]
            kept = pl.scan_parquet(self.folder / before.file).filter(pl.col(column) <= cut).collect()
            recent = source.read_table(name, since=cut)
            if recent.columns == kept.columns:
                frame = pl.concat([kept, recent], how="vertical_relaxed")
            else:  # the source's columns changed since the last refresh: read it again whole
                incremental, frame = False, source.read_table(name)
        else:
            frame = source.read_table(name)
        file = f"{name}.{generation}.parquet"
        _replace_atomically(self.folder / file, frame.write_parquet)
        newest = frame[TIME_COLUMN[name]].max() if name in TIME_COLUMN and frame.height else None
        if newest is not None and not isinstance(newest, datetime):  # a date column (ad_spend)
            newest = datetime(newest.year, newest.month, newest.day, tzinfo=UTC)
        full_refreshed_at = before.full_refreshed_at if incremental else now
        return TableExtract(file, now, full_refreshed_at, frame.height, newest, incremental)

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
        """The canonical table `name` from the pinned generation of the extract."""
        wanted = wanted_columns(name, columns)
        window = time_window(name, since, until)
        manifest = self._manifest_to_read()
        if name not in manifest.tables:
            raise SourceError(f"{self.description} has no table '{name}'.")
        path = self.folder / manifest.tables[name].file
        try:
            scan = pl.scan_parquet(path)
            schema = scan.collect_schema()
            if window is not None:
                scan = scan.filter(window_filter(window, schema[window.column]))
            return scan.select([column for column in wanted if column in schema]).collect()
        except FileNotFoundError:
            raise SourceError(
                f"the extract of {self.description} was refreshed twice while this load read it; load again."
            ) from None


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
