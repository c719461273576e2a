"""A folder of canonical tables as files: users.parquet or users.csv, and so on.

Files are scanned lazily, so the columns and the time window asked for are pushed into
Polars' scan: a Parquet file is read for those columns and row groups only.
"""

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

import polars as pl

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
from connectors.schema import TABLES, UTC_DATETIME

_READERS = {".parquet": pl.scan_parquet, ".csv": pl.scan_csv}


class FolderSource:
    """Canonical tables from `<folder>/<table>.parquet` (preferred) or `<folder>/<table>.csv`."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise SourceError(f"{self.folder} is not a folder of tables.")

    @property
    def description(self) -> str:
        return str(self.folder)

    def _file(self, name: str) -> Path | None:
        for suffix in _READERS:
            path = self.folder / f"{name}{suffix}"
            if path.is_file():
                return path
        return None

    def table_names(self) -> set[str]:
        return {name for name in TABLES if self._file(name) is not None}

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
        path = self._file(name)
        if path is None:
            raise SourceError(f"{self.folder} has no {name}.parquet or {name}.csv.")
        try:
            scan = _READERS[path.suffix](path)
            schema = scan.collect_schema()
            missing = missing_required(name, schema, wanted + ([window.column] if window else []))
            if missing:
                raise lacks_columns(name, missing, schema, str(path))
            if window is not None:
                scan = scan.filter(window_filter(window, schema[window.column]))
            frame = scan.select([column for column in wanted if column in schema]).collect()
        except (pl.exceptions.PolarsError, OSError) as error:
            raise SourceError(f"cannot read {path}: {str(error).splitlines()[0]}") from None
        return conform(name, frame, str(path), wanted)


def window_filter(window: TimeWindow, dtype: pl.DataType) -> pl.Expr:
    """The Polars predicate of `window` on its column, now of dtype `dtype`, compared as its
    canonical dtype (text timestamps parsed, zoneless ones UTC)."""
    target = pl.Date if window.is_date else UTC_DATETIME
    return pl.all_horizontal(window.conditions(canonical_value(window.column, dtype, target)))
