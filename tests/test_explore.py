"""Explore pivots on a hand-made shop whose cells were computed by hand.

Business zone Asia/Shanghai (UTC+8); the period is 03-01..03-02 local, that is
2026-02-28 16:00 to 2026-03-02 16:00 UTC.
"""

from datetime import date, datetime, timedelta

import polars as pl
import pytest
from conftest import utc
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from metrics.explore import MEASURES, PivotError, measure_total, pivot, pivot_wide
from metrics.kpis import daily_kpis
from metrics.orders import VALID_ORDER_STATUSES
from metrics.periods import period_summary
from metrics.sessions import derive_sessions

TZ = "Asia/Shanghai"
PERIOD = {"start": date(2026, 3, 1), "end": date(2026, 3, 2), "tz": TZ}
UTC_TIME = pl.Datetime("us", "UTC")

USERS = pl.DataFrame(
    {
        "user_id": [1, 2, 3, 4],
        "signup_at": [
            utc("2026-02-01 08:00"),
            utc("2026-03-01 15:59"),  # 03-01 23:59 local: in the period
            utc("2026-03-02 16:00"),  # 03-03 00:00 local: after it
            utc("2026-03-01 02:00"),
        ],
        "channel": ["organic", "social", "organic", None],
        "device": ["app", "mobile_web", "app", "desktop"],
        "region": ["East", "East", "West", "West"],
        "member_level": ["gold", "regular", None, "regular"],
    }
)
ORDERS = pl.DataFrame(
    {
        "order_id": [1, 2, 3, 4, 5, 6, 7, 8],
        "user_id": [1, 1, 1, 2, 3, 4, 4, 2],
        "created_at": [
            utc("2026-02-28 15:59"),  # 02-28 23:59 local: before the period
            utc("2026-02-28 16:00"),  # 03-01 00:00 local: in it
            utc("2026-03-01 10:00"),
            utc("2026-03-01 12:00"),
            utc("2026-03-02 15:59"),  # 03-02 23:59 local: in it
            utc("2026-03-02 03:00"),
            utc("2026-03-02 04:00"),
            utc("2026-03-02 16:00"),  # 03-03 00:00 local: after it
        ],
        "amount": [999.0, 100.0, 50.0, 80.0, 40.0, 70.0, 30.0, 500.0],
        "status": ["completed", "paid", "completed", "refunded", "shipped", "cancelled", "paid", "paid"],
        # Orders 3, 5 and 7 have no channel of their own: their users' acquisition channels
        # (organic, organic, none) stand in.
        "channel": ["organic", "email", None, "social", None, "email", None, "social"],
        "campaign_id": [1, 1, None, 2, 9, 1, None, 2],  # 9 is not in the campaigns table
        "refund_amount": [None, 20.0, 10.0, 80.0, None, None, None, None],
        "refunded_at": [None, utc("2026-03-01 08:00"), utc("2026-03-02 16:30"), utc("2026-03-02 01:00"),
                        None, None, None, None],
    },
    schema_overrides={"refunded_at": UTC_TIME},
)
ORDER_ITEMS = pl.DataFrame(
    {
        "order_id": [1, 2, 2, 3, 4, 5, 6, 7, 8],
        "product_id": [10, 10, 11, 12, 11, 10, 11, 13, 11],
        "quantity": [1, 2, 1, 5, 2, 1, 7, 3, 1],
        "unit_price": [999.0, 30.0, 45.0, 10.0, 40.0, 40.0, 10.0, 10.0, 500.0],
    }
)
PRODUCTS = pl.DataFrame(
    {
        "product_id": [10, 11, 12, 13],
        "name": ["Mug", "Shirt", "Sock", "Lamp"],
        "category": ["Home", "Apparel", "Apparel", None],
    }
)
CAMPAIGNS = pl.DataFrame(
    {
        "campaign_id": [1, 2, 3],
        "name": ["Spring Sale", "Queen's Day 女王节", "Unused"],
        "start_date": [date(2026, 2, 20), date(2026, 3, 1), date(2026, 6, 1)],
        "end_date": [date(2026, 3, 5), date(2026, 3, 8), date(2026, 6, 2)],
    }
)
EVENTS = pl.DataFrame(
    {
        "user_id": [1, 1, 1, 2, 3, 4],
        "event_time": [
            utc("2026-02-28 15:50"),  # a session that starts before the period ...
            utc("2026-02-28 16:05"),  # ... and goes on into it: not one of its sessions
            utc("2026-03-01 09:00"),
            utc("2026-03-01 11:00"),
            utc("2026-03-02 15:59"),
            utc("2026-03-02 16:00"),  # 03-03 00:00 local: after the period
        ],
        "event_type": ["page_view"] * 6,
        "channel": ["organic", "organic", "email", "social", "organic", "direct"],
        "device": ["app", "app", "app", "mobile_web", "desktop", "desktop"],
    }
)


def shop(**replaced) -> dict[str, pl.DataFrame | None]:
    _, sessions = derive_sessions(EVENTS)
    tables = {"users": USERS, "orders": ORDERS, "order_items": ORDER_ITEMS, "products": PRODUCTS,
              "campaigns": CAMPAIGNS, "events": EVENTS, "sessions": sessions}
    return {**tables, **replaced}


def expected(columns: dict[str, list], value_dtype=pl.Int64) -> pl.DataFrame:
    *dimensions, value = columns
    return pl.DataFrame(columns, schema={**{d: pl.String for d in dimensions}, value: value_dtype})


def test_orders_gmv_and_distinct_buyers_by_channel():
    # Valid orders in the period: 2 (email), 3 and 5 (organic), 4 (social), 7 (no channel).
    channels = ["(unknown)", "email", "organic", "social"]
    assert_frame_equal(
        pivot(shop(), measure="orders", rows="channel", **PERIOD),
        expected({"channel": channels, "value": [1, 1, 2, 1]}),
    )
    assert_frame_equal(
        pivot(shop(), measure="gmv", rows="channel", **PERIOD),
        expected({"channel": channels, "value": [30.0, 100.0, 90.0, 80.0]}, pl.Float64),
    )
    # User 1 buys by email and organically: one buyer in each cell, one buyer in the period.
    assert_frame_equal(
        pivot(shop(), measure="buyers", rows="channel", **PERIOD),
        expected({"channel": channels, "value": [1, 1, 2, 1]}),
    )
    assert measure_total(shop(), measure="buyers", **PERIOD) == 4


def test_buyers_by_two_dimensions_are_distinct_per_cell_with_empty_cells_zero():
    # East: user 1 (app, orders 2 and 3) and user 2 (mobile_web); West: user 3 (app), user 4 (desktop).
    assert_frame_equal(
        pivot(shop(), measure="buyers", rows="region", columns="device", **PERIOD),
        expected(
            {
                "region": ["East", "East", "East", "West", "West", "West"],
                "device": ["app", "desktop", "mobile_web"] * 2,
                "value": [1, 0, 1, 1, 1, 0],
            }
        ),
    )
    assert_frame_equal(
        pivot(shop(), measure="orders", rows="region", columns="device", **PERIOD),
        expected(
            {
                "region": ["East", "East", "East", "West", "West", "West"],
                "device": ["app", "desktop", "mobile_web"] * 2,
                "value": [2, 0, 1, 1, 1, 0],
            }
        ),
    )


def test_wide_pivot_puts_the_second_dimension_in_columns():
    wide = pivot_wide(pivot(shop(), measure="gmv", rows="member_level", columns="channel", **PERIOD))
    assert_frame_equal(
        wide,
        pl.DataFrame(
            {
                "member_level": ["(unknown)", "gold", "regular"],
                "(unknown)": [0.0, 0.0, 30.0],
                "email": [0.0, 100.0, 0.0],
                "organic": [40.0, 50.0, 0.0],
                "social": [0.0, 0.0, 80.0],
            }
        ),
    )
    one_dimension = pivot(shop(), measure="orders", rows="device", **PERIOD)
    assert_frame_equal(pivot_wide(one_dimension), one_dimension)


def test_category_measures_come_from_order_items():
    # Items of valid period orders: order 2 = Mug 2 x 30 + Shirt 1 x 45 (its amount is 100
    # after a discount), 3 = Sock 5 x 10, 4 = Shirt 2 x 40, 5 = Mug 1 x 40, 7 = Lamp (no
    # category) 3 x 10.
    categories = ["(unknown)", "Apparel", "Home"]
    assert_frame_equal(
        pivot(shop(), measure="gmv", rows="category", **PERIOD),
        expected({"category": categories, "value": [30.0, 175.0, 100.0]}, pl.Float64),
    )
    # Order 2 has items in Apparel and Home and counts in both.
    assert_frame_equal(
        pivot(shop(), measure="orders", rows="category", **PERIOD),
        expected({"category": categories, "value": [1, 3, 2]}),
    )
    assert_frame_equal(
        pivot(shop(), measure="buyers", rows="category", **PERIOD),
        expected({"category": categories, "value": [1, 2, 2]}),
    )
    assert_frame_equal(
        pivot(shop(), measure="units", rows="category", **PERIOD),
        expected({"category": categories, "value": [3, 8, 3]}),
    )
    assert_frame_equal(
        pivot(shop(), measure="gmv", rows="category", columns="channel", **PERIOD),
        expected(
            {
                "category": ["(unknown)"] * 4 + ["Apparel"] * 4 + ["Home"] * 4,
                "channel": ["(unknown)", "email", "organic", "social"] * 3,
                "value": [30.0, 0, 0, 0, 0, 45.0, 50.0, 80.0, 0, 60.0, 40.0, 0],
            },
            pl.Float64,
        ),
    )


def test_units_split_by_an_order_dimension():
    assert_frame_equal(
        pivot(shop(), measure="units", rows="channel", **PERIOD),
        expected({"channel": ["(unknown)", "email", "organic", "social"], "value": [3, 3, 6, 2]}),
    )


def test_campaign_names_with_orders_outside_campaigns_and_unknown_ids():
    assert_frame_equal(
        pivot(shop(), measure="gmv", rows="campaign", **PERIOD),
        expected(
            {
                "campaign": ["(no campaign)", "(unknown)", "Queen's Day 女王节", "Spring Sale"],
                "value": [80.0, 40.0, 80.0, 100.0],
            },
            pl.Float64,
        ),
    )


def test_refunds_count_on_the_refund_day():
    # Order 2 refunds 20 on 03-01 and order 4 80 on 03-02; order 3's 10 comes on 03-03 local.
    assert_frame_equal(
        pivot(shop(), measure="refunds", rows="channel", columns="campaign", **PERIOD),
        expected(
            {
                "channel": ["email", "email", "social", "social"],
                "campaign": ["Queen's Day 女王节", "Spring Sale"] * 2,
                "value": [0.0, 20.0, 80.0, 0.0],
            },
            pl.Float64,
        ),
    )


def test_sessions_by_their_first_event_and_new_users_by_signup_day():
    # User 1's session from 02-28 23:50 local began before the period; user 4's is on 03-03.
    assert_frame_equal(
        pivot(shop(), measure="sessions", rows="device", columns="region", **PERIOD),
        expected(
            {
                "device": ["app", "app", "desktop", "desktop", "mobile_web", "mobile_web"],
                "region": ["East", "West"] * 3,
                "value": [1, 0, 0, 1, 1, 0],
            }
        ),
    )
    # Sessions are derived from events when the caller does not pass them.
    assert_frame_equal(
        pivot(shop(sessions=None), measure="sessions", rows="channel", **PERIOD),
        expected({"channel": ["email", "organic", "social"], "value": [1, 1, 1]}),
    )
    # User 2 signs up at 03-01 23:59 local and user 4 on 03-01; user 3 at 03-03 00:00.
    assert_frame_equal(
        pivot(shop(), measure="new_users", rows="channel", columns="member_level", **PERIOD),
        expected({"channel": ["(unknown)", "social"], "member_level": ["regular"] * 2, "value": [1, 1]}),
    )


def test_a_period_without_data_gives_an_empty_table():
    table = pivot(shop(), measure="gmv", rows="channel", columns="device",
                  start=date(2025, 1, 1), end=date(2025, 1, 2), tz=TZ)
    assert_frame_equal(table, expected({"channel": [], "device": [], "value": []}, pl.Float64))
    assert measure_total(shop(), measure="gmv", start=date(2025, 1, 1), end=date(2025, 1, 2), tz=TZ) == 0.0


@pytest.mark.parametrize(
    ("frames", "measure", "rows", "columns", "message"),
    [
        (shop(), "sessions", "category", None,
         "sessions cannot be split by category; category splits orders, gmv, units, buyers"),
        (shop(), "new_users", "channel", "campaign",
         "new_users cannot be split by campaign; campaign splits orders, gmv, units, buyers, refunds"),
        (shop(), "refunds", "category", None,
         "refunds cannot be split by category; category splits orders, gmv, units, buyers"),
        (shop(users=USERS.drop("region")), "gmv", "region", None,
         "region needs users.region, which this source does not have; map it in the data-source settings"),
        (shop(users=None), "orders", "device", None,
         "device needs users.device, which this source does not have; map it in the data-source settings"),
        (shop(campaigns=None), "orders", "campaign", None,
         "campaign needs campaigns.name, which this source does not have; map it in the data-source settings"),
        (shop(orders=ORDERS.drop("campaign_id")), "orders", "channel", "campaign",
         "campaign needs orders.campaign_id, which this source does not have; map it in the data-source settings"),
        (shop(products=None), "gmv", "category", None,
         "category needs products.category, which this source does not have; map it in the data-source settings"),
        (shop(order_items=None), "gmv", "category", None,
         "this view needs the order_items table, which this source does not have; map it in the data-source settings"),
        (shop(events=None, sessions=None), "sessions", "channel", None,
         "this view needs the events table, which this source does not have; map it in the data-source settings"),
        (shop(), "aov", "channel", None,
         "unknown measure 'aov'; choose one of: orders, gmv, units, buyers, refunds, sessions, new_users"),
        (shop(), "orders", "city", None,
         "unknown dimension 'city'; choose one of: channel, device, region, member_level, category, campaign"),
        (shop(), "orders", "channel", "channel",
         "rows and columns are both channel; choose two different dimensions"),
    ],
)
def test_pivots_that_cannot_be_computed_say_why(frames, measure, rows, columns, message):
    with pytest.raises(PivotError) as raised:
        pivot(frames, measure=measure, rows=rows, columns=columns, **PERIOD)
    assert str(raised.value) == message


PERIOD_START_UTC = datetime.fromisoformat("2026-02-28 16:00+00:00")
PERIOD_END_UTC = datetime.fromisoformat("2026-03-02 16:00+00:00")
STATUSES = (*VALID_ORDER_STATUSES, "cancelled", "pending")

random_orders = st.lists(
    st.tuples(
        st.integers(1, 5),  # user 5 is in no users row
        st.integers(-6 * 60, 3 * 24 * 60),  # minutes from the period's start
        st.integers(0, 100_000),  # amount in cents
        st.sampled_from(STATUSES),
        st.sampled_from([None, "email", "social"]),
        st.sampled_from([None, 1, 2, 9]),
    ),
    max_size=30,
)


@settings(max_examples=60, deadline=None)
@given(rows=random_orders)
def test_additive_measures_split_by_any_order_dimension_add_up_to_the_total(rows):
    orders = pl.DataFrame(
        {
            "order_id": list(range(len(rows))),
            "user_id": [row[0] for row in rows],
            "created_at": [PERIOD_START_UTC + timedelta(minutes=row[1]) for row in rows],
            "amount": [row[2] / 100 for row in rows],
            "status": [row[3] for row in rows],
            "channel": [row[4] for row in rows],
            "campaign_id": [row[5] for row in rows],
        },
        schema={"order_id": pl.Int64, "user_id": pl.Int64, "created_at": UTC_TIME, "amount": pl.Float64,
                "status": pl.String, "channel": pl.String, "campaign_id": pl.Int64},
    )
    in_period = [
        row for row in rows
        if row[3] in VALID_ORDER_STATUSES
        and PERIOD_START_UTC <= PERIOD_START_UTC + timedelta(minutes=row[1]) < PERIOD_END_UTC
    ]
    oracle = {"orders": len(in_period), "gmv": sum(row[2] for row in in_period) / 100}
    frames = shop(orders=orders)
    for measure, total in oracle.items():
        assert measure_total(frames, measure=measure, **PERIOD) == pytest.approx(total)
        assert MEASURES[measure].additive
        for dimension in ("channel", "device", "region", "member_level", "campaign"):
            cells = pivot(frames, measure=measure, rows=dimension, **PERIOD)
            assert cells["value"].sum() == pytest.approx(total), (measure, dimension)


def test_pivots_of_the_sample_shop_agree_with_the_daily_kpi_table(small_shop):
    _, last = small_shop.date_span(TZ)
    period = {"start": last - timedelta(days=27), "end": last, "tz": TZ}
    frames = {**small_shop.tables, "sessions": small_shop.sessions}
    daily = daily_kpis(small_shop.events, small_shop.sessions, small_shop.orders, small_shop.users, **period)
    for measure in ("orders", "gmv", "refunds", "sessions", "new_users"):
        for dimension in ("channel", "device", "region", "member_level"):
            cells = pivot(frames, measure=measure, rows=dimension, **period)
            assert cells["value"].sum() == pytest.approx(daily[measure].sum()), (measure, dimension)
    summary = period_summary(small_shop.events, small_shop.sessions, small_shop.orders, small_shop.users, **period)
    assert measure_total(frames, measure="buyers", **period) == summary["buyers"]
    by_category = pivot(frames, measure="units", rows="category", columns="campaign", **period)
    assert by_category["value"].sum() == measure_total(frames, measure="units", **period)
