"""Benchmarks on the sample shop: medians of repeated runs, each beside a peer measured in
the same run. `python bench/run.py [--db sample_data/shop.db] [--repeat 5]`.

- read: every canonical table through connectorx (Arrow-native) vs pl.read_database over a
  SQLAlchemy connection.
- kpis: the daily KPI table for 30 and 365 days (Polars) vs the same work in DuckDB SQL.
- sessions: deriving sessions at load (Polars) vs DuckDB window functions.
"""

import argparse
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from connectors import SAMPLE_SHOP, SqlSource  # noqa: E402
from connectors.sql import sqlite_url  # noqa: E402
from metrics.kpis import daily_kpis  # noqa: E402
from metrics.sessions import derive_sessions  # noqa: E402
from shop_analytics.loading import LOAD_ORDER, load_shop  # noqa: E402

SESSIONS_SQL = """
WITH ordered AS (
    SELECT *, CASE WHEN LAG(event_time) OVER w IS NULL
                     OR event_time - LAG(event_time) OVER w > INTERVAL 30 MINUTE THEN 1 ELSE 0 END AS starts
    FROM events WINDOW w AS (PARTITION BY user_id ORDER BY event_time)
), numbered AS (
    SELECT *, SUM(starts) OVER (PARTITION BY user_id ORDER BY event_time ROWS UNBOUNDED PRECEDING) AS n
    FROM ordered
)
SELECT user_id, n, MIN(event_time) AS started_at, COUNT(*) AS event_count,
       BOOL_OR(event_type = 'purchase') AS has_purchase
FROM numbered GROUP BY user_id, n
"""

DAILY_SQL = """
WITH calendar AS (
    SELECT CAST(d AS DATE) AS day FROM range(DATE '{start}', DATE '{end}' + INTERVAL 1 DAY, INTERVAL 1 DAY) t(d)
), active AS (
    SELECT DISTINCT user_id, CAST(timezone('{tz}', event_time) AS DATE) AS day FROM events
    WHERE event_time >= TIMESTAMPTZ '{start}' - INTERVAL 31 DAY AND event_time < TIMESTAMPTZ '{end}' + INTERVAL 2 DAY
), rolling AS (
    SELECT c.day,
           COUNT(DISTINCT a.user_id) FILTER (WHERE a.day = c.day) AS dau,
           COUNT(DISTINCT a.user_id) FILTER (WHERE a.day > c.day - 7) AS wau,
           COUNT(DISTINCT a.user_id) AS mau
    FROM calendar c JOIN active a ON a.day BETWEEN c.day - 29 AND c.day GROUP BY c.day
), sales AS (
    SELECT CAST(timezone('{tz}', created_at) AS DATE) AS day, COUNT(*) AS orders,
           COUNT(DISTINCT user_id) AS buyers, SUM(amount) AS gmv
    FROM orders WHERE status IN ('paid', 'shipped', 'completed', 'refunded') GROUP BY 1
), refunds AS (
    SELECT CAST(timezone('{tz}', COALESCE(refunded_at, created_at)) AS DATE) AS day,
           SUM(COALESCE(refund_amount, CASE WHEN status = 'refunded' THEN amount ELSE 0 END)) AS refunds
    FROM orders WHERE status IN ('paid', 'shipped', 'completed', 'refunded') GROUP BY 1
), signups AS (
    SELECT CAST(timezone('{tz}', signup_at) AS DATE) AS day, COUNT(*) AS new_users FROM users GROUP BY 1
), traffic AS (
    SELECT CAST(timezone('{tz}', started_at) AS DATE) AS day, COUNT(*) AS sessions,
           COUNT(*) FILTER (WHERE event_count = 1) AS bounced, COUNT(*) FILTER (WHERE has_purchase) AS converted
    FROM sessions GROUP BY 1
)
SELECT c.day, COALESCE(r.dau, 0) AS dau, COALESCE(r.wau, 0) AS wau, COALESCE(r.mau, 0) AS mau,
       COALESCE(n.new_users, 0) AS new_users, COALESCE(s.orders, 0) AS orders, COALESCE(s.buyers, 0) AS buyers,
       COALESCE(s.gmv, 0) AS gmv, COALESCE(f.refunds, 0) AS refunds, COALESCE(s.gmv, 0) - COALESCE(f.refunds, 0) AS net_revenue,
       s.buyers / NULLIF(r.dau, 0) AS conversion_rate, s.gmv / NULLIF(s.orders, 0) AS aov, s.gmv / NULLIF(s.buyers, 0) AS arppu,
       COALESCE(t.sessions, 0) AS sessions, t.bounced / NULLIF(t.sessions, 0) AS bounce_rate,
       t.converted / NULLIF(t.sessions, 0) AS session_conversion
FROM calendar c LEFT JOIN rolling r USING (day) LEFT JOIN sales s USING (day) LEFT JOIN refunds f USING (day)
LEFT JOIN signups n USING (day) LEFT JOIN traffic t USING (day) ORDER BY c.day
"""

TZ = "Asia/Shanghai"


def median_seconds(work, repeat: int) -> float:
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def report(name: str, ours: float, peer_name: str, peer: float) -> None:
    print(f"{name:<34} {ours:8.3f} s   {peer_name:<26} {peer:8.3f} s   ratio {ours / peer:5.2f}")


def read_all(source: SqlSource) -> None:
    for name in LOAD_ORDER:
        if name in source.table_names():
            source.read_table(name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", type=Path, default=SAMPLE_SHOP)
    parser.add_argument("--repeat", type=int, default=5)
    arguments = parser.parse_args()
    url = sqlite_url(arguments.db)

    connectorx = median_seconds(lambda: read_all(SqlSource(url, reader="connectorx")), arguments.repeat)
    sqlalchemy = median_seconds(lambda: read_all(SqlSource(url, reader="sqlalchemy")), arguments.repeat)
    report("read all tables (connectorx)", connectorx, "pl.read_database+SQLAlchemy", sqlalchemy)

    shop = load_shop(SqlSource(url))
    loading = median_seconds(lambda: load_shop(SqlSource(url)), arguments.repeat)
    print(f"{'load shop (read + sessions)':<34} {loading:8.3f} s")
    print(f"shop: {shop.events.height:,} events, {shop.sessions.height:,} sessions, {shop.orders.height:,} orders")
    raw_events = shop.events.drop("session_id", "session_channel", "session_device")
    ours = median_seconds(lambda: derive_sessions(raw_events), arguments.repeat)
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    for name, frame in (("events", raw_events), ("orders", shop.orders), ("users", shop.users), ("sessions", shop.sessions)):
        connection.register(name, frame.to_arrow())
    peer = median_seconds(lambda: connection.sql(SESSIONS_SQL).to_arrow_table(), arguments.repeat)
    report("derive sessions", ours, "DuckDB window functions", peer)

    last = shop.date_span(TZ)[1]
    frames = (shop.events, shop.sessions, shop.orders, shop.users)
    for days in (30, 365):
        start = last - timedelta(days=days - 1)
        ours = median_seconds(lambda start=start: daily_kpis(*frames, start=start, end=last, tz=TZ), arguments.repeat)
        peer = median_seconds(
            lambda start=start: connection.sql(DAILY_SQL.format(start=start, end=last, tz=TZ)).to_arrow_table(),
            arguments.repeat,
        )
        report(f"daily KPI table, {days} days", ours, "DuckDB SQL (same table)", peer)
        ours_table = daily_kpis(*frames, start=start, end=last, tz=TZ)
        peer_table = pl.from_arrow(connection.sql(DAILY_SQL.format(start=start, end=last, tz=TZ)).to_arrow_table())
        for column in ("dau", "wau", "mau", "orders", "gmv", "sessions"):
            if not np.allclose(ours_table[column].to_numpy(), peer_table[column].to_numpy()):
                raise SystemExit(f"the DuckDB peer disagrees on {column}: the comparison is void")


if __name__ == "__main__":
    main()
