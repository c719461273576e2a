"""SQL databases through SQLAlchemy (SQLite embedded by default), read Arrow-natively.

A source's mapping (connectors/mapping.py; the canonical layout by default) says which
platform table or SELECT each canonical table comes from. Queries are SQLAlchemy Core
SELECTs over reflected tables: table and column names are quoted by SQLAlchemy, never
pasted into SQL text; the columns and time window asked for are in the query.
"""

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import cast
from zoneinfo import ZoneInfo

import polars as pl
import sqlalchemy as sa

from connectors.base import (
    SourceError,
    TimeWindow,
    canonical_value,
    conform,
    lacks_columns,
    missing_required,
    time_window,
    wanted_columns,
)
from connectors.mapping import (
    MappedTable,
    Mapping,
    canonical_select,
    executable_select,
    identity_mapping,
    probe_query,
    text_subquery,
)
from connectors.schema import TABLES, TIME_COLUMN, UTC_DATETIME

# Statements run on every new connection, per backend: the session is read-only at the
# database level, and in UTC, so that zoned timestamps (PostgreSQL timestamptz, MySQL
# TIMESTAMP) arrive and compare in UTC. SQLite files are opened with mode=ro instead.
_SESSION_STATEMENTS = {
    "postgresql": ["SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY", "SET TIME ZONE 'UTC'"],
    "mysql": ["SET SESSION TRANSACTION READ ONLY", "SET SESSION time_zone = '+00:00'"],
}

# The label of a mapping's updated-at column in a refresh's read (not a canonical name).
UPDATED_STAMP = "__updated_at"

# A server that does not answer is reported after this long instead of hanging the page.
CONNECT_TIMEOUT_SECONDS = 10
_CONNECT_ARGS = {
    "postgresql": {"connect_timeout": CONNECT_TIMEOUT_SECONDS},
    "mysql": {"connect_timeout": CONNECT_TIMEOUT_SECONDS},
}

SQLITE_CHUNK_ROWS = 1_000_000

# connectorx reads these dialects straight into Arrow; bench/bench_read.py measures it
# against pl.read_database over a SQLAlchemy connection.
_CONNECTORX_SCHEMES = {"sqlite": "sqlite", "postgresql": "postgresql", "mysql": "mysql"}


def sqlite_url(path: Path) -> str:
    """The SQLAlchemy URL of a SQLite file opened read-only."""
    return f"sqlite:///file:{Path(path).resolve()}?mode=ro&uri=true"


class SqlSource:
    """Canonical tables from a database, through its mapping (the canonical layout by default)."""

    def __init__(self, url: str | sa.URL, *, reader: str = "auto", mapping: Mapping | None = None) -> None:
        self.url = sa.make_url(url)
        if reader not in ("auto", "connectorx", "sqlalchemy"):
            raise ValueError(f"unknown reader {reader!r}: use auto, connectorx or sqlalchemy")
        self.reader = reader
        self.mapping = mapping or identity_mapping()
        self._engine: sa.Engine | None = None
        self._platform_tables: set[str] | None = None
        self._bases: dict[str, sa.FromClause] = {}
        self._metadata: sa.MetaData | None = None
        self.problems: dict[str, str] = {}

    @property
    def description(self) -> str:
        where = f"SQLite file {self._sqlite_path()}" if self.url.get_backend_name() == "sqlite" else (
            self.url.render_as_string(hide_password=True)
        )
        return where if self.mapping.is_identity else f"{where} ({self.mapping.name})"

    @property
    def engine(self) -> sa.Engine:
        """The SQLAlchemy engine; every connection it opens is read-only and in UTC."""
        if self._engine is None:
            self._engine = sa.create_engine(self.url, connect_args=_CONNECT_ARGS.get(self.url.get_backend_name(), {}))
            statements = _SESSION_STATEMENTS.get(self.url.get_backend_name())
            if statements:

                @sa.event.listens_for(self._engine, "connect")
                def _read_only(dbapi_connection, _record) -> None:
                    cursor = dbapi_connection.cursor()
                    for statement in statements:
                        cursor.execute(statement)
                    cursor.close()
                    dbapi_connection.commit()

        return self._engine

    def platform_tables(self) -> set[str]:
        """The names of the database's own tables and views."""
        if self._platform_tables is None:
            try:
                inspector = sa.inspect(self.engine)
                self._platform_tables = set(inspector.get_table_names()) | set(inspector.get_view_names())
            except sa.exc.SQLAlchemyError as error:
                raise SourceError(
                    f"cannot read the database {self.description}: {str(error).splitlines()[0]}"
                ) from None
        return self._platform_tables

    def _reflected(self) -> sa.MetaData:
        """Every platform table the mapping reads `from`, reflected at once: a few catalogue
        queries for all of them (SQLAlchemy's bulk reflection) instead of a few per table,
        which is most of what a refresh by changes costs."""
        if self._metadata is None:
            wanted = sorted({table.source for table in self.mapping.tables.values() if table.source is not None} & self.platform_tables())
            metadata = sa.MetaData()
            metadata.reflect(self.engine, only=wanted, views=True)
            self._metadata = metadata
        return self._metadata

    def _base(self, table: MappedTable) -> sa.FromClause:
        """The platform table (reflected) or the mapping's SELECT (wrapped) behind `table`."""
        if table.name not in self._bases:
            if table.source is not None and table.source not in self.platform_tables():
                raise SourceError(f"{self.description} has no table '{table.source}' (mapped to {table.name}).")
            try:
                if table.source is not None:
                    self._bases[table.name] = self._reflected().tables[table.source]
                else:
                    if table.query is None:
                        raise SourceError(f"{self.mapping.origin}: [tables.{table.name}] names neither a table (from) nor a query")
                    # the query as checked in this database's dialect, and only that, runs
                    sql = executable_select(table.query, f"{self.mapping.origin}: [tables.{table.name}].query", self.engine.dialect.name)
                    with self.engine.connect() as connection:
                        names = list(connection.execute(probe_query(sql)).keys())
                    self._bases[table.name] = text_subquery(sql, names, "mapped")
            except sa.exc.SQLAlchemyError as error:
                message = str(getattr(error, "orig", None) or error).splitlines()[0]
                raise SourceError(f"the {'table' if table.query is None else 'query'} mapped to {table.name} fails: {message}") from None
        return self._bases[table.name]

    def table_names(self) -> set[str]:
        """The mapped tables whose platform table is there, or whose SELECT runs; why the
        others do not run is kept in `problems`."""
        names = set()
        for name, table in self.mapping.tables.items():
            if table.source is not None:
                if table.source in self.platform_tables():
                    names.add(name)
                continue
            try:
                self._base(table)
                names.add(name)
            except SourceError as error:
                self.problems[name] = str(error)
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
        return conform(
            name,
            self.read_mapped(name, columns=wanted, since=since, until=until),
            self.description,
            wanted,
            zone=self.mapping.time_zone,
        )

    def read_mapped(
        self,
        name: str,
        *,
        columns: Iterable[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
    ) -> pl.DataFrame:
        """Table `name` as the mapping gives it, before `conform`: the canonical column names
        with the dtypes the database gives (what the data-quality report looks at)."""
        wanted = wanted_columns(name, columns)
        window = time_window(name, since, until)
        if name not in self.mapping.tables:
            raise SourceError(f"{self.description} has no table '{name}'" + (
                "." if self.mapping.is_identity else f": the mapping {self.mapping.name} does not map it."
            ))
        table = self.mapping.tables[name]
        base = self._base(table)
        query, expressions = canonical_select(table, base, wanted, self.mapping.origin)
        missing = missing_required(name, expressions, wanted + ([window.column] if window else []))
        if missing:
            raise lacks_columns(name, missing, list(base.c.keys()), self.description)
        if window is not None:
            query = query.where(*window_conditions(window, expressions[window.column], self._is_sqlite(), self.mapping.time_zone))
        # connectorx types a SQLite result column by its declared type, which a mapping's
        # expression or SELECT does not have: those are read through SQLAlchemy
        plain = isinstance(base, sa.Table) and all(isinstance(e, sa.Column) for e in expressions.values())
        connectorx = self._reads_with_connectorx() and (plain or not self._is_sqlite())
        try:
            if limit is not None:
                return self._read(query.limit(limit), connectorx)
            if connectorx and self._is_sqlite() and isinstance(base, sa.Table):
                return self._read_sqlite_in_chunks(base, query)
            return self._read(query, connectorx)
        except (RuntimeError, sa.exc.SQLAlchemyError) as error:
            message = str(getattr(error, "orig", None) or error).splitlines()[0]
            raise SourceError(f"cannot read {name} from {self.description}: {message}") from None

    def updated_column(self, name: str) -> str | None:
        """The platform column the mapping names as table `name`'s updated-at stamp, if any."""
        table = self.mapping.tables.get(name)
        return None if table is None else table.updated_at

    def read_changes(
        self, name: str, *, since: datetime | None, updated_since: datetime | None
    ) -> tuple[pl.DataFrame, datetime | None]:
        """The rows of table `name` (every canonical column it has) that an extract's refresh
        reads again, and the newest updated-at stamp among them (None without one).

        Rows whose time column (TIME_COLUMN) is later than `since` or empty, and rows whose
        updated-at column (the mapping's `updated_at`) is later than `updated_since`; every
        row when `since` is None. Both bounds are compared inside the database, so only the
        changed rows travel."""
        wanted = wanted_columns(name, None)
        table = self.mapping.tables.get(name)
        if table is None:
            raise SourceError(f"{self.description} has no table '{name}'.")
        base = self._base(table)
        query, expressions = canonical_select(table, base, wanted, self.mapping.origin)
        missing = missing_required(name, expressions)
        if missing:
            raise lacks_columns(name, missing, list(base.c.keys()), self.description)
        stamp = None
        if table.updated_at is not None:
            if table.updated_at not in base.c:
                raise SourceError(
                    f"{self.mapping.origin}: [tables.{name}].updated_at names '{table.updated_at}', which the "
                    f"{'table' if table.query is None else 'query'} does not have; it has {', '.join(base.c.keys())}."
                )
            stamp = base.c[table.updated_at]
            query = query.add_columns(stamp.label(UPDATED_STAMP))
        if since is not None:
            zone, sqlite = self.mapping.time_zone, self._is_sqlite()
            time_column = expressions[TIME_COLUMN[name]]
            later = TimeWindow(TIME_COLUMN[name], TABLES[name].columns[TIME_COLUMN[name]] == pl.Date, since.astimezone(UTC), None)
            changed = [sa.and_(*window_conditions(later, time_column, sqlite, zone)), time_column.is_(None)]
            if stamp is not None and updated_since is not None:
                stamped = TimeWindow(UPDATED_STAMP, False, updated_since.astimezone(UTC), None)
                changed.append(sa.and_(*window_conditions(stamped, stamp, sqlite, zone)))
            query = query.where(sa.or_(*changed))
        plain = isinstance(base, sa.Table) and all(isinstance(e, sa.Column) for e in expressions.values())
        # connectorx opens connections of its own for each read, which costs more than the few
        # changed rows of most tables: those come over the engine's pooled connection; the
        # window of events (days of them) comes through connectorx, as Arrow
        connectorx = (since is None or name == "events") and self._reads_with_connectorx() and (plain or not self._is_sqlite())
        try:
            frame = self._read(query, connectorx)
        except (RuntimeError, sa.exc.SQLAlchemyError) as error:
            message = str(getattr(error, "orig", None) or error).splitlines()[0]
            raise SourceError(f"cannot read {name} from {self.description}: {message}") from None
        newest = None
        if stamp is not None:
            stamps = frame.select(canonical_value(UPDATED_STAMP, frame.schema[UPDATED_STAMP], UTC_DATETIME, self.mapping.time_zone))
            newest = cast(datetime | None, stamps[UPDATED_STAMP].max())
            frame = frame.drop(UPDATED_STAMP)
        return conform(name, frame, self.description, wanted, zone=self.mapping.time_zone), newest

    def first_events(self, before: datetime) -> pl.DataFrame:
        """Each user's first event among those at or before `before` (user_id, event_time),
        grouped inside the database: who was seen before a bounded read's first instant."""
        events = self.canonical_table("events")
        # at or before `before`: earlier than the next microsecond, the finest time stored
        window = TimeWindow("event_time", False, None, before.astimezone(UTC) + timedelta(microseconds=1))
        conditions = window_conditions(window, events.c.event_time, self._is_sqlite(), self.mapping.time_zone)
        query = sa.select(events.c.user_id, sa.func.min(events.c.event_time).label("event_time")).where(*conditions).group_by(events.c.user_id)
        frame = self.read_query(query)
        return frame.with_columns(canonical_value("event_time", frame.schema["event_time"], UTC_DATETIME, self.mapping.time_zone))

    def time_span(self, name: str) -> tuple[datetime, datetime] | None:
        """The first and last value of table `name`'s time column, from the database (its
        index, where there is one), as UTC datetimes; None for a table without rows."""
        table = self.canonical_table(name)
        column = table.c[TIME_COLUMN[name]]
        frame = self.read_query(sa.select(sa.func.min(column).label("first"), sa.func.max(column).label("last")))
        frame = frame.with_columns(canonical_value(label, frame.schema[label], UTC_DATETIME, self.mapping.time_zone) for label in ("first", "last"))
        first, last = frame.row(0)
        return None if first is None else (first, last)

    def canonical_table(self, name: str) -> sa.Subquery:
        """Table `name` as a subquery named `name` with the canonical columns its mapping
        provides, for queries that run inside the database (pushdown/)."""
        if name not in self.mapping.tables:
            raise SourceError(f"{self.description} has no table '{name}'.")
        table = self.mapping.tables[name]
        base = self._base(table)
        query, expressions = canonical_select(table, base, wanted_columns(name, None), self.mapping.origin)
        missing = missing_required(name, expressions)
        if missing:
            raise lacks_columns(name, missing, list(base.c.keys()), self.description)
        return query.subquery(name)

    def read_query(self, query: sa.Select, *, settings: dict[str, str] | None = None) -> pl.DataFrame:
        """The rows of a SELECT over `canonical_table`s, as the database types them:
        through connectorx from a server, through SQLAlchemy from SQLite (connectorx types
        a SQLite result column by its declared type, which a computed column lacks).

        `settings` are PostgreSQL run-time parameters (name: value) for this query's
        connection only, such as the planner's; a read-only transaction may set them."""
        try:
            return self._read(query, connectorx=not self._is_sqlite(), settings=settings or {})
        except (RuntimeError, sa.exc.SQLAlchemyError) as error:
            message = str(getattr(error, "orig", None) or error).splitlines()[0]
            raise SourceError(f"a query inside {self.description} failed: {message}") from None

    def _is_sqlite(self) -> bool:
        return self.url.get_backend_name() == "sqlite"

    def _reads_with_connectorx(self) -> bool:
        return self.reader != "sqlalchemy" and self.url.get_backend_name() in _CONNECTORX_SCHEMES

    def _read_sqlite_in_chunks(self, table: sa.Table, query: sa.Select) -> pl.DataFrame:
        """A SQLite table read in rowid ranges of SQLITE_CHUNK_ROWS rows.

        connectorx turns each range into Polars on its own, so the Arrow copy of a large table
        never sits in memory whole: at 10,000,000 events the read peaks at 1.5 GB instead of
        2.7 GB, and takes no longer.
        """
        rowid: sa.ColumnClause = sa.literal_column("rowid")
        highest = self._read(sa.select(sa.func.max(rowid).label("highest")).select_from(table))["highest"][0]
        if highest is None or highest <= SQLITE_CHUNK_ROWS:
            return self._read(query)
        return pl.concat(
            [self._read(query.where(rowid > low, rowid <= low + SQLITE_CHUNK_ROWS)) for low in range(0, highest, SQLITE_CHUNK_ROWS)],
            how="vertical_relaxed",
        )

    def _read(self, query: sa.Select, connectorx: bool = True, settings: dict[str, str] | None = None) -> pl.DataFrame:
        settings = settings or {}
        if settings and self.url.get_backend_name() != "postgresql":
            raise ValueError(f"run-time parameters are for PostgreSQL, not {self.url.get_backend_name()}")
        if connectorx and self._reads_with_connectorx():
            if self.url.get_backend_name() != "sqlite":
                # connectorx retries a refused connection for about 30 s; the engine's
                # connection, with its timeout, says at once that the server is away.
                with self.engine.connect():
                    pass
            sql = str(query.compile(self.engine, compile_kwargs={"literal_binds": True}))
            # connectorx's connections serve this read only: a session-wide set_config ends with them
            setting = [str(_set_config(name, value, local=False).compile(self.engine, compile_kwargs={"literal_binds": True}))
                       for name, value in settings.items()]
            return pl.read_database_uri(
                sql,
                self._connectorx_uri(),
                engine="connectorx",
                pre_execution_query=[*_SESSION_STATEMENTS.get(self.url.get_backend_name(), []), *setting] or None,
            )
        with self.engine.connect() as connection:
            # local to the transaction, which ends when the pooled connection goes back
            for name, value in settings.items():
                connection.execute(_set_config(name, value, local=True))
            return pl.read_database(query, connection, infer_schema_length=None)

    def _connectorx_uri(self) -> str:
        scheme = _CONNECTORX_SCHEMES[self.url.get_backend_name()]
        if scheme == "sqlite":
            return f"sqlite://{self._sqlite_path()}"
        url = self.url.set(drivername=scheme)
        if scheme == "mysql":
            # connectorx speaks utf8mb4 itself and rejects driver options such as charset
            url = url.set(query={})
        return url.render_as_string(hide_password=False)

    def _sqlite_path(self) -> str:
        database = self.url.database or ""
        return database.removeprefix("file:").split("?")[0]


def _set_config(name: str, value: str, *, local: bool) -> sa.Select:
    """PostgreSQL's `set_config(name, value, is_local)` with the name and value bound."""
    return sa.select(sa.func.set_config(sa.literal(name, sa.String()), sa.literal(value, sa.String()), sa.literal(local, sa.Boolean())))


def window_conditions(window: TimeWindow, column: sa.ColumnElement, sqlite: bool, zone: str) -> list[sa.ColumnElement]:
    """The SQL conditions of `window` on `column`, its bounds typed as the column is.

    A zoned column is compared with the UTC bound. A zoneless DATETIME/TIMESTAMP holds the
    mapping's zone (UTC by default, SPEC section 2), so it is compared with the bound as a
    zoneless time there; a DATE with the day. A column of unknown type (from a mapping's
    SELECT) is compared as a zoneless time, and in SQLite, which stores times as text
    `YYYY-MM-DD HH:MM:SS.ffffff`, as that text. SQLAlchemy binds or renders the bound:
    nothing is pasted into SQL.
    """
    column_type = column.type

    def bound(moment: datetime | date) -> sa.ColumnElement:
        if isinstance(column_type, sa.Date) or not isinstance(moment, datetime):
            return sa.literal(moment, sa.Date())
        if isinstance(column_type, sa.DateTime) and column_type.timezone:
            return sa.literal(moment, column_type)
        local = moment.astimezone(ZoneInfo(zone)).replace(tzinfo=None)
        if isinstance(column_type, sa.DateTime) or not sqlite:
            return sa.literal(local, sa.DateTime())
        return sa.literal(local.strftime("%Y-%m-%d %H:%M:%S.%f"), sa.String())

    return window.conditions(column, bound)
