"""Product and category tables and top movers on a hand-made shop whose answers were computed
by hand, plus consistency checks on the sample shop.

Business zone Asia/Shanghai (UTC+8): 16:00 UTC is midnight of the next local day. The
period is 03-01..03-02 local, i.e. 02-28 16:00 to 03-02 16:00 UTC.
"""

from datetime import date, timedelta

import polars as pl
import pytest
from conftest import utc
from polars.testing import assert_frame_equal

from metrics.products import (
    CATEGORY_COLUMNS,
    PRODUCT_COLUMNS,
    category_table,
    product_daily,
    product_movers,
    product_table,
    top_movers,
)

TZ = "Asia/Shanghai"
START, END = date(2026, 3, 1), date(2026, 3, 2)
UTC_TIME = pl.Datetime("us", "UTC")
COUNTS = ("impressions", "clicks", "views", "viewers", "buyers", "orders", "units", "refunded_orders")


@pytest.fixture(scope="module")
def shop():
    event_rows = [
        (1, "2026-03-01 01:00", "product_impression", 1),
        (1, "2026-03-01 01:01", "product_impression", 1),
        (1, "2026-03-01 01:02", "product_impression", 1),
        (1, "2026-03-01 01:03", "product_click", 1),
        (1, "2026-03-01 01:04", "product_view", 1),
        (1, "2026-03-01 01:05", "product_impression", 2),
        (1, "2026-03-01 01:06", "product_impression", 2),
        (1, "2026-03-01 01:07", "page_view", None),
        (1, "2026-03-01 01:08", "search", 1),  # not a product event
        (1, "2026-03-02 02:00", "product_view", 3),
        (2, "2026-02-28 15:59", "product_impression", 1),  # 02-28 23:59 local: before the period
        (2, "2026-02-28 16:00", "product_impression", 1),  # 03-01 00:00 local
        (2, "2026-03-01 03:00", "product_view", 1),
        (2, "2026-03-01 03:05", "product_view", 1),  # a second view, the same viewer
        (2, "2026-03-01 03:10", "product_view", 3),
        (3, "2026-03-02 09:00", "product_view", 3),
        (3, "2026-03-02 16:00", "product_view", 1),  # 03-03 00:00 local: after the period
    ]
    events = pl.DataFrame(
        {
            "user_id": [row[0] for row in event_rows],
            "event_time": [utc(row[1]) for row in event_rows],
            "event_type": [row[2] for row in event_rows],
            "product_id": [row[3] for row in event_rows],
        }
    )
    orders = pl.DataFrame(
        {
            "order_id": [1, 2, 3, 4, 5, 6, 7, 8, 9],
            "user_id": [1, 4, 3, 2, 2, 1, 5, 1, 3],
            "created_at": [
                utc("2026-03-01 02:00"),
                utc("2026-03-01 04:00"),
                utc("2026-03-02 10:00"),
                utc("2026-03-01 05:00"),
                utc("2026-03-02 16:30"),  # 03-03 local
                utc("2026-03-02 12:00"),
                utc("2026-03-01 06:00"),
                utc("2026-02-28 16:00"),  # 03-01 00:00 local
                utc("2026-03-01 07:00"),
            ],
            "amount": [200.0, 100.0, 45.0, 250.0, 50.0, 60.0, 40.0, 130.0, 10.0],
            "status": ["completed", "paid", "refunded", "cancelled", "paid", "shipped", "completed", "completed", "pending"],
            # order 6 is partly refunded after the period, its status unchanged
            "refund_amount": [None, None, None, None, None, 20.0, None, None, None],
            "refunded_at": [None, None, None, None, None, utc("2026-03-05 08:00"), None, None, None],
        },
        schema_overrides={"refunded_at": UTC_TIME},
    )
    order_items = pl.DataFrame(
        {
            "order_id": [1, 1, 2, 3, 4, 5, 6, 7, 8, 8, 9],
            "product_id": [1, 2, 3, 1, 1, 1, 2, 4, 1, 3, 2],
            "quantity": [2, 1, 1, 1, 5, 1, 1, 1, 1, 1, 1],
            "unit_price": [50.0, 100.0, 100.0, 45.0, 50.0, 50.0, 60.0, 40.0, 50.0, 80.0, 10.0],
        }
    )
    # product 4 is not in the catalogue
    products = pl.DataFrame(
        {"product_id": [1, 2, 3], "name": ["Mug", "Tee", "Lamp"], "category": ["Home", "Apparel", "Home"],
         "cost": [30.0, None, 40.0]}
    )
    return events, orders, order_items, products


def test_product_table_matches_hand_computed_table(shop):
    table = product_table(*shop, start=START, end=END, tz=TZ)
    expected = pl.DataFrame(
        {
            "product_id": [1, 3, 2, 4],
            "name": ["Mug", "Lamp", "Tee", None],
            "category": ["Home", "Home", "Apparel", None],
            "impressions": [4, 0, 2, 0],
            "clicks": [1, 0, 0, 0],
            "ctr": [0.25, None, 0.0, None],
            "views": [3, 3, 0, 0],
            "viewers": [2, 3, 0, 0],
            "buyers": [2, 2, 1, 1],  # user 1 bought product 1 twice; user 4 bought product 3 unseen
            "conversion": [1.0, 2 / 3, None, None],
            "orders": [3, 2, 2, 1],  # the cancelled, pending and next-day orders do not count
            "units": [4, 2, 2, 1],
            "gmv": [195.0, 180.0, 160.0, 40.0],
            "refunded_orders": [1, 0, 1, 0],
            "refund_rate": [1 / 3, 0.0, 0.5, 0.0],
        },
        schema_overrides={name: pl.Int64 for name in COUNTS},
    )
    assert_frame_equal(table, expected)


def test_product_daily_splits_the_period_by_business_day(shop):
    events, orders, order_items, _ = shop
    daily = product_daily(events, orders, order_items, product_id=1, start=START, end=END + timedelta(days=1), tz=TZ)
    expected = pl.DataFrame(
        {
            "date": [START, END, END + timedelta(days=1)],
            "impressions": [4, 0, 0],  # user 2's impression at 00:00 local counts on 03-01
            "clicks": [1, 0, 0],
            "ctr": [0.25, None, None],
            "views": [3, 0, 1],  # user 3's view at 00:00 local 03-03
            "viewers": [2, 0, 1],
            "buyers": [1, 1, 1],
            "conversion": [0.5, None, 1.0],
            "orders": [2, 1, 1],  # orders 1 and 8 (00:00 local), the refunded order 3, order 5 on 03-03
            "units": [3, 1, 1],
            "gmv": [150.0, 45.0, 50.0],
            "refunded_orders": [0, 1, 0],
            "refund_rate": [0.0, 1.0, 0.0],
        },
        schema_overrides={name: pl.Int64 for name in COUNTS},
    )
    assert_frame_equal(daily, expected)
    summed = daily.head(2).select(COUNTS[:3] + ("orders", "units", "gmv", "refunded_orders")).sum()
    whole = product_table(*shop, start=START, end=END, tz=TZ).filter(pl.col("product_id") == 1)
    assert summed.row(0) == whole.select(summed.columns).row(0)


def test_category_table_counts_distinct_users_and_orders_per_category(shop):
    table = category_table(*shop, start=START, end=END, tz=TZ)
    # Home: viewers 1, 2 (product 1) and 1, 2, 3 (product 3) are three users, not five;
    # buyers 1, 3 and 4, 1 are three; orders 1, 3, 8 and 2, 8 are four
    expected = pl.DataFrame(
        {
            "category": ["Home", "Apparel", "(unknown)"],
            "products": [2, 1, 1],
            "impressions": [4, 2, 0],
            "clicks": [1, 0, 0],
            "ctr": [0.25, 0.0, None],
            "views": [6, 0, 0],
            "viewers": [3, 0, 0],
            "buyers": [3, 1, 1],
            "conversion": [1.0, None, None],
            "orders": [4, 2, 1],
            "units": [6, 2, 1],
            "gmv": [375.0, 160.0, 40.0],
            "refunded_orders": [1, 1, 0],
            "refund_rate": [0.25, 0.5, 0.0],
        },
        schema_overrides={name: pl.Int64 for name in ("products", *COUNTS)},
    )
    assert_frame_equal(table, expected)


def test_top_movers_rank_by_absolute_or_relative_change_and_flag_new_products():
    current = pl.DataFrame({"product_id": [1, 2, 3], "name": ["A", "B", "C"], "gmv": [100.0, 50.0, 30.0]})
    previous = pl.DataFrame({"product_id": [1, 2, 4], "name": ["A", "B", "D"], "gmv": [80.0, 100.0, 40.0]})
    schema = {"product_id": pl.Int64, "name": pl.String, "gmv": pl.Float64, "previous_gmv": pl.Float64,
              "change": pl.Float64, "relative_change": pl.Float64, "is_new": pl.Boolean}
    absolute = top_movers(current, previous, limit=3)
    assert_frame_equal(absolute, pl.DataFrame(
        [(2, "B", 50.0, 100.0, -50.0, -0.5, False), (4, "D", 0.0, 40.0, -40.0, -1.0, False),
         (3, "C", 30.0, 0.0, 30.0, None, True)],
        schema=schema, orient="row",
    ))
    relative = top_movers(current, previous, by="relative")
    # product 3 is new: it has no relative change, so no relative rank
    assert_frame_equal(relative, pl.DataFrame(
        [(4, "D", 0.0, 40.0, -40.0, -1.0, False), (2, "B", 50.0, 100.0, -50.0, -0.5, False),
         (1, "A", 100.0, 80.0, 20.0, 0.25, False)],
        schema=schema, orient="row",
    ))


def test_product_movers_compare_with_the_previous_period_of_the_same_length(shop):
    day = date(2026, 3, 2)
    # 03-02: product 1 sold 45 (order 3), product 2 60 (order 6), product 3 was only viewed;
    # 03-01: product 1 150 (orders 1, 8), 2 100 (order 1), 3 180 (orders 2, 8), 4 40 (order 7)
    schema = {"product_id": pl.Int64, "name": pl.String, "category": pl.String, "gmv": pl.Float64,
              "previous_gmv": pl.Float64, "change": pl.Float64, "relative_change": pl.Float64, "is_new": pl.Boolean}
    rows = {
        1: (1, "Mug", "Home", 45.0, 150.0, -105.0, -0.7, False),
        2: (2, "Tee", "Apparel", 60.0, 100.0, -40.0, -0.4, False),
        3: (3, "Lamp", "Home", 0.0, 180.0, -180.0, -1.0, False),
        4: (4, None, None, 0.0, 40.0, -40.0, -1.0, False),
    }
    absolute = product_movers(*shop, start=day, end=day, tz=TZ)
    assert_frame_equal(absolute, pl.DataFrame([rows[k] for k in (3, 1, 2, 4)], schema=schema, orient="row"))
    relative = product_movers(*shop, start=day, end=day, tz=TZ, by="relative", limit=3)
    assert_frame_equal(relative, pl.DataFrame([rows[k] for k in (3, 4, 1)], schema=schema, orient="row"))


def test_category_totals_agree_with_product_totals_on_the_sample_shop(small_shop):
    frames = (small_shop.events, small_shop.orders, small_shop.order_items, small_shop.products)
    _, end = small_shop.date_span(TZ)
    start = end - timedelta(days=29)
    products = product_table(*frames, start=start, end=end, tz=TZ)
    categories = category_table(*frames, start=start, end=end, tz=TZ)
    assert products.columns == list(PRODUCT_COLUMNS) and categories.columns == list(CATEGORY_COLUMNS)
    assert products["product_id"].is_unique().all()
    for name in ("impressions", "clicks", "views", "units"):
        assert categories[name].sum() == products[name].sum()
    assert categories["gmv"].sum() == pytest.approx(products["gmv"].sum())
    assert categories["products"].sum() == products.height
    for name in ("viewers", "buyers", "orders"):
        assert categories[name].sum() <= products[name].sum()
