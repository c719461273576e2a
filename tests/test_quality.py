"""The data-quality report counts each problem of hand-made canonical tables exactly and says
how to fix it in the mapping; clean tables give no finding."""

from datetime import datetime

import polars as pl
from conftest import utc
from polars.testing import assert_frame_equal

from connectors.quality import quality_report

NOW = utc("2026-03-10 00:00")
ORDERS = pl.DataFrame(
    {
        "order_id": [1, 2, 2, 3, None],
        "user_id": [10, None, 11, 12, 13],
        "created_at": [utc("2026-03-01 10:00"), utc("2026-03-02 10:00"), utc("2026-03-12 10:00"), utc("2026-03-03 10:00"), None],
        "amount": [10.0, -5.0, 7.0, 3.0, 1.0],
        "status": pl.Series(["completed", "on_hold", "on_hold", "paid", "weird"], dtype=pl.Categorical),
        "discount": [-1.0, 0.0, 0.0, 0.0, -2.0],
    }
)
ITEMS = pl.DataFrame({"order_id": [1, 2, 9, 9], "product_id": [1, 1, 1, 2], "quantity": [1, 1, 1, -1], "unit_price": [1.0, 1.0, 1.0, 1.0]})
EVENTS = pl.DataFrame({"user_id": [1, 1, 2], "event_time": [utc("2026-03-01 10:00")] * 3, "event_type": ["page_view", "pageview", "cart"]})
USERS = pl.DataFrame({"user_id": [10, 11]})  # no signup_at


def report(tables, raw=None, zone="UTC"):
    return quality_report(tables, now=NOW, raw=raw, zone=zone).drop("fix")


def test_each_problem_is_counted():
    found = report({"orders": ORDERS, "order_items": ITEMS, "events": EVENTS, "users": USERS})
    expected = pl.DataFrame(
        [
            ("orders", "nulls in a required column", "order_id", 1),
            ("orders", "nulls in a required column", "user_id", 1),
            ("orders", "nulls in a required column", "created_at", 1),
            ("orders", "duplicate ids", "order_id", 1),
            ("orders", "timestamps in the future", "created_at", 1),
            ("orders", "negative amounts", "amount", 1),
            ("orders", "negative amounts", "discount", 2),
            ("orders", "unknown status", "status", 3),
            ("order_items", "negative amounts", "quantity", 1),
            ("events", "unknown event type", "event_type", 2),
            ("users", "missing required column", "signup_at", 1),
            ("order_items", "order items without an order", "order_id", 2),
        ],
        schema={"table": pl.String, "check": pl.String, "column": pl.String, "count": pl.Int64},
        orient="row",
    )
    assert_frame_equal(found, expected)


def test_fixes_name_the_mapping_and_the_unknown_values():
    fixes = quality_report({"orders": ORDERS}, now=NOW).filter(pl.col("check") == "unknown status")["fix"].item()
    assert fixes == (
        "map them in [tables.orders.values.status] to one of paid, shipped, completed, refunded, "
        "cancelled, pending: 'on_hold' (2), 'weird' (1)."
    )


def test_times_without_a_zone_are_counted_in_the_raw_frames():
    raw = {
        "orders": pl.DataFrame({"created_at": ["2026-03-01 10:00:00", "2026-03-01T10:00:00+08:00", "2026-03-01 10:00:00 -0500", "2026-03-01 10:00:00Z", None]}),
        "users": pl.DataFrame({"signup_at": [datetime(2026, 1, 1), datetime(2026, 1, 2)]}),
        "events": pl.DataFrame({"event_time": [utc("2026-01-01 00:00")]}),
    }
    found = quality_report({}, now=NOW, raw=raw, zone="Asia/Shanghai")
    assert found.select("table", "column", "count").rows() == [("orders", "created_at", 1), ("users", "signup_at", 2)]
    assert found["fix"][0].startswith("read as Asia/Shanghai time")


def test_items_and_orders_with_ids_of_different_types_are_matched_as_text():
    orders = ORDERS.filter(pl.col("order_id").is_not_null()).with_columns(pl.col("order_id").cast(pl.String))
    found = report({"orders": orders, "order_items": ITEMS})
    assert found.filter(pl.col("check") == "order items without an order")["count"].to_list() == [2]


def test_clean_tables_have_no_findings(small_shop):
    assert quality_report(small_shop.tables, now=utc("2100-01-01 00:00")).height == 0
