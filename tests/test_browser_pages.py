"""Every page in a real browser, as a user goes through them: opened from the navigation,
drawn without a Streamlit exception, saved as screenshots at desktop and phone widths; the
date range typed in, the language switched, a table downloaded as CSV.

Screenshots go to .screenshots/<width>/<page>.png (git-ignored) for a person to look at.
"""

from datetime import date, timedelta
from io import BytesIO
from pathlib import Path

import polars as pl
import pytest
from browser import chromium_page, go_to_page, require_chromium, serve_app
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from connectors.sql import sqlite_url
from metrics.kpis import daily_kpis
from metrics.periods import period_summary
from metrics.registry import KPIS, format_value
from shop_analytics.i18n import text
from shop_analytics.ui.tables import CSV_BOM

TZ = "Asia/Shanghai"
ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / ".screenshots"
PAGES = sorted(path.stem for path in (ROOT / "pages").glob("*.py"))
DESKTOP, PHONE = (1400, 1000), (390, 844)


def wait_for_run(page) -> None:
    """Until the script run the last action started has finished."""
    app = '[data-testid="stApp"]'
    try:
        page.wait_for_selector(f'{app}:not([data-test-script-state="notRunning"])', timeout=2_000)
    except PlaywrightTimeout:
        pass
    page.wait_for_selector(f'{app}[data-test-script-state="notRunning"]', timeout=120_000)


def assert_no_exception(page, where: str) -> None:
    boxes = page.locator('[data-testid="stException"]')
    assert boxes.count() == 0, f"{where}: {boxes.first.inner_text()[:500]}"


@pytest.fixture(scope="module")
def app_page(small_shop_db, tmp_path_factory):
    require_chromium()
    with serve_app(sqlite_url(small_shop_db), tmp_path_factory.mktemp("app")) as base, chromium_page(*DESKTOP) as page:
        page.goto(base)
        page.locator('[data-testid="stMetric"]').first.wait_for(timeout=120_000)
        wait_for_run(page)
        yield page


@pytest.mark.parametrize("name", PAGES)
def test_each_page_opens_from_the_navigation_without_an_exception(app_page, name):
    page = app_page
    title = text(f"nav.{name}", "en")
    go_to_page(page, title)
    wait_for_run(page)
    page.locator("h1").filter(has_text=title).first.wait_for(timeout=60_000)
    assert_no_exception(page, name)
    for width, height in (DESKTOP, PHONE):
        page.set_viewport_size({"width": width, "height": height})
        page.wait_for_timeout(400)  # the layout settles at the new width
        folder = SCREENSHOTS / str(width)
        folder.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(folder / f"{name}.png"), full_page=True)
        assert_no_exception(page, f"{name} at {width} px")
    page.set_viewport_size({"width": DESKTOP[0], "height": DESKTOP[1]})


def test_typing_a_new_start_day_changes_the_cards(app_page, small_shop):
    page = app_page
    go_to_page(page, text("nav.overview", "en"))
    wait_for_run(page)
    _, last = small_shop.date_span(TZ)
    start = (last - timedelta(days=29)).replace(day=1)  # the default period's first month, from its 1st
    page.get_by_role("spinbutton", name="day, Period start date").click()
    page.keyboard.type(f"{start.day:02d}")
    page.locator("h1").first.click()  # the date input commits when it loses focus
    wait_for_run(page)
    assert f"from={start}" in page.url
    summary = period_summary(small_shop.events, small_shop.sessions, small_shop.orders, small_shop.users, start=start, end=last, tz=TZ)
    gmv_card = page.locator('[data-testid="stMetric"]').filter(has_text="GMV").first
    assert format_value(KPIS["gmv"], summary["gmv"], compact=True) in gmv_card.inner_text()


def test_downloading_the_daily_table_gives_the_metric_rows_as_csv(app_page, small_shop):
    page = app_page
    go_to_page(page, text("nav.overview", "en"))
    wait_for_run(page)
    start = date.fromisoformat(page.url.split("from=")[1][:10])
    end = date.fromisoformat(page.url.split("to=")[1][:10])
    page.get_by_text(text("overview.daily_table", "en")).click()
    with page.expect_download(timeout=30_000) as download:
        page.get_by_role("button", name=text("tables.csv", "en")).first.click()
    assert download.value.suggested_filename == f"daily_kpis_{start}_{end}.csv"
    data = Path(download.value.path()).read_bytes()
    assert data.startswith(CSV_BOM)  # Excel reads it as UTF-8; headers in the page's language
    rows = pl.read_csv(BytesIO(data.removeprefix(CSV_BOM)), try_parse_dates=True)
    expected = daily_kpis(small_shop.events, small_shop.sessions, small_shop.orders, small_shop.users, start=start, end=end, tz=TZ)
    assert rows[text("columns.date", "en")].to_list() == expected["date"].to_list()
    assert rows[KPIS["orders"].label_in("en")].to_list() == expected["orders"].to_list()
    assert rows[KPIS["gmv"].label_in("en")].to_list() == pytest.approx(expected["gmv"].to_list())


def test_switching_to_chinese_and_back(app_page):
    page = app_page
    go_to_page(page, text("nav.overview", "en"))
    wait_for_run(page)
    page.locator('[data-testid="stSidebar"]').get_by_text("中文").click()
    wait_for_run(page)
    page.locator("h1").filter(has_text="概览").wait_for(timeout=30_000)
    assert "lang=zh" in page.url
    # the KPI cards' AOV, and the GMV decomposition's, both in Chinese
    assert page.locator('[data-testid="stMetric"]').filter(has_text="客单价").count() >= 1
    assert page.locator('[data-testid="stMetric"]').filter(has_text="AOV").count() == 0
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "overview_zh.png"), full_page=True)
    assert_no_exception(page, "overview in Chinese")
    page.locator('[data-testid="stSidebar"]').get_by_text("English").click()
    wait_for_run(page)
    page.locator("h1").filter(has_text="Overview").wait_for(timeout=30_000)
    assert "lang=" not in page.url


def test_the_period_of_a_shared_link_is_the_one_shown(app_page, small_shop):
    page = app_page.context.browser.new_page(viewport={"width": DESKTOP[0], "height": DESKTOP[1]})
    _, last = small_shop.date_span(TZ)
    start = last - timedelta(days=6)
    base = app_page.url.split("/?")[0].split("?")[0].rstrip("/")
    base = base.rsplit("/", 1)[0] if base.count("/") > 2 else base
    page.goto(f"{base}/channels?from={start}&to={last}&lang=zh")
    page.locator("h1").filter(has_text="流量与渠道").wait_for(timeout=60_000)
    wait_for_run(page)
    assert_no_exception(page, "channels from a link")
    assert f"from={start}" in page.url and "lang=zh" in page.url
    page.close()
