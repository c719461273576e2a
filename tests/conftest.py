"""Shared test helpers: UTC timestamps and canonical frames from literal rows."""

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def utc(text: str) -> datetime:
    """A UTC-aware datetime from 'YYYY-MM-DD HH:MM[:SS]'."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


UTC_TIME = pl.Datetime("us", "UTC")


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def age_manifest(folder: Path, by: timedelta) -> None:
    """Make the extract in `folder` older by `by`, as if that long had passed since its refresh."""
    from connectors.extracts import MANIFEST

    path = folder / MANIFEST
    manifest = json.loads(path.read_text())
    manifest["refreshed_at"] = (datetime.fromisoformat(manifest["refreshed_at"]) - by).isoformat()
    path.write_text(json.dumps(manifest))


def events_frame(rows) -> pl.DataFrame:
    """Events from (user_id, 'YYYY-MM-DD HH:MM') rows."""
    return pl.DataFrame(
        {"user_id": [row[0] for row in rows], "event_time": [utc(row[1]) for row in rows]},
        schema={"user_id": pl.Int64, "event_time": UTC_TIME},
    )


def users_frame(rows) -> pl.DataFrame:
    """Users from (user_id, 'YYYY-MM-DD HH:MM' signup) rows."""
    return pl.DataFrame(
        {"user_id": [row[0] for row in rows], "signup_at": [utc(row[1]) for row in rows]},
        schema={"user_id": pl.Int64, "signup_at": UTC_TIME},
    )


SMALL_SHOP = {"users": 1_500, "events": 60_000, "seed": 3}


@pytest.fixture(autouse=True)
def extracts_in_the_tests_folder(tmp_path_factory, monkeypatch):
    """A test's extracts (of a tracker's export or a database configured without
    `extract_folder`) go to a folder of the test run's, not to the checkout's .extracts/."""
    import connectors.extracts

    monkeypatch.setattr(connectors.extracts, "EXTRACTS_ROOT", tmp_path_factory.getbasetemp() / "extracts")


@pytest.fixture(scope="session")
def small_shop_db(tmp_path_factory) -> Path:
    """A small generated sample shop in a SQLite file, made once per test run."""
    from sample_data.generator import generate_shop
    from sample_data.sqlite_store import write_sqlite

    path = tmp_path_factory.mktemp("shop") / "shop.db"
    write_sqlite(generate_shop(**SMALL_SHOP), path)
    return path


@pytest.fixture(scope="session")
def small_shop(small_shop_db):
    """The small sample shop loaded as the app loads it."""
    from connectors import open_source
    from shop_analytics.loading import load_shop

    return load_shop(open_source(small_shop_db))


def app_on_page(db: Path, page: str, lang: str):
    """The app on the SQLite shop `db` in a deployment whose language is `lang`, switched to
    `page` (a file stem of pages/) and run, without an exception."""
    from streamlit.testing.v1 import AppTest

    from connectors.sql import sqlite_url

    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "app.py"), default_timeout=120)
    at.secrets["connections"] = {"shop": {"url": sqlite_url(db)}}
    at.secrets["settings"] = {"language": lang}
    at.switch_page(f"pages/{page}.py").run()
    assert not at.exception
    return at


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """When a test with a browser page fails, the page as it was (a screenshot and its HTML)
    is kept beside the test's temporary files and named in the report: a browser test that
    times out says nothing else about what the page showed."""
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    pages = [value for value in getattr(item, "funcargs", {}).values() if type(value).__name__ == "Page"]
    if not pages:
        return
    folder = Path(item.config._tmp_path_factory.mktemp("failed-page"))
    for number, page in enumerate(pages):
        try:
            page.screenshot(path=str(folder / f"page{number}.png"), full_page=True, timeout=10_000)
            (folder / f"page{number}.html").write_text(page.content())
        except Exception as error:  # the page itself may be what broke; the report stays as it is
            (folder / f"page{number}.error.txt").write_text(repr(error))
    report.sections.append(("browser page", f"kept in {folder} (screenshot and HTML; the served app's log is server.log in its app folder)"))
