"""The Demand & baskets page, headless (AppTest): the forecast's backtest errors and the
association rules shown are the model functions' for the shop's whole history; the horizon,
level and support controls change them; without order lines the page says what it needs."""

import json
from pathlib import Path

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from connectors.sql import sqlite_url
from models.basket import association_rules, baskets
from models.forecast import demand_forecast
from shop_analytics.i18n import text
from shop_analytics.ui.filters import DATES_KEY

TZ = "Asia/Shanghai"
APP = str(Path(__file__).resolve().parents[1] / "app.py")


@pytest.fixture
def app(small_shop_db):
    at = AppTest.from_file(APP, default_timeout=300)
    at.secrets["connections"] = {"shop": {"url": sqlite_url(small_shop_db)}}
    at.run()
    return at.switch_page("pages/demand.py").run()


def forecast(shop, weeks):
    return demand_forecast(shop.orders, shop.order_items, shop.products, shop.campaigns, tz=TZ, end=shop.date_span(TZ)[1], horizon_weeks=weeks)


def rules(shop, level, support):
    return association_rules(baskets(shop.orders, shop.order_items, shop.products, tz=TZ, level=level), min_support=support)


def test_the_backtest_errors_are_the_models_and_the_horizon_changes_them(app, small_shop):
    assert not app.exception
    errors = forecast(small_shop, 8).errors
    shown = app.dataframe[0].value
    assert list(shown["category"]) == ["All categories", *errors["category"].to_list()[1:]]
    assert list(shown["mase_model"]) == pytest.approx(errors["mase_model"].to_list())
    assert list(shown["mase_naive"]) == pytest.approx(errors["mase_naive"].to_list())
    assert list(shown["mape_model"]) == pytest.approx(errors["mape_model"].to_list())
    overall = errors.row(0, named=True)
    assert overall["mase_model"] < overall["mase_naive"]
    assert app.success[0].value == text("demand.verdict_better", "en", model=f"{overall['mase_model']:.2f}", naive=f"{overall['mase_naive']:.2f}")
    future = app.dataframe[1].value
    assert len(future) == forecast(small_shop, 8).forecast.height == 8 * (len(errors) - 1)

    app.segmented_control(key="demand_horizon").set_value(4).run()
    assert not app.exception
    shorter = forecast(small_shop, 4)
    assert list(app.dataframe[0].value["mase_model"]) == pytest.approx(shorter.errors["mase_model"].to_list())
    assert shorter.errors["mase_model"][0] != pytest.approx(overall["mase_model"])
    assert len(app.dataframe[1].value) == shorter.forecast.height
    # the sidebar's period does not move the models
    start, end = app.session_state[DATES_KEY]
    app.date_input(key=DATES_KEY).set_value((start, start)).run()
    assert list(app.dataframe[0].value["mase_model"]) == pytest.approx(shorter.errors["mase_model"].to_list())


def test_the_rules_for_a_support_and_level_are_the_models(app, small_shop):
    expected = rules(small_shop, "product", 0.0005)
    shown = app.dataframe[2].value
    assert 0 < len(shown) == expected.height
    assert list(shown["antecedent"]) == expected["antecedent"].to_list()
    assert list(shown["lift"]) == pytest.approx(expected["lift"].to_list())
    names = dict(zip(small_shop.products["product_id"].cast(pl.String), small_shop.products["name"]))
    assert list(shown["consequent_name"]) == [names[item] for item in expected["consequent"]]

    app.segmented_control(key="demand_level").set_value("category").run()
    app.number_input(key="demand_support").set_value(0.5).run()
    assert not app.exception
    categories = rules(small_shop, "category", 0.005)
    shown = app.dataframe[2].value
    assert 0 < len(shown) == categories.height < rules(small_shop, "category", 0.0005).height
    assert list(shown["support"]) == pytest.approx(categories["support"].to_list())
    assert list(shown["confidence"]) == pytest.approx(categories["confidence"].to_list())

    app.number_input(key="demand_support").set_value(2.0).run()
    assert rules(small_shop, "category", 0.02).is_empty()
    assert len(app.dataframe) == 2
    assert app.info[0].value == text("demand.no_rules", "en", support="2.00%", confidence="0%")


def test_a_chosen_category_and_origin_draw_their_backtest(app, small_shop):
    result = forecast(small_shop, 8)
    app.selectbox(key="demand_category").set_value("Books").run()
    origins = result.backtest["origin"].unique().sort().to_list()
    app.select_slider(key="demand_origin").set_value(origins[-1]).run()
    assert not app.exception
    chart = json.loads(app.get("plotly_chart")[0].proto.spec)
    assert chart["layout"]["title"]["text"] == "Books: weekly units"
    traces = {trace["name"]: trace for trace in chart["data"]}
    tested = result.backtest.filter(pl.col("category") == "Books", pl.col("origin") == origins[-1]).sort("week")
    assert traces["Model, backtest"]["x"] == [str(week) for week in tested["week"]]
    assert traces["Model, backtest"]["y"] == pytest.approx(tested["forecast"].to_list())
    assert traces["Seasonal naive, backtest"]["y"] == pytest.approx(tested["seasonal_naive"].to_list())
    ahead = result.forecast.filter(pl.col("category") == "Books").sort("week")
    assert traces["Model forecast"]["y"] == pytest.approx(ahead["forecast"].to_list())


def test_without_order_lines_the_page_says_which_tables_it_needs(tmp_path, small_shop):
    derived_columns = {"events": ["session_id", "session_channel", "session_device"], "orders": ["device", "channel"]}
    for name, table in small_shop.tables.items():
        if name != "order_items":
            table.drop(derived_columns.get(name, []), strict=False).write_parquet(tmp_path / f"{name}.parquet")
    at = AppTest.from_file(APP, default_timeout=300)
    at.secrets["connections"] = {"shop": {"folder": str(tmp_path)}}
    at.run()
    at.switch_page("pages/demand.py").run()
    assert not at.exception
    assert [warning.value for warning in at.warning] == [
        f"Demand & baskets needs the order_items table(s), which {tmp_path} does not have; map them on the Data sources page."
    ]


def test_in_chinese(app, small_shop):
    app.session_state["language"] = "zh"
    app.run()
    assert not app.exception
    assert app.title[0].value == "需求预测与关联购买"
    assert [header.value for header in app.subheader] == ["各品类每周需求预测", "经常一起购买"]
    assert app.dataframe[0].value["category"][0] == "全部品类"
    assert app.segmented_control(key="demand_horizon").label == "预测未来"
    assert app.number_input(key="demand_support").label == "最小支持度（占订单 %）"
