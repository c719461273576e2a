"""A tracker's export read through an extract (issue 16): converted to canonical events once,
refreshed by its last days (GA4 rewrites a day's table for three days), loaded as canonical
Parquet. A refresh by changes gives the events of a full read of the export as it is then,
but for two things that join an event of the window to one before it, which the next full
refresh settles (connectors/extracts.py): a visitor's first sign-in, and a purchase repeated.

GA4 rows are written as BigQuery's JSON export writes them (INT64 as strings), with the
fields tests/fixtures/ga4/SOURCES.md cites from Google's export schema."""

import json
from datetime import date, timedelta
from pathlib import Path

import polars as pl
from conftest import Clock, utc
from polars.testing import assert_frame_equal

from connectors import CombinedSource, FolderSource, SqlSource
from connectors.extracts import ExtractSource, worth_extracting
from connectors.schema import TABLES
from connectors.trackers import TrackerSource
from connectors.trackers.writers import write_ga4
from metrics.kpis import daily_kpis
from sample_data.generator import generate_shop
from shop_analytics.config import config_from_mapping
from shop_analytics.loading import load_shop
from shop_analytics.opening import extract_for, open_shop

FIXTURES = Path(__file__).parent / "fixtures"
ORDER = ["event_time", "user_id", "event_type", "product_id", "page"]


def ga4_row(visitor: str, at: str, name: str, *, user_id: str | None = None, transaction: str | None = None,
            source: str = "google", medium: str = "organic") -> dict:
    """One event of GA4's BigQuery JSON export: the session is the visitor's day (its
    ga_session_id the day's first second, as GA4 stamps a session by its start)."""
    moment = utc(at)
    session = int(moment.replace(hour=0, minute=0, second=0).timestamp())
    return {
        "event_date": moment.strftime("%Y%m%d"),
        "event_timestamp": str(int(moment.timestamp() * 1_000_000)),
        "event_name": name,
        "event_params": [
            {"key": "ga_session_id", "value": {"int_value": str(session)}},
            {"key": "page_location", "value": {"string_value": "https://shop.example.com/checkout"}},
        ],
        "user_pseudo_id": visitor,
        "user_id": user_id,
        "platform": "WEB",
        "device": {"category": "desktop"},
        "ecommerce": {"transaction_id": transaction},
        "items": [{"item_id": "SKU-1", "quantity": "1"}] if name in ("view_item", "purchase") else [],
        "session_traffic_source_last_click": {"manual_campaign": {"source": source, "medium": medium}},
    }


def write_days(folder: Path, rows: list[dict]) -> None:
    """`rows` as daily tables `events_YYYYMMDD.jsonl`, each day's table written whole (GA4
    rewrites a day's table when late events arrive)."""
    folder.mkdir(parents=True, exist_ok=True)
    days: dict[str, list[dict]] = {}
    for row in rows:
        days.setdefault(row["event_date"], []).append(row)
    for day, day_rows in days.items():
        (folder / f"events_{day}.jsonl").write_text("".join(json.dumps(row) + "\n" for row in day_rows))


def extract_of(folder: Path, tmp_path: Path, clock: Clock) -> ExtractSource:
    return ExtractSource(lambda: TrackerSource(folder, preset="ga4"), folder=tmp_path / "extract", window=timedelta(hours=1), clock=clock)


def sorted_events(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(pl.col(name).cast(pl.String) for name in ("event_type", "page", "device", "channel")).sort(ORDER, nulls_last=True)


def test_a_trackers_export_and_a_shop_with_a_table_from_one_are_read_through_an_extract(tmp_path):
    tracker = TrackerSource(FIXTURES / "ga4", preset="ga4")
    sqlite = SqlSource(f"sqlite:///{tmp_path / 'shop.db'}")
    assert worth_extracting(tracker)
    assert worth_extracting(CombinedSource(sqlite, {"events": tracker}))
    assert not worth_extracting(CombinedSource(sqlite, {"events": FolderSource(FIXTURES / "ga4")}))
    # GA4 rewrites its last three days: a shorter configured window is widened to them
    assert ExtractSource(lambda: tracker, folder=tmp_path / "a", window=timedelta(hours=1)).window == timedelta(days=3)
    combined = CombinedSource(sqlite, {"events": tracker})
    assert ExtractSource(lambda: combined, folder=tmp_path / "b", window=timedelta(days=5)).window == timedelta(days=5)


def test_a_refresh_reads_the_last_three_days_again_and_gives_the_events_of_a_full_read(tmp_path):
    """Days 1-10 extracted; then day 10 is rewritten with a late event, days 11 and 12 arrive,
    and the purchase of day 9 is sent again from its reopened thank-you page on day 12. The
    refresh by changes reads the events after March 7 10:00 only, and its events are those of
    reading the export whole: the late event once, the repeated purchase left out."""
    export = tmp_path / "ga4"
    rows = [
        ga4_row(f"v{day % 4}", f"2026-03-{day:02d} 10:00", name)
        for day in range(1, 11) for name in ("page_view", "view_item")
    ] + [ga4_row("v2", "2026-03-09 10:05", "purchase", user_id="c2", transaction="T-2")]
    write_days(export, rows)
    clock = Clock(utc("2026-03-11 00:00"))
    extract = extract_of(export, tmp_path, clock)
    first = extract.current()
    assert first.tables["events"].rows == 21
    later = [
        ga4_row("v1", "2026-03-10 09:00", "view_item"),  # a day late
        ga4_row("v3", "2026-03-11 10:00", "page_view"),
        ga4_row("v0", "2026-03-12 10:00", "page_view"),
        ga4_row("v2", "2026-03-12 11:00", "purchase", user_id="c2", transaction="T-2"),  # again
    ]
    write_days(export, rows + later)
    clock.now = utc("2026-03-11 20:00")  # within a day of the full read
    refreshed = extract.current()
    events = refreshed.tables["events"]
    assert refreshed.generation == 2 and events.incremental
    assert events.replaced_after == utc("2026-03-07 10:00")  # the newest event first read, less three days
    direct = TrackerSource(export, preset="ga4").read_table("events")
    assert direct.height == 24 and events.rows == 24
    assert direct.filter(pl.col("event_type") == "purchase").height == 1
    assert_frame_equal(sorted_events(extract.read_table("events")), sorted_events(direct))


def test_a_first_sign_in_or_a_repeated_purchase_in_the_window_reach_older_events_at_the_next_full_refresh(tmp_path):
    """v5 browses anonymously on March 1 and signs in as c5 on March 12; v6's purchase T-6 of
    March 2 is sent again on March 12. The refresh by changes gives c5 the events it reads
    again (March 9 on) and counts the repeated purchase; the next full refresh, a day after
    the last one, stitches v5's event of March 1 and leaves the repeat out."""
    export = tmp_path / "ga4"
    rows = [
        ga4_row("v5", "2026-03-01 10:00", "page_view"),
        ga4_row("v6", "2026-03-02 10:00", "purchase", transaction="T-6"),
        ga4_row("v6", "2026-03-10 10:00", "page_view"),
    ]
    write_days(export, rows)
    clock = Clock(utc("2026-03-11 00:00"))
    extract = extract_of(export, tmp_path, clock)
    extract.current()
    write_days(export, [
        *rows,
        ga4_row("v5", "2026-03-12 10:00", "view_item", user_id="c5"),
        ga4_row("v6", "2026-03-12 11:00", "purchase", transaction="T-6"),
    ])
    clock.now = utc("2026-03-11 20:00")
    assert extract.current().tables["events"].incremental

    def events_shown() -> list[tuple[str, str, str]]:
        frame = extract.read_table("events").sort("event_time")
        return [
            (moment.strftime("%m-%d"), user, kind)
            for moment, user, kind in zip(frame["event_time"], frame["user_id"], frame["event_type"].cast(pl.String), strict=True)
        ]

    assert events_shown() == [
        ("03-01", "v5", "page_view"), ("03-02", "v6", "purchase"), ("03-10", "v6", "page_view"),
        ("03-12", "c5", "product_view"), ("03-12", "v6", "purchase"),
    ]
    clock.now = utc("2026-03-12 01:00")  # a day after the first, full, read
    assert not extract.current().tables["events"].incremental
    assert events_shown() == [
        ("03-01", "c5", "page_view"), ("03-02", "v6", "purchase"), ("03-10", "v6", "page_view"), ("03-12", "c5", "product_view"),
    ]


def test_a_configured_ga4_export_is_loaded_from_its_extract_with_the_numbers_of_a_direct_read(tmp_path):
    """A small sample shop's events as a GA4 export folder configured in
    `[connections.shop]`: the shop opens through an extract, whose load after a refresh by
    changes (the last five days written after the first read) has the same sessions,
    channels, daily KPIs and purchases as reading the whole export directly."""
    events = generate_shop(users=600, events=20_000, seed=5, start=date(2026, 9, 1), end=date(2026, 10, 31))["events"]
    newest = events["event_time"].max()
    export = tmp_path / "ga4"
    write_ga4(events.filter(pl.col("event_time") <= newest - timedelta(days=5)), export)
    config = config_from_mapping({
        "connections": {"shop": {"folder": str(export), "preset": "ga4", "extract_folder": str(tmp_path / "extract")}},
        "settings": {"time_zone": "UTC"},
    })
    extract = extract_for(config)
    assert extract is not None
    first = open_shop(config)
    write_ga4(events, export)
    extract.refresh()
    assert extract.manifest().tables["events"].incremental
    through_extract = open_shop(config)
    direct = load_shop(TrackerSource(export, preset="ga4"), tz="UTC")
    assert first.events.height < through_extract.events.height == direct.events.height
    assert through_extract.sessions.height == direct.sessions.height
    start, end = direct.date_span("UTC")
    no_orders = pl.DataFrame(schema={column: dtype or pl.String for column, dtype in TABLES["orders"].columns.items()})
    no_users = pl.DataFrame(schema={column: dtype or pl.String for column, dtype in TABLES["users"].columns.items()})

    def shown(shop) -> dict[str, pl.DataFrame]:
        return {
            "kpis": daily_kpis(shop.events, shop.sessions, no_orders, no_users, start=start, end=end, tz="UTC"),
            "channels": shop.sessions.group_by(pl.col("channel").cast(pl.String)).len().sort("channel"),
            "purchases": shop.events.filter(pl.col("event_type") == "purchase").select("user_id", "event_time").sort("event_time", "user_id"),
        }

    for name, expected in shown(direct).items():
        assert_frame_equal(shown(through_extract)[name], expected, check_dtypes=False)
