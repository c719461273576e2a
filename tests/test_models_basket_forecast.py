"""Association rules on hand-made baskets; the weekly demand frames on hand-made orders; the
forecaster recovering a known campaign lift from simulated weeks."""

from datetime import UTC, date, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from conftest import UTC_TIME
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from models.basket import association_rules, baskets
from models.forecast import (
    CAMPAIGN_FEATURES,
    WeeklyDemandForecaster,
    campaign_weeks,
    poisson_regression,
    seasonal_naive,
    weekly_units,
)

TZ = "Asia/Shanghai"
PRODUCTS = pl.DataFrame({"product_id": [1, 2, 3, 4], "name": ["tea", "cup", "pot", "book"], "category": ["Food", "Home", "Home", "Books"]})


def orders_on(days: list[date], statuses: list[str] | None = None) -> pl.DataFrame:
    """One order per day (noon in Shanghai), order_id 1, 2, ..., user 1."""
    return pl.DataFrame(
        {
            "order_id": list(range(1, len(days) + 1)),
            "user_id": [1] * len(days),
            "created_at": [datetime(day.year, day.month, day.day, 4, tzinfo=UTC) for day in days],
            "amount": [10.0] * len(days),
            "status": statuses or ["completed"] * len(days),
        },
        schema={"order_id": pl.Int64, "user_id": pl.Int64, "created_at": UTC_TIME, "amount": pl.Float64, "status": pl.String},
    )


def items(rows) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"order_id": pl.Int64, "product_id": pl.Int64, "quantity": pl.Int64}, orient="row").with_columns(unit_price=pl.lit(1.0))


def test_pair_rules_have_the_support_confidence_and_lift_of_their_definitions():
    # ten valid baskets: tea+cup in 4 (a repeated line counts once), tea alone in 1, cup+pot
    # in 2, pot alone in 2, book alone in 1; a cancelled order with tea+book counts for nothing
    lines = [(1, 1, 1), (1, 2, 1), (2, 1, 2), (2, 2, 1), (3, 1, 1), (3, 2, 1), (3, 1, 1), (4, 1, 1), (4, 2, 3),
             (5, 1, 1), (6, 2, 1), (6, 3, 1), (7, 2, 1), (7, 3, 1), (8, 3, 1), (9, 3, 1), (10, 4, 1),
             (11, 1, 1), (11, 4, 1)]
    statuses = ["completed"] * 10 + ["cancelled"]
    orders = orders_on([date(2026, 3, 1)] * 11, statuses)
    basket_items = baskets(orders, items(lines), PRODUCTS, tz=TZ)
    rules = association_rules(basket_items, min_support=0.2)
    # tea in 5 of 10, cup in 6, pot in 4, book in 1 (below the minimum); tea+cup in 4, cup+pot in 2
    expected = pl.DataFrame(
        [
            ("1", "2", 4, 0.4, 4 / 5, 0.4 / (0.5 * 0.6), 0.5, 0.6),
            ("2", "1", 4, 0.4, 4 / 6, 0.4 / (0.5 * 0.6), 0.6, 0.5),
            ("2", "3", 2, 0.2, 2 / 6, 0.2 / (0.6 * 0.4), 0.6, 0.4),
            ("3", "2", 2, 0.2, 2 / 4, 0.2 / (0.6 * 0.4), 0.4, 0.6),
        ],
        schema=["antecedent", "consequent", "baskets_together", "support", "confidence", "lift", "antecedent_support", "consequent_support"],
        orient="row",
    )
    assert_frame_equal(rules, expected, check_dtypes=False)
    # a higher minimum support keeps the tea-cup pair only; a minimum confidence drops cup -> pot
    assert association_rules(basket_items, min_support=0.3)[["antecedent", "consequent"]].rows() == [("1", "2"), ("2", "1")]
    assert association_rules(basket_items, min_support=0.2, min_confidence=0.5)[["antecedent", "consequent"]].rows() == [
        ("1", "2"), ("2", "1"), ("3", "2"),
    ]
    # by category: Food (tea) in 5 baskets, Home (cup or pot) in 8, both in 4: lift 0.4 / (0.5 x 0.8) = 1
    by_category = association_rules(baskets(orders, items(lines), PRODUCTS, tz=TZ, level="category"), min_support=0.1)
    food_home = by_category.filter(pl.col("antecedent") == "Food", pl.col("consequent") == "Home").row(0, named=True)
    assert (food_home["support"], food_home["confidence"], food_home["lift"]) == pytest.approx((0.4, 0.8, 1.0))
    with pytest.raises(ValueError, match="minimum support is a share"):
        association_rules(basket_items, min_support=0)


def test_weekly_units_keep_whole_weeks_and_fill_empty_ones():
    # 2026-03-01 is a Sunday: its week is not whole; weeks of 2 Mar and 9 Mar are; 16 Mar is cut by `end`
    days = [date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 8), date(2026, 3, 10), date(2026, 3, 16)]
    orders = orders_on(days, ["completed", "paid", "completed", "cancelled", "completed"])
    lines = items([(1, 1, 5), (2, 1, 2), (2, 2, 1), (3, 2, 4), (4, 1, 9), (5, 1, 7)])
    units = weekly_units(orders, lines, PRODUCTS, tz=TZ, end=date(2026, 3, 17))
    expected = pl.DataFrame(
        {"week": [date(2026, 3, 2)] * 2 + [date(2026, 3, 9)] * 2, "category": ["Food", "Home"] * 2, "units": [2.0, 5.0, 0.0, 0.0]}
    )
    assert_frame_equal(units, expected)
    naive = seasonal_naive(units, [date(2026, 3, 16), date(2026, 3, 23)])
    assert naive.sort("week", "category")["seasonal_naive"].to_list() == [0.0, 0.0, 0.0, 0.0]


def test_campaign_weeks_count_the_days_each_campaign_covers():
    campaigns = pl.DataFrame({
        "campaign_id": [1, 2], "name": ["festival", "email"],
        "start_date": [date(2026, 3, 5), date(2026, 3, 9)], "end_date": [date(2026, 3, 11), date(2026, 3, 10)],
        "channel": [None, "email"], "budget": [700.0, 200.0],
    })
    features = campaign_weeks(campaigns, [date(2026, 3, 2), date(2026, 3, 9), date(2026, 3, 16)])
    # festival: 4 days in the first week, 3 in the second, 100 a day; email: 2 days, 100 a day
    assert features["all_channel_share"].to_list() == pytest.approx([4 / 7, 3 / 7, 0.0])
    assert features["channel_share"].to_list() == pytest.approx([0.0, 2 / 7, 0.0])
    assert features["budget_intensity"].to_list() == pytest.approx([4 / 7, 5 / 7, 0.0])


def test_forecaster_recovers_a_known_campaign_lift():
    rng = np.random.default_rng(3)
    weeks = [date(2025, 1, 6) + timedelta(weeks=k) for k in range(60)]
    festival = np.zeros(60)
    festival[[10, 11, 25, 40, 41, 55]] = [0.5, 1.0, 1.0, 0.5, 1.0, 1.0]
    levels = {"Food": 40.0, "Home": 120.0}
    lift = np.exp(1.2 * festival)  # a full festival week sells 3.3 times an ordinary one
    units = pl.DataFrame({
        "week": [week for week in weeks for _ in levels], "category": list(levels) * 60,
        "units": rng.poisson(np.outer(lift, list(levels.values()))).ravel().astype(float),
    })
    features = pl.DataFrame({"week": weeks, "all_channel_share": festival, "channel_share": 0.0, "budget_intensity": 0.0})
    model = WeeklyDemandForecaster(halflife_weeks=52).fit(units, features)
    assert dict(zip(CAMPAIGN_FEATURES, model.beta_)) == pytest.approx({"all_channel_share": 1.2, "channel_share": 0.0, "budget_intensity": 0.0}, abs=0.05)
    assert model.levels_ == pytest.approx(levels, rel=0.05)
    ahead = pl.DataFrame({"week": [date(2026, 3, 2)], "all_channel_share": [1.0], "channel_share": [0.0], "budget_intensity": [0.0]})
    forecast = model.predict(ahead)
    assert forecast["forecast"].to_list() == pytest.approx([40 * np.exp(1.2), 120 * np.exp(1.2)], rel=0.08)


def test_poisson_regression_solves_the_likelihood_equations():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(200, 2))
    counts = rng.poisson(np.exp(1.0 + features @ np.array([0.5, -0.3])))
    coefficients = poisson_regression(features, counts)
    design = np.hstack([np.ones((200, 1)), features])
    # at the maximum the score X'(y - mu) is zero
    np.testing.assert_allclose(design.T @ (counts - np.exp(design @ coefficients)), 0, atol=1e-6)
    assert coefficients == pytest.approx([1.0, 0.5, -0.3], abs=0.1)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sets(st.sampled_from("abcde"), min_size=1, max_size=4), min_size=1, max_size=25), st.sampled_from([0.05, 0.1, 0.2, 0.3]))
def test_rules_equal_a_brute_force_count_of_random_baskets(basket_sets, min_support):
    basket_items = pl.DataFrame(
        [(order, item) for order, items_in in enumerate(basket_sets) for item in sorted(items_in)],
        schema={"order_id": pl.Int64, "item": pl.String}, orient="row",
    )
    rules = association_rules(basket_items, min_support=min_support)
    total = len(basket_sets)
    share = lambda *wanted: sum(set(wanted) <= items_in for items_in in basket_sets) / total  # noqa: E731
    expected = {
        (a, b): (share(a, b), share(a, b) / share(a), share(a, b) / (share(a) * share(b)))
        for a in "abcde" for b in "abcde" if a != b and share(a, b) >= min_support
    }
    got = {(row["antecedent"], row["consequent"]): (row["support"], row["confidence"], row["lift"]) for row in rules.to_dicts()}
    assert got.keys() == expected.keys()
    for pair, values in expected.items():
        assert got[pair] == pytest.approx(values)
