"""Where the heavy first steps run: inside the database, in Spark SQL, or in Polars'
streaming engine over Parquet files. Each engine answers the same questions with the same
rows (pushdown.queries, pushdown.frames); tests/test_pushdown_sql.py and tests/test_spark.py
hold them to the in-memory path.
"""

from abc import ABC, abstractmethod
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path
from typing import Protocol

import polars as pl
import sqlalchemy as sa

from connectors.base import SourceError, conform
from connectors.schema import LABEL, TABLES
from connectors.sql import SqlSource
from metrics.funnel_spec import FunnelSpec
from metrics.time import utc_bounds
from models.features import purchase_days
from shop_analytics.pushdown import frames, queries
from shop_analytics.pushdown.dialects import OFFSET_DIALECTS, ZoneOffsets, zone_offsets

# Columns each first step reads; a Parquet scan or a Spark view reads no others.
SESSION_DAY_INPUT = ("user_id", "event_time", "event_type", "channel", "device")
ORDER_DAY_INPUT = ("user_id", "created_at", "amount", "status")
PARALLEL_QUERIES = 2
"""Parts of the users a database server sessionizes at once (SqlPushdown)."""
PART_SETTINGS = {"max_parallel_workers_per_gather": "0"}
"""PostgreSQL run-time parameters of each part's connection (SqlPushdown). The parts already
keep one core each busy, so parallel workers only queue for the same cores, and their Gather
Merge passes every sorted row through shared memory once more: at 10,000,000 events on 2 cores
the two parts took 6.9 s with the default (2 workers each) and 5.5 s without (bench/RESULTS.md).
work_mem is left to the server: a larger one (256 MB, 1 GB) sorted the parts in memory but
no faster than the default 4 MB's merge on disk, whose files stayed in the page cache."""
PART_EVENTS = 4_000_000
"""Events per pass of the streaming session step. Sessions are per user, so the users are
split into parts (by a hash of user_id) and each pass sorts one part's events only: the
memory the step needs follows this, not the shop's size (a 20,000,000-event shop takes five
passes over the Parquet files)."""
_ORDER_DAY_TYPES = {"day": pl.Date, "value": pl.Float64, "orders": pl.Int64}


class Pushdown(Protocol):
    """An engine that runs the heavy first steps where the events are."""

    @property
    def description(self) -> str:
        """What runs the queries, safe to show: never a password."""

    def event_count(self) -> int:
        """How many events the shop has (COUNT(*), or a Parquet file's metadata)."""

    def has_event_column(self, name: str) -> bool:
        """Whether the events have the canonical column `name`."""

    def session_days(self, *, tz: str, gap: timedelta) -> pl.DataFrame:
        """pushdown.queries.session_days, in canonical dtypes."""

    def daily_active_users(self, *, start: date, end: date, tz: str, gap: timedelta) -> pl.DataFrame:
        """pushdown.queries.daily_active_users, as pushdown.frames.daily_active_users gives it."""

    def order_days(self, *, tz: str) -> pl.DataFrame:
        """pushdown.queries.order_days, as models.features.purchase_days gives it."""

    def funnel_events(self, spec: FunnelSpec, *, start: date, end: date, tz: str) -> pl.DataFrame:
        """The events the funnel reads for entries on business days start..end, and the
        data's end (frames.with_data_end), as canonical events."""


class QueryEngine(ABC):
    """Shared by the engines that run pushdown.queries as SQL: subclasses give the tables,
    the dialect the SQL is written for, and how a query is read into Polars."""

    dialect_name: str
    description: str
    day_by_offsets = False
    """Whether business days are computed from the zone's UTC offsets written into the SQL
    (pushdown.dialects), as the dialects without zones by name must."""

    @abstractmethod
    def table(self, name: str) -> sa.FromClause:
        """Canonical table `name` as a FROM clause with canonical column names and types."""

    @abstractmethod
    def read(self, query: sa.Select) -> pl.DataFrame:
        """The rows of `query`, run by the engine."""

    def has_event_column(self, name: str) -> bool:
        return name in self.table("events").c

    def _dialect(self, name: str, column: str, tz: str) -> queries.Dialect:
        """The Dialect for business days of `name`.`column`, with the zone's offsets over its
        span where the dialect needs them."""
        if self.dialect_name not in OFFSET_DIALECTS and not self.day_by_offsets:
            return queries.Dialect(self.dialect_name, tz)
        dtype = TABLES[name].columns[column]
        if dtype is None:  # ids keep the source's dtype; a time column always has one
            raise ValueError(f"{name}.{column} has no canonical dtype: business days are counted on a time column")
        span = frames.typed(self.read(queries.time_span(self.table(name), column)), {"first": dtype, "last": dtype})
        first, last = span["first"][0], span["last"][0]
        if first is None:  # no rows: any offset gives the same nothing
            return queries.Dialect(self.dialect_name, tz, ZoneOffsets(0))
        return queries.Dialect(self.dialect_name, tz, zone_offsets(tz, first, last))

    def _has(self) -> dict[str, bool]:
        return {name: self.has_event_column(name) for name in ("channel", "device")}

    def parts(self) -> int:
        """Into how many parts of the users the sessionizing queries are split, run at once."""
        return 1

    def read_part(self, query: sa.Select) -> pl.DataFrame:
        """The rows of `query`, one of several parts run at once."""
        return self.read(query)

    def _read_parts(self, build: Callable[[tuple[int, int] | None], sa.Select]) -> pl.DataFrame:
        """The rows of `build(part)` for every part of the users, read at once, together."""
        parts = self.parts()
        if parts == 1:
            return self.read(build(None))
        with ThreadPoolExecutor(parts) as pool:
            read = list(pool.map(lambda number: self.read_part(build((number, parts))), range(parts)))
        return pl.concat(read, how="vertical_relaxed")

    def event_count(self) -> int:
        return int(self.read(queries.row_count(self.table("events")))["rows"][0])

    def session_days(self, *, tz: str, gap: timedelta) -> pl.DataFrame:
        dialect = self._dialect("events", "event_time", tz)
        read = self._read_parts(lambda part: queries.session_days(self.table("events"), dialect, gap=gap, part=part))
        return frames.typed_session_days(read, self._has())

    def daily_active_users(self, *, start: date, end: date, tz: str, gap: timedelta) -> pl.DataFrame:
        dialect = self._dialect("events", "event_time", tz)
        read = self._read_parts(
            lambda part: queries.daily_active_users(self.table("events"), dialect, gap=gap, start=start, end=end, part=part)
        )
        # parts share no user: their distinct counts add up
        counts = frames.typed_daily_active_users(read)
        return frames.typed_daily_active_users(counts.group_by("date", "channel").agg(pl.col("dau").sum()))

    def order_days(self, *, tz: str) -> pl.DataFrame:
        query = queries.order_days(self.table("orders"), self._dialect("orders", "created_at", tz))
        read = frames.typed(self.read(query), _ORDER_DAY_TYPES)
        return read.select(queries.ORDER_DAY_COLUMNS)

    def funnel_events(self, spec: FunnelSpec, *, start: date, end: date, tz: str) -> pl.DataFrame:
        events = self.table("events")
        lower, upper = utc_bounds(start, end, tz)
        dialect = queries.Dialect(self.dialect_name, tz)
        columns = queries.funnel_columns(events, spec)
        rows = conform("events", self.read(queries.funnel_events(events, dialect, spec, lower=lower, upper=upper)), self.description, columns)
        latest = conform("events", self.read(queries.latest_event(events, columns)), self.description, columns)
        return frames.with_data_end(rows, latest)


class SqlPushdown(QueryEngine):
    """The queries run inside the database of a SqlSource, through its mapping.

    A server sessionizes the users in PARALLEL_QUERIES parts at once, one connection each,
    when user ids are whole numbers: a query's window functions run on one core, so on a
    server with cores to spare the parts finish in about that fraction of the time. On
    PostgreSQL each part's connection runs with PART_SETTINGS.
    """

    def __init__(self, source: SqlSource):
        self.source = source
        self.dialect_name = source.url.get_backend_name()
        # PostgreSQL's AT TIME ZONE looks the zone up per row (pushdown.dialects)
        self.day_by_offsets = self.dialect_name == "postgresql"
        self._tables: dict[str, sa.Subquery] = {}
        self.description = source.description

    def table(self, name: str) -> sa.FromClause:
        if name not in self._tables:
            table = self.source.canonical_table(name)
            naive = [column.name for column in table.c if isinstance(column.type, sa.DateTime) and not column.type.timezone]
            if naive and self.source.mapping.time_zone != "UTC":
                raise SourceError(
                    f"{self.description}: push-down reads zoneless times as UTC, but the mapping says they are in "
                    f"{self.source.mapping.time_zone}; set pushdown = \"never\" in [connections.shop]."
                )
            self._tables[name] = table
        return self._tables[name]

    def read(self, query: sa.Select) -> pl.DataFrame:
        return self.source.read_query(query)

    def read_part(self, query: sa.Select) -> pl.DataFrame:
        return self.source.read_query(query, settings=PART_SETTINGS if self.dialect_name == "postgresql" else None)

    def parts(self) -> int:
        integer_ids = isinstance(self.table("events").c.user_id.type, sa.Integer)
        return PARALLEL_QUERIES if self.dialect_name in ("postgresql", "mysql") and integer_ids else 1


class StreamingPushdown:
    """The first steps in Polars over Parquet files, collected with the streaming engine, so
    that only the columns read and the aggregated rows are ever held whole.

    `scan(name)` gives the LazyFrame of canonical table `name` (a Parquet scan)."""

    def __init__(self, scan: Callable[[str], pl.LazyFrame], description: str):
        self.scan = scan
        self.description = description

    def _columns(self, name: str, wanted: tuple[str, ...]) -> pl.LazyFrame:
        scan = self.scan(name)
        present = scan.collect_schema()
        return scan.select([column for column in wanted if column in present])

    def has_event_column(self, name: str) -> bool:
        return name in self.scan("events").collect_schema()

    def event_count(self) -> int:
        return self.scan("events").select(pl.len()).collect(engine="streaming").item()

    def session_days(self, *, tz: str, gap: timedelta) -> pl.DataFrame:
        events = self._columns("events", SESSION_DAY_INPUT)
        parts = max(1, -(-self.event_count() // PART_EVENTS))
        part_of_user = pl.col("user_id").hash(seed=0) % parts
        days = [
            frames.session_days_lazy(events.filter(part_of_user == part), tz=tz, gap=gap).collect(engine="streaming")
            for part in range(parts)
        ]
        has = {name: self.has_event_column(name) for name in ("channel", "device")}
        return frames.typed_session_days(pl.concat(days), has)

    def daily_active_users(self, *, start: date, end: date, tz: str, gap: timedelta) -> pl.DataFrame:
        activity = frames.activity_from_days(self.session_days(tz=tz, gap=gap))
        return frames.daily_active_users(activity, start=start, end=end, tz=tz)

    def order_days(self, *, tz: str) -> pl.DataFrame:
        orders = self._columns("orders", ORDER_DAY_INPUT).collect(engine="streaming")
        return purchase_days(orders, tz).select(queries.ORDER_DAY_COLUMNS)

    def funnel_events(self, spec: FunnelSpec, *, start: date, end: date, tz: str) -> pl.DataFrame:
        events = self.scan("events")
        lower, upper = utc_bounds(start, end, tz)
        rows = frames.funnel_events_lazy(events, spec, lower=lower, upper=upper).collect(engine="streaming")
        latest = frames.latest_event_lazy(events, rows.columns).collect(engine="streaming")
        return frames.with_data_end(rows, latest)


def parquet_scan(folder: Path, files: dict[str, tuple[str, ...]] | None = None) -> Callable[[str], pl.LazyFrame]:
    """`scan(name)` over `<folder>/<name>.parquet`, or over the files `<folder>/<files[name]>`
    (an extract's generation); a folder `<folder>/<name>/` of Parquet parts is scanned whole."""

    def scan(name: str) -> pl.LazyFrame:
        if files and name in files:
            frame = pl.scan_parquet([folder / file for file in files[name]])
        else:
            path = folder / f"{name}.parquet"
            if not path.exists() and (folder / name).is_dir():
                path = folder / name / "*.parquet"
            elif not path.exists():
                raise SourceError(f"{folder} has no {path.name}: streaming push-down reads Parquet files.")
            frame = pl.scan_parquet(path)
        labels = [column for column, dtype in TABLES[name].columns.items() if dtype == LABEL]
        schema = frame.collect_schema()
        # Parquet written by another tool keeps labels as text; the metrics compare them as text either way
        return frame.with_columns(pl.col(column).cast(LABEL) for column in labels if column in schema and schema[column] == pl.String)

    return scan
