"""Tracker exports read as canonical events: the four fixtures of tests/fixtures/<tracker>/,
each written to its tracker's documented schema (SOURCES.md cites every column), tell the
same story, so one set of numbers worked out by hand holds for all of them; GA4's is also
checked against DuckDB SQL over the raw export and read from PostgreSQL.

The story (tests/fixtures/ga4/SOURCES.md), business zone Asia/Shanghai (UTC+8):

| session | user | starts (UTC) | local day | channel | device | canonical events |
| --- | --- | --- | --- | --- | --- | --- |
| s1 | A = C-100 | 03-01 02:00 | 03-01 | paid_search | desktop | 12: page, search "Red Shoes", 3 impressions, click, view SKU-2, 2 carts, checkout, purchase T-900, one unmapped event (the reloaded purchase T-900 is left out) |
| s2 | B | 03-01 04:00 | 03-01 | organic | mobile_web | 2: page, search "hoodie" |
| s3 | B | 03-01 10:30 | 03-01 | direct | mobile_web | 1: page (a bounce) |
| s4 | A | 03-01 17:30 | 03-02 | email | desktop | 2: page, view SKU-1 |
| s5 | B | 03-02 01:00 | 03-02 | social | mobile_web | 5: page, impression, click, view SKU-3, cart SKU-3 |
| s6 | A | 03-02 05:00 | 03-02 | direct | app | 4: screen, search "red shoes ", checkout, purchase T-901 |
| s7 | B | 03-03 01:00 | 03-03 | email | desktop | 3: page, page, view SKU-1 |

So, by local day 03-01 / 03-02 / 03-03: sessions 3 / 3 / 1, active users 2 / 2 / 1 (A
and B; B), bounced sessions 1 / 0 / 0 (s3), sessions with a purchase 1 / 1 / 0 (s1, s6).
Funnel product_view -> add_to_cart -> purchase: A reaches all three (s1), B two (s5):
2, 2, 1 users. Channels: paid_search 1, organic 1, direct 2, email 2, social 1 sessions.
Search terms: "red shoes" 2 searches in 2 sessions, both bought; "hoodie" 1, not bought.
Purchases after deduplication: 2 (T-900, T-901). Events: 29.
"""

import json
import re
import shutil
from datetime import date, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pytest
import sqlalchemy as sa
from conftest import utc
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal
from sqlalchemy.dialects.postgresql import JSONB
from test_connectors import server_engine

from connectors import SourceError, open_source
from connectors.schema import TABLES
from connectors.trackers import TrackerSource, ga4, load_tracker_mapping, tracker_preset_names
from connectors.trackers.common import channel_of, device_of, session_channels, url_path, user_agent_category
from metrics.channels import channel_table
from metrics.funnel import funnel
from metrics.funnel_spec import FunnelSpec
from metrics.kpis import daily_kpis
from metrics.search import top_search_terms
from shop_analytics.loading import load_shop

FIXTURES = Path(__file__).parent / "fixtures"
TZ = "Asia/Shanghai"
START, END = date(2026, 3, 1), date(2026, 3, 3)
TRACKERS = ["ga4", "snowplow", "segment", "posthog"]
# each tracker's visitor id of B, who never signs in, and of A before signing in
VISITOR_B = {
    "ga4": "2222222222.1772337600",
    "snowplow": "3338ca302fa1531f8243b75ef4701ac25ed74bd40ec1969279166460f0abcb77",
    "segment": "b1f7a0d2-8c4e-4a55-9a63-2f3a9c1e0b22",
    "posthog": "018e0a70-1b2c-7e3d-8f4a-5b6c7d8e9f0b",
}
VISITOR_A = {
    "ga4": "1111111111.1772330400",
    "snowplow": "5d27ff97148de9e5f1c23e8fd0a4382c06852969f6495def03c66599e676f449",
    "segment": "3e6d6c3c-5a0e-4f0c-9b39-0d7d3e5c7a11",
    "posthog": "018e0a6f-6c2a-7d6b-9c1e-3f0a5b6c7d8a",
}
UNMAPPED = {"ga4": "scroll", "snowplow": "link_click", "segment": "Coupon Applied", "posthog": "$autocapture"}


def empty(name: str) -> pl.DataFrame:
    """The canonical table `name` with no rows (what a tracker-only shop lacks)."""
    return pl.DataFrame(schema={column: dtype or pl.String for column, dtype in TABLES[name].columns.items()})


@pytest.fixture(scope="module", params=TRACKERS)
def tracker(request):
    source = open_source(FIXTURES / request.param, preset=request.param)
    return request.param, source, load_shop(source, tz=TZ)


def test_daily_kpis_of_every_tracker_are_the_hand_computed_ones(tracker):
    _, _, shop = tracker
    users = shop.tables.get("users", empty("users"))
    table = daily_kpis(shop.events, shop.sessions, empty("orders"), users, start=START, end=END, tz=TZ)
    expected = pl.DataFrame({
        "date": [date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3)],
        "dau": [2, 2, 1],
        "sessions": [3, 3, 1],
        "bounce_rate": [1 / 3, 0.0, 0.0],
        "session_conversion": [1 / 3, 1 / 3, 0.0],
    })
    assert_frame_equal(table.select(expected.columns), expected, check_dtypes=False)


def test_funnel_channels_search_terms_and_purchases_of_every_tracker(tracker):
    name, source, shop = tracker
    steps = funnel(shop.events, FunnelSpec(("product_view", "add_to_cart", "purchase")), start=START, end=END, tz=TZ)
    assert steps["users"].to_list() == [2, 2, 1]

    channels = channel_table(shop.events, shop.sessions, empty("orders"), empty("users"), None, start=START, end=END, tz=TZ)
    assert dict(channels.select("channel", "sessions").iter_rows()) == {
        "paid_search": 1, "organic": 1, "direct": 2, "email": 2, "social": 1,
    }

    terms = top_search_terms(shop.events, start=START, end=END, tz=TZ)
    assert terms.select("term", "searches", "sessions", "converted_sessions").rows() == [
        ("red shoes", 2, 2, 2),
        ("hoodie", 1, 1, 0),
    ]

    events = shop.events
    assert events.height == 29
    assert events.filter(pl.col("event_type") == "purchase").sort("event_time")["product_id"].to_list() == ["SKU-2", "SKU-1"]
    assert events.filter(pl.col("event_type") == "add_to_cart").sort("event_time", "product_id")["product_id"].to_list() == ["SKU-2", "SKU-3", "SKU-3"]
    assert events.filter(pl.col("event_type") == "product_impression").height == 4
    assert events.filter(pl.col("event_type") == UNMAPPED[name]).height == 1
    assert "1 purchase event(s) repeating an earlier one's transaction id" in source.problems["events"]
    assert f"{UNMAPPED[name]} (1)" in source.problems["events"]


def test_sessions_devices_and_users_of_every_tracker(tracker):
    name, source, shop = tracker
    sessions = shop.sessions.sort("started_at").select("user_id", "channel", "device", "event_count", "has_purchase")
    a, b = "C-100", VISITOR_B[name]
    assert sessions.rows() == [
        (a, "paid_search", "desktop", 12, True),
        (b, "organic", "mobile_web", 2, False),
        (b, "direct", "mobile_web", 1, False),
        (a, "email", "desktop", 2, False),
        (b, "social", "mobile_web", 5, False),
        (a, "direct", "app", 4, True),
        (b, "email", "desktop", 3, False),
    ]
    # A's events before signing in are A's too; B stays an anonymous visitor, and the pair
    # that joins the tracker to the shop's customers is kept
    assert source.identities().rows() == [(VISITOR_A[name], "C-100")]


def test_segment_users_come_from_identify_calls_with_the_created_at_trait():
    source = open_source(FIXTURES / "segment", preset="segment")
    assert source.table_names() == {"events", "users"}
    assert source.read_table("users").rows() == [("C-100", utc("2025-12-24 08:00"))]


def test_rudderstack_sessions_are_its_session_ids_paired_with_the_visitor(tmp_path):
    """RudderStack's warehouse tables are Segment's plus context_session_id, the session's
    start in milliseconds (rudderstack.com/docs/sources/event-streams/sdks/session-tracking/faq);
    B's two visits on 03-01 are given one session id, which the gap rule would have split,
    and A's s1 and B's s2 are given the same number, which the visitor tells apart."""
    session_of = {
        VISITOR_A["segment"]: lambda t: "1772330400000" if t < "2026-03-01T12" else ("1772386200000" if t < "2026-03-02T02" else "1772427600000"),
        VISITOR_B["segment"]: lambda t: "1772330400000" if t < "2026-03-01T12" else ("1772413200000" if t < "2026-03-03" else "1772499600000"),
    }
    for path in (FIXTURES / "segment").glob("*.csv"):
        frame = pl.read_csv(path, infer_schema=False)
        if "timestamp" in frame.columns and path.stem != "identifies":
            frame = frame.with_columns(
                context_session_id=pl.struct("anonymous_id", "timestamp").map_elements(
                    lambda row: session_of[row["anonymous_id"]](row["timestamp"]), return_dtype=pl.String
                )
            )
        frame.write_csv(tmp_path / path.name)
    shop = load_shop(open_source(tmp_path, preset="rudderstack"), tz=TZ)
    assert shop.sessions.height == 6
    table = daily_kpis(shop.events, shop.sessions, empty("orders"), shop.users, start=START, end=END, tz=TZ)
    assert table["sessions"].to_list() == [2, 3, 1]
    assert table["bounce_rate"].to_list() == [0.0, 0.0, 0.0]


# -- GA4 against SQL over the raw export, and from a database ------------------------------


def test_ga4_numbers_equal_duckdb_sql_over_the_raw_export():
    """Google's rules written as SQL: daily tables, intraday ones for days without a daily
    table, sessions (user_pseudo_id, ga_session_id) on the business day of their first
    event_timestamp, purchases once per transaction_id."""
    folder = FIXTURES / "ga4"
    sql = f"""
        WITH raw AS (
            SELECT *, regexp_extract(filename, 'events_(intraday_)?(\\d{{8}})', 2) AS day,
                   filename LIKE '%intraday%' AS intraday
            FROM read_json('{folder}/events_*.jsonl', filename = true, format = 'newline_delimited',
                           columns = {{event_timestamp: 'VARCHAR', event_name: 'VARCHAR', user_pseudo_id: 'VARCHAR',
                                      user_id: 'VARCHAR', event_params: 'STRUCT(key VARCHAR, value STRUCT(string_value VARCHAR, int_value VARCHAR))[]',
                                      ecommerce: 'STRUCT(transaction_id VARCHAR)'}})
        ), chosen AS (
            SELECT * FROM raw
            WHERE NOT intraday OR day NOT IN (SELECT day FROM raw WHERE NOT intraday)
        ), events AS (
            SELECT user_pseudo_id, event_name, ecommerce.transaction_id AS transaction_id,
                   make_timestamp(CAST(event_timestamp AS BIGINT)) AS stamped,
                   (list_filter(event_params, lambda p: p.key = 'ga_session_id'))[1].value.int_value AS ga_session_id
            FROM chosen WHERE user_pseudo_id IS NOT NULL
        ), sessions AS (
            SELECT user_pseudo_id, ga_session_id, CAST(timezone('{TZ}', min(stamped)::TIMESTAMPTZ) AS DATE) AS day
            FROM events GROUP BY ALL
        )
        SELECT day, count(*) AS sessions FROM sessions GROUP BY day ORDER BY day
    """
    with duckdb.connect() as connection:
        connection.execute("SET TimeZone = 'UTC'")
        oracle = connection.sql(sql).pl()
        purchases = connection.execute(f"""
            SELECT count(DISTINCT ecommerce.transaction_id) FROM read_json('{folder}/events_2*.jsonl',
                columns = {{event_name: 'VARCHAR', ecommerce: 'STRUCT(transaction_id VARCHAR)'}})
            WHERE event_name = 'purchase'""").fetchone()[0]
    shop = load_shop(open_source(folder, preset="ga4"), tz=TZ)
    ours = daily_kpis(shop.events, shop.sessions, empty("orders"), empty("users"), start=START, end=END, tz=TZ)
    assert oracle["sessions"].to_list() == ours["sessions"].to_list() == [3, 3, 1]
    assert oracle["day"].to_list() == ours["date"].to_list()
    assert purchases == shop.events.filter(pl.col("event_type") == "purchase").height == 2


NESTED = ("event_params", "items", "device", "ecommerce", "traffic_source", "collected_traffic_source",
          "session_traffic_source_last_click")


def ga4_rows(path: Path) -> list[dict]:
    """A GA4 JSON lines table as rows for a database: nested records for JSONB columns."""
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    return [
        {
            "event_date": row["event_date"], "event_timestamp": int(row["event_timestamp"]), "event_name": row["event_name"],
            "user_pseudo_id": row["user_pseudo_id"], "user_id": row.get("user_id"), "platform": row["platform"],
            **{name: row.get(name) for name in NESTED},
        }
        for row in rows
    ]


def test_ga4_tables_in_postgresql_read_as_the_export_folder():
    engine = server_engine("postgresql")
    metadata = sa.MetaData()
    names = []
    for path in sorted((FIXTURES / "ga4").glob("*.jsonl")):
        rows = ga4_rows(path)
        table = sa.Table(path.stem, metadata, *[
            sa.Column(column, sa.BigInteger if column == "event_timestamp" else (JSONB if column in NESTED else sa.Text))
            for column in rows[0]
        ])
        names.append((table, rows))
    metadata.drop_all(engine)
    metadata.create_all(engine)
    try:
        with engine.begin() as connection:
            for table, rows in names:
                connection.execute(table.insert(), rows)
        database = TrackerSource(engine.url.render_as_string(hide_password=False), preset="ga4")
        folder = TrackerSource(FIXTURES / "ga4", preset="ga4")
        ordered = ["event_time", "event_type", "product_id"]
        assert_frame_equal(
            database.read_table("events").drop("session_id").sort(ordered),
            folder.read_table("events").drop("session_id").sort(ordered),
        )
        assert database.problems == folder.problems
    finally:
        metadata.drop_all(engine)


# -- GA4's day tables: intraday beside daily, and the three-day rewrite --------------------


def test_an_intraday_table_beside_its_days_daily_table_is_not_read_twice(tmp_path):
    shutil.copytree(FIXTURES / "ga4", tmp_path / "ga4")
    with_both = TrackerSource(tmp_path / "ga4", preset="ga4").read_table("events")
    (tmp_path / "ga4" / "events_intraday_20260302.jsonl").unlink()
    assert_frame_equal(TrackerSource(tmp_path / "ga4", preset="ga4").read_table("events"), with_both)


def test_a_refresh_of_the_last_three_days_reads_gas_rewrite_of_them(tmp_path):
    """GA4 rewrites a day's table with events arriving up to three days late; reading the
    last three days again (the source's refresh_overlap) gets them, each once, and the
    events before are those of the first read."""
    folder = tmp_path / "ga4"
    shutil.copytree(FIXTURES / "ga4", folder)
    source = TrackerSource(folder, preset="ga4")
    first = source.read_table("events")
    newest = first["event_time"].max()
    # a phone that was offline sends B's view of SKU-2 at 03-02 01:30 UTC a day late:
    # GA4 rewrites events_20260302 with it
    late = json.loads((folder / "events_20260302.jsonl").read_text().splitlines()[0])
    late.update(event_name="view_item", event_timestamp=str(int(utc("2026-03-02 01:30").timestamp() * 1e6)),
                items=[{"item_id": "SKU-2", "quantity": "1"}])
    with (folder / "events_20260302.jsonl").open("a") as file:
        file.write(json.dumps(late) + "\n")
    since = newest - source.refresh_overlap
    refreshed = source.read_table("events", since=since)
    kept = first.filter(pl.col("event_time") <= since)
    merged = pl.concat([kept, refreshed]).sort("event_time", "event_type", "product_id")
    assert merged.height == first.height + 1
    assert merged.filter((pl.col("event_type") == "product_view") & (pl.col("product_id") == "SKU-2")).height == 2
    assert_frame_equal(merged.drop("session_id"), source.read_table("events").drop("session_id").sort("event_time", "event_type", "product_id"))


def test_a_window_pushed_into_the_read_keeps_the_events_between_its_bounds():
    source = TrackerSource(FIXTURES / "ga4", preset="ga4")
    everything = source.read_table("events")
    since, until = utc("2026-03-01 17:30"), utc("2026-03-02 05:00")
    window = source.read_table("events", since=since, until=until, columns=["user_id", "event_time", "event_type"])
    expected = everything.filter((pl.col("event_time") > since) & (pl.col("event_time") < until)).select(window.columns)
    assert window.height == 6  # s4's view, s5's five events
    assert_frame_equal(window.sort("event_time", "event_type"), expected.sort("event_time", "event_type"))


# -- bad exports: the file, the column and the rows, and nothing loaded --------------------


def copy_of(tracker: str, tmp_path: Path) -> Path:
    shutil.copytree(FIXTURES / tracker, tmp_path / tracker)
    return tmp_path / tracker


def rewrite_jsonl(path: Path, change) -> None:
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    path.write_text("".join(json.dumps(change(number, row)) + "\n" for number, row in enumerate(lines, 1)))


def assert_nothing_loaded(folder: Path, preset: str, message: str) -> None:
    source = open_source(folder, preset=preset)
    with pytest.raises(SourceError, match=message):
        load_shop(source, tz=TZ)
    assert "events" not in source.problems


def test_a_timestamp_in_milliseconds_is_named_with_its_file_column_and_rows(tmp_path):
    folder = copy_of("ga4", tmp_path)
    path = folder / "events_20260302.jsonl"

    def in_milliseconds(number, row):
        if number in (2, 3):
            row["event_timestamp"] = str(int(row["event_timestamp"]) // 1000)
        return row

    rewrite_jsonl(path, in_milliseconds)
    assert_nothing_loaded(
        folder, "ga4",
        rf"{path}: column 'event_timestamp': 2 value\(s\) fall outside 2000-2200: they are not microseconds since 1970, UTC, in rows 2, 3",
    )


def test_a_missing_time_column_is_named_with_its_file_and_rows(tmp_path):
    folder = copy_of("ga4", tmp_path)
    path = folder / "events_intraday_20260303.jsonl"
    rewrite_jsonl(path, lambda number, row: {key: value for key, value in row.items() if key != "event_timestamp"})
    # row 1 is session_start, which the preset leaves out unread
    assert_nothing_loaded(
        folder, "ga4",
        rf"{path}: column 'event_timestamp': 3 value\(s\) cannot be read as a time \(microseconds since 1970, UTC\), in rows 2, 3, 4",
    )


def test_a_missing_column_of_a_table_is_named(tmp_path):
    folder = copy_of("segment", tmp_path)
    pl.read_csv(folder / "pages.csv", infer_schema=False).drop("timestamp").write_csv(folder / "pages.csv")
    assert_nothing_loaded(folder, "segment", rf"{folder / 'pages.csv'}: lacks the column\(s\) timestamp of a Segment warehouse table")


def test_a_json_column_that_is_not_json_is_named_with_its_rows(tmp_path):
    folder = copy_of("posthog", tmp_path)
    path = folder / "events.jsonl"

    def broken(number, row):
        if number == 5:
            row["properties"] = row["properties"][:40]  # cut off, as a truncated export line would be
        return row

    rewrite_jsonl(path, broken)
    assert_nothing_loaded(folder, "posthog", rf"{path}: column 'properties': 1 value\(s\) are not a JSON object, in row 5 ")


def test_a_json_lines_file_cut_mid_line_is_named_with_its_line(tmp_path):
    """A copy of a day's table that stopped mid-line (a full disk, a transfer cut short)."""
    folder = copy_of("ga4", tmp_path)
    path = folder / "events_20260302.jsonl"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:6]) + "\n" + lines[6][:50] + "\n")
    assert_nothing_loaded(folder, "ga4", rf"{path}: line 7 is not a JSON object \(it begins '\{{\"event_date\"")


def test_a_snowplow_context_that_is_not_a_json_array_is_named(tmp_path):
    folder = copy_of("snowplow", tmp_path)
    events = pl.read_csv(folder / "events.csv", infer_schema=False)
    column = "contexts_com_snowplowanalytics_snowplow_ecommerce_product_1_0_0"
    events = events.with_columns(pl.when(pl.int_range(pl.len()) == 6).then(pl.lit('{"id": "SKU-1"}')).otherwise(pl.col(column)).alias(column))
    events.write_csv(folder / "events.csv")
    assert_nothing_loaded(folder, "snowplow", rf"column '{column}': 1 value\(s\) are not a JSON array, in row 7 ")


def test_an_event_without_a_name_is_named(tmp_path):
    folder = copy_of("ga4", tmp_path)
    path = folder / "events_20260301.jsonl"
    rewrite_jsonl(path, lambda number, row: {**row, "event_name": None} if number == 4 else row)
    assert_nothing_loaded(folder, "ga4", rf"{path}: column 'event name': 1 value\(s\) are missing: an event needs its name, in row 4")


def test_unknown_event_names_are_kept_by_default_and_refused_when_the_mapping_says_so(tmp_path):
    mapping = tmp_path / "my_ga4.toml"
    preset = (Path(__file__).parents[1] / "connectors" / "trackers" / "presets" / "ga4.toml").read_text()
    mapping.write_text(preset.replace('unknown_events = "keep"', 'unknown_events = "refuse"'))
    source = open_source(FIXTURES / "ga4", mapping=mapping)
    with pytest.raises(SourceError, match=r"events_20260301.jsonl: column 'event name': 1 value\(s\) are not in the preset .*my_ga4.toml.* \(for example 'scroll'\)"):
        source.read_table("events")
    # the user maps the name and the read goes through
    mapping.write_text(mapping.read_text() + 'scroll = ""\n')
    events = open_source(FIXTURES / "ga4", mapping=mapping).read_table("events")
    assert events.height == 28 and "scroll" not in events["event_type"].cast(pl.String).to_list()


# -- presets and the shared rules ----------------------------------------------------------


def test_every_tracker_has_a_preset_and_bad_mappings_say_what_is_wrong(tmp_path):
    assert set(tracker_preset_names()) == {"ga4", "snowplow", "segment", "rudderstack", "posthog"}
    bad = tmp_path / "bad.toml"
    bad.write_text('tracker = "matomo"\n[event_types]\n')
    with pytest.raises(SourceError, match="tracker is one of ga4, snowplow, segment, rudderstack, posthog, not 'matomo'"):
        load_tracker_mapping(bad)
    bad.write_text('tracker = "ga4"\n[event_types]\nview_item = "Product View"\n')
    with pytest.raises(SourceError, match="an event type is lower-case letters"):
        load_tracker_mapping(bad)
    with pytest.raises(SourceError, match="there is no tracker preset 'matomo'"):
        TrackerSource(FIXTURES / "ga4", preset="matomo")


CHANNEL_CASES = [
    # source, medium, click id, referrer host -> channel
    ("google", "cpc", False, None, "paid_search"),
    ("baidu", "PPC", False, None, "paid_search"),
    ("(direct)", "(none)", False, None, "direct"),
    (None, None, True, None, "paid_search"),  # an ad click id without a campaign
    ("google", "organic", False, None, "organic"),
    ("l.facebook.com", "referral", False, None, "social"),  # a social site as source
    ("weibo", "cpc", False, None, "social"),  # paid social is social
    ("newsletter", "email", False, None, "email"),
    ("partner", "affiliate", False, None, "affiliate"),
    ("blog.example.org", "referral", False, None, "referral"),
    ("tv", "Display", False, None, "display"),  # another medium is its own channel
    ("partner-site", None, False, None, "referral"),
    (None, None, False, "www.google.com.hk", "organic"),
    (None, None, False, "m.facebook.com", "social"),
    (None, None, False, "forum.example.net", "referral"),
    (None, None, False, None, None),  # says nothing: the session's other events decide
]


def test_channel_of_a_source_medium_click_and_referrer():
    frame = pl.DataFrame(CHANNEL_CASES, schema=["source", "medium", "click", "referrer", "expected"], orient="row")
    got = frame.select(channel_of(pl.col("source"), pl.col("medium"), click_id=pl.col("click"), referrer_host=pl.col("referrer")))
    assert got.to_series().to_list() == frame["expected"].to_list()


def test_a_session_takes_the_attribution_of_its_earliest_event_that_has_one():
    """Rows out of time order; in session 1 two events at the earliest instant with an
    attribution, the first row of them counts; session 2 says nothing: direct."""
    events = pl.DataFrame(
        [
            (1, utc("2026-03-01 10:05"), "email", "p1"),
            (1, utc("2026-03-01 10:01"), None, "p2"),
            (1, utc("2026-03-01 10:02"), "social", "p3"),
            (2, utc("2026-03-01 11:00"), None, "p4"),
            (1, utc("2026-03-01 10:02"), "organic", "p5"),
        ],
        schema={"session_id": pl.Int64, "event_time": pl.Datetime("us", "UTC"), "attributed_channel": pl.String, "page": pl.String},
        orient="row",
    )
    expected = events.drop("attributed_channel").with_columns(channel=pl.Series(["social", "social", "social", "direct", "social"]))
    assert_frame_equal(session_channels(events), expected)


def test_devices_and_pages_in_the_sample_shops_values():
    categories = pl.Series(["desktop", "Mobile", "tablet", "Smart TV", None])
    app = pl.Series([False, False, False, False, True])
    devices = pl.DataFrame({"category": categories, "app": app}).select(device_of(pl.col("category"), app=pl.col("app")))
    assert devices.to_series().to_list() == ["desktop", "mobile_web", "mobile_web", "smart tv", "app"]
    agents = pl.Series(["Mozilla/5.0 (iPhone; CPU iPhone OS 17_3 like Mac OS X) Mobile/15E148", "Mozilla/5.0 (Windows NT 10.0)", None])
    assert pl.select(user_agent_category(pl.lit(agents))).to_series().to_list() == ["mobile", "desktop", None]
    urls = pl.Series(["https://shop.example.com/p/sku-2?utm_source=x#top", "https://shop.example.com", "https://shop.example.com/?q=1", None])
    assert pl.select(url_path(pl.lit(urls))).to_series().to_list() == ["/p/sku-2", "/", "/", None]


def test_a_tracker_folder_opens_through_open_source_with_its_description():
    source = open_source(FIXTURES / "snowplow", preset="snowplow")
    assert isinstance(source, TrackerSource)
    assert source.description == f"{FIXTURES / 'snowplow'} (Snowplow (atomic events))"
    assert source.table_names() == {"events"}
    assert source.refresh_overlap == timedelta(hours=1)
    assert TrackerSource(FIXTURES / "ga4", preset="ga4").refresh_overlap == timedelta(days=3)
    with pytest.raises(SourceError, match="has no table 'orders'"):
        source.read_table("orders")


def test_segment_tables_in_postgresql_read_as_the_warehouse_export():
    """The warehouse itself: Segment's tables in PostgreSQL with typed timestamps (what the
    Postgres destination creates), read with the time window as bound parameters."""
    engine = server_engine("postgresql")
    metadata = sa.MetaData()
    tables = []
    for path in sorted((FIXTURES / "segment").glob("*.csv")):
        frame = pl.read_csv(path, infer_schema=False)
        stamps = [column for column in frame.columns if column in ("timestamp", "original_timestamp", "sent_at", "received_at", "uuid_ts", "created_at")]
        frame = frame.with_columns(pl.col(column).str.to_datetime(time_zone="UTC") for column in stamps)
        table = sa.Table(f"{path.stem}", metadata, *[
            sa.Column(column, sa.TIMESTAMP(timezone=True) if column in stamps else sa.Text) for column in frame.columns
        ], schema=None)
        tables.append((table, frame))
    metadata.drop_all(engine)
    metadata.create_all(engine)
    try:
        with engine.begin() as connection:
            for table, frame in tables:
                connection.execute(table.insert(), frame.to_dicts())
        url = engine.url.render_as_string(hide_password=False)
        database, folder = TrackerSource(url, preset="segment"), TrackerSource(FIXTURES / "segment", preset="segment")
        assert database.table_names() == {"events", "users"}
        ordered = ["event_time", "event_type", "product_id"]
        assert_frame_equal(database.read_table("events").sort(ordered), folder.read_table("events").sort(ordered))
        assert_frame_equal(database.read_table("users"), folder.read_table("users"))
        since = utc("2026-03-02 00:00")
        window = database.read_table("events", since=since)
        assert window.height == 12 and window["event_time"].min() > since
    finally:
        metadata.drop_all(engine)


def test_snowplow_shredded_entities_read_as_the_wide_columns(tmp_path):
    """Redshift and PostgreSQL loaders keep each self-describing event and entity in a
    table of its own, joined to atomic events on root_id = event_id (the shredded tables of
    snowplow/dbt-snowplow-ecommerce integration_tests/data/source/com_snowplowanalytics_snowplow_ecommerce_*_1.csv:
    root_id, root_tstamp, the schema's fields, schema_name); the fixture's entities moved
    there read the same."""
    events = pl.read_csv(FIXTURES / "snowplow" / "events.csv", infer_schema=False)
    prefix = "com_snowplowanalytics_snowplow_"
    action = f"unstruct_event_{prefix}ecommerce_snowplow_ecommerce_action_1_0_0"
    product = f"contexts_{prefix}ecommerce_product_1_0_0"
    transaction = f"contexts_{prefix}ecommerce_transaction_1_0_0"
    search = f"unstruct_event_{prefix}site_search_1_0_0"
    entity_rows = {
        f"{prefix}ecommerce_snowplow_ecommerce_action_1": [
            {"root_id": row["event_id"], "root_tstamp": row["collector_tstamp"], **json.loads(row[action]), "schema_name": "snowplow_ecommerce_action"}
            for row in events.iter_rows(named=True) if row[action]
        ],
        f"{prefix}ecommerce_product_1": [
            {"root_id": row["event_id"], "root_tstamp": row["collector_tstamp"], "id": item["id"], "category": item["category"], "schema_name": "product"}
            for row in events.iter_rows(named=True) for item in json.loads(row[product])
        ],
        f"{prefix}ecommerce_transaction_1": [
            {"root_id": row["event_id"], "root_tstamp": row["collector_tstamp"], "transaction_id": item["transaction_id"], "schema_name": "snowplow_ecommerce_transaction"}
            for row in events.iter_rows(named=True) for item in json.loads(row[transaction])
        ],
        f"{prefix}site_search_1": [
            {"root_id": row["event_id"], "root_tstamp": row["collector_tstamp"], "terms": json.dumps(json.loads(row[search])["terms"]), "schema_name": "site_search"}
            for row in events.iter_rows(named=True) if row[search]
        ],
    }
    folder = tmp_path / "snowplow"
    folder.mkdir()
    events.drop(action, product, transaction, search).write_csv(folder / "events.csv")
    for name, rows in entity_rows.items():
        pl.DataFrame(rows).unique(maintain_order=True).write_csv(folder / f"{name}.csv")
    ordered = ["event_time", "event_type", "product_id"]
    shredded = TrackerSource(folder, preset="snowplow").read_table("events").drop("session_id").sort(ordered)
    wide = TrackerSource(FIXTURES / "snowplow", preset="snowplow").read_table("events").drop("session_id").sort(ordered)
    assert_frame_equal(shredded, wide)


# -- GA4's event parameters: the fast reading against one event at a time -----------------

_PARAM_KEYS = ["ga_session_id", "page_location", "search_term", "source", "engagement_time_msec", None]
_PARAM = st.one_of(
    st.none(),
    st.fixed_dictionaries({
        "key": st.sampled_from(_PARAM_KEYS),
        "value": st.one_of(st.none(), st.fixed_dictionaries({
            "string_value": st.one_of(st.none(), st.text("ab0123", max_size=4)),
            "int_value": st.one_of(st.none(), st.integers(-5, 2**40)),
        })),
    }),
)


def _params_one_by_one(events: list[list[dict | None] | None]) -> pl.DataFrame:
    """What GA4's docs say of each event on its own: the first parameter of a key counts; a
    text parameter is its string_value, else its int_value as text; the session id its
    int_value, else its string_value read as a whole number."""

    def whole_number(text: str | None) -> int | None:
        return int(text) if text is not None and re.fullmatch(r"[+-]?\d+", text) else None

    rows = []
    for params in events:
        row: dict[str, object] = {}
        for key, dtype in ga4.PARAMS.items():
            found = next((param for param in params or [] if param is not None and param["key"] == key), None)
            value = (found or {}).get("value") or {}
            text, whole = value.get("string_value"), value.get("int_value")
            if dtype == pl.Int64:
                row[key] = whole_number(whole) if isinstance(whole, str) else whole if whole is not None else whole_number(text)
            else:
                row[key] = text if text is not None else None if whole is None else str(whole)
        rows.append(row)
    return pl.DataFrame(rows, schema=ga4.PARAMS)


@settings(max_examples=150, deadline=None)
@given(events=st.lists(st.one_of(st.none(), st.lists(_PARAM, max_size=6)), max_size=12), as_text=st.booleans())
def test_ga4_event_params_read_as_one_event_at_a_time(events, as_text):
    """As the Parquet export holds them (int_value a number) and as the JSON lines export and
    a database hold them (int_value as text, the way BigQuery writes INT64 in JSON)."""
    dtype = ga4.COLUMNS["event_params"] if as_text else ga4.PARQUET_COLUMNS["event_params"]
    if as_text:
        events = [
            None if params is None else [
                param if param is None or param["value"] is None or param["value"]["int_value"] is None
                else {**param, "value": {**param["value"], "int_value": str(param["value"]["int_value"])}}
                for param in params
            ]
            for params in events
        ]
    got = ga4.event_params(pl.Series("event_params", events, dtype=dtype)).struct.unnest()
    assert_frame_equal(got, _params_one_by_one(events))


def test_ga4_parquet_tables_read_as_the_json_lines_ones(tmp_path):
    """The fixture's tables as Parquet (nested columns, read in one scan) give the same events."""
    folder = copy_of("ga4", tmp_path)
    for path in folder.glob("*.jsonl"):
        pl.read_ndjson(path, schema=ga4.COLUMNS).cast({"event_timestamp": pl.Int64}).with_columns(
            pl.col("event_params").cast(ga4.PARQUET_COLUMNS["event_params"])
        ).write_parquet(path.with_suffix(".parquet"))
        path.unlink()
    assert_frame_equal(TrackerSource(folder, preset="ga4").read_table("events"), TrackerSource(FIXTURES / "ga4", preset="ga4").read_table("events"))
