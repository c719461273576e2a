"""Anomaly verdicts, alert contributors and rule alerts on hand-made data worked by hand.

Business zone Asia/Shanghai (UTC+8): 16:00 UTC is midnight of the next local day.
"""

from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest
from conftest import utc
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from metrics.anomalies import (
    ANOMALY_SCHEMA,
    CONTRIBUTOR_SCHEMA,
    RULE_ALERT_SCHEMA,
    RobustScore,
    Rule,
    alert_contributors,
    baseline_days,
    detect_anomalies,
    robust_score,
    rule_alerts,
    special_days,
)
from metrics.kpis import daily_kpis
from metrics.sessions import derive_sessions

TZ = "Asia/Shanghai"
ORDINARY, CAMPAIGN = "ordinary days", "past campaign days"
S = 1.4826  # the SPEC's MAD-to-sigma factor


def day(n: int) -> date:
    return date(2026, 3, 1) + timedelta(days=n - 1)


def daily(kpi: str, values: list[float]) -> pl.DataFrame:
    return pl.DataFrame({"date": [day(n) for n in range(1, len(values) + 1)], kpi: values}, schema_overrides={kpi: pl.Float64})


def verdicts(kpi: str, rows: list[tuple]) -> pl.DataFrame:
    """Expected rows: (day, value, baseline size, median, mad, scale, z, alert, direction, bad, compared with)."""
    return pl.DataFrame(
        [(day(n), kpi, *rest) for n, *rest in rows], schema=ANOMALY_SCHEMA, orient="row"
    )


def test_robust_z_over_a_five_day_window_worked_by_hand():
    table = detect_anomalies(daily("orders", [10, 12, 11, 13, 12, 30, 11, 12]), window=5, min_baseline=3)
    expected = verdicts("orders", [
        (1, 10.0, 0, None, None, None, None, None, None, None, ORDINARY),
        (2, 12.0, 1, 10.0, 0.0, None, None, None, None, None, ORDINARY),  # too few days for a verdict
        (3, 11.0, 2, 11.0, 1.0, S, None, None, None, None, ORDINARY),
        (4, 13.0, 3, 11.0, 1.0, S, 2 / S, False, "up", False, ORDINARY),  # baseline 10 12 11
        (5, 12.0, 4, 11.5, 1.0, S, 0.5 / S, False, "up", False, ORDINARY),  # deviations 1.5 .5 .5 1.5
        (6, 30.0, 5, 12.0, 1.0, S, 18 / S, True, "up", False, ORDINARY),  # 10 12 11 13 12
        (7, 11.0, 5, 12.0, 1.0, S, -1 / S, False, "down", True, ORDINARY),  # 12 11 13 12 30: robust to 30
        (8, 12.0, 5, 12.0, 1.0, S, 0.0, False, None, None, ORDINARY),  # 11 13 12 30 11
    ])  # fmt: skip
    assert_frame_equal(table, expected)


def test_a_rise_is_bad_for_a_kpi_where_lower_is_better():
    table = detect_anomalies(daily("refunds", [10, 12, 11, 13, 12, 30]), window=5, min_baseline=3)
    assert table.filter(pl.col("is_alert")).select("date", "direction", "bad").row(0) == (day(6), "up", True)


def test_a_campaign_day_is_compared_with_past_campaign_days_and_the_same_value_on_an_ordinary_day_alerts():
    values = [100, 104, 290, 310, 300, 96, 100, 300, 300]
    campaign_days = pl.Series([day(3), day(4), day(5), day(8)])
    table = detect_anomalies(daily("gmv", values), special_days=campaign_days, min_baseline=3)
    expected = verdicts("gmv", [
        (1, 100.0, 0, None, None, None, None, None, None, None, ORDINARY),
        (2, 104.0, 1, 100.0, 0.0, None, None, None, None, None, ORDINARY),
        (3, 290.0, 0, None, None, None, None, None, None, None, CAMPAIGN),
        (4, 310.0, 1, 290.0, 0.0, None, None, None, None, None, CAMPAIGN),
        (5, 300.0, 2, 300.0, 10.0, 10 * S, None, None, None, None, CAMPAIGN),
        (6, 96.0, 2, 102.0, 2.0, 2 * S, None, None, None, None, ORDINARY),
        (7, 100.0, 3, 100.0, 4.0, 4 * S, 0.0, False, None, None, ORDINARY),  # 100 104 96
        (8, 300.0, 3, 300.0, 10.0, 10 * S, 0.0, False, None, None, CAMPAIGN),  # 290 310 300
        (9, 300.0, 4, 100.0, 2.0, 2 * S, 200 / (2 * S), True, "up", False, ORDINARY),  # 100 104 96 100
    ])  # fmt: skip
    assert_frame_equal(table, expected)


def test_a_flat_baseline_falls_back_to_the_mean_absolute_deviation():
    # Four of five days at 3: MAD = 0; the mean absolute deviation from the median is 0.4.
    mostly_flat = np.array([3.0, 3.0, 3.0, 3.0, 5.0])
    assert robust_score(4.0, mostly_flat, min_baseline=3) == RobustScore(3.0, 0.0, 1.253314 * 0.4, pytest.approx(1 / (1.253314 * 0.4)))
    assert robust_score(6.0, mostly_flat, min_baseline=3).z == pytest.approx(3 / (1.253314 * 0.4))
    # Every day the same: no spread to judge a change by, so no verdict unless nothing changed.
    flat = np.array([3.0, 3.0, 3.0])
    assert robust_score(3.0, flat, min_baseline=3) == RobustScore(3.0, 0.0, None, 0.0)
    assert robust_score(4.0, flat, min_baseline=3) == RobustScore(3.0, 0.0, None, None)


def test_a_change_of_a_flat_metric_gets_no_verdict():
    table = detect_anomalies(daily("new_users", [2, 2, 2, 3]), min_baseline=3)
    expected = verdicts("new_users", [
        (1, 2.0, 0, None, None, None, None, None, None, None, ORDINARY),
        (2, 2.0, 1, 2.0, 0.0, None, None, None, None, None, ORDINARY),
        (3, 2.0, 2, 2.0, 0.0, None, None, None, None, None, ORDINARY),
        (4, 3.0, 3, 2.0, 0.0, None, None, None, None, None, ORDINARY),
    ])  # fmt: skip
    assert_frame_equal(table, expected)


def test_null_values_neither_get_nor_give_a_verdict_and_rows_go_by_date_then_kpi():
    frame = pl.DataFrame({
        "date": [day(n) for n in range(1, 5)],
        "aov": [50.0, None, 70.0, 60.0],
        "orders": [1, 0, 1, 1],
    })  # fmt: skip
    table = detect_anomalies(frame, kpis=["orders", "aov"], min_baseline=2)
    assert table.select("date", "kpi", "baseline_size", "robust_z").rows() == [
        (day(1), "orders", 0, None), (day(1), "aov", 0, None),
        (day(2), "orders", 1, None), (day(2), "aov", 1, None),
        (day(3), "orders", 2, pytest.approx(0.5 / (0.5 * S))), (day(3), "aov", 1, None),
        (day(4), "orders", 3, 0.0), (day(4), "aov", 2, pytest.approx((60 - 60) / (10 * S))),
    ]  # fmt: skip


def test_anomaly_inputs_are_checked():
    with pytest.raises(ValueError, match="unknown KPI"):
        detect_anomalies(daily("orders", [1.0]), kpis=["likes"])
    with pytest.raises(ValueError, match="no column"):
        detect_anomalies(daily("orders", [1.0]), kpis=["gmv"])


def test_special_days_cover_campaign_windows_and_holidays():
    campaigns = pl.DataFrame({
        "campaign_id": [1, 2], "start_date": [day(3), day(10)], "end_date": [day(5), day(10)],
    })  # fmt: skip
    assert special_days(campaigns, holidays=[day(20)]) == {day(3), day(4), day(5), day(10), day(20)}
    assert special_days(None) == set()


def test_baseline_days_are_the_last_four_weeks_for_ordinary_days_and_the_last_special_days_else():
    days = [date(2026, 1, 1) + timedelta(days=n) for n in range(90)]
    special = {date(2026, 1, 5), date(2026, 1, 6), date(2026, 3, 1), date(2026, 3, 20)}
    ordinary = baseline_days(date(2026, 3, 10), days, special)
    assert ordinary[0] == date(2026, 2, 10) and ordinary[-1] == date(2026, 3, 9)
    assert len(ordinary) == 27  # 28 days less 1 March
    assert baseline_days(date(2026, 3, 20), days, special, window=2) == [date(2026, 1, 6), date(2026, 3, 1)]


@pytest.fixture(scope="module")
def contributor_shop():
    """Day judged: 10 March; baseline: 8 and 9 March."""
    orders = pl.DataFrame({
        "order_id": [1, 2, 3, 4, 5],
        "user_id": [1, 2, 1, 3, 4],
        "created_at": [utc("2026-03-08 02:00"), utc("2026-03-09 02:00"), utc("2026-03-10 02:00"),
                       utc("2026-03-10 03:00"), utc("2026-03-10 04:00")],
        "amount": [100.0, 60.0, 300.0, 40.0, 999.0],
        "status": ["paid", "completed", "paid", "shipped", "cancelled"],
        "channel": ["ads", "organic", "ads", None, "ads"],
    })  # fmt: skip
    # Order 3 holds shoes for 150 and a bag for 50: its 300 splits 225 / 75. Order 4 has no items.
    order_items = pl.DataFrame({
        "order_id": [1, 2, 3, 3, 5], "product_id": [1, 2, 1, 2, 1],
        "quantity": [1, 1, 1, 1, 9], "unit_price": [100.0, 60.0, 150.0, 50.0, 111.0],
    })  # fmt: skip
    products = pl.DataFrame({"product_id": [1, 2], "name": ["runner", "tote"], "category": ["shoes", "bags"]})
    event_rows = [
        (1, "2026-03-09 15:50", "ads"),  # 23:50 local on the 9th ...
        (1, "2026-03-09 16:10", "organic"),  # ... and 00:10 on the 10th: the same session, from ads
        (1, "2026-03-10 05:00", "organic"),  # a new session on the 10th
        (2, "2026-03-10 02:00", "organic"),
        (3, "2026-03-09 02:00", "organic"),
        (4, "2026-03-10 03:00", "email"),
    ]
    events = pl.DataFrame({
        "user_id": [row[0] for row in event_rows],
        "event_time": [utc(row[1]) for row in event_rows],
        "event_type": ["page_view"] * len(event_rows),
        "channel": [row[2] for row in event_rows],
    })  # fmt: skip
    events, sessions = derive_sessions(events)
    return events, sessions, orders, order_items, products


def contributions(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=CONTRIBUTOR_SCHEMA, orient="row")


def test_gmv_contributors_by_channel_and_category(contributor_shop):
    table = alert_contributors(*contributor_shop, kpi="gmv", day=day(10), baseline_days=[day(8), day(9)], tz=TZ)
    # GMV went from a mean of 80 to 340: a change of 260.
    expected = contributions([
        ("channel", "ads", 300.0, 50.0, 250.0, 250 / 260),
        ("channel", "(unknown)", 40.0, 0.0, 40.0, 40 / 260),
        ("channel", "organic", 0.0, 30.0, -30.0, -30 / 260),
        ("category", "shoes", 225.0, 50.0, 175.0, 175 / 260),
        ("category", "bags", 75.0, 30.0, 45.0, 45 / 260),
        ("category", "(unknown)", 40.0, 0.0, 40.0, 40 / 260),
    ])  # fmt: skip
    assert_frame_equal(table, expected)


def test_order_contributors_split_an_order_over_its_categories(contributor_shop):
    table = alert_contributors(*contributor_shop, kpi="orders", day=day(10), baseline_days=[day(8), day(9)], tz=TZ)
    expected = contributions([
        ("channel", "(unknown)", 1.0, 0.0, 1.0, 1.0),
        ("channel", "ads", 1.0, 0.5, 0.5, 0.5),
        ("channel", "organic", 0.0, 0.5, -0.5, -0.5),
        ("category", "(unknown)", 1.0, 0.0, 1.0, 1.0),
        ("category", "bags", 0.25, 0.5, -0.25, -0.25),
        ("category", "shoes", 0.75, 0.5, 0.25, 0.25),
    ])  # fmt: skip
    assert_frame_equal(table, expected)


def test_traffic_contributors_count_sessions_by_start_and_users_by_their_first_session_of_the_day(contributor_shop):
    sessions = alert_contributors(*contributor_shop, kpi="sessions", day=day(10), baseline_days=[day(9)], tz=TZ)
    assert_frame_equal(sessions, contributions([
        ("channel", "ads", 0.0, 1.0, -1.0, -1.0),
        ("channel", "email", 1.0, 0.0, 1.0, 1.0),
        ("channel", "organic", 2.0, 1.0, 1.0, 1.0),
    ]))  # fmt: skip
    users = alert_contributors(*contributor_shop, kpi="dau", day=day(10), baseline_days=[day(9)], tz=TZ)
    assert_frame_equal(users, contributions([
        ("channel", "email", 1.0, 0.0, 1.0, 1.0),
        ("channel", "ads", 1.0, 1.0, 0.0, 0.0),
        ("channel", "organic", 1.0, 1.0, 0.0, 0.0),
    ]))  # fmt: skip


def test_contributors_need_an_additive_kpi_and_a_baseline(contributor_shop):
    with pytest.raises(ValueError, match="additive KPIs"):
        alert_contributors(*contributor_shop, kpi="aov", day=day(10), baseline_days=[day(9)], tz=TZ)
    with pytest.raises(ValueError, match="at least one baseline day"):
        alert_contributors(*contributor_shop, kpi="gmv", day=day(10), baseline_days=[], tz=TZ)


def test_rule_alerts_name_the_rows_that_broke_each_rule():
    values = pl.DataFrame({
        "date": [day(1), day(1), day(2), day(2)],
        "channel": ["ads", "social", "ads", "social"],
        "cpc": [0.8, 1.2, 1.3, 1.1],
        "roi": [0.10, 0.02, 0.04, None],
    })  # fmt: skip
    rules = [Rule("cpc", ">", 1), Rule("roi", "<", 0.05), Rule("cpc", ">", 0.5, kind="relative_change")]
    expected = pl.DataFrame(
        [
            (day(1), "social", "cpc > 1", "cpc", "value", 1.2, 1.0),
            (day(1), "social", "roi < 0.05", "roi", "value", 0.02, 0.05),
            (day(2), "ads", "cpc > 1", "cpc", "value", 1.3, 1.0),
            (day(2), "ads", "roi < 0.05", "roi", "value", 0.04, 0.05),
            (day(2), "ads", "cpc relative change > 0.5", "cpc", "relative_change", 1.3 / 0.8 - 1, 0.5),
            (day(2), "social", "cpc > 1", "cpc", "value", 1.1, 1.0),
        ],
        schema={"date": pl.Date, "channel": pl.String} | RULE_ALERT_SCHEMA,
        orient="row",
    )
    assert_frame_equal(rule_alerts(values, rules, by=["channel"]), expected)


def test_a_relative_change_rule_on_a_daily_series_and_a_quiet_day():
    service = pl.DataFrame({"date": [day(1), day(2), day(3)], "first_response_hours": [10.0, 26.0, 20.0]})
    broken = rule_alerts(service, [Rule("first_response_hours", ">", 24), Rule("first_response_hours", ">=", 1.0, kind="relative_change")])
    assert broken.select("date", "rule", "value").rows() == [
        (day(2), "first_response_hours > 24", 26.0),
        (day(2), "first_response_hours relative change >= 1", 1.6),
    ]
    assert rule_alerts(service, [Rule("first_response_hours", "<", 0)]).schema == {"date": pl.Date} | RULE_ALERT_SCHEMA


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (("cpc", "=>", 1), "the operator must be one of >, <, >=, <="),
        (("cpc", ">", "1"), "the threshold must be a finite number"),
        (("cpc", ">", float("nan")), "the threshold must be a finite number"),
        (("", ">", 1), "name the metric"),
        (("cpc", ">", 1, "ratio"), "the kind must be one of value, relative_change"),
    ],
)
def test_rules_are_checked_with_clear_messages(arguments, message):
    with pytest.raises(ValueError, match=message):
        Rule(*arguments)


def test_rule_alerts_need_their_columns():
    with pytest.raises(ValueError, match="no column"):
        rule_alerts(pl.DataFrame({"date": [day(1)], "roi": [0.1]}), [Rule("cpc", ">", 1)])
    with pytest.raises(ValueError, match="needs a date column"):
        rule_alerts(pl.DataFrame({"cpc": [1.5]}), [Rule("cpc", ">", 0.2, kind="relative_change")])


@pytest.fixture(scope="module")
def sample_daily(small_shop):
    start, end = small_shop.date_span(TZ)
    frames = (small_shop.events, small_shop.sessions, small_shop.orders, small_shop.users)
    return daily_kpis(*frames, start=start, end=end, tz=TZ)


def test_double_11_is_a_planned_peak_against_campaign_days_but_an_alarm_against_ordinary_days(small_shop, sample_daily):
    special = special_days(small_shop.campaigns)
    double_11 = date(2026, 11, 11)
    assert double_11 in special and sample_daily["date"].max() > double_11
    as_campaign_day = detect_anomalies(sample_daily, kpis=["gmv"], special_days=special)
    as_ordinary_day = detect_anomalies(sample_daily, kpis=["gmv"], special_days=special - {double_11})
    verdict = as_campaign_day.filter(pl.col("date") == double_11).row(0, named=True)
    assert (verdict["compared_with"], verdict["is_alert"]) == (CAMPAIGN, False)
    verdict = as_ordinary_day.filter(pl.col("date") == double_11).row(0, named=True)
    assert (verdict["compared_with"], verdict["is_alert"], verdict["direction"]) == (ORDINARY, True, "up")


def test_contributors_on_the_sample_shop_add_up_to_the_kpis_change(small_shop, sample_daily):
    double_11 = date(2026, 11, 11)
    baseline = baseline_days(double_11, sample_daily["date"].to_list(), special_days(small_shop.campaigns))
    tables = (small_shop.events, small_shop.sessions, small_shop.orders, small_shop.order_items, small_shop.products)
    for kpi in ("gmv", "orders", "dau", "sessions"):
        kpi_values = sample_daily.select("date", kpi)
        change = kpi_values.filter(pl.col("date") == double_11)[kpi].item() - kpi_values.filter(pl.col("date").is_in(baseline))[kpi].mean()
        table = alert_contributors(*tables, kpi=kpi, day=double_11, baseline_days=baseline, tz=TZ)
        by_dimension = table.group_by("dimension").agg(pl.col("change", "share").sum())
        for total_change, total_share in by_dimension.select("change", "share").rows():
            assert (total_change, total_share) == (pytest.approx(change), pytest.approx(1.0))


@given(
    offsets=st.lists(st.integers(0, 80), min_size=1, max_size=45, unique=True),
    values=st.lists(st.one_of(st.none(), st.sampled_from([0.0, 1.0, 3.0]), st.floats(-50, 500, allow_nan=False)), min_size=45, max_size=45),
    special_offsets=st.sets(st.integers(0, 80), max_size=20),
    window=st.integers(1, 10),
    min_baseline=st.integers(1, 5),
)
@hypothesis_settings(max_examples=200, deadline=None)
def test_verdicts_equal_robust_score_over_baseline_days_day_by_day(offsets, values, special_offsets, window, min_baseline):
    """detect_anomalies scores every day at once; the oracle scores each day alone, with the
    definitions' own functions: baseline_days, then robust_score over its non-null values.
    Days are sparse (a table may skip days), values repeat (MAD 0) and some are null."""
    days = [day(1) + timedelta(days=offset) for offset in sorted(offsets)]
    frame = pl.DataFrame({"date": days, "gmv": values[: len(days)]}, schema={"date": pl.Date, "gmv": pl.Float64})
    special = {day(1) + timedelta(days=offset) for offset in special_offsets}
    table = detect_anomalies(frame, special_days=special, window=window, min_baseline=min_baseline)
    value_of = dict(zip(days, values[: len(days)]))
    for row in table.iter_rows(named=True):
        baseline = np.array([value_of[other] for other in baseline_days(row["date"], days, special, window=window) if value_of[other] is not None])
        score = robust_score(value_of[row["date"]], baseline, min_baseline=min_baseline)
        assert row["value"] == value_of[row["date"]]
        assert row["baseline_size"] == baseline.size
        assert row["compared_with"] == (CAMPAIGN if row["date"] in special else ORDINARY)
        for column, expected in (("baseline_median", score.median), ("mad", score.mad), ("scale", score.scale), ("robust_z", score.z)):
            assert (row[column] is None) == (expected is None), (column, row, score)
            if expected is not None:
                assert row[column] == pytest.approx(expected, rel=1e-9, abs=1e-9), (column, row, score)
