"""Before/after comparisons on a hand-made shop, checked against formulas written out here.

Business zone Asia/Shanghai (UTC+8): every event below falls on the same local date as its
UTC date. Before = 2026-03-02..03-04, after = 2026-03-09..03-11.
"""

import math
from datetime import date

import numpy as np
import polars as pl
import pytest
from conftest import utc
from polars.testing import assert_frame_equal
from scipy import stats

from metrics import compare
from metrics.compare import (
    COMPARISON_SCHEMA,
    Comparison,
    before_after,
    campaign_effect,
    campaign_periods,
    mean_difference,
    proportion_difference,
)
from metrics.kpis import daily_kpis
from metrics.periods import period_summary
from metrics.sessions import derive_sessions

TZ = "Asia/Shanghai"
BEFORE = (date(2026, 3, 2), date(2026, 3, 4))
AFTER = (date(2026, 3, 9), date(2026, 3, 11))


@pytest.fixture(scope="module")
def shop():
    event_rows = [
        # before: 5 active users, buyers 1 and 2; 6 sessions, 3 with a purchase
        (1, "2026-03-02 02:00", "page_view"), (1, "2026-03-02 02:05", "purchase"),
        (3, "2026-03-02 05:00", "page_view"),
        (2, "2026-03-03 02:00", "page_view"), (2, "2026-03-03 02:10", "purchase"),
        (4, "2026-03-03 05:00", "page_view"), (4, "2026-03-03 05:10", "add_to_cart"),
        (1, "2026-03-04 03:00", "page_view"), (1, "2026-03-04 03:05", "purchase"),
        (5, "2026-03-04 05:00", "page_view"),
        # after: 4 active users, buyers 1, 2 and 3; 4 sessions, 3 with a purchase
        (1, "2026-03-09 02:00", "page_view"), (1, "2026-03-09 02:05", "purchase"),
        (2, "2026-03-09 03:00", "page_view"), (2, "2026-03-09 03:05", "purchase"),
        (4, "2026-03-10 02:00", "page_view"), (4, "2026-03-10 02:05", "checkout"),
        (3, "2026-03-11 02:00", "page_view"), (3, "2026-03-11 02:05", "purchase"),
        # the data goes on after the after period, so neither period is in progress
        (5, "2026-03-12 02:00", "page_view"),
    ]  # fmt: skip
    events = pl.DataFrame(
        {
            "user_id": [row[0] for row in event_rows],
            "event_time": [utc(row[1]) for row in event_rows],
            "event_type": [row[2] for row in event_rows],
        }
    )
    orders = pl.DataFrame(
        {
            "order_id": [1, 2, 3, 4, 5, 6, 7],
            "user_id": [1, 2, 1, 1, 2, 3, 4],
            "created_at": [
                utc("2026-03-02 02:05"), utc("2026-03-03 02:10"), utc("2026-03-04 03:05"),
                utc("2026-03-09 02:05"), utc("2026-03-09 03:05"), utc("2026-03-11 02:05"),
                utc("2026-03-10 02:06"),
            ],
            "amount": [100.0, 60.0, 20.0, 150.0, 90.0, 30.0, 500.0],
            "status": ["completed", "paid", "shipped", "paid", "completed", "paid", "cancelled"],
        }
    )  # fmt: skip
    users = pl.DataFrame({"user_id": [1, 2, 3, 4, 5], "signup_at": [utc("2026-01-01 00:00")] * 5})
    events, sessions = derive_sessions(events)
    return events, sessions, orders, users


def wilson(successes: int, trials: int, z: float) -> tuple[float, float]:
    """The Wilson score interval in its textbook form."""
    p = successes / trials
    root = z * math.sqrt(z * z + 4 * trials * p * (1 - p))
    return (2 * trials * p + z * z - root) / (2 * (trials + z * z)), (2 * trials * p + z * z + root) / (2 * (trials + z * z))


def two_proportions_by_hand(x1: int, n1: int, x2: int, n2: int) -> tuple:
    """(difference, Newcombe low, Newcombe high, pooled two-sided p) for p2 - p1 at 95 %."""
    z = 1.959963984540054
    p1, p2 = x1 / n1, x2 / n2
    (l1, u1), (l2, u2) = wilson(x1, n1, z), wilson(x2, n2, z)
    pooled = (x1 + x2) / (n1 + n2)
    statistic = (p2 - p1) / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    return (
        p2 - p1,
        p2 - p1 - math.sqrt((p2 - l2) ** 2 + (u1 - p1) ** 2),
        p2 - p1 + math.sqrt((u2 - p2) ** 2 + (p1 - l1) ** 2),
        math.erfc(abs(statistic) / math.sqrt(2)),
    )


def welch_by_hand(before: list[float], after: list[float]) -> tuple:
    """(difference, low, high, two-sided p) of Welch's test at 95 %, Welch–Satterthwaite df."""
    a, b = np.array(after), np.array(before)
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    error = math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))
    difference = a.mean() - b.mean()
    quantile = stats.t.ppf(0.975, df)
    return difference, difference - quantile * error, difference + quantile * error, 2 * stats.t.sf(abs(difference) / error, df)


def expected_row(measure, before, after, by_hand, test):
    difference, low, high, p = by_hand
    return {
        "measure": measure, "before": before, "after": after, "difference": difference,
        "relative_change": after / before - 1, "ci_low": low, "ci_high": high, "p_value": p,
        "test": test, "significant": p < 0.05,
    }  # fmt: skip


def test_before_after_matches_the_formulas_worked_by_hand(shop):
    table = before_after(*shop, before=BEFORE, after=AFTER, tz=TZ, bootstrap_samples=0)
    expected = pl.DataFrame(
        [
            expected_row("conversion_rate", 2 / 5, 3 / 4, two_proportions_by_hand(2, 5, 3, 4), "two-proportion z-test, Newcombe CI"),
            expected_row("session_conversion", 3 / 6, 3 / 4, two_proportions_by_hand(3, 6, 3, 4), "two-proportion z-test, Newcombe CI"),
            expected_row("aov", 60.0, 90.0, welch_by_hand([100, 60, 20], [150, 90, 30]), "Welch t-test"),
            # After: 240 on the 9th, nothing on the 10th (its only order is cancelled), 30 on the 11th.
            expected_row("gmv_per_day", 60.0, 90.0, welch_by_hand([100, 60, 20], [240, 0, 30]), "Welch t-test"),
        ],
        schema=COMPARISON_SCHEMA,
    )
    assert_frame_equal(table, expected)


# Newcombe (1998), Statistics in Medicine 17:873-890, Table II, method 10, examples (a)-(f):
# (successes, trials) of the first and second proportion, and the 95 % interval of p1 - p2.
NEWCOMBE_EXAMPLES = [
    ((56, 70), (48, 80), (0.0524, 0.3339)),
    ((9, 10), (3, 10), (0.1705, 0.8090)),
    ((6, 7), (2, 7), (0.0582, 0.8062)),
    ((5, 56), (0, 29), (-0.0381, 0.1926)),
    ((0, 10), (0, 20), (-0.1611, 0.2775)),
    ((10, 10), (0, 20), (0.6791, 1.0000)),
]


@pytest.mark.parametrize(("first", "second", "interval"), NEWCOMBE_EXAMPLES)
def test_proportion_interval_matches_newcombes_published_values(first, second, interval):
    comparison = proportion_difference(second, first)
    assert (round(comparison.ci_low, 4), round(comparison.ci_high, 4)) == interval


def test_proportions_without_variation_have_an_interval_but_no_p_value():
    assert proportion_difference((0, 20), (0, 10)) == Comparison(
        0.0, 0.0, 0.0, pytest.approx(-0.1611, abs=5e-5), pytest.approx(0.2775, abs=5e-5), None,
        "two-proportion z-test, Newcombe CI",
    )


def test_a_ratio_above_one_is_not_tested_as_a_proportion():
    assert proportion_difference((3, 2), (1, 2)) == Comparison(1.5, 0.5, -1.0)


def test_welch_matches_scipy_and_needs_two_values_with_spread():
    before, after = np.array([12.0, 15.0, 9.0, 30.0]), np.array([20.0, 22.0, 41.0, 18.0, 25.0])
    comparison = mean_difference(before, after)
    reference = stats.ttest_ind(after, before, equal_var=False)
    by_hand = welch_by_hand(before.tolist(), after.tolist())
    assert comparison.p_value == pytest.approx(reference.pvalue)
    assert (comparison.difference, comparison.ci_low, comparison.ci_high) == pytest.approx(by_hand[:3])
    assert mean_difference(np.array([5.0]), after) == Comparison(5.0, after.mean(), after.mean() - 5.0)
    assert mean_difference(np.array([5.0, 5.0]), np.array([7.0, 7.0])) == Comparison(5.0, 7.0, 2.0)
    assert mean_difference(np.array([]), after) == Comparison(None, after.mean())


def test_bootstrap_interval_is_reproducible_with_a_seed_and_near_welch_on_a_large_sample():
    rng = np.random.default_rng(42)
    before, after = rng.lognormal(4.0, 0.5, 400), rng.lognormal(4.1, 0.5, 500)
    first = mean_difference(before, after, bootstrap_samples=2000, seed=7)
    again = mean_difference(before, after, bootstrap_samples=2000, seed=7)
    other_seed = mean_difference(before, after, bootstrap_samples=2000, seed=8)
    welch = mean_difference(before, after)
    assert first == again
    assert first.ci_low != other_seed.ci_low
    assert first.test == "Welch t-test, bootstrap CI" and first.p_value == welch.p_value
    assert first.ci_low < first.difference < first.ci_high
    welch_width = welch.ci_high - welch.ci_low
    assert first.ci_low == pytest.approx(welch.ci_low, abs=0.1 * welch_width)
    assert first.ci_high == pytest.approx(welch.ci_high, abs=0.1 * welch_width)


def test_bootstrap_in_small_chunks_still_estimates_the_same_interval(monkeypatch):
    rng = np.random.default_rng(42)
    before, after = rng.lognormal(4.0, 0.5, 400), rng.lognormal(4.1, 0.5, 500)
    whole = mean_difference(before, after, bootstrap_samples=2000, seed=7)
    monkeypatch.setattr(compare, "_BOOTSTRAP_CHUNK_VALUES", 1_000)
    chunked = mean_difference(before, after, bootstrap_samples=2000, seed=7)
    assert chunked == mean_difference(before, after, bootstrap_samples=2000, seed=7)
    width = whole.ci_high - whole.ci_low
    assert (chunked.ci_low, chunked.ci_high) == pytest.approx((whole.ci_low, whole.ci_high), abs=0.1 * width)


def test_before_after_reports_the_bootstrap_interval_for_aov_reproducibly(shop):
    first = before_after(*shop, before=BEFORE, after=AFTER, tz=TZ, seed=3)
    assert_frame_equal(first, before_after(*shop, before=BEFORE, after=AFTER, tz=TZ, seed=3))
    assert first.filter(pl.col("measure") == "aov")["test"].item() == "Welch t-test, bootstrap CI"


def test_empty_periods_give_nulls(shop):
    empty_before = before_after(*shop, before=(date(2025, 3, 2), date(2025, 3, 4)), after=AFTER, tz=TZ)
    expected = pl.DataFrame(
        {
            "measure": ["conversion_rate", "session_conversion", "aov", "gmv_per_day"],
            "before": [None] * 4,
            "after": [3 / 4, 3 / 4, 90.0, 90.0],
        }
        | {name: [None] * 4 for name in list(COMPARISON_SCHEMA)[3:]},
        schema=COMPARISON_SCHEMA,
    )
    assert_frame_equal(empty_before, expected)
    both_empty = before_after(*shop, before=(date(2027, 1, 1), date(2027, 1, 3)), after=(date(2027, 2, 1), date(2027, 2, 3)), tz=TZ)
    assert both_empty.select(pl.exclude("measure").is_null().all()).row(0) == (True,) * 9


def test_a_period_in_progress_is_compared_with_the_same_elapsed_part(shop):
    # The data ends at 12:00 local on the 10th: 1.5 days into the after period, so the before
    # period stops at 12:00 local on the 3rd, and user 4's visit that afternoon is left out.
    table = before_after(*shop, before=BEFORE, after=AFTER, tz=TZ, data_end=utc("2026-03-10 04:00"), bootstrap_samples=0)
    assert table.select("measure", "before", "after").rows() == [
        ("conversion_rate", 2 / 3, 2 / 3),
        ("session_conversion", 2 / 3, 2 / 3),
        ("aov", 80.0, 120.0),
        ("gmv_per_day", 80.0, 120.0),
    ]


def test_periods_are_checked():
    with pytest.raises(ValueError, match="the after period ends"):
        before_after(*[pl.DataFrame()] * 4, before=BEFORE, after=(AFTER[1], AFTER[0]), tz=TZ)


def test_campaign_effect_compares_the_window_with_the_same_length_just_before(shop):
    campaigns = pl.DataFrame(
        {"campaign_id": [7], "name": ["Spring sale"], "start_date": [AFTER[0]], "end_date": [AFTER[1]]}
    )
    baseline = (date(2026, 3, 6), date(2026, 3, 8))
    assert campaign_periods(campaigns, 7) == (baseline, AFTER)
    assert_frame_equal(
        campaign_effect(*shop, campaigns=campaigns, campaign_id=7, tz=TZ),
        before_after(*shop, before=baseline, after=AFTER, tz=TZ),
    )
    with pytest.raises(ValueError, match="no campaign with campaign_id 8"):
        campaign_periods(campaigns, 8)


def test_double_11_on_the_sample_shop_agrees_with_the_period_and_daily_kpis(small_shop):
    frames = (small_shop.events, small_shop.sessions, small_shop.orders, small_shop.users)
    double_11 = small_shop.campaigns.filter(pl.col("name").str.starts_with("Double 11"))["campaign_id"].item()
    baseline, window = campaign_periods(small_shop.campaigns, double_11)
    assert (baseline, window) == ((date(2026, 10, 21), date(2026, 10, 31)), (date(2026, 11, 1), date(2026, 11, 11)))
    effect = campaign_effect(*frames, campaigns=small_shop.campaigns, campaign_id=double_11, tz=TZ)
    values = {row["measure"]: row for row in effect.iter_rows(named=True)}
    for column, (start, end) in (("before", baseline), ("after", window)):
        summary = period_summary(*frames, start=start, end=end, tz=TZ)
        daily = daily_kpis(*frames, start=start, end=end, tz=TZ)
        for measure in ("conversion_rate", "session_conversion", "aov"):
            assert values[measure][column] == pytest.approx(summary[measure])
        assert values["gmv_per_day"][column] == pytest.approx(daily["gmv"].mean())
    assert values["gmv_per_day"]["ci_low"] < values["gmv_per_day"]["difference"] < values["gmv_per_day"]["ci_high"]
