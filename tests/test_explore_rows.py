"""Explore drill-down: the rows behind a pivot cell, on the hand-made shop of test_explore
(whose cells were computed by hand there) and, on the small sample shop, for every cell of
several pivots: the measure over a cell's rows is the cell's value."""

from datetime import timedelta

import polars as pl
import pytest
from test_explore import PERIOD, TZ, shop

from metrics.explore import PivotError, pivot
from metrics.explore_rows import available_dimensions, available_measures, cell_rows


def test_the_orders_behind_a_channel_cell_in_time_order():
    rows = cell_rows(shop(), measure="orders", rows="channel", values=("organic",), **PERIOD)
    # orders 3 and 5 have no channel: their users' acquisition channel (organic) stands in
    assert rows["order_id"].to_list() == [3, 5]
    assert rows.columns[0] == "channel" and rows["channel"].to_list() == ["organic", "organic"]
    assert str(rows["created_at"].dtype.time_zone) == TZ
    assert rows["created_at"].dt.strftime("%m-%d %H:%M").to_list() == ["03-01 18:00", "03-02 23:59"]


def test_the_items_behind_a_category_cell_add_up_to_its_gmv():
    rows = cell_rows(shop(), measure="gmv", rows="category", values=("Apparel",), **PERIOD)
    assert sorted(zip(rows["order_id"], rows["product_id"])) == [(2, 11), (3, 12), (4, 11)]
    assert (rows["quantity"] * rows["unit_price"]).sum() == 175.0


def test_a_cell_of_two_dimensions_and_its_distinct_buyers():
    rows = cell_rows(shop(), measure="buyers", rows="region", columns="device", values=("East", "app"), **PERIOD)
    assert rows["order_id"].to_list() == [2, 3] and rows["user_id"].n_unique() == 1
    assert rows.columns[:2] == ["region", "device"]


def test_orders_outside_campaigns_and_the_refunds_behind_a_cell():
    outside = cell_rows(shop(), measure="orders", rows="campaign", values=("(no campaign)",), **PERIOD)
    assert outside["order_id"].to_list() == [3, 7]
    refunds = cell_rows(shop(), measure="refunds", rows="channel", values=("social",), **PERIOD)
    assert refunds.select("order_id", "refund").rows() == [(4, 80.0)]


def test_a_cell_needs_one_value_per_dimension():
    with pytest.raises(PivotError, match="has 2 value"):
        cell_rows(shop(), measure="orders", rows="region", columns="device", values=("East",), **PERIOD)


def test_what_a_source_can_pivot():
    assert available_measures(shop()) == ["orders", "gmv", "units", "buyers", "refunds", "sessions", "new_users"]
    assert available_measures(shop(order_items=None)) == ["orders", "gmv", "buyers", "refunds", "sessions", "new_users"]
    assert available_dimensions(shop(), "sessions") == ["channel", "device", "region", "member_level"]
    assert available_dimensions(shop(), "gmv") == ["channel", "device", "region", "member_level", "category", "campaign"]
    assert available_dimensions(shop(products=None, campaigns=None), "gmv") == ["channel", "device", "region", "member_level"]
    assert available_dimensions(shop(), "units") == ["channel", "device", "region", "member_level", "category", "campaign"]


AGGREGATES = {
    "orders": lambda rows: rows["order_id"].n_unique(),
    "buyers": lambda rows: rows["user_id"].n_unique(),
    "sessions": lambda rows: rows.height,
    "new_users": lambda rows: rows.height,
    "refunds": lambda rows: rows["refund"].sum(),
    "units": lambda rows: rows["quantity"].sum(),
}


@pytest.mark.parametrize(
    ("measure", "rows", "columns"),
    [
        ("orders", "channel", "device"),
        ("gmv", "region", None),
        ("gmv", "category", "channel"),
        ("buyers", "member_level", "region"),
        ("sessions", "channel", "device"),
        ("new_users", "region", None),
        ("refunds", "campaign", None),
        ("units", "category", None),
    ],
)
def test_every_cell_is_its_rows_measured(small_shop, measure, rows, columns):
    _, last = small_shop.date_span(TZ)
    period = {"start": last - timedelta(days=29), "end": last, "tz": TZ}
    frames = {**small_shop.tables, "sessions": small_shop.sessions}
    cells = pivot(frames, measure=measure, rows=rows, columns=columns, **period).filter(pl.col("value") > 0)
    assert cells.height > 0
    names = [rows] if columns is None else [rows, columns]
    for cell in cells.iter_rows(named=True):
        found = cell_rows(frames, measure=measure, rows=rows, columns=columns, values=tuple(cell[name] for name in names), **period)
        if measure == "gmv":
            value = (found["quantity"] * found["unit_price"]).sum() if rows == "category" else found["amount"].sum()
        else:
            value = AGGREGATES[measure](found)
        assert value == pytest.approx(cell["value"]), cell
