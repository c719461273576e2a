"""Session paths, the Sankey of top paths and the bounce and exit table, on hand-made sessions.

Business zone Asia/Shanghai (UTC+8): the period is 2026-03-02 local, 2026-03-01 16:00 UTC up
to 2026-03-02 16:00 UTC.
"""

from datetime import UTC, date, datetime, timedelta

import duckdb
import polars as pl
import pytest
from conftest import utc
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from metrics.paths import bounce_and_exit_pages, path_flows, session_paths
from metrics.sessions import derive_sessions

TZ = "Asia/Shanghai"
DAY = date(2026, 3, 2)

# (session, time UTC, event type, page); every session is its own user's.
ROWS = [
    (0, "2026-03-01 15:59", "page_view", "home"),  # 03-01 23:59 local: the day before
    (0, "2026-03-01 16:05", "page_view", "category"),
    (1, "2026-03-02 01:00", "page_view", "home"),
    (1, "2026-03-02 01:00:30", "product_impression", "home"),  # a repeat, collapsed
    (1, "2026-03-02 01:01", "page_view", "category"),
    (1, "2026-03-02 01:02", "product_click", "category"),
    (1, "2026-03-02 01:03", "product_view", "product"),
    (2, "2026-03-02 02:00", "page_view", "home"),
    (2, "2026-03-02 02:01", "page_view", "category"),
    (2, "2026-03-02 02:02", "product_impression", "category"),
    (3, "2026-03-02 03:00", "page_view", "home"),
    (3, "2026-03-02 03:01", "search", None),  # no page: named by its type
    (3, "2026-03-02 03:02", "search", None),
    (3, "2026-03-02 03:03", "product_view", "product"),
    (4, "2026-03-02 04:00", "page_view", "home"),  # one event: a bounce
    (5, "2026-03-02 05:00", "page_view", "category"),
    (5, "2026-03-02 05:01", "product_view", "product"),
    (5, "2026-03-02 05:02", "add_to_cart", "product"),
    (5, "2026-03-02 05:03", "page_view", "cart"),
    (6, "2026-03-02 15:50", "page_view", "home"),  # 23:50 local
    (6, "2026-03-02 16:10", "page_view", "cart"),  # 00:10 next day local: still this session
    (7, "2026-03-02 07:00", "search", "search"),
    (7, "2026-03-02 07:01", "page_view", "category"),
    (7, "2026-03-02 07:02", "page_view", "home"),
    (7, "2026-03-02 07:03", "page_view", "category"),
    (8, "2026-03-02 16:00", "page_view", "home"),  # 03-03 00:00 local: the day after
    (9, "2026-03-02 09:00", "page_view", "home"),  # two events on one page: no bounce
    (9, "2026-03-02 09:01", "product_impression", "home"),
]


def make_events(rows) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "user_id": [row[0] for row in rows],
            "session_id": [row[0] for row in rows],
            "event_time": [utc(row[1]) for row in rows],
            "event_type": [row[2] for row in rows],
            "page": [row[3] for row in rows],
        },
        schema_overrides={"page": pl.String},
    )


@pytest.fixture(scope="module")
def shop():
    # The loading edge re-keys sessions; a source's session ids are kept per user.
    return derive_sessions(make_events(ROWS))


def nodes_frame(rows) -> pl.DataFrame:
    schema = {"id": pl.Int64, "step": pl.Int64, "label": pl.String, "sessions": pl.Int64}
    return pl.DataFrame(rows, schema=schema, orient="row")


def links_frame(rows) -> pl.DataFrame:
    schema = {"source": pl.Int64, "target": pl.Int64, "sessions": pl.Int64}
    return pl.DataFrame(rows, schema=schema, orient="row")


def test_session_paths_collapse_consecutive_repeats_and_name_pageless_events_by_type():
    shuffled = make_events(ROWS).reverse()  # sorting by time is the function's job
    expected = pl.DataFrame(
        {
            "session_id": list(range(10)),
            "path": [
                ["home", "category"],
                ["home", "category", "product"],
                ["home", "category"],
                ["home", "search", "product"],
                ["home"],
                ["category", "product", "cart"],
                ["home", "cart"],
                ["search", "category", "home", "category"],
                ["home"],
                ["home"],
            ],
        }
    )
    assert_frame_equal(session_paths(shuffled), expected)


def test_without_a_page_column_paths_are_event_types():
    events = make_events([row for row in ROWS if row[0] == 5]).drop("page")
    path = ["page_view", "product_view", "add_to_cart", "page_view"]
    expected = pl.DataFrame({"session_id": [5], "path": [path]})
    assert_frame_equal(session_paths(events), expected)


def test_rare_branches_are_grouped_into_other_per_node_and_exits_are_nodes(shop):
    events, _ = shop
    nodes, links = path_flows(events, start=DAY, end=DAY, tz=TZ, depth=3, min_share=0.3)
    # Landing (8 sessions): home 6; category 1 and search 1 are under 30 % -> other.
    # Out of home (6): category 2 kept, exit 2 always, search 1 and cart 1 -> other.
    # Out of other (2): product 1, category 1, both half of it. Out of category (3): product,
    # exit and home, a third each, all kept. Sessions 0 and 8 start on other days.
    expected_nodes = nodes_frame(
        [
            (0, 1, "home", 6),
            (1, 1, "other", 2),
            (2, 2, "category", 3),
            (3, 2, "product", 1),
            (4, 2, "exit", 2),
            (5, 2, "other", 2),
            (6, 3, "product", 2),
            (7, 3, "cart", 1),
            (8, 3, "home", 1),
            (9, 3, "exit", 2),
        ]
    )
    expected_links = links_frame(
        [
            (0, 2, 2), (0, 4, 2), (0, 5, 2),
            (1, 2, 1), (1, 3, 1),
            (2, 6, 1), (2, 8, 1), (2, 9, 1),
            (3, 7, 1),
            (5, 6, 1), (5, 9, 1),
        ]
    )
    assert_frame_equal(nodes, expected_nodes)
    assert_frame_equal(links, expected_links)


def test_top_n_keeps_the_largest_branches_of_each_node_ties_by_label(shop):
    events, _ = shop
    nodes, links = path_flows(events, start=DAY, end=DAY, tz=TZ, depth=3, min_share=0.0, top_n=1)
    # Out of other (sessions 5 and 7): category and product tie, category wins by label.
    # Step 3 out of category: home beats product by label; out of other: cart beats product.
    expected_nodes = nodes_frame(
        [
            (0, 1, "home", 6),
            (1, 1, "other", 2),
            (2, 2, "category", 3),
            (3, 2, "other", 3),
            (4, 2, "exit", 2),
            (5, 3, "cart", 1),
            (6, 3, "home", 1),
            (7, 3, "exit", 2),
            (8, 3, "other", 2),
        ]
    )
    expected_links = links_frame(
        [
            (0, 2, 2), (0, 3, 2), (0, 4, 2),
            (1, 2, 1), (1, 3, 1),
            (2, 6, 1), (2, 7, 1), (2, 8, 1),
            (3, 5, 1), (3, 7, 1), (3, 8, 1),
        ]
    )
    assert_frame_equal(nodes, expected_nodes)
    assert_frame_equal(links, expected_links)


def test_paths_from_a_start_begin_at_its_first_occurrence(shop):
    events, _ = shop
    nodes, links = path_flows(events, start=DAY, end=DAY, tz=TZ, start_at="category", depth=3, min_share=0.0)
    # 1: category, product | 2: category, exit | 5: category, product, cart
    # 7: search, [category, home, category]
    expected_nodes = nodes_frame(
        [
            (0, 1, "category", 4),
            (1, 2, "product", 2),
            (2, 2, "home", 1),
            (3, 2, "exit", 1),
            (4, 3, "cart", 1),
            (5, 3, "category", 1),
            (6, 3, "exit", 1),
        ]
    )
    expected_links = links_frame([(0, 1, 2), (0, 2, 1), (0, 3, 1), (1, 4, 1), (1, 6, 1), (2, 5, 1)])
    assert_frame_equal(nodes, expected_nodes)
    assert_frame_equal(links, expected_links)


def test_paths_to_an_end_lead_into_it_with_entrances_where_sessions_began(shop):
    events, _ = shop
    nodes, links = path_flows(events, start=DAY, end=DAY, tz=TZ, end_at="product", depth=3, min_share=0.0)
    # 1: home, category, product | 3: home, search, product | 5: (entrance), category, product
    expected_nodes = nodes_frame(
        [
            (0, 1, "home", 2),
            (1, 1, "entrance", 1),
            (2, 2, "category", 2),
            (3, 2, "search", 1),
            (4, 3, "product", 3),
        ]
    )
    expected_links = links_frame([(0, 2, 1), (0, 3, 1), (1, 2, 1), (2, 4, 2), (3, 4, 1)])
    assert_frame_equal(nodes, expected_nodes)
    assert_frame_equal(links, expected_links)


def test_a_period_without_sessions_gives_empty_frames_and_bad_requests_are_refused(shop):
    events, _ = shop
    nodes, links = path_flows(events, start=date(2026, 4, 1), end=date(2026, 4, 1), tz=TZ)
    assert_frame_equal(nodes, nodes_frame([]))
    assert_frame_equal(links, links_frame([]))
    with pytest.raises(ValueError, match="not both"):
        path_flows(events, start=DAY, end=DAY, tz=TZ, start_at="home", end_at="cart")


def test_bounce_and_exit_pages(shop):
    events, sessions = shop
    table = bounce_and_exit_pages(events, sessions, start=DAY, end=DAY, tz=TZ)
    expected = pl.DataFrame(
        {
            "page": ["home", "category", "product", "cart", "search"],
            # visits: session 7 visits category twice; session 1's two home events are one
            "page_views": [7, 5, 3, 2, 2],
            "entrances": [6, 1, 0, 0, 1],
            "bounces": [1, 0, 0, 0, 0],  # only session 4 has exactly one event
            "bounce_rate": [1 / 6, 0.0, None, None, 0.0],
            # last pages: 1 product, 2 category, 3 product, 4 home, 5 cart, 6 cart (after
            # midnight), 7 category, 9 home
            "exits": [2, 2, 2, 2, 0],
            "exit_rate": [2 / 7, 2 / 5, 2 / 3, 1.0, 0.0],
        },
        schema_overrides={name: pl.Int64 for name in ("page_views", "entrances", "bounces", "exits")},
    )
    assert_frame_equal(table, expected)


ORIGIN = datetime(2026, 3, 1, tzinfo=UTC)
random_events = st.lists(
    st.tuples(
        st.integers(1, 4),  # session
        st.integers(0, 20),  # minute: equal times test the order ties keep
        st.sampled_from(["page_view", "search", "purchase"]),
        st.sampled_from(["home", "product", "cart", None]),
    ),
    max_size=40,
)


def collapsed_paths_by_hand(rows) -> dict[int, list[str]]:
    """A slow, obviously right collapse: stable sort, then drop a step equal to the last one."""
    paths: dict[int, list[str]] = {}
    for session, _, event_type, page in sorted(rows, key=lambda row: (row[0], row[1])):
        step = page if page is not None else event_type
        path = paths.setdefault(session, [])
        if not path or path[-1] != step:
            path.append(step)
    return paths


def random_event_frame(rows) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "session_id": [row[0] for row in rows],
            "event_time": [ORIGIN + timedelta(minutes=row[1]) for row in rows],
            "event_type": [row[2] for row in rows],
            "page": [row[3] for row in rows],
        },
        schema={
            "session_id": pl.Int64, "event_time": pl.Datetime("us", "UTC"),
            "event_type": pl.String, "page": pl.String,
        },
    )


@settings(max_examples=200, deadline=None)
@given(random_events)
def test_collapsing_matches_a_pure_python_oracle(rows):
    paths = session_paths(random_event_frame(rows))
    assert dict(zip(paths["session_id"].to_list(), paths["path"].to_list())) == collapsed_paths_by_hand(rows)


@settings(max_examples=100, deadline=None)
@given(random_events, st.integers(2, 4))
def test_ungrouped_flows_count_every_session_path_by_hand(rows, depth):
    day = date(2026, 3, 1)  # ORIGIN is 08:00 on this day in Shanghai; all events fall on it
    nodes, links = path_flows(
        random_event_frame(rows), start=day, end=day, tz=TZ, depth=depth, min_share=0.0
    )
    expected_nodes: dict[tuple[int, str], int] = {}
    expected_links: dict[tuple[int, str, str], int] = {}
    for path in collapsed_paths_by_hand(rows).values():
        shown = path[:depth] + (["exit"] if len(path) < depth else [])
        for step, label in enumerate(shown, start=1):
            expected_nodes[step, label] = expected_nodes.get((step, label), 0) + 1
        for step, (source, target) in enumerate(zip(shown, shown[1:]), start=1):
            expected_links[step, source, target] = expected_links.get((step, source, target), 0) + 1
    labelled = links.join(
        nodes.select(source="id", step="step", source_label="label"), on="source"
    ).join(nodes.select(target="id", target_label="label"), on="target")
    node_counts = nodes.select("step", "label", "sessions").rows()
    link_counts = labelled.select("step", "source_label", "target_label", "sessions").rows()
    assert {(step, label): count for step, label, count in node_counts} == expected_nodes
    assert {(step, source, target): count for step, source, target, count in link_counts} == expected_links


@settings(max_examples=100, deadline=None)
@given(
    random_events,
    st.sampled_from([0.2, 0.5]),
    st.sampled_from([None, 1, 2]),
    st.sampled_from([{}, {"start_at": "home"}, {"end_at": "product"}]),
)
def test_grouped_flows_conserve_sessions_through_every_node(rows, min_share, top_n, point):
    day, depth = date(2026, 3, 1), 4
    nodes, links = path_flows(
        random_event_frame(rows), start=day, end=day, tz=TZ, depth=depth,
        min_share=min_share, top_n=top_n, **point,
    )
    backwards = "end_at" in point
    flows = (
        nodes.join(links.group_by(id="source").agg(out=pl.col("sessions").sum()), on="id", how="left")
        .join(links.group_by(id="target").agg(into=pl.col("sessions").sum()), on="id", how="left")
        .with_columns(pl.col("out", "into").fill_null(0))
    )
    # A path ends at an exit (forward) or begins at an entrance (backwards); every other node
    # passes all its sessions on to the next step and receives all of them from the previous.
    terminal = pl.col("label") == ("entrance" if backwards else "exit")
    passes_on = (pl.col("step") < depth) & (pl.lit(True) if backwards else terminal.not_())
    receives = (pl.col("step") > 1) & (terminal.not_() if backwards else pl.lit(True))
    assert flows.filter(passes_on, pl.col("out") != pl.col("sessions")).is_empty()
    assert flows.filter(receives, pl.col("into") != pl.col("sessions")).is_empty()
    assert flows.filter(passes_on.not_(), pl.col("out") > 0).is_empty()
    assert flows.filter(receives.not_(), pl.col("into") > 0).is_empty()


BOUNCE_AND_EXIT_SQL = """
WITH period AS (
    SELECT session_id, event_count FROM sessions
    WHERE CAST(timezone($tz, started_at) AS DATE) BETWEEN $start AND $end
),
steps AS (
    SELECT e.session_id, COALESCE(e.page, e.event_type) AS page, p.event_count,
           LAG(COALESCE(e.page, e.event_type)) OVER w AS previous_page,
           ROW_NUMBER() OVER w AS n, COUNT(*) OVER (PARTITION BY e.session_id) AS events
    FROM events e JOIN period p USING (session_id)
    WINDOW w AS (PARTITION BY e.session_id ORDER BY e.event_time, e.row)
),
views AS (
    SELECT page, COUNT(*) AS page_views FROM steps
    WHERE previous_page IS NULL OR previous_page <> page GROUP BY page
),
entrances AS (
    SELECT page, COUNT(*) AS entrances, COUNT(*) FILTER (WHERE event_count = 1) AS bounces
    FROM steps WHERE n = 1 GROUP BY page
),
exits AS (SELECT page, COUNT(*) AS exits FROM steps WHERE n = events GROUP BY page)
SELECT page, page_views, COALESCE(entrances, 0) AS entrances, COALESCE(bounces, 0) AS bounces,
       CASE WHEN entrances > 0 THEN bounces / entrances END AS bounce_rate,
       COALESCE(exits, 0) AS exits, COALESCE(exits, 0) / page_views AS exit_rate
FROM views LEFT JOIN entrances USING (page) LEFT JOIN exits USING (page)
ORDER BY page_views DESC, page
"""


def test_bounce_and_exit_pages_equal_a_duckdb_oracle_on_the_sample_shop(small_shop):
    start, end = date(2026, 8, 25), date(2026, 11, 22)
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    connection.register("events", small_shop.events.with_row_index("row").to_arrow())
    connection.register("sessions", small_shop.sessions.to_arrow())
    expected = connection.sql(BOUNCE_AND_EXIT_SQL, params={"tz": TZ, "start": start, "end": end}).pl()
    table = bounce_and_exit_pages(small_shop.events, small_shop.sessions, start=start, end=end, tz=TZ)
    assert table.height > 3
    assert_frame_equal(table, expected, check_dtypes=False)
