"""Where a tracker's export lies: a folder of files or a database's tables, as lazy frames.

A folder holds one file per table (`events_20260301.parquet`, `tracks.csv`,
`events.jsonl`) or one sub-folder of files per table (the part files a warehouse export
writes: `posthog/2026-03-01T00:00:00.parquet`, ...). Files are scanned lazily, each on its
own, so that a message can name the file, and a Parquet file is read for the columns and
row groups asked for only. A database's tables are read through SQLAlchemy Core: names
quoted by SQLAlchemy, the time window as bound parameters, JSON columns as text.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import polars as pl
import sqlalchemy as sa

from connectors.base import SourceError
from connectors.sql import SqlSource

DATA_SUFFIXES = (".parquet", ".csv", ".jsonl", ".ndjson")
ROW = "row"  # each raw row's number in its file (from 1; a CSV's line after the header is 1)


@dataclass(frozen=True)
class RawWindow:
    """The rows of a raw table whose time `column` lies strictly between `lower` and
    `upper` (either may be None), in the column's own unit: a pushed-down filter that keeps
    at least the rows asked for; the exact window is applied on the canonical time. A
    database's rows are numbered in the order of `column`."""

    column: str
    lower: object | None
    upper: object | None

    def polars(self, dtype: pl.DataType) -> pl.Expr | None:
        """The filter on a frame whose `column` has dtype `dtype`, or None when its values
        do not compare with the bounds (a text timestamp, read before it is parsed)."""
        bounds = [bound for bound in (self.lower, self.upper) if bound is not None]
        comparable = all(
            (isinstance(bound, int) and dtype.is_integer())
            or (isinstance(bound, datetime) and isinstance(dtype, pl.Datetime))
            for bound in bounds
        )
        if not bounds or not comparable:
            return None
        value = pl.col(self.column)
        if isinstance(dtype, pl.Datetime) and dtype.time_zone is None:
            value = value.dt.replace_time_zone("UTC")
        conditions = []
        if self.lower is not None:
            conditions.append(value > self.lower)
        if self.upper is not None:
            conditions.append(value < self.upper)
        return pl.all_horizontal(conditions)


@dataclass(frozen=True)
class RawTable:
    """One file (or one database table) of a tracker's export: where it is, for messages,
    and its rows as a lazy frame with their numbers in `ROW`."""

    origin: str
    frame: pl.LazyFrame

    @property
    def schema(self) -> pl.Schema:
        return self.frame.collect_schema()


class FolderStore:
    """The tables of an export folder, by name: a file's name without its suffix, or a
    sub-folder's name for the data files inside it."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise SourceError(f"{self.folder} is not a folder of tracker export files.")

    @property
    def description(self) -> str:
        return str(self.folder)

    def tables(self) -> dict[str, list[Path]]:
        """Each table's files, in name order."""
        found: dict[str, list[Path]] = {}
        for path in sorted(self.folder.iterdir()):
            if path.is_file() and path.suffix in DATA_SUFFIXES:
                found.setdefault(path.stem, []).append(path)
            elif path.is_dir() and not path.name.startswith("."):
                files = sorted(part for part in path.rglob("*") if part.is_file() and part.suffix in DATA_SUFFIXES)
                if files:
                    found[path.name] = files
        return found

    def read(
        self,
        name: str,
        *,
        schema: dict[str, pl.DataType] | None = None,
        window: RawWindow | None = None,
    ) -> list[RawTable]:
        """Table `name`, one RawTable per file. `schema` gives the dtypes of columns a JSON
        lines file holds (read as given; columns not listed are left out); `window` is
        pushed into each file's scan where its time column compares."""
        files = self.tables().get(name)
        if not files:
            raise SourceError(f"{self.folder} has no table '{name}' (a file {name}.parquet, .csv or .jsonl).")
        tables = []
        for path in files:
            frame = _scan(path, schema).with_row_index(ROW, offset=1)
            if window is not None:
                dtype = frame.collect_schema().get(window.column)
                condition = None if dtype is None else window.polars(dtype)
                if condition is not None:
                    frame = frame.filter(condition)
            tables.append(RawTable(str(path), frame))
        return tables


def _scan(path: Path, schema: dict[str, pl.DataType] | None) -> pl.LazyFrame:
    try:
        if path.suffix == ".parquet":
            return pl.scan_parquet(path)
        if path.suffix == ".csv":
            # every column as text: a tracker's ids ("0042"), JSON and timestamps are read by
            # the reader, which knows what each holds
            return pl.scan_csv(path, infer_schema=False)
        # JSON lines: BigQuery writes INT64 as JSON strings, and a nested field first seen
        # after the inferred rows would be lost, so the reader gives the schema it reads
        return pl.scan_ndjson(path, schema=schema) if schema else pl.scan_ndjson(path, infer_schema_length=None)
    except (pl.exceptions.PolarsError, OSError) as error:
        raise SourceError(f"cannot read {path}: {str(error).splitlines()[0]}") from None


class DatabaseStore:
    """The tables of a database (a warehouse the tracker loads, or a copy of its export),
    read through SQLAlchemy Core on connections that are read-only and in UTC."""

    def __init__(self, url: str | sa.URL, *, schema: str | None = None) -> None:
        self.database = SqlSource(url)
        self.schema = schema

    @property
    def description(self) -> str:
        return self.database.description + (f", schema {self.schema}" if self.schema else "")

    def tables(self) -> dict[str, list[str]]:
        try:
            inspector = sa.inspect(self.database.engine)
            names = inspector.get_table_names(schema=self.schema) + inspector.get_view_names(schema=self.schema)
        except sa.exc.SQLAlchemyError as error:
            raise SourceError(f"cannot read the database {self.description}: {str(error).splitlines()[0]}") from None
        return {name: [name] for name in sorted(names)}

    def read(
        self,
        name: str,
        *,
        schema: dict[str, pl.DataType] | None = None,
        window: RawWindow | None = None,
    ) -> list[RawTable]:
        """Table `name` as one RawTable, its rows numbered in the order of the window's
        column (else as the database returns them); JSON columns arrive as text."""
        origin = f"{self.description}, table {name}"
        try:
            table = sa.Table(name, sa.MetaData(), autoload_with=self.database.engine, schema=self.schema)
        except sa.exc.NoSuchTableError:
            raise SourceError(f"{self.description} has no table '{name}'.") from None
        except sa.exc.SQLAlchemyError as error:
            raise SourceError(f"cannot read {origin}: {str(error).splitlines()[0]}") from None
        wanted = [column for column in table.columns if schema is None or column.name in schema]
        query = sa.select(*[_as_text_if_json(column) for column in wanted])
        if window is not None and window.column in table.c:
            column = table.c[window.column]
            if window.lower is not None:
                query = query.where(column > sa.bindparam("lower", window.lower))
            if window.upper is not None:
                query = query.where(column < sa.bindparam("upper", window.upper))
            query = query.order_by(column)
        try:
            with self.database.engine.connect() as connection:
                frame = pl.read_database(query, connection=connection, infer_schema_length=None)
        except (sa.exc.SQLAlchemyError, pl.exceptions.PolarsError) as error:
            raise SourceError(f"cannot read {origin}: {str(error).splitlines()[0]}") from None
        return [RawTable(origin, frame.lazy().with_row_index(ROW, offset=1))]


def _as_text_if_json(column: sa.Column) -> sa.ColumnElement:
    """A JSON column as its text, so that nested values arrive as JSON whatever the driver
    would make of them (psycopg turns jsonb into Python lists and dicts)."""
    if isinstance(column.type, sa.JSON) or column.type.__class__.__name__.upper() in ("JSON", "JSONB"):
        return sa.cast(column, sa.Text).label(column.name)
    return column


def open_store(location: str | Path, *, schema: str | None = None) -> FolderStore | DatabaseStore:
    """A folder of export files, or a database given by its SQLAlchemy URL."""
    text = str(location)
    if "://" in text:
        return DatabaseStore(text, schema=schema)
    return FolderStore(text)


def missing_columns(table: RawTable, names: Iterable[str]) -> list[str]:
    """The names among `names` that `table` lacks."""
    present = table.schema
    return [name for name in names if name not in present]
