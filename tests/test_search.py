"""Search usage, conversion, top terms and exit terms on hand-made sessions.

Business zone Asia/Shanghai (UTC+8): the period is 2026-03-02 local, 2026-03-01 16:00 UTC up
to 2026-03-02 16:00 UTC.
"""

from datetime import date

import duckdb
import polars as pl
import pytest
from conftest import utc
from polars.testing import assert_frame_equal

from metrics.search import exit_terms, search_summary, top_search_terms

TZ = "Asia/Shanghai"
DAY = date(2026, 3, 2)

# (session, time UTC, event type, search term); every session is its own user's.
ROWS = [
    (1, "2026-03-02 01:00", "search", "Hoodie"),
    (1, "2026-03-02 01:00:05", "product_impression", None),
    (1, "2026-03-02 01:01", "product_click", None),
    (1, "2026-03-02 01:03", "purchase", None),
    (2, "2026-03-02 02:00", "page_view", None),
    (2, "2026-03-02 02:01", "search", " hoodie "),
    (2, "2026-03-02 02:01:05", "product_impression", None),
    (2, "2026-03-02 02:02", "search", "香水"),
    (2, "2026-03-02 02:02:05", "product_impression", None),  # results shown, then gone: an exit
    (2, "2026-03-02 02:02:06", "product_impression", None),
    (3, "2026-03-02 03:00", "search", "香水"),
    (3, "2026-03-02 03:00:30", "search", "香水"),
    (3, "2026-03-02 03:01", "product_click", None),  # clicked a result: not an exit
    (4, "2026-03-02 04:00", "page_view", None),
    (4, "2026-03-02 04:01", "purchase", None),  # bought without searching
    (5, "2026-03-02 05:00", "purchase", None),  # a purchase before the search converts too
    (5, "2026-03-02 05:01", "search", ""),  # no term: a search, but no term to list
    (6, "2026-03-02 15:55", "search", "Hoodie"),  # 23:55 local
    (6, "2026-03-02 16:05", "purchase", None),  # next day local, same session
    (7, "2026-03-01 15:58", "search", "hoodie"),  # 03-01 23:58 local: the day before
    (8, "2026-03-02 16:00", "search", "hoodie"),  # 03-03 00:00 local: the day after
    (9, "2026-03-02 06:00", "search", "bedding"),
    (9, "2026-03-02 06:00:05", "product_impression", None),
    (10, "2026-03-02 07:00", "page_view", None),
    (10, "2026-03-02 07:01", "search", "香水 "),
]


@pytest.fixture(scope="module")
def events() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "user_id": [row[0] for row in ROWS],
            "session_id": [row[0] for row in ROWS],
            "event_time": [utc(row[1]) for row in ROWS],
            "event_type": [row[2] for row in ROWS],
            "search_term": [row[3] for row in ROWS],
        },
        schema_overrides={"search_term": pl.String},
    )


def test_search_summary(events):
    summary = search_summary(events, start=DAY, end=DAY, tz=TZ)
    # searching sessions 1, 2, 3, 5, 6, 9, 10; bought: 1, 5 and 6
    expected = pl.DataFrame(
        {
            "searches": [9],
            "searching_sessions": [7],
            "converted_searching_sessions": [3],
            "searches_per_searching_session": [9 / 7],
            "search_conversion": [3 / 7],
        },
        schema_overrides=dict.fromkeys(
            ("searches", "searching_sessions", "converted_searching_sessions"), pl.Int64
        ),
    )
    assert_frame_equal(summary, expected)


def test_a_period_without_searches_has_zero_counts_and_null_ratios(events):
    summary = search_summary(events, start=date(2026, 4, 1), end=date(2026, 4, 1), tz=TZ)
    assert summary.row(0) == (0, 0, 0, None, None)


def test_top_search_terms_are_normalised_and_convert_per_session(events):
    table = top_search_terms(events, start=DAY, end=DAY, tz=TZ)
    expected = pl.DataFrame(
        {
            "term": ["香水", "hoodie", "bedding"],
            "searches": [4, 3, 1],  # 香水: sessions 2, 3 (twice) and 10
            "sessions": [3, 3, 1],
            "converted_sessions": [0, 2, 0],  # hoodie: sessions 1 and 6 bought
            "conversion": [0.0, 2 / 3, 0.0],
        },
        schema_overrides={name: pl.Int64 for name in ("searches", "sessions", "converted_sessions")},
    )
    assert_frame_equal(table, expected)
    assert_frame_equal(top_search_terms(events, start=DAY, end=DAY, tz=TZ, limit=2), expected.head(2))


def test_exit_terms_are_the_last_searches_impressions_aside(events):
    table = exit_terms(events, start=DAY, end=DAY, tz=TZ)
    # 2 and 10 left on 香水, 9 on bedding; 5 left on a search without a term
    expected = pl.DataFrame(
        {"term": ["香水", "bedding"], "exits": [2, 1]}, schema_overrides={"exits": pl.Int64}
    )
    assert_frame_equal(table, expected)


def test_the_next_day_in_shanghai_holds_only_the_session_that_starts_at_its_midnight(events):
    next_day = date(2026, 3, 3)
    assert search_summary(events, start=next_day, end=next_day, tz=TZ).row(0) == (1, 1, 0, 1.0, 0.0)
    expected = pl.DataFrame({"term": ["hoodie"], "exits": [1]}, schema_overrides={"exits": pl.Int64})
    assert_frame_equal(exit_terms(events, start=next_day, end=next_day, tz=TZ), expected)


ORACLE_SQL = """
WITH period AS (
    SELECT session_id FROM events GROUP BY session_id
    HAVING CAST(timezone($tz, MIN(event_time)) AS DATE) BETWEEN $start AND $end
),
period_events AS (
    SELECT e.*, NULLIF(lower(trim(e.search_term)), '') AS term,
           bool_or(e.event_type = 'purchase') OVER (PARTITION BY e.session_id) AS bought
    FROM events e JOIN period USING (session_id)
),
last_actions AS (
    SELECT * FROM period_events WHERE event_type <> 'product_impression'
    QUALIFY ROW_NUMBER() OVER (PARTITION BY session_id ORDER BY event_time DESC, row DESC) = 1
)
SELECT 'summary' AS part, NULL AS term, COUNT(*) AS count, COUNT(DISTINCT session_id) AS sessions,
       COUNT(DISTINCT session_id) FILTER (WHERE bought) AS converted
FROM period_events WHERE event_type = 'search'
UNION ALL
SELECT 'terms', term, COUNT(*), COUNT(DISTINCT session_id), COUNT(DISTINCT session_id) FILTER (WHERE bought)
FROM period_events WHERE event_type = 'search' AND term IS NOT NULL GROUP BY term
UNION ALL
SELECT 'exits', term, COUNT(*), NULL, NULL
FROM last_actions WHERE event_type = 'search' AND term IS NOT NULL GROUP BY term
"""


def test_search_metrics_equal_a_duckdb_oracle_on_the_sample_shop(small_shop):
    start, end = date(2026, 8, 25), date(2026, 11, 22)
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    connection.register("events", small_shop.events.with_row_index("row").to_arrow())
    oracle = connection.sql(ORACLE_SQL, params={"tz": TZ, "start": start, "end": end}).pl()

    def part(name: str) -> pl.DataFrame:
        counts = dict.fromkeys(("count", "sessions", "converted"), pl.Int64)
        return oracle.filter(pl.col("part") == name).drop("part").cast(counts)

    _, searches, searching, converted = part("summary").row(0)
    assert search_summary(small_shop.events, start=start, end=end, tz=TZ).row(0) == (
        searches, searching, converted, searches / searching, converted / searching
    )
    terms = part("terms").sort(["count", "term"], descending=[True, False]).head(20)
    expected_terms = terms.select(
        "term", searches="count", sessions="sessions", converted_sessions="converted",
        conversion=pl.col("converted") / pl.col("sessions"),
    )
    assert_frame_equal(top_search_terms(small_shop.events, start=start, end=end, tz=TZ), expected_terms)
    exits = part("exits").sort(["count", "term"], descending=[True, False]).head(20)
    assert exits.height > 3
    table = exit_terms(small_shop.events, start=start, end=end, tz=TZ)
    assert_frame_equal(table, exits.select("term", exits="count"))
