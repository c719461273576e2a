"""Own-history bands (SPEC section 3): hand-computed bands of a day and of a period, and a
DuckDB oracle on the sample shop's daily KPIs."""

from datetime import date, timedelta

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from metrics.bands import (
    DAILY_BAND_COLUMNS,
    daily_bands,
    history_start,
    period_bands,
    previous_periods,
)
from metrics.kpis import daily_kpis

MONDAY = date(2026, 3, 2)
BAND_SCHEMA = dict(zip(DAILY_BAND_COLUMNS, [pl.Date, pl.String, pl.Float64, pl.Float64, pl.Float64, pl.Int64, pl.String]))


def history_table(monday_gmv: float, monday_bounce: float) -> pl.DataFrame:
    """The 8 Mondays before MONDAY with GMV 10, 20, ..., 80 and bounce rate 0.1, ..., 0.8 (the
    nearest first), three earlier Tuesdays, then MONDAY and the Tuesday after it."""
    rows = [(MONDAY - timedelta(weeks=back), 10.0 * back, 0.1 * back) for back in range(1, 9)]
    rows += [(MONDAY + timedelta(days=1) - timedelta(weeks=back), 5.0, 0.5) for back in range(1, 4)]
    rows += [(MONDAY, monday_gmv, monday_bounce), (MONDAY + timedelta(days=1), 50.0, None)]
    return pl.DataFrame(rows, schema={"date": pl.Date, "gmv": pl.Float64, "bounce_rate": pl.Float64}, orient="row")


def test_daily_bands_by_hand():
    table = daily_bands(history_table(75.0, 0.15), ["gmv", "bounce_rate"], start=MONDAY)
    # GMV history 10..80: median 45, 75th percentile at position 5.25 of 0..7: 60 + 0.25 x 10.
    # Bounce rate is better lower: excellent is the 25th percentile, position 1.75: 0.2 + 0.075.
    # Tuesday has three days of history, under the 4 a band needs; its bounce rate is empty.
    expected = pl.DataFrame(
        [(MONDAY, "gmv", 75.0, 45.0, 62.5, 8, "excellent"),
         (MONDAY, "bounce_rate", 0.15, 0.45, 0.275, 8, "excellent"),
         (MONDAY + timedelta(days=1), "gmv", 50.0, None, None, 3, None),
         (MONDAY + timedelta(days=1), "bounce_rate", None, None, None, 3, None)],
        schema=BAND_SCHEMA, orient="row",
    )
    assert_frame_equal(table, expected, abs_tol=1e-12)


@pytest.mark.parametrize(
    ("gmv", "bounce", "standings"),
    [(62.5, 0.275, ["excellent", "excellent"]), (45.0, 0.45, ["typical", "typical"]),
     (44.9, 0.46, ["below_typical", "below_typical"])],
)
def test_standing_follows_each_kpis_direction(gmv, bounce, standings):
    table = daily_bands(history_table(gmv, bounce), ["gmv", "bounce_rate"], start=MONDAY)
    assert table.filter(pl.col("date") == MONDAY)["standing"].to_list() == standings


def test_a_kpi_outside_the_registry_needs_its_direction():
    daily = history_table(75.0, 0.15).rename({"gmv": "complaints"})
    with pytest.raises(ValueError, match="higher_is_better"):
        daily_bands(daily, ["complaints"])
    table = daily_bands(daily, ["complaints"], start=MONDAY, higher_is_better={"complaints": False})
    # lower is better: excellent is the 25th percentile, 20 + 0.75 x 10
    assert table.row(0) == (MONDAY, "complaints", 75.0, 45.0, 27.5, 8, "below_typical")


def test_period_bands_by_hand():
    assert previous_periods(date(2026, 3, 1), date(2026, 3, 7), 3) == [
        (date(2026, 2, 22), date(2026, 2, 28)), (date(2026, 2, 15), date(2026, 2, 21)), (date(2026, 2, 8), date(2026, 2, 14)),
    ]
    history = [{"gmv": 100.0, "refunds": 5.0}, {"gmv": 300.0, "refunds": 1.0}, {"gmv": 200.0, "refunds": None},
               {"gmv": 400.0, "refunds": 3.0}, {"gmv": 500.0}]
    table = period_bands({"gmv": 450.0, "refunds": 4.0}, history, ["gmv", "refunds"])
    # GMV 100..500: median 300, 75th 400; refunds 1, 3, 5 are under the 4 periods a band needs
    expected = pl.DataFrame(
        [("gmv", 450.0, 300.0, 400.0, 5, "excellent"), ("refunds", 4.0, None, None, 3, None)],
        schema={"kpi": pl.String, "value": pl.Float64, "typical": pl.Float64, "excellent": pl.Float64,
                "history_periods": pl.Int64, "standing": pl.String},
        orient="row",
    )
    assert_frame_equal(table, expected)
    assert period_bands({"refunds": 4.0}, history, ["refunds"], min_history=3).row(0) == (
        "refunds", 4.0, 3.0, 2.0, 3, "below_typical"
    )


# --- the sample shop against DuckDB --------------------------------------------------------

ORACLE_SQL = """
WITH ordered AS (
    SELECT *, CASE WHEN LAG(event_time) OVER w IS NULL
                     OR event_time - LAG(event_time) OVER w > INTERVAL 30 MINUTE THEN 1 ELSE 0 END AS starts
    FROM events WINDOW w AS (PARTITION BY user_id ORDER BY event_time)
), numbered AS (
    SELECT *, SUM(starts) OVER (PARTITION BY user_id ORDER BY event_time ROWS UNBOUNDED PRECEDING) AS n
    FROM ordered
), sessions AS (
    SELECT CAST(timezone($tz, MIN(event_time)) AS DATE) AS day, COUNT(*) AS events FROM numbered GROUP BY user_id, n
), days AS (
    SELECT CAST(d AS DATE) AS day FROM range(CAST($first AS TIMESTAMP), CAST($last AS TIMESTAMP) + INTERVAL 1 DAY, INTERVAL 1 DAY) t(d)
), daily AS (
    SELECT d.day,
           (SELECT COUNT(*) FROM sessions s WHERE s.day = d.day) AS sessions,
           (SELECT COUNT(*) FILTER (WHERE events = 1) / NULLIF(COUNT(*), 0) FROM sessions s WHERE s.day = d.day) AS bounce_rate,
           (SELECT COALESCE(SUM(amount), 0) FROM orders o WHERE o.status IN ('paid', 'shipped', 'completed', 'refunded')
              AND CAST(timezone($tz, o.created_at) AS DATE) = d.day) AS gmv
    FROM days d
), long AS (
    UNPIVOT daily ON sessions, bounce_rate, gmv INTO NAME kpi VALUE value
), banded AS (
    SELECT d.day, d.kpi, d.value,
           quantile_cont(h.value, 0.5) AS typical,
           CASE WHEN d.kpi = 'bounce_rate' THEN quantile_cont(h.value, 0.25) ELSE quantile_cont(h.value, 0.75) END AS excellent,
           COUNT(h.value) AS history_days
    FROM long d LEFT JOIN long h
      ON h.kpi = d.kpi AND h.day < d.day AND h.day >= d.day - 56 AND (d.day - h.day) % 7 = 0
    WHERE d.day >= $shown
    GROUP BY d.day, d.kpi, d.value
)
SELECT day AS date, kpi, value,
       CASE WHEN history_days >= 4 THEN typical END AS typical,
       CASE WHEN history_days >= 4 THEN excellent END AS excellent, history_days
FROM banded
"""


def test_sample_shop_bands_equal_hand_written_sql(small_shop):
    tz = "Asia/Shanghai"
    first_day, last_day = small_shop.date_span(tz)
    shown = last_day - timedelta(days=20)
    start = history_start(shown)
    assert start > first_day
    daily = daily_kpis(small_shop.events, small_shop.sessions, small_shop.orders, small_shop.users, start=start, end=last_day, tz=tz)
    kpis = ["sessions", "bounce_rate", "gmv"]
    table = daily_bands(daily, kpis, start=shown)

    # Days before the table's start are no history: the oracle's calendar starts there too.
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    connection.register("events", small_shop.events.select("user_id", "event_time").to_arrow())
    connection.register("orders", small_shop.orders.to_arrow())
    raw = connection.sql(ORACLE_SQL, params={"tz": tz, "first": start, "last": last_day, "shown": shown}).pl()
    expected = raw.with_columns(
        pl.col("value").cast(pl.Float64), pl.col("kpi").replace_strict({name: position for position, name in enumerate(kpis)}).alias("order")
    ).sort("date", "order").drop("order")
    assert_frame_equal(table.drop("standing"), expected, check_dtypes=False, abs_tol=1e-9)
    assert table["typical"].null_count() == 0 and table.height == 21 * 3
    assert set(table["standing"].unique()) >= {"excellent", "below_typical"}
