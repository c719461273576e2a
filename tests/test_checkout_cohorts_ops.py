"""Issue 19 on Search & checkout and Cohorts, in AppTest on the small shop: cart and checkout
abandonment with the abandoned carts' value and by channel, each number metrics.abandonment's;
who abandoned is an analyst's list (a viewer sees neither the rows nor their download); the
repurchase within 30 and 90 days per week is metrics.repeat_orders'."""

from pathlib import Path

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from connectors.sql import sqlite_url
from metrics.abandonment import abandoning_users, abandonment
from metrics.registry import KPIS, format_value
from metrics.repeat_orders import repurchase_rates
from shop_analytics.access import hash_password
from shop_analytics.i18n import text
from shop_analytics.ui import access as ui_access
from shop_analytics.ui.filters import DATES_KEY

TZ = "Asia/Shanghai"
APP = str(Path(__file__).resolve().parents[1] / "app.py")
REFUSED = text("access.user_rows_refused", "en")


def signed_in(small_shop_db, tmp_path, role: str, page: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.secrets["connections"] = {"shop": {"url": sqlite_url(small_shop_db)}}
    at.secrets["alerts"] = {"database": str(tmp_path / "alerts.db")}
    at.secrets["access"] = {"users": {role: {"password_hash": hash_password(f"{role}-Pa55word"), "role": role}}}
    at.session_state[ui_access.USER_KEY] = {"name": role, "via": "password"}
    at.run()
    at.switch_page(f"pages/{page}.py").run()
    assert not at.exception
    return at


def test_abandonment_and_who_abandoned_for_an_analyst(small_shop_db, small_shop, tmp_path):
    at = signed_in(small_shop_db, tmp_path, "analyst", "checkout")
    start, end = at.session_state[DATES_KEY]
    period = {"start": start, "end": end, "tz": TZ}
    total = abandonment(small_shop.events, small_shop.sessions, small_shop.products, **period).row(0, named=True)
    assert total["cart_sessions"] > 0 and total["abandoned_carts"] > 0
    for name in ("cart_abandonment_rate", "checkout_abandonment_rate", "abandoned_cart_value"):
        shown = next(metric for metric in at.metric if metric.label == KPIS[name].label_in("en"))
        assert shown.value == format_value(KPIS[name], total[name])
    by_channel = abandonment(small_shop.events, small_shop.sessions, small_shop.products, by=["channel"], **period)
    table = next(pl.from_pandas(frame.value) for frame in at.dataframe if "cart_abandonment_rate" in frame.value.columns)
    assert table["abandoned_carts"].to_list() == by_channel["abandoned_carts"].to_list()
    assert table["abandoned_cart_value"].to_list() == pytest.approx(by_channel["abandoned_cart_value"].to_list())
    audience = abandoning_users(small_shop.events, small_shop.sessions, small_shop.products, stage="cart", **period)
    listed = next(pl.from_pandas(frame.value) for frame in at.dataframe if "user_id" in frame.value.columns)
    assert listed["user_id"].to_list() == audience["user_id"].to_list()
    assert listed["abandoned_cart_value"].to_list() == pytest.approx(audience["abandoned_cart_value"].to_list())
    assert f"csv_abandoning_users_cart_{start}_{end}" in [button.key for button in at.get("download_button")]


def test_a_viewer_sees_the_rates_but_not_who_abandoned(small_shop_db, tmp_path):
    at = signed_in(small_shop_db, tmp_path, "viewer", "checkout")
    assert any(metric.label == KPIS["cart_abandonment_rate"].label_in("en") for metric in at.metric)
    assert not [frame for frame in at.dataframe if "user_id" in frame.value.columns]
    assert not [button for button in at.get("download_button") if "abandoning_users" in button.key]
    assert REFUSED in [caption.value for caption in at.caption]


def test_cohorts_show_repurchase_per_week_with_pending_buyers(small_shop_db, small_shop, tmp_path):
    at = signed_in(small_shop_db, tmp_path, "analyst", "cohorts")
    start, end = at.session_state[DATES_KEY]
    expected = repurchase_rates(small_shop.orders, start=start, end=end, tz=TZ, period="week")
    shown = next(pl.from_pandas(frame.value) for frame in at.dataframe if "pending_buyers" in frame.value.columns and "period_start" in frame.value.columns)
    assert shown["eligible_buyers"].to_list() == expected["eligible_buyers"].to_list()
    assert shown["pending_buyers"].to_list() == expected["pending_buyers"].to_list()
    assert shown["repurchase_rate"].to_list() == pytest.approx(expected["repurchase_rate"].to_list(), nan_ok=True)
    assert expected["pending_buyers"].sum() > 0  # the last weeks' buyers have not had their 30 days
