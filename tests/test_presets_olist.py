"""The Olist preset on files with the public dataset's names and headers and 90 days of orders
(tests/fixtures/olist_dataset.py): every daily KPI equals hand-written SQL over the files
(DuckDB), to the cent, the days read straight from the local times the files hold."""

import polars as pl
from fixtures.olist_dataset import DAYS, FIRST_DAY, LAST_DAY, ZONE, write_generated_dataset
from preset_oracle import KPIS, app_kpis, assert_kpis_equal, days_sql, oracle

from connectors import open_source

# Olist's times are local times in Brazil: their date is the business day in São Paulo.
DAILY_SQL = """
WITH orders AS (SELECT * FROM read_csv('{folder}/olist_orders_dataset.csv', header = true, all_varchar = true)),
customers AS (SELECT * FROM read_csv('{folder}/olist_customers_dataset.csv', header = true, all_varchar = true)),
paid AS (
  SELECT order_id, SUM(CAST(payment_value AS DECIMAL(12, 2))) AS amount
  FROM read_csv('{folder}/olist_order_payments_dataset.csv', header = true, all_varchar = true) GROUP BY order_id),
placed AS (
  SELECT o.order_id, o.order_status, c.customer_unique_id AS person,
    CAST(CAST(o.order_purchase_timestamp AS TIMESTAMP) AS DATE) AS day, p.amount
  FROM orders o JOIN customers c ON c.customer_id = o.customer_id LEFT JOIN paid p ON p.order_id = o.order_id),
sales AS (
  SELECT day, COUNT(*) AS orders, COUNT(DISTINCT person) AS buyers, SUM(amount) AS gmv FROM placed
  WHERE order_status IN ('approved', 'invoiced', 'processing', 'shipped', 'delivered') GROUP BY day),
signups AS (SELECT first_day AS day, COUNT(*) AS new_users FROM (SELECT person, MIN(day) AS first_day FROM placed GROUP BY person) GROUP BY 1)
SELECT d.day, COALESCE(s.orders, 0) AS orders, COALESCE(s.buyers, 0) AS buyers, COALESCE(s.gmv, 0) AS gmv,
  0 AS refunds, COALESCE(s.gmv, 0) AS net_revenue, s.gmv / s.orders AS aov, COALESCE(n.new_users, 0) AS new_users
FROM {days} d LEFT JOIN sales s USING (day) LEFT JOIN signups n USING (day)
ORDER BY d.day
"""


def test_every_daily_kpi_equals_sql_over_the_dataset(tmp_path):
    folder = write_generated_dataset(tmp_path)
    source = open_source(folder, preset="olist")
    assert source.table_names() == {"orders", "order_items", "users", "products", "reviews"}, source.problems
    tables = {name: source.read_table(name) for name in ("orders", "users")}
    expected = oracle({}, ZONE).sql(DAILY_SQL.format(folder=folder, days=days_sql(FIRST_DAY, LAST_DAY))).pl()
    compared = assert_kpis_equal(app_kpis(tables, FIRST_DAY, LAST_DAY, ZONE), expected)
    assert compared == DAYS * len(KPIS) == 630
    # returning buyers, split payments and an order nobody paid for are in the data
    assert tables["orders"]["user_id"].n_unique() < tables["orders"].height
    assert tables["orders"]["amount"].null_count() == 1
    items = source.read_table("order_items")
    assert items["quantity"].sum() == pl.read_csv(folder / "olist_order_items_dataset.csv").height
