"""The WooCommerce (HPOS) preset on a database built from WooCommerce's and WordPress's own
schema and filled with 90 days of a shop (tests/fixtures/woocommerce_shop.py), in SQLite,
MariaDB and PostgreSQL: every daily KPI equals hand-written SQL over WooCommerce's tables
(DuckDB), to the cent; and hand-made orders (refunds on later days, partial and repeated,
attribution, coupons, drafts and trash) give the numbers worked out by hand."""

from datetime import date, datetime
from decimal import Decimal

import polars as pl
import pytest
from fixtures.woocommerce_shop import (
    BUSINESS_ZONE,
    DAYS,
    FIRST_DAY,
    LAST_DAY,
    Customer,
    Line,
    Order,
    Refund,
    generated_shop,
    metadata,
    shop_tables,
)
from platform_db import declared_frames, declared_source, drop_tables, server_engine
from preset_oracle import KPIS, app_kpis, assert_kpis_equal, days_sql, one_row, oracle

from connectors.mapping import load_preset

SHOP = generated_shop()
# WordPress runs on MySQL and MariaDB (and SQLite through its plugin), not on PostgreSQL, whose
# folding of unquoted names would not find WordPress's upper-case `ID` columns
DATABASES = ["sqlite", "mariadb"]
CANONICAL = ("orders", "users")

DAILY_SQL = """
WITH valid_orders AS (
  SELECT id, date_created_gmt, total_amount,
    COALESCE(CASE WHEN customer_id > 0 THEN 'customer:' || CAST(customer_id AS VARCHAR) END, 'guest:' || lower(billing_email)) AS buyer
  FROM wp_wc_orders
  WHERE type = 'shop_order' AND status IN ('wc-processing', 'wc-completed', 'wc-refunded')),
sales AS (
  SELECT local_day(date_created_gmt) AS day, COUNT(*) AS orders, COUNT(DISTINCT buyer) AS buyers,
    SUM(CAST(total_amount AS DECIMAL(26, 8))) AS gmv
  FROM valid_orders GROUP BY 1),
refund_rows AS (
  -- an order's refund rows, summed, on the day of its last one
  SELECT parent_order_id, -SUM(CAST(total_amount AS DECIMAL(26, 8))) AS refund, MAX(date_created_gmt) AS last_at
  FROM wp_wc_orders WHERE type = 'shop_order_refund' GROUP BY parent_order_id),
refunds AS (
  SELECT local_day(r.last_at) AS day, SUM(r.refund) AS refunds
  FROM refund_rows r JOIN valid_orders v ON v.id = r.parent_order_id GROUP BY 1),
signups AS (
  SELECT local_day(u.user_registered) AS day, COUNT(*) AS new_users
  FROM wp_wc_customer_lookup c JOIN wp_users u ON u.ID = c.user_id GROUP BY 1)
SELECT d.day, COALESCE(s.orders, 0) AS orders, COALESCE(s.buyers, 0) AS buyers,
  COALESCE(s.gmv, 0) AS gmv, COALESCE(r.refunds, 0) AS refunds,
  COALESCE(s.gmv, 0) - COALESCE(r.refunds, 0) AS net_revenue, s.gmv / s.orders AS aov,
  COALESCE(n.new_users, 0) AS new_users
FROM {days} d LEFT JOIN sales s USING (day) LEFT JOIN refunds r USING (day) LEFT JOIN signups n USING (day)
ORDER BY d.day
"""


@pytest.fixture(scope="module")
def duck():
    return oracle(declared_frames(metadata, SHOP), BUSINESS_ZONE)


@pytest.fixture(scope="module", params=DATABASES)
def canonical(request, tmp_path_factory):
    """The preset's canonical orders and users, read from the shop in each database."""
    source = declared_source(request.param, metadata, SHOP, load_preset("woocommerce"), tmp_path_factory.mktemp("woo"))
    try:
        assert source.table_names() == {"orders", "order_items", "users", "products"}, source.problems
        yield {name: source.read_table(name) for name in CANONICAL}
    finally:
        if request.param != "sqlite":
            drop_tables(server_engine(request.param), metadata.tables)


def test_every_daily_kpi_equals_sql_over_woocommerces_tables(canonical, duck):
    expected = duck.sql(DAILY_SQL.format(days=days_sql(FIRST_DAY, LAST_DAY))).pl()
    compared = assert_kpis_equal(app_kpis(canonical, FIRST_DAY, LAST_DAY, BUSINESS_ZONE), expected)
    assert compared == DAYS * len(KPIS) == 630
    assert expected["refunds"].sum() > 0 and expected["new_users"].sum() > 0


def test_items_coupons_and_products_follow_woocommerces_tables(duck, tmp_path):
    source = declared_source("sqlite", metadata, SHOP, load_preset("woocommerce"), tmp_path)
    items = source.read_table("order_items")
    # the orders' own lines: not their refunds' (negative quantities), not checkout drafts' either
    expected = one_row(duck, """
        SELECT COUNT(*), SUM(l.product_qty), SUM(l.product_net_revenue) FROM wp_wc_order_product_lookup l
        JOIN wp_wc_orders o ON o.id = l.order_id AND o.type = 'shop_order' WHERE l.product_qty > 0""")
    assert (items.height, items["quantity"].sum()) == expected[:2]
    assert (items["quantity"] * items["unit_price"]).sum() == pytest.approx(expected[2], abs=0.005)
    orders = source.read_table("orders")
    discounts = one_row(duck, """
        SELECT COUNT(DISTINCT c.order_id), SUM(c.discount_amount) FROM wp_wc_order_coupon_lookup c
        JOIN wp_wc_orders o ON o.id = c.order_id WHERE o.status <> 'wc-checkout-draft'""")
    assert (orders["coupon_code"].is_not_null().sum(), orders["discount"].sum()) == (discounts[0], pytest.approx(discounts[1]))
    assert set(orders["coupon_code"].drop_nulls()) == {"spring10"}  # of spring10 and vip together, the first by name
    assert not orders["status"].cast(pl.String).is_in(["wc-checkout-draft"]).any()
    products = source.read_table("products")
    # products and variable products, not their variations or the orders' placeholder posts
    assert sorted(products["product_id"].to_list()) == [*range(21, 33), 41, 42, 43]
    assert products.filter(pl.col("product_id") == 24)["category"].item() == "Clothing"  # its tag is not a category


def _hand_made_shop() -> dict[str, list[dict]]:
    """Orders of 10 February 2026 (Europe/Berlin) whose KPIs are worked out by hand.

    2001: a customer's completed order of a variation, 3 x 22.00 = 66.00, less coupon spring10
          (10 %) = 59.40, by a Google ads link from a phone; refunded 30.00 on the 12th.
    2002: a guest's order in processing, 59.00 + 6.50 = 65.50, typed in; refunded 10.00 on
          the 13th and 15.00 on the 16th.
    2003: a refunded order, 18.90 + 4.90 shipping = 23.80, found on Google; refunded whole on
          the 11th.
    2004-2007: on hold, checkout draft, trashed, failed: not sales.
    """
    def at(text: str) -> datetime:
        return datetime.fromisoformat(text)

    customer = Customer(101, "ann@mail.example", at("2026-02-09 08:00"))
    orders = [
        Order(2001, at("2026-02-10 09:00"), "wc-completed", [Line(41, 3, 411)], 101, "ann@mail.example",
              coupons=[(61, Decimal("0.10"))], refunds=[Refund(at("2026-02-12 10:00"), Decimal("30.00"))],
              attribution={"source_type": "utm", "utm_source": "google", "device_type": "Mobile", "session_entry": "https://shop.example/sale/"}),
        Order(2002, at("2026-02-10 12:00"), "wc-processing", [Line(32, 1), Line(29, 1)], 0, "Bo@Mail.example",
              refunds=[Refund(at("2026-02-13 10:00"), Decimal("10.00")), Refund(at("2026-02-16 10:00"), Decimal("15.00"))],
              attribution={"source_type": "typein", "utm_source": "(direct)", "device_type": "Desktop"}),
        Order(2003, at("2026-02-10 15:00"), "wc-refunded", [Line(22, 1)], 0, "cy@mail.example",
              refunds=[Refund(at("2026-02-11 10:00"), Decimal("23.80"))], attribution={"source_type": "organic", "utm_source": "google"}),
        Order(2004, at("2026-02-10 16:00"), "wc-on-hold", [Line(21, 1)], 0, "dee@mail.example"),
        Order(2005, at("2026-02-10 17:00"), "wc-checkout-draft", [Line(21, 1)], 0, "dee@mail.example"),
        Order(2006, at("2026-02-10 18:00"), "trash", [Line(32, 3)], 101, "ann@mail.example"),
        Order(2007, at("2026-02-10 19:00"), "wc-failed", [Line(32, 1)], 0, "eve@mail.example"),
    ]
    return shop_tables([customer], orders)


@pytest.fixture(scope="module")
def hand_made(tmp_path_factory):
    source = declared_source("sqlite", metadata, _hand_made_shop(), load_preset("woocommerce"), tmp_path_factory.mktemp("hand"))
    tables = {name: source.read_table(name) for name in CANONICAL}
    table = app_kpis(tables, date(2026, 2, 10), date(2026, 2, 16), BUSINESS_ZONE)
    return {row["date"]: row for row in table.iter_rows(named=True)}, tables


def test_refunds_fall_on_the_day_of_their_refund_rows(hand_made):
    kpis, _ = hand_made
    assert (kpis[date(2026, 2, 10)]["orders"], kpis[date(2026, 2, 10)]["buyers"]) == (3, 3)
    assert kpis[date(2026, 2, 10)]["gmv"] == pytest.approx(59.40 + 65.50 + 23.80)
    # 2003 whole on the 11th, 2001's part on the 12th; 2002, refunded twice, counts both
    # (10.00 + 15.00) on the day of the last refund
    refunds = {day: row["refunds"] for day, row in kpis.items() if row["refunds"]}
    assert refunds == {date(2026, 2, 11): 23.80, date(2026, 2, 12): 30.00, date(2026, 2, 16): 25.00}
    assert kpis[date(2026, 2, 12)]["net_revenue"] == -30.00


def test_attribution_coupons_and_statuses(hand_made):
    _, tables = hand_made
    orders = tables["orders"].sort("order_id")
    assert orders["order_id"].to_list() == [2001, 2002, 2003, 2004, 2006, 2007]  # no checkout draft
    assert orders["status"].cast(pl.String).to_list() == ["completed", "paid", "refunded", "pending", "cancelled", "cancelled"]
    assert orders["channel"].cast(pl.String).to_list() == ["google", "direct", "organic", None, None, None]
    assert orders["user_id"].to_list() == ["customer:101", "guest:bo@mail.example", "guest:cy@mail.example", "guest:dee@mail.example",
                                           "customer:101", "guest:eve@mail.example"]
    assert orders.filter(pl.col("order_id") == 2001).select("coupon_code", "discount").row(0) == ("spring10", 6.6)
    assert orders.filter(pl.col("order_id") == 2001).select("refund_amount", "refunded_at").row(0)[0] == 30.0
    users = tables["users"]
    assert users.select("user_id", "device", "region").rows() == [("customer:101", "Mobile", "DE")]
