"""Where a tracker's export lies: a folder of files or a database's tables, as lazy frames.

A folder holds one file per table (`events_20260301.parquet`, `tracks.csv`,
`events.jsonl`) or one sub-folder of files per table (the part files a warehouse export
writes: `posthog/2026-03-01T00:00:00.parquet`, ...). Files are scanned lazily, each on its
own, so that a message can name the file, and a Parquet file is read for the columns and
row groups asked for only. A database's tables are read through SQLAlchemy Core: names
quoted by SQLAlchemy, the time window as bound parameters, JSON columns as text.
"""

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import sqlalchemy as sa
from polars.datatypes import DataTypeClass

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
    lower: int | datetime | None
    upper: int | datetime | None

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
    """Rows of a tracker's export read together: one file, several files of one table (or
    of several, GA4's day tables) scanned at once, or a database table. `origin` says where
    for messages, `frame` holds the rows numbered in `ROW` over `files` in order (from 1),
    which `locate` turns into a file and its own row numbers."""

    origin: str
    frame: pl.LazyFrame
    files: tuple[Path, ...] = ()

    @property
    def schema(self) -> pl.Schema:
        return self.frame.collect_schema()

    def locate(self, rows: list[int]) -> tuple[str, int, list[int]]:
        """The file holding the first of `rows`, the number of rows before it, and the rows,
        counted within that file, of those it holds (the files' lengths are read only when
        asked: for a message)."""
        if len(self.files) <= 1:
            return self.origin, 0, rows
        first = min(rows)
        start = 0
        for path in self.files:
            length = row_count(path)
            if first <= start + length:
                return str(path), start, [row - start for row in rows if start < row <= start + length]
            start += length
        return self.origin, 0, rows


def row_count(path: Path) -> int:
    """The number of rows of a data file."""
    if path.suffix == ".parquet":
        return pl.scan_parquet(path).select(pl.len()).collect().item()
    if path.suffix == ".csv":
        return pl.scan_csv(path, infer_schema=False).select(pl.len()).collect().item()
    with path.open("rb") as file:
        return sum(1 for line in file if line.strip())


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
        names: str | list[str],
        *,
        schema: dict[str, pl.DataType] | None = None,
        parquet_schema: dict[str, pl.DataType] | None = None,
        window: RawWindow | None = None,
    ) -> list[RawTable]:
        """The files of the table(s) `names`, as few RawTables as their formats allow.

        JSON lines files are read with `schema` (the dtypes of the columns read; others are
        left out), all at once when it is given. Parquet files whose columns fit
        `parquet_schema` (the columns read, in the dtypes the tracker writes; a file may
        lack some of them or fields of their records, which are then empty) are scanned at
        once: a year of daily tables is a few dozen scans, not 365 plans. Other files are read one
        by one. `window` is pushed into each scan where its time column compares."""
        names = [names] if isinstance(names, str) else names
        found = self.tables()
        files = [path for name in names for path in found.get(name, [])]
        if not files:
            raise SourceError(f"{self.folder} has no table '{names[0]}' (a file {names[0]}.parquet, .csv or .jsonl).")
        # (suffix, the schema its files are read with, the files read together in one scan)
        together: list[tuple[str, dict[str, pl.DataType], list[Path]]] = []
        if parquet_schema:
            together.append((".parquet", parquet_schema, [path for path in files if path.suffix == ".parquet" and _fits(path, parquet_schema)]))
        if schema:
            together.append((".jsonl", schema, [path for path in files if path.suffix in (".jsonl", ".ndjson")]))
        grouped = {path for _, _, group in together for path in group}
        tables = []
        for suffix, group_schema, group in together:
            for batch in _batches(group) if suffix == ".parquet" else [group] if group else []:
                scan = _scan_many(batch, group_schema)
                tables.append(RawTable(str(batch[0]) if len(batch) == 1 else f"{self.folder} ({len(batch)} files)", scan, tuple(batch)))
        for path in files:
            if path not in grouped:
                tables.append(RawTable(str(path), _scan(path, schema).with_row_index(ROW, offset=1), (path,)))
        if window is not None:
            tables = [RawTable(table.origin, _within(table.frame, window), table.files) for table in tables]
        return tables


# Rows read at once where a reader works on a whole batch. At 1,000,000 events of GA4 the
# peak memory was 1,130 MiB with batches of 2,000,000 rows, 710 MiB with 250,000, at the
# same CPU time.
BATCH_ROWS = 250_000


def _batches(files: list[Path]) -> list[list[Path]]:
    """`files` in order, cut into runs of about BATCH_ROWS rows (a file's row count is in
    its footer; a file of more rows is a run of its own): what a reader holds at once
    where it works on a whole batch (GA4's event parameters), and few enough scans that
    their fixed cost does not count."""
    batches: list[list[Path]] = []
    rows = BATCH_ROWS
    for path in files:
        length = pq.ParquetFile(path).metadata.num_rows
        if rows + length > BATCH_ROWS:
            batches.append([])
            rows = 0
        batches[-1].append(path)
        rows += length
    return batches


def _within(frame: pl.LazyFrame, window: RawWindow) -> pl.LazyFrame:
    dtype = frame.collect_schema().get(window.column)
    condition = None if dtype is None else window.polars(dtype)
    return frame if condition is None else frame.filter(condition)


def _fits(path: Path, wanted: dict[str, pl.DataType]) -> bool:
    """Whether the Parquet file's columns are, where it has them, the dtypes `wanted`
    (records may lack fields; read from the file's footer only)."""
    try:
        present = pl.read_parquet_schema(path)
    except (pl.exceptions.PolarsError, OSError):
        return False
    return all(_dtype_fits(present[name], dtype) for name, dtype in wanted.items() if name in present)


def _dtype_fits(present: pl.DataType | DataTypeClass, wanted: pl.DataType | DataTypeClass) -> bool:
    if isinstance(wanted, pl.Struct):
        if not isinstance(present, pl.Struct):
            return False
        fields = {field.name: field.dtype for field in present.fields}
        return all(_dtype_fits(fields[field.name], field.dtype) for field in wanted.fields if field.name in fields)
    if isinstance(wanted, pl.List):
        return isinstance(present, pl.List) and _dtype_fits(present.inner, wanted.inner)
    return present == wanted


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


def _scan_many(files: list[Path], schema: dict[str, pl.DataType]) -> pl.LazyFrame:
    try:
        if files[0].suffix == ".parquet":
            return pl.scan_parquet(
                files, schema=schema, missing_columns="insert", extra_columns="ignore",
                cast_options=pl.ScanCastOptions(missing_struct_fields="insert", extra_struct_fields="ignore"),
                row_index_name=ROW, row_index_offset=1,
            )
        return pl.scan_ndjson(files, schema=schema, row_index_name=ROW, row_index_offset=1)
    except (pl.exceptions.PolarsError, OSError) as error:
        raise SourceError(f"cannot read {files[0].parent}: {str(error).splitlines()[0]}") from None


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
        names: str | list[str],
        *,
        schema: dict[str, pl.DataType] | None = None,
        parquet_schema: dict[str, pl.DataType] | None = None,
        window: RawWindow | None = None,
    ) -> list[RawTable]:
        """Each table of `names` as one RawTable, its rows numbered in the order of the
        window's column (else as the database returns them); JSON columns arrive as text.
        `schema` names the columns read; `parquet_schema` is for files only."""
        names = [names] if isinstance(names, str) else names
        return [self._read(name, schema, window) for name in names]

    def _read(self, name: str, schema: dict[str, pl.DataType] | None, window: RawWindow | None) -> RawTable:
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
        return RawTable(origin, frame.lazy().with_row_index(ROW, offset=1))


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
