"""Metric benchmarks: our Polars metrics beside DuckDB SQL doing the same work on the same data.

`python bench/bench_metrics.py --db PATH [--repeat 3] [--days 30]`

The shop is loaded once, as the app loads it (`load_shop(open_source(PATH))`: every table read,
sessions derived, orders attributed); the load is timed once. Each metric then runs `--repeat`
times and its median wall time is reported:

- daily KPI table for the last `--days` days and for the last 365 days (`daily_kpis`) vs
  `bench.run.DAILY_SQL`;
- weekly retention by first activity, activity measure, "on" mode, cohorts over the whole data
  span (`retention`) vs SQL: first-activity week per user, active weeks per user, join, count;
- channel table over the last `--days` days (`channel_table`) vs SQL computing sessions,
  visitors, bounce rate, session conversion, orders, GMV, spend, CPC and ROAS per channel. Our
  table also computes new users, first-time buyers, margins, ROI and target flags, which the
  peer leaves out;
- ordered funnel product_view -> add_to_cart -> checkout -> purchase, 7-day window, entries
  in the last `--days` days (`funnel`) vs SQL: for each entry, the earliest later step 2 within
  the window (an ASOF join), then step 3 after that, and so on; users per step = distinct
  users whose best entry reaches the step. Greedy earliest matching is exact for an ordered
  funnel of distinct event types without exclusions.

The peer is an in-process DuckDB over the shop's frames as Arrow: the events without the
session columns that loading adds, and the sessions table as loading derives it (DuckDB gets
the same pre-derived sessions our code reads, so neither side pays for sessionizing). Orders
arrive with the channel attribution loading made; both sides join users again for it.

All our metrics run first, then all the peers, so the peak memory (ru_maxrss) after our
metrics is ours alone; the one after the peers includes DuckDB's. The peers' results are
checked against ours: any disagreement is named and the run exits with status 1, since a
ratio to a peer that computes something else means nothing.
"""

import argparse
import resource
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.run import DAILY_SQL, TZ
from connectors import open_source
from metrics.channels import channel_table
from metrics.cohorts import retention
from metrics.funnel import FunnelSpec, funnel
from metrics.kpis import DAILY_COLUMNS, daily_kpis
from metrics.orders import VALID_ORDER_STATUSES
from shop_analytics.loading import load_shop

FUNNEL_STEPS = ("product_view", "add_to_cart", "checkout", "purchase")
FUNNEL_WINDOW = timedelta(days=7)
YEAR_DAYS = 365

RETENTION_SQL = """
WITH first_active AS (
    SELECT user_id, CAST(date_trunc('week', CAST(timezone('{tz}', MIN(event_time)) AS DATE)) AS DATE) AS cohort
    FROM events GROUP BY user_id
), cohorts AS (
    SELECT user_id, cohort, COUNT(*) OVER (PARTITION BY cohort) AS cohort_size
    FROM first_active WHERE cohort >= DATE '{start}'
), active_weeks AS (
    SELECT DISTINCT user_id, CAST(date_trunc('week', CAST(timezone('{tz}', event_time) AS DATE)) AS DATE) AS week
    FROM events WHERE event_time >= timezone('{tz}', TIMESTAMP '{start}')
)
SELECT c.cohort, (a.week - c.cohort) // 7 AS "offset", c.cohort_size, COUNT(*) AS retained
FROM cohorts c JOIN active_weeks a USING (user_id)
WHERE a.week >= c.cohort
GROUP BY ALL
"""

CHANNEL_SQL = """
WITH traffic AS (
    SELECT COALESCE(channel, '(unknown)') AS channel, COUNT(*) AS sessions, COUNT(DISTINCT user_id) AS visitors,
           COUNT(*) FILTER (WHERE event_count = 1) AS bounced, COUNT(*) FILTER (WHERE has_purchase) AS converted
    FROM sessions
    WHERE started_at >= timezone('{tz}', TIMESTAMP '{start}') AND started_at < timezone('{tz}', TIMESTAMP '{end}' + INTERVAL 1 DAY)
    GROUP BY 1
), sales AS (
    SELECT COALESCE(o.channel, u.channel, '(unknown)') AS channel, COUNT(*) AS orders, SUM(o.amount) AS gmv
    FROM orders o LEFT JOIN users u USING (user_id)
    WHERE o.status IN {valid_statuses}
      AND o.created_at >= timezone('{tz}', TIMESTAMP '{start}') AND o.created_at < timezone('{tz}', TIMESTAMP '{end}' + INTERVAL 1 DAY)
    GROUP BY 1
), spend AS (
    SELECT COALESCE(channel, '(unknown)') AS channel, SUM(spend) AS spend, SUM(clicks) AS clicks
    FROM ad_spend WHERE date BETWEEN DATE '{start}' AND DATE '{end}' GROUP BY 1
)
SELECT channel, COALESCE(t.sessions, 0) AS sessions, COALESCE(t.visitors, 0) AS visitors,
       t.bounced / NULLIF(t.sessions, 0) AS bounce_rate, t.converted / NULLIF(t.sessions, 0) AS session_conversion,
       COALESCE(s.orders, 0) AS orders, COALESCE(s.gmv, 0) AS gmv, COALESCE(p.spend, 0) AS spend,
       p.spend / NULLIF(p.clicks, 0) AS cpc, COALESCE(s.gmv, 0) / NULLIF(p.spend, 0) AS roas
FROM traffic t FULL JOIN sales s USING (channel) FULL JOIN spend p USING (channel)
"""

FUNNEL_SQL = """
WITH step_events AS (
    SELECT user_id, event_time, event_type FROM events
    WHERE event_type IN {steps}
      AND event_time >= timezone('{tz}', TIMESTAMP '{start}')
      AND event_time <= timezone('{tz}', TIMESTAMP '{end}' + INTERVAL 1 DAY) + INTERVAL {window_days} DAY
), entries AS (
    SELECT DISTINCT user_id, event_time AS t1 FROM step_events
    WHERE event_type = '{steps[0]}' AND event_time < timezone('{tz}', TIMESTAMP '{end}' + INTERVAL 1 DAY)
), second_steps AS (
    SELECT user_id, event_time AS t FROM step_events WHERE event_type = '{steps[1]}'
), third_steps AS (
    SELECT user_id, event_time AS t FROM step_events WHERE event_type = '{steps[2]}'
), fourth_steps AS (
    SELECT user_id, event_time AS t FROM step_events WHERE event_type = '{steps[3]}'
), to_second AS (
    SELECT e.user_id, e.t1, CASE WHEN s.t <= e.t1 + INTERVAL {window_days} DAY THEN s.t END AS t2
    FROM entries e ASOF LEFT JOIN second_steps s ON e.user_id = s.user_id AND s.t >= e.t1
), to_third AS (
    SELECT e.*, CASE WHEN s.t <= e.t1 + INTERVAL {window_days} DAY THEN s.t END AS t3
    FROM to_second e ASOF LEFT JOIN third_steps s ON e.user_id = s.user_id AND s.t >= e.t2
), to_fourth AS (
    SELECT e.*, CASE WHEN s.t <= e.t1 + INTERVAL {window_days} DAY THEN s.t END AS t4
    FROM to_third e ASOF LEFT JOIN fourth_steps s ON e.user_id = s.user_id AND s.t >= e.t3
), furthest AS (
    SELECT user_id, MAX(1 + (t2 IS NOT NULL)::INT + (t3 IS NOT NULL)::INT + (t4 IS NOT NULL)::INT) AS furthest_step
    FROM to_fourth GROUP BY user_id
)
SELECT s.step, COUNT(*) FILTER (WHERE f.furthest_step >= s.step) AS users
FROM range(1, 5) s(step) CROSS JOIN furthest f GROUP BY s.step ORDER BY s.step
"""


@dataclass(frozen=True)
class Comparison:
    """How to check a peer against our table: both are joined on `keys` (a row missing on one
    side has 0 in `zero_when_missing`), then every column in `columns` must agree."""

    keys: tuple[str, ...]
    columns: tuple[str, ...]
    zero_when_missing: tuple[str, ...] = ()
    ours_rows: Callable[[pl.DataFrame], pl.DataFrame] = lambda table: table
    peer_renames: dict[str, str] | None = None


@dataclass(frozen=True)
class Benchmark:
    """One metric: our call, the peer's SQL, and how their results must agree."""

    name: str
    ours: Callable[[], pl.DataFrame]
    peer_sql: str
    comparison: Comparison


@dataclass(frozen=True)
class Timing:
    """The median of repeated runs and the last run's result, for the agreement check."""

    median_seconds: float
    result: pl.DataFrame


def timed(work: Callable[[], pl.DataFrame], repeat: int) -> Timing:
    """The median wall time of `repeat` runs of `work`, and the last run's result."""
    seconds = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = work()
        seconds.append(time.perf_counter() - started)
    return Timing(statistics.median(seconds), result)


def peak_memory_mib() -> float:
    """The process's peak resident set so far (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def as_floats(series: pl.Series) -> np.ndarray:
    return series.cast(pl.Float64).fill_null(np.nan).to_numpy()


def disagreements(ours: pl.DataFrame, peer: pl.DataFrame, comparison: Comparison) -> list[str]:
    """The columns on which the peer's table differs from ours, with a sample row each."""
    ours = comparison.ours_rows(ours).select(*comparison.keys, *comparison.columns)
    peer = peer.rename(comparison.peer_renames or {}).select(*comparison.keys, *comparison.columns)
    peer = peer.cast({key: ours.schema[key] for key in comparison.keys})
    both = ours.join(peer, on=list(comparison.keys), how="full", coalesce=True, suffix="_peer", nulls_equal=True)
    both = both.with_columns(
        pl.col(name, f"{name}_peer").fill_null(0) for name in comparison.zero_when_missing
    )
    found = []
    for name in comparison.columns:
        ours_values, peer_values = as_floats(both[name]), as_floats(both[f"{name}_peer"])
        agree = np.isclose(ours_values, peer_values, rtol=1e-9, atol=1e-6, equal_nan=True)
        if not agree.all():
            first = both.filter(pl.Series(~agree)).select(*comparison.keys, name, f"{name}_peer").row(0, named=True)
            found.append(f"{name} on {(~agree).sum()} of {len(agree)} rows, e.g. {first}")
    return found


def benchmarks(shop, *, days: int) -> list[Benchmark]:
    """The metrics to measure, their periods ending on the shop's last business day."""
    first_day, last_day = shop.date_span(TZ)
    recent_start = last_day - timedelta(days=days - 1)
    kpi_frames = (shop.events, shop.sessions, shop.orders, shop.users)

    def daily_table(length: int) -> Benchmark:
        start = last_day - timedelta(days=length - 1)
        return Benchmark(
            f"daily KPI table, {length} days",
            lambda: daily_kpis(*kpi_frames, start=start, end=last_day, tz=TZ),
            DAILY_SQL.format(start=start, end=last_day, tz=TZ),
            Comparison(keys=("date",), columns=DAILY_COLUMNS[1:], peer_renames={"day": "date"}),
        )

    cases = [daily_table(days), daily_table(YEAR_DAYS)]
    cases.append(Benchmark(
        f"weekly retention, {(last_day - first_day).days + 1} days",
        lambda: retention(shop.events, shop.orders, shop.users, start=first_day, end=last_day, tz=TZ,
                          period="week", cohort_by="activity", measure="activity", mode="on"),
        RETENTION_SQL.format(start=first_day, tz=TZ),
        Comparison(keys=("cohort", "offset"), columns=("cohort_size", "retained"),
                   zero_when_missing=("cohort_size", "retained"),
                   ours_rows=lambda table: table.filter(pl.col("retained") > 0)),
    ))
    cases.append(Benchmark(
        f"channel table, {days} days",
        lambda: channel_table(shop.events, shop.sessions, shop.orders, shop.users, shop.ad_spend,
                              shop.order_items, shop.products, start=recent_start, end=last_day, tz=TZ),
        CHANNEL_SQL.format(start=recent_start, end=last_day, tz=TZ, valid_statuses=VALID_ORDER_STATUSES),
        Comparison(keys=("channel",),
                   columns=("sessions", "visitors", "bounce_rate", "session_conversion", "orders", "gmv",
                            "spend", "cpc", "roas"),
                   zero_when_missing=("sessions", "visitors", "orders", "gmv", "spend")),
    ))
    spec = FunnelSpec(steps=FUNNEL_STEPS, window=FUNNEL_WINDOW)
    cases.append(Benchmark(
        f"ordered funnel, 4 steps, {days}-day entry",
        lambda: funnel(shop.events, spec, start=recent_start, end=last_day, tz=TZ),
        FUNNEL_SQL.format(start=recent_start, end=last_day, tz=TZ, steps=FUNNEL_STEPS, window_days=FUNNEL_WINDOW.days),
        Comparison(keys=("step",), columns=("users",), zero_when_missing=("users",)),
    ))
    return cases


def duckdb_over(shop) -> duckdb.DuckDBPyConnection:
    """An in-process DuckDB with the shop's frames registered as Arrow tables."""
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    frames = {
        "events": shop.events.drop("session_id", "session_channel", "session_device"),
        "sessions": shop.sessions,
        "orders": shop.orders.drop("device"),
        "users": shop.users,
        "ad_spend": shop.ad_spend,
    }
    for name, frame in frames.items():
        connection.register(name, frame.to_arrow())
    return connection


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", required=True, help="the shop: a SQLite file, SQLAlchemy URL or folder of tables")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; the median is shown")
    parser.add_argument("--days", type=int, default=30, help="the short period: KPI table, channels, funnel entry")
    arguments = parser.parse_args()

    started = time.perf_counter()
    shop = load_shop(open_source(arguments.db))
    load_seconds = time.perf_counter() - started
    memory_after_load = peak_memory_mib()
    print(f"shop {arguments.db}: {shop.events.height:,} events, {shop.sessions.height:,} sessions, "
          f"{shop.orders.height:,} orders, {shop.users.height:,} users")
    print(f"load (read + sessions + attribution), one run: {load_seconds:.2f} s; "
          f"peak memory after load: {memory_after_load:,.0f} MiB")

    cases = benchmarks(shop, days=arguments.days)
    ours = [timed(case.ours, arguments.repeat) for case in cases]
    memory_after_ours = peak_memory_mib()
    connection = duckdb_over(shop)
    peers = [
        timed(lambda sql=case.peer_sql: pl.from_arrow(connection.sql(sql).to_arrow_table()), arguments.repeat)
        for case in cases
    ]
    memory_after_peers = peak_memory_mib()

    print(f"\nmedian of {arguments.repeat} runs; ratio = ours / DuckDB")
    print(f"{'metric':<38} {'ours s':>8} {'DuckDB s':>9} {'ratio':>6}  peer agrees")
    problems = []
    for case, our_timing, peer_timing in zip(cases, ours, peers):
        differences = disagreements(our_timing.result, peer_timing.result, case.comparison)
        problems += [f"{case.name}: {difference}" for difference in differences]
        ratio = our_timing.median_seconds / peer_timing.median_seconds
        print(f"{case.name:<38} {our_timing.median_seconds:8.3f} {peer_timing.median_seconds:9.3f} "
              f"{ratio:6.2f}  {'yes' if not differences else 'NO'}")
    print(f"\npeak memory: after load {memory_after_load:,.0f} MiB, after our metrics {memory_after_ours:,.0f} MiB, "
          f"after the DuckDB peers too {memory_after_peers:,.0f} MiB")
    if problems:
        raise SystemExit("the DuckDB peer disagrees with our metric, so its ratio is void:\n  " + "\n  ".join(problems))


if __name__ == "__main__":
    main()
