"""Activity events of the events in memory (pushdown.frames.activity_from_events): the first
and last event of every session on every business day, which the app's activity metrics read
instead of every event."""

from collections import defaultdict
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from metrics.kpis import daily_kpis
from metrics.periods import compare_periods
from metrics.sessions import derive_sessions
from shop_analytics.pushdown.frames import ACTIVITY_COLUMNS, activity_from_events

TZ = "Asia/Shanghai"
ORIGIN = datetime(2026, 3, 1, 14, tzinfo=ZoneInfo("UTC"))  # 22:00 in Shanghai: days turn at 16:00 UTC


def sessionized(rows: list[tuple[int, int, str]], session_ids: list[int] | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """derive_sessions of (user, minutes after ORIGIN, channel) rows, with the source's session
    ids when given."""
    columns = {
        "user_id": [user for user, _, _ in rows],
        "event_time": [ORIGIN + timedelta(minutes=minute) for _, minute, _ in rows],
        "event_type": ["page_view"] * len(rows),
        "channel": [channel for _, _, channel in rows],
        "device": ["mobile"] * len(rows),
    }
    if session_ids is not None:
        columns["session_id"] = session_ids[: len(rows)]
    return derive_sessions(pl.DataFrame(columns, schema_overrides={"event_time": pl.Datetime("us", "UTC")}))


def brute_force_activity(events: pl.DataFrame) -> list[tuple]:
    """Per (session, business day): its first event, and its last when at another instant."""
    groups = defaultdict(list)
    for row in events.iter_rows(named=True):
        day = row["event_time"].astimezone(ZoneInfo(TZ)).date()
        groups[row["session_id"], day].append(row)
    kept = set()
    for rows in groups.values():
        times = [row["event_time"] for row in rows]
        for moment in {min(times), max(times)}:
            row = rows[times.index(moment)]
            kept.add((row["user_id"], moment, row["session_id"], row["session_channel"], row["session_device"]))
    return sorted(kept)


def test_a_session_over_midnight_keeps_its_first_and_last_event_on_each_day():
    # user 1: 22:00, 22:10, 22:20 and 00:05 the next day (one session across midnight);
    # user 2: one event; user 3: two events at one instant
    events, _ = sessionized([(1, 0, "ads"), (1, 10, "ads"), (1, 20, "ads"), (1, 125 - 60, "ads"), (2, 5, "email"), (3, 7, "seo"), (3, 7, "seo")])
    activity = activity_from_events(events, tz=TZ)
    assert activity.columns == list(ACTIVITY_COLUMNS)
    assert activity.select("user_id", "event_time").rows() == [
        (1, ORIGIN), (1, ORIGIN + timedelta(minutes=20)), (1, ORIGIN + timedelta(minutes=65)),
        (2, ORIGIN + timedelta(minutes=5)), (3, ORIGIN + timedelta(minutes=7)),
    ]  # fmt: skip
    assert activity["session_channel"].cast(pl.String).to_list() == ["ads", "ads", "ads", "email", "seo"]


rows_strategy = st.lists(
    st.tuples(st.integers(1, 4), st.integers(0, 3 * 24 * 60), st.sampled_from(["ads", "email", "seo"])), max_size=60
)


@given(rows=rows_strategy, given_ids=st.none() | st.lists(st.integers(1, 5), min_size=60, max_size=60))
@settings(max_examples=150, deadline=None)
def test_activity_events_equal_a_brute_force_over_sessions_and_days(rows, given_ids):
    events, _ = sessionized(rows, given_ids)
    activity = activity_from_events(events, tz=TZ)
    got = sorted(
        (user, moment, session, str(channel), str(device))
        for user, moment, session, channel, device in activity.rows()
    )
    assert got == [(u, m, s, str(c), str(d)) for u, m, s, c, d in brute_force_activity(events)]


@given(rows=rows_strategy.filter(bool))
@settings(max_examples=60, deadline=None)
def test_daily_kpis_and_period_comparison_on_activity_events_equal_those_on_every_event(rows):
    events, sessions = sessionized(rows)
    users = pl.DataFrame({"user_id": [1, 2, 3, 4], "signup_at": [ORIGIN] * 4})
    orders = pl.DataFrame(
        {"order_id": [1], "user_id": [1], "created_at": [ORIGIN], "amount": [10.0], "status": ["paid"]},
        schema_overrides={"created_at": pl.Datetime("us", "UTC")},
    )
    activity = activity_from_events(events, tz=TZ)
    first = ORIGIN.astimezone(ZoneInfo(TZ)).date()
    period = {"start": first, "end": first + timedelta(days=3), "tz": TZ}
    assert_frame_equal(daily_kpis(activity, sessions, orders, users, **period), daily_kpis(events, sessions, orders, users, **period))
    assert_frame_equal(compare_periods(activity, sessions, orders, users, **period), compare_periods(events, sessions, orders, users, **period))
