"""Push-down gives the in-memory numbers: the heavy first steps run inside SQLite, PostgreSQL
and MariaDB (pushdown.queries as SQL) and in Polars' streaming engine over Parquet files, and
every metric computed from what comes back equals the metric computed from every event.

The servers get databases of this run's own, dropped at the end. A server that is not running
skips its cases with the reason; with CI=true that is a failure instead.
"""

import os
import uuid
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest
import sqlalchemy as sa
from conftest import utc
from polars.testing import assert_frame_equal

from connectors import FolderSource, SourceError, SqlSource, open_source
from connectors.schema import TABLES
from metrics.cohorts import ltv_curves, retention
from metrics.funnel import FunnelSpec, FunnelStep, drop_offs, funnel
from metrics.kpis import daily_kpis
from metrics.lifecycle import lifecycle
from metrics.periods import compare_periods
from metrics.segments import Segment
from metrics.sessions import derive_sessions
from metrics.time import business_day
from models.features import purchase_days
from sample_data.server_store import write_server
from sample_data.sqlite_store import write_sqlite
from shop_analytics.loading import load_shop
from shop_analytics.pushdown import choices, engine_for, frames, pushdown_options
from shop_analytics.pushdown.dialects import ZoneOffsets, zone_offsets
from shop_analytics.pushdown.engines import SqlPushdown, StreamingPushdown, parquet_scan

TZ = "Asia/Shanghai"
GAP = timedelta(minutes=30)
SERVERS = {
    "postgresql": "postgresql+psycopg://postgres@127.0.0.1:5432/test",
    "mariadb": "mysql+pymysql://root@127.0.0.1:3306/test?charset=utf8mb4",
}
ENGINES = ("sqlite", "postgresql", "mariadb", "parquet")
SEGMENTS = (Segment(), Segment(channels=("ads",)), Segment(devices=("app",), regions=("East",)))
FUNNELS = (
    FunnelSpec(steps=("product_view", "add_to_cart", "checkout", "purchase")),
    FunnelSpec(
        steps=("product_view", FunnelStep("add_to_cart", window=timedelta(days=1)), "purchase"),
        exclusions=("search",),
        breakdown="channel",
    ),
    FunnelSpec(steps=("page_view", FunnelStep("product_view", (("channel", "in", ("ads", "email")),)), "add_to_cart"), mode="strict"),
    FunnelSpec(steps=("add_to_cart", "product_view"), mode="unordered", window=timedelta(days=2), breakdown="region"),
)
FUNNEL_IDS = ["ordered", "step-window-exclusion-breakdown", "strict-filter", "unordered-user-breakdown"]
SEGMENT_IDS = ["everyone", "ads", "app-east"]
EDGE_ZONES = ["Asia/Shanghai", "America/New_York"]


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("true", "1")


@contextmanager
def server_database(server: str, tables: dict[str, pl.DataFrame]):
    """The URL of a new database on `server` holding `tables`, dropped afterwards; a skip
    (a failure in CI) when the server is not running."""
    admin = sa.create_engine(SERVERS[server], isolation_level="AUTOCOMMIT")
    try:
        admin.connect().close()
    except sa.exc.OperationalError as error:
        admin.dispose()
        message = f"{server} is not running on 127.0.0.1 ({str(error).splitlines()[0][:120]}); .ci/run starts it"
        pytest.fail(message) if in_ci() else pytest.skip(message)
    database = f"pushdown_test_{uuid.uuid4().hex[:12]}"
    quoted = admin.dialect.identifier_preparer.quote(database)
    with admin.connect() as connection:
        connection.execute(sa.text(f"CREATE DATABASE {quoted}"))
    url = sa.make_url(SERVERS[server]).set(database=database)
    try:
        write_server(tables, url)
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f"DROP DATABASE {quoted}" + (" WITH (FORCE)" if server == "postgresql" else "")))
        admin.dispose()


@contextmanager
def shop_source(kind: str, tables: dict[str, pl.DataFrame], folder):
    """A source of kind `kind` ("sqlite", a server, or "parquet") holding `tables`."""
    if kind == "sqlite":
        write_sqlite(tables, folder / "shop.db")
        yield open_source(folder / "shop.db")
    elif kind == "parquet":
        for name, frame in tables.items():
            frame.write_parquet(folder / f"{name}.parquet")
        yield FolderSource(folder)
    else:
        with server_database(kind, tables) as url:
            yield open_source(url.render_as_string(hide_password=False))


@pytest.fixture(scope="module")
def shop_tables(small_shop_db) -> dict[str, pl.DataFrame]:
    source = open_source(small_shop_db)
    return {name: source.read_table(name) for name in TABLES if name in source.table_names()}


@pytest.fixture(scope="module", params=ENGINES)
def pushed_shop(request, shop_tables, tmp_path_factory):
    """(kind, the small sample shop loaded with push-down from a source of that kind)."""
    with shop_source(request.param, shop_tables, tmp_path_factory.mktemp(request.param)) as source:
        shop = load_shop(source, pushdown="always", tz=TZ)
        yield request.param, shop


def check_pushed_load(shop, small_shop) -> None:
    """The events stay where they are; sessions are the derived ones."""
    assert "events" not in shop.tables and shop.has("events") and "events" not in shop.missing
    assert shop.pushed.event_count == small_shop.events.height == 60_000
    with pytest.raises(SourceError, match="needs all 60,000 events in memory.*pushdown = \"never\""):
        _ = shop.events
    # fewer rows than the events: two per session day at most
    assert shop.activity.height < small_shop.events.height / 4
    assert_frame_equal(shop.sessions, small_shop.sessions)
    assert shop.date_span(TZ) == small_shop.date_span(TZ)


def test_pushdown_sends_the_events_nowhere_and_gives_the_derived_sessions(pushed_shop, small_shop):
    kind, shop = pushed_shop
    assert isinstance(shop.pushed.engine, StreamingPushdown if kind == "parquet" else SqlPushdown)
    check_pushed_load(shop, small_shop)


def check_activity_metrics(shop, small_shop, segment: Segment) -> None:
    """Daily KPIs, period comparison, retention, LTV curves and lifecycle in the segment."""
    first, last = small_shop.date_span(TZ)
    memory = segment.apply(small_shop.events, small_shop.sessions, small_shop.orders, small_shop.users)
    pushed = segment.apply(shop.activity, shop.sessions, shop.orders, shop.users)
    assert_frame_equal(daily_kpis(*pushed, start=first, end=last, tz=TZ), daily_kpis(*memory, start=first, end=last, tz=TZ))
    # a period that runs past the data's end is compared cut at it, within a day
    period = {"start": last - timedelta(days=20), "end": last + timedelta(days=3), "tz": TZ}
    assert_frame_equal(compare_periods(*pushed, **period), compare_periods(*memory, **period))
    for period_kind in ("week", "month"):
        cohorts = {"start": first, "end": last, "tz": TZ, "period": period_kind}
        assert_frame_equal(
            retention(pushed[0], pushed[2], pushed[3], **cohorts, mode="on_or_after"),
            retention(memory[0], memory[2], memory[3], **cohorts, mode="on_or_after"),
        )
        assert_frame_equal(
            ltv_curves(pushed[2], pushed[3], pushed[0], **cohorts, cohort_by="activity"),
            ltv_curves(memory[2], memory[3], memory[0], **cohorts, cohort_by="activity"),
        )
    for period_kind in ("day", "week"):
        intervals = {"start": first, "end": last, "tz": TZ, "period": period_kind}
        assert_frame_equal(lifecycle(pushed[0], pushed[3], **intervals), lifecycle(memory[0], memory[3], **intervals))


@pytest.mark.parametrize("segment", SEGMENTS, ids=SEGMENT_IDS)
def test_every_activity_metric_equals_the_in_memory_one(pushed_shop, small_shop, segment):
    check_activity_metrics(pushed_shop[1], small_shop, segment)


def check_funnel(shop, small_shop, spec: FunnelSpec) -> None:
    """The funnel table and drop-offs of the last 30 days from the pushed events."""
    _, last = small_shop.date_span(TZ)
    period = {"start": last - timedelta(days=29), "end": last, "tz": TZ, "users": small_shop.users}
    rows = shop.pushed.funnel_events(spec, start=period["start"], end=period["end"], tz=TZ)
    assert rows.height < small_shop.events.height / 4
    expected = funnel(small_shop.events, spec, **period)
    assert expected["users"][0] > 0 and expected["in_progress"].sum() > 0  # entries whose window is open
    assert_frame_equal(funnel(rows, spec, **period), expected)
    assert_frame_equal(drop_offs(rows, spec, **period), drop_offs(small_shop.events, spec, **period))
    # with the session columns, the channel filter applies as to every event
    located = shop.pushed.funnel_events(spec, start=period["start"], end=period["end"], tz=TZ, sessions=shop.sessions)
    ads = Segment(channels=("ads",))
    pushed_ads = ads.apply(located, shop.sessions, shop.orders, shop.users)
    memory_ads = ads.apply(small_shop.events, small_shop.sessions, small_shop.orders, small_shop.users)
    assert_frame_equal(
        funnel(pushed_ads[0], spec, **{**period, "users": pushed_ads[3]}),
        funnel(memory_ads[0], spec, **{**period, "users": memory_ads[3]}),
    )


@pytest.mark.parametrize("spec", FUNNELS, ids=FUNNEL_IDS)
def test_a_funnel_from_its_pushed_events_equals_the_funnel_from_every_event(pushed_shop, small_shop, spec):
    check_funnel(pushed_shop[1], small_shop, spec)


def check_choices(engine, small_shop) -> None:
    """The funnel page's pickers from the engine: the event types, and a label's and an id's
    commonest values among one type's events, as counted over every event in memory."""
    events = small_shop.events
    assert choices.event_types(engine) == sorted(events["event_type"].cast(pl.String).unique().to_list())
    assert choices.event_types(engine) == choices.event_types(events.lazy())
    for event_type, column, limit in (("add_to_cart", "channel", 3), ("product_view", "product_id", 50), ("search", "search_term", 10)):
        counts = (
            events.filter(pl.col("event_type") == event_type)
            .group_by(value=pl.col(column).cast(pl.String) if events.schema[column] == pl.Categorical else pl.col(column))
            .len()
            .drop_nulls()
        )
        for source in (engine, events.lazy()):
            # the values kept are the commonest ones, whichever of a tie at the cut an engine keeps
            kept = choices.commonest_values(source, event_type, column, limit)
            assert len(kept) == min(limit, counts.height) and kept == sorted(kept)
            cut = counts.sort("len", descending=True)["len"][len(kept) - 1]
            assert counts.filter(pl.col("value").is_in(kept))["len"].min() >= cut
            assert counts.filter(pl.col("len") > cut)["value"].is_in(kept).all()


def test_the_funnel_pickers_from_the_engine_are_the_in_memory_ones(pushed_shop, small_shop):
    check_choices(pushed_shop[1].pushed.engine, small_shop)


def check_daily_active_users(engine, small_shop) -> None:
    """DAU per day and session channel, against the channel filter's DAU."""
    _, last = small_shop.date_span(TZ)
    start = last - timedelta(days=13)
    pushed = engine.daily_active_users(start=start, end=last, tz=TZ, gap=GAP)
    assert_frame_equal(pushed, frames.daily_active_users(small_shop.events, start=start, end=last, tz=TZ))
    ads = Segment(channels=("ads",)).apply(small_shop.events, small_shop.sessions, small_shop.orders, small_shop.users)
    by_filter = daily_kpis(*ads, start=start, end=last, tz=TZ).filter(pl.col("dau") > 0).select("date", "dau")
    assert_frame_equal(pushed.filter(pl.col("channel") == "ads").select("date", "dau"), by_filter)


def test_daily_active_users_per_channel_are_the_channel_filters_dau(pushed_shop, small_shop):
    check_daily_active_users(pushed_shop[1].pushed.engine, small_shop)


def check_order_days(engine, small_shop) -> None:
    """Valid orders per customer and day, against models.features.purchase_days."""
    pushed = engine.order_days(tz=TZ).sort("user_id", "day")
    expected = purchase_days(small_shop.orders, TZ).sort("user_id", "day")
    assert expected.height > 200
    # a day's GMV summed in another order may differ in the last bit: counts exactly, money to 1e-12
    assert_frame_equal(pushed, expected, rel_tol=1e-12)


def test_order_days_are_the_ltv_models_customer_days(pushed_shop, small_shop):
    check_order_days(pushed_shop[1].pushed.engine, small_shop)


# Hand-made events for the session rule's edges, with a day in Shanghai (UTC+8) and one across
# New York's change to summer time (2026-03-08 07:00 UTC).
EDGE_EVENTS = pl.DataFrame(
    [
        (1, utc("2026-03-01 15:50"), "page_view", "ads", "app"),  # 23:50 in Shanghai: session 1 starts
        (1, utc("2026-03-01 16:20"), "product_view", "email", "app"),  # exactly 30 min on: same session, next day
        (1, utc("2026-03-01 16:50:00.000001"), "purchase", "email", "web"),  # 30 min and 1 µs: session 2
        (1, utc("2026-03-01 16:50:00.000001"), "page_view", "email", "web"),  # the same instant
        (2, utc("2026-03-01 00:00"), "page_view", None, None),  # no channel or device
        (3, utc("2026-03-08 04:59:59"), "page_view", "organic", "web"),  # 23:59:59 Mar 7 in New York (EST)
        (3, utc("2026-03-08 05:00:00"), "search", "organic", "web"),  # 00:00 Mar 8 (EST)
        (3, utc("2026-03-09 03:59:59"), "page_view", "ads", "app"),  # 23:59:59 Mar 8 (EDT)
        (3, utc("2026-03-09 04:00:00"), "purchase", "ads", "app"),  # 00:00 Mar 9 (EDT)
    ],
    schema={"user_id": pl.Int64, "event_time": pl.Datetime("us", "UTC"), "event_type": pl.String, "channel": pl.String, "device": pl.String},
    orient="row",
).with_columns(pl.col("event_type", "channel", "device").cast(pl.Categorical))
EDGE_USERS = pl.DataFrame({"user_id": [1, 2, 3], "signup_at": [utc("2026-01-01 00:00")] * 3})


@pytest.fixture(scope="module", params=ENGINES)
def edge_engine(request, tmp_path_factory):
    tables = {"users": EDGE_USERS, "events": EDGE_EVENTS}
    with shop_source(request.param, tables, tmp_path_factory.mktemp(f"edge-{request.param}")) as source:
        yield engine_for(source, "always")


def check_session_edges(engine, tz: str) -> None:
    """Sessions and active days of EDGE_EVENTS, against derive_sessions and hand-made days."""
    days = engine.session_days(tz=tz, gap=GAP)
    events, sessions = derive_sessions(EDGE_EVENTS, gap=GAP)
    assert_frame_equal(frames.sessions_from_days(days), sessions)
    assert sessions["event_count"].to_list() == [2, 2, 1, 2, 2]
    assert sessions["channel"].cast(pl.String).to_list() == ["ads", "email", None, "organic", "ads"]
    active = events.select("user_id", date=business_day("event_time", tz)).unique().sort("user_id", "date")
    pushed = frames.activity_from_days(days).select("user_id", date=business_day("event_time", tz)).unique().sort("user_id", "date")
    assert_frame_equal(pushed, active)
    user_3_days = pushed.filter(pl.col("user_id") == 3)["date"].to_list()
    if tz == "America/New_York":
        assert user_3_days == [date(2026, 3, 7), date(2026, 3, 8), date(2026, 3, 9)]
    else:
        assert user_3_days == [date(2026, 3, 8), date(2026, 3, 9)]
    assert pushed.filter(pl.col("user_id") == 1)["date"].to_list() == (
        [date(2026, 3, 1), date(2026, 3, 2)] if tz == "Asia/Shanghai" else [date(2026, 3, 1)]
    )


@pytest.mark.parametrize("tz", EDGE_ZONES)
def test_session_edges_and_business_days_match_the_in_memory_rule(edge_engine, tz):
    check_session_edges(edge_engine, tz)


def test_streaming_in_parts_of_the_users_gives_the_same_session_days(shop_tables, small_shop, tmp_path, monkeypatch):
    import shop_analytics.pushdown.engines

    with shop_source("parquet", shop_tables, tmp_path) as source:
        engine = engine_for(source, "always")
        whole = engine.session_days(tz=TZ, gap=GAP)
        monkeypatch.setattr(shop_analytics.pushdown.engines, "PART_EVENTS", 7_000)  # 60,000 events: nine passes
        in_parts = engine.session_days(tz=TZ, gap=GAP)
    assert_frame_equal(frames.sessions_from_days(in_parts), small_shop.sessions)
    assert_frame_equal(frames.activity_from_days(in_parts), frames.activity_from_days(whole))


def test_new_york_offsets_change_at_the_second_summer_time_starts():
    offsets = zone_offsets("America/New_York", utc("2026-01-01 00:00"), utc("2026-12-31 00:00"))
    assert offsets == ZoneOffsets(-5 * 3600, ((utc("2026-03-08 07:00"), -4 * 3600), (utc("2026-11-01 06:00"), -5 * 3600)))
    assert zone_offsets("Asia/Shanghai", utc("2025-11-01 00:00"), utc("2026-11-30 00:00")) == ZoneOffsets(8 * 3600)


def test_auto_pushes_down_from_the_threshold(small_shop_db, tmp_path):
    source = open_source(small_shop_db)
    assert engine_for(source, "auto", 60_000) is None  # 60,000 events: not above it
    assert isinstance(engine_for(source, "auto", 59_999), SqlPushdown)
    assert engine_for(source, "never") is None
    assert load_shop(source, pushdown="auto", pushdown_threshold=60_000).pushed is None
    source.read_table("events").write_parquet(tmp_path / "events.parquet")
    assert isinstance(engine_for(FolderSource(tmp_path), "auto", 59_999), StreamingPushdown)
    assert parquet_scan(tmp_path)("events").select(pl.len()).collect().item() == 60_000


def test_a_wrong_setting_or_a_source_without_an_engine_says_what_to_do(small_shop_db, tmp_path):
    with pytest.raises(ValueError, match="pushdown in \\[connections.shop\\] is one of auto, always, never, not 'sometimes'"):
        engine_for(open_source(small_shop_db), "sometimes")
    with pytest.raises(ValueError, match="pushdown_threshold .* positive number of events, not 0"):
        engine_for(open_source(small_shop_db), "auto", 0)
    EDGE_EVENTS.write_csv(tmp_path / "events.csv")
    with pytest.raises(SourceError, match="needs a database or Parquet files.*set pushdown = \"auto\" or \"never\""):
        engine_for(FolderSource(tmp_path), "always")
    assert engine_for(FolderSource(tmp_path), "auto", 1) is None
    with pytest.raises(SourceError, match="pushdown_engine = \"spark\" reads a folder of Parquet files.*set pushdown_engine = \"native\""):
        engine_for(FolderSource(tmp_path), "always", engine="spark")
    with pytest.raises(SourceError, match="pushdown_engine = \"spark\" reads a folder of Parquet files"):
        engine_for(open_source(small_shop_db), "auto", engine="spark")


def test_the_pushdown_settings_are_taken_out_of_the_connection_and_checked():
    connection = {"url": "sqlite:///shop.db", "pushdown": "always", "pushdown_threshold": 5}
    assert pushdown_options(connection) == {"pushdown": "always", "pushdown_threshold": 5, "pushdown_engine": "native"}
    assert connection == {"url": "sqlite:///shop.db"}
    connection = {"folder": "/srv/shop", "pushdown_engine": "spark"}
    assert pushdown_options(connection) == {
        "pushdown": "auto", "pushdown_threshold": 20_000_000, "pushdown_engine": "spark", "spark_master": "local[2]",
    }
    assert connection == {"folder": "/srv/shop"}
    with pytest.raises(ValueError, match="pushdown_engine in \\[connections.shop\\] is one of native, spark, not 'flink'"):
        pushdown_options({"pushdown_engine": "flink"})
    with pytest.raises(ValueError, match="spark_master .* only with pushdown_engine = \"spark\""):
        pushdown_options({"spark_master": "local[2]"})
    with pytest.raises(ValueError, match="spark_master .* a Spark master URL"):
        pushdown_options({"pushdown_engine": "spark", "spark_master": 2})
    with pytest.raises(ValueError, match="pushdown in \\[connections.shop\\] is one of"):
        pushdown_options({"pushdown": "sometimes"})


def cards_and_tables(at) -> tuple[list, list]:
    """What a page shows as numbers: its metric cards and its tables."""
    return [(card.label, card.value, card.delta) for card in at.metric], [frame.value for frame in at.dataframe]


@pytest.mark.parametrize("page", ["overview", "channels", "cohorts"])
def test_the_app_with_pushdown_shows_the_in_memory_numbers(small_shop_db, page):
    from streamlit.testing.v1 import AppTest

    from connectors.sql import sqlite_url

    shown, captions = {}, {}
    for mode in ("never", "always"):
        at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "app.py"), default_timeout=120)
        at.secrets["connections"] = {"shop": {"url": sqlite_url(small_shop_db), "pushdown": mode}}
        at.run()
        if page != "overview":
            at.switch_page(f"pages/{page}.py").run()
        assert not at.exception and not at.error, (mode, at.exception)
        shown[mode] = cards_and_tables(at)
        captions[mode] = [caption.value for caption in at.caption]
    cards, tables = shown["always"]
    in_memory = shown["never"][1]
    if page == "overview":
        # GMV by category reads every event's product (visitors per category): with push-down
        # the section says so instead of its table; every other table is the in-memory one
        assert "By category needs the order_items and products tables and the events in memory." in captions["always"]
        in_memory = [frame for frame in in_memory if list(frame.columns[:2]) != ["category", "factor"]]
        assert len(in_memory) == len(shown["never"][1]) - 1
    assert cards == shown["never"][0] and (cards or tables)
    assert len(tables) == len(in_memory)
    for pushed, memory in zip(tables, in_memory):
        assert pushed.equals(memory)


def test_postgresql_parts_run_without_parallel_workers_in_a_read_only_session():
    """Each part's connection gets PART_SETTINGS for its query only; the session stays
    read-only, and the next connection has the server's defaults again."""
    from shop_analytics.pushdown.engines import PART_SETTINGS

    with server_database("postgresql", {"users": EDGE_USERS, "events": EDGE_EVENTS}) as url:
        engine = engine_for(open_source(url.render_as_string(hide_password=False)), "always")
        assert engine.parts() == 2 and PART_SETTINGS == {"max_parallel_workers_per_gather": "0"}
        settings = sa.select(
            sa.func.current_setting("max_parallel_workers_per_gather").label("workers"),
            sa.func.current_setting("transaction_read_only").label("read_only"),
        )
        assert engine.read_part(settings).rows() == [("0", "on")]
        default = engine.read(settings).rows()
        assert default[0][0] != "0" and default[0][1] == "on"
        for reader in ("connectorx", "sqlalchemy"):
            source = SqlSource(url, reader=reader)
            assert source.read_query(settings, settings=PART_SETTINGS).rows() == [("0", "on")]
            assert source.read_query(settings).rows() == default
