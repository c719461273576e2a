"""The data extract's status when the shop is read through one (connectors/extracts.py): its
age, a "Refresh data" button (what changed since the last refresh) and a "Full refresh"
button (every table whole) in the sidebar, and a banner above the page while the last
refresh failed, saying how old the numbers shown are and why."""

from datetime import UTC, datetime, timedelta

import streamlit as st

from connectors import SourceError
from shop_analytics.ui import data
from shop_analytics.ui.lang import t

REFRESH_KEY = "extract_refresh"
FULL_REFRESH_KEY = "extract_full_refresh"


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


def _refresh(full: bool = False) -> None:
    """The Refresh buttons' callback: read the database's changes (`full`: every table) before
    the run that follows draws anything (a callback, so that no rerun of the page drops the
    click); a failure is recorded in extract.stale, which that run's banner shows, and the
    last good extract stays."""
    extract = data.shop_extract()
    if extract is None:
        return
    with st.spinner(t("extracts.refreshing")):
        try:
            extract.refresh(full=full)
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
    window = f"{extract.window / timedelta(days=1):g}"
    st.sidebar.button(t("extracts.refresh"), key=REFRESH_KEY, help=t("extracts.refresh_help", window=window), icon=":material/refresh:", on_click=_refresh)
    st.sidebar.button(
        t("extracts.full_refresh"), key=FULL_REFRESH_KEY, help=t("extracts.full_refresh_help", window=window, every=age_text(extract.full_every)),
        icon=":material/sync:", on_click=_refresh, kwargs={"full": True},
    )
