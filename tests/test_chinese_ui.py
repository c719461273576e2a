"""Issue 21: every value a reader sees is in the page's language. Channels, devices, regions,
categories, event names, pages, payment methods and order statuses go through one table
(locales/values.toml, i18n.label) used by the tables, the charts, the pickers and the report;
months on chart axes are written without Plotly's English month names; the data-quality
table is in Chinese too."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from connectors.quality import quality_report
from connectors.sql import sqlite_url
from metrics.registry import KPIS
from shop_analytics.charts.axes import date_axis
from shop_analytics.charts.trends import daily_trend
from shop_analytics.i18n import VALUE_KINDS, label, translate_values, translations
from shop_analytics.reports.wording import channel_name
from shop_analytics.ui.filters import CHANNELS_KEY, DATES_KEY
from shop_analytics.ui.tables import quality_table

TZ = "Asia/Shanghai"
APP = str(Path(__file__).resolve().parents[1] / "app.py")
# (Data sources, the admin's page about the schema, names the canonical tables as the mapping
# files and the configuration spell them.)
PAGES = ("overview", "channels", "campaigns", "products", "funnel", "paths", "cohorts", "checkout", "service", "explore",
         "alerts", "segments", "demand", "targets")


def codes_with_other_words(lang: str) -> set[str]:
    """The coded values whose words in `lang` differ from the code: none of them may be shown."""
    return {
        key.split(".", 2)[2] for key, words in translations().items()
        if key.startswith("values.") and not key.startswith(("values.quality_fix.", "values.quality_check.")) and words[lang] != key.split(".", 2)[2]
    }


def test_a_value_is_said_in_each_language_and_an_unknown_one_as_it_is():
    assert [label("channel", "paid_search", lang) for lang in ("en", "zh")] == ["paid search", "付费搜索"]
    assert label("event", "add_to_cart", "zh") == "加入购物车"
    assert label("payment_method", "wechat_pay", "zh") == "微信支付"
    assert label("status", "refunded", "zh") == "已退款"
    assert label("region", "Inner Mongolia", "zh") == "内蒙古"
    assert label("channel", "douyin_live", "zh") == "douyin_live"
    assert label("channel", None, "zh") == "–"
    frame = pl.DataFrame({"channel": ["direct", None, "douyin_live"], "status": ["paid", "pending", "paid"], "orders": [3, 1, 2]})
    assert translate_values(frame, "zh").to_dicts() == [
        {"channel": "直接访问", "status": "已支付", "orders": 3},
        {"channel": None, "status": "待支付", "orders": 1},
        {"channel": "douyin_live", "status": "已支付", "orders": 2},
    ]
    kept = translate_values(frame, "zh", keep_codes=True)
    assert kept.columns == ["channel", "channel_code", "status", "status_code", "orders"]
    assert kept["channel_code"].to_list() == ["direct", None, "douyin_live"]


def test_the_report_names_channels_as_the_pages_do():
    for lang in ("en", "zh"):
        for channel in ("direct", "paid_search", "organic", "social", "email", "affiliate", "(unknown)", "douyin_live"):
            assert channel_name(channel, lang) == label("channel", channel, lang)
    assert (channel_name("direct", "zh"), channel_name("paid_search", "zh")) == ("直接访问", "付费搜索")
    assert channel_name(None, "zh") == "未知渠道"


def shown_strings(at) -> list[tuple[str, str]]:
    """(where, text) of every string a reader sees in the tables (hidden code columns aside),
    in the charts' axes, bars, labels and legends, and in the pickers' choices."""
    seen = []
    for index, frame in enumerate(at.dataframe):
        hidden = {name for name, config in json.loads(frame.proto.columns or "{}").items() if config.get("hidden")}
        data = frame.value
        for column in data.columns:
            if column not in hidden and str(data[column].dtype) in ("object", "str", "string"):
                seen += [(f"table {index} {column}", value) for value in data[column].dropna().unique() if isinstance(value, str)]
    for chart in at.get("plotly_chart"):
        for trace in json.loads(chart.proto.spec).get("data", []):
            for field in ("x", "y", "labels", "text", "name"):
                value = trace.get(field)
                seen += [(f"chart {field}", item) for item in (value if isinstance(value, list) else [value]) if isinstance(item, str)]
            seen += [("sankey node", item) for item in (trace.get("node") or {}).get("label", [])]
    # the pickers' choices as they are offered (their format_func applied)
    for picker in (*at.selectbox, *at.multiselect, *at.radio):
        seen += [(f"picker {picker.label}", option) for option in picker.options if isinstance(option, str)]
    return seen


def click(at, key: str, point: dict) -> None:
    at.session_state[key] = {"selection": {"points": [point], "point_indices": [0], "box": [], "lasso": []}}
    at.run()


@pytest.fixture(scope="module")
def chinese(small_shop_db):
    """The app of a Chinese team: the deployment's language is zh (so pickers read outside a
    run speak it too)."""
    at = AppTest.from_file(APP, default_timeout=120)
    at.secrets["connections"] = {"shop": {"url": sqlite_url(small_shop_db)}}
    at.secrets["settings"] = {"language": "zh"}
    return at.run()


@pytest.mark.parametrize("page", PAGES)
def test_no_page_shows_a_code_name_in_chinese(chinese, small_shop, page):
    at = chinese
    at.switch_page(f"pages/{page}.py").run()
    if page == "overview":
        _, end = at.session_state[DATES_KEY]
        click(at, "overview_trend", {"x": str(end - timedelta(days=1))})
    if page == "products":
        best = small_shop.order_items.group_by("product_id").len().sort("len", descending=True)["product_id"][0]
        click(at, "products_chart", {"customdata": best})
    if page == "funnel":
        click(at, "funnel_chart", {"customdata": 2})
    assert not at.exception and not at.error, page
    codes = codes_with_other_words("zh")
    shown = shown_strings(at)
    assert shown, page
    assert [(where, value) for where, value in shown if value in codes] == [], page


def test_the_channel_table_and_bubbles_name_the_shops_channels_in_chinese(chinese, small_shop):
    at = chinese
    at.switch_page("pages/channels.py").run()
    bubbles = json.loads(at.get("plotly_chart")[0].proto.spec)["data"][0]
    # a click still filters by the channel's own value; the reader sees its words
    codes = bubbles["customdata"]
    assert set(codes) == set(small_shop.labels("channel"))
    assert bubbles["text"] == [label("channel", channel, "zh") for channel in codes]
    assert list(at.dataframe[0].value["channel"]) == bubbles["text"]
    assert {"付费搜索", "直接访问"} <= set(bubbles["text"])


def test_the_sidebar_offers_channels_and_devices_in_chinese(chinese):
    at = chinese
    at.switch_page("pages/overview.py").run()
    options = at.sidebar.multiselect(key=CHANNELS_KEY).options
    assert "付费搜索" in options and "paid_search" not in options
    at.sidebar.multiselect(key=CHANNELS_KEY).set_value(["paid_search"]).run()
    assert at.session_state[CHANNELS_KEY] == ["paid_search"] and not at.exception
    at.sidebar.multiselect(key=CHANNELS_KEY).set_value([]).run()


def test_funnel_steps_and_drop_offs_are_named_in_chinese(chinese):
    at = chinese
    at.switch_page("pages/funnel.py").run()
    table = at.dataframe[0].value
    assert list(table["event"]) == [label("event", step, "zh") for step in table["event_code"]]
    assert "加入购物车" in list(table["event"])
    assert "加入购物车" in at.multiselect(key="funnel_steps").value or "加入购物车" in at.multiselect(key="funnel_steps").options
    chart = json.loads(at.get("plotly_chart")[0].proto.spec)["data"][0]
    assert chart["x"] == [f"{step}. {words}" for step, words in zip(table["step"], table["event"])]


def test_english_pages_show_words_not_codes(small_shop_db):
    at = AppTest.from_file(APP, default_timeout=120)
    at.secrets["connections"] = {"shop": {"url": sqlite_url(small_shop_db)}}
    at.run()
    at.switch_page("pages/channels.py").run()
    channels = list(at.dataframe[0].value["channel"])
    assert "paid search" in channels and "paid_search" not in channels


def test_date_axes_are_written_without_english_month_names_in_chinese():
    axis = date_axis("zh")
    formats = [stop["value"] for stop in axis["tickformatstops"]]
    assert formats == ["%-m月%-d日 %H:%M", "%-m月%-d日", "%Y年%-m月", "%Y年"]
    assert not any("%b" in value or "%B" in value for value in formats)
    days = [datetime(2026, 11, 1) + timedelta(days=offset) for offset in range(30)]
    daily = pl.DataFrame({"date": [day.date() for day in days], "gmv": [float(offset) for offset in range(30)]})
    figure = daily_trend(daily, KPIS["gmv"], lang="zh")
    assert [stop.value for stop in figure.layout.xaxis.tickformatstops] == formats


def test_the_data_quality_table_is_in_chinese_and_its_english_is_the_reports_own():
    orders = pl.DataFrame(
        {
            "order_id": [1, 2, 2], "user_id": [1, 2, 3],
            "created_at": [datetime(2026, 11, 1, tzinfo=UTC)] * 3, "amount": [10.0, -5.0, 3.0], "status": ["paid", "paid_out", "paid_out"],
        }
    )
    report = quality_report({"orders": orders}, now=datetime(2026, 12, 1, tzinfo=UTC))
    assert set(report["check"]) == {"duplicate ids", "negative amounts", "unknown status"}
    assert quality_table(report, "en", TZ)["fix"].to_list() == report["fix"].to_list()
    chinese = quality_table(report, "zh", TZ).to_dicts()
    by_check = {row["check"]: row for row in chinese}
    assert set(by_check) == {"ID 重复", "金额为负", "未知订单状态"}
    assert all(row["table"] == "订单表" for row in chinese)
    assert by_check["未知订单状态"]["fix"] == (
        "请在 [tables.orders.values.status] 中把它们映射为 paid, shipped, completed, refunded, cancelled, pending 之一：'paid_out' (2)。"
    )
    assert by_check["金额为负"]["fix"].startswith("amount 按正数金额计算")


def test_every_coded_column_kind_has_its_values_section():
    sections = {key.split(".")[1] for key in translations() if key.startswith("values.")}
    assert set(VALUE_KINDS.values()) <= sections
