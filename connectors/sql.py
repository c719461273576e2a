"""SQL databases through SQLAlchemy (SQLite embedded by default), read Arrow-natively.

Queries are SQLAlchemy Core SELECTs over reflected tables: table and column names are
quoted by SQLAlchemy, never pasted into SQL text.
"""

from collections.abc import Iterable
from datetime import date, datetime
from pathlib import Path

import polars as pl
import sqlalchemy as sa

from connectors.base import (
    SourceError,
    TimeWindow,
    conform,
    lacks_columns,
    missing_required,
    time_window,
    wanted_columns,
)
from connectors.schema import TABLES

# Statements that make a session read-only at the database level, per backend. SQLite files
# are opened with mode=ro instead (sqlite_url).
_READ_ONLY_SESSION = {
    "postgresql": "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",
    "mysql": "SET SESSION TRANSACTION READ ONLY",
}

SQLITE_CHUNK_ROWS = 1_000_000

# connectorx reads these dialects straight into Arrow; bench/bench_read.py measures it
# against pl.read_database over a SQLAlchemy connection.
_CONNECTORX_SCHEMES = {"sqlite": "sqlite", "postgresql": "postgresql", "mysql": "mysql"}


def sqlite_url(path: Path) -> str:
    """The SQLAlchemy URL of a SQLite file opened read-only."""
    return f"sqlite:///file:{Path(path).resolve()}?mode=ro&uri=true"


class SqlSource:
    """Canonical tables from a database whose tables already use the canonical names."""

    def __init__(self, url: str | sa.URL, *, reader: str = "auto") -> None:
        self.url = sa.make_url(url)
        if reader not in ("auto", "connectorx", "sqlalchemy"):
            raise ValueError(f"unknown reader {reader!r}: use auto, connectorx or sqlalchemy")
        self.reader = reader
        self._engine: sa.Engine | None = None
        self._tables: dict[str, sa.Table] | None = None

    @property
    def description(self) -> str:
        if self.url.get_backend_name() == "sqlite":
            return f"SQLite file {self._sqlite_path()}"
        return self.url.render_as_string(hide_password=True)

    @property
    def engine(self) -> sa.Engine:
        """The SQLAlchemy engine; every connection it opens is read-only."""
        if self._engine is None:
            self._engine = sa.create_engine(self.url)
            statement = _READ_ONLY_SESSION.get(self.url.get_backend_name())
            if statement:

                @sa.event.listens_for(self._engine, "connect")
                def _read_only(dbapi_connection, _record) -> None:
                    cursor = dbapi_connection.cursor()
                    cursor.execute(statement)
                    cursor.close()
                    dbapi_connection.commit()

        return self._engine

    def _reflected(self) -> dict[str, sa.Table]:
        if self._tables is None:
            metadata = sa.MetaData()
            try:
                metadata.reflect(self.engine, only=lambda name, _: name in TABLES)
            except sa.exc.SQLAlchemyError as error:
                raise SourceError(
                    f"cannot read the database {self.description}: {str(error).splitlines()[0]}"
                ) from None
            self._tables = dict(metadata.tables)
        return self._tables

    def table_names(self) -> set[str]:
        return set(self._reflected())

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
        tables = self._reflected()
        if name not in tables:
            raise SourceError(f"{self.description} has no table '{name}'.")
        table = tables[name]
        missing = missing_required(name, table.c.keys(), wanted + ([window.column] if window else []))
        if missing:
            raise lacks_columns(name, missing, table.c.keys(), self.description)
        query = sa.select(*[table.c[column] for column in wanted if column in table.c])
        if window is not None:
            query = query.where(*window_conditions(window, table.c[window.column]))
        if self._reads_with_connectorx() and self.url.get_backend_name() == "sqlite":
            return self._read_sqlite_in_chunks(name, table, query, wanted)
        return conform(name, self._read(query), self.description, wanted)

    def _reads_with_connectorx(self) -> bool:
        return self.reader != "sqlalchemy" and self.url.get_backend_name() in _CONNECTORX_SCHEMES

    def _read_sqlite_in_chunks(self, name: str, table: sa.Table, query: sa.Select, wanted: list[str]) -> pl.DataFrame:
        """A SQLite table read in rowid ranges of SQLITE_CHUNK_ROWS rows.

        connectorx turns each range into Polars on its own, so the Arrow copy of a large table
        never sits in memory whole: at 10,000,000 events the read peaks at 1.5 GB instead of
        2.7 GB, and takes no longer.
        """
        rowid = sa.literal_column("rowid")
        highest = self._read(sa.select(sa.func.max(rowid).label("highest")).select_from(table))["highest"][0]
        if highest is None or highest <= SQLITE_CHUNK_ROWS:
            return conform(name, self._read(query), self.description, wanted)
        return pl.concat(
            conform(name, self._read(query.where(rowid > low, rowid <= low + SQLITE_CHUNK_ROWS)), self.description, wanted)
            for low in range(0, highest, SQLITE_CHUNK_ROWS)
        )

    def _read(self, query: sa.Select) -> pl.DataFrame:
        if self._reads_with_connectorx():
            sql = str(query.compile(self.engine, compile_kwargs={"literal_binds": True}))
            return pl.read_database_uri(
                sql,
                self._connectorx_uri(),
                engine="connectorx",
                pre_execution_query=_READ_ONLY_SESSION.get(self.url.get_backend_name()),
            )
        with self.engine.connect() as connection:
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


def window_conditions(window: TimeWindow, column: sa.ColumnElement) -> list[sa.ColumnElement]:
    """The SQL conditions of `window` on `column`, its bounds typed as the column is.

    A zoneless DATETIME/TIMESTAMP column holds UTC (SPEC section 2), so it is compared with
    the zoneless UTC bound; a zoned one with the UTC bound; a DATE with the day; a text
    column (SQLite stores times as text `YYYY-MM-DD HH:MM:SS.ffffff`) with that text.
    SQLAlchemy binds or renders the bound: nothing is pasted into SQL.
    """
    column_type = column.type

    def bound(moment: datetime | date) -> sa.ColumnElement:
        if isinstance(column_type, sa.DateTime):
            value = moment if column_type.timezone else moment.replace(tzinfo=None)
            return sa.literal(value, column_type)
        if isinstance(column_type, sa.Date):
            return sa.literal(moment, column_type)
        text = moment.strftime("%Y-%m-%d %H:%M:%S.%f") if isinstance(moment, datetime) else moment.isoformat()
        return sa.literal(text, sa.String())

    return window.conditions(column, bound)
