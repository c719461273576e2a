"""`cli.py serve`, what `make run` starts: the shop is loaded, and the pages' imports done,
before any visitor opens the dashboard (issue 21: a cold server's first overview), and a shop
that cannot be read leaves the server serving, its first page to say why."""

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from browser import _free_port, stop

from connectors.sql import sqlite_url
from shop_analytics.ui.serve import READY

ROOT = Path(__file__).resolve().parents[1]


def served_log(workdir: Path, database_url: str, until: str, timeout: float = 120) -> tuple[str, bool]:
    """Start `cli.py serve` in `workdir` on `database_url`, wait (bounded) until its log holds
    `until`, and return the log and whether the server answered its health check meanwhile;
    the server is stopped on the way out."""
    (workdir / ".streamlit").mkdir()
    (workdir / ".streamlit" / "secrets.toml").write_text(f'[connections.shop]\nurl = "{database_url}"\n')
    log = workdir / "serve.log"
    port = _free_port()
    with log.open("wb") as output:
        server = subprocess.Popen(
            [sys.executable, str(ROOT / "cli.py"), "serve", "--port", str(port), "--headless"],
            cwd=workdir, stdout=output, stderr=subprocess.STDOUT, env={**os.environ, "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"},
        )
    try:
        deadline, answered = time.monotonic() + timeout, False
        while until not in log.read_text(errors="replace"):
            assert server.poll() is None, f"the server stopped: {log.read_text()[-2000:]}"
            assert time.monotonic() < deadline, f"no {until!r} in the log within {timeout} s: {log.read_text()[-2000:]}"
            time.sleep(0.2)
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as answer:
                    answered = answer.read() == b"ok"
                    break
            except OSError:
                time.sleep(0.2)
        return log.read_text(errors="replace"), answered
    finally:
        stop(server)


def test_the_shop_is_loaded_before_any_visitor(small_shop_db, tmp_path):
    text, answered = served_log(tmp_path, sqlite_url(small_shop_db), READY)
    # nobody opened a page: the log line comes from the server's own start
    [line] = [line for line in text.splitlines() if READY in line]
    assert f"the dashboard is ready: SQLite file {small_shop_db} loaded in " in line and line.endswith("before any visitor")
    assert answered and "Traceback" not in text


def test_a_shop_that_cannot_be_read_leaves_the_server_serving(tmp_path):
    missing = tmp_path / "no-such-shop.db"
    text, answered = served_log(tmp_path, sqlite_url(missing), "is not loaded ahead")
    assert "the shop is not loaded ahead (SourceError): the first visitor's page loads it and says what is wrong" in text
    assert answered and "Traceback" not in text and READY not in text
