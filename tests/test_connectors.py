"""Sources hand out canonical tables with canonical dtypes, from files, SQLite, PostgreSQL
and MariaDB (real servers on 127.0.0.1; skipped with the reason when absent, never in CI)."""

import os
import sqlite3
from datetime import timedelta

import polars as pl
import pytest
import sqlalchemy as sa
from conftest import utc
from polars.testing import assert_frame_equal

from connectors import FolderSource, SourceError, SqlSource, open_source
from connectors.sql import sqlite_url

UTC_TIME = pl.Datetime("us", "UTC")
ORDERS = pl.DataFrame(
    {
        "order_id": [1, 2, 3],
        "user_id": [10, 11, 10],
        "created_at": [utc("2026-03-01 15:59:59"), utc("2026-03-01 16:00:00"), utc("2026-03-02 08:30:00")],
        "amount": [99.5, 1200.0, 15.25],
        "status": ["completed", "refunded", "cancelled"],
        "coupon_code": ["双十一", None, "WELCOME"],
    }
)
# what a source hands out: the canonical dtypes, labels categorical
CANONICAL_ORDERS = ORDERS.with_columns(pl.col("status").cast(pl.Categorical))
SERVERS = {
    "postgresql": "postgresql+psycopg://postgres@127.0.0.1:5432/test",
    "mariadb": "mysql+pymysql://root@127.0.0.1:3306/test?charset=utf8mb4",
}


def test_a_csv_folder_gives_utc_datetimes_and_drops_platform_columns(tmp_path):
    ORDERS.with_columns(pl.col("created_at").dt.strftime("%Y-%m-%d %H:%M:%S"), internal_flag=pl.lit(1)).write_csv(
        tmp_path / "orders.csv"
    )
    orders = FolderSource(tmp_path).read_table("orders")
    assert_frame_equal(orders, CANONICAL_ORDERS)


def test_a_missing_required_column_is_named(tmp_path):
    ORDERS.drop("status").write_parquet(tmp_path / "orders.parquet")
    with pytest.raises(SourceError, match="table 'orders' lacks the required column\\(s\\) status"):
        FolderSource(tmp_path).read_table("orders")


def test_a_value_of_the_wrong_type_is_reported_not_guessed(tmp_path):
    ORDERS.with_columns(amount=pl.lit("about ten")).write_parquet(tmp_path / "orders.parquet")
    with pytest.raises(SourceError, match=r"table 'orders', column 'amount': 3 value\(s\) cannot be read as a number, in rows 1, 2, 3 \(for example 'about ten'"):
        FolderSource(tmp_path).read_table("orders")


@pytest.fixture
def sqlite_shop(tmp_path):
    path = tmp_path / "shop.db"
    with sqlite3.connect(path) as connection:
        connection.execute(
            "CREATE TABLE orders (order_id INTEGER, user_id INTEGER, created_at TIMESTAMP, amount FLOAT, "
            "status VARCHAR, coupon_code VARCHAR, platform_note VARCHAR)"
        )
        connection.executemany(
            "INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?, 'x')",
            [(r["order_id"], r["user_id"], r["created_at"].strftime("%Y-%m-%d %H:%M:%S"), r["amount"], r["status"], r["coupon_code"])
             for r in ORDERS.iter_rows(named=True)],
        )
    return path


@pytest.mark.parametrize("reader", ["connectorx", "sqlalchemy"])
def test_sqlite_tables_read_the_same_through_both_readers(sqlite_shop, reader):
    source = SqlSource(sqlite_url(sqlite_shop), reader=reader)
    assert source.table_names() == {"orders"}
    assert_frame_equal(source.read_table("orders"), CANONICAL_ORDERS)


def test_sqlite_is_opened_read_only(sqlite_shop):
    source = open_source(sqlite_shop)
    with pytest.raises(sa.exc.OperationalError, match="readonly"):
        with source.engine.begin() as connection:
            connection.execute(sa.text("DELETE FROM orders"))


def test_an_absent_table_is_named(sqlite_shop):
    with pytest.raises(SourceError, match="has no table 'events'"):
        open_source(sqlite_shop).read_table("events")


def server_engine(name: str) -> sa.Engine:
    engine = sa.create_engine(SERVERS[name])
    try:
        with engine.connect():
            return engine
    except sa.exc.OperationalError as error:
        message = f"{name} is not running on 127.0.0.1 ({str(error).splitlines()[0][:120]}); .ci/run starts it"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


@pytest.mark.parametrize("server", ["postgresql", "mariadb"])
@pytest.mark.parametrize("reader", ["connectorx", "sqlalchemy"])
def test_database_servers_hand_out_canonical_orders(server, reader):
    engine = server_engine(server)
    metadata = sa.MetaData()
    table = sa.Table(
        "orders", metadata,
        sa.Column("order_id", sa.BigInteger), sa.Column("user_id", sa.BigInteger),
        sa.Column("created_at", sa.DateTime), sa.Column("amount", sa.Float),
        sa.Column("status", sa.String(20)), sa.Column("coupon_code", sa.String(40)),
    )
    metadata.drop_all(engine)
    metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(table.insert(), [
            {**row, "created_at": row["created_at"].replace(tzinfo=None)} for row in ORDERS.iter_rows(named=True)
        ])
    try:
        source = SqlSource(SERVERS[server], reader=reader)
        assert "orders" in source.table_names()
        assert_frame_equal(source.read_table("orders"), CANONICAL_ORDERS)
    finally:
        metadata.drop_all(engine)


@pytest.mark.parametrize("server", ["postgresql", "mariadb"])
def test_database_sessions_are_read_only(server):
    engine = server_engine(server)
    with engine.begin() as connection:
        connection.execute(sa.text("DROP TABLE IF EXISTS read_only_probe"))
        connection.execute(sa.text("CREATE TABLE read_only_probe (id INTEGER)"))
    try:
        source = SqlSource(SERVERS[server])
        with pytest.raises(sa.exc.DBAPIError, match="(?i)read.only"):
            with source.engine.begin() as connection:
                connection.execute(sa.text("INSERT INTO read_only_probe VALUES (1)"))
        with engine.connect() as connection:
            assert connection.execute(sa.text("SELECT COUNT(*) FROM read_only_probe")).scalar() == 0
    finally:
        with engine.begin() as connection:
            connection.execute(sa.text("DROP TABLE read_only_probe"))


def test_a_large_sqlite_table_read_in_rowid_chunks_keeps_every_row_in_order(sqlite_shop, monkeypatch):
    import connectors.sql

    monkeypatch.setattr(connectors.sql, "SQLITE_CHUNK_ROWS", 2)
    with sqlite3.connect(sqlite_shop) as connection:
        connection.execute("DELETE FROM orders WHERE order_id = 2")  # a gap in the rowids
    expected = CANONICAL_ORDERS.filter(pl.col("order_id") != 2)
    assert_frame_equal(SqlSource(sqlite_url(sqlite_shop)).read_table("orders"), expected)


@pytest.mark.parametrize("unit, factor", [("seconds", 1), ("milliseconds", 1_000), ("microseconds", 1_000_000), ("nanoseconds", 1_000_000_000)])
def test_unix_times_in_any_unit_are_read_as_the_instants_they_are(tmp_path, unit, factor):
    """A platform that stores created_at as a Unix time: the number's size tells its unit,
    and the instant is UTC whatever zone the mapping gives zoneless times."""
    seconds = ORDERS["created_at"].dt.epoch("s")
    ORDERS.with_columns(created_at=seconds * factor).write_parquet(tmp_path / "orders.parquet")
    assert_frame_equal(FolderSource(tmp_path).read_table("orders"), CANONICAL_ORDERS)


def test_unix_seconds_with_a_fraction_keep_the_microseconds(tmp_path):
    ORDERS.with_columns(created_at=ORDERS["created_at"].dt.epoch("s") + 0.25).write_csv(tmp_path / "orders.csv")
    orders = FolderSource(tmp_path).read_table("orders")
    assert orders["created_at"].to_list() == [moment + timedelta(milliseconds=250) for moment in CANONICAL_ORDERS["created_at"]]
