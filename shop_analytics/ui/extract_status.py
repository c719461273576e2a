"""The data extract's status when the shop is read through one (connectors/extracts.py): its
age and a "Refresh data" button in the sidebar, and a banner above the page while the last
refresh failed, saying how old the numbers shown are and why."""

from datetime import UTC, datetime, timedelta

import streamlit as st

from connectors import SourceError
from shop_analytics.ui import data
from shop_analytics.ui.lang import t

REFRESH_KEY = "extract_refresh"


def age_text(age: timedelta) -> str:
    """An age as a reader says it: under a minute, whole minutes below an hour, whole hours
    below two days, else whole days."""
    if age < timedelta(minutes=1):
        return t("extracts.moments")
    if age < timedelta(hours=1):
        return t("extracts.minutes", count=age // timedelta(minutes=1))
    if age < timedelta(days=2):
        return t("extracts.hours", count=age // timedelta(hours=1))
    return t("extracts.days", count=age // timedelta(days=1))


def _refresh() -> None:
    """The Refresh data button's callback: read the database again before the run that
    follows draws anything (a callback, so that no rerun of the page drops the click); a
    failure is recorded in extract.stale, which that run's banner shows."""
    extract = data.shop_extract()
    if extract is None:
        return
    with st.spinner(t("extracts.refreshing")):
        try:
            extract.refresh()
        except SourceError:
            pass


def draw() -> None:
    """The extract's banner and sidebar controls; nothing when the source is read directly."""
    extract = data.shop_extract()
    if extract is None:
        return
    manifest = extract.current()
    now = datetime.now(UTC)
    stale = extract.stale
    if stale is not None:
        banner = "extracts.unreachable" if stale.unreachable else "extracts.failed"
        st.warning(t(banner, age=age_text(stale.age(now)), reason=stale.reason), icon=":material/cloud_off:")
    st.sidebar.caption(t("extracts.status", age=age_text(now - manifest.refreshed_at), ttl=age_text(extract.ttl)))
    st.sidebar.button(t("extracts.refresh"), key=REFRESH_KEY, help=t("extracts.refresh_help"), icon=":material/refresh:", on_click=_refresh)
