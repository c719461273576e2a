"""The Data sources page (AppTest): a Magento shop mapped by its preset shows its tables, what
it cannot give, a preview and the quality report's counts; a connection is tested and saved to
the secrets file, its password never shown."""

import tomllib
from pathlib import Path

import pytest
import sqlalchemy as sa
from platform_db import write_tables
from streamlit.testing.v1 import AppTest
from test_connectors import server_engine
from test_presets import fixture_tables

import shop_analytics.ui.sources
from connectors.sql import sqlite_url
from shop_analytics.ui.sources import ConnectionForm, connection_settings, save_connection

APP = str(Path(__file__).resolve().parents[1] / "app.py")


@pytest.fixture(scope="module")
def magento_db(tmp_path_factory):
    path = tmp_path_factory.mktemp("magento") / "magento.db"
    engine = sa.create_engine(f"sqlite:///{path}")
    write_tables(engine, fixture_tables("magento2"))
    engine.dispose()
    return path


@pytest.fixture
def page(magento_db, tmp_path, monkeypatch):
    monkeypatch.setattr(shop_analytics.ui.sources, "SECRETS_PATH", tmp_path / "secrets.toml")
    at = AppTest.from_file(APP, default_timeout=120)
    at.secrets["connections"] = {"shop": {"url": sqlite_url(magento_db), "preset": "magento2"}}
    at.run()
    return at.switch_page("pages/data_source.py").run()


def shown_text(at) -> str:
    elements = [*at.markdown, *at.caption, *at.success, *at.error, *at.warning, *at.info]
    return "\n".join(str(element.value) for element in elements)


def test_the_mapped_tables_and_what_the_preset_cannot_give(page):
    assert not page.exception
    summary = page.dataframe[0].value
    rows = dict(zip(summary["table"], summary["rows"]))
    assert {name: rows[name] for name in ("orders", "order_items", "users", "products", "reviews")} == {
        "orders": 4, "order_items": 4, "users": 2, "products": 3, "reviews": 2,
    }
    assert summary.set_index("table").loc["events", "missing"] == "table absent"
    assert "Magento stores no browsing events" in shown_text(page)


def test_a_preview_shows_the_first_mapped_rows(page):
    page.selectbox(key="preview_table").set_value("orders").run()
    preview = page.dataframe[1].value
    assert list(preview["order_id"]) == [1, 2, 3, 4]
    assert list(preview["status"]) == ["completed", "paid", "refunded", "cancelled"]
    assert list(preview["user_id"]) == ["ann@example.com", "guest@example.com", "bo@example.com", "ann@example.com"]


def test_the_quality_report_counts_the_fixtures_problems(page):
    page.toggle(key="quality_run").set_value(True).run()
    report = page.dataframe[-1].value
    found = {(row["table"], row["check"], row["column"]): row["count"] for row in report.to_dict("records")}
    # product 12 has no category; SQLite stores every time without a zone (read as UTC)
    assert found == {
        ("products", "nulls in a required column", "category"): 1,
        ("orders", "timestamps without a zone", "created_at"): 4,
        ("users", "timestamps without a zone", "signup_at"): 2,
        ("reviews", "timestamps without a zone", "created_at"): 2,
    }
    assert "2 kinds" not in shown_text(page) and "4 kinds of problem found" in shown_text(page)


def test_a_missing_folder_is_reported_not_saved(page, tmp_path):
    page.radio(key="source_kind").set_value("folder").run()
    page.text_input(key="source_path").input(str(tmp_path / "nowhere"))
    page.button(key="source_save").click().run()
    assert not page.exception
    assert "is not a folder of tables" in page.error[0].value
    assert not shop_analytics.ui.sources.SECRETS_PATH.exists()


def test_saving_a_database_connection_keeps_the_password_out_of_the_page(page):
    server_engine("postgresql")
    shop_analytics.ui.sources.SECRETS_PATH.write_text('[settings]\ntime_zone = "UTC"\n\n[connections.shop]\nurl = "sqlite:///old.db"\n')
    page.secrets["connections"]["shop"]["extract_ttl_minutes"] = 30  # the running app's secrets
    page.radio(key="source_kind").set_value("database").run()
    page.text_input(key="source_host").input("127.0.0.1")
    page.text_input(key="source_database").input("test")
    page.text_input(key="source_username").input("postgres")
    page.text_input(key="source_password").input('typed "secret" \\ 1')
    page.button(key="source_save").click().run()
    assert not page.exception
    saved = tomllib.loads(shop_analytics.ui.sources.SECRETS_PATH.read_text())
    assert saved["settings"] == {"time_zone": "UTC"}
    assert saved["connections"]["shop"] == {
        "dialect": "postgresql", "driver": "psycopg", "host": "127.0.0.1", "port": 5432, "database": "test",
        "username": "postgres", "password": 'typed "secret" \\ 1', "preset": "magento2", "extract_ttl_minutes": 30,
    }
    assert "Saved to .streamlit/secrets.toml; the dashboard now reads postgresql+psycopg://postgres:***@127.0.0.1:5432/test" in shown_text(page)
    assert "typed" not in shown_text(page)
    assert page.text_input(key="source_password").value == ""


def test_a_blank_password_keeps_the_saved_one_and_an_environment_variable_replaces_it():
    saved = {"dialect": "mysql", "host": "db", "password": "kept", "extract_folder": "/x"}
    form = ConnectionForm("database", dialect="mysql", host="db", database="shop", username="u", port=3306)
    assert connection_settings(form, saved) == {
        "dialect": "mysql", "driver": "pymysql", "host": "db", "port": 3306, "database": "shop", "username": "u",
        "password": "kept", "extract_folder": "/x",
    }
    assert "password" not in connection_settings(ConnectionForm("database", dialect="mysql", host="other"), saved)
    from_env = connection_settings(ConnectionForm("database", host="db", password_env="SHOP_PW", preset="magento2"), saved)
    assert from_env["password_env"] == "SHOP_PW" and "password" not in from_env and from_env["preset"] == "magento2"


def test_saving_the_sample_shop_removes_the_connection(tmp_path):
    path = tmp_path / "secrets.toml"
    path.write_text('[connections.shop]\nfolder = "/x"\n\n[settings]\ncurrency = "¥"\n')
    save_connection(connection_settings(ConnectionForm("sample"), {"folder": "/x"}), path)
    assert tomllib.loads(path.read_text()) == {"settings": {"currency": "¥"}}
    assert path.stat().st_mode & 0o077 == 0
