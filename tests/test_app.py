"""The app, headless (AppTest): the overview shows exactly the metric functions' numbers."""

import json
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from connectors.sql import sqlite_url
from metrics.drilldown import channels_on_day
from metrics.periods import period_summary
from metrics.registry import KPIS, format_value
from metrics.segments import Segment
from metrics.time import utc_bounds
from shop_analytics.i18n import label
from shop_analytics.ui.filters import CHANNELS_KEY, DATES_KEY

TZ = "Asia/Shanghai"
APP = str(Path(__file__).resolve().parents[1] / "app.py")


@pytest.fixture
def app(small_shop_db):
    at = AppTest.from_file(APP, default_timeout=120)
    at.secrets["connections"] = {"shop": {"url": sqlite_url(small_shop_db)}}
    return at.run()


def card(at, label):
    return next(metric for metric in at.metric if metric.label == label)


EVERYONE = Segment()


def expected(shop, name, start, end, segment=EVERYONE):
    frames = segment.apply(shop.events, shop.sessions, shop.orders, shop.users)
    return period_summary(*frames, start=start, end=end, tz=TZ)[name]


def compared(shop, name, period, shift):
    """KPI `name` of `period` moved back by `shift`, cut as the current one is: the sample
    data ends at its last event, moments before the period's end, and every period is compared
    up to the same point (SPEC, period comparison)."""
    start, end = period
    elapsed = shop.events["event_time"].max() + timedelta(microseconds=1) - utc_bounds(start, end, TZ)[0]
    until = utc_bounds(start - shift, end - shift, TZ)[0] + elapsed
    frames = (shop.events, shop.sessions, shop.orders, shop.users)
    return period_summary(*frames, start=start - shift, end=end - shift, tz=TZ, until=until)[name]


def test_overview_defaults_to_the_last_30_days_and_shows_the_metric_gmv(app, small_shop):
    assert not app.exception and not app.error
    _, last = small_shop.date_span(TZ)
    start, end = app.session_state[DATES_KEY]
    assert (start, end) == (last - timedelta(days=29), last)
    gmv = expected(small_shop, "gmv", start, end)
    assert gmv > 0
    assert card(app, "GMV").value == format_value(KPIS["gmv"], gmv, compact=True)
    assert f"This period: {format_value(KPIS['gmv'], gmv)};" in card(app, "GMV").proto.help
    previous = compared(small_shop, "gmv", (start, end), shift=timedelta(days=30))
    assert card(app, "GMV").delta == f"{gmv / previous - 1:+.1%}"
    assert card(app, "Conversion rate").value == format_value(
        KPIS["conversion_rate"], expected(small_shop, "conversion_rate", start, end)
    )


def test_comparing_with_a_week_before_changes_the_deltas(app, small_shop):
    start, end = app.session_state[DATES_KEY]
    app.segmented_control(key="overview_compare").set_value("week_before").run()
    assert not app.exception
    week = compared(small_shop, "orders", (start, end), shift=timedelta(days=7))
    current = expected(small_shop, "orders", start, end)
    assert card(app, "Orders").delta == f"{current / week - 1:+.1%}"
    assert "compared with a week before" in app.caption[0].value


def test_changing_the_period_changes_the_cards(app, small_shop):
    _, last = small_shop.date_span(TZ)
    start, end = last - timedelta(days=90), last - timedelta(days=61)
    before = card(app, "GMV").value
    app.date_input(key=DATES_KEY).set_value((start, end)).run()
    assert not app.exception
    after = card(app, "GMV").value
    assert after == format_value(KPIS["gmv"], expected(small_shop, "gmv", start, end), compact=True)
    assert after != before


def test_the_channel_filter_narrows_every_card(app, small_shop):
    start, end = app.session_state[DATES_KEY]
    app.multiselect(key=CHANNELS_KEY).set_value(["email"]).run()
    email = Segment(channels=("email",))
    for card_label, name in (("GMV", "gmv"), ("Sessions", "sessions"), ("Bounce rate", "bounce_rate")):
        assert card(app, card_label).value == format_value(KPIS[name], expected(small_shop, name, start, end, email), compact=True)


def test_clicking_a_day_drills_into_its_channels(app, small_shop):
    _, end = app.session_state[DATES_KEY]
    day = end - timedelta(days=3)
    app.session_state["overview_trend"] = {
        "selection": {"points": [{"x": str(day), "point_index": 26}], "point_indices": [26], "box": [], "lasso": []}
    }
    app.run()
    assert not app.exception
    assert any(header.value == f"{day:%A %Y-%m-%d}" for header in app.subheader)
    channels = channels_on_day(small_shop.sessions, small_shop.orders, day=day, tz=TZ)
    shown = app.dataframe[1].value
    assert list(shown["channel"]) == [label("channel", channel, "en") for channel in channels["channel"]]
    assert list(shown["sessions"]) == channels["sessions"].to_list()
    assert list(shown["gmv"]) == pytest.approx(channels["gmv"].to_list())


def test_data_source_page_lists_every_table_with_its_rows(app, small_shop):
    app.switch_page("pages/data_source.py").run()
    assert not app.exception
    shown = app.dataframe[0].value
    assert dict(zip(shown["table"], shown["rows"])) == {name: frame.height for name, frame in small_shop.tables.items()}


def test_a_broken_source_gets_a_message_not_a_traceback(tmp_path):
    at = AppTest.from_file(APP, default_timeout=60)
    at.secrets["connections"] = {"shop": {"folder": str(tmp_path / "missing")}}
    at.run()
    assert not at.exception
    assert "is not a folder of tables" in at.error[0].value
    at.switch_page("pages/data_source.py").run()
    assert not at.exception
    assert "is not a folder of tables" in at.error[0].value
    assert at.radio(key="source_kind").value == "folder"  # the form to fix it is there


def test_channels_page_shows_the_channel_table_and_target_warnings(app, small_shop):
    from metrics.channels import channel_table

    start, end = app.session_state[DATES_KEY]
    app.switch_page("pages/channels.py").run()
    assert not app.exception
    expected_table = channel_table(
        small_shop.events, small_shop.sessions, small_shop.orders, small_shop.users, small_shop.ad_spend,
        small_shop.order_items, small_shop.products, start=start, end=end, tz=TZ,
    )
    shown = app.dataframe[0].value
    assert list(shown["channel"]) == [label("channel", channel, "en") for channel in expected_table["channel"]]
    assert list(shown["gmv"]) == pytest.approx(expected_table["gmv"].to_list())
    assert list(shown["sessions"]) == expected_table["sessions"].to_list()
    over_cpc = expected_table.filter(expected_table["cpc_above_target"].fill_null(False))["channel"].to_list()
    assert over_cpc, "the sample shop has a channel above the CPC target"
    assert f"CPC above target: {', '.join(label('channel', channel, 'en') for channel in over_cpc)}" in [warning.value for warning in app.warning]


def test_channels_page_follows_the_device_filter(app, small_shop):
    from shop_analytics.ui.filters import DEVICES_KEY

    app.switch_page("pages/channels.py").run()
    everything = list(app.dataframe[0].value["sessions"])
    app.multiselect(key=DEVICES_KEY).set_value(["desktop"]).run()
    desktop = list(app.dataframe[0].value["sessions"])
    assert sum(desktop) == small_shop.sessions.filter(
        (small_shop.sessions["device"] == "desktop")
        & small_shop.sessions["started_at"].is_between(*utc_bounds(*app.session_state[DATES_KEY], TZ), closed="left")
    ).height
    assert sum(desktop) < sum(everything)


def heatmap_cells(app):
    """The retention heatmap's rows (cohort labels) and rates as drawn."""

    trace = json.loads(app.get("plotly_chart")[0].proto.spec)["data"][0]
    return trace["y"], trace["z"]


def expected_cells(table):
    cohorts = table["cohort"].unique().sort().to_list()
    offsets = range(int(table["offset"].max()) + 1)
    cells = {(row["cohort"], row["offset"]): row["rate"] for row in table.iter_rows(named=True)}
    sizes = dict(table.filter(pl.col("offset") == 0).select("cohort", "cohort_size").iter_rows())
    return [f"{cohort} ({sizes[cohort]:,})" for cohort in cohorts], [[cells.get((c, o)) for o in offsets] for c in cohorts]


def test_cohorts_page_draws_the_metric_retention_and_follows_its_pickers(app, small_shop):
    from metrics.cohorts import retention

    _, last = small_shop.date_span(TZ)
    start, end = last - timedelta(days=120), last
    app.date_input(key=DATES_KEY).set_value((start, end)).run()
    app.switch_page("pages/cohorts.py").run()
    assert not app.exception
    frames = (small_shop.events, small_shop.orders, small_shop.users)
    labels, rates = heatmap_cells(app)
    expected_labels, expected_rates = expected_cells(retention(*frames, start=start, end=end, tz=TZ, period="week"))
    assert labels == expected_labels and len(labels) >= 16
    assert rates == [[pytest.approx(rate) if rate is not None else None for rate in row] for row in expected_rates]
    app.segmented_control(key="cohort_period").set_value("month").run()
    app.selectbox(key="cohort_measure").set_value("purchase").run()
    labels, rates = heatmap_cells(app)
    expected_labels, expected_rates = expected_cells(retention(*frames, start=start, end=end, tz=TZ, period="month", measure="purchase"))
    assert labels == expected_labels and len(labels) == 4
    assert rates == [[pytest.approx(rate) if rate is not None else None for rate in row] for row in expected_rates]


def test_cohorts_page_says_when_no_cohort_starts_in_the_period(app, small_shop):
    _, last = small_shop.date_span(TZ)
    assert last.day > 2
    app.date_input(key=DATES_KEY).set_value((last - timedelta(days=1), last)).run()
    app.switch_page("pages/cohorts.py").run()
    app.segmented_control(key="cohort_period").set_value("month").run()
    assert not app.exception
    # no month begins in two days: the cohorts start six months back, and the page says so
    assert any("the cohort views start 6 months back" in info.value for info in app.info)
    assert not any("widen the period" in info.value for info in app.info)


def test_funnel_page_shows_the_metric_funnel_and_the_drop_offs_of_a_clicked_step(app, small_shop):
    from metrics.funnel import drop_offs, funnel
    from metrics.funnel_spec import FunnelSpec

    start, end = app.session_state[DATES_KEY]
    app.switch_page("pages/funnel.py").run()
    assert not app.exception
    spec = FunnelSpec(steps=("product_view", "add_to_cart", "checkout", "purchase"))
    expected_table = funnel(small_shop.events, spec, start=start, end=end, tz=TZ, users=small_shop.users)
    assert list(app.dataframe[0].value["users"]) == expected_table["users"].to_list()
    assert expected_table["users"][0] > expected_table["users"][3] > 0

    app.selectbox(key="funnel_mode").set_value("strict").run()
    strict = funnel(small_shop.events, FunnelSpec(steps=spec.steps, mode="strict"), start=start, end=end, tz=TZ, users=small_shop.users)
    assert list(app.dataframe[0].value["users"]) == strict["users"].to_list()

    app.selectbox(key="funnel_mode").set_value("ordered").run()
    app.session_state["funnel_chart"] = {"selection": {"points": [{"customdata": 2}], "point_indices": [1], "box": [], "lasso": []}}
    app.run()
    dropped = drop_offs(small_shop.events, spec, start=start, end=end, tz=TZ, users=small_shop.users).filter(pl.col("step") == 2)
    # users still inside their window are listed apart, as in progress
    stopped = dropped.filter(~pl.col("in_progress"))
    assert any(header.value == f"Stopped after step 2 (add to cart): {stopped.height:,} users" for header in app.subheader)
    assert sorted(app.dataframe[1].value["user_id"]) == sorted(stopped["user_id"].to_list())


def test_funnel_page_explains_a_funnel_with_one_step(app):
    app.switch_page("pages/funnel.py").run()
    app.multiselect(key="funnel_steps").set_value(["purchase"]).run()
    assert not app.exception
    assert any("a funnel needs at least two steps" in info.value.lower() for info in app.info)


def test_overview_lists_the_bad_anomalies_of_the_last_week(app, small_shop):
    from metrics.anomalies import detect_anomalies, special_days
    from metrics.kpis import daily_kpis

    first, last = small_shop.date_span(TZ)
    daily = daily_kpis(small_shop.events, small_shop.sessions, small_shop.orders, small_shop.users, start=first, end=last, tz=TZ)
    bad = detect_anomalies(daily, special_days=special_days(small_shop.campaigns)).filter(pl.col("is_alert") & pl.col("bad"))
    assert bad.height > 0, "the sample shop has bad days somewhere in its year"
    end = bad["date"].max()
    app.date_input(key=DATES_KEY).set_value((end - timedelta(days=29), end)).run()
    expected = bad.filter(pl.col("date") > end - timedelta(days=7))
    lines = [block.value for block in app.markdown if "robust z" in block.value]
    assert len(lines) == expected.height
    for alert in expected.iter_rows(named=True):
        kpi = KPIS[alert["kpi"]]
        assert any(f"**{kpi.label}** {format_value(kpi, alert['value'])}" in line for line in lines)


def test_overview_says_when_the_last_week_has_no_anomaly(app, small_shop):
    from metrics.anomalies import detect_anomalies, special_days
    from metrics.kpis import daily_kpis

    first, last = small_shop.date_span(TZ)
    daily = daily_kpis(small_shop.events, small_shop.sessions, small_shop.orders, small_shop.users, start=first, end=last, tz=TZ)
    bad = detect_anomalies(daily, special_days=special_days(small_shop.campaigns)).filter(pl.col("is_alert") & pl.col("bad"))
    assert bad.filter(pl.col("date") > last - timedelta(days=7)).height == 0
    assert any(f"No anomalies in the 7 days to {last}" in box.value for box in app.success)


def test_products_page_shows_the_metric_tables_and_a_clicked_product(app, small_shop):
    from metrics.products import category_table, product_table

    start, end = app.session_state[DATES_KEY]
    app.switch_page("pages/products.py").run()
    assert not app.exception
    frames = (small_shop.events, small_shop.orders, small_shop.order_items, small_shop.products)
    categories = category_table(*frames, start=start, end=end, tz=TZ)
    products = product_table(*frames, start=start, end=end, tz=TZ)
    shown_categories, shown_products = app.dataframe[1].value, app.dataframe[2].value
    assert list(shown_categories["category"]) == categories["category"].to_list()
    assert list(shown_categories["gmv"]) == pytest.approx(categories["gmv"].to_list())
    assert list(shown_products["product_id"]) == products["product_id"].to_list()
    best = products.sort("gmv", descending=True).row(0, named=True)
    app.session_state["products_chart"] = {"selection": {"points": [{"customdata": best["product_id"]}], "point_indices": [0], "box": [], "lasso": []}}
    app.run()
    assert any(header.value == f"{best['name']} ({best['category']})" for header in app.subheader)
    assert card(app, "GMV").value == f"¥{best['gmv']:,.2f}"


def test_service_page_shows_the_metric_service_fulfilment_and_review_words(app, small_shop):
    from metrics.review_words import review_words
    from metrics.service import fulfilment_summary, service_summary

    start, end = app.session_state[DATES_KEY]
    app.switch_page("pages/service.py").run()
    assert not app.exception
    service = service_summary(small_shop.tickets, small_shop.orders, start=start, end=end, tz=TZ).row(0, named=True)
    assert card(app, "Tickets").value == f"{service['tickets']:,}"
    assert card(app, "Answered within 24 h").value == f"{service['answered_within_promise_share']:.1%}"
    assert card(app, "Return rate").value == f"{service['return_rate']:.1%}"
    fulfilment = fulfilment_summary(small_shop.orders, start=start, end=end, tz=TZ).row(0, named=True)
    assert card(app, "Late shipments (over 48 h)").value == f"{fulfilment['late_share']:.1%}"
    words = review_words(small_shop.reviews, start=start, end=end, tz=TZ, top=15)
    positive = [frame.value for frame in app.dataframe if list(frame.value.columns) == ["word", "count"]][2]
    assert list(positive["word"]) == words.filter(pl.col("group") == "positive")["word"].to_list()
    lower, upper = utc_bounds(start, end, TZ)
    in_period = small_shop.reviews.filter(pl.col("created_at").is_between(lower, upper, closed="left"))
    [ratings] = [json.loads(chart.proto.spec)["data"][0] for chart in app.get("plotly_chart")]
    assert dict(zip(ratings["x"], ratings["y"])) == dict(in_period.group_by("rating").len().iter_rows())


def test_checkout_page_shows_the_metric_search_payment_and_coupons(app, small_shop):
    from metrics.payments import coupon_summary, payment_failure_rate
    from metrics.search import search_summary, top_search_terms

    start, end = app.session_state[DATES_KEY]
    app.switch_page("pages/checkout.py").run()
    assert not app.exception
    period = {"start": start, "end": end, "tz": TZ}
    assert card(app, "Searches").value == f"{search_summary(small_shop.events, **period)['searches'][0]:,}"
    failure = payment_failure_rate(small_shop.events, small_shop.orders, **period)["payment_failure_rate"][0]
    assert card(app, "Payment failure rate").value == f"{failure:.1%}"
    assert card(app, "Redemption").value == f"{coupon_summary(small_shop.orders, **period)['redemption_rate'][0]:.1%}"
    assert list(app.dataframe[0].value["term"]) == top_search_terms(small_shop.events, **period)["term"].to_list()


def test_a_page_explains_a_missing_table_instead_of_failing(tmp_path, small_shop):
    derived_columns = {"events": ["session_id", "session_channel", "session_device"], "orders": ["device"]}
    for name, table in small_shop.tables.items():
        if name not in ("tickets", "products"):
            table.drop(derived_columns.get(name, [])).write_parquet(tmp_path / f"{name}.parquet")
    at = AppTest.from_file(APP, default_timeout=120)
    at.secrets["connections"] = {"shop": {"folder": str(tmp_path)}}
    at.run()
    at.switch_page("pages/service.py").run()
    assert not at.exception
    assert any("no tickets table" in info.value for info in at.info)
    at.switch_page("pages/products.py").run()
    assert not at.exception
    assert [warning.value for warning in at.warning] == [
        f"Products needs the products table(s), which {tmp_path} does not have; map them on the Data sources page."
    ]
    assert at.get("page_link")[0].proto.page.endswith("data_source")


def test_filters_come_from_the_link_and_are_kept_in_it(small_shop_db, small_shop):
    _, last = small_shop.date_span(TZ)
    start, end = last - timedelta(days=13), last - timedelta(days=7)
    at = AppTest.from_file(APP, default_timeout=120)
    at.secrets["connections"] = {"shop": {"url": sqlite_url(small_shop_db)}}
    at.query_params["from"] = str(start)
    at.query_params["to"] = str(end)
    at.query_params["channel"] = ["email", "no-such-channel"]
    at.run()
    assert not at.exception
    assert at.session_state[DATES_KEY] == (start, end)
    assert at.session_state[CHANNELS_KEY] == ["email"]
    email = Segment(channels=("email",))
    assert card(at, "GMV").value == format_value(KPIS["gmv"], expected(small_shop, "gmv", start, end, email), compact=True)
    at.multiselect(key=CHANNELS_KEY).set_value(["social"]).run()
    link = {name: value if isinstance(value, list) else [value] for name, value in at.query_params.items()}
    assert link == {"from": [str(start)], "to": [str(end)], "channel": ["social"]}


def test_switching_to_chinese_translates_the_page_and_keeps_the_choice_in_the_link(app, small_shop):
    start, end = app.session_state[DATES_KEY]
    app.radio(key="language_switch").set_value("zh").run()
    assert not app.exception
    assert app.title[0].value == "概览"
    gmv = expected(small_shop, "gmv", start, end)
    assert card(app, "GMV").value == format_value(KPIS["gmv"], gmv, compact=True, lang="zh")
    assert card(app, "客单价").value == format_value(KPIS["aov"], expected(small_shop, "aov", start, end), lang="zh")
    assert app.query_params["lang"] == ["zh"] or app.query_params["lang"] == "zh"
    app.switch_page("pages/channels.py").run()
    assert app.title[0].value == "流量与渠道"
    assert app.sidebar.multiselect(key=CHANNELS_KEY).label == "渠道"


def test_the_language_comes_from_the_link(small_shop_db):
    at = AppTest.from_file(APP, default_timeout=120)
    at.secrets["connections"] = {"shop": {"url": sqlite_url(small_shop_db)}}
    at.query_params["lang"] = "zh"
    at.run()
    assert at.title[0].value == "概览"
    assert at.radio(key="language_switch").value == "zh"


def test_a_clicked_product_shows_its_days_and_its_ratings(app, small_shop):
    from metrics.products import product_daily, product_table

    start, end = app.session_state[DATES_KEY]
    app.switch_page("pages/products.py").run()
    frames = (small_shop.events, small_shop.orders, small_shop.order_items, small_shop.products)
    best = product_table(*frames, start=start, end=end, tz=TZ).row(0, named=True)
    app.session_state["products_chart"] = {"selection": {"points": [{"customdata": best["product_id"]}], "point_indices": [0], "box": [], "lasso": []}}
    app.run()
    assert not app.exception
    daily = product_daily(small_shop.events, small_shop.orders, small_shop.order_items, product_id=best["product_id"], start=start, end=end, tz=TZ)
    trend = next(chart for chart in app.get("plotly_chart") if '"yaxis2"' in chart.proto.spec)
    assert f'"y":{daily["gmv"].to_list()}'.replace(" ", "") in trend.proto.spec.replace(" ", "")
    reviews = small_shop.reviews.filter(pl.col("product_id") == best["product_id"])
    local_day = reviews["created_at"].dt.convert_time_zone(TZ).dt.date()
    in_period = reviews.filter(local_day.is_between(start, end))
    ratings = next(frame.value for frame in app.dataframe if list(frame.value.columns) == ["rating", "reviews"])
    assert dict(zip(ratings["rating"], ratings["reviews"])) == dict(in_period.group_by("rating").len().iter_rows())
    app.button[0].click().run()
    assert not any(header.value == f"{best['name']} ({best['category']})" for header in app.subheader)


def test_channels_page_shows_spend_and_roas_per_day(app, small_shop):
    from metrics.channels import channel_spend_trend

    start, end = app.session_state[DATES_KEY]
    app.switch_page("pages/channels.py").run()
    assert not app.exception
    trend = channel_spend_trend(small_shop.orders, small_shop.users, small_shop.ad_spend, start=start, end=end, tz=TZ)
    shown = next(frame.value for frame in app.dataframe if "roas" in frame.value.columns and "date" in frame.value.columns)
    assert list(shown["channel"]) == [label("channel", channel, "en") for channel in trend["channel"]]
    assert list(shown["spend"]) == pytest.approx(trend["spend"].to_list())
    assert list(shown["gmv"]) == pytest.approx(trend["gmv"].to_list())


def test_a_funnel_step_narrowed_by_a_property_shows_the_metric_funnel_of_that_spec(app, small_shop):
    from metrics.funnel import funnel
    from metrics.funnel_spec import FunnelSpec, FunnelStep

    start, end = app.session_state[DATES_KEY]
    app.switch_page("pages/funnel.py").run()
    app.selectbox(key="funnel_filter_column_1").set_value("channel").run()
    app.multiselect(key="funnel_filter_values_1").set_value(["email", "social"]).run()
    assert not app.exception
    steps = (FunnelStep("product_view", filters=(("channel", "in", ("email", "social")),)), "add_to_cart", "checkout", "purchase")
    expected_table = funnel(small_shop.events, FunnelSpec(steps=steps), start=start, end=end, tz=TZ, users=small_shop.users)
    everyone = funnel(small_shop.events, FunnelSpec(steps=("product_view", "add_to_cart", "checkout", "purchase")), start=start, end=end, tz=TZ, users=small_shop.users)
    assert list(app.dataframe[0].value["users"]) == expected_table["users"].to_list()
    assert 0 < expected_table["users"][0] < everyone["users"][0]


def test_cohorts_page_shows_cac_payback_per_acquisition_channel(app, small_shop):
    from metrics.cohorts import channel_payback

    start, end = app.session_state[DATES_KEY]
    app.switch_page("pages/cohorts.py").run()
    assert not app.exception
    expected_payback = channel_payback(small_shop.orders, small_shop.users, small_shop.ad_spend, start=start, end=end, tz=TZ, period="week")
    shown = next(frame.value for frame in app.dataframe if "payback_offset" in frame.value.columns)
    assert list(shown["channel"]) == [label("channel", channel, "en") for channel in expected_payback.channels["channel"]]
    assert list(shown["cac"]) == pytest.approx(expected_payback.channels["cac"].to_list(), nan_ok=True)
    assert list(shown["payback_offset"].astype("float")) == pytest.approx(
        [float("nan") if value is None else value for value in expected_payback.channels["payback_offset"]], nan_ok=True
    )


def test_overview_lists_a_broken_alert_rule_and_opens_the_page_that_explains_it(small_shop_db, small_shop, tmp_path):
    from shop_analytics.alerts.check import run_check
    from shop_analytics.alerts.config import alert_config
    from shop_analytics.alerts.rules import AlertRule
    from shop_analytics.alerts.store import AlertStore
    from shop_analytics.config import Settings

    database = tmp_path / "alerts.db"
    store = AlertStore(database)
    store.add_rule(AlertRule("gmv", "<", 1e12))  # every day breaks it
    result = run_check(small_shop, store, alert_config({"database": str(database)}, Settings()), Settings())
    assert len(result.new) >= 1
    at = AppTest.from_file(APP, default_timeout=120)
    at.secrets["connections"] = {"shop": {"url": sqlite_url(small_shop_db)}}
    at.secrets["alerts"] = {"database": str(database)}
    at.run()
    assert not at.exception
    rule_lines = [line.value for line in at.markdown if "Rule" in line.value]
    assert len(rule_lines) == 1 and "GMV" in rule_lines[0]
    open_buttons = [button for button in at.button if button.key and button.key.startswith("overview_rule_")]
    assert len(open_buttons) == 1
    open_buttons[0].click().run()
    assert not at.exception
    assert at.title[0].value == "Overview"  # a GMV rule is explained by the overview itself, on the alert's day
    assert at.session_state[DATES_KEY][1] == result.day
