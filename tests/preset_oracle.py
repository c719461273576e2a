"""Test helper for the platform presets: the daily KPIs the app computes from a preset's
canonical tables, and the same KPIs from hand-written SQL run by DuckDB over the platform's
own tables, compared cell by cell."""

from datetime import date, timedelta

import duckdb
import polars as pl

from metrics.kpis import daily_kpis
from metrics.sessions import derive_sessions

# The KPIs compared, and the columns of the oracle's table holding them.
KPIS = ("orders", "buyers", "gmv", "refunds", "net_revenue", "aov", "new_users")
COUNTS = ("orders", "buyers", "new_users")
CENT = 0.005


def app_kpis(tables: dict[str, pl.DataFrame], first_day: date, last_day: date, zone: str) -> pl.DataFrame:
    """The app's daily KPI table over the canonical `tables` (events may be absent)."""
    events = tables.get("events")
    if events is None:
        events = pl.DataFrame(schema={"user_id": tables["orders"].schema["user_id"], "event_time": pl.Datetime("us", "UTC"), "event_type": pl.String})
    _, sessions = derive_sessions(events)
    return daily_kpis(events, sessions, tables["orders"], tables["users"], start=first_day, end=last_day, tz=zone)


def oracle(frames: dict[str, pl.DataFrame], zone: str) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection holding the platform's tables `frames`, in a UTC session, with
    local_day(t): the day in `zone` of a zoneless UTC time."""
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    for name, frame in frames.items():
        connection.register(name, frame)
    connection.execute(f"CREATE MACRO local_day(t) AS CAST(timezone('{zone}', CAST(t AS TIMESTAMPTZ)) AS DATE)")
    return connection


def days_sql(first_day: date, last_day: date) -> str:
    """The days first_day..last_day as a DuckDB table expression with one column, day."""
    return (f"(SELECT CAST(range AS DATE) AS day FROM range(DATE '{first_day}', DATE '{last_day + timedelta(days=1)}', "
            "INTERVAL 1 DAY))")


def assert_kpis_equal(app: pl.DataFrame, expected: pl.DataFrame) -> int:
    """Every KPI of every day equal, counts exactly and money to the cent (AOV empty on days
    without orders in both); returns the number of cells compared."""
    joined = app.select("date", *KPIS).join(expected.rename({"day": "date"}), on="date", how="full", suffix="_sql")
    assert joined.height == app.height == expected.height
    for kpi in KPIS:
        ours, theirs = joined[kpi], joined[f"{kpi}_sql"]
        if kpi in COUNTS:
            mismatched = joined.filter(ours.cast(pl.Int64) != theirs.cast(pl.Int64))
        else:
            differs = (ours.cast(pl.Float64) - theirs.cast(pl.Float64)).abs() >= CENT
            mismatched = joined.filter(differs.fill_null(True) & ~(ours.is_null() & theirs.is_null()))
        assert mismatched.is_empty(), f"{kpi} differs on {mismatched.height} day(s):\n{mismatched.select('date', kpi, f'{kpi}_sql')}"
    return joined.height * len(KPIS)


def one_row(connection: duckdb.DuckDBPyConnection, sql: str) -> tuple:
    """The single row `sql` returns, read to the end so that the connection is free again."""
    (row,) = connection.sql(sql).fetchall()
    return row
