"""Any canonical events, written out as each tracker's export (connectors/trackers/writers.py)
and read back through its preset, give the numbers the canonical events give: the daily KPI
table, an ordered funnel and the channel table, compared whole (hypothesis)."""

import tempfile
from datetime import date, timedelta
from pathlib import Path

import polars as pl
from conftest import utc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from connectors import FolderSource, open_source
from connectors.schema import EVENT_TYPES, TABLES
from connectors.trackers import writers
from metrics.channels import channel_table
from metrics.funnel import funnel
from metrics.funnel_spec import FunnelSpec
from metrics.kpis import daily_kpis
from shop_analytics.loading import load_shop

TZ = "Asia/Shanghai"
START, END = date(2026, 3, 1), date(2026, 3, 4)
FIRST_VISIT = utc("2026-02-28 18:00")
CHANNELS = ("organic", "paid_search", "social", "email", "affiliate", "direct", "referral")
DEVICES = ("app", "mobile_web", "desktop")
EXPORTS = {
    "ga4": lambda events, folder: writers.write_ga4(events, folder),
    "ga4_params": lambda events, folder: writers.write_ga4(events, folder, file_format="jsonl", attribution="params"),
    "snowplow": lambda events, folder: writers.write_snowplow(events, folder),
    "segment": lambda events, folder: writers.write_segment(events, folder),
    "rudderstack": lambda events, folder: writers.write_segment(events, folder, file_format="parquet", rudderstack=True),
    "posthog": lambda events, folder: writers.write_posthog(events, folder),
}
PRESETS = {"ga4_params": "ga4"}
FUNNEL = FunnelSpec(("product_view", "add_to_cart", "checkout", "purchase"))


@st.composite
def canonical_events(draw) -> pl.DataFrame:
    """Events of 1-4 users, each with 1-3 visits: a visit's events come 0-20 minutes apart
    (one session) and a user's visits more than 30 minutes apart, over about four days,
    each visit with its channel and device."""
    rows = []
    for user in range(1, draw(st.integers(1, 4)) + 1):
        moment = FIRST_VISIT + timedelta(minutes=draw(st.integers(0, 600)))
        for _ in range(draw(st.integers(1, 3))):
            channel, device = draw(st.sampled_from(CHANNELS)), draw(st.sampled_from(DEVICES))
            for index in range(draw(st.integers(1, 6))):
                if index:
                    moment += timedelta(seconds=draw(st.integers(0, 1200)))
                event_type = draw(st.sampled_from(EVENT_TYPES))
                rows.append({
                    "user_id": user,
                    "event_time": moment,
                    "event_type": event_type,
                    "page": draw(st.sampled_from(("home", "search", "product", "cart"))),
                    "product_id": draw(st.integers(1, 3)) if event_type not in ("page_view", "search") else None,
                    "channel": channel,
                    "device": device,
                    "search_term": draw(st.sampled_from(("hoodie", "red shoes", "香水"))) if event_type == "search" else None,
                })
            moment += timedelta(minutes=draw(st.integers(31, 1500)))
    return pl.DataFrame(rows, schema={
        "user_id": pl.Int64, "event_time": pl.Datetime("us", "UTC"), "event_type": pl.String, "page": pl.String,
        "product_id": pl.Int64, "channel": pl.String, "device": pl.String, "search_term": pl.String,
    })


def empty(name: str) -> pl.DataFrame:
    return pl.DataFrame(schema={column: dtype or pl.String for column, dtype in TABLES[name].columns.items()})


def numbers(shop) -> dict[str, pl.DataFrame]:
    """What the overview, funnel and channel pages show for the shop's events."""
    orders, users = empty("orders"), empty("users")
    return {
        "kpis": daily_kpis(shop.events, shop.sessions, orders, users, start=START, end=END, tz=TZ),
        "funnel": funnel(shop.events, FUNNEL, start=START, end=END, tz=TZ),
        "channels": channel_table(shop.events, shop.sessions, orders, users, None, start=START, end=END, tz=TZ).sort("channel"),
        "event types": shop.events.group_by(pl.col("event_type").cast(pl.String)).len().sort("event_type"),
    }


def assert_every_export_reads_back_the_same(events: pl.DataFrame, folder: Path) -> None:
    (folder / "canonical").mkdir()
    events.drop("anonymous_id", strict=False).with_columns(user_id=pl.col("user_id").cast(pl.String)).write_parquet(
        folder / "canonical" / "events.parquet"
    )
    expected = numbers(load_shop(FolderSource(folder / "canonical"), tz=TZ))
    for name, write in EXPORTS.items():
        write(events, folder / name)
        got = numbers(load_shop(open_source(folder / name, preset=PRESETS.get(name, name)), tz=TZ))
        for table, frame in expected.items():
            try:
                assert_frame_equal(got[table], frame, check_dtypes=False)
            except AssertionError as difference:
                raise AssertionError(f"{name}, {table}: {difference}") from None


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(canonical_events())
def test_canonical_events_written_as_any_tracker_export_read_back_to_the_same_numbers(events):
    with tempfile.TemporaryDirectory() as folder:
        assert_every_export_reads_back_the_same(events, Path(folder))


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(canonical_events())
def test_visitors_who_sign_in_are_their_customer_in_every_export(events):
    """With a visitor id apart from the customer id (the tracker's anonymous id, the
    customer id set from the first event on), every export reads back the customer ids."""
    signed_in = events.with_columns(anonymous_id=pl.format("visitor-{}", pl.col("user_id")), user_id=pl.format("C{}", pl.col("user_id")))
    with tempfile.TemporaryDirectory() as folder:
        assert_every_export_reads_back_the_same(signed_in, Path(folder))
        for name in EXPORTS:
            read = open_source(Path(folder) / name, preset=PRESETS.get(name, name)).read_table("events", columns=["user_id"])
            assert set(read["user_id"].unique()) == set(signed_in["user_id"].unique())
