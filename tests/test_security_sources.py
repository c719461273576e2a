"""Issue 23 on the Data sources page, against the real PostgreSQL and MariaDB servers:

- item 8: with the database down (the shop showing from its extract) the page showed a
  SourceError traceback; with a wrong password likewise. Now each is one line.
- item 10: *Test connection* succeeded although a mapped table was missing; now it warns and
  names the table and what it is mapped to.
- the page checks that the connection's database user cannot write: a user granted only
  SELECT is said to read only; a superuser, root, and a user granted INSERT/UPDATE/DELETE on
  one table get a warning naming what they may write and the GRANT statements for a user that
  only reads. Each test makes its own users and drops them.

A server that is not running skips these tests with the reason (a failure with CI=true)."""

import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
import streamlit as st
import test_servers
from streamlit.testing.v1 import AppTest
from test_servers import Proxy, reachable

import shop_analytics.ui.sources
from connectors.privileges import READER, write_access
from connectors.sql import SqlSource, sqlite_url
from shop_analytics.i18n import text

APP = str(Path(__file__).resolve().parents[1] / "app.py")
# the small shop in a database of this run's own on each server (tests/test_servers.py)
server_shop, sqlite_tables = test_servers.server_shop, test_servers.sqlite_tables


def data_source_page(secrets: dict, tmp_path, monkeypatch) -> AppTest:
    monkeypatch.setattr(shop_analytics.ui.sources, "SECRETS_PATH", tmp_path / "secrets.toml")
    at = AppTest.from_file(APP, default_timeout=120)
    at.secrets["connections"] = secrets
    at.run()
    return at.switch_page("pages/data_source.py").run()


def messages(at: AppTest) -> list[str]:
    return [element.value for element in (*at.error, *at.warning, *at.info, *at.success)]


def one_liners(at: AppTest) -> list[str]:
    errors = [error.value for error in at.error]
    assert all("\n" not in error and "Traceback" not in error for error in errors), errors
    return errors


def test_the_page_says_in_one_line_that_the_database_is_down_while_its_extract_shows(server_shop, tmp_path, monkeypatch):
    server, url = server_shop
    proxy = Proxy(url.port)
    proxied = url.set(port=proxy.port)
    secrets = {"shop": {"url": proxied.render_as_string(hide_password=False), "extract_folder": str(tmp_path / "extract")}}
    try:
        page = data_source_page(secrets, tmp_path, monkeypatch)
        assert not page.exception and not page.error, messages(page)
    finally:
        proxy.close()
    # the app starts again with the database away: the shop comes from the extract
    st.cache_resource.clear()
    st.cache_data.clear()
    page = data_source_page(secrets, tmp_path, monkeypatch)
    assert not page.exception, [exception.message for exception in page.exception]
    [error] = one_liners(page)
    assert error.startswith("Cannot use this source: cannot read the database") and "refused" in error.lower()
    assert page.dataframe  # the extract's tables are still summed up above


def test_a_wrong_password_is_one_line_on_the_page_and_in_test_connection(tmp_path, monkeypatch):
    admin = reachable("mariadb")
    user = f"sa_pw_{uuid.uuid4().hex[:8]}"
    with admin.connect() as connection:
        connection.execute(sa.text(f"CREATE USER '{user}'@'%' IDENTIFIED BY 'right-pw-1'"))
    try:
        wrong = f"mysql+pymysql://{user}:wrong-pw@127.0.0.1:3306/test"
        page = data_source_page({"shop": {"url": wrong}}, tmp_path, monkeypatch)
        assert not page.exception
        [error] = one_liners(page)
        assert "Access denied" in error and "wrong-pw" not in error
        page.radio(key="source_kind").set_value("database").run()
        page.selectbox(key="source_dialect").set_value("mysql")
        page.text_input(key="source_host").input("127.0.0.1")
        page.number_input(key="source_port").set_value(3306)
        page.text_input(key="source_database").input("test")
        page.text_input(key="source_username").input(user)
        page.text_input(key="source_password").input("another-wrong-pw")
        page.button(key="source_test").click().run()
        assert not page.exception
        errors = one_liners(page)
        assert errors[-1].startswith("Cannot use this source:") and "Access denied" in errors[-1]
        assert "another-wrong-pw" not in "\n".join(messages(page))
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f"DROP USER '{user}'@'%'"))
        admin.dispose()


@pytest.fixture
def mapping_with_a_typo(tmp_path) -> Path:
    """A mapping of the small shop's tables whose users come from a table it does not have
    (a typo for users)."""
    path = tmp_path / "shop_mapping.toml"
    path.write_text(
        'name = "Our shop"\n\n[tables.orders]\nfrom = "orders"\n\n[tables.events]\nfrom = "events"\n\n'
        '[tables.users]\nfrom = "customers"\n'
    )
    return path


def test_test_connection_warns_about_a_mapped_table_the_source_lacks(mapping_with_a_typo, small_shop_db, tmp_path, monkeypatch):
    page = data_source_page({"shop": {"url": sqlite_url(small_shop_db)}}, tmp_path, monkeypatch)
    page.radio(key="source_kind").set_value("sqlite").run()
    page.text_input(key="source_path").input(str(small_shop_db))
    page.text_input(key="source_mapping").input(str(mapping_with_a_typo))
    page.button(key="source_test").click().run()
    assert not page.exception
    assert not page.success, [success.value for success in page.success]  # not "connected" without a word
    assert [warning.value for warning in page.warning] == [
        f"Connected to SQLite file {small_shop_db} (Our shop): events, orders.",
        text("data_source.not_found", "en", table="users", source="customers"),
    ]


def test_test_connection_of_the_complete_shop_succeeds(small_shop_db, tmp_path, monkeypatch):
    page = data_source_page({"shop": {"url": sqlite_url(small_shop_db)}}, tmp_path, monkeypatch)
    page.radio(key="source_kind").set_value("sqlite").run()
    page.text_input(key="source_path").input(str(small_shop_db))
    page.button(key="source_test").click().run()
    assert not page.warning and [success.value for success in page.success][-1].startswith("Connected to SQLite file")


@pytest.fixture
def database_users(server_shop):
    """(server, URL of the shop database, read-only URL, writable URL): two users made for the
    test in the server, one granted SELECT on every table, one also INSERT, UPDATE and DELETE
    on orders; dropped afterwards."""
    server, url = server_shop
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    suffix = uuid.uuid4().hex[:8]
    reader, writer, password = f"sa_ro_{suffix}", f"sa_rw_{suffix}", f"pw-{suffix}"
    database = url.database
    if server == "postgresql":
        setup = [
            *(f'CREATE ROLE "{name}" LOGIN' for name in (reader, writer)),
            *(f'GRANT CONNECT ON DATABASE "{database}" TO "{name}"' for name in (reader, writer)),
            *(f'GRANT USAGE ON SCHEMA public TO "{name}"' for name in (reader, writer)),
            *(f'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{name}"' for name in (reader, writer)),
            f'GRANT INSERT, UPDATE, DELETE ON orders TO "{writer}"',
        ]
        teardown = [f'DROP OWNED BY "{reader}", "{writer}"', f'DROP ROLE "{reader}"', f'DROP ROLE "{writer}"']
    else:
        setup = [
            *(f"CREATE USER '{name}'@'%' IDENTIFIED BY '{password}'" for name in (reader, writer)),
            *(f"GRANT SELECT ON `{database}`.* TO '{name}'@'%'" for name in (reader, writer)),
            f"GRANT INSERT, UPDATE, DELETE ON `{database}`.`orders` TO '{writer}'@'%'",
        ]
        teardown = [f"DROP USER '{reader}'@'%'", f"DROP USER '{writer}'@'%'"]
    with admin.connect() as connection:
        for statement in setup:
            connection.execute(sa.text(statement))
    try:
        yield server, url, url.set(username=reader, password=password), url.set(username=writer, password=password)
    finally:
        with admin.connect() as connection:
            for statement in teardown:
                connection.execute(sa.text(statement))
        admin.dispose()


def test_write_access_by_the_servers_own_account(database_users):
    server, admin_url, reader_url, writer_url = database_users
    reader = write_access(SqlSource(reader_url))
    assert reader.read_only and reader.beyond_reading == ()
    writer = write_access(SqlSource(writer_url))
    admin = write_access(SqlSource(admin_url))
    if server == "postgresql":
        assert writer.beyond_reading == ('INSERT, UPDATE, DELETE or TRUNCATE on "public"."orders"',)
        assert admin.beyond_reading == ("superuser",)
        assert writer.reader_grants[-2] == f'GRANT SELECT ON ALL TABLES IN SCHEMA "public" TO {READER};'
        assert f'GRANT CONNECT ON DATABASE "{admin_url.database}" TO {READER};' in writer.reader_grants
    else:
        assert writer.beyond_reading == (f"GRANT INSERT, UPDATE, DELETE ON `{admin_url.database}`.`orders` TO `{writer_url.username}`@`%`",)
        assert [line.startswith("GRANT ALL PRIVILEGES ON *.* TO `root`@") for line in admin.beyond_reading] == [True]
        assert writer.reader_grants[-1] == f"GRANT SELECT, SHOW VIEW ON `{admin_url.database}`.* TO '{READER}'@'%';"
        assert not any("PASSWORD" in line for line in (*writer.beyond_reading, *admin.beyond_reading))


def test_the_page_warns_about_a_user_that_can_write_with_the_grants_for_one_that_reads(database_users, tmp_path, monkeypatch):
    server, _, reader_url, writer_url = database_users
    st.cache_data.clear()
    writing = data_source_page({"shop": {"url": writer_url.render_as_string(hide_password=False)}}, tmp_path, monkeypatch)
    assert not writing.exception and not writing.error
    [warning] = [warning.value for warning in writing.warning if "can do more than read" in warning.value]
    assert warning.startswith(f"The database user {writer_url.username}") and "orders" in warning
    grants = write_access(SqlSource(writer_url)).reader_grants
    assert "```sql\n" + "\n".join(grants) + "\n```" in warning
    # Test connection says the same of the connection typed in the form
    writing.radio(key="source_kind").set_value("database").run()
    writing.selectbox(key="source_dialect").set_value("postgresql" if server == "postgresql" else "mysql")
    writing.text_input(key="source_host").input("127.0.0.1")
    writing.number_input(key="source_port").set_value(writer_url.port)
    writing.text_input(key="source_database").input(writer_url.database)
    writing.text_input(key="source_username").input(writer_url.username)
    writing.text_input(key="source_password").input(writer_url.password)
    writing.button(key="source_test").click().run()
    assert not writing.exception
    assert [w.value for w in writing.warning].count(warning) == 2, messages(writing)  # on the page and in the test's outcome
    reading = data_source_page({"shop": {"url": reader_url.render_as_string(hide_password=False)}}, tmp_path, monkeypatch)
    assert not reading.exception and not any("can do more than read" in w.value for w in reading.warning)
    assert any(
        s.value.startswith(f"The database user {reader_url.username}") and s.value.endswith("can only read: the dashboard cannot change the shop's data through it.")
        for s in reading.success
    )
