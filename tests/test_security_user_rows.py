"""Issue 23, item 5: a viewer clicked a day on the Overview and saw, and downloaded as
`orders_<day>.csv`, the day's orders with user_id, amount and payment method. Rows of single
users or their orders are now an analyst's and an admin's (access/roles.py may_see_users,
applied by ui/tables.py on every page and download); a viewer and a manager get the day's
orders by status, and no table of theirs on any page they may open has a user or order id."""

from datetime import timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from connectors.sql import sqlite_url
from metrics.drilldown import orders_on_day
from shop_analytics.access import ROLES, hash_password, may_see_users, pages_for
from shop_analytics.i18n import label, text
from shop_analytics.ui import access as ui_access
from shop_analytics.ui.filters import DATES_KEY

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
TZ = "Asia/Shanghai"
IDS = {"user_id", "order_id"}
REFUSED = text("access.user_rows_refused", "en")


@pytest.fixture(scope="module")
def users() -> dict:
    return {role: {"password_hash": hash_password(f"{role}-Pa55word"), "role": role} for role in ROLES}


def signed_in_app(small_shop_db, users, role) -> AppTest:
    """The app with [access], this session signed in as the user of `role` (as the sign-in
    form leaves it), on the Overview."""
    at = AppTest.from_file(APP, default_timeout=120)
    at.secrets["connections"] = {"shop": {"url": sqlite_url(small_shop_db)}}
    at.secrets["access"] = {"users": users}
    at.session_state[ui_access.USER_KEY] = {"name": role, "via": "password"}
    return at.run()


def click(at: AppTest, key: str, point: dict) -> AppTest:
    at.session_state[key] = {"selection": {"points": [point], "point_indices": [0], "box": [], "lasso": []}}
    return at.run()


def tables_with_ids(at: AppTest) -> list[list[str]]:
    return [list(frame.value.columns) for frame in at.dataframe if IDS & set(frame.value.columns)]


def download_keys(at: AppTest) -> list[str]:
    return [button.key for button in at.get("download_button")]


@pytest.mark.parametrize("role", ROLES)
def test_a_clicked_day_lists_its_orders_only_for_analysts_and_admins(small_shop_db, small_shop, users, role):
    at = signed_in_app(small_shop_db, users, role)
    _, end = at.session_state[DATES_KEY]
    day = end - timedelta(days=3)
    click(at, "overview_trend", {"x": str(day), "point_index": 26})
    assert not at.exception
    orders = orders_on_day(small_shop.orders, day=day, tz=TZ)
    assert orders.height > 0
    if may_see_users(role):
        shown = next(frame.value for frame in at.dataframe if "user_id" in frame.value.columns)
        assert list(shown["order_id"]) == orders["order_id"].to_list()
        assert list(shown["user_id"]) == orders["user_id"].to_list()
        assert f"csv_orders_{day}" in download_keys(at) and REFUSED not in [caption.value for caption in at.caption]
    else:
        assert tables_with_ids(at) == []
        assert not any(key.startswith(f"csv_orders_{day}") or key.startswith(f"xlsx_orders_{day}") for key in download_keys(at))
        assert REFUSED in [caption.value for caption in at.caption]
        # What they see instead: the day's orders by status and payment method, counted by hand.
        shown = next(frame.value for frame in at.dataframe if list(frame.value.columns) == ["status", "payment_method", "orders", "amount"])
        expected = {}
        for row in orders.iter_rows(named=True):
            count, amount = expected.get((row["status"], row["payment_method"]), (0, 0.0))
            expected[(row["status"], row["payment_method"])] = (count + 1, amount + row["amount"])
        # shown in words: "paid", "Alipay" (locales/values.toml)
        expected = {(label("status", status, "en"), label("payment_method", method, "en")): sums for (status, method), sums in expected.items()}
        seen = {(status, method): (count, amount) for status, method, count, amount in shown.itertuples(index=False)}
        assert seen.keys() == expected.keys()
        for group, (count, amount) in expected.items():
            assert seen[group][0] == count and seen[group][1] == pytest.approx(amount)
        assert f"csv_orders_by_status_{day}" in download_keys(at)


@pytest.mark.parametrize("role", [role for role in ROLES if not may_see_users(role)])
def test_no_page_a_viewer_or_manager_opens_shows_or_offers_a_user_or_order_id(small_shop_db, small_shop, users, role):
    """Every page the role may open, with its drill-downs clicked (a day on the Overview, the
    best product on Products): no table on screen has a user or order id column."""
    at = signed_in_app(small_shop_db, users, role)
    _, end = at.session_state[DATES_KEY]
    for page in pages_for(role):
        at.switch_page(f"pages/{page}.py").run()
        assert not at.exception, page
        if page == "overview":
            click(at, "overview_trend", {"x": str(end - timedelta(days=1)), "point_index": 28})
        if page == "products":
            best = small_shop.order_items.group_by("product_id").len().sort("len", descending=True)["product_id"][0]
            click(at, "products_chart", {"customdata": best})
        assert not at.exception, page
        assert at.title and at.title[0].value == text(f"nav.{page}", "en"), page
        assert tables_with_ids(at) == [], page


USER_ROWS_SCRIPT = """
import polars as pl
from shop_analytics.ui.tables import download_buttons, kpi_table
kpi_table(pl.DataFrame({"user_id": [7, 9], "step": [2, 2]}), "¥", name="drop_offs", user_level=True)
download_buttons(pl.DataFrame({"user_id": [7, 9]}), "audience", user_level=True)
kpi_table(pl.DataFrame({"channel": ["ads"], "gmv": [10.0]}), "¥", name="totals")
"""


@pytest.mark.parametrize("role", ROLES)
def test_tables_of_users_are_drawn_and_downloadable_for_analysts_and_admins_only(users, role, tmp_path):
    script = tmp_path / "user_rows.py"
    script.write_text(f"import sys\nsys.path.insert(0, {str(ROOT)!r})\n{USER_ROWS_SCRIPT}")
    at = AppTest.from_file(str(script), default_timeout=60)
    at.secrets["access"] = {"users": users}
    at.session_state[ui_access.USER_KEY] = {"name": role, "via": "password"}
    at.run()
    assert not at.exception
    columns = [list(frame.value.columns) for frame in at.dataframe]
    keys = sorted(download_keys(at))
    if may_see_users(role):
        assert columns == [["user_id", "step"], ["channel", "gmv"]]
        assert keys == ["csv_audience", "csv_drop_offs", "csv_totals", "xlsx_audience", "xlsx_drop_offs", "xlsx_totals"]
    else:
        assert columns == [["channel", "gmv"]]
        assert keys == ["csv_totals", "xlsx_totals"]
        assert [caption.value for caption in at.caption] == [REFUSED, REFUSED]


def test_nobody_signed_in_sees_no_user_rows(tmp_path, users):
    """A session whose user was removed from [access] (role None) is refused user rows too."""
    script = tmp_path / "user_rows.py"
    script.write_text(f"import sys\nsys.path.insert(0, {str(ROOT)!r})\n{USER_ROWS_SCRIPT}")
    at = AppTest.from_file(str(script), default_timeout=60)
    at.secrets["access"] = {"users": users}
    at.session_state[ui_access.USER_KEY] = {"name": "someone-removed", "via": "password"}
    at.run()
    assert [list(frame.value.columns) for frame in at.dataframe] == [["channel", "gmv"]]
    assert sorted(download_keys(at)) == ["csv_totals", "xlsx_totals"]


def test_an_analyst_sees_a_segments_members_and_the_orders_behind_an_explore_cell(small_shop_db, users):
    at = signed_in_app(small_shop_db, users, "analyst")
    at.switch_page("pages/segments.py").run()
    assert not at.exception
    assert any(key.startswith("csv_rfm_") for key in download_keys(at)), download_keys(at)
    at.switch_page("pages/explore.py").run()
    channel = at.dataframe[0].value["channel"][0]
    click(at, "explore_chart_0", {"customdata": [channel, 0]})
    assert not at.exception
    assert {"order_id", "user_id"} <= set(at.dataframe[-1].value.columns)
    assert REFUSED not in [caption.value for caption in at.caption]
