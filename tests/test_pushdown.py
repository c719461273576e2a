"""read_table(columns=, since=, until=) returns exactly the asked columns and the rows of the
time window, from files, SQLite, PostgreSQL and MariaDB, and the window reaches the SQL."""

from datetime import datetime

import polars as pl
import pytest
import sqlalchemy as sa
from conftest import utc
from polars.testing import assert_frame_equal
from test_connectors import CANONICAL_ORDERS, ORDERS, SERVERS, server_engine

from connectors import FolderSource, SourceError, SqlSource
from connectors.sql import sqlite_url

# order 1 at 15:59:59, order 2 at 16:00:00, order 3 next day 08:30 (UTC)
SINCE = utc("2026-03-01 15:59:59")  # strictly later: order 1 is out
UNTIL = utc("2026-03-02 08:30:00")  # strictly earlier: order 3 is out
AD_SPEND = pl.DataFrame(
    {
        "date": [datetime(2026, 3, d).date() for d in (1, 2, 3)],
        "channel": ["ads", "ads", "search"],
        "spend": [10.0, 20.0, 30.0],
    }
)


def picked(order_ids, columns=None):
    frame = CANONICAL_ORDERS.filter(pl.col("order_id").is_in(order_ids))
    return frame if columns is None else frame.select(columns)


def write_sqlite(path):
    engine = sa.create_engine(f"sqlite:///{path}")
    ORDERS.with_columns(pl.col("created_at").dt.strftime("%Y-%m-%d %H:%M:%S.%6f")).write_database(
        "orders", engine.url.render_as_string()
    )
    AD_SPEND.with_columns(pl.col("date").dt.strftime("%Y-%m-%d")).write_database("ad_spend", engine.url.render_as_string())
    return path


@pytest.fixture(params=["csv", "parquet", "sqlite-connectorx", "sqlite-sqlalchemy"])
def source(request, tmp_path):
    if request.param == "csv":
        ORDERS.with_columns(pl.col("created_at").dt.strftime("%Y-%m-%d %H:%M:%S")).write_csv(tmp_path / "orders.csv")
        AD_SPEND.write_csv(tmp_path / "ad_spend.csv")
        return FolderSource(tmp_path)
    if request.param == "parquet":
        ORDERS.write_parquet(tmp_path / "orders.parquet")
        AD_SPEND.write_parquet(tmp_path / "ad_spend.parquet")
        return FolderSource(tmp_path)
    path = write_sqlite(tmp_path / "shop.db")
    return SqlSource(sqlite_url(path), reader=request.param.split("-")[1])


def test_since_keeps_rows_strictly_later(source):
    assert_frame_equal(source.read_table("orders", since=SINCE), picked([2, 3]))


def test_until_keeps_rows_strictly_earlier(source):
    assert_frame_equal(source.read_table("orders", until=UNTIL), picked([1, 2]))


def test_columns_and_window_together(source):
    read = source.read_table("orders", columns=["amount", "order_id"], since=SINCE, until=UNTIL)
    assert_frame_equal(read, picked([2], ["order_id", "amount"]))


def test_a_bound_in_another_zone_is_the_same_instant(source):
    from zoneinfo import ZoneInfo

    shanghai = datetime(2026, 3, 2, 0, 0, 0, tzinfo=ZoneInfo("Asia/Shanghai"))  # = 2026-03-01 16:00 UTC
    assert_frame_equal(source.read_table("orders", since=shanghai), picked([3]))


def test_dates_count_from_their_midnight(source):
    # since 2 March 00:00 keeps days after 2 March; until 3 March 00:00 keeps days before 3 March
    assert source.read_table("ad_spend", since=utc("2026-03-02 00:00"))["spend"].to_list() == [30.0]
    assert source.read_table("ad_spend", until=utc("2026-03-03 00:00"))["spend"].to_list() == [10.0, 20.0]
    # until past midnight of 3 March keeps 3 March (its midnight is earlier)
    assert source.read_table("ad_spend", until=utc("2026-03-03 06:00"))["spend"].to_list() == [10.0, 20.0, 30.0]


def test_bad_requests_say_what_is_wrong(source):
    with pytest.raises(SourceError, match="since=.*must be a datetime with a time zone"):
        source.read_table("orders", since=datetime(2026, 3, 1))
    with pytest.raises(SourceError, match="has no canonical column\\(s\\) secret"):
        source.read_table("orders", columns=["order_id", "secret"])
    with pytest.raises(SourceError, match="table 'products' has no time column"):
        source.read_table("products", since=SINCE)


def test_the_window_and_columns_are_in_the_sql(tmp_path):
    source = SqlSource(sqlite_url(write_sqlite(tmp_path / "shop.db")), reader="sqlalchemy")
    statements = []
    sa.event.listen(source.engine, "before_cursor_execute", lambda *args: statements.append((args[2], args[3])))
    source.read_table("orders", columns=["order_id"], since=SINCE)
    statement, parameters = statements[-1]
    assert " ".join(statement.split()) == "SELECT orders.order_id AS order_id FROM orders WHERE orders.created_at > ?"
    assert parameters == ("2026-03-01 15:59:59.000000",)


# MariaDB has no zoned timestamp type
@pytest.mark.parametrize(("server", "zoned"), [("postgresql", False), ("postgresql", True), ("mariadb", False)])
@pytest.mark.parametrize("reader", ["connectorx", "sqlalchemy"])
def test_database_servers_push_the_window(server, reader, zoned):
    engine = server_engine(server)
    metadata = sa.MetaData()
    table = sa.Table(
        "orders", metadata,
        sa.Column("order_id", sa.BigInteger), sa.Column("user_id", sa.BigInteger),
        sa.Column("created_at", sa.DateTime(timezone=zoned)), sa.Column("amount", sa.Float),
        sa.Column("status", sa.String(20)), sa.Column("coupon_code", sa.String(40)),
    )
    metadata.drop_all(engine)
    metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(table.insert(), [
            {**row, "created_at": row["created_at"] if zoned else row["created_at"].replace(tzinfo=None)}
            for row in ORDERS.iter_rows(named=True)
        ])
    try:
        source = SqlSource(SERVERS[server], reader=reader)
        assert_frame_equal(source.read_table("orders", since=SINCE, until=UNTIL), picked([2]))
        assert_frame_equal(source.read_table("orders", columns=["order_id", "status"], since=SINCE), picked([2, 3], ["order_id", "status"]))
    finally:
        metadata.drop_all(engine)


def test_a_server_that_accepts_but_never_answers_is_reported_not_waited_for(monkeypatch):
    """A firewalled or hung database: the connection's timeout ends the wait with a SourceError."""
    import socket

    from connectors import sql

    monkeypatch.setitem(sql._CONNECT_ARGS, "postgresql", {"connect_timeout": 1})
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # the handshake completes in the backlog; nothing is ever said
        port = silent.getsockname()[1]
        with pytest.raises(SourceError, match="timeout"):
            sql.SqlSource(f"postgresql+psycopg://postgres@127.0.0.1:{port}/test").read_table("events")
