"""Period-bounded reads (issue 20): a one-off command's view reads only its tables and the
events of its period with each definition's look-back, and its numbers equal those of the
whole shop: on the small sample shop (a SQLite file, the bounds in SQL), through an extract
of it (the bounds in the Parquet scan), and on literal shops at the edges of the bounds."""

from datetime import date, timedelta

import polars as pl
import pytest
from conftest import utc
from polars.testing import assert_frame_equal

from connectors import FolderSource
from connectors.extracts import ExtractSource
from connectors.sql import sqlite_url
from metrics.anomalies import AnomalySettings
from metrics.time import utc_bounds
from shop_analytics.alerts.evaluate import evaluate_shop
from shop_analytics.bounds import History, Scope, anomaly_look_back, reads_for, view_tables
from shop_analytics.config import config_from_mapping
from shop_analytics.exports import ExportRequest, build_export, check_options
from shop_analytics.loading import EventBounds, load_shop
from shop_analytics.opening import open_shop
from shop_analytics.pushdown.frames import daily_active_users
from shop_analytics.views import anomaly_settings

TZ = "Asia/Shanghai"


@pytest.fixture(scope="module")
def config(small_shop_db):
    return config_from_mapping({"connections": {"shop": {"url": sqlite_url(small_shop_db)}}, "settings": {"time_zone": TZ}})


@pytest.fixture(scope="module")
def whole(config):
    return open_shop(config)


def periods(whole) -> list[tuple[date, date]]:
    """The last 30 days of the data, and three weeks in its first half."""
    first, last = whole.date_span(TZ)
    return [(last - timedelta(days=29), last), (first + timedelta(days=100), first + timedelta(days=120))]


EXPORTS = [
    ("kpis", {}),
    ("channels", {}),
    ("anomalies", {}),
    ("funnel", {}),
    ("funnel", {"mode": "unordered", "window": "3d"}),
    ("funnel-drop-offs", {"mode": "strict"}),
    ("retention", {}),
    ("retention", {"period": "month", "cohort": "signup", "measure": "purchase", "retention_mode": "on_or_after"}),
    ("periods", {}),
    ("lifecycle", {"period": "week"}),
    ("lifecycle", {"period": "month"}),
    ("compare", {}),
    ("paths", {}),
    ("search", {}),
    ("products", {}),
    ("kpis", {"channel": "paid_search", "device": "mobile"}),
    ("funnel", {"device": "mobile"}),
    ("anomalies", {"channel": "paid_search"}),
    ("retention", {"region": "Zhejiang"}),
]


@pytest.mark.parametrize("name, options", EXPORTS, ids=[f"{name}-{'-'.join(map(str, options.values())) or 'default'}" for name, options in EXPORTS])
def test_a_bounded_export_equals_the_whole_shops(name, options, config, whole):
    options = check_options(name, options)
    for start, end in periods(whole):
        request = ExportRequest(start, end, TZ, options, config)
        bounded = open_shop(config, scope=Scope(f"export:{name}", start, end, options))
        assert_frame_equal(build_export(name, bounded, request), build_export(name, whole, request))
        assert bounded.date_span(TZ) == whole.date_span(TZ)
        assert bounded.missing == whole.missing


def test_a_gmv_basis_keeps_the_bounded_shops_span_and_first_activity(small_shop_db):
    """Under a GMV basis other than the default, loading replaces the orders: the shop loaded
    in part keeps the whole data's span and who was seen before the bound."""
    config = config_from_mapping({
        "connections": {"shop": {"url": sqlite_url(small_shop_db)}},
        "settings": {"time_zone": TZ, "gmv_basis": "exclude_refunded"},
    })
    whole = open_shop(config)
    for name in ("retention", "anomalies", "kpis"):
        for start, end in periods(whole):
            request = ExportRequest(start, end, TZ, {}, config)
            bounded = open_shop(config, scope=Scope(f"export:{name}", start, end))
            assert bounded.date_span(TZ) == whole.date_span(TZ)
            assert_frame_equal(build_export(name, bounded, request), build_export(name, whole, request))


def test_the_last_thirty_days_read_a_slice_of_the_events(config, whole):
    """kpis for the last 30 days: 29 days of MAU look-back and a day and a session gap before
    them, so about 60 of the year's 365 days; no table the export does not read."""
    start, end = periods(whole)[0]
    bounded = open_shop(config, scope=Scope("export:kpis", start, end))
    assert sorted(bounded.tables) == ["events", "orders", "users"]
    first_day = utc_bounds(start - timedelta(days=29), start, TZ)[0]
    bound = first_day - config.settings.session_gap - timedelta(days=1)
    assert bounded.events.height == whole.events.filter(pl.col("event_time") > bound).height
    assert bounded.events.height < whole.events.height / 3
    payments = open_shop(config, scope=Scope("export:payments", start, end))
    assert sorted(payments.tables) == ["orders", "users"]


def test_anomalies_with_campaign_days_reach_back_to_the_past_campaign_days(config, whole):
    """A period holding campaign days compares them with the 28 campaign days before, however
    far back: the bound moves there, and the verdicts stay those of the whole history."""
    history = History(anomaly_settings(config), whole.campaigns, lambda: whole.date_span(TZ)[0])
    campaigns = whole.campaigns.sort("start_date")
    last = campaigns.row(-1, named=True)
    start, end = last["start_date"], last["end_date"]
    ordinary_bound = start - timedelta(days=history.anomaly.window)
    assert anomaly_look_back(start, end, history) < ordinary_bound
    # a period without campaign or holiday days needs only its window
    quiet = History(AnomalySettings(), None, history.data_first)
    assert anomaly_look_back(start, end, quiet) == ordinary_bound
    request = ExportRequest(start, end, TZ, {}, config)
    bounded = open_shop(config, scope=Scope("export:anomalies", start, end))
    assert_frame_equal(build_export("anomalies", bounded, request), build_export("anomalies", whole, request))


def test_the_alerts_check_of_a_day_reads_its_baselines_only(config, whole):
    for day in (whole.date_span(TZ)[1], whole.date_span(TZ)[1] - timedelta(days=45)):
        bounded = open_shop(config, scope=Scope("alerts", day, day))
        assert bounded.events.height < whole.events.height
        checked = {"day": day, "settings": config.settings, "anomaly": anomaly_settings(config)}
        assert evaluate_shop(bounded, [], **checked) == evaluate_shop(whole, [], **checked)
    # without a day: yesterday, or the data's last day, as alerts check takes it
    assert open_shop(config, scope=Scope("alerts")).date_span(TZ) == whole.date_span(TZ)


def test_bounded_reads_through_an_extract_scan_its_weeks_only(small_shop_db, config, whole, tmp_path):
    from connectors import SqlSource

    extract = ExtractSource(lambda: SqlSource(sqlite_url(small_shop_db)), folder=tmp_path / "extract")
    extract.refresh()
    start, end = periods(whole)[0]
    reads = reads_for(Scope("export:kpis", start, end), History(anomaly_settings(config), None, lambda: None))
    bounded = load_shop(extract, session_gap=config.settings.session_gap, tz=TZ, tables=reads.tables,
                        bounds=EventBounds(reads.first_instant(TZ), reads.first_seen))
    request = ExportRequest(start, end, TZ, {}, config)
    assert_frame_equal(build_export("kpis", bounded, request), build_export("kpis", whole, request))
    plan = extract.scan("events").filter(pl.col("event_time") > reads.first_instant(TZ)).explain()
    assert "SELECTION" in plan or "selection" in plan or "FILTER" in plan  # the bound is in the scan


def plain(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(pl.col(pl.Categorical).cast(pl.String))


SCHEMA = {"user_id": pl.Int64, "event_time": pl.Datetime("us", "UTC"), "event_type": pl.String, "channel": pl.String}


def test_a_session_running_across_the_bound_keeps_its_first_channel(tmp_path):
    """A visitor active every 20 minutes for two days from an ad: a bounded read that started
    inside that session would give it the channel of its first event after the bound; the
    bound moves back until the session's own start is read."""
    events = [(1, utc("2026-05-01 00:00"), "page_view", "ads")]
    events += [(1, utc("2026-05-01 00:00") + timedelta(minutes=20 * step), "page_view", "seo") for step in range(1, 2 * 72)]
    events += [(2, utc("2026-05-02 23:00"), "page_view", "email"), (2, utc("2026-05-03 01:00"), "purchase", "email")]
    pl.DataFrame(events, schema=SCHEMA, orient="row").write_parquet(tmp_path / "events.parquet")
    source = FolderSource(tmp_path)
    whole = load_shop(source, tz="UTC")
    bounded = load_shop(source, tz="UTC", tables=("events", "users"), bounds=EventBounds(utc("2026-05-02 12:00")))
    ones = bounded.events.filter(pl.col("user_id") == 1)
    assert ones["session_channel"].cast(pl.String).unique().to_list() == ["ads"]
    assert ones["event_time"].min() == utc("2026-05-01 00:00")  # read from the session's start
    days = {"start": date(2026, 5, 2), "end": date(2026, 5, 3), "tz": "UTC"}
    by_channel = daily_active_users(bounded.activity, **days)
    assert plain(by_channel).rows() == [(date(2026, 5, 2), "ads", 1), (date(2026, 5, 2), "email", 1), (date(2026, 5, 3), "email", 1)]
    assert_frame_equal(by_channel, daily_active_users(whole.activity, **days))


def test_a_cohort_of_first_activity_knows_who_came_before_the_bound(tmp_path):
    """User 1 first came in April and again in the period: not a member of the period's
    cohort; user 2's first event is in the period."""
    events = [(1, utc("2026-04-01 10:00"), "page_view", "ads"), (1, utc("2026-05-04 10:00"), "page_view", "ads"),
              (2, utc("2026-05-05 10:00"), "page_view", "seo"), (2, utc("2026-05-12 10:00"), "page_view", "seo")]
    pl.DataFrame(events, schema=SCHEMA, orient="row").write_parquet(tmp_path / "events.parquet")
    source = FolderSource(tmp_path)
    start, end = date(2026, 5, 4), date(2026, 5, 10)
    reads = reads_for(Scope("export:retention", start, end), History(AnomalySettings(), None, lambda: None))
    assert (reads.first_day, reads.first_seen) == (date(2026, 5, 4), True)
    bounded = load_shop(source, tz="UTC", tables=reads.tables, bounds=EventBounds(reads.first_instant("UTC"), True))
    assert bounded.events["user_id"].to_list() == [1, 2, 2]  # April's event is not read ...
    request = ExportRequest(start, end, "UTC", {}, config_from_mapping({}))
    table = build_export("retention", bounded, request)
    assert table.select("cohort", "offset", "cohort_size", "retained").rows()[:2] == [(date(2026, 5, 4), 0, 1, 1), (date(2026, 5, 4), 1, 1, 1)]
    assert_frame_equal(table, build_export("retention", load_shop(source, tz="UTC"), request))  # ... but user 1 is known


def test_a_view_reads_the_users_beside_its_events_or_orders():
    assert view_tables("export:anomalies") == ("campaigns", "events", "orders", "users")
    assert view_tables("export:review-words") == ("products", "reviews")
