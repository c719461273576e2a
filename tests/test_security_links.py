"""Issue 23, item 9: `from=2099-01-01&to=2099-12-31` showed 2026-11-22 and `channel=Email`
(or any channel the shop lacks) showed all channels, and the page said nothing. Now each
ignored parameter and value is named in the sidebar, with why, until a filter is changed."""

from datetime import timedelta
from pathlib import Path

from streamlit.testing.v1 import AppTest

from connectors.sql import sqlite_url
from shop_analytics.ui.filters import CHANNELS_KEY, DATES_KEY, DEVICES_KEY

APP = str(Path(__file__).resolve().parents[1] / "app.py")
TZ = "Asia/Shanghai"


def app(small_shop_db, **query) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.secrets["connections"] = {"shop": {"url": sqlite_url(small_shop_db)}}
    for name, value in query.items():
        at.query_params[name] = value
    return at.run()


def sidebar_warnings(at: AppTest) -> list[str]:
    return [warning.value for warning in at.sidebar.warning]


def test_link_dates_outside_the_data_are_named_as_ignored(small_shop_db, small_shop):
    first, last = small_shop.date_span(TZ)
    at = app(small_shop_db, **{"from": "2099-01-01", "to": "2099-12-31"})
    assert not at.exception
    assert at.session_state[DATES_KEY] == (last - timedelta(days=29), last)  # the default period, said so
    assert sidebar_warnings(at) == [
        f"The link's from=2099-01-01 is outside the data ({first} to {last}): ignored.\n\n"
        f"The link's to=2099-12-31 is outside the data ({first} to {last}): ignored."
    ]


def test_link_values_the_shop_lacks_are_named_as_ignored_and_the_rest_kept(small_shop_db, small_shop):
    first, last = small_shop.date_span(TZ)
    start = last - timedelta(days=9)
    at = app(small_shop_db, **{"from": str(start), "to": "someday", "channel": ["Email", "email"], "device": "toaster"})
    assert not at.exception
    assert at.session_state[DATES_KEY] == (start, last)
    assert at.session_state[CHANNELS_KEY] == ["email"] and at.session_state[DEVICES_KEY] == []
    channels = ", ".join(small_shop.labels("channel"))
    devices = ", ".join(small_shop.labels("device"))
    assert sidebar_warnings(at) == [
        "The link's to=someday is not a day (YYYY-MM-DD): ignored.\n\n"
        f"The link's channel=Email: this shop has no such channel, ignored. Its channels: {channels}.\n\n"
        f"The link's device=toaster: this shop has no such device, ignored. Its devices: {devices}."
    ]
    # the notice stays while the filters are the link's, and goes once the user changes one
    at.run()
    assert len(sidebar_warnings(at)) == 1
    at.multiselect(key=CHANNELS_KEY).set_value(["social"]).run()
    assert sidebar_warnings(at) == []


def test_reversed_link_dates_are_named_and_a_good_link_says_nothing(small_shop_db, small_shop):
    _, last = small_shop.date_span(TZ)
    early, late = last - timedelta(days=20), last - timedelta(days=5)
    reversed_link = app(small_shop_db, **{"from": str(late), "to": str(early)})
    assert sidebar_warnings(reversed_link) == [f"The link's from={late} is after its to={early}: both ignored."]
    assert reversed_link.session_state[DATES_KEY] == (last - timedelta(days=29), last)
    good = app(small_shop_db, **{"from": str(early), "to": str(late), "channel": "email"})
    assert sidebar_warnings(good) == [] and good.session_state[DATES_KEY] == (early, late)
