"""Issue 23, item 8: a funnel window of 999,999,999 days or more gave OverflowError boxes on
the Funnel page and a traceback with exit 1 from `cli.py export funnel --window 1000000000d`;
now both refuse it with one message (exports.MAX_WINDOW, the longest a funnel can mean)."""

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from connectors.sql import sqlite_url
from shop_analytics.exports import MAX_WINDOW
from shop_analytics.i18n import text

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
TZ = "Asia/Shanghai"


def app(small_shop_db, **query) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.secrets["connections"] = {"shop": {"url": sqlite_url(small_shop_db)}}
    for name, value in query.items():
        at.query_params[name] = value
    return at.run()


@pytest.mark.parametrize(("size", "unit"), [(999_999_999, "days"), (1_000_000_000, "days"), (999_999_999, "minutes"), (367, "days")])
def test_a_funnel_window_longer_than_a_funnel_can_mean_is_refused_with_a_message(small_shop_db, size, unit):
    at = app(small_shop_db)
    at.switch_page("pages/funnel.py").run()
    at.selectbox(key="funnel_window_unit").set_value(unit)
    at.number_input(key="funnel_window").set_value(size).run()
    assert not at.exception, [exception.message for exception in at.exception]
    longest = MAX_WINDOW // timedelta(**{unit: 1})
    assert [warning.value for warning in at.warning] == [text(
        "funnel.window_too_long", "en", size=f"{size:,}", unit=unit, longest=f"{longest:,}", days=MAX_WINDOW.days,
    )]
    assert not at.get("plotly_chart") and not at.dataframe


def test_the_longest_window_still_draws_the_funnel(small_shop_db):
    at = app(small_shop_db)
    at.switch_page("pages/funnel.py").run()
    at.number_input(key="funnel_window").set_value(MAX_WINDOW.days).run()
    assert not at.exception and not at.warning
    assert at.dataframe[0].value["users"].iloc[0] > 0


@pytest.mark.parametrize("window", ["1000000000d", "999999999d", "99999999999999999999999s"])
def test_cli_export_funnel_refuses_an_endless_window_in_one_line(small_shop_db, small_shop, window):
    first, last = small_shop.date_span(TZ)
    result = subprocess.run(
        [sys.executable, "cli.py", "export", "funnel", "--window", window, "--from", str(last - timedelta(days=6)), "--to", str(last),
         "--source", str(small_shop_db)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )
    assert result.returncode == 2 and result.stdout == ""
    # the progress bar draws on stderr with carriage returns; the message is its one line
    lines = [line for line in result.stderr.replace("\r", "\n").splitlines() if line.strip() and "Loading" not in line]
    assert len(lines) == 1 and window in lines[0] and "Traceback" not in result.stderr, result.stderr
