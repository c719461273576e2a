"""The global segment filter on hand-made frames: channel and device by session and order,
region by where the user lives."""

from datetime import date

import polars as pl

from metrics.segments import Segment

USERS = pl.DataFrame(
    {"user_id": [1, 2, 3], "channel": ["email", "social", "email"], "device": ["ios", "web", "web"], "region": ["East", "West", "West"]}
)
SESSIONS = pl.DataFrame({"session_id": [10, 20, 30, 31], "user_id": [1, 2, 3, 3], "channel": ["email", "social", "social", "email"], "device": ["ios", "web", "web", "web"]})
EVENTS = pl.DataFrame(
    {"user_id": [1, 1, 2, 3, 3], "session_id": [10, 10, 20, 30, 31], "session_channel": ["email", "email", "social", "social", "email"], "session_device": ["ios", "ios", "web", "web", "web"]}
)
ORDERS = pl.DataFrame({"order_id": [100, 200, 300], "user_id": [1, 2, 3], "channel": ["email", "social", "social"], "device": ["ios", "web", "web"]})


def kept(segment: Segment) -> dict[str, list]:
    events, sessions, orders, users = segment.apply(EVENTS, SESSIONS, ORDERS, USERS)
    return {
        "events": events["session_id"].to_list(),
        "sessions": sessions["session_id"].to_list(),
        "orders": orders["order_id"].to_list(),
        "users": users["user_id"].to_list(),
    }


def test_everything_keeps_every_row():
    assert kept(Segment()) == {"events": [10, 10, 20, 30, 31], "sessions": [10, 20, 30, 31], "orders": [100, 200, 300], "users": [1, 2, 3]}


def test_a_region_keeps_the_activity_of_the_users_who_live_there():
    assert kept(Segment(regions=("West",))) == {"events": [20, 30, 31], "sessions": [20, 30, 31], "orders": [200, 300], "users": [2, 3]}


def test_region_and_channel_together_keep_what_is_in_both():
    # user 3 lives in the West; of their sessions only 31 came by email; their order by social
    assert kept(Segment(channels=("email",), regions=("West",))) == {"events": [31], "sessions": [31], "orders": [], "users": [3]}


def test_a_shop_without_regions_keeps_nothing_for_a_region_filter():
    events, sessions, orders, users = Segment(regions=("West",)).apply(EVENTS, SESSIONS, ORDERS, USERS.drop("region"))
    assert (events.height, sessions.height, orders.height, users.height) == (0, 0, 0, 0)


def test_the_shop_spans_the_business_days_of_its_first_and_last_event():
    from conftest import events_frame

    from shop_analytics.loading import Shop

    # 2026-03-01 15:59 UTC is 23:59 in Shanghai, 16:00 UTC the next day there
    events = events_frame([(1, "2026-03-01 16:00"), (2, "2026-02-28 15:59"), (1, "2026-03-05 03:00")])
    shop = Shop({"events": events}, None, "hand-made")
    assert shop.date_span("Asia/Shanghai") == (date(2026, 2, 28), date(2026, 3, 5))
    assert shop.date_span("America/Los_Angeles") == (date(2026, 2, 28), date(2026, 3, 4))
    assert Shop({"events": events.clear()}, None, "empty").date_span("UTC") is None
