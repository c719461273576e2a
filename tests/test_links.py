"""Issue 21: a shared link keeps the view. Every page control that changes what is shown is
in the URL (ui/links.py), and a link opens the same view in a new session: the control holds
the link's value and the page shows the numbers of that view (the metric functions' own)."""

from datetime import timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from connectors.sql import sqlite_url
from metrics.explore import pivot
from metrics.funnel import funnel
from metrics.funnel_spec import FunnelSpec, FunnelStep
from metrics.path_tables import path_strings, path_views
from metrics.periods import period_summary
from metrics.registry import KPIS, format_value
from metrics.time import utc_bounds
from shop_analytics.i18n import label, translations
from shop_analytics.ui.filters import DATES_KEY

TZ = "Asia/Shanghai"
APP = str(Path(__file__).resolve().parents[1] / "app.py")


def opened(small_shop_db, page: str | None = None, **params) -> AppTest:
    """A new session opened with a link to `page` carrying `params` (lists for repeats)."""
    at = AppTest.from_file(APP, default_timeout=120)
    at.secrets["connections"] = {"shop": {"url": sqlite_url(small_shop_db)}}
    for name, value in params.items():
        at.query_params[name] = value
    if page is not None:
        at.switch_page(f"pages/{page}.py")
    at.run()
    assert not at.exception
    return at


def link_of(at) -> dict[str, list[str]]:
    return {name: value if isinstance(value, list) else [value] for name, value in at.query_params.items()}


def reopened(small_shop_db, at, page: str) -> AppTest:
    """What a colleague sees opening `at`'s URL in a new tab."""
    return opened(small_shop_db, page, **link_of(at))


def card(at, name):
    return next(metric for metric in at.metric if metric.label == KPIS[name].label_in("en"))


def test_the_overviews_comparison_and_trend_kpi_come_from_the_link(small_shop_db, small_shop):
    at = opened(small_shop_db, compare="week_before", kpi="orders")
    assert at.segmented_control(key="overview_compare").value == "week_before"
    assert at.selectbox(key="overview_metric").value == "orders"
    start, end = at.session_state[DATES_KEY]
    # the same delta as in that tab: against the week before, cut where the data ends
    elapsed = small_shop.events["event_time"].max() + timedelta(microseconds=1) - utc_bounds(start, end, TZ)[0]
    week = timedelta(days=7)
    frames = (small_shop.events, small_shop.sessions, small_shop.orders, small_shop.users)
    now = period_summary(*frames, start=start, end=end, tz=TZ)["gmv"]
    before = period_summary(*frames, start=start - week, end=end - week, tz=TZ, until=utc_bounds(start - week, end - week, TZ)[0] + elapsed)["gmv"]
    assert card(at, "gmv").delta == f"{now / before - 1:+.1%}"
    assert card(at, "gmv").value == format_value(KPIS["gmv"], now, compact=True)
    assert "compared with a week before" in at.caption[0].value
    # the chosen view stays in the URL, the default is left out
    assert link_of(at)["compare"] == ["week_before"] and link_of(at)["kpi"] == ["orders"]
    at.segmented_control(key="overview_compare").set_value("previous").run()
    assert "compare" not in link_of(at)


def test_a_funnel_link_opens_the_same_funnel(small_shop_db, small_shop):
    at = opened(small_shop_db, "funnel")
    at.multiselect(key="funnel_steps").set_value(["product_view", "add_to_cart"]).run()
    at.selectbox(key="funnel_mode").set_value("strict").run()
    at.number_input(key="funnel_window").set_value(2).run()
    at.selectbox(key="funnel_window_unit").set_value("hours").run()
    at.selectbox(key="funnel_filter_column_1").set_value("channel").run()
    at.multiselect(key="funnel_filter_values_1").set_value(["email", "organic"]).run()
    assert link_of(at)["steps"] == ["product_view", "add_to_cart"] and link_of(at)["values1"] == ["email", "organic"]
    shown = list(at.dataframe[0].value["users"])

    colleague = reopened(small_shop_db, at, "funnel")
    assert colleague.multiselect(key="funnel_steps").value == ["product_view", "add_to_cart"]
    assert colleague.selectbox(key="funnel_mode").value == "strict"
    assert (colleague.number_input(key="funnel_window").value, colleague.selectbox(key="funnel_window_unit").value) == (2, "hours")
    assert colleague.multiselect(key="funnel_filter_values_1").value == ["email", "organic"]
    start, end = colleague.session_state[DATES_KEY]
    spec = FunnelSpec(
        steps=(FunnelStep("product_view", filters=(("channel", "in", ("email", "organic")),)), FunnelStep("add_to_cart")),
        window=timedelta(hours=2), mode="strict",
    )
    expected = funnel(small_shop.events, spec, start=start, end=end, tz=TZ, users=small_shop.users)
    assert list(colleague.dataframe[0].value["users"]) == expected["users"].to_list() == shown


def test_cohort_pickers_come_from_the_link(small_shop_db):
    at = opened(small_shop_db, "cohorts", grain="month", cohort_by="signup", retained_when="purchase", counted="on_or_after")
    assert at.segmented_control(key="cohort_period").value == "month"
    assert at.selectbox(key="cohort_by").value == "signup"
    assert at.selectbox(key="cohort_measure").value == "purchase"
    assert at.selectbox(key="cohort_mode").value == "on_or_after"
    assert {"grain", "cohort_by", "retained_when", "counted"} <= set(link_of(at))


def test_a_paths_link_opens_the_same_sankey(small_shop_db, small_shop):
    at = opened(small_shop_db, "paths", direction="from_step", step="product", depth="3", grouping="top_n", top_n="2")
    assert at.segmented_control(key="paths_direction").value == "from_step"
    assert at.selectbox(key="paths_anchor").value == "product"
    assert (at.slider(key="paths_depth").value, at.number_input(key="paths_top_n").value) == (3, 2)
    start, end = at.session_state[DATES_KEY]
    views = path_views(small_shop.events, start=start, end=end, tz=TZ, start_at="product", depth=3, min_share=0.0, top_n=2)
    pages = {key.split(".")[2]: words["en"] for key, words in translations().items() if key.startswith("values.page.")}
    expected = path_strings(views["paths"], pages | {"exit": "exit", "entrance": "entrance", "other": "other"})
    shown = at.dataframe[-1].value
    assert list(zip(shown["path"], shown["sessions"])) == list(zip(expected["path"], expected["sessions"]))


def test_an_explore_link_opens_the_same_pivot(small_shop_db, small_shop):
    at = opened(small_shop_db, "explore", measure="gmv", rows="device", columns="channel")
    assert (at.selectbox(key="explore_measure").value, at.selectbox(key="explore_rows").value, at.selectbox(key="explore_columns").value) == (
        "gmv", "device", "channel"
    )
    start, end = at.session_state[DATES_KEY]
    frames = {**small_shop.tables, "events": small_shop.events, "sessions": small_shop.sessions, "orders": small_shop.orders}
    long = pivot(frames, measure="gmv", rows="device", columns="channel", start=start, end=end, tz=TZ)
    shown = at.dataframe[0].value
    for row in long.iter_rows(named=True):
        line = shown[shown["device"] == label("device", row["device"], "en")]
        assert float(line[row["channel"]].iloc[0]) == pytest.approx(row["value"])


def test_the_attribution_model_campaign_baseline_and_checkout_stage_come_from_the_link(small_shop_db, small_shop):
    assert opened(small_shop_db, "channels", model="first").selectbox(key="attribution_model").value == "first"
    _, last = small_shop.date_span(TZ)
    period = {"from": str(last - timedelta(days=180)), "to": str(last)}
    table = opened(small_shop_db, "campaigns", **period).dataframe[0].value
    assert table.shape[0] >= 2
    last_id, last_name = table["campaign_id"].iloc[-1], table["name"].iloc[-1]
    campaigns = opened(small_shop_db, "campaigns", baseline="fixed_days", campaign=str(last_id), **period)
    assert campaigns.segmented_control(key="campaigns_baseline").value == "fixed_days"
    assert campaigns.selectbox(key="campaigns_pick").value == last_id
    assert last_name in campaigns.subheader[0].value
    assert opened(small_shop_db, "checkout", stage="checkout").segmented_control(key="abandonment_stage").value == "checkout"


def test_a_link_value_the_page_does_not_offer_is_named_and_left_out(small_shop_db):
    at = opened(small_shop_db, "funnel", mode="sideways", window="0")
    assert at.selectbox(key="funnel_mode").value == "ordered" and at.number_input(key="funnel_window").value == 7
    warnings = [warning.value for warning in at.warning]
    assert any("mode=sideways" in warning for warning in warnings) and any("window=0" in warning for warning in warnings)
    assert "mode" not in link_of(at) and "window" not in link_of(at)


def test_the_demand_pickers_and_the_open_segments_tab_come_from_the_link(small_shop_db):
    demand = opened(small_shop_db, "demand", horizon="4", level="category", confidence="20")
    assert demand.segmented_control(key="demand_horizon").value == 4
    assert demand.segmented_control(key="demand_level").value == "category"
    assert demand.number_input(key="demand_confidence").value == 20.0
    segments = opened(small_shop_db, "segments", tab="clusters", k="3")
    assert segments.session_state["segments_tab"] == "Clusters"
    assert segments.selectbox(key="segments_k").value == 3
    assert link_of(segments)["tab"] == ["clusters"]
