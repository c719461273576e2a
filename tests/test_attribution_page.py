"""Attribution on the Traffic & channels page and in `cli.py export channels --attribution`
(issue 19): under every model the page's channel GMVs add up to the period's GMV, the chosen
model's table is metrics.attribution's, and the export reads the sessions of the lookback
before the period as the page does."""

import json
from pathlib import Path

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from connectors.sql import sqlite_url
from metrics.attribution import DEFAULT_MODEL, MODELS, attributed_channel_table
from metrics.periods import period_summary
from shop_analytics.cli import main
from shop_analytics.ui.filters import DATES_KEY
from shop_analytics.views import activity_frames

TZ = "Asia/Shanghai"
APP = str(Path(__file__).resolve().parents[1] / "app.py")
ATTRIBUTED, MODELS_TABLE = 2, 3  # the page's tables: channels, spend per day, the chosen model, every model


@pytest.fixture(scope="module")
def channels_page(small_shop_db, tmp_path_factory):
    at = AppTest.from_file(APP, default_timeout=120)
    at.secrets["connections"] = {"shop": {"url": sqlite_url(small_shop_db)}}
    at.secrets["alerts"] = {"database": str(tmp_path_factory.mktemp("alerts") / "alerts.db")}
    at.switch_page("pages/channels.py").run()
    assert not at.exception
    return at


def expected_table(shop, start, end, model):
    return attributed_channel_table(shop.sessions, shop.orders, shop.ad_spend, shop.order_items, shop.products,
                                    start=start, end=end, tz=TZ, model=model, default_margin=0.3)


def test_every_models_channel_gmv_adds_up_to_the_periods_gmv(channels_page, small_shop):
    at = channels_page
    start, end = at.session_state[DATES_KEY]
    gmv = period_summary(*activity_frames(small_shop), start=start, end=end, tz=TZ)["gmv"]
    assert gmv > 0
    side_by_side = pl.from_pandas(at.dataframe[MODELS_TABLE].value)
    totals = side_by_side.group_by("model").agg(pl.col("gmv").sum())
    assert totals.height == len(MODELS)
    assert totals["gmv"].to_list() == pytest.approx([gmv] * len(MODELS))
    for model in MODELS:
        at.selectbox(key="attribution_model").set_value(model).run()
        shown = pl.from_pandas(at.dataframe[ATTRIBUTED].value)
        assert shown["gmv"].sum() == pytest.approx(gmv)
        expected = expected_table(small_shop, start, end, model)
        assert shown.height == expected.height  # channel names are shown in words, in the same order
        assert shown["gmv"].to_list() == pytest.approx(expected["gmv"].to_list())
        assert shown["orders"].to_list() == pytest.approx(expected["orders"].to_list())
        assert shown["roi"].to_list() == pytest.approx(expected["roi"].to_list(), nan_ok=True)
    at.selectbox(key="attribution_model").set_value(DEFAULT_MODEL).run()


def test_the_page_says_the_lookback_and_the_total_in_chinese(channels_page):
    at = channels_page
    at.session_state["language"] = "zh"
    at.run()
    assert any("下单前 30 天内" in caption.value for caption in at.caption)
    assert at.selectbox(key="attribution_model").options == ["末次非直接", "末次触点", "首次触点", "线性", "位置加权（40/20/40）"]
    at.session_state["language"] = "en"
    at.run()


def test_export_channels_attribution_reads_the_lookback_before_the_period(small_shop_db, small_shop, capsysbinary):
    _, last = small_shop.date_span(TZ)
    start, end = last.replace(day=1), last
    main(["export", "channels", "--attribution", "first", "--from", str(start), "--to", str(end), "--format", "json",
          "--source", str(small_shop_db)])
    printed = pl.DataFrame(json.loads(capsysbinary.readouterr().out))
    expected = expected_table(small_shop, start, end, "first")
    assert printed["model"].unique().to_list() == ["first"]
    assert printed["channel"].to_list() == expected["channel"].cast(pl.String).to_list()
    assert printed["gmv"].to_list() == pytest.approx(expected["gmv"].to_list())
    assert printed["gmv"].sum() == pytest.approx(period_summary(*activity_frames(small_shop), start=start, end=end, tz=TZ)["gmv"])
