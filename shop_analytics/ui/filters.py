"""The global filters (period, channel, device, region): drawn once in the sidebar by app.py,
kept in the URL, read by every page from here."""

from dataclasses import dataclass
from datetime import date, timedelta

import streamlit as st

from metrics.segments import Segment
from shop_analytics.i18n import label
from shop_analytics.loading import Shop
from shop_analytics.ui.data import settings
from shop_analytics.ui.lang import LANGUAGE_KEY, language, t

DATES_KEY = "filter_dates"
CHANNELS_KEY = "filter_channels"
DEVICES_KEY = "filter_devices"
REGIONS_KEY = "filter_regions"
LINK_NOTICE_KEY = "filter_link_ignored"
DEFAULT_DAYS = 30
# Each list filter: its name in the URL and its session-state key.
_LISTS = {"channel": CHANNELS_KEY, "device": DEVICES_KEY, "region": REGIONS_KEY}


@dataclass(frozen=True)
class Filters:
    """The period (business days, inclusive) and the segment every page shows."""

    start: date
    end: date
    channels: tuple[str, ...]
    devices: tuple[str, ...]
    regions: tuple[str, ...]
    tz: str

    @property
    def segment(self) -> Segment:
        return Segment(self.channels, self.devices, self.regions)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def _date_from_link(name: str, first: date, last: date, ignored: list[str]) -> date | None:
    """The day the link gives as `name` (from, to), None when it gives none; a value that is
    not a date or lies outside the data's days is ignored, with the reason in `ignored`."""
    value = st.query_params.get(name)
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        ignored.append(t("filters.link_not_a_date", name=name, value=value))
        return None
    if not first <= day <= last:
        ignored.append(t("filters.link_outside", name=name, value=value, first=first, last=last))
        return None
    return day


def _start_from_link(first: date, last: date, options: dict[str, list[str]]) -> None:
    """On a session's first run, take the filters from the URL (?from=&to=&channel=&device=&region=),
    so that a link reproduces the view. A value the shop does not have is ignored, and
    LINK_NOTICE_KEY keeps a line naming each ignored parameter and value for the sidebar."""
    if DATES_KEY in st.session_state:
        return
    ignored: list[str] = []
    start = _date_from_link("from", first, last, ignored)
    end = _date_from_link("to", first, last, ignored)
    if start is not None and end is not None and start > end:
        ignored.append(t("filters.link_reversed", start=start, end=end))
        start = end = None
    # what the link does not give: the data's last day, and the DEFAULT_DAYS ending at `end`
    end = end or last
    start = start or max(first, end - timedelta(days=DEFAULT_DAYS - 1))
    st.session_state[DATES_KEY] = (start, end)
    for name, key in _LISTS.items():
        asked = st.query_params.get_all(name)
        st.session_state[key] = [value for value in asked if value in options[name]]
        unknown = [value for value in asked if value not in options[name]]
        if unknown:
            ignored.append(t(
                f"filters.link_unknown_{name}", name=name, values=", ".join(unknown),
                options=", ".join(options[name]) or t("filters.link_none"),
            ))
    if ignored:
        st.session_state[LINK_NOTICE_KEY] = (tuple(ignored), _chosen())


def _chosen() -> tuple:
    """The sidebar's choices now, to tell when the user has changed them."""
    return (tuple(st.session_state.get(DATES_KEY) or ()), *(tuple(st.session_state.get(key, ())) for key in _LISTS.values()))


def _say_what_the_link_lost() -> None:
    """The link's ignored values, in the sidebar, until the user changes a filter."""
    notice = st.session_state.get(LINK_NOTICE_KEY)
    if notice is None:
        return
    lines, chosen_then = notice
    if chosen_then != _chosen():
        del st.session_state[LINK_NOTICE_KEY]
        return
    st.sidebar.warning("\n\n".join(lines), icon=":material/link_off:")


def _keep_in_link() -> None:
    period = st.session_state.get(DATES_KEY) or ()
    values = {name: st.session_state.get(key, []) for name, key in _LISTS.items()}
    if len(period) == 2:
        values |= {"from": str(period[0]), "to": str(period[1])}
    if st.session_state.get(LANGUAGE_KEY) != settings().language:
        values["lang"] = st.session_state.get(LANGUAGE_KEY)
    st.query_params.from_dict({name: value for name, value in values.items() if value})


def draw_sidebar(shop: Shop, tz: str) -> None:
    """The date range (default: the last 30 days of data), channel, device and region pickers,
    kept in the URL."""
    span = shop.date_span(tz)
    if span is None:
        st.sidebar.info(t("filters.no_data"))
        return
    first, last = span
    options = {name: shop.labels(name) for name in _LISTS}
    _start_from_link(first, last, options)
    st.sidebar.date_input(
        t("filters.period"),
        min_value=first,
        max_value=last,
        key=DATES_KEY,
        help=t("filters.period_help", tz=tz, first=first, last=last),
    )
    lang = language()
    for name, key in _LISTS.items():
        if options[name]:
            st.sidebar.multiselect(
                t(f"filters.{name}"), options[name], key=key, placeholder=t(f"filters.all_{name}"),
                format_func=lambda value, kind=name: label(kind, value, lang),
            )
    _say_what_the_link_lost()
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
        regions=tuple(st.session_state.get(REGIONS_KEY, ())),
        tz=tz,
    )
