"""Session derivation: the 30-minute rule, and sessions given by the source."""

import polars as pl

from conftest import utc
from metrics.sessions import derive_sessions


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
