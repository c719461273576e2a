"""The Overview's issue 19 parts in AppTest, each number the metric functions' on the small
shop: the pace of the targets set in the alert database (metrics.pacing), the GMV
decomposition against the previous period (metrics.decomposition), the cards' own-history
bands over the previous 8 same-length periods and the trend's same-weekday band
(metrics.bands), new and repeat orders; the GMV basis named in the cards' help."""

import json
from pathlib import Path

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from connectors.sql import sqlite_url
from metrics.bands import daily_bands, history_start, period_bands, previous_periods
from metrics.decomposition import decompose_gmv, gmv_factors
from metrics.kpis import daily_kpis
from metrics.pacing import pace_against_target
from metrics.periods import compare_periods, elapsed_part, period_summary
from metrics.registry import KPIS, format_value
from metrics.repeat_orders import new_and_repeat_orders
from metrics.time import previous_period, utc_bounds
from shop_analytics.alerts.store import AlertStore
from shop_analytics.targets import TargetStore, checked_target, target_period
from shop_analytics.ui.filters import DATES_KEY
from shop_analytics.views import activity_frames

TZ = "Asia/Shanghai"
APP = str(Path(__file__).resolve().parents[1] / "app.py")
CARDS = ("gmv", "orders", "conversion_rate", "bounce_rate")


@pytest.fixture(scope="module")
def overview(small_shop_db, small_shop, tmp_path_factory):
    """The overview over the small shop, with a month's GMV target and a week's conversion
    target holding the period's last day, set in the alert database."""
    database = tmp_path_factory.mktemp("targets") / "alerts.db"
    last = small_shop.date_span(TZ)[1]
    store = TargetStore(AlertStore(database).engine)
    targets = (checked_target("gmv", "month", last, 20_000.0), checked_target("conversion_rate", "week", last, 0.2))
    for target in targets:
        store.set(target, set_by="lead")
    at = AppTest.from_file(APP, default_timeout=120)
    at.secrets["connections"] = {"shop": {"url": sqlite_url(small_shop_db)}}
    at.secrets["alerts"] = {"database": str(database)}
    at.run()
    assert not at.exception and not at.error
    return at, targets


def metric(at, label):
    return next(element for element in at.metric if element.label == label)


def test_each_target_shows_its_pace_and_projected_end(overview, small_shop):
    at, targets = overview
    first, last = small_shop.date_span(TZ)
    frames = activity_frames(small_shop)
    daily = daily_kpis(*frames, start=first, end=last, tz=TZ).with_columns(active_users=pl.col("dau"))
    gmv_target, conversion_target = targets
    month = target_period("month", last)
    gmv = pace_against_target(daily, kpi="gmv", target=gmv_target.value, start=month[0], end=month[1], as_of=last).row(0, named=True)
    week = target_period("week", last)
    own = period_summary(*frames, start=week[0], end=last, tz=TZ)["conversion_rate"]
    conversion = pace_against_target(daily, kpi="conversion_rate", target=conversion_target.value, start=week[0], end=week[1],
                                     as_of=last, actual_to_date=own).row(0, named=True)
    assert gmv["pace"] is not None and conversion["pace"] is not None

    card = metric(at, f"GMV target, {month[0]:%Y-%m}")
    assert card.value == f"{gmv['pace']:.1%}" and card.delta == f"{gmv['pace'] - 1:+.1%}"

    def money(value):
        return format_value(KPIS["gmv"], value)

    assert f"{money(gmv['actual_to_date'])} against {money(gmv['expected_to_date'])}" in card.proto.help
    projected = (f"Projected end {money(gmv['projected_end'])} ({money(gmv['projected_low'])} – {money(gmv['projected_high'])}) "
                 f"against the target {money(20_000.0)}.")
    assert any(caption.value.startswith(projected) for caption in at.caption)
    assert metric(at, f"Conversion rate target, the week from {week[0]:%a %m-%d}").value == f"{conversion['pace']:.1%}"


def test_the_decomposition_is_the_metric_functions_and_its_parts_add_up(overview, small_shop):
    at, _ = overview
    start, end = at.session_state[DATES_KEY]
    _, sessions, orders, users = activity_frames(small_shop)
    before = previous_period(start, end)
    elapsed = elapsed_part(small_shop.activity, orders, start=start, end=end, tz=TZ)
    cut = utc_bounds(*before, TZ)[0] + elapsed
    current = gmv_factors(sessions, orders, start=start, end=end, tz=TZ)
    comparison = gmv_factors(sessions.filter(pl.col("started_at") < cut), orders.filter(pl.col("created_at") < cut),
                             start=before[0], end=before[1], tz=TZ)
    parts = decompose_gmv(current, comparison)
    row = current.row(0, named=True)
    for name, label in (("visitors", "Visitors"), ("visitor_conversion", "Visitor conversion"), ("orders_per_buyer", "Orders per buyer"),
                        ("uv_value", "UV value")):
        shown = metric(at, label)
        assert shown.value == format_value(KPIS[name], row[name])
        assert shown.delta == f"{row[name] / comparison[name][0] - 1:+.1%}"
    table = pl.from_pandas(at.dataframe[1].value)  # the decomposition table (the daily table is the first)
    assert table["part"].to_list() == pytest.approx(parts["part"].to_list())
    assert table["current"].to_list() == pytest.approx(parts["current"].to_list())
    factors, change = table["part"][:4], table["part"][4]
    assert factors.sum() == pytest.approx(change, abs=0.005)  # to the cent
    assert change == pytest.approx(row["gmv"] - comparison["gmv"][0])


def test_the_cards_carry_their_band_of_the_previous_eight_periods(overview, small_shop):
    at, _ = overview
    start, end = at.session_state[DATES_KEY]
    frames = activity_frames(small_shop)
    elapsed = elapsed_part(frames[0], frames[2], start=start, end=end, tz=TZ)
    first_day = small_shop.date_span(TZ)[0]
    history = [
        period_summary(*frames, start=other_start, end=other_end, tz=TZ, until=utc_bounds(other_start, other_end, TZ)[0] + elapsed)
        for other_start, other_end in previous_periods(start, end) if other_start >= first_day
    ]
    current = {row["kpi"]: row["current"] for row in compare_periods(*frames, start=start, end=end, tz=TZ).iter_rows(named=True)}
    bands = {row["kpi"]: row for row in period_bands(current, history, list(CARDS)).iter_rows(named=True)}
    for name in CARDS:
        kpi, band = KPIS[name], bands[name]
        assert band["typical"] is not None
        words = {"excellent": "excellent", "typical": "typical", "below_typical": "below typical"}[band["standing"]]
        help_text = metric(at, kpi.label_in("en")).proto.help
        assert (f"Own history: typical {format_value(kpi, band['typical'])}, excellent {format_value(kpi, band['excellent'])} "
                f"(the same-length periods of the previous {len(history)}); this period is {words}.") in help_text
    assert "GMV basis (口径): valid orders (paid, shipped, completed, refunded), amount as recorded." in metric(at, "GMV").proto.help


def test_the_trend_draws_the_same_weekday_band_behind_the_line(overview, small_shop):
    at, _ = overview
    start, end = at.session_state[DATES_KEY]
    picked = at.selectbox(key="overview_metric").value
    first_day = small_shop.date_span(TZ)[0]
    daily = daily_kpis(*activity_frames(small_shop), start=max(history_start(start), first_day), end=end, tz=TZ)
    band = daily_bands(daily, [picked], start=start)
    figures = [json.loads(chart.proto.spec)["data"] for chart in at.get("plotly_chart")]
    typical, excellent, line = next(traces for traces in figures if traces[-1].get("name") == KPIS[picked].label_in("en"))
    assert line["y"] == pytest.approx(daily.filter(pl.col("date") >= start)[picked].to_list(), nan_ok=True)
    assert typical["y"] == pytest.approx(band["typical"].to_list(), nan_ok=True)
    assert excellent["y"] == pytest.approx(band["excellent"].to_list(), nan_ok=True)
    assert excellent["fill"] == "tonexty"


def test_new_and_repeat_orders_are_the_metric_functions(overview, small_shop):
    at, _ = overview
    start, end = at.session_state[DATES_KEY]
    table = new_and_repeat_orders(small_shop.orders, start=start, end=end, tz=TZ)
    new, repeat = table.row(0, named=True), table.row(1, named=True)
    assert metric(at, "New-buyer orders").value == f"{new['orders']:,}"
    assert metric(at, "Repeat-buyer orders").value == f"{repeat['orders']:,}"
    assert new["orders"] + repeat["orders"] == period_summary(*activity_frames(small_shop), start=start, end=end, tz=TZ)["orders"]


def test_a_target_set_on_the_targets_page_is_paced_on_the_overview(small_shop_db, small_shop, tmp_path):
    at = AppTest.from_file(APP, default_timeout=120)
    at.secrets["connections"] = {"shop": {"url": sqlite_url(small_shop_db)}}
    at.secrets["alerts"] = {"database": str(tmp_path / "alerts.db")}
    at.run()
    at.switch_page("pages/targets.py").run()
    last = small_shop.date_span(TZ)[1]
    at.selectbox(key="target_kpi").set_value("orders")
    at.date_input(key="target_day").set_value(last)
    at.number_input(key="target_value").set_value(150.0)
    at.button(key="target_save").click().run()
    assert not at.exception
    month = target_period("month", last)
    assert at.success[0].value == f"Saved: Orders target for {month[0]:%Y-%m}, 150."
    [kept] = TargetStore(AlertStore(tmp_path / "alerts.db").engine).targets()
    assert (kept.kpi, kept.period_start, kept.value, kept.set_by) == ("orders", month[0], 150.0, "local")
    daily = daily_kpis(*activity_frames(small_shop), start=small_shop.date_span(TZ)[0], end=last, tz=TZ)
    pace = pace_against_target(daily, kpi="orders", target=150.0, start=month[0], end=month[1], as_of=last)["pace"][0]
    assert metric(at, f"Orders target, {month[0]:%Y-%m}").value == f"{pace:.1%}"  # drawn on the page too
    at.switch_page("pages/overview.py").run()
    assert metric(at, f"Orders target, {month[0]:%Y-%m}").value == f"{pace:.1%}"
