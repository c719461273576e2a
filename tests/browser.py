"""Serving the app for a real browser: a streamlit server on a free port, and Chromium."""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]


def require_chromium() -> None:
    """Skip with the reason on a developer machine without Chromium; fail in CI."""
    if shutil.which(CHROMIUM) is None:
        message = f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def serve_app(database_url: str, workdir: Path):
    """Run `streamlit run app.py` with `[connections.shop] url` set; yield its base URL."""
    (workdir / ".streamlit").mkdir(exist_ok=True)
    (workdir / ".streamlit" / "secrets.toml").write_text(f'[connections.shop]\nurl = "{database_url}"\n')
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.headless", "true",
         "--server.port", str(port), "--browser.gatherUsageStats", "false"],
        cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/_stcore/health", timeout=1) as answer:
                    if answer.read() == b"ok":
                        break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError(f"streamlit did not start: {server.stderr.read().decode()[-2000:]}")
                time.sleep(0.3)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=20)


@contextmanager
def chromium_page(width: int = 1500, height: int = 1100):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser.new_page(viewport={"width": width, "height": height})
        finally:
            browser.close()


def _section_links(page, section):
    """Open a top-navigation section's menu and return its links."""
    section.click()
    links = page.locator('[data-testid="stTopNavDropdownLink"]')
    links.first.wait_for(timeout=10_000)
    return links


def navigation_titles(page) -> list[str]:
    """Every page title in the top navigation, section by section (each menu opened in turn)."""
    titles = []
    sections = page.locator('[data-testid="stTopNavSection"]')
    for index in range(sections.count()):
        links = _section_links(page, sections.nth(index))
        titles += [label.strip().splitlines()[-1] for label in links.all_inner_texts()]
        page.keyboard.press("Escape")
    return titles


def go_to_page(page, title: str) -> None:
    """Open the page called `title` from the top navigation, as a user does."""
    sections = page.locator('[data-testid="stTopNavSection"]')
    for index in range(sections.count()):
        link = _section_links(page, sections.nth(index)).filter(has_text=title)
        if link.count():
            link.first.click()
            return
        page.keyboard.press("Escape")
    raise AssertionError(f"no page called {title!r} in the navigation")
