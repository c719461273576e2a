"""Test helper: platform tables (Polars frames) written into SQLite, PostgreSQL or MariaDB with
column types declared as the platform declares them, and the SqlSource that reads them back."""

import polars as pl
import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from test_connectors import SERVERS, server_engine

from connectors import SqlSource
from connectors.mapping import Mapping
from connectors.sql import sqlite_url

DATABASES = ["sqlite", "postgresql", "mariadb"]


def column_type(dtype: pl.DataType, timestamp: bool) -> sa.types.TypeEngine:
    if dtype.is_integer():
        return sa.BigInteger()
    if isinstance(dtype, pl.Decimal):
        return sa.Numeric(dtype.precision, dtype.scale)
    if dtype.is_float():
        return sa.Double()
    if isinstance(dtype, pl.Datetime):
        return sa.TIMESTAMP() if timestamp else sa.DateTime()
    if dtype == pl.Date:
        return sa.Date()
    return sa.String(255)


def write_tables(engine: sa.Engine, frames: dict[str, pl.DataFrame], *, timestamp: bool = False) -> None:
    """Replace the tables `frames` in `engine`'s database; datetimes are stored zoneless
    (TIMESTAMP when `timestamp`, as MySQL platforms declare them, else DATETIME)."""
    metadata = sa.MetaData()
    tables = {
        name: sa.Table(name, metadata, *[sa.Column(column, column_type(dtype, timestamp)) for column, dtype in frame.schema.items()])
        for name, frame in frames.items()
    }
    metadata.drop_all(engine)
    metadata.create_all(engine)
    with engine.begin() as connection:
        if engine.dialect.name == "mysql":
            connection.execute(sa.text("SET time_zone = '+00:00'"))
        for name, frame in frames.items():
            if frame.height:
                connection.execute(tables[name].insert(), frame.to_dicts())


def drop_tables(engine: sa.Engine, names) -> None:
    metadata = sa.MetaData()
    for name in names:
        sa.Table(name, metadata)
    metadata.drop_all(engine)


def platform_source(database: str, frames: dict[str, pl.DataFrame], mapping: Mapping, tmp_path, **options) -> SqlSource:
    """A SqlSource over `frames` written into `database` (sqlite, postgresql or mariadb); on a
    server the tables are dropped again by the `cleanup` list the caller registers."""
    if database == "sqlite":
        engine = sa.create_engine(f"sqlite:///{tmp_path / 'platform.db'}")
        write_tables(engine, frames, timestamp=options.pop("timestamp", False))
        engine.dispose()
        return SqlSource(sqlite_url(tmp_path / "platform.db"), mapping=mapping, **options)
    engine = server_engine(database)
    write_tables(engine, frames, timestamp=options.pop("timestamp", False))
    return SqlSource(SERVERS[database], mapping=mapping, **options)


@pytest.fixture
def dropped_after():
    """Names of server tables to drop after the test, on every server that ran."""
    created: list[tuple[str, list[str]]] = []
    yield created
    for database, names in created:
        if database != "sqlite":
            drop_tables(server_engine(database), names)


def unsigned(kind: type[sa.Integer] = sa.Integer) -> sa.types.TypeEngine:
    """An integer column MySQL and MariaDB hold UNSIGNED, as the platforms declare their ids."""
    mysql_kind = {sa.Integer: mysql.INTEGER, sa.SmallInteger: mysql.SMALLINT, sa.BigInteger: mysql.BIGINT}[kind]
    return kind().with_variant(mysql_kind(unsigned=True), "mysql", "mariadb")


def write_declared(engine: sa.Engine, metadata: sa.MetaData, rows: dict[str, list[dict]]) -> None:
    """Replace `metadata`'s tables in `engine` with the platform's declared column types and
    insert `rows` (table name: rows as dicts); times are zoneless UTC, as the session's."""
    metadata.drop_all(engine)
    metadata.create_all(engine)
    with engine.begin() as connection:
        if engine.dialect.name == "mysql":
            connection.execute(sa.text("SET time_zone = '+00:00'"))
        for table in metadata.sorted_tables:
            if rows.get(table.name):
                connection.execute(table.insert(), rows[table.name])


def declared_source(database: str, metadata: sa.MetaData, rows: dict[str, list[dict]], mapping: Mapping, tmp_path, **options) -> SqlSource:
    """A SqlSource over `rows` written into `database` (sqlite, postgresql or mariadb) in
    `metadata`'s tables; server tables are dropped by the `dropped_after` list the caller fills."""
    if database == "sqlite":
        engine = sa.create_engine(f"sqlite:///{tmp_path / 'platform.db'}")
        write_declared(engine, metadata, rows)
        engine.dispose()
        return SqlSource(sqlite_url(tmp_path / "platform.db"), mapping=mapping, **options)
    write_declared(server_engine(database), metadata, rows)
    return SqlSource(SERVERS[database], mapping=mapping, **options)


def polars_dtype(column_type: sa.types.TypeEngine) -> pl.DataType:
    """The Polars dtype holding what a declared column holds (for the DuckDB oracle)."""
    if isinstance(column_type, sa.Integer):
        return pl.Int64
    if isinstance(column_type, sa.Numeric) and column_type.asdecimal and column_type.scale is not None:
        return pl.Decimal(column_type.precision, column_type.scale)
    if isinstance(column_type, sa.Float | sa.Numeric):
        return pl.Float64
    if isinstance(column_type, sa.DateTime):
        return pl.Datetime("us")
    if isinstance(column_type, sa.Date):
        return pl.Date
    return pl.String


def declared_frames(metadata: sa.MetaData, rows: dict[str, list[dict]]) -> dict[str, pl.DataFrame]:
    """`rows` as Polars frames typed as `metadata` declares its columns."""
    frames = {}
    for table in metadata.sorted_tables:
        schema = {column.name: polars_dtype(column.type) for column in table.columns}
        data = [{name: row.get(name) for name in schema} for row in rows.get(table.name, [])]
        frames[table.name] = pl.DataFrame(data, schema=schema) if data else pl.DataFrame(schema=schema)
    return frames
