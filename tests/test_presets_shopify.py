"""The Shopify preset on an order export with Shopify's columns and 90 days of orders
(tests/fixtures/shopify_export.py): every daily KPI equals hand-written SQL over the export
(DuckDB), to the cent; and hand-made orders (several lines, a discount code, refunds,
cancellations, a sale at the till without an e-mail, the clock change) give the numbers
worked out by hand."""

from datetime import date, datetime
from decimal import Decimal

import polars as pl
import pytest
from fixtures.shopify_export import DAYS, FIRST_DAY, LAST_DAY, SHOP_ZONE, Line, Order, generated_orders, write_export
from preset_oracle import KPIS, app_kpis, assert_kpis_equal, days_sql, oracle

from connectors import FolderSource
from connectors.mapping import load_preset

CANONICAL = ("orders", "users")

DAILY_SQL = """
WITH export AS (SELECT * FROM read_csv('{path}', header = true, all_varchar = true)),
orders AS (
  -- an order's own fields are on its first row
  SELECT "Name" AS name, lower("Email") AS email, strptime("Created at", '%Y-%m-%d %H:%M:%S %z') AS created,
    "Financial Status" AS financial_status, "Cancelled at" AS cancelled_at,
    CAST("Total" AS DECIMAL(12, 2)) AS total, CAST("Refunded Amount" AS DECIMAL(12, 2)) AS refunded
  FROM export WHERE "Financial Status" IS NOT NULL),
valid AS (
  SELECT *, COALESCE(email, 'order ' || name) AS buyer FROM orders
  WHERE financial_status IN ('paid', 'partially_refunded', 'refunded')
    AND (cancelled_at IS NULL OR financial_status IN ('partially_refunded', 'refunded'))),
sales AS (
  SELECT local_day(created) AS day, COUNT(*) AS orders, COUNT(DISTINCT buyer) AS buyers, SUM(total) AS gmv,
    SUM(refunded) AS refunds
  FROM valid GROUP BY 1),
signups AS (
  SELECT local_day(first_order) AS day, COUNT(*) AS new_users
  FROM (SELECT email, MIN(created) AS first_order FROM orders WHERE email IS NOT NULL GROUP BY email) GROUP BY 1)
SELECT d.day, COALESCE(s.orders, 0) AS orders, COALESCE(s.buyers, 0) AS buyers, COALESCE(s.gmv, 0) AS gmv,
  COALESCE(s.refunds, 0) AS refunds, COALESCE(s.gmv, 0) - COALESCE(s.refunds, 0) AS net_revenue,
  s.gmv / s.orders AS aov, COALESCE(n.new_users, 0) AS new_users
FROM {days} d LEFT JOIN sales s USING (day) LEFT JOIN signups n USING (day)
ORDER BY d.day
"""


def canonical_tables(folder) -> dict[str, pl.DataFrame]:
    source = FolderSource(folder, mapping=load_preset("shopify"))
    assert source.table_names() == {"orders", "order_items", "users", "products"}, source.problems
    return {name: source.read_table(name) for name in CANONICAL}


def test_every_daily_kpi_equals_sql_over_the_export(tmp_path):
    path = write_export(tmp_path, generated_orders())
    expected = oracle({}, SHOP_ZONE).sql(DAILY_SQL.format(path=path, days=days_sql(FIRST_DAY, LAST_DAY))).pl()
    compared = assert_kpis_equal(app_kpis(canonical_tables(tmp_path), FIRST_DAY, LAST_DAY, SHOP_ZONE), expected)
    assert compared == DAYS * len(KPIS) == 630
    assert expected["refunds"].sum() > 0


def test_hand_made_orders_give_the_numbers_worked_out_by_hand(tmp_path):
    def at(text: str) -> datetime:
        return datetime.fromisoformat(text)

    write_export(tmp_path, [
        # 49.00 + 2 x 35.50 = 120.00, less WELCOME10 = 108.00, no shipping from 60.00
        Order(1, at("2026-02-10 09:00"), "paid", [Line(0, 1), Line(1, 2)], "Ann@Post.example", "WELCOME10", Decimal("0.10")),
        # 12.90 + 4.95 shipping = 17.85, of which 5.00 refunded
        Order(2, at("2026-02-10 10:00"), "partially_refunded", [Line(2, 1)], "bo@post.example", refunded=Decimal("5.00")),
        Order(3, at("2026-02-10 11:00"), "voided", [Line(3, 1)], "cy@post.example", cancelled=True),
        # paid, cancelled and refunded whole: 24.00 + 4.95 = 28.95 in and out
        Order(4, at("2026-02-10 12:00"), "refunded", [Line(4, 1)], "dee@post.example", refunded=Decimal("28.95"), cancelled=True),
        # a gift card sold at the till to someone who left no e-mail
        Order(5, at("2026-02-10 13:00"), "paid", [Line(5, 1)], None, source="pos", payment="Cash"),
        # 23:30 and 00:30 in Berlin on the night the clocks go forward (+0200)
        Order(6, at("2026-03-29 21:30"), "paid", [Line(1, 1)], "ann@post.example"),
        Order(7, at("2026-03-29 22:30"), "paid", [Line(1, 1)], "ann@post.example"),
    ])
    tables = canonical_tables(tmp_path)
    kpis = {row["date"]: row for row in app_kpis(tables, date(2026, 2, 10), date(2026, 3, 30), SHOP_ZONE).iter_rows(named=True)}
    day = kpis[date(2026, 2, 10)]
    assert (day["orders"], day["buyers"]) == (4, 4)
    assert day["gmv"] == pytest.approx(108.00 + 17.85 + 28.95 + 25.00)
    assert day["refunds"] == pytest.approx(5.00 + 28.95)
    assert day["net_revenue"] == pytest.approx(145.85)
    assert (kpis[date(2026, 3, 29)]["orders"], kpis[date(2026, 3, 30)]["orders"]) == (1, 1)
    assert day["new_users"] == 4 and kpis[date(2026, 3, 29)]["new_users"] == 0  # ann's first order was in February
    orders = tables["orders"].sort("order_id")
    assert orders["user_id"].to_list()[:5] == ["ann@post.example", "bo@post.example", "cy@post.example", "dee@post.example", "order #5"]
    assert orders["status"].cast(pl.String).to_list()[:5] == ["paid", "refunded", "cancelled", "refunded", "paid"]
    assert orders.filter(pl.col("order_id") == "#1").select("coupon_code", "discount", "channel").row(0) == ("WELCOME10", 12.0, "web")
    items = FolderSource(tmp_path, mapping=load_preset("shopify")).read_table("order_items")
    assert items.filter(pl.col("order_id") == "#1").sort("product_id").rows() == [("#1", "SCARF-1", 1, 49.0), ("#1", "TEA-1", 2, 35.5)]
    assert items.filter(pl.col("order_id") == "#5")["product_id"].to_list() == ["Gift card"]
