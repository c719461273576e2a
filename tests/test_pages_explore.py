"""The Explore page, headless (AppTest): the pivot shown is the metric's for the same
filters, a clicked cell lists exactly its rows, and Back returns to the whole pivot."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from connectors.sql import sqlite_url
from metrics.explore import measure_total, pivot, pivot_wide
from metrics.explore_rows import cell_rows
from metrics.segments import Segment
from shop_analytics.i18n import label
from shop_analytics.ui.filters import DATES_KEY, DEVICES_KEY

TZ = "Asia/Shanghai"
APP = str(Path(__file__).resolve().parents[1] / "app.py")
EVERYONE = Segment()


@pytest.fixture
def app(small_shop_db):
    at = AppTest.from_file(APP, default_timeout=120)
    at.secrets["connections"] = {"shop": {"url": sqlite_url(small_shop_db)}}
    at.run()
    return at.switch_page("pages/explore.py").run()


def frames(shop, segment=EVERYONE):
    events, sessions, orders, _ = segment.apply(shop.events, shop.sessions, shop.orders, shop.users)
    return {**shop.tables, "events": events, "sessions": sessions, "orders": orders}


def period_of(at):
    start, end = at.session_state[DATES_KEY]
    return {"start": start, "end": end, "tz": TZ}


def chart_key(at):
    return f"explore_chart_{at.session_state.get('explore_generation', 0)}"


def test_orders_by_channel_are_the_metrics_pivot_and_total(app, small_shop):
    assert not app.exception
    period = period_of(app)
    expected = pivot(frames(small_shop), measure="orders", rows="channel", **period)
    shown = app.dataframe[0].value
    assert list(shown["channel"]) == [label("channel", channel, "en") for channel in expected["channel"]]
    assert list(shown["value"]) == expected["value"].to_list()
    total = measure_total(frames(small_shop), measure="orders", **period)
    assert app.caption[0].value == f"Orders between {period['start']} and {period['end']} ({TZ}): {total:,} in all."


def test_a_heatmap_cell_lists_its_orders_and_back_returns_to_the_pivot(app, small_shop):
    period = period_of(app)
    app.selectbox(key="explore_measure").set_value("gmv").run()
    app.selectbox(key="explore_columns").set_value("device").run()
    long = pivot(frames(small_shop), measure="gmv", rows="channel", columns="device", **period)
    wide = pivot_wide(long)
    shown = app.dataframe[0].value
    assert list(shown.columns) == wide.columns
    assert list(shown["app"]) == pytest.approx(wide["app"].to_list())
    cell = long.filter(long["value"] > 0).row(0, named=True)
    app.session_state[chart_key(app)] = {
        "selection": {"points": [{"customdata": [cell["channel"], cell["device"], cell["value"]]}], "point_indices": [0], "box": [], "lasso": []}
    }
    app.run()
    assert not app.exception
    rows = cell_rows(frames(small_shop), measure="gmv", rows="channel", columns="device", values=(cell["channel"], cell["device"]), **period)
    assert app.subheader[0].value == f"Behind {cell['channel']} × {cell['device']}: {rows.height:,} rows"
    listed = app.dataframe[-1].value
    assert list(listed["order_id"]) == rows["order_id"].to_list()
    assert listed["amount"].sum() == pytest.approx(cell["value"])
    app.button(key="explore_back").click().run()
    assert not app.subheader and not app.exception


def test_a_bar_of_sessions_by_device_lists_its_sessions(app, small_shop):
    period = period_of(app)
    app.selectbox(key="explore_measure").set_value("sessions").run()
    app.selectbox(key="explore_rows").set_value("device").run()
    app.session_state[chart_key(app)] = {"selection": {"points": [{"customdata": ["app", "", 0]}], "point_indices": [0], "box": [], "lasso": []}}
    app.run()
    rows = cell_rows(frames(small_shop), measure="sessions", rows="device", values=("app",), **period)
    assert app.subheader[0].value == f"Behind app: {rows.height:,} rows"
    assert list(app.dataframe[-1].value["session_id"]) == rows["session_id"].to_list()


def test_a_split_the_measure_cannot_take_falls_back(app):
    app.selectbox(key="explore_rows").set_value("category").run()
    assert app.selectbox(key="explore_rows").value == "category"
    assert "Split by category" in app.caption[0].value
    app.selectbox(key="explore_measure").set_value("sessions").run()
    assert not app.exception
    assert app.selectbox(key="explore_rows").value == "channel"
    assert "category" not in app.selectbox(key="explore_rows").options


def test_the_device_filter_changes_the_pivot(app, small_shop):
    period = period_of(app)
    everyone = list(app.dataframe[0].value["value"])
    app.multiselect(key=DEVICES_KEY).set_value(["desktop"]).run()
    desktop = pivot(frames(small_shop, Segment(devices=("desktop",))), measure="orders", rows="channel", **period)
    assert list(app.dataframe[0].value["value"]) == desktop["value"].to_list() != everyone


def test_buyers_say_that_cells_do_not_add_up_in_chinese(small_shop_db):
    app = AppTest.from_file(APP, default_timeout=120)
    app.secrets["connections"] = {"shop": {"url": sqlite_url(small_shop_db)}}
    app.query_params["lang"] = "zh"
    app.run()
    app.switch_page("pages/explore.py").run()
    app.selectbox(key="explore_measure").set_value("buyers").run()
    assert not app.exception
    assert app.title[0].value == "自助分析"
    assert "各单元格之和不等于合计" in app.caption[0].value
    assert app.selectbox(key="explore_rows").label == "按此拆分"


def test_without_order_items_units_and_category_are_not_offered(tmp_path, small_shop):
    derived_columns = {"events": ["session_id", "session_channel", "session_device"], "orders": ["device"]}
    for name, table in small_shop.tables.items():
        if name != "order_items":
            table.drop(derived_columns.get(name, [])).write_parquet(tmp_path / f"{name}.parquet")
    at = AppTest.from_file(APP, default_timeout=120)
    at.secrets["connections"] = {"shop": {"folder": str(tmp_path)}}
    at.run()
    at.switch_page("pages/explore.py").run()
    assert not at.exception
    assert "units" not in at.selectbox(key="explore_measure").options
    assert "category" not in at.selectbox(key="explore_rows").options
