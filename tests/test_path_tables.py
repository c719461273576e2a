"""The paths of the User paths page as tables: the Sankey's paths most common first, the
paths through one node, and the same nodes and links as `path_flows` draws.

Zone UTC; the period is 2026-03-02. Sessions (pages in time order, repeats collapsed):
1 home, product, product, cart, checkout   2 home, search, product   3 search, product, cart
4 home, product, cart   5 home   6 product, cart
"""

from datetime import date, timedelta

import polars as pl
import pytest
from conftest import utc
from polars.testing import assert_frame_equal

from metrics.path_tables import (
    grouped_session_paths,
    path_strings,
    path_views,
    step_labels,
    top_paths,
)
from metrics.paths import path_flows

TZ = "UTC"
PERIOD = {"start": date(2026, 3, 2), "end": date(2026, 3, 2), "tz": TZ}
SESSIONS = {
    1: ["home", "product", "product", "cart", "checkout"],
    2: ["home", "search", "product"],
    3: ["search", "product", "cart"],
    4: ["home", "product", "cart"],
    5: ["home"],
    6: ["product", "cart"],
}


@pytest.fixture
def events():
    rows = [
        (session, utc(f"2026-03-02 {session:02d}:{minute:02d}"), page)
        for session, pages in SESSIONS.items()
        for minute, page in enumerate(pages)
    ]
    return pl.DataFrame(
        {
            "session_id": [row[0] for row in rows],
            "user_id": [row[0] for row in rows],
            "event_time": [row[1] for row in rows],
            "event_type": ["page_view"] * len(rows),
            "page": [row[2] for row in rows],
        }
    )


def listed(paths: pl.DataFrame) -> list[tuple[list[str], int, float]]:
    return [(row["path"], row["sessions"], row["share"]) for row in paths.iter_rows(named=True)]


def test_paths_from_the_landing_step_most_common_first(events):
    grouped = grouped_session_paths(events, **PERIOD, depth=3, min_share=0)
    assert listed(top_paths(grouped)) == [
        (["home", "product", "cart"], 2, pytest.approx(2 / 6)),
        (["home", "exit"], 1, pytest.approx(1 / 6)),
        (["home", "search", "product"], 1, pytest.approx(1 / 6)),
        (["product", "cart", "exit"], 1, pytest.approx(1 / 6)),
        (["search", "product", "cart"], 1, pytest.approx(1 / 6)),
    ]
    assert top_paths(grouped)["steps"].to_list() == [3, 2, 3, 3, 3]


def test_the_paths_through_a_node_share_the_nodes_sessions(events):
    grouped = grouped_session_paths(events, **PERIOD, depth=3, min_share=0)
    assert listed(top_paths(grouped, through=(2, "search"))) == [(["home", "search", "product"], 1, pytest.approx(1.0))]
    assert listed(top_paths(grouped, through=(3, "cart"))) == [
        (["home", "product", "cart"], 2, pytest.approx(2 / 3)),
        (["search", "product", "cart"], 1, pytest.approx(1 / 3)),
    ]
    with pytest.raises(ValueError, match="choose 1 to 3"):
        top_paths(grouped, through=(4, "cart"))


def test_paths_to_a_chosen_end_read_left_to_right_from_the_entrance(events):
    grouped = grouped_session_paths(events, **PERIOD, end_at="cart", depth=3, min_share=0)
    paths = top_paths(grouped, backwards=True)
    assert listed(paths) == [
        (["home", "product", "cart"], 2, pytest.approx(0.5)),
        (["entrance", "product", "cart"], 1, pytest.approx(0.25)),
        (["search", "product", "cart"], 1, pytest.approx(0.25)),
    ]
    # step 1 is the leftmost column, three steps before the end
    assert listed(top_paths(grouped, backwards=True, through=(1, "home"))) == [(["home", "product", "cart"], 2, pytest.approx(1.0))]


def test_paths_from_a_chosen_start_with_rare_branches_grouped(events):
    grouped = grouped_session_paths(events, **PERIOD, start_at="product", depth=2, min_share=0.4)
    # five sessions reach product: after it cart 3 times (kept), exit once (kept), search never
    assert listed(top_paths(grouped)) == [(["product", "cart"], 4, pytest.approx(0.8)), (["product", "exit"], 1, pytest.approx(0.2))]


def test_special_nodes_are_renamed_in_the_text(events):
    grouped = grouped_session_paths(events, **PERIOD, depth=2, min_share=0)
    text = path_strings(top_paths(grouped), {"exit": "离开", "other": "其他"})
    assert text.filter(pl.col("path").str.contains("离开"))["path"].to_list() == ["home → 离开"]
    assert text["path"].to_list()[0] == "home → product"


def test_step_labels_are_pages_else_event_types():
    frame = pl.DataFrame({"event_type": ["search", "page_view", "purchase"], "page": [None, "home", "home"]})
    assert step_labels(frame) == ["home", "search"]
    assert step_labels(frame.drop("page")) == ["page_view", "purchase", "search"]


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"start_at": "product", "depth": 4},
        {"end_at": "order_success", "min_share": 0.05},
        {"top_n": 2, "depth": 5, "min_share": 0},
        {"start_at": "search", "top_n": 1, "depth": 3},
    ],
)
def test_the_same_sankey_as_path_flows_and_every_node_is_the_sum_of_its_paths(small_shop, options):
    _, last = small_shop.date_span("Asia/Shanghai")
    period = {"start": last - timedelta(days=13), "end": last, "tz": "Asia/Shanghai"}
    views = path_views(small_shop.events, **period, **options)
    nodes, links = path_flows(small_shop.events, **period, **options)
    assert_frame_equal(views["nodes"], nodes)
    assert_frame_equal(views["links"], links)
    assert views["paths"]["sessions"].sum() == views["grouped"].height
    backwards = "end_at" in options
    for node in nodes.iter_rows(named=True):
        through = top_paths(views["grouped"], backwards=backwards, through=(node["step"], node["label"]))
        assert through["sessions"].sum() == node["sessions"], node
