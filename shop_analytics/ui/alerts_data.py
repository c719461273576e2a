"""The Alerts page's edge: the `[alerts]` settings, the alert store, the segment choices, and
opening the page that explains an alert with its filters."""

from dataclasses import replace
from datetime import date

import streamlit as st

from shop_analytics.alerts.config import AlertConfig, alert_config_of
from shop_analytics.alerts.messages import View
from shop_analytics.alerts.store import AlertStore
from shop_analytics.loading import Shop
from shop_analytics.ui import data, filters

PENDING_VIEW_KEY = "alerts_pending_view"
PAGE_FIRST_WAIT = 1.0
SEGMENT_COLUMNS = {"channel": filters.CHANNELS_KEY, "device": filters.DEVICES_KEY, "region": filters.REGIONS_KEY}


def config() -> AlertConfig:
    """The deployment's alert settings (AlertConfigError, a ValueError, when they are wrong),
    with the first back-off wait cut to PAGE_FIRST_WAIT seconds: on the page a person waits
    for the send, so failing targets answer within seconds, not minutes."""
    configured = alert_config_of(data.current_config())
    return replace(configured, retry=configured.retry.capped(PAGE_FIRST_WAIT))


@st.cache_resource(show_spinner=False)
def store(path: str) -> AlertStore:
    """The alert store in the SQLite file `path`, opened once per server."""
    return AlertStore(path)


def segment_options(shop: Shop) -> dict[str, list[str]]:
    """The channels, devices and regions the shop has, for the rule editor's filters."""
    options = {}
    for name in SEGMENT_COLUMNS:
        values: set[str] = set()
        if shop.sessions is not None and name in shop.sessions.columns:
            values |= set(shop.sessions[name].drop_nulls().unique().to_list())
        if shop.has("users") and name in shop.users.columns:
            values |= set(shop.users[name].drop_nulls().unique().to_list())
        options[name] = sorted(values)
    return options


def open_view(view: View, span: tuple[date, date]) -> None:
    """Button callback: set the sidebar's filters to the view's (the period kept inside the
    data's span) and ask the next run to switch to its page."""
    first, last = span
    start, end = min(max(view.start, first), last), min(max(view.end, first), last)
    st.session_state[filters.DATES_KEY] = (start, end)
    for name, values in (("channel", view.channels), ("device", view.devices), ("region", view.regions)):
        st.session_state[SEGMENT_COLUMNS[name]] = list(values)
    st.session_state[PENDING_VIEW_KEY] = view.page


def follow_pending_view() -> None:
    """Switch to the page an "open" button asked for (switching is not allowed in a callback)."""
    page = st.session_state.pop(PENDING_VIEW_KEY, None)
    if page:
        st.switch_page(f"pages/{page}.py")


def open_alerts() -> list[dict]:
    """The alerts open in the deployment's alert store (none when alerts are not set up)."""
    try:
        return store(str(config().database)).alerts(open_only=True)
    except ValueError:
        return []
