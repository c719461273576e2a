"""The main flow in a real browser: the overview's cards, the navigation, a click on a day."""

import re
from datetime import timedelta
from pathlib import Path

import pytest
from browser import chromium_page, navigation_titles, require_chromium, serve_app

from connectors.sql import sqlite_url
from metrics.drilldown import orders_on_day
from metrics.periods import period_summary
from metrics.registry import KPIS, format_value
from shop_analytics.i18n import text

TZ = "Asia/Shanghai"


@pytest.fixture(scope="module")
def page_on_small_shop(small_shop_db, tmp_path_factory):
    require_chromium()
    with serve_app(sqlite_url(small_shop_db), tmp_path_factory.mktemp("app")) as base, chromium_page() as page:
        page.goto(base)
        page.get_by_text("GMV", exact=True).first.wait_for(timeout=90_000)
        yield page


def test_cards_show_the_metric_values_of_the_last_30_days(page_on_small_shop, small_shop):
    page = page_on_small_shop
    _, last = small_shop.date_span(TZ)
    start = last - timedelta(days=29)
    summary = period_summary(small_shop.events, small_shop.sessions, small_shop.orders, small_shop.users, start=start, end=last, tz=TZ)
    gmv_card = page.locator('[data-testid="stMetric"]').filter(has_text="GMV").first
    assert format_value(KPIS["gmv"], summary["gmv"], compact=True) in gmv_card.inner_text()
    orders_card = page.locator('[data-testid="stMetric"]').filter(has_text="Orders").first
    assert format_value(KPIS["orders"], summary["orders"]) in orders_card.inner_text()


def test_every_page_appears_once_in_the_navigation(page_on_small_shop):
    titles = navigation_titles(page_on_small_shop)
    pages = sorted((Path(__file__).resolve().parents[1] / "pages").glob("*.py"))
    assert sorted(titles) == sorted(text(f"nav.{page.stem}", "en") for page in pages)


def test_clicking_a_day_in_the_trend_shows_its_orders(page_on_small_shop, small_shop):
    page = page_on_small_shop
    # the daily trend's own points (the overview has other charts below it)
    points = page.locator(".st-key-overview_trend .js-plotly-plot .scatterlayer path.point")
    points.last.wait_for(timeout=30_000)
    # the trend now sits below the cards and targets: bring the point into the viewport first
    target = points.nth(points.count() - 2)
    target.scroll_into_view_if_needed()
    box = target.bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    _, last = small_shop.date_span(TZ)
    day = last - timedelta(days=1)
    page.get_by_text(f"{day:%A %Y-%m-%d}").wait_for(timeout=30_000)
    count = orders_on_day(small_shop.orders, day=day, tz=TZ).height
    page.get_by_text(f"Orders ({count})").wait_for(timeout=30_000)


def test_a_deep_link_on_a_fresh_server_gets_the_frame_and_a_channel_click_filters(page_on_small_shop, small_shop_db, tmp_path):
    """Streamlit would run pages/channels.py alone for the first request of its URL (legacy
    multipage mode); the page must still come with the sidebar filters and navigation."""
    with serve_app(sqlite_url(small_shop_db), tmp_path) as base:
        page = page_on_small_shop.context.browser.new_page(viewport={"width": 1500, "height": 1100})
        page.goto(f"{base}/channels?channel=email")
        page.get_by_text("Traffic & channels").first.wait_for(timeout=90_000)
        sidebar = page.locator('[data-testid="stSidebar"]')
        sidebar.get_by_text("Period", exact=True).wait_for(timeout=30_000)
        titles = navigation_titles(page)
        pages = sorted((Path(__file__).resolve().parents[1] / "pages").glob("*.py"))
        assert sorted(titles) == sorted(text(f"nav.{page.stem}", "en") for page in pages)
        sidebar.locator('[data-testid="stMultiSelect"]').first.get_by_text("email").wait_for(timeout=30_000)
        assert "channel=email" in page.url and "from=" in page.url
        bubble = page.locator(".js-plotly-plot .scatterlayer path.point").first
        bubble.wait_for(timeout=30_000)
        box = bubble.bounding_box()
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        channel_picker = sidebar.locator('[data-testid="stMultiSelect"]').first
        channels = ("direct", "organic", "email", "paid search", "affiliate", "social")  # as the picker words them
        channel_picker.get_by_text(re.compile("|".join(channels))).first.wait_for(timeout=30_000)
        picked = channel_picker.inner_text()
        assert sum(channel in picked for channel in channels) == 1
