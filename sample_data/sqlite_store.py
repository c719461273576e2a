"""Store canonical tables in a SQLite file whose columns declare their types.

Readers such as connectorx type a SQLite column by its declared type, so every table is
created from SQLAlchemy Core `Table`/`Column` definitions: datetimes are declared TIMESTAMP
and stored as UTC text `YYYY-MM-DD HH:MM:SS.ffffff`, dates are declared DATE and stored as
`YYYY-MM-DD`. The file is built under a temporary name beside the target and moved onto it
at the end, so an interrupted run never leaves a broken database behind.
"""

import os
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import polars as pl
import sqlalchemy as sa
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.schema import CreateIndex, CreateTable

_PRIMARY_KEYS = {
    "users": "user_id",
    "orders": "order_id",
    "products": "product_id",
    "campaigns": "campaign_id",
    "reviews": "review_id",
    "tickets": "ticket_id",
}
# The app reads events by time and a user's events in order; orders by time; items by order.
_INDEXES: dict[str, list[tuple[str, ...]]] = {
    "events": [("event_time",), ("user_id", "event_time")],
    "orders": [("created_at",), ("user_id",)],
    "order_items": [("order_id",)],
    "reviews": [("created_at",)],
    "tickets": [("created_at",)],
    "ad_spend": [("date", "channel")],
}
_DIALECT = sqlite_dialect.dialect()
_ROWS_PER_BATCH = 200_000


def _column_type(dtype: pl.DataType) -> sa.types.TypeEngine:
    if dtype.is_integer():
        return sa.Integer()
    if dtype.is_float():
        return sa.Float()
    if isinstance(dtype, pl.Datetime):
        return sa.TIMESTAMP()
    if dtype == pl.Date:
        return sa.Date()
    return sa.Text()


def _sql_table(name: str, frame: pl.DataFrame, metadata: sa.MetaData) -> sa.Table:
    """The table definition of `frame`, with its primary key and indexes."""
    columns = [
        sa.Column(column, _column_type(dtype), primary_key=column == _PRIMARY_KEYS.get(name))
        for column, dtype in frame.schema.items()
    ]
    indexes = [
        sa.Index(f"ix_{name}_{'_'.join(key)}", *key)
        for key in _INDEXES.get(name, [])
        if all(column in frame.columns for column in key)
    ]
    return sa.Table(name, metadata, *columns, *indexes)


def _as_sql_values(frame: pl.DataFrame) -> pl.DataFrame:
    """Datetimes as UTC text with microseconds and dates as ISO text; other columns unchanged."""
    conversions = []
    for column, dtype in frame.schema.items():
        if isinstance(dtype, pl.Datetime):
            utc = pl.col(column).dt.convert_time_zone("UTC") if dtype.time_zone else pl.col(column)
            conversions.append(utc.dt.strftime("%Y-%m-%d %H:%M:%S%.6f"))
        elif dtype == pl.Date:
            conversions.append(pl.col(column).dt.strftime("%Y-%m-%d"))
    return frame.with_columns(conversions)


def _fill(
    connection: sqlite3.Connection, tables: dict[str, pl.DataFrame], progress: Callable[[str], None]
) -> None:
    """Create every table, insert its rows and build its indexes, all in one transaction."""
    # The file is private until it is moved into place, so durability is not needed while
    # filling it: no journal, no syncs, one transaction.
    connection.execute("PRAGMA journal_mode=OFF")
    connection.execute("PRAGMA synchronous=OFF")
    connection.execute("BEGIN")
    metadata = sa.MetaData()
    for name, frame in tables.items():
        table = _sql_table(name, frame, metadata)
        connection.execute(str(CreateTable(table).compile(dialect=_DIALECT)))
        insert = str(table.insert().compile(dialect=_DIALECT))
        # Slices bound the Python objects alive at once (2 M rows at once would take 1 GB).
        for chunk in _as_sql_values(frame).iter_slices(_ROWS_PER_BATCH):
            rows = zip(*(chunk[column].to_list() for column in chunk.columns), strict=True)
            connection.executemany(insert, rows)
        for index in table.indexes:
            connection.execute(str(CreateIndex(index).compile(dialect=_DIALECT)))
        progress(name)
    connection.execute("COMMIT")


def write_sqlite(
    tables: dict[str, pl.DataFrame], path: Path, progress: Callable[[str], None] | None = None
) -> None:
    """Write `tables` to the SQLite file `path`, replacing it; `progress(name)` after each table."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.unlink(missing_ok=True)
    try:
        with closing(sqlite3.connect(temporary, isolation_level=None)) as connection:
            _fill(connection, tables, progress or (lambda name: None))
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
