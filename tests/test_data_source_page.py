"""The Data sources page (AppTest) on a Magento 2 shop built from Magento's own schema and
filled with 90 days of a shop (tests/fixtures/magento2_shop.py), read by the magento2 preset:
its tables' rows and days, the sessions, a preview and the quality report's counts, each
equal to hand-written SQL over Magento's tables (DuckDB); what the preset reads, what it
cannot give and what that costs, in English and Chinese, for the preset in use and for one
chosen in the form; a connection is tested and saved to the secrets file, its password never
shown."""

import tomllib
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa
from fixtures.magento2_shop import generated_shop, metadata
from platform_db import declared_frames, write_declared
from preset_oracle import one_row, oracle
from streamlit.testing.v1 import AppTest
from test_connectors import server_engine

import shop_analytics.ui.sources
from connectors.mapping import load_preset, parse_mapping, preset_names
from connectors.sql import sqlite_url
from metrics.registry import KPIS
from shop_analytics.i18n import translations
from shop_analytics.ui.coverage import pages_needing, reason
from shop_analytics.ui.sources import ConnectionForm, connection_settings, save_connection

APP = str(Path(__file__).resolve().parents[1] / "app.py")
TZ = "Asia/Shanghai"  # the business zone of a deployment that sets none
SHOP = generated_shop()

# Magento's people: a customer by id, a guest buyer by lower-case e-mail, a visitor by
# report_event's subject_id (subtype 1). Every report_event row is an event; every valid
# order (state processing, complete or closed; not the status fraud) a purchase.
SHOP_EVENTS_SQL = """
CREATE TEMP VIEW valid_orders AS
  SELECT * FROM sales_order WHERE state IN ('processing', 'complete', 'closed') AND status <> 'fraud';
CREATE TEMP VIEW shop_events AS
  SELECT CASE subtype WHEN 0 THEN 'customer:' ELSE 'visitor:' END || CAST(subject_id AS VARCHAR) AS person,
    logged_at AS moment, event_type_id
  FROM report_event
  UNION ALL
  SELECT COALESCE('customer:' || CAST(customer_id AS VARCHAR), 'guest:' || lower(customer_email)), created_at, NULL
  FROM valid_orders;
CREATE TEMP VIEW approved_reviews AS
  SELECT r.* FROM review r JOIN review_entity e ON e.entity_id = r.entity_id
  WHERE e.entity_code = 'product' AND r.status_id = 1;
"""

SUMMARY_SQL = """
SELECT 'users' AS name, COUNT(*) AS row_count, MIN(local_day(created_at)) AS first, MAX(local_day(created_at)) AS last
FROM customer_entity
UNION ALL SELECT 'events', COUNT(*), MIN(local_day(moment)), MAX(local_day(moment)) FROM shop_events
UNION ALL SELECT 'orders', COUNT(*), MIN(local_day(created_at)), MAX(local_day(created_at)) FROM sales_order
-- a configurable product's child row repeats its parent: one line per parent
UNION ALL SELECT 'order_items', COUNT(*), NULL, NULL FROM sales_order_item WHERE parent_item_id IS NULL
UNION ALL SELECT 'products', COUNT(*), NULL, NULL FROM catalog_product_entity
UNION ALL SELECT 'reviews', COUNT(*), MIN(local_day(created_at)), MAX(local_day(created_at)) FROM approved_reviews
"""

# a session starts at a person's first event and after every gap of more than 30 minutes
SESSIONS_SQL = """
SELECT COUNT(*) FROM (
  SELECT moment - LAG(moment) OVER (PARTITION BY person ORDER BY moment) AS gap FROM shop_events)
WHERE gap IS NULL OR gap > INTERVAL 30 MINUTE
"""

# an order as SPEC section 2 has it: its buyer, its status by Magento's state (a fraud
# suspect is pending whatever its state), its amount in the base currency
ORDERS_SQL = """
SELECT entity_id AS order_id,
  COALESCE('customer:' || CAST(customer_id AS VARCHAR), 'guest:' || lower(customer_email)) AS user_id,
  CASE WHEN status = 'fraud' THEN 'pending' WHEN state = 'processing' THEN 'paid' WHEN state = 'complete' THEN 'completed'
    WHEN state = 'closed' THEN 'refunded' WHEN state = 'canceled' THEN 'cancelled' ELSE 'pending' END AS status,
  CAST(base_grand_total AS DOUBLE) AS amount
FROM sales_order
"""

# What the quality report must find: products without a category name on the admin store;
# report_event types the SPEC has no event type for (all but product views, 1, and cart adds,
# 4); and SQLite keeps every time without a zone, so each time a canonical table holds counts.
QUALITY_SQL = """
SELECT 'products' AS table_name, 'nulls in a required column' AS check_name, 'category' AS column_name, COUNT(*) AS found
FROM catalog_product_entity p
WHERE NOT EXISTS (
  SELECT 1 FROM catalog_category_product cp
  JOIN catalog_category_entity_varchar cv ON cv.entity_id = cp.category_id AND cv.store_id = 0
  WHERE cp.product_id = p.entity_id)
UNION ALL SELECT 'events', 'unknown event type', 'event_type', COUNT(*) FROM report_event WHERE event_type_id NOT IN (1, 4)
UNION ALL SELECT 'users', 'timestamps without a zone', 'signup_at', COUNT(*) FROM customer_entity
UNION ALL SELECT 'orders', 'timestamps without a zone', 'created_at', COUNT(*) FROM sales_order
UNION ALL SELECT 'orders', 'timestamps without a zone', 'paid_at', COUNT(DISTINCT order_id) FROM sales_invoice
UNION ALL SELECT 'orders', 'timestamps without a zone', 'shipped_at', COUNT(DISTINCT order_id) FROM sales_shipment
UNION ALL SELECT 'orders', 'timestamps without a zone', 'refunded_at', COUNT(DISTINCT order_id) FROM sales_creditmemo WHERE state = 2
UNION ALL SELECT 'reviews', 'timestamps without a zone', 'created_at', COUNT(*) FROM approved_reviews
UNION ALL SELECT 'events', 'timestamps without a zone', 'event_time', COUNT(*) FROM shop_events
"""


@pytest.fixture(scope="module")
def magento_sql():
    connection = oracle(declared_frames(metadata, SHOP), TZ)
    connection.execute(SHOP_EVENTS_SQL)
    yield connection
    connection.close()


@pytest.fixture(scope="module")
def magento_db(tmp_path_factory):
    path = tmp_path_factory.mktemp("magento") / "magento.db"
    engine = sa.create_engine(f"sqlite:///{path}")
    write_declared(engine, metadata, SHOP)
    engine.dispose()
    return path


@pytest.fixture
def page(magento_db, tmp_path, monkeypatch):
    monkeypatch.setattr(shop_analytics.ui.sources, "SECRETS_PATH", tmp_path / "secrets.toml")
    at = AppTest.from_file(APP, default_timeout=120)
    at.secrets["connections"] = {"shop": {"url": sqlite_url(magento_db), "preset": "magento2"}}
    at.run()
    return at.switch_page("pages/data_source.py").run()


def shown_text(at) -> str:
    elements = [*at.markdown, *at.caption, *at.success, *at.error, *at.warning, *at.info]
    return "\n".join(str(element.value) for element in elements)


def day_of(value) -> date | None:
    return None if value is None or value != value else value.date()  # NaT for tables without times


def test_the_tables_their_days_and_the_sessions(page, magento_sql):
    assert not page.exception
    summary = page.dataframe[0].value.set_index("table")
    expected = {name: (count, first, last) for name, count, first, last in magento_sql.sql(SUMMARY_SQL).fetchall()}
    assert expected["events"][0] > expected["orders"][0] > 1_000  # report_event's rows and the purchases
    shown = {name: (int(summary.loc[name, "rows"]), day_of(summary.loc[name, "first"]), day_of(summary.loc[name, "last"])) for name in expected}
    assert shown == expected
    # what the preset cannot give is absent, not empty
    assert list(summary.index[summary["missing"] == "table absent"]) == ["campaigns", "ad_spend", "tickets"]
    # report_event has products, not pages, channels, devices or search terms (session_id is derived)
    assert summary.loc["events", "missing"] == "page, channel, device, search_term"
    (sessions,) = one_row(magento_sql, SESSIONS_SQL)
    assert f"{sessions:,} sessions derived from {expected['events'][0]:,} events" in shown_text(page)
    assert "Views that need campaigns, ad_spend, tickets say so until those tables are mapped." in shown_text(page)


def test_a_preview_shows_the_first_mapped_rows(page, magento_sql):
    page.selectbox(key="preview_table").set_value("orders").run()
    preview = page.dataframe[1].value
    assert len(preview) == shop_analytics.ui.sources.PREVIEW_ROWS
    expected = magento_sql.sql(ORDERS_SQL).pl().to_pandas().set_index("order_id")
    for row in preview.to_dict("records"):
        wanted = expected.loc[row["order_id"]]
        assert (row["user_id"], row["status"]) == (wanted["user_id"], wanted["status"])
        assert float(row["amount"]) == pytest.approx(wanted["amount"], abs=0.005)
    # the 20 rows hold customers and guests, valid and other orders
    assert {user.split(":")[0] for user in preview["user_id"]} == {"customer", "guest"}
    assert len(set(preview["status"])) >= 3


def test_the_quality_report_counts_the_shops_problems(page, magento_sql):
    page.toggle(key="quality_run").set_value(True).run()
    report = page.dataframe[-1].value
    found = {(row["table"], row["check"], row["column"]): row["count"] for row in report.to_dict("records")}
    expected = {(table, check, column): count for table, check, column, count in magento_sql.sql(QUALITY_SQL).fetchall()}
    assert all(expected.values())
    assert found == expected
    assert f"{len(expected)} kinds of problem found" in shown_text(page)


def coverage_shown(at, index: int = 0) -> dict[str, dict[str, str]]:
    """The coverage table `index` on the page: per canonical table, its row by column header."""
    table = at.table[index].value
    return {row[table.columns[0]]: dict(zip(table.columns[1:], list(row.values())[1:])) for row in table.to_dict("records")}


def labels(*names: str, lang: str = "en") -> str:
    return (", " if lang == "en" else "、").join(KPIS[name].label_in(lang) for name in names)


def test_what_the_preset_in_use_reads_cannot_give_and_what_that_costs(page):
    rows = coverage_shown(page)
    assert list(rows) == ["users", "events", "orders", "order_items", "products", "campaigns", "ad_spend", "reviews", "tickets"]
    mapped = [name for name, row in rows.items() if row["Mapped"] == "yes"]
    assert mapped == ["users", "events", "orders", "order_items", "products", "reviews"]
    assert [name for name, row in rows.items() if row["In the loaded shop"] == "yes"] == mapped
    assert "Magento 2 gives 6 of the 9 canonical tables." in shown_text(page)
    # what each reads: browsing and purchases; the order with its payments, invoices, shipments and credit memos
    assert rows["events"]["Reads"] == "report_event, sales_order"
    assert rows["orders"]["Reads"] == "sales_creditmemo, sales_invoice, sales_order, sales_order_payment, sales_shipment"
    assert rows["users"]["Reads"] == "customer_entity"
    assert all(row["Reads"] == "" for name, row in rows.items() if name not in mapped)
    # why not, in the preset's words
    assert rows["tickets"]["Why it cannot be given"] == "Magento has no service tickets: no response times or satisfaction."
    assert rows["ad_spend"]["Why it cannot be given"] == "Magento knows no advertising spend: no CPC, ROAS or ROI."
    assert all(row["Why it cannot be given"] == "" for name, row in rows.items() if name in mapped)
    # and what that costs on this shop, which has events and orders
    costs = {name: (row["Pages that cannot open without it"], row["KPIs not available without it"]) for name, row in rows.items()}
    assert costs["campaigns"] == ("Campaigns & ROI", "none")
    assert costs["ad_spend"] == ("none", labels("spend", "clicks", "cpc", "cac", "roas", "roi"))
    assert costs["tickets"] == ("none", labels(
        "first_response_hours_median", "first_response_hours_p90", "resolution_hours_median", "answered_within_promise_share",
        "return_rate", "mean_satisfaction",
    ))
    assert costs["events"][0] == "Funnel, User paths"
    assert costs["orders"][0] == "Segments & LTV, Demand & baskets"
    assert costs["users"] == ("none", labels("new_users", "user_growth_rate"))
    # the preset's notes on single columns
    notes = page.table[1].value
    assert list(notes["About"]) == ["events.user_id", "events.search_term", "events.channel", "events.page", "carts", "orders.refunded_at"]
    assert notes.set_index("About").loc["events.channel", "Note"] == "report_event records no traffic source: no channels for sessions."


def test_the_coverage_in_chinese(page):
    page.radio(key="language_switch").set_value("zh").run()
    assert not page.exception
    rows = coverage_shown(page)
    assert sum(row["已映射"] == "是" for row in rows.values()) == 6
    assert [name for name, row in rows.items() if row["已映射"] == "否"] == ["campaigns", "ad_spend", "tickets"]
    assert "Magento 2 提供 9 张标准表中的 6 张。" in shown_text(page)
    assert rows["tickets"]["无法提供的原因"] == "Magento 没有客服工单：没有响应时长和满意度。"
    assert rows["campaigns"]["缺少时无法打开的页面"] == "活动与 ROI"
    assert rows["ad_spend"]["缺少时无法提供的指标"] == labels("spend", "clicks", "cpc", "cac", "roas", "roi", lang="zh")
    notes = page.table[1].value.set_index("对象")
    assert notes.loc["events.channel", "说明"] == "report_event 不记录流量来源：会话没有渠道。"


def test_a_preset_chosen_in_the_form_says_what_it_would_read(page):
    assert len(page.table) == 2  # the preset in use is chosen: its coverage is above
    page.selectbox(key="source_preset").set_value("woocommerce").run()
    assert not page.exception
    assert page.expander[-1].label == "What WooCommerce (HPOS), the layout chosen here, reads and what it cannot give"
    rows = coverage_shown(page, 2)
    assert [name for name, row in rows.items() if row["Mapped"] == "yes"] == ["users", "orders", "order_items", "products"]
    assert "In the loaded shop" not in rows["users"]  # not loaded
    assert "WooCommerce (HPOS) gives 4 of the 9 canonical tables." in shown_text(page)
    assert rows["events"]["Why it cannot be given"] == (
        "WooCommerce stores no browsing events: no funnel, sessions, paths, DAU or traffic channels of visits."
    )
    assert rows["orders"]["Reads"] == "wp_posts, wp_wc_order_coupon_lookup, wp_wc_order_operational_data, wp_wc_orders, wp_wc_orders_meta"
    # the costs of a shop with orders and no events: the pages of events alone
    assert rows["events"]["Pages that cannot open without it"] == "Funnel, User paths"
    assert rows["orders"]["Pages that cannot open without it"].startswith("Overview, Alerts, Reports, Traffic & channels")
    # a mapping file replaces the preset: nothing is said for the preset then
    page.text_input(key="source_mapping").input("/somewhere/mapping.toml").run()
    assert len(page.table) == 2


def test_every_preset_reason_is_translated_from_its_current_words():
    words = translations()
    for preset in preset_names():
        mapping = load_preset(preset)
        for key, said in mapping.unavailable.items():
            assert words[f"data_source.reasons.{preset}.{key}"]["en"] == said, (preset, key)
            assert reason(mapping, key, "en") == said
    magento = load_preset("magento2")
    assert reason(magento, "tickets", "zh") == "Magento 没有客服工单：没有响应时长和满意度。"
    # a reason changed in the preset is shown in its own words until its translation follows
    changed = replace(magento, unavailable={**magento.unavailable, "tickets": "Tickets live in Zendesk."})
    assert reason(changed, "tickets", "zh") == "Tickets live in Zendesk."
    # a mapping file's reasons are its own; a table it neither maps nor explains is said to be unmapped
    mine = parse_mapping({"name": "Mine", "tables": {"orders": {"from": "o"}}, "unavailable": {"tickets": "none here"}}, "mine.toml")
    assert [reason(mine, key, "zh") for key in ("tickets", "events")] == ["none here", "Mine 未映射 events。"]
    assert reason(mine, "events", "en") == "Mine does not map events."


def test_the_pages_a_table_costs_depend_on_what_else_the_shop_has():
    assert pages_needing("events", {"events", "orders"}) == ["funnel", "paths"]
    assert pages_needing("events", {"events"}) == [
        "overview", "alerts", "reports", "channels", "campaigns", "products", "funnel", "paths", "cohorts", "checkout", "explore", "targets",
    ]
    assert pages_needing("tickets", {"tickets"}) == ["service"]
    assert pages_needing("tickets", {"tickets", "reviews"}) == []


def test_a_missing_folder_is_reported_not_saved(page, tmp_path):
    page.radio(key="source_kind").set_value("folder").run()
    page.text_input(key="source_path").input(str(tmp_path / "nowhere"))
    page.button(key="source_save").click().run()
    assert not page.exception
    assert "is not a folder of tables" in page.error[0].value
    assert not shop_analytics.ui.sources.SECRETS_PATH.exists()


def test_saving_a_database_connection_keeps_the_password_out_of_the_page(page):
    server_engine("postgresql")
    shop_analytics.ui.sources.SECRETS_PATH.write_text('[settings]\ntime_zone = "UTC"\n\n[connections.shop]\nurl = "sqlite:///old.db"\n')
    page.secrets["connections"]["shop"]["extract_ttl_minutes"] = 30  # the running app's secrets
    page.radio(key="source_kind").set_value("database").run()
    page.text_input(key="source_host").input("127.0.0.1")
    page.text_input(key="source_database").input("test")
    page.text_input(key="source_username").input("postgres")
    page.text_input(key="source_password").input('typed "secret" \\ 1')
    page.button(key="source_save").click().run()
    assert not page.exception
    saved = tomllib.loads(shop_analytics.ui.sources.SECRETS_PATH.read_text())
    assert saved["settings"] == {"time_zone": "UTC"}
    assert saved["connections"]["shop"] == {
        "dialect": "postgresql", "driver": "psycopg", "host": "127.0.0.1", "port": 5432, "database": "test",
        "username": "postgres", "password": 'typed "secret" \\ 1', "preset": "magento2", "extract_ttl_minutes": 30,
    }
    assert "Saved to .streamlit/secrets.toml; the dashboard now reads postgresql+psycopg://postgres:***@127.0.0.1:5432/test" in shown_text(page)
    assert "typed" not in shown_text(page)
    assert page.text_input(key="source_password").value == ""


def test_a_blank_password_keeps_the_saved_one_and_an_environment_variable_replaces_it():
    saved = {"dialect": "mysql", "host": "db", "password": "kept", "extract_folder": "/x"}
    form = ConnectionForm("database", dialect="mysql", host="db", database="shop", username="u", port=3306)
    assert connection_settings(form, saved) == {
        "dialect": "mysql", "driver": "pymysql", "host": "db", "port": 3306, "database": "shop", "username": "u",
        "password": "kept", "extract_folder": "/x",
    }
    assert "password" not in connection_settings(ConnectionForm("database", dialect="mysql", host="other"), saved)
    from_env = connection_settings(ConnectionForm("database", host="db", password_env="SHOP_PW", preset="magento2"), saved)
    assert from_env["password_env"] == "SHOP_PW" and "password" not in from_env and from_env["preset"] == "magento2"


def test_saving_the_sample_shop_removes_the_connection(tmp_path):
    path = tmp_path / "secrets.toml"
    path.write_text('[connections.shop]\nfolder = "/x"\n\n[settings]\ncurrency = "¥"\n')
    save_connection(connection_settings(ConnectionForm("sample"), {"folder": "/x"}), path)
    assert tomllib.loads(path.read_text()) == {"settings": {"currency": "¥"}}
    assert path.stat().st_mode & 0o077 == 0
