"""Each preset maps a small fixture in its platform's documented layout (tests/fixtures/<platform>/)
to exactly the canonical rows worked out by hand; Magento and WooCommerce are loaded into
MariaDB and into SQLite."""

from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from conftest import utc
from connectors import FolderSource, open_source
from connectors.mapping import load_preset, preset_names
import platform_db
from platform_db import platform_source

dropped_after = platform_db.dropped_after  # the fixture, shared with the other platform tests

FIXTURES = Path(__file__).parent / "fixtures"


def fixture_tables(platform: str) -> dict[str, pl.DataFrame]:
    return {path.stem: pl.read_csv(path, try_parse_dates=True) for path in sorted((FIXTURES / platform).glob("*.csv"))}


def rows(columns: list[str], *records) -> pl.DataFrame:
    return pl.DataFrame([dict(zip(columns, record, strict=True)) for record in records], infer_schema_length=None)


def assert_rows(source, table: str, key: list[str], expected: pl.DataFrame) -> None:
    read = source.read_table(table).sort(key)
    assert read.columns == expected.columns
    assert_frame_equal(read, expected, check_dtypes=False)


@pytest.fixture(params=["sqlite", "mariadb"])
def database(request):
    return request.param


@pytest.fixture
def magento(database, tmp_path, dropped_after):
    tables = fixture_tables("magento2")
    dropped_after.append((database, list(tables)))
    return platform_source(database, tables, load_preset("magento2"), tmp_path, timestamp=True)


@pytest.fixture
def woocommerce(database, tmp_path, dropped_after):
    tables = fixture_tables("woocommerce")
    dropped_after.append((database, list(tables)))
    return platform_source(database, tables, load_preset("woocommerce"), tmp_path)


def test_every_preset_is_listed_and_says_what_it_cannot_map():
    assert preset_names() == {
        "canonical": "Canonical tables",
        "magento2": "Magento 2",
        "olist": "Olist (Brazilian e-commerce public dataset)",
        "shopify": "Shopify order export",
        "woocommerce": "WooCommerce (HPOS)",
    }
    for name in ("magento2", "woocommerce", "shopify", "olist"):
        assert "events" in load_preset(name).unavailable
    assert load_preset("canonical").unavailable == {}


def test_magento2(magento):
    assert magento.table_names() == {"orders", "order_items", "users", "products", "reviews"}
    assert_rows(magento, "orders", ["order_id"], rows(
        ["order_id", "user_id", "created_at", "amount", "status", "discount", "coupon_code", "refund_amount"],
        (1, "ann@example.com", utc("2026-03-01 02:00"), 105.0, "completed", 10.0, "SPRING10", 0.0),
        (2, "guest@example.com", utc("2026-03-01 09:30"), 40.0, "paid", 0.0, None, 0.0),
        (3, "bo@example.com", utc("2026-03-02 11:00"), 30.0, "refunded", 0.0, None, 30.0),
        (4, "ann@example.com", utc("2026-03-03 16:45"), 12.5, "cancelled", 0.0, None, 0.0),
    ))
    # the configurable mug's child row (price 0) is not an item of its own
    assert_rows(magento, "order_items", ["order_id"], rows(
        ["order_id", "product_id", "quantity", "unit_price"],
        (1, 10, 2, 50.0), (2, 11, 1, 40.0), (3, 10, 1, 25.0), (4, 11, 1, 12.5),
    ))
    assert_rows(magento, "users", ["user_id"], rows(
        ["user_id", "signup_at", "gender", "birth_year", "member_level"],
        ("ann@example.com", utc("2026-01-15 08:00"), "female", 1990, "general"),
        ("bo@example.com", utc("2026-02-20 23:30"), "male", None, "wholesale"),
    ))
    # names and prices of the admin store (store_id 0); the first category by position
    assert_rows(magento, "products", ["product_id"], rows(
        ["product_id", "name", "category", "price", "cost"],
        (10, "Red tee", "Clothing", 50.0, 20.0),
        (11, "Mug", "Kitchen", 40.0, None),
        (12, "Blue mug", None, None, None),
    ))
    # product reviews only, rated by the rounded mean of their votes (5 and 4 -> 5)
    assert_rows(magento, "reviews", ["review_id"], rows(
        ["review_id", "product_id", "created_at", "rating", "text"],
        (1, 10, utc("2026-03-05 10:00"), 5, "Fits well"),
        (2, 11, utc("2026-03-06 12:00"), 2, "Handle chipped"),
    ))


def test_magento2_pushes_the_window_into_its_queries(magento):
    orders = magento.read_table("orders", columns=["order_id"], since=utc("2026-03-01 09:30"))
    assert sorted(orders["order_id"].to_list()) == [3, 4]
    reviews = magento.read_table("reviews", columns=["review_id"], until=utc("2026-03-06 12:00"))
    assert reviews["review_id"].to_list() == [1]


def test_woocommerce_hpos(woocommerce):
    assert woocommerce.table_names() == {"orders", "order_items", "users", "products"}
    # the refund (an order of type shop_order_refund) is its parent's refund, not an order
    assert_rows(woocommerce, "orders", ["order_id"], rows(
        ["order_id", "user_id", "created_at", "amount", "status", "paid_at", "discount", "payment_method", "refund_amount"],
        (101, "ann@example.com", utc("2026-03-01 10:00"), 59.9, "completed", utc("2026-03-01 10:01"), 5.0, "stripe", None),
        (102, "guest@example.com", utc("2026-03-01 11:00"), 20.0, "paid", None, 0.0, "cod", None),
        (103, "bo@example.com", utc("2026-03-02 09:00"), 35.0, "refunded", utc("2026-03-02 09:02"), 0.0, "stripe", 35.0),
        (105, "ann@example.com", utc("2026-03-04 08:00"), 10.0, "pending", None, 0.0, None, None),
    ))
    assert_rows(woocommerce, "order_items", ["order_id"], rows(
        ["order_id", "product_id", "quantity", "unit_price"],
        (101, 21, 2, 25.0), (102, 22, 1, 20.0), (103, 21, 1, 35.0), (105, 22, 1, 10.0),
    ))
    # the guest never registered: a buyer, not a user
    assert_rows(woocommerce, "users", ["user_id"], rows(
        ["user_id", "signup_at", "region"],
        ("ann@example.com", utc("2026-01-10 09:00"), "DE"),
        ("bo@example.com", utc("2026-02-01 12:00"), "CN"),
    ))
    # products are wp_posts of type product; a tag (product_tag) is not a category
    assert_rows(woocommerce, "products", ["product_id"], rows(
        ["product_id", "name", "category", "price"],
        (21, "Linen shirt", "Clothing", 25.0), (22, "Coffee beans", "Food", 10.0),
    ))


def test_shopify_order_export():
    source = FolderSource(FIXTURES / "shopify", mapping=load_preset("shopify"))
    assert source.table_names() == {"orders", "order_items", "users", "products"}
    # order-level fields come from each order's first row; times with +0800 become UTC
    assert_rows(source, "orders", ["order_id"], rows(
        ["order_id", "user_id", "created_at", "amount", "status", "paid_at", "discount", "coupon_code", "payment_method", "shipped_at", "refund_amount"],
        ("#1001", "ann@example.com", utc("2026-03-01 02:00"), 118.0, "paid", utc("2026-03-01 02:05"), 12.0, "WELCOME", "Shopify Payments", utc("2026-03-02 01:00"), 0.0),
        ("#1002", "bo@example.com", utc("2026-03-02 03:59"), 20.0, "refunded", utc("2026-03-02 04:00"), 0.0, None, "Shopify Payments", None, 20.0),
        ("#1003", "ann@example.com", utc("2026-03-05 00:00"), 15.0, "pending", None, 0.0, None, "Bank Deposit", None, 0.0),
    ))
    assert_rows(source, "order_items", ["order_id", "product_id"], rows(
        ["order_id", "product_id", "quantity", "unit_price"],
        ("#1001", "SCARF-1", 2, 50.0), ("#1001", "TEA-1", 1, 20.0), ("#1002", "TEA-1", 1, 20.0), ("#1003", "Gift card", 1, 15.0),
    ))
    assert_rows(source, "users", ["user_id"], rows(
        ["user_id", "signup_at"],
        ("ann@example.com", utc("2026-03-01 02:00")), ("bo@example.com", utc("2026-03-02 03:59")),
    ))
    assert_rows(source, "products", ["product_id"], rows(
        ["product_id", "name", "category", "brand", "price"],
        ("Gift card", "Gift card", "uncategorised", "Store", 15.0),
        ("SCARF-1", "Silk scarf", "uncategorised", "Hangzhou Silk", 50.0),
        ("TEA-1", "Tea set", "uncategorised", "Jingdezhen", 20.0),
    ))
    since = source.read_table("orders", columns=["order_id"], since=utc("2026-03-01 02:00"))
    assert sorted(since["order_id"].to_list()) == ["#1002", "#1003"]


def test_olist_dataset():
    source = open_source(FIXTURES / "olist", preset="olist")
    assert source.table_names() == {"orders", "order_items", "users", "products", "reviews"}
    # São Paulo was on summer time (UTC-2) until 18 February 2018
    assert_rows(source, "orders", ["order_id"], rows(
        ["order_id", "user_id", "created_at", "amount", "status", "paid_at", "payment_method", "shipped_at", "delivered_at"],
        ("o1", "u1", utc("2018-01-10 12:00"), 154.9, "completed", utc("2018-01-10 12:15"), "credit_card", utc("2018-01-11 16:00"), utc("2018-01-15 18:00")),
        ("o2", "u2", utc("2018-01-12 11:00"), 34.9, "cancelled", None, "boleto", None, None),
        ("o3", "u1", utc("2018-02-01 22:30"), 115.0, "shipped", utc("2018-02-01 22:40"), "credit_card", utc("2018-02-02 12:00"), None),
    ))
    # one row per unit sold becomes a quantity
    assert_rows(source, "order_items", ["order_id", "product_id"], rows(
        ["order_id", "product_id", "quantity", "unit_price"],
        ("o1", "p1", 2, 50.0), ("o1", "p2", 1, 29.9), ("o2", "p2", 1, 29.9), ("o3", "p3", 1, 100.0),
    ))
    # customer_unique_id is the person: c1 and c3 are one user, who signed up at the first order
    assert_rows(source, "users", ["user_id"], rows(
        ["user_id", "signup_at", "region"],
        ("u1", utc("2018-01-10 12:00"), "SP"), ("u2", utc("2018-01-12 11:00"), "RJ"),
    ))
    assert_rows(source, "products", ["product_id"], rows(
        ["product_id", "name", "category"],
        ("p1", "p1", "health_beauty"), ("p2", "p2", "housewares"), ("p3", "p3", "categoria_nova"),
    ))
    assert_rows(source, "reviews", ["review_id"], rows(
        ["review_id", "product_id", "created_at", "rating", "user_id", "order_id", "text"],
        ("r1", "p1", utc("2018-01-16 02:00"), 5, "u1", "o1", "Chegou antes do prazo"),
        ("r2", "p2", utc("2018-01-20 02:00"), 1, "u2", "o2", "Cancelado"),
    ))
    late = source.read_table("orders", columns=["order_id"], since=utc("2018-01-12 10:59"))
    assert sorted(late["order_id"].to_list()) == ["o2", "o3"]
