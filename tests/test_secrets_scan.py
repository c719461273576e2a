"""Configured passwords never show: a run of the app with a database password (in the
connection URL) and a user's password (signing in), through the database stopping and
coming back, every page element, every log line, every exception text, the CLI's errors, a
report built from that source and the extract's files are read for them."""

import logging
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from browser import _free_port, chromium_page, require_chromium
from streamlit.testing.v1 import AppTest
from test_database_stop import DB_PASSWORD, instance, run_through_a_stop  # noqa: F401 - instance is a fixture

from connectors import SourceError, source_from_settings
from connectors.extracts import MANIFEST
from shop_analytics.access import hash_password
from shop_analytics.cli import write_report
from shop_analytics.config import config_from_mapping

ROOT = Path(__file__).resolve().parents[1]
USER_PASSWORD = "ada-Pa55-c0rrect-h0rse"
SECRETS = (DB_PASSWORD, USER_PASSWORD)


def element_texts(at: AppTest) -> list[str]:
    """Every element of the page as its protobuf text: labels, values, help, captions."""
    texts = []

    def walk(node) -> None:
        proto = getattr(node, "proto", None)
        if proto is not None:
            texts.append(str(proto))
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at.main)
    walk(at.sidebar)
    return texts


def leaked(texts: list[str]) -> list[str]:
    return [text[:200] for text in texts if any(secret in text for secret in SECRETS)]


def test_no_password_shows_in_pages_logs_errors_reports_or_the_extract(instance, small_shop, tmp_path, caplog, capfd):  # noqa: F811
    caplog.set_level(logging.DEBUG)
    url = instance.url.render_as_string(hide_password=False)
    assert DB_PASSWORD in url
    access = {
        "section": {"users": {"ada": {"password_hash": hash_password(USER_PASSWORD), "role": "admin"}}},
        "name": "ada", "password": USER_PASSWORD,
    }
    pages: list[str] = []
    at = run_through_a_stop(instance, small_shop, tmp_path / "extract", access, look=lambda run: pages.extend(element_texts(run)))
    for page in ("data_source", "funnel", "reports", "alerts"):
        at.switch_page(f"pages/{page}.py").run()
        pages.extend(element_texts(at))
        pages.extend(str(exception.value) for exception in at.exception)
    assert any("the database cannot be reached" in text for text in pages), "the scan saw the banner"

    errors: list[str] = []
    instance.stop()
    try:
        with pytest.raises(SourceError) as raised:
            source_from_settings({"url": url}).read_table("orders")
        errors.append(str(raised.value))
        failed = subprocess.run(
            [sys.executable, str(ROOT / "cli.py"), "export", "kpis", "--source", url, "--from", "2026-01-01", "--to", "2026-01-31"],
            check=False, capture_output=True, text=True, timeout=120, cwd=tmp_path,
        )
        assert failed.returncode == 2
        errors += [failed.stdout, failed.stderr]
    finally:
        instance.start()
    assert "postgres:***@" in errors[0], errors[0]

    last_day = small_shop.orders["created_at"].max().date()
    report = write_report(config_from_mapping({"connections": {"shop": {"url": url, "extract_folder": str(tmp_path / "report_extract")}}}), "week", last_day, "html", tmp_path / "reports")
    files = [report.read_text(), (tmp_path / "extract" / MANIFEST).read_text()]

    logged = capfd.readouterr()
    logs = [caplog.text, logged.out, logged.err]
    assert leaked(pages) == [] and leaked(errors) == [] and leaked(files) == [] and leaked(logs) == []


def test_a_served_app_logs_no_password_while_its_database_is_down(instance, tmp_path):  # noqa: F811
    require_chromium()
    url = instance.url.render_as_string(hide_password=False)
    (tmp_path / ".streamlit").mkdir()
    (tmp_path / ".streamlit" / "secrets.toml").write_text(
        f'[connections.shop]\nurl = "{url}"\nextract_folder = "{tmp_path / "extract"}"\n\n'
        f'[access.users.ada]\npassword_hash = \'{hash_password(USER_PASSWORD)}\'\nrole = "admin"\n'
    )
    port = _free_port()
    log_path = tmp_path / "server.log"
    instance.stop()
    try:
        with log_path.open("w") as log:
            server = subprocess.Popen(
                [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.headless", "true",
                 "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
                 "--logger.level", "debug"],
                cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT,
            )
        try:
            deadline = time.monotonic() + 90
            while True:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1):
                        break
                except OSError:
                    assert time.monotonic() < deadline and server.poll() is None, log_path.read_text()[-2000:]
                    time.sleep(0.3)
            with chromium_page() as page:
                page.goto(f"http://localhost:{port}/")
                page.get_by_role("textbox", name="User name").fill("ada")
                page.get_by_role("textbox", name="Password").fill(USER_PASSWORD)
                page.get_by_role("button", name="Sign in").click()
                page.get_by_text("cannot", exact=False).first.wait_for(timeout=90_000)  # the source cannot be loaded
                shown = page.inner_text("body")
        finally:
            server.terminate()
            server.wait(timeout=20)
    finally:
        instance.start()
    log_text = log_path.read_text()
    assert "cannot" in shown and DB_PASSWORD not in shown and USER_PASSWORD not in shown
    assert "streamlit" in log_text.lower() and leaked([log_text]) == []
