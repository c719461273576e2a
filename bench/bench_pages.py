"""Page speed: each page's first render after a filter change, on the default sample shop.

The operations team's target is 2 s. Two measurements of the same thing:

- AppTest (headless, in-process): the script run of the page after the period changed, so no
  filter-keyed result is cached; the shop itself is loaded once before timing, as a running
  server has it loaded.
- Browser (Playwright driving Chromium against `streamlit run`): in one session, from picking
  a channel in the sidebar not picked before on that page until the page's main area last
  changed in the run that started (the browser's own clock, by a MutationObserver: a run that
  ends before Playwright first looks shows no "running" state to wait for). This adds the
  websocket and the front end's work, which AppTest does not see.

Each page is measured `--repeat` times, each a filter value not seen before on that page (a
cache miss); the median and the worst are reported against the target.

    .venv/bin/python bench/bench_pages.py [--db sample_data/shop.db] [--repeat 3] [--no-browser]
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from playwright.sync_api import TimeoutError as PlaywrightTimeout  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

from connectors import SAMPLE_SHOP  # noqa: E402
from connectors.sql import sqlite_url  # noqa: E402
from shop_analytics.i18n import text  # noqa: E402
from shop_analytics.ui.filters import DATES_KEY  # noqa: E402

TARGET_SECONDS = 2.0
TZ = "Asia/Shanghai"
PERIOD_DAYS = 30


PAGES: list[str] = []


def page_names() -> list[str]:
    return PAGES or sorted(path.stem for path in (ROOT / "pages").glob("*.py"))


def periods(last: date, count: int) -> list[tuple[date, date]]:
    """`count` different 30-day periods ending a week apart before `last`."""
    return [(last - timedelta(days=7 * shift + PERIOD_DAYS - 1), last - timedelta(days=7 * shift)) for shift in range(1, count + 1)]


def bench_apptest(db: Path, repeat: int) -> dict[str, list[float]]:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.secrets["connections"] = {"shop": {"url": sqlite_url(db)}}
    started = time.perf_counter()
    at.run()
    print(f"AppTest: first run with the shop's load {time.perf_counter() - started:.2f} s", file=sys.stderr)
    _, last = at.session_state[DATES_KEY]
    timings: dict[str, list[float]] = {}
    for name in page_names():
        at.switch_page(f"pages/{name}.py").run()
        for index, (start, end) in enumerate(periods(last, repeat)):
            at.session_state[DATES_KEY] = (start - timedelta(days=index * 91 + len(timings)), end)
            started = time.perf_counter()
            at.run()
            timings.setdefault(name, []).append(time.perf_counter() - started)
            if at.exception:
                raise SystemExit(f"{name}: {at.exception[0].value}")
    return timings


def _wait_for_run(page, started_running_within: float = 3.0) -> None:
    """Until the script run that the last action started has finished (Streamlit marks the
    app element with its script state)."""
    app = '[data-testid="stApp"]'
    try:
        page.wait_for_selector(f'{app}:not([data-test-script-state="notRunning"])', timeout=started_running_within * 1000)
    except PlaywrightTimeout:
        pass  # the run was over before we looked
    page.wait_for_selector(f'{app}[data-test-script-state="notRunning"]', timeout=120_000)


# The page's clock at the main area's last change (the sidebar's open picker changes on its
# own): a run that ends before Playwright first looks leaves no "running" state to wait for,
# so the time is read from when the page's content last changed.
_WATCH_CHANGES = """() => {
    if (window.__lastChange === undefined) {
        window.__lastChange = performance.now();
        new MutationObserver(() => { window.__lastChange = performance.now(); })
            .observe(document.querySelector('[data-testid="stMain"]'), {subtree: true, childList: true, attributes: true, characterData: true});
    }
    return performance.now();
}"""


def _timed(page, action) -> float:
    """Seconds from `action` until the page's main area last changed in the run it started
    (0 when the run changed nothing there)."""
    clicked = page.evaluate(_WATCH_CHANGES)
    action()
    _wait_for_run(page)
    return max(page.evaluate("window.__lastChange") - clicked, 0.0) / 1000


def bench_browser(db: Path, repeat: int) -> dict[str, list[float]]:
    """In one browser session, as a user works: open each page from the navigation, then
    change the channel filter `repeat` times (a channel not yet picked on that page, so each
    render is a cache miss) and time each change until the run has finished."""
    from browser import chromium_page, go_to_page, serve_app

    timings: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as workdir, serve_app(sqlite_url(db), Path(workdir)) as base, chromium_page() as page:
        page.goto(base)
        page.locator('[data-testid="stMetric"]').first.wait_for(timeout=300_000)
        _wait_for_run(page)
        channel_filter = page.locator('[data-testid="stSidebar"] [data-testid="stMultiSelect"]').first
        for name in page_names():
            go_to_page(page, text(f"nav.{name}", "en"))
            _wait_for_run(page)
            for index in range(repeat):
                clear_all = channel_filter.get_by_role("button", name="Clear all")
                if clear_all.count():
                    clear_all.click()
                    _wait_for_run(page)
                channel_filter.click()
                # The first option is Streamlit's "Select all"; pick one channel.
                options = page.locator('[role="option"]')
                options.nth(1).wait_for(timeout=30_000)
                option = options.nth(1 + index % (options.count() - 1))
                timings.setdefault(name, []).append(_timed(page, option.click))
                page.keyboard.press("Escape")
            channel_filter.get_by_role("button", name="Clear all").click()
            _wait_for_run(page)
    return timings


def report(title: str, timings: dict[str, list[float]]) -> None:
    print(f"\n{title} (seconds; target {TARGET_SECONDS:g} s)")
    print("| page | median | worst | within target |\n| --- | ---: | ---: | --- |")
    for name, values in timings.items():
        print(f"| {name} | {statistics.median(values):.2f} | {max(values):.2f} | {'yes' if max(values) <= TARGET_SECONDS else 'NO'} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", type=Path, default=SAMPLE_SHOP)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-browser", action="store_true")
    parser.add_argument("--pages", nargs="*", default=[], help="page file stems (default: every page)")
    options = parser.parse_args()
    PAGES.extend(options.pages)
    print(f"{options.db}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    report("AppTest: first render after a period change", bench_apptest(options.db, options.repeat))
    if not options.no_browser:
        report("Browser: a channel picked to the run finished", bench_browser(options.db, options.repeat))


if __name__ == "__main__":
    main()
