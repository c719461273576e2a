"""The dashboard's server with its shop ready before the first visitor: `cli.py serve`, what
`make run` starts.

Streamlit runs the app's script only when a visitor opens a page, so under `streamlit run` the
shop is read by the first visitor's run: at 2 million events 7-8 s before the first card
(bench/bench_cold.py). Here a thread loads it, with its whole-history daily KPIs, into the
dashboard's shared caches (ui.data: `st.cache_resource`, which lives in the process, not in a
session) while the server starts, then imports what the pages import (ui.warmup) and computes
what a first visitor would otherwise wait for: the Overview's opening view (ui.overview_data)
and the Predicted LTV tab's models (ui.model_data), the same cached results a page reads. A
visitor arriving meanwhile waits on the cache's lock for the same load instead of starting a
second one; a shop that cannot be read is left to the first visitor's run, whose page says why
in the visitor's language.
"""

import importlib
import inspect
import logging
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

APP = Path(__file__).resolve().parents[2] / "app.py"
LOG = logging.getLogger("shop_analytics.serve")
READY = "the dashboard is ready"
"""How the log line that says the shop is in memory and the pages' imports are done begins."""
PAGE_MODULES = (
    # what the Overview, the first page, imports beyond the app itself (the other pages'
    # heavier imports are ui.warmup's)
    "shop_analytics.ui.operations", "shop_analytics.ui.alerts_data", "shop_analytics.ui.tables",
    "shop_analytics.charts.trends", "shop_analytics.alerts.messages",
)


def prepare() -> None:
    """Load the configured shop into the dashboard's cache with its sessions and activity
    events, then the first page's imports, its opening view (ui.overview_data), the
    translation table, the other pages' warm-up (ui.warmup) and the models of the Predicted
    LTV tab (ui.model_data), and say so in the log."""
    from shop_analytics.i18n import translations
    from shop_analytics.ui import data, model_data, overview_data, warmup

    started = time.perf_counter()
    try:
        shop = data.prepare_shop()
    except Exception as error:  # noqa: BLE001 - any failure: the first visitor's page says why
        # only the kind of error: its text may name the database, which is the page's to show
        LOG.warning("the shop is not loaded ahead (%s): the first visitor's page loads it and says what is wrong", type(error).__name__)
        return
    loaded = time.perf_counter()
    for module in PAGE_MODULES:
        importlib.import_module(module)
    settings = data.settings()
    _ahead(overview_data.prepare_opening_view, shop, settings.time_zone)
    translations()  # locales/*.toml, read once per process: 0.1 s
    warmup.start().join()
    _ahead(model_data.prepare_ltv_tab, data.source_key(), settings.time_zone, settings.ltv_horizon_days)
    # The first element a script draws in the process makes Streamlit ask inspect.stack()
    # whether it runs in a REPL (env_util.is_repl, for a warning), and inspect's first look at
    # a frame maps the file of every module loaded (2,600 modules: 0.1 s of the first
    # visitor's run); done here, after the imports above, it is done for them.
    inspect.stack()
    LOG.info(
        "%s: %s loaded in %.1f s, the pages' imports and warm-up in %.1f s, before any visitor",
        READY, shop.description, loaded - started, time.perf_counter() - loaded,
    )


def _ahead(prepare_view: Callable[..., None], *arguments) -> None:
    """`prepare_view(*arguments)`, but not for a shop that cannot give that view (a table it
    lacks, events kept by the database, no data to fit on): its page says why when opened, in
    the visitor's language."""
    from connectors import SourceError  # here: the server's start does not wait for polars

    try:
        prepare_view(*arguments)
    except (SourceError, ValueError):
        pass


def serve(streamlit_options: list[str]) -> None:
    """Start `prepare` in a thread, then Streamlit's server on app.py with `streamlit_options`
    (as `streamlit run` takes them, e.g. --server.port 8501); returns when the server stops."""
    # this module's lines on stderr beside Streamlit's, whatever the root logger's level
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s: %(message)s"))
    LOG.addHandler(handler)
    LOG.setLevel(logging.INFO)
    LOG.propagate = False
    threading.Thread(target=prepare, name="prepare-shop", daemon=True).start()
    from streamlit.web import cli as streamlit_cli

    sys.argv = ["streamlit", "run", str(APP), *streamlit_options]
    streamlit_cli.main()
