"""Targets and pacing (SPEC section 3): pace, projection and interval by hand for a total and a
level, the alert's verdict both ways, and a DuckDB oracle on the sample shop."""

from datetime import date, timedelta

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from metrics.kpis import daily_kpis
from metrics.pacing import PACE_COLUMNS, expected_path, pace_against_target

MARCH = {"start": date(2026, 3, 1), "end": date(2026, 3, 31)}
AS_OF = date(2026, 3, 10)
PACE_SCHEMA = dict(zip(PACE_COLUMNS, [
    pl.String, pl.String, pl.Float64, pl.Date, pl.Date, pl.Date, pl.Int64, pl.Int64, pl.Float64, pl.Float64,
    pl.Float64, pl.Float64, pl.Float64, pl.Float64, pl.Float64, pl.Boolean,
]))


def shop_days(first: date = date(2026, 1, 1), last: date = AS_OF) -> pl.DataFrame:
    """GMV 100 on weekdays and 200 at weekends, 10 orders a day; the week 02-18..02-24 sold
    20 % more (a swing that moves no weekday's median)."""
    days = pl.date_range(first, last, eager=True)
    return pl.DataFrame({"date": days}).with_columns(
        gmv=pl.when(pl.col("date").dt.weekday() >= 6).then(200.0).otherwise(100.0)
        * pl.when(pl.col("date").is_between(date(2026, 2, 18), date(2026, 2, 24))).then(1.2).otherwise(1.0),
        orders=pl.lit(10, pl.Int64),
    )


def pace_row(**values) -> pl.DataFrame:
    return pl.DataFrame([values], schema=PACE_SCHEMA, orient="row")


# March 2026 has 9 weekend days: the usual month is 9 x 200 + 22 x 100 = 4000, and 1-10 March
# (a Sunday and a weekend) usually bring 1300 of it. The blocks of 7 days ending on 10 March
# changed by 0 each week except +20 % into 02-18..02-24 and -1/6 out of it.
def test_pace_of_a_total_by_hand():
    table = pace_against_target(shop_days(), kpi="gmv", target=3000.0, as_of=AS_OF, **MARCH)
    # expected 3000 x 1300 / 4000 = 975; pace 1300 / 975; the last 7 days 900 against 675;
    # projected 1300 + (3000 - 975) x 4/3 = 4000, between x (1 - 1/6) and x 1.2 of the rest
    expected = pace_row(
        kpi="gmv", target_kind="total", target=3000.0, period_start=MARCH["start"], period_end=MARCH["end"],
        as_of=AS_OF, elapsed_days=10, period_days=31, actual_to_date=1300.0, expected_to_date=975.0,
        pace=4 / 3, recent_pace=4 / 3, projected_end=4000.0, projected_low=3550.0, projected_high=4540.0, behind=False,
    )
    assert_frame_equal(table, expected, abs_tol=1e-9)


def test_a_high_target_is_behind_and_projects_the_same_end():
    table = pace_against_target(shop_days(), kpi="gmv", target=6000.0, as_of=AS_OF, **MARCH)
    assert table.select("expected_to_date", "pace", "projected_end", "projected_low", "projected_high", "behind").row(0) == pytest.approx(
        (1950.0, 2 / 3, 4000.0, 3550.0, 4540.0, True)
    )
    # the margin decides: at 2/3 of the expected, a 40 % margin is not yet behind
    assert pace_against_target(shop_days(), kpi="gmv", target=6000.0, as_of=AS_OF, margin=0.4, **MARCH)["behind"].item() is False


def test_pace_of_a_level_by_hand():
    table = pace_against_target(shop_days(), kpi="aov", target=12.0, as_of=AS_OF, **MARCH)
    # elapsed 1300 / 100 = 13; the last 7 days 900 / 70; the 21 days left usually bring 210
    # orders: (13 x 100 + 900 / 70 x 210) / 310 = 4000 / 310, the level swung like the total
    expected = pace_row(
        kpi="aov", target_kind="level", target=12.0, period_start=MARCH["start"], period_end=MARCH["end"],
        as_of=AS_OF, elapsed_days=10, period_days=31, actual_to_date=13.0, expected_to_date=12.0,
        pace=13 / 12, recent_pace=900 / 70 / 12, projected_end=4000 / 310, projected_low=3550 / 310,
        projected_high=4540 / 310, behind=False,
    )
    assert_frame_equal(table, expected, abs_tol=1e-9)


def test_without_history_the_target_is_spread_evenly_and_has_no_interval():
    table = pace_against_target(shop_days(first=MARCH["start"]), kpi="gmv", target=3100.0, as_of=AS_OF, **MARCH)
    # 10 of 31 days: 1000 expected; one full week only, so no week-on-week error yet
    assert table.select("expected_to_date", "pace", "recent_pace", "projected_low", "projected_high").row(0) == pytest.approx(
        (1000.0, 1.3, 900 / 700, None, None)
    )
    path = expected_path(shop_days(first=MARCH["start"]), kpi="gmv", target=3100.0, as_of=AS_OF, **MARCH)
    assert path["expected_share"].to_list() == pytest.approx([1 / 31] * 31)
    assert path["expected_to_date"][9] == pytest.approx(1000.0) and path["actual_to_date"][9] == 1300.0
    assert path["actual_to_date"][10:].null_count() == 21


def test_a_path_without_as_of_reads_to_the_tables_last_day_and_observes_nothing_of_an_empty_table():
    # as_of defaults to the table's last day (5 March here)
    path = expected_path(shop_days(first=MARCH["start"], last=date(2026, 3, 5)), kpi="gmv", target=3100.0, **MARCH)
    assert path["actual_to_date"][:5].to_list() == [200.0, 300.0, 400.0, 500.0, 600.0]
    assert path["actual_to_date"][5:].null_count() == 26
    # a table with no day yet: the expected course in full, nothing observed (it raised a
    # TypeError comparing the period's end with the missing last day)
    empty = shop_days().clear()
    path = expected_path(empty, kpi="gmv", target=3100.0, **MARCH)
    assert path.height == 31 and path["expected_share"].to_list() == pytest.approx([1 / 31] * 31)
    assert path["expected_to_date"][-1] == pytest.approx(3100.0)
    assert path["actual_to_date"].null_count() == 31


def test_lower_is_better_is_behind_above_the_margin():
    daily = shop_days().with_columns(refunds=pl.lit(10.0))
    # flat refunds: 10 a day against a target of 155 for the month (5 a day): pace 2
    table = pace_against_target(daily, kpi="refunds", target=155.0, as_of=AS_OF, **MARCH)
    assert table.select("expected_to_date", "pace", "projected_end", "behind").row(0) == pytest.approx((50.0, 2.0, 310.0, True))
    on_target = pace_against_target(daily, kpi="refunds", target=300.0, as_of=AS_OF, **MARCH)
    assert on_target["behind"].item() is False


def test_before_the_period_and_after_it():
    before = pace_against_target(shop_days(), kpi="gmv", target=3000.0, as_of=date(2026, 2, 27), **MARCH)
    assert before.select("elapsed_days", "actual_to_date", "expected_to_date", "pace", "projected_end", "behind").row(0) == (
        0, 0.0, 0.0, None, None, None
    )
    month = shop_days(last=date(2026, 4, 3))
    after = pace_against_target(month, kpi="gmv", target=3000.0, as_of=date(2026, 4, 3), **MARCH)
    assert after.select("elapsed_days", "actual_to_date", "expected_to_date", "projected_end", "projected_low", "projected_high").row(0) == pytest.approx(
        (31, 4000.0, 3000.0, 4000.0, 4000.0, 4000.0)
    )


def test_a_distinct_count_takes_its_own_actual():
    daily = shop_days().with_columns(buyers=pl.lit(8, pl.Int64))
    # daily buyers sum to 80 by 10 March, but only 60 distinct people bought: pace on those
    table = pace_against_target(daily, kpi="buyers", target=248.0, as_of=AS_OF, actual_to_date=60.0, **MARCH)
    assert table.select("actual_to_date", "expected_to_date", "pace").row(0) == pytest.approx((60.0, 80.0, 0.75))


def test_bad_targets_are_refused():
    with pytest.raises(ValueError, match="unknown KPI"):
        pace_against_target(shop_days(), kpi="visits", target=1.0, as_of=AS_OF, **MARCH)
    with pytest.raises(ValueError, match="cannot be paced"):
        pace_against_target(shop_days(), kpi="user_growth_rate", target=0.1, as_of=AS_OF, **MARCH)
    with pytest.raises(ValueError, match="needs the column"):
        pace_against_target(shop_days(), kpi="bounce_rate", target=0.3, as_of=AS_OF, **MARCH)
    with pytest.raises(ValueError, match="margin"):
        pace_against_target(shop_days(), kpi="gmv", target=1.0, as_of=AS_OF, margin=1.5, **MARCH)


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
    SELECT CAST(timezone($tz, MIN(event_time)) AS DATE) AS day FROM numbered GROUP BY user_id, n
), days AS (
    SELECT CAST(d AS DATE) AS day FROM range(CAST($first AS TIMESTAMP), CAST($end AS TIMESTAMP) + INTERVAL 1 DAY, INTERVAL 1 DAY) t(d)
), daily AS (
    SELECT d.day, (SELECT COUNT(*) FROM sessions s WHERE s.day = d.day) AS sessions FROM days d WHERE d.day <= $as_of
), usual AS (
    SELECT isodow(day) AS weekday, median(sessions) AS usual FROM daily
    WHERE day BETWEEN $start - 56 AND $start - 1 GROUP BY 1
), shares AS (
    SELECT d.day, u.usual / SUM(u.usual) OVER () AS share FROM days d JOIN usual u ON isodow(d.day) = u.weekday
    WHERE d.day BETWEEN $start AND $end
), blocks AS (
    SELECT ($as_of - day) // 7 AS block, SUM(sessions) AS total FROM daily
    WHERE day BETWEEN $as_of - 62 AND $as_of GROUP BY 1
), changes AS (
    SELECT b.total / a.total - 1 AS change FROM blocks b JOIN blocks a ON a.block = b.block + 1
), figures AS (
    SELECT (SELECT SUM(sessions) FROM daily WHERE day >= $start) AS actual,
           $target * (SELECT SUM(share) FROM shares WHERE day <= $as_of) AS expected,
           (SELECT SUM(sessions) FROM daily WHERE day > $as_of - 7) AS recent_actual,
           $target * (SELECT SUM(share) FROM shares WHERE day BETWEEN $as_of - 6 AND $as_of) AS recent_expected,
           (SELECT MIN(change) FROM changes) AS low_change, (SELECT MAX(change) FROM changes) AS high_change
)
SELECT actual, expected, actual / expected AS pace, recent_actual / recent_expected AS recent_pace,
       actual + ($target - expected) * recent_actual / recent_expected AS projected_end,
       actual + ($target - expected) * recent_actual / recent_expected * (1 + low_change) AS projected_low,
       actual + ($target - expected) * recent_actual / recent_expected * (1 + high_change) AS projected_high,
       actual / expected < 0.9 AS behind
FROM figures
"""


def test_sample_shop_pace_equals_hand_written_sql(small_shop):
    tz = "Asia/Shanghai"
    _, last_day = small_shop.date_span(tz)
    as_of = last_day - timedelta(days=1)
    start = (as_of - timedelta(days=12)).replace(day=1)
    end = (start + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    first = start - timedelta(weeks=9)
    daily = daily_kpis(small_shop.events, small_shop.sessions, small_shop.orders, small_shop.users,
                       start=first, end=as_of, tz=tz)
    target = float(daily.filter(pl.col("date") >= start)["sessions"].sum()) * 2.5
    table = pace_against_target(daily, kpi="sessions", target=target, start=start, end=end, as_of=as_of)

    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    connection.register("events", small_shop.events.select("user_id", "event_time").to_arrow())
    params = {"tz": tz, "first": first, "start": start, "end": end, "as_of": as_of, "target": target}
    expected = connection.sql(ORACLE_SQL, params=params).pl().rename({"actual": "actual_to_date", "expected": "expected_to_date"})
    assert_frame_equal(table.select(expected.columns), expected, check_dtypes=False, abs_tol=1e-6)
    assert table["elapsed_days"].item() >= 12 and table["projected_low"].item() < table["projected_high"].item()
