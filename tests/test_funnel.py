"""Funnels (SPEC section 3): hand-computed shops with whole results asserted, a brute-force
oracle on random shops for every mode, the real sample shop, and the spec's validations.

Unless a test says otherwise the business zone is UTC and the period is 2026-03-02..03-04.
"""

import dataclasses
import statistics
from collections import defaultdict
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from conftest import utc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from metrics.funnel import FunnelSpec, FunnelStep, drop_offs, funnel, funnel_users, time_between_steps

START, END = date(2026, 3, 2), date(2026, 3, 4)
UTC_TIME = pl.Datetime("us", "UTC")
VIEW_CART_BUY = ("product_view", "add_to_cart", "purchase")


def shop_events(rows) -> pl.DataFrame:
    """Events from (user_id, 'YYYY-MM-DD HH:MM[:SS]', event_type[, {property: value}]) rows."""
    return pl.DataFrame(
        {
            "user_id": [row[0] for row in rows],
            "event_time": [utc(row[1]) for row in rows],
            "event_type": [row[2] for row in rows],
            "channel": [row[3].get("channel") if len(row) > 3 else None for row in rows],
            "product_id": [row[3].get("product_id") if len(row) > 3 else None for row in rows],
        },
        schema={"user_id": pl.Int64, "event_time": UTC_TIME, "event_type": pl.String, "channel": pl.String, "product_id": pl.Int64},
    )


def entrants(rows, step_count: int = 3, **extra) -> pl.DataFrame:
    """Expected funnel_users: (user_id, entry_time, furthest_step, [step times], in_progress)."""
    data = {
        "user_id": [row[0] for row in rows],
        "entry_time": [utc(row[1]) for row in rows],
        "furthest_step": [row[2] for row in rows],
    }
    for step in range(step_count):
        data[f"step_{step + 1}_at"] = [utc(row[3][step]) if step < len(row[3]) else None for row in rows]
    data["in_progress"] = [row[4] for row in rows]
    schema = {"user_id": pl.Int64, "entry_time": UTC_TIME, "furthest_step": pl.Int64}
    schema |= {f"step_{step + 1}_at": UTC_TIME for step in range(step_count)}
    schema["in_progress"] = pl.Boolean
    frame = pl.DataFrame(data, schema=schema)
    return frame.with_columns(pl.Series(name, values) for name, values in extra.items())


def funnel_table(rows, breakdown: tuple[str, list] | None = None) -> pl.DataFrame:
    """Expected funnel: (step, event, users, from_previous, from_first, median_seconds, in_progress)."""
    columns = ("step", "event", "users", "conversion_from_previous", "conversion_from_first", "median_seconds_from_previous", "in_progress")
    schema = dict(zip(columns, (pl.Int64, pl.String, pl.Int64, pl.Float64, pl.Float64, pl.Float64, pl.Int64)))
    frame = pl.DataFrame([dict(zip(columns, row)) for row in rows], schema=schema)
    if breakdown:
        name, values = breakdown
        frame = frame.select(pl.Series(name, values), pl.all())
    return frame


def run(rows, spec, *, start=START, end=END, tz="UTC", users=None):
    events = shop_events(rows)
    return funnel_users(events, spec, start=start, end=end, tz=tz, users=users)


# --- ordered funnels, by hand --------------------------------------------------------------


def test_a_user_counts_once_with_the_later_entry_that_converts():
    rows = [
        (1, "2026-03-02 09:00", "product_view"),  # entry 1: its cart is more than a day later
        (1, "2026-03-02 12:00", "product_view"),  # entry 2: likewise
        (1, "2026-03-03 13:00", "product_view"),  # entry 3: converts
        (1, "2026-03-03 14:00", "add_to_cart"),
        (1, "2026-03-03 14:30", "purchase"),
        (2, "2026-03-02 10:00", "product_view"),
        (2, "2026-03-02 10:10", "add_to_cart"),
        (3, "2026-03-09 10:00", "page_view"),  # sets the data's end: every window has closed
    ]
    spec = FunnelSpec(VIEW_CART_BUY, window=timedelta(days=1))
    assert_frame_equal(
        run(rows, spec),
        entrants(
            [
                (1, "2026-03-03 13:00", 3, ["2026-03-03 13:00", "2026-03-03 14:00", "2026-03-03 14:30"], False),
                (2, "2026-03-02 10:00", 2, ["2026-03-02 10:00", "2026-03-02 10:10"], False),
            ]
        ),
    )
    assert_frame_equal(
        funnel(shop_events(rows), spec, start=START, end=END, tz="UTC"),
        funnel_table(
            [
                (1, "product_view", 2, None, 1.0, None, 0),
                (2, "add_to_cart", 2, 1.0, 1.0, 2100.0, 0),  # median of 3600 s and 600 s
                (3, "purchase", 1, 0.5, 0.5, 1800.0, 0),
            ]
        ),
    )


def test_a_repeated_step_type_needs_a_repeated_event():
    rows = [
        (1, "2026-03-02 10:00", "product_view"),
        (1, "2026-03-02 10:05", "add_to_cart"),
        (2, "2026-03-02 10:00", "product_view"),
        (2, "2026-03-02 10:01", "product_view"),
        (2, "2026-03-02 10:05", "add_to_cart"),
        (3, "2026-03-02 10:00", "product_view"),  # two views at one instant are two events
        (3, "2026-03-02 10:00", "product_view"),
        (3, "2026-03-02 10:30", "add_to_cart"),
    ]
    spec = FunnelSpec(("product_view", "product_view", "add_to_cart"))
    assert_frame_equal(
        run(rows, spec),
        entrants(
            [
                (1, "2026-03-02 10:00", 1, ["2026-03-02 10:00"], True),
                (2, "2026-03-02 10:00", 3, ["2026-03-02 10:00", "2026-03-02 10:01", "2026-03-02 10:05"], True),
                (3, "2026-03-02 10:00", 3, ["2026-03-02 10:00", "2026-03-02 10:00", "2026-03-02 10:30"], True),
            ]
        ),
    )


def test_different_events_at_one_instant_match_consecutive_steps_in_any_order():
    rows = [
        (1, "2026-03-02 10:00", "purchase"),  # listed first on purpose: an instant has no order
        (1, "2026-03-02 10:00", "add_to_cart"),
        (1, "2026-03-02 10:00", "product_view"),
        (2, "2026-03-02 10:00", "product_view"),
        (2, "2026-03-02 10:00", "purchase"),  # purchase at the entry instant, cart only later
        (2, "2026-03-02 11:00", "add_to_cart"),
    ]
    assert_frame_equal(
        run(rows, FunnelSpec(VIEW_CART_BUY)),
        entrants(
            [
                (1, "2026-03-02 10:00", 3, ["2026-03-02 10:00"] * 3, True),
                (2, "2026-03-02 10:00", 2, ["2026-03-02 10:00", "2026-03-02 11:00"], True),
            ]
        ),
    )


def test_the_window_is_inclusive_to_the_second():
    rows = [
        (1, "2026-03-02 10:00:00", "product_view"),
        (1, "2026-03-02 11:00:00", "add_to_cart"),  # exactly W after the entry: inside
        (2, "2026-03-02 10:00:00", "product_view"),
        (2, "2026-03-02 11:00:01", "add_to_cart"),  # W + 1 s: outside
    ]
    spec = FunnelSpec(("product_view", "add_to_cart"), window=timedelta(hours=1))
    assert_frame_equal(
        run(rows, spec),
        entrants(
            [
                (1, "2026-03-02 10:00", 2, ["2026-03-02 10:00", "2026-03-02 11:00"], False),
                (2, "2026-03-02 10:00", 1, ["2026-03-02 10:00"], False),
            ],
            step_count=2,
        ),
    )


def test_the_period_bounds_entry_only_so_late_steps_count():
    rows = [
        (1, "2026-03-01 23:00", "product_view"),  # the day before the period: no entry
        (1, "2026-03-02 01:00", "add_to_cart"),
        (2, "2026-03-04 23:00", "product_view"),  # last day of the period
        (2, "2026-03-05 02:00", "add_to_cart"),  # after the period's end, within the window
        (2, "2026-03-06 09:00", "purchase"),
        (3, "2026-03-05 00:00", "product_view"),  # the day after: no entry
    ]
    assert_frame_equal(
        run(rows, FunnelSpec(VIEW_CART_BUY)),
        entrants([(2, "2026-03-04 23:00", 3, ["2026-03-04 23:00", "2026-03-05 02:00", "2026-03-06 09:00"], True)]),
    )


def test_an_empty_range_gives_every_step_with_no_users():
    rows = [(1, "2026-03-10 10:00", "product_view"), (1, "2026-03-10 10:05", "add_to_cart")]
    spec = FunnelSpec(VIEW_CART_BUY)
    assert_frame_equal(
        funnel(shop_events(rows), spec, start=START, end=END, tz="UTC"),
        funnel_table(
            [
                (1, "product_view", 0, None, None, None, 0),
                (2, "add_to_cart", 0, None, None, None, 0),
                (3, "purchase", 0, None, None, None, 0),
            ]
        ),
    )
    assert_frame_equal(run(rows, spec), entrants([]))


def test_entry_days_are_days_in_asia_shanghai():
    rows = [
        (1, "2026-03-01 15:59", "product_view"),  # 03-01 23:59 in Shanghai: before the period
        (1, "2026-03-01 16:30", "add_to_cart"),
        (2, "2026-03-01 16:00", "product_view"),  # 03-02 00:00 in Shanghai: enters
        (2, "2026-03-01 16:30", "add_to_cart"),
        (3, "2026-03-04 16:00", "product_view"),  # 03-05 00:00 in Shanghai: after the period
    ]
    assert_frame_equal(
        run(rows, FunnelSpec(VIEW_CART_BUY), tz="Asia/Shanghai"),
        entrants([(2, "2026-03-01 16:00", 2, ["2026-03-01 16:00", "2026-03-01 16:30"], True)]),
    )


def test_entry_days_follow_berlin_across_the_change_to_summer_time():
    # 2026-03-29 in Berlin runs from 03-28 23:00 UTC (CET) to 03-29 22:00 UTC (CEST): 23 hours.
    rows = [
        (1, "2026-03-28 22:59", "product_view"),  # 03-28 23:59 CET: before the period
        (2, "2026-03-28 23:00", "product_view"),  # 03-29 00:00 CET: enters
        (3, "2026-03-29 21:59", "product_view"),  # 03-29 23:59 CEST: enters
        (3, "2026-03-29 22:30", "add_to_cart"),
        (4, "2026-03-29 22:00", "product_view"),  # 03-30 00:00 CEST: after the period
    ]
    day = date(2026, 3, 29)
    assert_frame_equal(
        run(rows, FunnelSpec(("product_view", "add_to_cart")), start=day, end=day, tz="Europe/Berlin"),
        entrants(
            [
                (2, "2026-03-28 23:00", 1, ["2026-03-28 23:00"], True),
                (3, "2026-03-29 21:59", 2, ["2026-03-29 21:59", "2026-03-29 22:30"], True),
            ],
            step_count=2,
        ),
    )


def test_an_excluded_event_between_matched_steps_voids_the_entry():
    rows = [
        (1, "2026-03-02 10:00", "product_view"),
        (1, "2026-03-02 10:05", "search"),  # between view and cart: the entry does not count
        (1, "2026-03-02 10:10", "add_to_cart"),
        (2, "2026-03-02 10:00", "product_view"),
        (2, "2026-03-02 10:10", "add_to_cart"),
        (2, "2026-03-02 10:20", "search"),  # after the furthest step: not between
        (3, "2026-03-02 10:00", "product_view"),
        (3, "2026-03-02 10:05", "search"),
        (3, "2026-03-02 11:00", "product_view"),  # a later entry avoids the search
        (3, "2026-03-02 11:10", "add_to_cart"),
        (3, "2026-03-02 11:10", "purchase"),
        (4, "2026-03-02 10:00", "product_view"),
        (4, "2026-03-02 10:10", "search"),  # at the instant of a matched step: not strictly between
        (4, "2026-03-02 10:10", "add_to_cart"),
        (5, "2026-03-02 10:00", "product_view"),
        (5, "2026-03-02 10:05", "add_to_cart"),
        (5, "2026-03-02 10:06", "search"),  # between cart and purchase: voids the whole entry
        (5, "2026-03-02 10:30", "purchase"),
    ]
    spec = FunnelSpec(VIEW_CART_BUY, exclusions="search")
    assert_frame_equal(
        run(rows, spec),
        entrants(
            [
                (2, "2026-03-02 10:00", 2, ["2026-03-02 10:00", "2026-03-02 10:10"], True),
                (3, "2026-03-02 11:00", 3, ["2026-03-02 11:00", "2026-03-02 11:10", "2026-03-02 11:10"], True),
                (4, "2026-03-02 10:00", 2, ["2026-03-02 10:00", "2026-03-02 10:10"], True),
            ]
        ),
    )


def test_a_step_window_counts_from_step_one():
    rows = [
        (1, "2026-03-02 10:00", "product_view"),
        (1, "2026-03-02 12:00", "add_to_cart"),  # 2 h after the view: past the cart's 1 h
        (1, "2026-03-02 12:10", "purchase"),
        (2, "2026-03-02 10:00", "product_view"),
        (2, "2026-03-02 10:30", "add_to_cart"),
        (2, "2026-03-03 09:00", "purchase"),  # 23 h: within the funnel's day
        (3, "2026-03-02 10:00", "product_view"),
        (3, "2026-03-02 10:59", "add_to_cart"),
        (3, "2026-03-02 11:00", "add_to_cart"),
    ]
    spec = FunnelSpec(
        ("product_view", FunnelStep("add_to_cart", window=timedelta(hours=1)), "purchase"),
        window=timedelta(days=1),
    )
    assert_frame_equal(
        run(rows, spec),
        entrants(
            [
                (1, "2026-03-02 10:00", 1, ["2026-03-02 10:00"], True),
                (2, "2026-03-02 10:00", 3, ["2026-03-02 10:00", "2026-03-02 10:30", "2026-03-03 09:00"], True),
                (3, "2026-03-02 10:00", 2, ["2026-03-02 10:00", "2026-03-02 10:59"], True),
            ]
        ),
    )


def test_property_filters_choose_the_events_of_a_step():
    rows = [
        (1, "2026-03-02 10:00", "product_view", {"channel": "email", "product_id": 7}),
        (1, "2026-03-02 10:05", "add_to_cart", {"product_id": 3}),  # not one of the products
        (1, "2026-03-02 10:06", "add_to_cart", {"product_id": 2}),
        (2, "2026-03-02 10:00", "product_view", {"channel": "social"}),  # not from email: no entry
        (2, "2026-03-02 10:05", "add_to_cart", {"product_id": 1}),
        (3, "2026-03-02 10:00", "product_view"),  # no channel: a null matches no filter
    ]
    spec = FunnelSpec(
        (
            FunnelStep("product_view", filters=(("channel", "==", "email"),)),
            FunnelStep("add_to_cart", filters=(("product_id", "in", [1, 2]),)),
        )
    )
    assert_frame_equal(
        run(rows, spec),
        entrants([(1, "2026-03-02 10:00", 2, ["2026-03-02 10:00", "2026-03-02 10:06"], True)], step_count=2),
    )
    assert funnel(shop_events(rows), spec, start=START, end=END, tz="UTC")["event"].to_list() == [
        "product_view (channel == 'email')",
        "add_to_cart (product_id in (1, 2))",
    ]


def test_overlapping_filters_at_one_instant_share_their_events_as_well_as_possible():
    # The plain view can take the view of product 2 and leave product 1's for the filtered step.
    rows = [
        (1, "2026-03-02 10:00", "page_view"),
        (1, "2026-03-02 10:05", "product_view", {"product_id": 1}),
        (1, "2026-03-02 10:05", "product_view", {"product_id": 2}),
        (2, "2026-03-02 10:00", "page_view"),
        (2, "2026-03-02 10:05", "product_view", {"product_id": 1}),
    ]
    spec = FunnelSpec(("page_view", "product_view", FunnelStep("product_view", filters=(("product_id", "==", 1),))))
    assert_frame_equal(
        run(rows, spec),
        entrants(
            [
                (1, "2026-03-02 10:00", 3, ["2026-03-02 10:00", "2026-03-02 10:05", "2026-03-02 10:05"], True),
                (2, "2026-03-02 10:00", 2, ["2026-03-02 10:00", "2026-03-02 10:05"], True),
            ]
        ),
    )


def test_breakdown_by_the_entry_events_channel_and_by_a_user_property():
    rows = [
        (1, "2026-03-02 09:00", "product_view", {"channel": "social"}),  # its cart is 25.5 h later
        (1, "2026-03-03 10:00", "product_view", {"channel": "email"}),  # the entry that counts
        (1, "2026-03-03 10:30", "add_to_cart"),
        (2, "2026-03-02 10:00", "product_view", {"channel": "email"}),
        (3, "2026-03-02 10:00", "product_view", {"channel": "social"}),
        (3, "2026-03-02 10:20", "add_to_cart"),
        (3, "2026-03-02 10:40", "purchase"),
        (4, "2026-03-20 10:00", "page_view"),
    ]
    day = timedelta(days=1)
    by_channel = funnel(shop_events(rows), FunnelSpec(VIEW_CART_BUY, day, breakdown="channel"), start=START, end=END, tz="UTC")
    assert_frame_equal(
        by_channel,
        funnel_table(
            [
                (1, "product_view", 2, None, 1.0, None, 0),
                (2, "add_to_cart", 1, 0.5, 0.5, 1800.0, 0),
                (3, "purchase", 0, 0.0, 0.0, None, 0),
                (1, "product_view", 1, None, 1.0, None, 0),
                (2, "add_to_cart", 1, 1.0, 1.0, 1200.0, 0),
                (3, "purchase", 1, 1.0, 1.0, 1200.0, 0),
            ],
            breakdown=("channel", ["email"] * 3 + ["social"] * 3),
        ),
    )
    users = pl.DataFrame({"user_id": [1, 2, 3], "region": ["north", "south", "north"]})
    by_region = funnel(
        shop_events(rows), FunnelSpec(VIEW_CART_BUY, day, breakdown="region"), start=START, end=END, tz="UTC", users=users
    )
    assert by_region.select("region", "step", "users").rows() == [
        ("north", 1, 2), ("north", 2, 2), ("north", 3, 1),
        ("south", 1, 1), ("south", 2, 0), ("south", 3, 0),
    ]
    # With a week's window both of user 1's entries reach the cart: the earlier one counts.
    by_week = run(rows, FunnelSpec(VIEW_CART_BUY, breakdown="channel"))
    assert by_week.select("user_id", "entry_time", "channel").rows()[0] == (1, utc("2026-03-02 09:00"), "social")


def test_in_progress_entries_are_those_whose_window_is_open_at_the_datas_end():
    rows = [
        (1, "2026-03-02 10:00", "product_view"),  # window ends 03-03 10:00, before the data's end
        (2, "2026-03-03 10:00", "product_view"),  # window ends 03-04 10:00: exactly the end, closed
        (3, "2026-03-03 10:00:01", "product_view"),  # window ends a second after the data's end
        (3, "2026-03-03 11:00", "add_to_cart"),
        (4, "2026-03-04 10:00", "page_view"),  # the data's end
    ]
    spec = FunnelSpec(("product_view", "add_to_cart"), window=timedelta(days=1))
    assert_frame_equal(
        run(rows, spec),
        entrants(
            [
                (1, "2026-03-02 10:00", 1, ["2026-03-02 10:00"], False),
                (2, "2026-03-03 10:00", 1, ["2026-03-03 10:00"], False),
                (3, "2026-03-03 10:00:01", 2, ["2026-03-03 10:00:01", "2026-03-03 11:00"], True),
            ],
            step_count=2,
        ),
    )
    assert funnel(shop_events(rows), spec, start=START, end=END, tz="UTC")["in_progress"].to_list() == [1, 1]


def test_drop_offs_list_each_user_at_the_last_step_reached():
    rows = [
        (1, "2026-03-02 10:00", "product_view", {"channel": "email"}),
        (2, "2026-03-02 10:00", "product_view", {"channel": "social"}),
        (2, "2026-03-02 10:30", "add_to_cart"),
        (3, "2026-03-02 10:00", "product_view", {"channel": "email"}),
        (3, "2026-03-02 10:30", "add_to_cart"),
        (3, "2026-03-02 11:00", "purchase"),
        (4, "2026-03-20 10:00", "page_view"),
    ]
    listed = drop_offs(shop_events(rows), FunnelSpec(VIEW_CART_BUY, breakdown="channel"), start=START, end=END, tz="UTC")
    assert_frame_equal(
        listed,
        pl.DataFrame(
            {
                "step": [1, 2],
                "user_id": [1, 2],
                "entry_time": [utc("2026-03-02 10:00")] * 2,
                "reached_at": [utc("2026-03-02 10:00"), utc("2026-03-02 10:30")],
                "in_progress": [False, False],
                "channel": ["email", "social"],
            },
            schema_overrides={"entry_time": UTC_TIME, "reached_at": UTC_TIME},
        ),
    )


def test_time_between_steps_gives_each_users_seconds_per_step():
    rows = [
        (1, "2026-03-02 10:00", "product_view"),
        (1, "2026-03-02 10:30", "add_to_cart"),
        (1, "2026-03-02 10:30", "purchase"),
        (2, "2026-03-02 10:00", "product_view"),
        (2, "2026-03-02 12:00", "add_to_cart"),
    ]
    assert_frame_equal(
        time_between_steps(shop_events(rows), FunnelSpec(VIEW_CART_BUY), start=START, end=END, tz="UTC"),
        pl.DataFrame({"user_id": [1, 2, 1], "from_step": [1, 1, 2], "to_step": [2, 2, 3], "seconds": [1800.0, 7200.0, 0.0]}),
    )


# --- strict and unordered modes, by hand ----------------------------------------------------


def test_strict_mode_is_broken_by_an_event_in_between_but_not_by_one_at_the_same_instant():
    rows = [
        (1, "2026-03-02 10:00", "product_view"),
        (1, "2026-03-02 10:01", "page_view"),  # in between: breaks the chain
        (1, "2026-03-02 10:02", "add_to_cart"),
        (2, "2026-03-02 10:00", "product_view"),
        (2, "2026-03-02 10:02", "add_to_cart"),
        (2, "2026-03-02 10:02", "page_view"),  # same instant as the cart: not in between
        (2, "2026-03-02 10:03", "purchase"),
    ]
    strict = FunnelSpec(VIEW_CART_BUY, mode="strict")
    assert_frame_equal(
        run(rows, strict),
        entrants(
            [
                (1, "2026-03-02 10:00", 1, ["2026-03-02 10:00"], True),
                (2, "2026-03-02 10:00", 3, ["2026-03-02 10:00", "2026-03-02 10:02", "2026-03-02 10:03"], True),
            ]
        ),
    )
    assert run(rows, FunnelSpec(VIEW_CART_BUY))["furthest_step"].to_list() == [2, 3]


def test_strict_mode_may_take_fewer_steps_at_an_instant_to_go_further():
    # Taking view and cart at 10:00 needs checkout next, but 10:01 holds a cart: that chain
    # stops at step 2. Taking only the view at 10:00 lets 10:01's cart be step 2 and go on.
    rows = [
        (1, "2026-03-02 10:00", "product_view"),
        (1, "2026-03-02 10:00", "add_to_cart"),
        (1, "2026-03-02 10:01", "add_to_cart"),
        (1, "2026-03-02 10:02", "checkout"),
        (1, "2026-03-02 10:03", "add_to_cart"),
    ]
    spec = FunnelSpec(("product_view", "add_to_cart", "checkout", "add_to_cart"), mode="strict")
    # Each step's time is the earliest instant at which some chain from the entry had taken
    # that many steps: step 2 at 10:00, by the chain that stopped there.
    assert_frame_equal(
        run(rows, spec),
        entrants(
            [(1, "2026-03-02 10:00", 4, ["2026-03-02 10:00", "2026-03-02 10:00", "2026-03-02 10:02", "2026-03-02 10:03"], True)],
            step_count=4,
        ),
    )


def test_unordered_mode_counts_steps_done_in_reverse_order():
    rows = [
        (1, "2026-03-02 10:00", "purchase"),
        (1, "2026-03-02 10:10", "add_to_cart"),
        (1, "2026-03-02 10:20", "product_view"),
        (2, "2026-03-01 09:00", "add_to_cart"),  # the day before the period, exactly W before the entry
        (2, "2026-03-02 09:00", "product_view"),
        (3, "2026-03-02 10:00", "add_to_cart"),
        (3, "2026-03-04 10:00", "product_view"),  # two days from the cart: no window holds both
        (4, "2026-03-01 08:59:59", "add_to_cart"),  # W + 1 s before the entry
        (4, "2026-03-02 09:00", "product_view"),
    ]
    spec = FunnelSpec(VIEW_CART_BUY, mode="unordered", window=timedelta(days=1))
    assert_frame_equal(
        run(rows, spec),
        entrants(
            [
                (1, "2026-03-02 10:20", 3, ["2026-03-02 10:20"] * 3, False),
                (2, "2026-03-02 09:00", 2, ["2026-03-02 09:00"] * 2, False),
                (3, "2026-03-04 10:00", 1, ["2026-03-04 10:00"], True),  # its window is still open
                (4, "2026-03-02 09:00", 1, ["2026-03-02 09:00"], False),
            ]
        ),
    )
    assert run(rows, FunnelSpec(VIEW_CART_BUY))["furthest_step"].to_list() == [1, 1, 1, 1]


def test_unordered_mode_voids_an_entry_whose_every_matching_spans_an_exclusion():
    rows = [
        (1, "2026-03-02 10:00", "add_to_cart"),
        (1, "2026-03-02 10:05", "search"),
        (1, "2026-03-02 10:10", "product_view"),  # the entry: its only cart is across the search
        (2, "2026-03-02 10:00", "add_to_cart"),
        (2, "2026-03-02 10:05", "search"),
        (2, "2026-03-02 10:10", "product_view"),
        (2, "2026-03-02 10:20", "add_to_cart"),  # a cart on this side of the search
        (3, "2026-03-02 10:00", "product_view"),  # the entry: its only cart is after the search
        (3, "2026-03-02 10:05", "search"),
        (3, "2026-03-02 10:10", "add_to_cart"),
        (4, "2026-03-02 10:00", "add_to_cart"),
        (4, "2026-03-02 10:00", "search"),  # at the cart's instant: not strictly between
        (4, "2026-03-02 10:10", "product_view"),
        (4, "2026-03-02 10:10", "search"),  # at the entry's instant: not strictly between
        (4, "2026-03-02 10:20", "add_to_cart"),
    ]
    spec = FunnelSpec(("product_view", "add_to_cart"), mode="unordered", exclusions=("search",))
    assert_frame_equal(
        run(rows, spec),
        entrants(
            [
                (2, "2026-03-02 10:10", 2, ["2026-03-02 10:10", "2026-03-02 10:20"], True),
                (4, "2026-03-02 10:10", 2, ["2026-03-02 10:10", "2026-03-02 10:10"], True),
            ],
            step_count=2,
        ),
    )


# --- every mode against a brute-force oracle ------------------------------------------------

BASE = datetime(2026, 3, 1, tzinfo=ZoneInfo("UTC"))
FILTER_CHECKS = {"==": lambda value, wanted: value is not None and value == wanted}


def step_matches(step: FunnelStep, event: dict) -> bool:
    return event["event_type"] == step.event_type and all(
        FILTER_CHECKS[operator](event.get(column), value) for column, operator, value in step.filters
    )


def strictly_between(events, earliest, latest, wanted=lambda event: True) -> bool:
    return any(earliest < event["event_time"] < latest and wanted(event) for event in events)


def ordered_matchings(events, entry, spec: FunnelSpec):
    """Every chain entry, e2, .., ej of distinct events with t1 <= .. <= tj in their windows."""

    def extend(chain):
        yield chain
        number = len(chain) + 1
        if number > len(spec.steps):
            return
        last = chain[-1]["event_time"]
        for event in events:
            if any(event is taken for taken in chain) or not step_matches(spec.steps[number - 1], event):
                continue
            if event["event_time"] < last or event["event_time"] - entry["event_time"] > spec.step_window(number):
                continue
            if spec.mode == "strict" and strictly_between(events, last, event["event_time"]):
                continue
            yield from extend(chain + [event])

    yield from extend([entry])


def unordered_matchings(events, entry, spec: FunnelSpec):
    """Every assignment of distinct events to s1..sj that fits one window with the entry."""

    def extend(matched):
        yield matched
        number = len(matched) + 1
        if number > len(spec.steps):
            return
        for event in events:
            if any(event is taken for taken in matched) or not step_matches(spec.steps[number - 1], event):
                continue
            times = [chosen["event_time"] for chosen in (*matched, event, entry)]
            if max(times) - min(times) <= spec.window:
                yield from extend(matched + [event])

    yield from extend([])


def oracle_users_per_step(events: list[dict], spec: FunnelSpec, start: date, end: date, tz: str) -> list[int]:
    """Users per step, straight from the SPEC's words, by enumerating every matching."""
    by_user = defaultdict(list)
    for event in events:
        by_user[event["user_id"]].append(event)
    users = [0] * len(spec.steps)
    for user_events in by_user.values():
        furthest = 0
        for entry in user_events:
            day = entry["event_time"].astimezone(ZoneInfo(tz)).date()
            if not (step_matches(spec.steps[0], entry) and start <= day <= end):
                continue
            if spec.mode == "unordered":
                matchings = list(unordered_matchings(user_events, entry, spec))
                # Exclusions are judged on matchings that use the entry (see match_unordered).
                judged = [m for m in matchings if any(event is entry for event in m)]
            else:
                matchings = judged = list(ordered_matchings(user_events, entry, spec))
            reach = max(len(matching) for matching in matchings)
            if any(
                len(matching) == reach
                and not strictly_between(
                    user_events,
                    min(event["event_time"] for event in matching),
                    max(event["event_time"] for event in matching),
                    lambda event: event["event_type"] in spec.exclusions,
                )
                for matching in judged
            ):
                furthest = max(furthest, reach)
        for step in range(furthest):
            users[step] += 1
    return users


@st.composite
def random_funnels(draw, mode: str):
    """A small random shop (<= 4 users, <= 12 events of A, B, C) and a funnel over it.

    Gaps between a user's events are often 0 or whole hours, so that simultaneous events and
    events exactly one window apart are common.
    """
    window = draw(st.sampled_from([timedelta(hours=4), timedelta(hours=12), timedelta(days=1)]))
    step_windows = [None, None, None, timedelta(hours=2), timedelta(hours=4)] if mode != "unordered" else [None]
    exclusions = draw(st.sampled_from([(), ("C",)]))
    steps = tuple(
        FunnelStep(
            draw(st.sampled_from("AB" if exclusions else "ABC")),
            filters=draw(st.sampled_from([(), (), (("p", "==", 1),)])),
            window=None if number == 0 else draw(st.sampled_from([w for w in step_windows if w is None or w <= window])),
        )
        for number in range(draw(st.sampled_from([2, 3, 4])))
    )
    spec = FunnelSpec(steps, window=window, mode=mode, exclusions=exclusions)
    # Each user walks the funnel with detours, so that random shops get far into it; a seeded
    # generator spreads the shops evenly where hypothesis's own draws favour tiny ones.
    rng = draw(st.randoms(use_true_random=False))
    events = []
    user_count = rng.randint(1, 4)
    for user_id in range(1, user_count + 1):
        minutes = rng.randint(0, 24 * 60)
        next_step = 0
        for _ in range(rng.randint(2, 12 // user_count)):
            minutes += rng.choice([0, 0, 30, 60, 60, 120, 240, rng.randint(0, 6 * 60)])
            event_type = rng.choice([steps[next_step % len(steps)].event_type] * 2 + list("ABCC"))
            next_step += event_type == steps[next_step % len(steps)].event_type
            p = rng.choice([1, 1, 2, None])
            events.append({"user_id": user_id, "event_time": BASE + timedelta(minutes=minutes), "event_type": event_type, "p": p})
    rng.shuffle(events)
    start = date(2026, 3, 1)
    end = start + timedelta(days=draw(st.integers(0, 1)))
    tz = draw(st.sampled_from(["UTC", "Asia/Shanghai"]))
    return events, spec, start, end, tz


def fast_users_per_step(events, spec, start, end, tz) -> list[int]:
    frame = pl.DataFrame(events, schema={"user_id": pl.Int64, "event_time": UTC_TIME, "event_type": pl.String, "p": pl.Int64})
    return funnel(frame, spec, start=start, end=end, tz=tz)["users"].to_list()


@pytest.mark.parametrize("mode", ["ordered", "strict", "unordered"])
def test_every_mode_agrees_with_the_brute_force_oracle(mode):
    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(random_funnels(mode))
    def agrees(case):
        events, spec, start, end, tz = case
        assert fast_users_per_step(events, spec, start, end, tz) == oracle_users_per_step(events, spec, start, end, tz)

    agrees()


def funnel_table_from_users(users: pl.DataFrame, spec: FunnelSpec) -> dict:
    """(breakdown value, step) -> (users, median seconds from the previous step, in progress),
    counted row by row over funnel_users' entrants."""
    rows = users.rows(named=True)
    values = {row[spec.breakdown] for row in rows} if spec.breakdown else {None}
    table = {}
    for value in values:
        mine = [row for row in rows if not spec.breakdown or row[spec.breakdown] == value]
        for step in range(1, len(spec.steps) + 1):
            at_step = [row for row in mine if row[f"step_{step}_at"] is not None]
            seconds = [(row[f"step_{step}_at"] - row[f"step_{step - 1}_at"]).total_seconds() for row in at_step] if step > 1 else []
            median = statistics.median(seconds) if seconds else None
            table[value, step] = (len(at_step), median, sum(row["in_progress"] for row in at_step))
    return table


@pytest.mark.parametrize("mode", ["ordered", "strict", "unordered"])
def test_the_funnel_table_counts_the_entrants_at_each_step(mode):
    """users, median_seconds_from_previous and in_progress per step and breakdown value are those
    of funnel_users' rows, with and without a breakdown (here `p`, null for some entries)."""

    @settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(random_funnels(mode), st.booleans())
    def counts(case, by_p):
        events, spec, start, end, tz = case
        if by_p:
            spec = dataclasses.replace(spec, breakdown="p")
        frame = pl.DataFrame(events, schema={"user_id": pl.Int64, "event_time": UTC_TIME, "event_type": pl.String, "p": pl.Int64})
        table = funnel(frame, spec, start=start, end=end, tz=tz)
        key = spec.breakdown or pl.lit(None)
        found = {
            (value, step): (users, median, in_progress)
            for value, step, users, median, in_progress in table.select(
                key, "step", "users", "median_seconds_from_previous", "in_progress"
            ).iter_rows()
        }
        expected = funnel_table_from_users(funnel_users(frame, spec, start=start, end=end, tz=tz), spec)
        assert found == expected

    counts()


# --- the sample shop ------------------------------------------------------------------------


def test_on_the_sample_shop_each_mode_nests_in_the_next(small_shop):
    events = small_shop.events
    last_day = small_shop.date_span("Asia/Shanghai")[1]
    period = dict(start=last_day - timedelta(days=29), end=last_day, tz="Asia/Shanghai")
    steps = ("product_view", "add_to_cart", "checkout", "purchase")
    users = {mode: funnel(events, FunnelSpec(steps, mode=mode), **period)["users"].to_list() for mode in ("strict", "ordered", "unordered")}
    # A strict chain is an ordered matching, and an ordered matching fits an unordered window.
    assert users["ordered"][0] == users["strict"][0] == users["unordered"][0] > 0
    assert all(s <= o <= u for s, o, u in zip(users["strict"], users["ordered"], users["unordered"]))
    assert users["ordered"] == sorted(users["ordered"], reverse=True) and users["ordered"][-1] > 0


# --- the spec's validations -----------------------------------------------------------------


@pytest.mark.parametrize(
    "arguments, message",
    [
        (dict(steps=("product_view",)), "a funnel needs at least two steps"),
        (dict(steps=VIEW_CART_BUY, mode="sideways"), "unknown funnel mode 'sideways': use one of ordered, strict, unordered"),
        (dict(steps=VIEW_CART_BUY, window=timedelta(0)), "the conversion window must be positive, not 0:00:00"),
        (
            dict(steps=("product_view", FunnelStep("purchase", filters=(("amount", "~", 3),)))),
            "step 2 filters 'amount' with unknown operator '~': use one of ==, !=, <, <=, >, >=, in, not in",
        ),
        (
            dict(steps=("product_view", FunnelStep("purchase", filters=(("channel", "in", "email"),)))),
            "step 2: 'channel' in needs a list of values, not a string",
        ),
        (
            dict(steps=(FunnelStep("product_view", window=timedelta(hours=1)), "purchase")),
            "step 1 is the entry: windows count from it, so it takes no window of its own",
        ),
        (
            dict(steps=("product_view", FunnelStep("purchase", window=timedelta(days=8)))),
            "step 2's window (8 days, 0:00:00) is larger than the funnel's conversion window (7 days, 0:00:00)",
        ),
        (
            dict(steps=("product_view", FunnelStep("purchase", window=timedelta(seconds=-1)))),
            "step 2's window must be positive, not -1 day, 23:59:59",
        ),
        (
            dict(steps=("product_view", FunnelStep("purchase", window=timedelta(hours=1))), mode="unordered"),
            "per-step windows need an ordered or strict funnel: unordered steps have no step-1 time to count them from",
        ),
        (dict(steps=VIEW_CART_BUY, exclusions=("purchase", "search")), "an excluded event type cannot also be a step: purchase"),
    ],
)
def test_a_spec_is_checked_when_made(arguments, message):
    with pytest.raises(ValueError) as raised:
        FunnelSpec(**arguments)
    assert str(raised.value) == message


def test_absent_columns_are_named():
    events = shop_events([(1, "2026-03-02 10:00", "product_view")])
    with_filter = FunnelSpec(("product_view", FunnelStep("purchase", filters=(("coupon_code", "==", "X"),))))
    with pytest.raises(ValueError, match="need event columns the events do not have: coupon_code"):
        funnel(events, with_filter, start=START, end=END, tz="UTC")
    with pytest.raises(ValueError, match="the breakdown 'region' is neither an events column nor a users column"):
        funnel(events, FunnelSpec(VIEW_CART_BUY, breakdown="region"), start=START, end=END, tz="UTC")
