"""Store canonical tables in a PostgreSQL or MySQL/MariaDB database, in bulk.

The tests load the sample shop into the servers with this, and bench/bench_postgres.py loads
2,000,000 events. Each table is created from SQLAlchemy Core definitions (names quoted by
SQLAlchemy) and filled with the server's own bulk path, as CSV: PostgreSQL's
`COPY ... FROM STDIN` and MariaDB's `LOAD DATA LOCAL INFILE`; row-by-row INSERTs of
2,000,000 events take minutes. Times are stored as `TIMESTAMP WITH TIME ZONE` in PostgreSQL
and as UTC `DATETIME(6)` in MariaDB, which has no zoned type.
"""

import os
import tempfile
from collections.abc import Callable
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

_PRIMARY_KEYS = {
    "users": "user_id",
    "orders": "order_id",
    "products": "product_id",
    "campaigns": "campaign_id",
    "reviews": "review_id",
    "tickets": "ticket_id",
}
# Only id and time columns are indexed: MariaDB cannot index TEXT without a prefix length.
_INDEXES = {"events": [("event_time",)], "orders": [("created_at",)], "order_items": [("order_id",)]}
# CSV slices small enough that their text never holds much memory at once.
_ROWS_PER_SLICE = 500_000


def _column_type(dtype: pl.DataType) -> sa.types.TypeEngine:
    if dtype == pl.Int32:
        return sa.Integer()
    if dtype.is_integer():
        return sa.BigInteger()
    if dtype.is_float():
        return sa.Double()
    if isinstance(dtype, pl.Datetime):
        return sa.DateTime(timezone=True).with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
    if dtype == pl.Date:
        return sa.Date()
    return sa.Text()


def _sql_table(name: str, frame: pl.DataFrame, metadata: sa.MetaData) -> sa.Table:
    columns = [
        sa.Column(column, _column_type(dtype), primary_key=column == _PRIMARY_KEYS.get(name), autoincrement=False)
        for column, dtype in frame.schema.items()
    ]
    indexes = [sa.Index(f"ix_{name}_{'_'.join(key)}", *key) for key in _INDEXES.get(name, []) if set(key) <= set(frame.columns)]
    return sa.Table(name, metadata, *columns, *indexes)


def _as_csv_values(frame: pl.DataFrame, backend: str) -> pl.DataFrame:
    """Datetimes as text each server parses exactly: with a UTC offset for PostgreSQL, as UTC
    wall time for MariaDB; dates as ISO text."""
    conversions = []
    for column, dtype in frame.schema.items():
        if isinstance(dtype, pl.Datetime):
            utc = pl.col(column).dt.convert_time_zone("UTC") if dtype.time_zone else pl.col(column)
            suffix = "+00:00" if backend == "postgresql" else ""
            conversions.append(utc.dt.strftime(f"%Y-%m-%d %H:%M:%S%.6f{suffix}"))
        elif dtype == pl.Date:
            conversions.append(pl.col(column).dt.strftime("%Y-%m-%d"))
        elif dtype == pl.Categorical:
            conversions.append(pl.col(column).cast(pl.String))
    return frame.with_columns(conversions)


def _driver_cursor(connection: sa.Connection) -> Any:
    """A cursor of the database driver's own connection (psycopg's or PyMySQL's), for its bulk loading."""
    driver = connection.connection.driver_connection
    if driver is None:
        raise sa.exc.InvalidRequestError("the connection to the database was closed while writing the sample shop")
    return driver.cursor()


def _copy_postgresql(connection: sa.Connection, table: sa.Table, frame: pl.DataFrame) -> None:
    """COPY in CSV: an unquoted empty field is NULL, a quoted one ("") an empty string."""
    preparer = connection.dialect.identifier_preparer
    columns = ", ".join(preparer.quote(column) for column in frame.columns)
    statement = f"COPY {preparer.format_table(table)} ({columns}) FROM STDIN (FORMAT csv)"
    cursor = _driver_cursor(connection)
    with cursor.copy(statement) as copy:
        for chunk in frame.iter_slices(_ROWS_PER_SLICE):
            copy.write(_as_csv_values(chunk, "postgresql").write_csv(include_header=False))


def _load_data_mysql(connection: sa.Connection, table: sa.Table, frame: pl.DataFrame) -> None:
    """LOAD DATA LOCAL INFILE in CSV: text quoted with doubled inner quotes, no escape
    character, NULL as the unquoted word NULL (a quoted "NULL" stays text)."""
    preparer = connection.dialect.identifier_preparer
    columns = ", ".join(preparer.quote(column) for column in frame.columns)
    cursor = _driver_cursor(connection)
    for chunk in frame.iter_slices(_ROWS_PER_SLICE):
        with tempfile.NamedTemporaryFile("wb", suffix=".csv", delete=False) as handle:
            _as_csv_values(chunk, "mysql").write_csv(handle, include_header=False, null_value="NULL", quote_style="non_numeric")
        try:
            cursor.execute(
                f"LOAD DATA LOCAL INFILE %s INTO TABLE {preparer.format_table(table)} CHARACTER SET utf8mb4 "
                f"FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"' ESCAPED BY '' LINES TERMINATED BY '\\n' ({columns})",
                (handle.name,),
            )
        finally:
            os.unlink(handle.name)


def write_server(
    tables: dict[str, pl.DataFrame], url: str | sa.URL, progress: Callable[[str], None] | None = None
) -> None:
    """Create `tables` in the database at `url` (dropping tables of the same names first) and
    fill them; `progress(name)` after each table. Table by table, each in its own transaction."""
    url = sa.make_url(url)
    backend = url.get_backend_name()
    if backend not in ("postgresql", "mysql"):
        raise ValueError(f"write_server stores into PostgreSQL or MySQL/MariaDB, not {backend}")
    engine = sa.create_engine(url, connect_args={"local_infile": True} if backend == "mysql" else {})
    fill = _copy_postgresql if backend == "postgresql" else _load_data_mysql
    try:
        for name, frame in tables.items():
            metadata = sa.MetaData()
            table = _sql_table(name, frame, metadata)
            with engine.begin() as connection:
                table.drop(connection, checkfirst=True)
                table.create(connection)
                fill(connection, table, frame)
            if progress:
                progress(name)
    finally:
        engine.dispose()
