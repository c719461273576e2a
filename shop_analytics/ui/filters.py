"""The global filters (period, channel, device, region): drawn once in the sidebar by app.py,
kept in the URL, read by every page from here. Quick periods (yesterday, the last 7 or 30
days, this week or month, last month, the same days a year before) set the period in one
click and are kept in the URL too."""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import partial
from zoneinfo import ZoneInfo

import streamlit as st

from metrics.segments import Segment
from shop_analytics.i18n import label, text
from shop_analytics.loading import Shop
from shop_analytics.ui.data import settings
from shop_analytics.ui.lang import LANGUAGE_KEY, language, t
from shop_analytics.ui.links import remember_link

DATES_KEY = "filter_dates"
CHANNELS_KEY = "filter_channels"
DEVICES_KEY = "filter_devices"
REGIONS_KEY = "filter_regions"
LINK_NOTICE_KEY = "filter_link_ignored"
PRESET_KEY = "filter_preset"
PRESET_NOTICE_KEY = "filter_preset_notice"
DEFAULT_DAYS = 30
PRESETS = ("yesterday", "last_7", "last_30", "this_week", "this_month", "last_month", "year_before")
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


def _year_before(day: date) -> date:
    """The same calendar day a year before (Feb 29 becomes Feb 28)."""
    try:
        return day.replace(year=day.year - 1)
    except ValueError:
        return day.replace(year=day.year - 1, day=28)


def preset_period(name: str, first: date, last: date, today: date, current: tuple[date, date]) -> tuple[date, date] | None:
    """The days of quick period `name` (PRESETS) on data from `first` to `last`, `today` being
    the wall clock's day in the business zone: "yesterday" is the latest finished day with
    data (the data's last day, or the day before it while that day is still today), the last
    7 / 30 days end there; this week (from Monday) and this month run to the data's last day;
    last month is the whole month before it; year_before moves the `current` period back a
    year. Cut to the data's days; None when nothing of it has data."""
    finished = last if last < today else last - timedelta(days=1)
    month_start = last.replace(day=1)
    previous_month_end = month_start - timedelta(days=1)
    periods = {
        "yesterday": (finished, finished),
        "last_7": (finished - timedelta(days=6), finished),
        "last_30": (finished - timedelta(days=29), finished),
        "this_week": (last - timedelta(days=last.weekday()), last),
        "this_month": (month_start, last),
        "last_month": (previous_month_end.replace(day=1), previous_month_end),
        "year_before": (_year_before(current[0]), _year_before(current[1])),
    }
    start, end = periods[name]
    start, end = max(start, first), min(end, last)
    return (start, end) if start <= end else None


def default_start(first: date, end: date) -> date:
    """The first day of the period a session opens on when its link gives none: the
    DEFAULT_DAYS ending at `end`, from the data's `first` day at the earliest."""
    return max(first, end - timedelta(days=DEFAULT_DAYS - 1))


def opening(shop: Shop, tz: str) -> Filters | None:
    """The filters a session opened without a link starts with: the DEFAULT_DAYS ending at
    the data's last day, every channel, device and region (None for a shop without activity)."""
    span = shop.date_span(tz)
    if span is None:
        return None
    first, last = span
    return Filters(start=default_start(first, last), end=last, channels=(), devices=(), regions=(), tz=tz)


def _today(tz: str) -> date:
    return datetime.now(ZoneInfo(tz)).date()


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


def _start_from_link(first: date, last: date, options: dict[str, list[str]], tz: str) -> None:
    """On a session's first run, take the filters from the URL
    (?from=&to=&period=&channel=&device=&region=), so that a link reproduces the view: from and
    to give the days; a quick period alone (?period=yesterday) gives its days on today's data,
    and beside from and to it stays picked when it gives the same days. A value the shop does
    not have is ignored, and LINK_NOTICE_KEY keeps a line naming each ignored parameter and
    value for the sidebar."""
    if DATES_KEY in st.session_state:
        return
    ignored: list[str] = []
    start = _date_from_link("from", first, last, ignored)
    end = _date_from_link("to", first, last, ignored)
    if start is not None and end is not None and start > end:
        ignored.append(t("filters.link_reversed", start=start, end=end))
        start = end = None
    preset = st.query_params.get("period")
    if preset is not None and preset not in PRESETS:
        ignored.append(t("filters.link_unknown_period", value=preset))
        preset = None
    # what the link does not give: the data's last day, and the DEFAULT_DAYS ending at `end`
    end = end or last
    start = start or default_start(first, end)
    if preset is not None:
        days = preset_period(preset, first, last, _today(tz), (start, end))
        given = "from" in st.query_params or "to" in st.query_params
        if days is None or (given and days != (start, end) and preset != "year_before"):
            preset = None
        elif not given:
            start, end = days
    st.session_state[DATES_KEY] = (start, end)
    st.session_state[PRESET_KEY] = preset
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
    period = tuple(st.session_state.get(DATES_KEY) or ())
    values = {name: st.session_state.get(key, []) for name, key in _LISTS.items()}
    if len(period) == 2:
        values |= {"from": str(period[0]), "to": str(period[1]), "period": st.session_state.get(PRESET_KEY)}
    if st.session_state.get(LANGUAGE_KEY) != settings().language:
        values["lang"] = st.session_state.get(LANGUAGE_KEY)
    st.query_params.from_dict({name: value for name, value in values.items() if value})


def _apply_preset(first: date, last: date, tz: str) -> None:
    """The quick period just picked sets the period (a notice when it has no data)."""
    name = st.session_state.get(PRESET_KEY)
    if name is None:
        return
    current = st.session_state.get(DATES_KEY) or (last, last)
    days = preset_period(name, first, last, _today(tz), (current[0], current[-1]))
    if days is None:
        st.session_state[PRESET_NOTICE_KEY] = t("filters.preset_no_data", preset=t(f"filters.preset_{name}"), first=first, last=last)
        st.session_state[PRESET_KEY] = None
        return
    st.session_state[DATES_KEY] = days


def _picked_by_hand() -> None:
    """Days picked in the calendar are no quick period."""
    st.session_state[PRESET_KEY] = None


def draw_sidebar(shop: Shop, tz: str) -> None:
    """The quick periods and the date range (default: the last 30 days of data), channel,
    device and region pickers, kept in the URL."""
    remember_link()  # before the URL is rewritten: the pages' controls read it (ui/links.py)
    span = shop.date_span(tz)
    if span is None:
        st.sidebar.info(t("filters.no_data"))
        return
    first, last = span
    options = {name: shop.labels(name) for name in _LISTS}
    _start_from_link(first, last, options, tz)
    lang = language()
    st.sidebar.pills(
        t("filters.quick_period"), PRESETS, key=PRESET_KEY, on_change=_apply_preset, args=(first, last, tz),
        format_func=lambda name: text(f"filters.preset_{name}", lang),
    )
    notice = st.session_state.pop(PRESET_NOTICE_KEY, None)
    if notice:
        st.sidebar.info(notice)
    st.sidebar.date_input(
        t("filters.period"),
        min_value=first,
        max_value=last,
        key=DATES_KEY,
        on_change=_picked_by_hand,
        help=t("filters.period_help", tz=tz, first=first, last=last),
    )
    for name, key in _LISTS.items():
        if options[name]:
            st.sidebar.multiselect(
                t(f"filters.{name}"), options[name], key=key, placeholder=t(f"filters.all_{name}"),
                format_func=partial(label, name, lang=lang),
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
