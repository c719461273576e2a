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


def draw_sidebar(shop: Shop, tz: str) -> None:
    """The date range (default: the last 30 days of data), channel and device pickers."""
    span = shop.date_span(tz)
    if span is None:
        st.sidebar.info("The shop has no events or orders yet.")
        return
    first, last = span
    st.sidebar.date_input(
        "Period",
        value=(max(first, last - timedelta(days=DEFAULT_DAYS - 1)), last),
        min_value=first,
        max_value=last,
        key=DATES_KEY,
        help=f"Business days in {tz}; the data runs from {first} to {last}.",
    )
    st.sidebar.multiselect("Channel", _options(shop, "channel"), key=CHANNELS_KEY, placeholder="All channels")
    st.sidebar.multiselect("Device", _options(shop, "device"), key=DEVICES_KEY, placeholder="All devices")


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
