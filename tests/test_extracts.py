"""Extracts: read once into local Parquet, refreshed after their time-to-live (by their
changes where the source can say them: tests/test_incremental_refresh.py), never half-written,
served with their age when the source cannot be read."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest
from conftest import Clock, utc
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from connectors import FolderSource, SourceError, SqlSource, open_source
from connectors.extracts import (
    MANIFEST,
    ExtractSource,
    worth_extracting,
)
from connectors.schema import TABLES
from connectors.sql import sqlite_url

T0 = utc("2026-11-11 12:00")
EVENT_SCHEMA = {"user_id": pl.Int64, "event_time": pl.Datetime("us", "UTC"), "event_type": pl.String}


def events(rows) -> pl.DataFrame:
    """Events from (user_id, 'YYYY-MM-DD HH:MM[:SS]', event_type) rows."""
    return pl.DataFrame([(user, utc(time), kind) for user, time, kind in rows], schema=EVENT_SCHEMA, orient="row")


def orders(statuses) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "order_id": list(range(1, len(statuses) + 1)),
            "user_id": [1] * len(statuses),
            "created_at": [utc("2026-11-11 09:00")] * len(statuses),
            "amount": [100.0] * len(statuses),
            "status": statuses,
        }
    )


def canonical(name: str, frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` as a source hands it out (labels categorical)."""
    labels = [column for column, dtype in TABLES[name].columns.items() if dtype == pl.Categorical and column in frame.columns]
    return frame.with_columns(pl.col(labels).cast(pl.Categorical))


def in_order(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(pl.col(pl.Categorical).cast(pl.String)).sort(pl.all())


@pytest.fixture
def shop_folder(tmp_path):
    folder = tmp_path / "shop"
    folder.mkdir()
    events([(1, "2026-11-11 10:00", "page_view"), (1, "2026-11-11 10:05", "purchase"), (2, "2026-11-11 11:00", "page_view")]).write_parquet(folder / "events.parquet")
    orders(["paid", "pending"]).write_parquet(folder / "orders.parquet")
    return folder


def extract_of(folder: Path, extract: Path, clock: Clock, **options) -> ExtractSource:
    return ExtractSource(lambda: FolderSource(folder), folder=extract, clock=clock, **options)


def test_the_first_read_extracts_every_table_with_its_manifest(shop_folder, tmp_path):
    extract = extract_of(shop_folder, tmp_path / "extract", Clock(T0))
    assert extract.table_names() == {"events", "orders"}
    assert_frame_equal(extract.read_table("events"), FolderSource(shop_folder).read_table("events"))
    assert_frame_equal(extract.read_table("orders"), FolderSource(shop_folder).read_table("orders"))
    manifest = json.loads((tmp_path / "extract" / MANIFEST).read_text())
    assert manifest == {
        "generation": 1,
        "source": str(shop_folder),
        "refreshed_at": "2026-11-11T12:00:00+00:00",
        "tables": {
            "events": {"files": ["events.2026-11-09.1.parquet"], "refreshed_at": "2026-11-11T12:00:00+00:00", "full_refreshed_at": "2026-11-11T12:00:00+00:00", "rows": 3, "newest": "2026-11-11T11:00:00+00:00", "replaced_after": None, "updated_newest": None},
            "orders": {"files": ["orders.1.parquet"], "refreshed_at": "2026-11-11T12:00:00+00:00", "full_refreshed_at": "2026-11-11T12:00:00+00:00", "rows": 2, "newest": "2026-11-11T09:00:00+00:00", "replaced_after": None, "updated_newest": None},
        },
        "events_replaced": [[1, None]],
    }
    assert sorted(path.name for path in (tmp_path / "extract").iterdir()) == [".lock", "events.2026-11-09.1.parquet", MANIFEST, "orders.1.parquet"]


def test_a_read_pushes_the_columns_and_the_time_window_into_the_extract(shop_folder, tmp_path):
    extract = extract_of(shop_folder, tmp_path / "extract", Clock(T0))
    read = extract.read_table("events", columns=["user_id", "event_time"], since=utc("2026-11-11 10:00"))
    assert read.to_dicts() == [{"user_id": 1, "event_time": utc("2026-11-11 10:05")}, {"user_id": 2, "event_time": utc("2026-11-11 11:00")}]


def test_within_its_time_to_live_the_extract_is_served_as_it_was(shop_folder, tmp_path):
    clock = Clock(T0)
    extract = extract_of(shop_folder, tmp_path / "extract", clock, ttl=timedelta(minutes=60))
    assert extract.current().generation == 1
    orders(["shipped", "cancelled"]).write_parquet(shop_folder / "orders.parquet")
    clock.now = T0 + timedelta(minutes=59)
    assert extract.current().generation == 1
    assert extract.read_table("orders")["status"].cast(pl.String).to_list() == ["paid", "pending"]
    clock.now = T0 + timedelta(minutes=60)
    assert extract.current().generation == 2
    assert extract.read_table("orders")["status"].cast(pl.String).to_list() == ["shipped", "cancelled"]


def test_events_refresh_from_the_window_before_their_newest_and_orders_in_full(shop_folder, tmp_path):
    """A folder of files cannot say which rows changed: its events are read again for the
    window before their newest (here an hour), its other tables whole."""
    clock = Clock(T0)
    extract = extract_of(shop_folder, tmp_path / "extract", clock, window=timedelta(hours=1))
    extract.current()
    # newest extracted event: 11:00. The incremental read starts after 10:00.
    source_events = events([
        (1, "2026-11-11 10:00", "product_view"),  # edited in place at the cut: not read again
        (1, "2026-11-11 10:05", "purchase"),
        (2, "2026-11-11 11:00", "page_view"),
        (2, "2026-11-11 11:00", "add_to_cart"),  # same instant as the newest, written later
        (3, "2026-11-11 10:30", "page_view"),  # uploaded 30 minutes late
        (4, "2026-11-11 09:00", "page_view"),  # uploaded 2 hours late
        (3, "2026-11-11 12:30", "purchase"),  # new
    ])
    source_events.write_parquet(shop_folder / "events.parquet")
    orders(["shipped", "pending", "paid"]).write_parquet(shop_folder / "orders.parquet")
    manifest = extract.refresh()
    expected = events([
        (1, "2026-11-11 10:00", "page_view"),
        (1, "2026-11-11 10:05", "purchase"),
        (2, "2026-11-11 11:00", "page_view"),
        (2, "2026-11-11 11:00", "add_to_cart"),
        (3, "2026-11-11 10:30", "page_view"),
        (3, "2026-11-11 12:30", "purchase"),
    ])
    assert_frame_equal(in_order(extract.read_table("events")), in_order(canonical("events", expected)))
    assert (manifest.tables["events"].incremental, manifest.tables["events"].rows, manifest.tables["events"].newest) == (True, 6, utc("2026-11-11 12:30"))
    assert_frame_equal(extract.read_table("orders"), canonical("orders", orders(["shipped", "pending", "paid"])))
    assert manifest.tables["orders"].incremental is False
    extract.refresh(full=True)
    assert_frame_equal(in_order(extract.read_table("events")), in_order(canonical("events", source_events)))


def test_events_are_read_whole_again_a_day_after_their_last_full_read(shop_folder, tmp_path):
    clock = Clock(T0)
    extract = extract_of(shop_folder, tmp_path / "extract", clock, window=timedelta(hours=1))
    extract.current()
    edited = events([(1, "2026-11-11 08:00", "search"), (2, "2026-11-11 11:00", "page_view")])
    edited.write_parquet(shop_folder / "events.parquet")
    clock.now = T0 + timedelta(hours=23)
    assert extract.refresh().tables["events"].incremental
    # kept up to the cut (10:00), read again after it: the 08:00 event (edited in place) is not seen
    incremental = events([(1, "2026-11-11 10:00", "page_view"), (2, "2026-11-11 11:00", "page_view")])
    assert_frame_equal(in_order(extract.read_table("events")), in_order(canonical("events", incremental)))
    clock.now = T0 + timedelta(hours=24)
    manifest = extract.refresh()
    assert (manifest.tables["events"].incremental, manifest.tables["events"].full_refreshed_at) == (False, clock.now)
    assert_frame_equal(in_order(extract.read_table("events")), in_order(canonical("events", edited)))


minutes = st.integers(min_value=0, max_value=600)


@settings(max_examples=40, deadline=None)
@given(
    first=st.lists(st.tuples(st.integers(1, 4), minutes), min_size=1, max_size=30),
    appended=st.lists(st.lists(st.tuples(st.integers(1, 4), st.integers(-59, 120)), max_size=10), max_size=4),
)
def test_incremental_refreshes_equal_a_full_read_when_rows_arrive_within_the_window(first, appended):
    """Rows appended with a time later than the extract's newest minus its refresh window
    (here an hour: -59..+120 minutes around the newest) end up exactly as a full read has them."""
    with tempfile.TemporaryDirectory() as directory:
        folder, extract_folder = Path(directory) / "shop", Path(directory) / "extract"
        folder.mkdir()
        rows = [(user, T0 + timedelta(minutes=m), f"row{index}") for index, (user, m) in enumerate(first)]

        def write() -> None:
            pl.DataFrame(rows, schema=EVENT_SCHEMA, orient="row").write_parquet(folder / "events.parquet")

        write()
        extract = ExtractSource(lambda: FolderSource(folder), folder=extract_folder, window=timedelta(minutes=60))
        extract.current()
        for batch in appended:
            newest = max(time for _, time, _ in rows)
            rows.extend((user, newest + timedelta(minutes=m), f"row{len(rows) + index}") for index, (user, m) in enumerate(batch))
            write()
            extract.refresh()
            assert_frame_equal(in_order(extract.read_table("events")), in_order(FolderSource(folder).read_table("events")))


class DiskFull(OSError):
    pass


def half_writer(real_write, failure: type[BaseException]):
    """A write_parquet that writes half a real file for `events`, then raises `failure`."""

    def write(frame, path, *args, **kwargs):
        real_write(frame, path, *args, **kwargs)
        if "event_time" in frame.columns:
            data = Path(path).read_bytes()
            Path(path).write_bytes(data[: len(data) // 2])
            raise failure("stopped mid-write")

    return write


@pytest.mark.parametrize("failure", [DiskFull, KeyboardInterrupt])
def test_a_refresh_that_fails_mid_write_leaves_the_previous_extract(shop_folder, tmp_path, monkeypatch, failure):
    clock = Clock(T0)
    extract = extract_of(shop_folder, tmp_path / "extract", clock)
    before = extract.read_table("events")
    events([(9, "2026-11-11 13:00", "page_view")]).write_parquet(shop_folder / "events.parquet")
    orders(["refunded"]).write_parquet(shop_folder / "orders.parquet")
    write = half_writer(pl.DataFrame.write_parquet, failure)
    monkeypatch.setattr(pl.DataFrame, "write_parquet", write)
    with pytest.raises(SourceError if failure is DiskFull else KeyboardInterrupt):
        extract.refresh(full=True)
    monkeypatch.undo()
    reopened = extract_of(shop_folder, tmp_path / "extract", clock)
    assert reopened.current().generation == 1
    assert_frame_equal(reopened.read_table("events"), before)
    assert reopened.read_table("orders")["status"].cast(pl.String).to_list() == ["paid", "pending"]
    assert sorted(path.name for path in (tmp_path / "extract").iterdir()) == [".lock", "events.2026-11-09.1.parquet", MANIFEST, "orders.1.parquet"]


KILLED_REFRESH = """
import sys, time
from pathlib import Path
import polars as pl
sys.path.insert(0, {root!r})
from connectors import FolderSource
from connectors.extracts import ExtractSource

real_write = pl.DataFrame.write_parquet

def write(frame, path, *args, **kwargs):
    real_write(frame, path, *args, **kwargs)
    if "event_time" in frame.columns:
        data = Path(path).read_bytes()
        Path(path).write_bytes(data[: len(data) // 2])
        Path({signal!r}).touch()
        time.sleep(60)

pl.DataFrame.write_parquet = write
ExtractSource(lambda: FolderSource({folder!r}), folder={extract!r}).refresh(full=True)
"""


def test_a_refresh_killed_mid_write_leaves_the_previous_extract_and_its_debris_is_never_read(shop_folder, tmp_path):
    extract_folder = tmp_path / "extract"
    before = extract_of(shop_folder, extract_folder, Clock(T0)).read_table("events")
    events([(9, "2026-11-11 13:00", "page_view")]).write_parquet(shop_folder / "events.parquet")
    started = tmp_path / "half-written"
    script = KILLED_REFRESH.format(root=str(Path(__file__).resolve().parents[1]), signal=str(started), folder=str(shop_folder), extract=str(extract_folder))
    process = subprocess.Popen([sys.executable, "-c", script])
    try:
        for _ in range(600):
            if started.exists() or process.poll() is not None:
                break
            time.sleep(0.1)
        assert started.exists(), "the refresh did not reach the events file"
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    debris = [path.name for path in extract_folder.iterdir() if path.suffix == ".tmp"]
    assert len(debris) == 1  # the half-written events file, under its temporary name
    reopened = extract_of(shop_folder, extract_folder, Clock(T0))
    assert reopened.current().generation == 1
    assert_frame_equal(reopened.read_table("events"), before)
    reopened.refresh(full=True)
    assert not [path for path in extract_folder.iterdir() if path.suffix == ".tmp"]
    assert reopened.read_table("events")["user_id"].to_list() == [9]


@pytest.fixture
def sqlite_shop(tmp_path):
    path = tmp_path / "shop.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE orders (order_id INTEGER, user_id INTEGER, created_at TIMESTAMP, amount FLOAT, status TEXT)")
        connection.executemany("INSERT INTO orders VALUES (?, 1, '2026-11-11 09:00:00', 100.0, ?)", [(1, "paid"), (2, "pending")])
    return path


def test_an_unreachable_database_serves_the_last_extract_with_its_age_and_reason(sqlite_shop, tmp_path):
    clock = Clock(T0)
    extract = ExtractSource(lambda: SqlSource(sqlite_url(sqlite_shop)), folder=tmp_path / "extract", clock=clock)
    before = extract.read_table("orders")
    assert extract.stale is None
    sqlite_shop.rename(tmp_path / "away.db")
    clock.now = T0 + timedelta(hours=3)
    assert extract.current().generation == 1
    assert_frame_equal(extract.read_table("orders"), before)
    assert extract.stale.age(clock.now) == timedelta(hours=3)
    assert extract.stale.unreachable
    assert "unable to open database file" in extract.stale.reason
    # the database is back, but within a minute of the failure it is not asked again
    (tmp_path / "away.db").rename(sqlite_shop)
    clock.now += timedelta(seconds=59)
    assert extract.current().generation == 1 and extract.stale is not None
    clock.now += timedelta(seconds=1)
    assert extract.current().generation == 2 and extract.stale is None


def test_without_an_extract_an_unreachable_database_is_an_error(sqlite_shop, tmp_path):
    extract = ExtractSource(lambda: SqlSource(sqlite_url(sqlite_shop)), folder=tmp_path / "extract", clock=Clock(T0))
    sqlite_shop.unlink()
    with pytest.raises(SourceError, match="cannot read the database"):
        extract.table_names()
    assert extract.stale is None


def test_a_table_that_stops_fitting_is_reported_but_the_extract_is_kept(shop_folder, tmp_path):
    clock = Clock(T0)
    extract = extract_of(shop_folder, tmp_path / "extract", clock)
    extract.current()
    orders(["paid"]).drop("status").write_parquet(shop_folder / "orders.parquet")
    clock.now = T0 + timedelta(hours=2)
    extract.current()
    assert not extract.stale.unreachable
    assert "lacks the required column(s) status" in extract.stale.reason
    assert extract.read_table("orders").height == 2


def test_server_databases_are_worth_extracting_and_a_local_file_or_folder_is_not(sqlite_shop, shop_folder):
    assert worth_extracting(SqlSource("postgresql+psycopg://analyst@db.example.com/shop"))
    assert worth_extracting(SqlSource("mysql+pymysql://analyst@db.example.com/shop"))
    assert not worth_extracting(open_source(sqlite_shop))
    assert not worth_extracting(FolderSource(shop_folder))


def test_sessions_sharing_an_extract_refresh_it_once_when_it_falls_due(shop_folder, tmp_path):
    clock = Clock(T0)
    first, second = (extract_of(shop_folder, tmp_path / "extract", clock) for _ in range(2))
    assert first.current().generation == second.current().generation == 1
    clock.now = T0 + timedelta(hours=2)
    assert first.refresh_due() and second.refresh_due()
    assert first.current().generation == 2
    # the second was waiting for the lock while the first refreshed: nothing is left to do
    assert second.refresh(if_due=True).generation == 2
    assert second.current().generation == 2
    assert sorted(path.name for path in (tmp_path / "extract").glob("*.parquet")) == [
        "events.2026-11-09.1.parquet", "events.2026-11-09.2.parquet", "orders.1.parquet", "orders.2.parquet",
    ]
