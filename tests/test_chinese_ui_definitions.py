"""Issue 21, "same label, different numbers": where two numbers on screen differ by definition,
the screen says which, in English and Chinese. Products' category GMVs (items at list price)
against the Overview's GMV (order amounts); the drill-down's list of every order against the
channel rows' valid orders; users stopped after a funnel step against those still inside
their window (in progress)."""

from datetime import timedelta

import polars as pl
import pytest
from conftest import app_on_page

from metrics.drilldown import channels_on_day, orders_on_day
from metrics.funnel import drop_offs
from metrics.funnel_spec import FunnelSpec
from metrics.orders import is_valid_order
from metrics.periods import period_summary
from metrics.products import category_table
from metrics.registry import KPIS, format_value
from shop_analytics.ui.filters import DATES_KEY

TZ = "Asia/Shanghai"
def click(at, key: str, point: dict) -> None:
    at.session_state[key] = {"selection": {"points": [point], "point_indices": [0], "box": [], "lasso": []}}
    at.run()
    assert not at.exception


@pytest.mark.parametrize(("lang", "words"), [("en", "the categories add up to"), ("zh", "本期各品类合计为")])
def test_products_say_why_category_gmv_is_not_the_overviews(small_shop_db, small_shop, lang, words):
    at = app_on_page(small_shop_db, "products", lang)
    start, end = at.session_state[DATES_KEY]
    frames = (small_shop.events, small_shop.orders, small_shop.order_items, small_shop.products)
    items = category_table(*frames, start=start, end=end, tz=TZ)["gmv"].sum()
    orders = period_summary(small_shop.events, small_shop.sessions, small_shop.orders, small_shop.users, start=start, end=end, tz=TZ)["gmv"]
    assert items != pytest.approx(orders)
    caption = next(caption.value for caption in at.caption if words in caption.value)
    assert format_value(KPIS["gmv"], items, lang=lang) in caption and format_value(KPIS["gmv"], orders, lang=lang) in caption


@pytest.mark.parametrize(("lang", "words"), [("en", "{valid} valid"), ("zh", "{valid} 笔有效订单")])
def test_the_drill_downs_orders_say_how_many_are_valid_as_the_channel_rows_count_them(small_shop_db, small_shop, lang, words):
    at = app_on_page(small_shop_db, "overview", lang)
    _, end = at.session_state[DATES_KEY]
    day = next(
        end - timedelta(days=back) for back in range(30)
        if orders_on_day(small_shop.orders, day=end - timedelta(days=back), tz=TZ).filter(~is_valid_order()).height
    )
    click(at, "overview_trend", {"x": str(day)})
    listed = orders_on_day(small_shop.orders, day=day, tz=TZ)
    valid = channels_on_day(small_shop.sessions, small_shop.orders, day=day, tz=TZ)["orders"].sum()
    assert valid == listed.filter(is_valid_order()).height < listed.height
    assert any(words.format(valid=f"{valid:,}") in caption.value for caption in at.caption)


@pytest.mark.parametrize(("lang", "stopped_words", "in_progress_words"), [("en", "Stopped after step 2", "In progress"), ("zh", "后流失", "进行中")])
def test_users_inside_their_window_are_not_counted_as_stopped(small_shop_db, small_shop, lang, stopped_words, in_progress_words):
    at = app_on_page(small_shop_db, "funnel", lang)
    start, end = at.session_state[DATES_KEY]
    click(at, "funnel_chart", {"customdata": 2})
    spec = FunnelSpec(steps=("product_view", "add_to_cart", "checkout", "purchase"))
    dropped = drop_offs(small_shop.events, spec, start=start, end=end, tz=TZ, users=small_shop.users).filter(pl.col("step") == 2)
    stopped, waiting = dropped.filter(~pl.col("in_progress")), dropped.filter(pl.col("in_progress"))
    assert waiting.height > 0 and stopped.height > 0
    header = next(header.value for header in at.subheader if stopped_words in header.value)
    assert f"{stopped.height:,}" in header and f"{dropped.height:,}" not in header
    assert any(f"{waiting.height:,}" in caption.value and f"{dropped.height:,}" in caption.value for caption in at.caption)
    assert sorted(at.dataframe[1].value["user_id"]) == sorted(stopped["user_id"].to_list())
    at.segmented_control(key="funnel_drop_off_list").set_value("in_progress").run()
    assert sorted(at.dataframe[1].value["user_id"]) == sorted(waiting["user_id"].to_list())
    assert in_progress_words in at.segmented_control(key="funnel_drop_off_list").format_func("in_progress")
