"""The global filters: drawn once in the sidebar by app.py, read by every page from here."""

from dataclasses import dataclass
from datetime import date, timedelta

import streamlit as st

from loading import Shop
from metrics.segments import Segment

DATES_KEY = "filter_dates"
CHANNELS_KEY = "filter_channels"
DEVICES_KEY = "filter_devices"
DEFAULT_DAYS = 30


@dataclass(frozen=True)
class Filters:
    """The period (business days, inclusive) and the segment every page shows."""

    start: date
    end: date
    channels: tuple[str, ...]
    devices: tuple[str, ...]
    tz: str

    @property
    def segment(self) -> Segment:
        return Segment(self.channels, self.devices)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def _options(shop: Shop, column: str) -> list[str]:
    values: set[str] = set()
    if shop.sessions is not None:
        values |= set(shop.sessions[column].drop_nulls().unique().to_list())
    if shop.has("users") and column in shop.users.columns:
        values |= set(shop.users[column].drop_nulls().unique().to_list())
    return sorted(values)


def _date_from_link(name: str, first: date, last: date) -> date | None:
    try:
        return min(max(date.fromisoformat(st.query_params.get(name, "")), first), last)
    except ValueError:
        return None


def _start_from_link(shop: Shop, first: date, last: date, channels: list[str], devices: list[str]) -> None:
    """On a session's first run, take the filters from the URL (?from=&to=&channel=&device=),
    so that a link reproduces the view; values the shop does not have are ignored."""
    if DATES_KEY in st.session_state:
        return
    start = _date_from_link("from", first, last) or max(first, last - timedelta(days=DEFAULT_DAYS - 1))
    end = _date_from_link("to", first, last) or last
    st.session_state[DATES_KEY] = (start, end) if start <= end else (end, start)
    st.session_state[CHANNELS_KEY] = [value for value in st.query_params.get_all("channel") if value in channels]
    st.session_state[DEVICES_KEY] = [value for value in st.query_params.get_all("device") if value in devices]


def _keep_in_link() -> None:
    period = st.session_state.get(DATES_KEY) or ()
    values = {"channel": st.session_state.get(CHANNELS_KEY, []), "device": st.session_state.get(DEVICES_KEY, [])}
    if len(period) == 2:
        values |= {"from": str(period[0]), "to": str(period[1])}
    st.query_params.from_dict({name: value for name, value in values.items() if value})


def draw_sidebar(shop: Shop, tz: str) -> None:
    """The date range (default: the last 30 days of data), channel and device pickers, kept in
    the URL."""
    span = shop.date_span(tz)
    if span is None:
        st.sidebar.info("The shop has no events or orders yet.")
        return
    first, last = span
    channels, devices = _options(shop, "channel"), _options(shop, "device")
    _start_from_link(shop, first, last, channels, devices)
    st.sidebar.date_input(
        "Period",
        min_value=first,
        max_value=last,
        key=DATES_KEY,
        help=f"Business days in {tz}; the data runs from {first} to {last}.",
    )
    st.sidebar.multiselect("Channel", channels, key=CHANNELS_KEY, placeholder="All channels")
    st.sidebar.multiselect("Device", devices, key=DEVICES_KEY, placeholder="All devices")
    _keep_in_link()


def current(tz: str) -> Filters | None:
    """The filters as the sidebar holds them; None while the period is half picked."""
    period = st.session_state.get(DATES_KEY)
    if not period or len(period) != 2:
        return None
    start, end = period
    return Filters(
        start=start,
        end=end,
        channels=tuple(st.session_state.get(CHANNELS_KEY, ())),
        devices=tuple(st.session_state.get(DEVICES_KEY, ())),
        tz=tz,
    )
