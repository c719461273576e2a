"""RFM scores and segments, k-means clusters and user tags on hand-made customers."""

from datetime import UTC, date, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from conftest import UTC_TIME, utc
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from models.clusters import RfmClusters
from models.rfm import SEGMENTS, rfm_table, segment, segment_summary
from models.tags import TagRules, audience, tag_counts, user_tags

AS_OF = date(2026, 6, 30)
TZ = "Asia/Shanghai"


def shanghai_noon(day: date) -> datetime:
    """Noon of a business day in Shanghai, as UTC (04:00)."""
    return datetime(day.year, day.month, day.day, 4, tzinfo=UTC)


def orders_of(customers: dict[int, list[tuple[int, float, str | None]]]) -> pl.DataFrame:
    """Completed orders from {user_id: [(days before AS_OF, amount, coupon_code), ...]}."""
    rows = [
        (user_id, shanghai_noon(AS_OF - timedelta(days=days)), amount, coupon)
        for user_id, orders in customers.items() for days, amount, coupon in orders
    ]
    return pl.DataFrame(
        {
            "order_id": list(range(1, len(rows) + 1)),
            "user_id": [row[0] for row in rows],
            "created_at": [row[1] for row in rows],
            "amount": [row[2] for row in rows],
            "status": ["completed"] * len(rows),
            "coupon_code": [row[3] for row in rows],
        },
        schema={"order_id": pl.Int64, "user_id": pl.Int64, "created_at": UTC_TIME, "amount": pl.Float64, "status": pl.String, "coupon_code": pl.String},
    )


# user: (days since the last order, orders, expected segment). Ten customers, so each score
# holds two of them: recency ranks 1-2 score 5, ..., frequencies 9-10 score 5.
TEN_CUSTOMERS = {
    1: (1, 10, "champions"),
    2: (3, 1, "new"),
    3: (10, 8, "loyal"),
    4: (20, 2, "promising"),
    5: (40, 5, "need_attention"),
    6: (60, 3, "about_to_sleep"),
    7: (100, 9, "cannot_lose"),
    8: (150, 7, "at_risk"),
    9: (200, 6, "at_risk"),
    10: (300, 4, "hibernating"),
}


def test_ten_customers_land_in_the_segments_their_scores_define():
    orders = orders_of({
        user: [(recency + k, 10.0, None) for k in range(count)] for user, (recency, count, _) in TEN_CUSTOMERS.items()
    })
    # a cancelled order counts for nothing, and a late-evening UTC order is the next Shanghai day
    orders = pl.concat([
        orders,
        pl.DataFrame({"order_id": [100], "user_id": [2], "created_at": [utc("2026-06-30 00:00")], "amount": [999.0], "status": ["cancelled"], "coupon_code": [None]}, schema=orders.schema),
        pl.DataFrame({"order_id": [101], "user_id": [10], "created_at": [utc("2026-06-30 16:30")], "amount": [5.0], "status": ["completed"], "coupon_code": [None]}, schema=orders.schema),
    ])
    rfm = rfm_table(orders, as_of=AS_OF, tz=TZ)
    assert rfm["user_id"].to_list() == list(TEN_CUSTOMERS)
    assert rfm["segment"].to_list() == [segment for _, _, segment in TEN_CUSTOMERS.values()]
    assert rfm["recency_days"].to_list() == [recency for recency, _, _ in TEN_CUSTOMERS.values()]
    assert rfm["frequency"].to_list() == [count for _, count, _ in TEN_CUSTOMERS.values()]
    assert rfm["r_score"].to_list() == [5, 5, 4, 4, 3, 3, 2, 2, 1, 1]
    assert rfm["f_score"].to_list() == [5, 1, 4, 1, 3, 2, 5, 4, 3, 2]
    # ten orders of 10 each: monetary ranks like frequency
    assert rfm.filter(pl.col("user_id") == 1).select("monetary", "rfm_score").row(0) == (100.0, "555")
    summary = segment_summary(rfm)
    assert summary["segment"].to_list() == list(SEGMENTS)
    assert dict(zip(summary["segment"], summary["customers"])) == {
        "champions": 1, "loyal": 1, "potential_loyalist": 0, "new": 1, "promising": 1, "need_attention": 1,
        "about_to_sleep": 1, "cannot_lose": 1, "at_risk": 2, "hibernating": 1,
    }
    at_risk = summary.filter(pl.col("segment") == "at_risk").row(0, named=True)
    assert at_risk["gmv"] == 130.0 and at_risk["gmv_share"] == pytest.approx(130 / 550)
    assert at_risk["recency_days_mean"] == 175.0


def test_equal_values_share_a_score():
    # five one-time buyers and one with two orders: the five are all frequency score 1
    orders = orders_of({user: [(user, 50.0, None)] for user in range(1, 6)} | {6: [(6, 50.0, None), (7, 50.0, None)]})
    rfm = rfm_table(orders, as_of=AS_OF, tz=TZ)
    # 1 + floor(5 x share strictly worse): 0/6 worse -> 1; 5/6 worse -> 5
    assert rfm["f_score"].to_list() == [1, 1, 1, 1, 1, 5]
    assert rfm["m_score"].to_list() == [1, 1, 1, 1, 1, 5]
    # distinct recencies 1..6 days: 5, 4, 3, 2, 1, 0 customers are worse -> 1 + floor(5 x k / 6)
    assert rfm["r_score"].to_list() == [5, 4, 3, 2, 1, 1]


def test_every_recency_and_frequency_score_has_a_segment():
    grid = pl.DataFrame(
        [(r, f) for r in range(1, 6) for f in range(1, 6)], schema=["r_score", "f_score"], orient="row"
    ).with_columns(segment=segment())
    assert grid["segment"].null_count() == 0
    named = {(row["r_score"], row["f_score"]): row["segment"] for row in grid.to_dicts()}
    assert named[(5, 5)] == named[(5, 4)] == "champions"
    assert named[(4, 3)] == named[(5, 2)] == "potential_loyalist"
    assert named[(3, 4)] == "loyal"
    assert named[(1, 5)] == "cannot_lose" and named[(2, 3)] == "at_risk" and named[(1, 1)] == "hibernating"
    assert set(grid["segment"]) == set(SEGMENTS)


def test_clusters_find_three_groups_and_describe_them_in_words():
    rng = np.random.default_rng(0)
    groups = {  # (recency days, orders, GMV), 40 customers each with a little noise
        "recent, frequent, high spend": (2, 10, 5_000.0),
        "average": (30, 3, 300.0),
        "lapsed, one-off, low spend": (300, 1, 20.0),
    }
    rows = []
    for recency, frequency, monetary in groups.values():
        for _ in range(40):
            rows.append((len(rows) + 1, int(recency * rng.uniform(0.9, 1.1)), frequency, monetary * rng.uniform(0.9, 1.1)))
    rfm = pl.DataFrame(rows, schema=["user_id", "recency_days", "frequency", "monetary"], orient="row")
    model = RfmClusters().fit(rfm)
    assert model.k_ == 3, model.silhouettes_
    assert max(model.silhouettes_.values()) == model.silhouettes_[3] > 0.8
    clusters = model.clusters(rfm)
    assert clusters["description"].to_list() == list(groups)
    assert clusters["customers"].to_list() == [40, 40, 40]
    assert clusters["traits"].to_list()[0] == ["recent", "frequent", "high_spend"]
    # the labels of the members agree with their cluster's row
    labels = model.predict(rfm)
    assert len(set(labels[:40])) == len(set(labels[40:80])) == len(set(labels[80:])) == 1
    # a k set by the analyst is kept
    assert RfmClusters(n_clusters=2).fit(rfm).k_ == 2
    with pytest.raises(ValueError, match="k must be between 2 and"):
        RfmClusters(n_clusters=1).fit(rfm)


def test_tags_follow_their_rules_and_combine_into_an_audience():
    day = lambda days_before: shanghai_noon(AS_OF - timedelta(days=days_before))  # noqa: E731
    users = pl.DataFrame(
        {"user_id": [1, 2, 3, 4, 5], "signup_at": [day(400), day(10), day(29), day(30), day(200)]},
        schema={"user_id": pl.Int64, "signup_at": UTC_TIME},
    )
    events = pl.DataFrame(
        {"user_id": [1, 2, 3, 4, 5, 5], "event_time": [day(100), day(1), day(59), day(60), day(61), day(61)]},
        schema={"user_id": pl.Int64, "event_time": UTC_TIME},
    )
    orders = orders_of({
        # mean gap 10 days, last order 25 days ago > 2 x 10: churn risk; 2 of 3 with coupons
        1: [(25, 900.0, "A"), (35, 900.0, "B"), (45, 900.0, None)],
        # mean gap 10 days, last order 15 days ago: fine; one coupon in two orders
        2: [(15, 20.0, "C"), (25, 20.0, None)],
        # one order with a coupon: too few orders to be coupon-driven
        3: [(5, 30.0, "D")],
        4: [(5, 40.0, None)],
        5: [(5, 50.0, None)],
    })
    order_items = pl.DataFrame({
        "order_id": [1, 1, 2, 4, 5, 6, 7],
        "product_id": [10, 11, 10, 11, 10, 11, 10],
        "quantity": [2, 1, 1, 1, 1, 3, 1],
        "unit_price": [1.0] * 7,
    })
    products = pl.DataFrame({"product_id": [10, 11], "name": ["tea", "mug"], "category": ["Food", "Home"]})
    tags = user_tags(events, orders, users, order_items, products, as_of=AS_OF, tz=TZ)
    # high_value: user 1's 2,700 is the only top-fifth GMV. new: signed up 10 and 29 days ago
    # (the 30-day window is days 0..29 before). dormant: the 60 days up to AS_OF start 59
    # days before, so user 3's event 59 days ago keeps them active and user 4's 60 days ago
    # does not. churn_risk: user 1's last order is 25 days ago, over twice the 10-day mean
    # gap; user 2's 15 days is not. coupon_driven: 2 of 3 and 1 of 2 orders; user 3 has one
    # order. Categories: user 1 bought 3 Food units of 4, user 2 one Food and one Home (half
    # each), user 3 three Home units; user 4 bought a single unit, user 5's order has no items.
    expected = pl.DataFrame(
        [
            (1, "category:Food"), (1, "churn_risk"), (1, "coupon_driven"), (1, "dormant"), (1, "high_value"),
            (2, "category:Food"), (2, "category:Home"), (2, "coupon_driven"), (2, "new"),
            (3, "category:Home"), (3, "new"), (4, "dormant"), (5, "dormant"),
        ],
        schema={"user_id": pl.Int64, "tag": pl.String}, orient="row",
    )
    assert_frame_equal(tags, expected)
    assert dict(zip(*tag_counts(tags).to_dict(as_series=False).values())) == {
        "churn_risk": 1, "coupon_driven": 2, "dormant": 3, "high_value": 1, "new": 2,
        "category:Food": 2, "category:Home": 2,
    }
    assert list(tag_counts(tags)["tag"])[-2:] == ["category:Food", "category:Home"]
    assert audience(tags, any_of=("dormant",), none_of=("high_value",))["user_id"].to_list() == [4, 5]
    assert audience(tags, all_of=("coupon_driven", "category:Food"))["user_id"].to_list() == [1, 2]
    assert audience(tags, all_of=("new",), any_of=("category:Home", "churn_risk"))["tags"].to_list() == [
        "category:Food, category:Home, coupon_driven, new", "category:Home, new",
    ]
    stricter = user_tags(events, orders, users, order_items, products, as_of=AS_OF, tz=TZ, rules=TagRules(coupon_min_orders=3))
    assert audience(stricter, all_of=("coupon_driven",))["user_id"].to_list() == [1]
    with pytest.raises(ValueError, match="coupon_share is a share"):
        TagRules(coupon_share=1.5)
    with pytest.raises(ValueError, match="needs at least one tag"):
        audience(tags, none_of=("new",))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=6), min_size=1, max_size=30))
def test_scores_equal_a_brute_force_count_of_worse_customers(frequencies):
    orders = orders_of({user: [(k, 10.0, None) for k in range(count)] for user, count in enumerate(frequencies, start=1)})
    rfm = rfm_table(orders, as_of=AS_OF, tz=TZ)
    n = len(frequencies)
    expected = [1 + 5 * sum(other < mine for other in frequencies) // n for mine in frequencies]
    assert rfm["f_score"].to_list() == expected
    assert rfm["m_score"].to_list() == expected  # ten per order: monetary ranks as frequency
