"""The sample shop on real PostgreSQL and MariaDB servers (127.0.0.1) reads back as it reads
from SQLite, and no write gets through a connector on any engine.

Each run loads the small sample shop into a database of its own, dropped at the end, so runs
of other test files on the same servers never see it. A server that is not running skips these
tests with the reason; with CI=true that is a failure instead.
"""

import contextlib
import json
import os
import socket
import sqlite3
import threading
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
import sqlalchemy as sa
import streamlit as st
from polars.testing import assert_frame_equal
from streamlit.testing.v1 import AppTest

from connectors import SqlSource, open_source
from connectors.extracts import MANIFEST
from connectors.schema import TABLES
from connectors.sql import sqlite_url
from metrics.kpis import daily_kpis
from metrics.periods import period_summary
from metrics.registry import KPIS, format_value
from sample_data.server_store import write_server
from shop_analytics.loading import load_shop
from shop_analytics.ui.extract_status import REFRESH_KEY
from shop_analytics.ui.filters import DATES_KEY

TZ = "Asia/Shanghai"
APP = str(Path(__file__).resolve().parents[1] / "app.py")
SERVERS = {
    "postgresql": "postgresql+psycopg://postgres@127.0.0.1:5432/test",
    "mariadb": "mysql+pymysql://root@127.0.0.1:3306/test?charset=utf8mb4",
}
WRITES = {
    "insert": "INSERT INTO orders (order_id, user_id, created_at, amount, status) VALUES (-1, 1, '2026-01-01', 1, 'paid')",
    "update": "UPDATE orders SET amount = 0",
    "delete": "DELETE FROM orders",
    "create": "CREATE TABLE intruder (id INTEGER)",
    "drop": "DROP TABLE order_items",
}


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("true", "1")


def reachable(server: str) -> sa.Engine:
    """An AUTOCOMMIT engine on the server's `test` database, or a skip (a failure in CI)."""
    engine = sa.create_engine(SERVERS[server], isolation_level="AUTOCOMMIT")
    try:
        with engine.connect():
            return engine
    except sa.exc.OperationalError as error:
        engine.dispose()
        message = f"{server} is not running on 127.0.0.1 ({str(error).splitlines()[0][:120]}); .ci/run starts it"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)


def in_order(frame: pl.DataFrame) -> pl.DataFrame:
    """The rows sorted by every column (labels as text), to compare tables whatever order a
    server returns rows in; dtypes stay as read, so a wrong dtype still fails."""
    labels = [column for column, dtype in frame.schema.items() if dtype == pl.Categorical]
    order = [pl.col(column).cast(pl.String) if column in labels else pl.col(column) for column in frame.columns]
    return frame.sort(order, nulls_last=True)


@pytest.fixture(scope="session")
def sqlite_tables(small_shop_db) -> dict[str, pl.DataFrame]:
    source = open_source(small_shop_db)
    return {name: source.read_table(name) for name in TABLES if name in source.table_names()}


@pytest.fixture(scope="session", params=sorted(SERVERS))
def server_shop(request, sqlite_tables) -> tuple[str, sa.URL]:
    """(server, URL) of a database of this run's own holding the small sample shop."""
    server = request.param
    admin = reachable(server)
    database = f"shop_test_{uuid.uuid4().hex[:12]}"
    quoted = admin.dialect.identifier_preparer.quote(database)
    with admin.connect() as connection:
        connection.execute(sa.text(f"CREATE DATABASE {quoted}"))
    url = sa.make_url(SERVERS[server]).set(database=database)
    try:
        write_server(sqlite_tables, url)
        yield server, url
    finally:
        with admin.connect() as connection:
            force = " WITH (FORCE)" if server == "postgresql" else ""
            connection.execute(sa.text(f"DROP DATABASE {quoted}{force}"))
        admin.dispose()


@pytest.mark.parametrize("reader", ["connectorx", "sqlalchemy"])
def test_every_table_reads_back_from_the_server_as_from_sqlite(server_shop, sqlite_tables, reader):
    _, url = server_shop
    source = SqlSource(url, reader=reader)
    assert source.table_names() == set(sqlite_tables)
    for name, expected in sqlite_tables.items():
        assert_frame_equal(in_order(source.read_table(name)), in_order(expected))


def test_the_daily_kpi_table_from_the_server_equals_the_one_from_sqlite(server_shop, small_shop):
    _, url = server_shop
    shop = load_shop(SqlSource(url))
    first, last = small_shop.date_span(TZ)
    assert shop.date_span(TZ) == (first, last)
    expected = daily_kpis(small_shop.events, small_shop.sessions, small_shop.orders, small_shop.users, start=first, end=last, tz=TZ)
    read = daily_kpis(shop.events, shop.sessions, shop.orders, shop.users, start=first, end=last, tz=TZ)
    assert expected["gmv"].sum() > 0 and expected["dau"].sum() > 0
    # sums over rows in another order may differ in the last bit: counts exactly, money to 1e-9
    assert_frame_equal(read, expected, rel_tol=1e-9)


def row_counts(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as connection:
        return {name: connection.execute(sa.text(f"SELECT COUNT(*) FROM {name}")).scalar() for name in ("orders", "order_items")}


@pytest.mark.parametrize("write", sorted(WRITES))
def test_no_write_gets_through_a_server_connector(server_shop, write):
    _, url = server_shop
    owner = sa.create_engine(url)
    before = row_counts(owner)
    source = SqlSource(url)
    with pytest.raises(sa.exc.DBAPIError, match="(?i)read.only"), source.engine.begin() as connection:
        connection.execute(sa.text(WRITES[write]))
    assert row_counts(owner) == before
    with owner.connect() as connection:
        assert not sa.inspect(connection).has_table("intruder")
    owner.dispose()


@pytest.mark.parametrize("write", sorted(WRITES))
def test_no_write_gets_through_a_sqlite_connector(tmp_path, small_shop_db, write):
    path = tmp_path / "shop.db"
    path.write_bytes(small_shop_db.read_bytes())
    before = row_counts(sa.create_engine(f"sqlite:///{path}"))
    source = SqlSource(sqlite_url(path))
    with pytest.raises(sa.exc.OperationalError, match="readonly"), source.engine.begin() as connection:
        connection.execute(sa.text(WRITES[write]))
    assert row_counts(sa.create_engine(f"sqlite:///{path}")) == before
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT COUNT(*) FROM sqlite_master WHERE name = 'intruder'").fetchone() == (0,)


class Proxy:
    """A TCP port forwarding to a database server on 127.0.0.1: closing it is, for whoever
    connects through it, the database stopping (connections refused, open ones cut), while the
    machine's shared server keeps running for everyone else's tests."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.1)
        self.port = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = []
        self.open = True
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while self.open:
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            self.sockets += [client, upstream]
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, target), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass  # the other direction closed the pair
        finally:
            for end in (source, target):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.open = False
        self.listener.close()
        for end in self.sockets:
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
            end.close()


def card(at, label):
    return next(metric for metric in at.metric if metric.label == label)


def shop_app(secrets: dict) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.secrets["connections"] = secrets
    return at.run()


def test_a_stopped_database_shows_the_last_extract_with_its_age(server_shop, small_shop, tmp_path):
    server, url = server_shop
    proxy = Proxy(url.port)
    # trust authentication ignores a password: PostgreSQL's URL carries one that must show nowhere
    proxied = url.set(port=proxy.port, password="s3cret-pw" if server == "postgresql" else None)
    extract_folder = tmp_path / "extract"
    secrets = {"shop": {"url": proxied.render_as_string(hide_password=False), "extract_folder": str(extract_folder)}}
    try:
        at = shop_app(secrets)
        assert not at.exception and not at.error and not at.warning, [element.value for element in (*at.error, *at.warning)]
        start, end = at.session_state[DATES_KEY]
        frames = (small_shop.events, small_shop.sessions, small_shop.orders, small_shop.users)
        gmv = period_summary(*frames, start=start, end=end, tz=TZ)["gmv"]
        shown = format_value(KPIS["gmv"], gmv, compact=True)
        assert card(at, "GMV").value == shown
        assert "Data extracted less than a minute ago; refreshed every 1 h." in [caption.value for caption in at.sidebar.caption], (
            "app.py draws the extract's status with ui.extract_status.draw() after the sidebar filters"
        )
    finally:
        proxy.close()
    manifest_path = extract_folder / MANIFEST
    assert "s3cret-pw" not in manifest_path.read_text()
    # three hours later, past the extract's hour to live, the app starts again: the database is gone
    manifest = json.loads(manifest_path.read_text())
    manifest["refreshed_at"] = (datetime.fromisoformat(manifest["refreshed_at"]) - timedelta(hours=3)).isoformat()
    manifest_path.write_text(json.dumps(manifest))
    st.cache_resource.clear()
    st.cache_data.clear()
    at = shop_app(secrets)
    assert not at.exception and not at.error
    [banner] = at.warning
    assert banner.value.startswith("Showing the extract from 3 h ago: the database cannot be reached (")
    assert "s3cret-pw" not in banner.value
    assert card(at, "GMV").value == shown
    # asking for fresh data while the database is still gone keeps the numbers and the banner
    at.sidebar.button(key=REFRESH_KEY).click().run()
    assert not at.exception
    [banner] = at.warning
    assert banner.value.startswith("Showing the extract from 3 h ago: the database cannot be reached (")
    assert card(at, "GMV").value == shown
