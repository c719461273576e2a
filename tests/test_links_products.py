"""Issue 21: on Products, clicking a product opens its daily trend, steps and reviews (a
treemap's click only zoomed into its tile, in a real browser, and told the page nothing).
The best sellers are bars that a click selects; any product can be picked; the product and
the category are kept in the URL, so a link opens the product."""

import json
from pathlib import Path

import polars as pl
from browser import chromium_page, require_chromium, serve_app
from streamlit.testing.v1 import AppTest

from connectors.sql import sqlite_url
from metrics.products import product_table
from metrics.registry import KPIS, format_value
from shop_analytics.ui.filters import DATES_KEY

TZ = "Asia/Shanghai"
APP = str(Path(__file__).resolve().parents[1] / "app.py")


def products_page(small_shop_db, **params) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.secrets["connections"] = {"shop": {"url": sqlite_url(small_shop_db)}}
    for name, value in params.items():
        at.query_params[name] = value
    at.switch_page("pages/products.py").run()
    assert not at.exception
    return at


def table_of(shop, at) -> pl.DataFrame:
    start, end = at.session_state[DATES_KEY]
    return product_table(shop.events, shop.orders, shop.order_items, shop.products, start=start, end=end, tz=TZ)


def bars(at) -> list:
    """The products of the best sellers' bars (the page's first chart)."""
    return [product for trace in json.loads(at.get("plotly_chart")[0].proto.spec)["data"] for product in trace["customdata"]]


def test_a_clicked_bar_opens_the_product_and_a_link_opens_it_again(small_shop_db, small_shop):
    at = products_page(small_shop_db)
    table = table_of(small_shop, at)
    best = table.sort("gmv", descending=True).head(20)
    assert sorted(bars(at)) == sorted(best["product_id"].to_list())
    second = best.row(1, named=True)
    at.session_state["products_chart"] = {"selection": {"points": [{"customdata": second["product_id"]}], "point_indices": [0], "box": [], "lasso": []}}
    at.run()
    assert any(header.value == f"{second['name']} ({second['category']})" for header in at.subheader)
    assert at.metric[0].value == format_value(KPIS["gmv"], second["gmv"], lang="en")
    assert at.query_params["product"] in (str(second["product_id"]), [str(second["product_id"])])
    # a colleague opening the URL sees the same product
    colleague = products_page(small_shop_db, product=str(second["product_id"]))
    assert colleague.selectbox(key="products_pick").value == second["product_id"]
    assert any(header.value.startswith(second["name"]) for header in colleague.subheader)
    # Back closes it, and the same click is not applied again
    at.button[0].click().run()
    assert not any(header.value.startswith(second["name"]) for header in at.subheader) and "product" not in at.query_params


def test_any_product_can_be_picked_and_a_category_narrows_the_best_sellers(small_shop_db, small_shop):
    at = products_page(small_shop_db)
    table = table_of(small_shop, at)
    quiet = table.filter(pl.col("gmv") == 0).row(0, named=True)  # no bar: picked from the list
    at.selectbox(key="products_pick").set_value(quiet["product_id"]).run()
    assert any(header.value.startswith(quiet["name"]) for header in at.subheader)
    category = table.sort("gmv", descending=True)["category"][0]
    at.selectbox(key="products_category").set_value(category).run()
    in_category = table.filter(pl.col("category") == category, pl.col("gmv") > 0).sort("gmv", descending=True).head(20)
    assert sorted(bars(at)) == sorted(in_category["product_id"].to_list())
    assert at.query_params["category"] in (category, [category])


def test_in_a_browser_a_click_on_a_product_opens_it(small_shop_db, tmp_path):
    require_chromium()
    with serve_app(sqlite_url(small_shop_db), tmp_path) as base, chromium_page() as page:
        page.goto(f"{base}/products")
        page.locator(".js-plotly-plot g.point").first.wait_for(timeout=90_000)
        bar = page.locator(".js-plotly-plot g.point").last  # the best seller, drawn on top
        box = bar.bounding_box()
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)  # Plotly's drag layer takes locator clicks
        page.wait_for_url("**product=*", timeout=30_000)
        page.locator('[data-testid="stMetric"]').first.wait_for(timeout=30_000)  # the product's GMV, CTR, conversion, refunds
        assert page.locator('[data-testid="stMetric"]').count() == 4
        header = page.locator("h3").first
        assert header.inner_text().endswith(")")
        # the link opens the product in a new session
        shown, link = header.inner_text(), page.url
        page.goto(f"{base}/products")
        page.locator(".js-plotly-plot g.point").first.wait_for(timeout=60_000)
        assert page.locator('[data-testid="stMetric"]').count() == 0
        page.goto(link)
        page.locator('[data-testid="stMetric"]').first.wait_for(timeout=60_000)
        assert page.locator("h3").first.inner_text() == shown
