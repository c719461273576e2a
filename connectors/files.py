"""A folder of tables as files: users.parquet or users.csv, and so on, or a platform's own
files read through a mapping (connectors/mapping.py).

Files are scanned lazily, so the columns and the time window asked for are pushed into
Polars' scan: a Parquet file is read for those columns and row groups only. A mapping's
expressions are built with SQLAlchemy Core, as for a database, and run by Polars' SQL
engine over the scans; a mapping's SELECT runs there too, over the files by name.
"""

import csv
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

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
from connectors.mapping import MappedTable, Mapping, canonical_select, check_select, identity_mapping
from connectors.schema import TABLES, TIME_COLUMN, UTC_DATETIME

_READERS: dict[str, Callable[[Path], pl.LazyFrame]] = {".parquet": pl.scan_parquet, ".csv": pl.scan_csv}
DEFAULT_MAX_FILE_MB = 1024
SHOWN_LINES = 5
# Polars' SQL reads PostgreSQL's quoting and functions; SQLAlchemy renders values into it.
_POLARS_SQL_DIALECT = postgresql.dialect()


class FolderSource:
    """Tables from `<folder>/<name>.parquet` (preferred) or `<folder>/<name>.csv`, through the
    mapping (the canonical layout, `<folder>/orders.csv` and so on, by default)."""

    def __init__(self, folder: str | Path, *, mapping: Mapping | None = None, max_file_mb: float = DEFAULT_MAX_FILE_MB) -> None:
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise SourceError(f"{self.folder} is not a folder of tables.")
        if isinstance(max_file_mb, bool) or not isinstance(max_file_mb, int | float) or max_file_mb <= 0:
            raise SourceError(f"max_file_mb must be a positive number of megabytes, not {max_file_mb!r}.")
        self.max_file_mb = max_file_mb
        self.mapping = mapping or identity_mapping()
        self.problems: dict[str, str] = {}

    @property
    def description(self) -> str:
        return str(self.folder) if self.mapping.is_identity else f"{self.folder} ({self.mapping.name})"

    def _file(self, name: str) -> Path | None:
        for suffix in _READERS:
            path = self.folder / f"{name}{suffix}"
            if path.is_file():
                return path
        return None

    def platform_tables(self) -> set[str]:
        """The files of the folder by name, without .parquet / .csv."""
        return {path.stem for path in self.folder.iterdir() if path.suffix in _READERS and path.is_file()}

    def _scan(self, stem: str) -> pl.LazyFrame:
        path = self._file(stem)
        if path is None:
            raise SourceError(f"{self.folder} has no {stem}.parquet or {stem}.csv.")
        megabytes = path.stat().st_size / 2**20
        if megabytes > self.max_file_mb:
            raise SourceError(
                f"{path} is {megabytes:,.1f} MB, over the limit of {self.max_file_mb:g} MB for a file of the folder: "
                "split it, save it as Parquet, or raise max_file_mb in [connections.shop]."
            )
        return _READERS[path.suffix](path)

    def _base(self, table: MappedTable) -> pl.LazyFrame:
        if table.source is not None:
            if self._file(table.source) is None:
                raise SourceError(f"{self.folder} has no {table.source}.parquet or {table.source}.csv to read table '{table.name}' from.")
            return self._scan(table.source)
        # Polars' SQL reads as DuckDB's does; its table functions (read_csv ...) are refused
        if table.query is None:
            raise SourceError(f"{self.mapping.origin}: [tables.{table.name}] names neither a table (from) nor a query")
        check_select(table.query, f"{self.mapping.origin}: [tables.{table.name}].query", dialect="duckdb")
        context = pl.SQLContext({stem: self._scan(stem) for stem in self.platform_tables()})
        try:
            return context.execute(table.query, eager=False)
        except pl.exceptions.PolarsError as error:
            raise SourceError(f"the query mapped to {table.name} fails: {str(error).splitlines()[0]}") from None

    def table_names(self) -> set[str]:
        """The mapped tables whose file is there, or whose SELECT runs; why the others do
        not run is kept in `problems`."""
        names = set()
        files = self.platform_tables()
        for name, table in self.mapping.tables.items():
            if table.source is not None:
                if table.source in files:
                    names.add(name)
                continue
            try:
                self._base(table).collect_schema()
                names.add(name)
            except (SourceError, pl.exceptions.PolarsError) as error:
                self.problems[name] = str(error).splitlines()[0]
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
        frame = self.read_mapped(name, columns=wanted, since=since, until=until)
        return conform(name, frame, self._origin(name), wanted, zone=self.mapping.time_zone)

    def time_span(self, name: str) -> tuple[datetime, datetime] | None:
        """The first and last value of table `name`'s time column, from a scan of that column
        only (as its canonical type), without handing the table out."""
        column = TIME_COLUMN[name]
        table = self.mapping.tables.get(name)
        if table is None:
            raise SourceError(f"{self.description} has no table '{name}'.")
        origin = self._origin(name)
        try:
            frame = self._canonical(table, self._base(table), [column], origin)
            dtype = frame.collect_schema()[column]
            target = TABLES[name].columns[column]
            if target is None:  # an id column: it has no time span
                raise SourceError(f"{column} of {name} is an id, not a time column")
            value = canonical_value(column, dtype, target, self.mapping.time_zone)
            first, last = frame.select(value.min().alias("first"), value.max().alias("last")).collect().row(0)
        except (pl.exceptions.PolarsError, OSError) as error:
            raise SourceError(f"cannot read table '{name}' from {origin}: {str(error).splitlines()[0]}") from None
        if first is None:
            return None
        if not isinstance(first, datetime):  # a date column
            first, last = (datetime(day.year, day.month, day.day, tzinfo=UTC) for day in (first, last))
        return first, last

    def _origin(self, name: str) -> str:
        table = self.mapping.tables.get(name)
        path = self._file(table.source) if table is not None and table.source is not None else None
        return str(path) if path is not None else self.description

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
        with the dtypes the files give (what the data-quality report looks at)."""
        wanted = wanted_columns(name, columns)
        window = time_window(name, since, until)
        if name not in self.mapping.tables:
            raise SourceError(f"{self.description} has no table '{name}': the mapping {self.mapping.name} does not map it.")
        table = self.mapping.tables[name]
        origin = self._origin(name)
        try:
            base = self._base(table)
            needed = wanted + ([window.column] if window and window.column not in wanted else [])
            frame = self._canonical(table, base, needed, origin)
            schema = frame.collect_schema()
            missing = missing_required(name, schema, needed)
            if missing:
                raise lacks_columns(name, missing, base.collect_schema(), origin)
            if window is not None:
                frame = frame.filter(window_filter(window, schema[window.column], self.mapping.time_zone))
            frame = frame.select([column for column in wanted if column in schema])
            if limit is not None:
                frame = frame.head(limit)
            return frame.collect()
        except (pl.exceptions.PolarsError, OSError) as error:
            lines = _uneven_lines(Path(origin)) if origin.endswith(".csv") else ""
            raise SourceError(f"cannot read table '{name}' from {origin}: {str(error).splitlines()[0]}{lines}") from None

    def _canonical(self, table: MappedTable, base: pl.LazyFrame, needed: list[str], origin: str) -> pl.LazyFrame:
        """`base` as the canonical columns in `needed` that the mapping provides."""
        schema = base.collect_schema()
        if table.source is not None and not (table.columns or table.values or table.where) and table.same_names:
            return base.select([column for column in needed if column in schema])
        alias = table.source or "mapped"
        platform = sa.table(alias, *[sa.column(column, _sql_type(dtype)) for column, dtype in schema.items()])
        query, _ = canonical_select(table, platform, needed, f"{self.mapping.origin} ({origin})")
        sql = str(query.compile(dialect=_POLARS_SQL_DIALECT, compile_kwargs={"literal_binds": True}))
        return pl.SQLContext({alias: base}).execute(sql, eager=False)


def _uneven_lines(path: Path) -> str:
    """Where a CSV file that Polars cannot read goes wrong, as a reader finds it: the lines
    whose number of fields differs from the header's, or where a quote is left open."""
    try:
        with path.open(newline="", encoding="utf-8", errors="replace") as file:
            reader = csv.reader(file, strict=True)
            header = next(reader, None)
            if header is None:
                return " (the file is empty: it needs a header line naming the columns)"
            uneven: list[str] = []
            for fields in reader:
                if len(fields) != len(header) and len(uneven) < SHOWN_LINES:
                    uneven.append(str(reader.line_num))
    except csv.Error as error:
        return f" (line {reader.line_num}: {error})"
    except OSError:
        return ""
    if not uneven:
        return ""
    return f" (line(s) {', '.join(uneven)} hold another number of fields than the header's {len(header)})"


def _sql_type(dtype: pl.DataType) -> sa.types.TypeEngine:
    """The SQLAlchemy type of a Polars dtype, so that mapped values compare as the column's."""
    if dtype.is_integer():
        return sa.Integer()
    if dtype.is_float():
        return sa.Float()
    if isinstance(dtype, pl.Datetime):
        return sa.DateTime(timezone=dtype.time_zone is not None)
    if dtype == pl.Date:
        return sa.Date()
    if dtype == pl.Boolean:
        return sa.Boolean()
    if dtype == pl.String:
        return sa.String()
    return sa.types.NullType()


def window_filter(window: TimeWindow, dtype: pl.DataType, zone: str = "UTC") -> pl.Expr:
    """The Polars predicate of `window` on its column, now of dtype `dtype`, compared as its
    canonical dtype (text timestamps parsed; zoneless ones in `zone`)."""
    target = pl.Date if window.is_date else UTC_DATETIME
    return pl.all_horizontal(window.conditions(canonical_value(window.column, dtype, target, zone)))
