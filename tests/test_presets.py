"""The presets as a list and what each reads and cannot; the Shopify and Olist presets map a
small fixture in their files' published layout (tests/fixtures/<platform>/) to exactly the
canonical rows worked out by hand. Each platform's preset is tested against hand-written SQL
over 90 days of its own schema in tests/test_presets_<platform>.py."""

from pathlib import Path

import polars as pl
from conftest import utc
from polars.testing import assert_frame_equal

from connectors import FolderSource, open_source
from connectors.mapping import load_preset, parse_mapping, platform_tables_read, preset_coverage, preset_names
from connectors.schema import TABLES

FIXTURES = Path(__file__).parent / "fixtures"


def fixture_tables(platform: str) -> dict[str, pl.DataFrame]:
    return {path.stem: pl.read_csv(path, try_parse_dates=True) for path in sorted((FIXTURES / platform).glob("*.csv"))}


def rows(columns: list[str], *records) -> pl.DataFrame:
    return pl.DataFrame([dict(zip(columns, record, strict=True)) for record in records], infer_schema_length=None)


def assert_rows(source, table: str, key: list[str], expected: pl.DataFrame) -> None:
    read = source.read_table(table).sort(key)
    assert read.columns == expected.columns
    assert_frame_equal(read, expected, check_dtypes=False)


def test_every_preset_is_listed_and_says_what_it_cannot_map():
    assert preset_names() == {
        "canonical": "Canonical tables",
        "magento2": "Magento 2",
        "olist": "Olist (Brazilian e-commerce public dataset)",
        "shopify": "Shopify order export",
        "woocommerce": "WooCommerce (HPOS)",
    }
    for name in ("woocommerce", "shopify", "olist"):
        assert "events" in load_preset(name).unavailable
    assert "events" in load_preset("magento2").tables  # report_event
    assert load_preset("canonical").unavailable == {}


def test_coverage_says_for_each_table_whether_the_preset_reads_it_or_why_not():
    coverage = preset_coverage(load_preset("woocommerce"))
    assert list(coverage)[:9] == list(TABLES)
    assert {table for table, said in coverage.items() if said == "mapped"} == {"orders", "order_items", "users", "products"}
    assert coverage["events"].startswith("WooCommerce stores no browsing events")
    assert coverage["orders.refunded_at"] == "An order refunded several times counts the sum on the day of its last refund."
    # a table neither mapped nor explained is said to be unmapped
    mapping = parse_mapping({"name": "Mine", "tables": {"orders": {"from": "o"}}, "unavailable": {"tickets": "none here"}}, "mine.toml")
    assert preset_coverage(mapping) == {
        "users": "Mine does not map users.", "events": "Mine does not map events.", "orders": "mapped",
        "order_items": "Mine does not map order_items.", "products": "Mine does not map products.",
        "campaigns": "Mine does not map campaigns.", "ad_spend": "Mine does not map ad_spend.", "reviews": "Mine does not map reviews.",
        "tickets": "none here",
    }
    assert preset_coverage(load_preset("canonical")) == dict.fromkeys(TABLES, "mapped")


def test_the_platform_tables_each_mapped_table_reads():
    read = platform_tables_read(load_preset("magento2"))
    assert read["orders"] == ["sales_creditmemo", "sales_invoice", "sales_order", "sales_order_payment", "sales_shipment"]
    assert read["events"] == ["report_event", "sales_order"]
    assert read["users"] == ["customer_entity"]
    mapping = parse_mapping({"tables": {"orders": {"query": "WITH paid AS (SELECT * FROM shop_orders) SELECT * FROM paid JOIN refunds USING (id)"}}}, "m")
    assert platform_tables_read(mapping) == {"orders": ["refunds", "shop_orders"]}


def test_shopify_order_export():
    source = FolderSource(FIXTURES / "shopify", mapping=load_preset("shopify"))
    assert source.table_names() == {"orders", "order_items", "users", "products"}
    # order-level fields come from each order's first row; times with +0800 become UTC
    assert_rows(source, "orders", ["order_id"], rows(
        ["order_id", "user_id", "created_at", "amount", "status", "paid_at", "discount", "coupon_code", "channel", "payment_method", "shipped_at", "refund_amount"],
        ("#1001", "ann@example.com", utc("2026-03-01 02:00"), 118.0, "paid", utc("2026-03-01 02:05"), 12.0, "WELCOME", "web", "Shopify Payments", utc("2026-03-02 01:00"), 0.0),
        ("#1002", "bo@example.com", utc("2026-03-02 03:59"), 20.0, "refunded", utc("2026-03-02 04:00"), 0.0, None, "web", "Shopify Payments", None, 20.0),
        ("#1003", "ann@example.com", utc("2026-03-05 00:00"), 15.0, "pending", None, 0.0, None, "pos", "Bank Deposit", None, 0.0),
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
