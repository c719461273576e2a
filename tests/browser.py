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


def stop(process: subprocess.Popen) -> None:
    """Stop a server process: terminated, killed if it has not stopped within 20 s."""
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=20)


@contextmanager
def serve_app(database_url: str, workdir: Path):
    """Run the dashboard (`cli.py serve`) with `[connections.shop] url` set; yield its base URL."""
    (workdir / ".streamlit").mkdir(exist_ok=True)
    (workdir / ".streamlit" / "secrets.toml").write_text(f'[connections.shop]\nurl = "{database_url}"\n')
    port = _free_port()
    # The server's log goes to a file: a pipe nobody reads while the tests run fills up (64 KB
    # of warnings) and then blocks the server on its next write, a page then never finishing.
    log = workdir / "server.log"
    with log.open("wb") as output:
        # started as `make run` starts it: the shop loaded before the first visitor
        server = subprocess.Popen(
            [sys.executable, str(ROOT / "cli.py"), "serve", "--port", str(port), "--headless"],
            cwd=workdir, stdout=subprocess.DEVNULL, stderr=output,
            env={**os.environ, "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"},
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/_stcore/health", timeout=1) as answer:
                    if answer.read() == b"ok":
                        break
            except OSError as error:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError(f"streamlit did not start: {log.read_text(errors='replace')[-2000:]}") from error
                time.sleep(0.3)
        yield base
    finally:
        stop(server)


@contextmanager
def chromium_page(width: int = 1500, height: int = 1100):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser.new_page(viewport={"width": width, "height": height})
        finally:
            browser.close()


def _open_menus(page):
    """Each top-navigation section's menu opened in turn; yields its links while it is open."""
    sections = page.locator('[data-testid="stTopNavSection"]')
    sections.first.wait_for(timeout=30_000)
    for index in range(sections.count()):
        sections.nth(index).click()
        links = page.locator('[data-testid="stTopNavDropdownLink"]:visible')
        links.first.wait_for(timeout=10_000)
        page.wait_for_timeout(150)  # the menu's opening animation
        yield links
        page.keyboard.press("Escape")
        page.wait_for_timeout(150)


def navigation_titles(page) -> list[str]:
    """Every page title in the top navigation, section by section."""
    return [label.strip().splitlines()[-1] for links in _open_menus(page) for label in links.all_inner_texts()]


def go_to_page(page, title: str) -> None:
    """Open the page called `title` from the top navigation, as a user does."""
    for links in _open_menus(page):
        link = links.filter(has_text=title)
        if link.count():
            link.first.click()
            return
    raise AssertionError(f"no page called {title!r} in the navigation")
