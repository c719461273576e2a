"""Keeping every page inside app.py's frame (navigation, filters, data-source status)."""

from typing import NamedTuple

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

from shop_analytics.access import may_open
from shop_analytics.config import Settings
from shop_analytics.loading import MissingTable, Shop
from shop_analytics.pushdown import NeedsEvents
from shop_analytics.ui import access, data, filters
from shop_analytics.ui.filters import Filters
from shop_analytics.ui.lang import t
from shop_analytics.views import VIEW_NEEDS


def ensure_app_frame() -> None:
    """Rerun through app.py when Streamlit ran this page on its own.

    Streamlit treats a `pages/` folder as a legacy multipage app until `st.navigation` has
    run once in the process, so the first request for a page's URL on a fresh server (or any
    page switch under AppTest) runs the page file alone: no filters, no frame. Turning that
    mode off and rerunning lets app.py build the navigation and run the page inside it.
    Every page calls this first.
    """
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


class OpenedPage(NamedTuple):
    settings: Settings
    shop: Shop
    filters: Filters


def open_page(name: str) -> OpenedPage:
    """What every page starts with: the frame, its title (`nav.<name>` in the translation
    table), the settings, the loaded shop and the sidebar's filters. Stops the page with a
    message while the period is half picked, or when the source lacks what the view reads
    (views.VIEW_NEEDS)
    (SPEC: a view says which table it needs), with a link to the Data sources page. Refuses
    a page this session's role may not open (access/roles.py), whatever link reached it."""
    ensure_app_frame()
    access.require_page(name)
    settings = data.settings()
    shop = data.current_shop()
    title = t(f"nav.{name}")
    st.title(title)
    chosen = filters.current(settings.time_zone)
    if chosen is None:
        st.info(t("nav.pick_end"))
        st.stop()
    missing = VIEW_NEEDS[name].missing(shop)
    if missing:
        st.warning(t("nav.needs_tables", title=title, tables=", ".join(missing), source=shop.description))
        _link_data_sources()
        st.stop()
    return OpenedPage(settings, shop, chosen)


def say_needs_events(title: str, error: NeedsEvents) -> None:
    """Draw, in this session's language, why page `title` stopped: it needs every event in
    memory and the shop is read with push-down; with a link to the Data sources page, as a
    missing table is told."""
    st.warning(t("nav.needs_events", title=title, events=f"{error.event_count:,}", keeper=error.keeper))
    _link_data_sources()


def say_missing_table(title: str, error: MissingTable) -> None:
    """Draw, in this session's language, why the rest of page `title` is not shown: a
    section of it reads a table the shop lacks; with a link to the Data sources page."""
    st.warning(t("nav.needs_tables", title=title, tables=error.table, source=error.description))
    _link_data_sources()


def _link_data_sources() -> None:
    """A link to the Data sources page, for a role that may open it."""
    if may_open(access.role() or "", "data_source"):
        st.page_link("pages/data_source.py", label=t("nav.data_source"), icon=":material/database:")
