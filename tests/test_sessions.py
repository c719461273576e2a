"""Session derivation: the 30-minute rule, and sessions given by the source."""

from datetime import timedelta

import polars as pl
from conftest import utc
from hypothesis import given, settings
from hypothesis import strategies as st

from metrics.sessions import derive_sessions, user_time_order


def events(rows):
    return pl.DataFrame(
        {
            "user_id": [row[0] for row in rows],
            "event_time": [utc(row[1]) for row in rows],
            "event_type": [row[2] for row in rows],
            "channel": [row[3] for row in rows],
        }
    )


def test_a_gap_over_30_minutes_starts_a_new_session_and_30_exactly_does_not():
    derived, sessions = derive_sessions(
        events(
            [
                (7, "2026-01-01 10:31", "page_view", "email"),  # out of order on purpose
                (7, "2026-01-01 10:00", "page_view", "social"),
                (7, "2026-01-01 11:01", "purchase", "email"),  # exactly 30 min after 10:31
                (7, "2026-01-01 11:32", "page_view", "direct"),  # 31 minutes later
                (8, "2026-01-01 10:05", "page_view", "organic"),
            ]
        )
    )
    assert sessions.select("user_id", "event_count", "has_purchase", "channel").rows() == [
        (7, 1, False, "social"),
        (7, 2, True, "email"),
        (7, 1, False, "direct"),
        (8, 1, False, "organic"),
    ]
    assert derived["session_id"].to_list() == [1, 2, 2, 3, 4]
    assert derived["session_channel"].to_list() == ["social", "email", "email", "direct", "organic"]


def test_source_session_ids_are_kept_per_user():
    given = events(
        [
            (1, "2026-01-01 10:00", "page_view", "email"),
            (1, "2026-01-01 14:00", "purchase", "social"),  # 4 h later, same given session
            (2, "2026-01-01 10:00", "page_view", "direct"),  # same id "a", other user
        ]
    ).with_columns(session_id=pl.Series(["a", "a", "a"]))
    _, sessions = derive_sessions(given)
    assert sessions.select("user_id", "event_count", "channel").rows() == [
        (1, 2, "email"),
        (2, 1, "direct"),
    ]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 4), st.integers(0, 600), st.sampled_from(["page_view", "purchase"])), max_size=40))
def test_sessions_equal_a_slow_pure_python_derivation(rows):
    """Sort each user's events; a new session starts at the first and after a gap over 30 min."""
    origin = utc("2026-01-01 00:00")
    frame = pl.DataFrame(
        {
            "user_id": [row[0] for row in rows],
            "event_time": [origin + timedelta(minutes=row[1]) for row in rows],
            "event_type": [row[2] for row in rows],
        },
        schema={"user_id": pl.Int64, "event_time": pl.Datetime("us", "UTC"), "event_type": pl.String},
    )
    expected = []
    for user in sorted({row[0] for row in rows}):
        times = sorted((row[1], row[2]) for row in rows if row[0] == user)
        current = None
        for minute, event_type in times:
            if current is None or minute - current["last"] > 30:
                current = {"user": user, "start": minute, "last": minute, "count": 0, "bought": False}
                expected.append(current)
            current["last"] = minute
            current["count"] += 1
            current["bought"] |= event_type == "purchase"
    _, sessions = derive_sessions(frame)
    got = sorted((row["user_id"], (row["started_at"] - origin).total_seconds() / 60, row["event_count"], row["has_purchase"]) for row in sessions.iter_rows(named=True))
    assert got == sorted((s["user"], s["start"], s["count"], s["bought"]) for s in expected)


def stable_order(users: list, minutes: list) -> list[int]:
    """Row numbers in Python's stable sort by (user, time), nulls first in each key."""
    def key(row: int):
        return (users[row] is not None, users[row] or 0, minutes[row] is not None, minutes[row] or 0)

    return sorted(range(len(users)), key=key)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.one_of(st.none(), st.integers(1, 3)), st.one_of(st.none(), st.integers(0, 5))),
        max_size=60,
    ),
    st.sampled_from([pl.Int64, pl.String]),
    st.sampled_from(["as drawn", "by time", "by user and time"]),
)
def test_events_are_ordered_as_a_stable_sort_by_user_and_time(rows, user_dtype, given_order):
    """Few users and few distinct minutes, so most rows tie with others on both keys: the
    derived events keep the given order among ties, as a stable sort does. Events given in
    time order (a log table's), or already in the order sought, are not sorted by those keys
    again (stable_order), with the same result."""
    def nulls_first(value):
        return (value is not None, value or 0)

    if given_order == "by time":
        rows = sorted(rows, key=lambda row: nulls_first(row[1]))
    elif given_order == "by user and time":
        rows = sorted(rows, key=lambda row: (nulls_first(row[0]), nulls_first(row[1])))
    origin = utc("2026-01-01 00:00")
    users = [row[0] for row in rows]
    minutes = [row[1] for row in rows]
    frame = pl.DataFrame(
        {
            "user_id": users,
            "event_time": [None if minute is None else origin + timedelta(minutes=minute) for minute in minutes],
            "event_type": ["page_view"] * len(rows),
            "row": list(range(len(rows))),
        },
        schema={"user_id": pl.Int64, "event_time": pl.Datetime("us", "UTC"), "event_type": pl.String, "row": pl.Int64},
    ).with_columns(pl.col("user_id").cast(user_dtype))
    # in two chunks, as a frame read in parts is
    frame = pl.concat([frame.head(len(rows) // 2), frame.slice(len(rows) // 2)], rechunk=False)
    if user_dtype == pl.String:  # text ids sort as text: "10" before "2"
        users = [None if user is None else str(user) for user in users]
    expected = stable_order(users, minutes)
    assert user_time_order(frame).to_list() == expected
    derived, _ = derive_sessions(frame.drop_nulls())
    kept = [row for row in expected if users[row] is not None and minutes[row] is not None]
    assert derived["row"].to_list() == kept


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(1, 3), st.one_of(st.none(), st.sampled_from(["a", "b", "c"])), st.integers(0, 5)),
        max_size=60,
    ),
    st.sampled_from([pl.Int64, pl.String]),
)
def test_given_sessions_are_numbered_in_user_and_session_order_each_in_time_order(rows, user_dtype):
    """With the source's session ids: one session per (user, session id), a missing id being
    one session of its own per user, numbered in (user, session id) order (a missing id
    first); each session's events in time order, ties in the given order. Against sorting
    the rows in Python."""
    origin = utc("2026-01-01 00:00")
    frame = pl.DataFrame(
        {
            "user_id": [row[0] for row in rows],
            "event_time": [origin + timedelta(minutes=row[2]) for row in rows],
            "event_type": ["page_view"] * len(rows),
            "session_id": [row[1] for row in rows],
            "row": list(range(len(rows))),
        },
        schema={"user_id": pl.Int64, "event_time": pl.Datetime("us", "UTC"), "event_type": pl.String, "session_id": pl.String, "row": pl.Int64},
    ).with_columns(pl.col("user_id").cast(user_dtype))
    user_key = str if user_dtype == pl.String else int
    ordered = sorted(range(len(rows)), key=lambda row: (user_key(rows[row][0]), rows[row][1] is not None, rows[row][1] or "", rows[row][2]))
    keys = [(user_key(rows[row][0]), rows[row][1]) for row in ordered]
    numbers = list(dict.fromkeys(keys))
    derived, sessions = derive_sessions(frame)
    assert derived["row"].to_list() == ordered
    assert derived["session_id"].to_list() == [numbers.index(key) + 1 for key in keys]
    assert sessions["event_count"].to_list() == [keys.count(key) for key in numbers]
