"""A folder of canonical tables as files: users.parquet or users.csv, and so on."""

from pathlib import Path

import polars as pl

from connectors.base import SourceError, conform
from connectors.schema import TABLES

_READERS = {".parquet": pl.read_parquet, ".csv": pl.read_csv}


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

    def read_table(self, name: str) -> pl.DataFrame:
        path = self._file(name)
        if path is None:
            raise SourceError(f"{self.folder} has no {name}.parquet or {name}.csv.")
        try:
            frame = _READERS[path.suffix](path)
        except (pl.exceptions.PolarsError, OSError) as error:
            raise SourceError(f"cannot read {path}: {str(error).splitlines()[0]}") from None
        return conform(name, frame, str(path))
