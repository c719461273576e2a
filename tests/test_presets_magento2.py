"""The Magento 2 preset on a database built from Magento's own schema and filled with 90 days
of a shop (tests/fixtures/magento2_shop.py), in SQLite, MariaDB and PostgreSQL: every daily
KPI equals hand-written SQL over Magento's tables (DuckDB), to the cent, in the base
currency; the product_view > add_to_cart > purchase funnel equals hand-written SQL over
report_event and the orders; and hand-made orders (two currencies, a custom status, refunds on
later days) give the numbers worked out by hand."""

import tomllib
from datetime import date, datetime, timedelta
from decimal import Decimal

import polars as pl
import pytest
from fixtures.magento2_shop import (
    BUSINESS_ZONE,
    CREDITMEMO_CANCELED,
    DAYS,
    FIRST_DAY,
    LAST_DAY,
    Customer,
    Line,
    Memo,
    Order,
    generated_shop,
    metadata,
    shop_tables,
)
from platform_db import DATABASES, declared_frames, declared_source, drop_tables, server_engine
from preset_oracle import KPIS, app_kpis, assert_kpis_equal, days_sql, one_row, oracle

from connectors.mapping import PRESETS, load_preset, parse_mapping
from metrics.funnel import FunnelSpec, funnel

SHOP = generated_shop()
CANONICAL = ("orders", "users", "events")

# A buyer is a customer by id, a guest by e-mail; a visitor by report_event's subject_id.
BUYERS_AND_EVENTS_SQL = """
CREATE TEMP VIEW valid_orders AS
  SELECT entity_id, created_at, base_grand_total,
    COALESCE('customer:' || CAST(customer_id AS VARCHAR), 'guest:' || lower(customer_email)) AS buyer
  FROM sales_order
  WHERE state IN ('processing', 'complete', 'closed') AND status <> 'fraud';
CREATE TEMP VIEW shop_events AS
  SELECT CASE subtype WHEN 0 THEN 'customer:' ELSE 'visitor:' END || CAST(subject_id AS VARCHAR) AS person,
    logged_at AS moment, CASE event_type_id WHEN 1 THEN 'product_view' WHEN 4 THEN 'add_to_cart' END AS step
  FROM report_event WHERE event_type_id IN (1, 4)
  UNION ALL
  SELECT buyer, created_at, 'purchase' FROM valid_orders;
"""

DAILY_SQL = """
WITH sales AS (
  SELECT local_day(created_at) AS day, COUNT(*) AS orders, COUNT(DISTINCT buyer) AS buyers,
    SUM(CAST(base_grand_total AS DECIMAL(20, 4))) AS gmv
  FROM valid_orders GROUP BY 1),
memos AS (
  -- an order's refunded credit memos, summed, on the day of its last one
  SELECT order_id, SUM(CAST(base_grand_total AS DECIMAL(20, 4))) AS refund, MAX(created_at) AS last_at
  FROM sales_creditmemo WHERE state = 2 GROUP BY order_id),
refunds AS (
  SELECT local_day(m.last_at) AS day, SUM(m.refund) AS refunds
  FROM memos m JOIN valid_orders v ON v.entity_id = m.order_id GROUP BY 1),
signups AS (SELECT local_day(created_at) AS day, COUNT(*) AS new_users FROM customer_entity GROUP BY 1)
SELECT d.day, COALESCE(s.orders, 0) AS orders, COALESCE(s.buyers, 0) AS buyers,
  COALESCE(s.gmv, 0) AS gmv, COALESCE(r.refunds, 0) AS refunds,
  COALESCE(s.gmv, 0) - COALESCE(r.refunds, 0) AS net_revenue, s.gmv / s.orders AS aov,
  COALESCE(n.new_users, 0) AS new_users
FROM {days} d LEFT JOIN sales s USING (day) LEFT JOIN refunds r USING (day) LEFT JOIN signups n USING (day)
ORDER BY d.day
"""

# Users reaching each step: a product view on a day of the period, then a cart add, then a
# purchase, in that order, the last within 7 days of the view; the earliest cart add after a
# view leaves the most room for the purchase.
FUNNEL_SQL = """
WITH views AS (
  SELECT person, moment FROM shop_events
  WHERE step = 'product_view' AND local_day(moment) BETWEEN DATE '{first}' AND DATE '{last}'),
carts AS (
  SELECT v.person, v.moment AS viewed, MIN(c.moment) AS carted FROM views v
  JOIN shop_events c ON c.person = v.person AND c.step = 'add_to_cart'
    AND c.moment >= v.moment AND c.moment <= v.moment + INTERVAL 7 DAY
  GROUP BY v.person, v.moment),
bought AS (
  SELECT DISTINCT c.person FROM carts c
  JOIN shop_events p ON p.person = c.person AND p.step = 'purchase'
    AND p.moment >= c.carted AND p.moment <= c.viewed + INTERVAL 7 DAY)
SELECT (SELECT COUNT(DISTINCT person) FROM views), (SELECT COUNT(DISTINCT person) FROM carts), (SELECT COUNT(*) FROM bought)
"""


@pytest.fixture(scope="module")
def duck():
    connection = oracle(declared_frames(metadata, SHOP), BUSINESS_ZONE)
    connection.execute(BUYERS_AND_EVENTS_SQL)
    return connection


@pytest.fixture(scope="module", params=DATABASES)
def canonical(request, tmp_path_factory):
    """The preset's canonical orders, users and events, read from the shop in each database."""
    source = declared_source(request.param, metadata, SHOP, load_preset("magento2"), tmp_path_factory.mktemp("magento"))
    try:
        assert source.table_names() == {"orders", "order_items", "users", "events", "products", "reviews"}, source.problems
        yield {name: source.read_table(name) for name in CANONICAL}
    finally:
        if request.param != "sqlite":
            drop_tables(server_engine(request.param), metadata.tables)


def test_every_daily_kpi_equals_sql_over_magentos_tables(canonical, duck):
    expected = duck.sql(DAILY_SQL.format(days=days_sql(FIRST_DAY, LAST_DAY))).pl()
    compared = assert_kpis_equal(app_kpis(canonical, FIRST_DAY, LAST_DAY, BUSINESS_ZONE), expected)
    assert compared == DAYS * len(KPIS) == 630
    # the shop is one a test can fail on: guests, both currencies, refunds in two memos
    assert expected["refunds"].sum() > 0 and expected["orders"].min() > 0


@pytest.mark.parametrize(("first", "last"), [(FIRST_DAY, LAST_DAY), (date(2026, 2, 1), date(2026, 2, 28)), (date(2026, 3, 25), LAST_DAY)])
def test_the_view_cart_purchase_funnel_equals_sql_over_report_event_and_orders(canonical, duck, first, last):
    spec = FunnelSpec(steps=("product_view", "add_to_cart", "purchase"))
    table = funnel(canonical["events"], spec, start=first, end=last, tz=BUSINESS_ZONE)
    expected = one_row(duck, FUNNEL_SQL.format(first=first, last=last))
    assert tuple(table["users"].to_list()) == expected
    assert expected[2] > 0


def test_items_products_and_reviews_follow_magentos_tables(duck, tmp_path):
    source = declared_source("sqlite", metadata, SHOP, load_preset("magento2"), tmp_path)
    items = source.read_table("order_items")
    # configurable products are counted once, as the parent row, at the base price
    expected = one_row(duck, "SELECT COUNT(*), SUM(qty_ordered), SUM(CAST(base_row_total AS DECIMAL(20, 4))) FROM sales_order_item WHERE parent_item_id IS NULL")
    assert (items.height, items["quantity"].sum()) == expected[:2]
    assert (items["quantity"] * items["unit_price"]).sum() == pytest.approx(float(expected[2]), abs=0.005)
    products = source.read_table("products").sort("product_id")
    assert products.filter(pl.col("product_id") == 101).row(0, named=True) == {
        "product_id": 101, "name": "Configurable 101", "category": "Clothing", "price": 79.5, "cost": None,
    }
    # the admin store's names, never the German store view's
    assert not products["name"].str.ends_with("(DE)").any()
    reviews = source.read_table("reviews")
    approved = one_row(duck, "SELECT COUNT(*) FROM review r JOIN review_entity e ON e.entity_id = r.entity_id WHERE e.entity_code = 'product' AND r.status_id = 1")[0]
    assert reviews.height == approved and reviews["rating"].is_between(1, 5).all()


def _hand_made_shop() -> dict[str, list[dict]]:
    """Orders of 10 and 11 February 2026 (Europe/Berlin) whose KPIs are worked out by hand.

    A: a customer's order in the German store view, selling in EUR at 0.92 per USD: 89.90 +
       5.00 shipping + 17.08 VAT (19 %) = 111.98 USD of base currency (103.02 EUR), partly
       refunded (50.00) on 17 February, with a canceled credit memo of 99.00 on 18 February.
    B: a guest's order in status awaiting_shipment (state processing): 2 x 19.99 + 5.00 = 44.98.
    C: an order in status fraud (state processing): not a sale.
    D: a cancelled guest order: not a sale.
    E: 59.00 + 5.00 = 64.00 at 23:30 UTC on the 10th, which is 00:30 on the 11th in Berlin;
       refunded 20.00 on 20 February and 44.00 on 24 February.
    """
    def at(text: str) -> datetime:
        return datetime.fromisoformat(text)

    customer = Customer(1, "ann@example.com", at("2026-02-01 08:00"))
    orders = [
        Order(1, at("2026-02-10 09:00"), 2, "complete", "complete", [Line(3, 1)], customer_id=1, email="ann@example.com",
              rate=Decimal("0.92"), memos=[Memo(at("2026-02-17 10:00"), Decimal("50.00")),
                                           Memo(at("2026-02-18 10:00"), Decimal("99.00"), CREDITMEMO_CANCELED)]),
        Order(2, at("2026-02-10 12:00"), 1, "processing", "awaiting_shipment", [Line(2, 2)], email="Bo@Example.com"),
        Order(3, at("2026-02-10 13:00"), 1, "processing", "fraud", [Line(3, 1)], email="eve@example.com"),
        Order(4, at("2026-02-10 14:00"), 1, "canceled", "canceled", [Line(1, 1)], email="cy@example.com"),
        Order(5, at("2026-02-10 23:30"), 1, "complete", "complete", [Line(1, 1)], customer_id=1, email="ann@example.com",
              memos=[Memo(at("2026-02-20 09:00"), Decimal("20.00")), Memo(at("2026-02-24 09:00"), Decimal("44.00"))]),
    ]
    return shop_tables([customer], orders)


@pytest.fixture(scope="module")
def hand_made_kpis(tmp_path_factory):
    source = declared_source("sqlite", metadata, _hand_made_shop(), load_preset("magento2"), tmp_path_factory.mktemp("hand"))
    tables = {name: source.read_table(name) for name in CANONICAL}
    table = app_kpis(tables, date(2026, 2, 10), date(2026, 2, 24), BUSINESS_ZONE)
    return {row["date"]: row for row in table.iter_rows(named=True)}, tables["orders"]


def test_a_two_currency_shop_adds_base_currency(hand_made_kpis):
    kpis, orders = hand_made_kpis
    # 111.98 USD for order A, not its 103.02 EUR, plus order B's 44.98 USD
    assert kpis[date(2026, 2, 10)]["gmv"] == pytest.approx(156.96, abs=1e-9)
    assert kpis[date(2026, 2, 10)]["aov"] == pytest.approx(78.48, abs=1e-9)
    assert orders.filter(pl.col("order_id") == 1)["amount"].item() == pytest.approx(111.98)


def test_a_custom_status_counts_as_its_state(hand_made_kpis):
    kpis, orders = hand_made_kpis
    # B (awaiting_shipment, state processing) is a sale; C (fraud, state processing) is not
    assert kpis[date(2026, 2, 10)]["orders"] == 2 and kpis[date(2026, 2, 10)]["buyers"] == 2
    assert dict(orders.select("order_id", "status").iter_rows()) == {1: "completed", 2: "paid", 3: "pending", 4: "cancelled", 5: "completed"}
    # E is placed at 00:30 on the 11th in Berlin
    assert (kpis[date(2026, 2, 11)]["orders"], kpis[date(2026, 2, 11)]["gmv"]) == (1, 64.0)


def test_refunds_fall_on_the_day_of_their_credit_memo(hand_made_kpis):
    kpis, _ = hand_made_kpis
    refunds = {day: row["refunds"] for day, row in kpis.items() if row["refunds"]}
    # A's 50.00 on the 17th (its canceled memo refunds nothing); E, refunded in two memos,
    # counts both (20.00 + 44.00) on the day of the last one
    assert refunds == {date(2026, 2, 17): 50.0, date(2026, 2, 24): 64.0}
    assert kpis[date(2026, 2, 10)]["net_revenue"] == pytest.approx(156.96)
    assert kpis[date(2026, 2, 17)]["net_revenue"] == -50.0
    assert sum(row["refunds"] for row in kpis.values()) == 114.0
    assert min(kpis) == date(2026, 2, 10) and max(kpis) == date(2026, 2, 10) + timedelta(days=14)


def test_a_shop_can_say_a_custom_status_is_not_a_sale(tmp_path):
    """The mapping setting for custom statuses: a status listed in `only` is read instead of
    its state. A shop whose awaiting_shipment means 'not paid yet' lists it as pending."""
    text = (PRESETS / "magento2.toml").read_text()
    text = text.replace('{ only = ["status_label", ["fraud"]] }', '{ only = ["status_label", ["fraud", "awaiting_shipment"]] }')
    text = text.replace('fraud = "pending"\n', 'fraud = "pending"\nawaiting_shipment = "pending"\n')
    mapping = parse_mapping(tomllib.loads(text), "my_magento.toml")
    source = declared_source("sqlite", metadata, _hand_made_shop(), mapping, tmp_path)
    tables = {name: source.read_table(name) for name in ("orders", "users")}
    day = app_kpis(tables, date(2026, 2, 10), date(2026, 2, 10), BUSINESS_ZONE).row(0, named=True)
    assert (day["orders"], day["gmv"]) == (1, pytest.approx(111.98))
    assert tables["orders"].filter(pl.col("order_id") == 2)["status"].item() == "pending"
