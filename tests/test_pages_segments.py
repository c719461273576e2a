"""The Segments & LTV page, headless (AppTest): every table shows the model functions' output
for the shop's whole history up to its last day of data; the page's controls and the
channel filter change what is shown; a shop too small for a model says so."""

from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from connectors.sql import sqlite_url
from metrics.segments import Segment
from models.churn import churn_risk
from models.clusters import RfmClusters, words
from models.ltv import ltv_analysis
from models.rfm import rfm_table, segment_summary
from models.tags import audience, tag_counts, user_tags
from models.value_regression import compare_value_predictors
from shop_analytics.charts.segments import traits_label
from shop_analytics.i18n import text
from shop_analytics.ui.filters import CHANNELS_KEY, DATES_KEY

TZ = "Asia/Shanghai"
APP = str(Path(__file__).resolve().parents[1] / "app.py")


def opened(at: AppTest) -> AppTest:
    at.run()
    return at.switch_page("pages/segments.py").run()


@pytest.fixture
def app(small_shop_db):
    at = AppTest.from_file(APP, default_timeout=300)
    at.secrets["connections"] = {"shop": {"url": sqlite_url(small_shop_db)}}
    return opened(at)


def open_tab(at: AppTest, name: str, lang: str = "en") -> AppTest:
    at.session_state["segments_tab"] = text(f"segments.tab.{name}", lang)
    at.run()
    assert not at.exception
    return at


def last_day(shop):
    return shop.date_span(TZ)[1]


def frames(shop):
    return shop.events, shop.sessions, shop.orders, shop.users, shop.order_items, shop.products


def in_segment(frame: pl.DataFrame, shop, segment: Segment) -> pl.DataFrame:
    users = segment.apply(shop.events, shop.sessions, shop.orders, shop.users)[3]
    return frame.filter(pl.col("user_id").is_in(users["user_id"].implode()))


def test_rfm_segments_are_the_models_as_of_the_last_day_whatever_the_period(app, small_shop):
    assert not app.exception
    summary = segment_summary(rfm_table(small_shop.orders, as_of=last_day(small_shop), tz=TZ))
    shown = app.dataframe[0].value
    assert list(shown["segment"]) == [text(f"segments.segment.{name}", "en") for name in summary["segment"]]
    assert list(shown["customers"]) == summary["customers"].to_list()
    assert list(shown["gmv"]) == pytest.approx(summary["gmv"].to_list())
    assert sum(shown["customers"]) == rfm_table(small_shop.orders, as_of=last_day(small_shop), tz=TZ).height
    champions = summary.filter(pl.col("segment") == "champions")["customers"].item()
    assert f"{champions:,} customers in Champions, with their RFM values and scores:" in [caption.value for caption in app.caption]
    # the sidebar's period does not move the models
    start, end = app.session_state[DATES_KEY]
    app.date_input(key=DATES_KEY).set_value((start - timedelta(days=60), end - timedelta(days=60))).run()
    assert list(app.dataframe[0].value["customers"]) == summary["customers"].to_list()


def test_the_channel_filter_lists_that_channels_customers(app, small_shop):
    app.multiselect(key=CHANNELS_KEY).set_value(["email"]).run()
    assert not app.exception
    customers = in_segment(rfm_table(small_shop.orders, as_of=last_day(small_shop), tz=TZ), small_shop, Segment(channels=("email",)))
    expected = segment_summary(customers)
    shown = app.dataframe[0].value
    assert 0 < sum(shown["customers"]) == customers.height < rfm_table(small_shop.orders, as_of=last_day(small_shop), tz=TZ).height
    assert list(shown["customers"]) == expected["customers"].to_list()
    assert list(shown["monetary_mean"].fillna(0)) == pytest.approx(expected["monetary_mean"].fill_null(0).to_list())


def test_clusters_with_k_by_silhouette_then_k_set(app, small_shop):
    open_tab(app, "clusters")
    rfm = rfm_table(small_shop.orders, as_of=last_day(small_shop), tz=TZ)
    model = RfmClusters().fit(rfm)
    expected = model.clusters(rfm)
    shown = app.dataframe[0].value
    assert list(shown["customers"]) == expected["customers"].to_list()
    assert list(shown["monetary_mean"]) == pytest.approx(expected["monetary_mean"].to_list())
    assert list(shown["description"]) == expected["description"].to_list()  # the page's words are the model's
    assert f"k = {model.k_}, chosen by the highest silhouette" in app.caption[1].value
    app.selectbox(key="segments_k").set_value(3).run()
    assert not app.exception
    three = RfmClusters(n_clusters=3).fit(rfm).clusters(rfm)
    assert model.k_ != 3
    assert list(app.dataframe[0].value["customers"]) == three["customers"].to_list()
    assert list(app.dataframe[0].value["description"]) == [words(traits) for traits in three["traits"].to_list()]


def test_tag_counts_and_the_audience_a_tag_combination_exports(app, small_shop):
    open_tab(app, "tags")
    tags = user_tags(small_shop.events, small_shop.orders, small_shop.users, small_shop.order_items, small_shop.products,
                     as_of=last_day(small_shop), tz=TZ)
    counts = tag_counts(tags)
    shown = app.dataframe[0].value
    assert dict(zip(shown["tag"], shown["users"])) == {
        (text("segments.tag.category", "en", category=tag.split(":")[1]) if tag.startswith("category:") else text(f"segments.tag.{tag}", "en")): users
        for tag, users in counts.iter_rows()
    }
    assert app.info[0].value == text("segments.pick_tags", "en")
    app.multiselect(key="audience_any_of").set_value(["high_value", "churn_risk"]).run()
    app.multiselect(key="audience_none_of").set_value(["dormant"]).run()
    expected = audience(tags, any_of=("high_value", "churn_risk"), none_of=("dormant",))
    people = app.dataframe[1].value
    assert 0 < len(people) == expected.height
    assert list(people["user_id"]) == expected["user_id"].to_list()
    assert f"{expected.height:,} users in this audience:" in [caption.value for caption in app.caption]
    app.multiselect(key="audience_all_of").set_value(["high_value"]).run()
    narrower = audience(tags, all_of=("high_value",), any_of=("high_value", "churn_risk"), none_of=("dormant",))
    assert list(app.dataframe[1].value["user_id"]) == narrower["user_id"].to_list()
    assert narrower.height < expected.height
    assert all("High value" in row for row in app.dataframe[1].value["tags"])


def test_ltv_parameters_holdout_and_the_value_models_errors(app, small_shop):
    open_tab(app, "ltv")
    last = last_day(small_shop)
    validation = ltv_analysis(small_shop.orders, calibration_end=last - timedelta(days=90), holdout_end=last, tz=TZ)
    parameters, errors, customers = (frame.value for frame in app.dataframe)
    assert list(parameters["parameter"]) == ["r", "alpha", "a", "b", "log-likelihood", "p", "q", "gamma", "log-likelihood"]
    assert list(parameters["model"]) == ["BG/NBD"] * 5 + ["Gamma-Gamma"] * 4
    assert list(parameters["estimate"]) == pytest.approx([
        *validation.bgnbd.params_.values(), validation.bgnbd.loglik_, *validation.gamma_gamma.params_.values(), validation.gamma_gamma.loglik_,
    ])
    holdout = validation.holdout
    assert app.markdown[0].value == (
        f"**Holdout:** {holdout['customers']:,} customers made {holdout['actual_repeat_purchases']:,} repeat purchases; "
        f"the model predicted {holdout['predicted_repeat_purchases']:,.0f}. Mean absolute error: {holdout['mean_absolute_error']:.3f} purchases per customer."
    )
    comparison = compare_value_predictors(*frames(small_shop), calibration_end=last - timedelta(days=90), holdout_end=last, tz=TZ)
    assert list(errors["model"]) == [text(f"segments.model.{name}", "en") for name in comparison.errors["model"]]
    assert list(errors["mae"]) == pytest.approx(comparison.errors["mae"].to_list())
    assert list(errors["rmse"]) == pytest.approx(comparison.errors["rmse"].to_list())
    prediction = ltv_analysis(small_shop.orders, calibration_end=last, tz=TZ, horizon_days=365).customers.sort("expected_value", descending=True)
    assert list(customers["user_id"]) == prediction["user_id"].to_list()
    assert list(customers["expected_value"]) == pytest.approx(prediction["expected_value"].to_list())

    app.segmented_control(key="segments_holdout").set_value(60).run()
    assert not app.exception
    shorter = compare_value_predictors(*frames(small_shop), calibration_end=last - timedelta(days=60), holdout_end=last, tz=TZ)
    shown = app.dataframe[1].value
    assert list(shown["mae"]) == pytest.approx(shorter.errors["mae"].to_list())
    assert list(shown["mae"]) != pytest.approx(comparison.errors["mae"].to_list())


def test_churn_scores_beside_bgnbd_and_the_horizon_control(app, small_shop):
    open_tab(app, "churn")
    risk = churn_risk(*frames(small_shop), as_of=last_day(small_shop), tz=TZ, horizon_days=90)
    scores, customers = (frame.value for frame in app.dataframe)
    assert list(scores["model"]) == [text(f"segments.model.{name}", "en", days=90) for name in risk.scores["model"]]
    assert list(scores["roc_auc"]) == pytest.approx(risk.scores["roc_auc"].to_list())
    assert list(scores["brier"][:2]) == pytest.approx(risk.scores["brier"].to_list()[:2])
    assert risk.scores["brier"][2] is None and scores["brier"].isna()[2]  # 1 - P(alive) is no probability of churn
    ranked = risk.customers.sort("churn_probability", descending=True)
    assert list(customers["churn_probability"]) == pytest.approx(ranked["churn_probability"].to_list())
    app.segmented_control(key="segments_churn_days").set_value(60).run()
    assert not app.exception
    shorter = churn_risk(*frames(small_shop), as_of=last_day(small_shop), tz=TZ, horizon_days=60)
    assert list(app.dataframe[0].value["roc_auc"]) == pytest.approx(shorter.scores["roc_auc"].to_list())
    assert shorter.scores["roc_auc"].to_list() != pytest.approx(risk.scores["roc_auc"].to_list())


def test_in_chinese(app, small_shop):
    app.session_state["language"] = "zh"
    app.run()
    assert not app.exception
    assert app.title[0].value == "用户分群与 LTV"
    assert [tab.label for tab in app.tabs] == ["RFM 分群", "聚类", "标签与人群", "LTV 预测", "流失风险"]
    assert app.caption[0].value.startswith("本页所有模型都基于店铺截至数据最后一天")
    assert list(app.dataframe[0].value["segment"])[:3] == ["重要价值客户", "忠诚客户", "潜在忠诚客户"]
    open_tab(app, "clusters", "zh")
    assert app.selectbox(key="segments_k").label == "聚类数 (k)"
    rfm = rfm_table(small_shop.orders, as_of=last_day(small_shop), tz=TZ)
    traits = RfmClusters().fit(rfm).clusters(rfm)["traits"].to_list()
    assert list(app.dataframe[0].value["description"]) == [traits_label(cluster, "zh") for cluster in traits]
    assert "近期购买、高频、高消费" in list(app.dataframe[0].value["description"])


def test_a_shop_with_too_few_customers_says_which_models_cannot_be_fitted(tmp_path, small_shop):
    derived_columns = {"events": ["session_id", "session_channel", "session_device"], "orders": ["device", "channel"]}
    first_buyer = small_shop.orders.filter(pl.col("status") == "completed")["user_id"].min()
    for name, table in small_shop.tables.items():
        if name == "orders":
            table = table.filter(pl.col("user_id") == first_buyer)
        table.drop(derived_columns.get(name, []), strict=False).write_parquet(tmp_path / f"{name}.parquet")
    at = AppTest.from_file(APP, default_timeout=300)
    at.secrets["connections"] = {"shop": {"folder": str(tmp_path)}}
    opened(at)
    assert not at.exception
    assert sum(at.dataframe[0].value["customers"]) == 1
    open_tab(at, "clusters")
    assert [warning.value for warning in at.warning] == [
        "The k-means clusters cannot be fitted on this shop's data: clustering needs customers with at least 3 distinct RFM values; there are 1"
    ]
    open_tab(at, "ltv")
    warnings = [warning.value for warning in at.warning]
    assert len(warnings) == 3 and not at.dataframe
    assert warnings[0].startswith("The BG/NBD and Gamma-Gamma models cannot be fitted on this shop's data: ")
    assert warnings[1].startswith("The value models cannot be fitted on this shop's data: ")
    open_tab(at, "churn")
    assert [warning.value for warning in at.warning] == [
        f"The churn classifier cannot be fitted on this shop's data: the churn holdout ({last_day(small_shop) - timedelta(days=90)} + 90 days) "
        "has only one outcome: choose a later date or a longer horizon"
    ]
