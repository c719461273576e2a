"""`cli.py serve`, what `make run` starts: the shop is loaded, and the pages' imports done,
before any visitor opens the dashboard (issue 21: a cold server's first overview), and a shop
that cannot be read leaves the server serving, its first page to say why."""

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from browser import _free_port, stop
from streamlit.runtime.caching.cache_data_api import get_data_cache_stats_provider
from streamlit.testing.v1 import AppTest

from connectors.sql import sqlite_url
from shop_analytics.i18n import text
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



def _cached_bytes() -> dict[str, int]:
    """The bytes each `st.cache_data` function of the process holds: a new result adds to them."""
    return {stat.cache_name: stat.byte_length for stats in get_data_cache_stats_provider().get_stats().values() for stat in stats}


def _app(db: Path) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.secrets["connections"] = {"shop": {"url": sqlite_url(db)}}
    return at


def _prepare() -> None:
    from shop_analytics.ui import serve

    serve.prepare()


LTV_MODELS = ("ltv_validation", "value_comparison", "ltv_prediction")


def test_the_first_overview_and_ltv_tab_find_their_results_computed(small_shop_db, tmp_path):
    # copies of the shop: their own cache keys, whatever this process computed before
    prepared, cold = tmp_path / "prepared.db", tmp_path / "cold.db"
    shutil.copy(small_shop_db, prepared)
    shutil.copy(small_shop_db, cold)
    server_start = AppTest.from_function(_prepare, default_timeout=120)
    server_start.secrets["connections"] = {"shop": {"url": sqlite_url(prepared)}}
    before = _cached_bytes()
    server_start.run()
    assert not server_start.exception and _cached_bytes() != before
    ahead = _cached_bytes()
    first = _app(prepared).run()
    assert not first.exception and not first.error
    # the Overview's opening view computed nothing, and shows what a cold cache gives
    assert _cached_bytes() == ahead
    unprepared = _app(cold).run()
    assert len(first.metric) >= 10
    assert [(card.label, card.value, card.delta) for card in first.metric] == [(card.label, card.value, card.delta) for card in unprepared.metric]
    # the Predicted LTV tab fits nothing either
    first.switch_page("pages/segments.py").run()
    first.session_state["segments_tab"] = text("segments.tab.ltv", "en")
    first.run()
    assert not first.exception and not first.error and first.dataframe
    models = [f"shop_analytics.ui.model_data.{name}" for name in LTV_MODELS]
    assert all(name in ahead for name in models)
    assert {name: _cached_bytes()[name] for name in models} == {name: ahead[name] for name in models}
