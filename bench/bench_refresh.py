"""Issue 20: what a refresh and a one-off command cost in proportion to what changed and what
was asked.

    python bench/bench_refresh.py refresh [--sizes 1,2,5] [--repeat 3] [--data /tmp/shop-bench-refresh]
    python bench/bench_refresh.py export [--events 10] [--days 30] [--repeat 5] [--data ...]

refresh: a shop of N million events (the sample generator, 25,000 users per million, seed 7)
in a PostgreSQL database of the benchmark's own (`refresh_bench` on 127.0.0.1:5432, dropped at
the end), all but its last day. A process holds the dashboard's state: the shop loaded from
the extract's first generation, its activity events asked for. Then the last day's events and
orders arrive in the database and the process refreshes: either a full refresh (every table
read whole) and the load after it (sessions derived over all events), or the refresh by
changes (the last refresh_window_days again, 3 by default) and the load after it (sessions of
the changed users only). Each mode runs in a process of its own, from a copy of the same
first generation; timed from the refresh to the loaded shop with its activity events (what
the Overview's KPIs, reports and alerts read), then to its events made (a load by changes
makes them, in session order, when a page first reads every event); the peak memory is the
process's resident peak during both (VmHWM, reset through /proc/self/clear_refs before
them), beside its resident size before them; then the next refresh, with nothing new, and
its load (a load by changes on one whose events were never made), and the peak after it
and the first load's events made. Both modes' daily KPIs
of the last 30 days must agree, or the script exits with status 1.

export: `cli.py export kpis` for the last `--days` days of a shop of `--events` million events,
as a whole process (interpreter, imports, the read and the table) over a folder of Parquet
files holding the canonical tables (events in time order, as an extract's month files hold
them), beside a process running DuckDB SQL that computes the same table from the same files:
sessions derived by a window function over every event (as the SPEC derives them), and the
same SQL reading only the events from the bound our read takes. Every process's output is
compared with ours (DAU, WAU, MAU, orders, GMV, sessions); a peer that disagrees voids its
ratio and the script exits with status 1. Median of `--repeat` runs, the processes taking
turns in each round.
"""

import argparse
import io
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DATABASE = "refresh_bench"
USERS_PER_MILLION = 25_000
SEED = 7
TZ = "Asia/Shanghai"
KPI_COLUMNS = ("dau", "wau", "mau", "orders", "gmv", "sessions")


# -- data -----------------------------------------------------------------------------------


def generated(data: Path, millions: float) -> Path:
    """The canonical tables of a generated shop as Parquet (made once, then cached); the
    events in time order."""
    from sample_data.generator import generate_shop

    folder = data / f"{millions:g}m"
    if not (folder / "events.parquet").exists():
        folder.mkdir(parents=True, exist_ok=True)
        tables = generate_shop(users=int(millions * USERS_PER_MILLION), events=int(millions * 1_000_000), seed=SEED)
        for name, frame in tables.items():
            if name == "events":
                frame = frame.sort("event_time", maintain_order=True)
            frame.write_parquet(folder / f".{name}.parquet")
            (folder / f".{name}.parquet").rename(folder / f"{name}.parquet")
    return folder


def last_day_start(folder: Path) -> datetime:
    newest = pl.scan_parquet(folder / "events.parquet").select(pl.col("event_time").max()).collect().item()
    return newest.replace(hour=0, minute=0, second=0, microsecond=0)


def database_url() -> sa.URL:
    return sa.make_url(SERVER).set(database=DATABASE)


def recreate_database() -> None:
    admin = sa.create_engine(SERVER, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))
        connection.execute(sa.text(f'CREATE DATABASE "{DATABASE}"'))
    admin.dispose()


def drop_database() -> None:
    admin = sa.create_engine(SERVER, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))
    admin.dispose()


def load_base(folder: Path, cut: datetime) -> None:
    """Every table into the benchmark's database, the events and orders before `cut` only."""
    from sample_data.server_store import write_server

    recreate_database()
    tables = {path.stem: pl.read_parquet(path) for path in sorted(folder.glob("*.parquet"))}
    tables["events"] = tables["events"].filter(pl.col("event_time") < cut)
    tables["orders"] = tables["orders"].filter(pl.col("created_at") < cut)
    write_server(tables, database_url())
    engine = sa.create_engine(database_url(), isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(sa.text("ANALYZE"))
    engine.dispose()


def remove_last_day(cut: datetime) -> None:
    engine = sa.create_engine(database_url())
    with engine.begin() as connection:
        connection.execute(sa.text("DELETE FROM events WHERE event_time >= :cut"), {"cut": cut})
        connection.execute(sa.text("DELETE FROM orders WHERE created_at >= :cut"), {"cut": cut})
    engine.dispose()


def append_last_day(folder: Path, cut: datetime) -> int:
    """The last day's events and orders written into the database (COPY), as a day of a
    shop's life adds them; how many events."""
    import psycopg

    added = 0
    with psycopg.connect(database_url().set(drivername="postgresql").render_as_string(hide_password=False)) as connection:
        for name, column in (("events", "event_time"), ("orders", "created_at")):
            rows = pl.read_parquet(folder / f"{name}.parquet").filter(pl.col(column) >= cut)
            added += rows.height if name == "events" else 0
            text = rows.with_columns(
                [pl.col(c).dt.convert_time_zone("UTC").dt.strftime("%Y-%m-%d %H:%M:%S%.6f+00:00") for c, t in rows.schema.items() if isinstance(t, pl.Datetime)]
                + [pl.col(c).cast(pl.String) for c, t in rows.schema.items() if t == pl.Categorical]
            ).write_csv(include_header=False)
            columns = ", ".join(f'"{c}"' for c in rows.columns)
            with connection.cursor().copy(f"COPY {name} ({columns}) FROM STDIN (FORMAT csv)") as copy:
                copy.write(text)
    return added


# -- the refresh worker ---------------------------------------------------------------------


def cpu_seconds() -> float:
    """This process's CPU time, user and system, all threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def resident_mib(field: str) -> float:
    line = next(line for line in Path("/proc/self/status").read_text().splitlines() if line.startswith(field))
    return int(line.split()[1]) / 1024


def config_for(extract: Path):
    from shop_analytics.config import config_from_mapping

    url = database_url().render_as_string(hide_password=False)
    return config_from_mapping({
        "connections": {"shop": {"url": url, "extract_folder": str(extract), "pushdown": "never"}},
        "settings": {"time_zone": TZ},
    })


def refresh_worker(extract: Path, full: bool) -> dict:
    """In its own process: the dashboard's state at the first generation, then one refresh
    (full or by changes) and the load after it."""
    from metrics.kpis import daily_kpis
    from shop_analytics.opening import extract_for, load_configured

    config = config_for(extract)
    source = extract_for(config)
    source.current()
    before = load_configured(config, source)
    assert before.activity.height > 0  # the pages have asked for it
    resident_before = resident_mib("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current resident size
    started, cpu_started = time.perf_counter(), cpu_seconds()
    manifest = source.refresh(full=full)
    refreshed, cpu_refreshed = time.perf_counter(), cpu_seconds()
    shop = load_configured(config, source)
    activity = shop.activity
    loaded, cpu_loaded = time.perf_counter(), cpu_seconds()
    peak = resident_mib("VmHWM")
    # the next refresh (nothing new arrived) on this load, its events not made: a load by
    # changes places its sessions on the placed events
    again = time.perf_counter()
    source.refresh(full=full)
    next_shop = load_configured(config, source)
    next_shop.activity  # noqa: B018 - a cached property: computing it is the point
    again_s = time.perf_counter() - again
    # a load by changes makes the events (in session order) when a page first reads them
    made_from = time.perf_counter(), cpu_seconds()
    events = shop.events
    made, cpu_made = time.perf_counter(), cpu_seconds()
    peak_after = resident_mib("VmHWM")
    last = shop.date_span(TZ)[1]
    kpis = daily_kpis(activity, shop.sessions, shop.orders, shop.users, start=last - timedelta(days=29), end=last, tz=TZ)
    return {
        "refresh_s": refreshed - started, "load_s": loaded - refreshed, "total_s": loaded - started,
        "refresh_cpu_s": cpu_refreshed - cpu_started, "load_cpu_s": cpu_loaded - cpu_refreshed, "total_cpu_s": cpu_loaded - cpu_started,
        "events_s": made - made_from[0], "events_cpu_s": cpu_made - made_from[1], "with_events_s": loaded - started + made - made_from[0],
        "next_refresh_s": again_s, "peak_after_mib": peak_after,
        "peak_mib": peak, "resident_before_mib": resident_before, "events": events.height,
        "events_incremental": manifest.tables["events"].incremental,
        "kpis": kpis.select("date", *KPI_COLUMNS).with_columns(pl.col("date").cast(pl.String)).rows(),
    }


def run_refresh(extract: Path, full: bool) -> dict:
    completed = subprocess.run(
        [sys.executable, __file__, "refresh-worker", str(extract), "full" if full else "changes"],
        capture_output=True, text=True, check=False,
    )
    if completed.returncode != 0:
        raise SystemExit(f"the refresh worker failed: {completed.stderr[-2000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def bench_refresh(data: Path, sizes: list[float], repeat: int) -> list[dict]:
    from connectors.extracts import ExtractSource
    from connectors.sql import SqlSource

    results = []
    try:
        for millions in sizes:
            folder = generated(data, millions)
            cut = last_day_start(folder)
            load_base(folder, cut)
            runs = {"full": [], "changes": []}
            for _ in range(repeat):
                remove_last_day(cut)
                first = Path(tempfile.mkdtemp(prefix="refresh-bench-"))
                ExtractSource(lambda: SqlSource(database_url()), folder=first / "extract", window=timedelta(days=3)).refresh(full=True)
                new_events = append_last_day(folder, cut)
                for mode in ("full", "changes"):
                    copy = first / mode
                    shutil.copytree(first / "extract", copy)
                    runs[mode].append(run_refresh(copy, full=mode == "full"))
                shutil.rmtree(first)
                if runs["full"][-1]["kpis"] != runs["changes"][-1]["kpis"]:
                    raise SystemExit(f"{millions:g}M: the refresh by changes gives other daily KPIs than the full refresh")
            row = {"millions": millions, "events": runs["full"][0]["events"], "new_events": new_events, "load_average": os.getloadavg()}
            for mode, measured in runs.items():
                for key in (
                    "refresh_s", "load_s", "total_s", "refresh_cpu_s", "load_cpu_s", "total_cpu_s", "events_s", "events_cpu_s", "with_events_s",
                    "next_refresh_s", "peak_after_mib",
                    "peak_mib", "resident_before_mib",
                ):
                    row[f"{mode}_{key}"] = statistics.median(run[key] for run in measured)
                row[f"{mode}_incremental"] = measured[0]["events_incremental"]
            row["ratio"] = row["changes_total_s"] / row["full_total_s"]
            row["cpu_ratio"] = row["changes_total_cpu_s"] / row["full_total_cpu_s"]
            row["ratio_with_events"] = row["changes_with_events_s"] / row["full_with_events_s"]
            results.append(row)
            print(json.dumps(row), flush=True)
    finally:
        drop_database()
    return results


# -- export kpis as a whole process -------------------------------------------------------------

DUCKDB_KPIS = """
import sys, duckdb
folder, start, end, bound, TZ = sys.argv[1:6]
bounded = "" if bound == "all" else f"WHERE event_time > TIMESTAMPTZ '{bound}'"
con = duckdb.connect()
con.sql("SET TimeZone = 'UTC'")
con.sql("SET enable_progress_bar = false")
sql = f'''
WITH ev AS (
    SELECT user_id, event_time, event_type FROM read_parquet('{folder}/events.parquet') {bounded}
), marked AS (
    SELECT *, CASE WHEN event_time - LAG(event_time) OVER w <= INTERVAL 30 MINUTE THEN 0 ELSE 1 END AS starts
    FROM ev WINDOW w AS (PARTITION BY user_id ORDER BY event_time)
), numbered AS (
    SELECT *, SUM(starts) OVER (PARTITION BY user_id ORDER BY event_time ROWS UNBOUNDED PRECEDING) AS session_number FROM marked
), sessions AS (
    SELECT user_id, session_number, MIN(event_time) AS started_at, COUNT(*) AS event_count,
           BOOL_OR(event_type = 'purchase') AS has_purchase
    FROM numbered GROUP BY user_id, session_number
), calendar AS (
    SELECT CAST(d AS DATE) AS day FROM range(DATE '{start}', DATE '{end}' + INTERVAL 1 DAY, INTERVAL 1 DAY) t(d)
), active AS (
    SELECT DISTINCT user_id, CAST(timezone('{TZ}', event_time) AS DATE) AS day FROM ev
    WHERE CAST(timezone('{TZ}', event_time) AS DATE) BETWEEN DATE '{start}' - 29 AND DATE '{end}'
), rolling AS (
    SELECT c.day, COUNT(DISTINCT a.user_id) FILTER (WHERE a.day = c.day) AS dau,
           COUNT(DISTINCT a.user_id) FILTER (WHERE a.day > c.day - 7) AS wau, COUNT(DISTINCT a.user_id) AS mau
    FROM calendar c JOIN active a ON a.day BETWEEN c.day - 29 AND c.day GROUP BY c.day
), orders AS (SELECT * FROM read_parquet('{folder}/orders.parquet')
), sales AS (
    SELECT CAST(timezone('{TZ}', created_at) AS DATE) AS day, COUNT(*) AS orders, COUNT(DISTINCT user_id) AS buyers, SUM(amount) AS gmv
    FROM orders WHERE status IN ('paid', 'shipped', 'completed', 'refunded') GROUP BY 1
), refunds AS (
    SELECT CAST(timezone('{TZ}', COALESCE(refunded_at, created_at)) AS DATE) AS day,
           SUM(COALESCE(refund_amount, CASE WHEN status = 'refunded' THEN amount ELSE 0 END)) AS refunds
    FROM orders WHERE status IN ('paid', 'shipped', 'completed', 'refunded') GROUP BY 1
), signups AS (
    SELECT CAST(timezone('{TZ}', signup_at) AS DATE) AS day, COUNT(*) AS new_users FROM read_parquet('{folder}/users.parquet') GROUP BY 1
), traffic AS (
    SELECT CAST(timezone('{TZ}', started_at) AS DATE) AS day, COUNT(*) AS sessions,
           COUNT(*) FILTER (WHERE event_count = 1) AS bounced, COUNT(*) FILTER (WHERE has_purchase) AS converted
    FROM sessions GROUP BY 1
)
SELECT c.day AS date, COALESCE(r.dau, 0) AS dau, COALESCE(r.wau, 0) AS wau, COALESCE(r.mau, 0) AS mau,
       COALESCE(n.new_users, 0) AS new_users, COALESCE(s.orders, 0) AS orders, COALESCE(s.buyers, 0) AS buyers,
       COALESCE(s.gmv, 0) AS gmv, COALESCE(f.refunds, 0) AS refunds, COALESCE(s.gmv, 0) - COALESCE(f.refunds, 0) AS net_revenue,
       s.buyers / NULLIF(r.dau, 0) AS conversion_rate, s.gmv / NULLIF(s.orders, 0) AS aov, s.gmv / NULLIF(s.buyers, 0) AS arppu,
       COALESCE(t.sessions, 0) AS sessions, t.bounced / NULLIF(t.sessions, 0) AS bounce_rate,
       t.converted / NULLIF(t.sessions, 0) AS session_conversion
FROM calendar c LEFT JOIN rolling r USING (day) LEFT JOIN sales s USING (day) LEFT JOIN refunds f USING (day)
LEFT JOIN signups n USING (day) LEFT JOIN traffic t USING (day) ORDER BY c.day
'''
con.sql(sql).write_csv('/dev/stdout')
"""


def timed_process(command: list[str]) -> tuple[float, bytes]:
    started = time.perf_counter()
    completed = subprocess.run(command, cwd=ROOT, capture_output=True, check=False)
    elapsed = time.perf_counter() - started
    if completed.returncode != 0:
        raise SystemExit(f"{command[:4]} failed: {completed.stderr.decode()[-2000:]}")
    return elapsed, completed.stdout


def kpi_table(output: bytes) -> pl.DataFrame:
    return pl.read_csv(io.BytesIO(output), try_parse_dates=True).select("date", *KPI_COLUMNS).sort("date")


def agrees(ours: pl.DataFrame, peer: pl.DataFrame) -> bool:
    if ours.height != peer.height or ours["date"].to_list() != peer["date"].to_list():
        return False
    return all(
        (ours[column].cast(pl.Float64) - peer[column].cast(pl.Float64)).abs().max() <= 1e-6 * max(1.0, ours[column].cast(pl.Float64).abs().max())
        for column in KPI_COLUMNS
    )


def bench_export(data: Path, millions: float, days: int, repeat: int) -> dict:
    from metrics.time import utc_bounds

    folder = generated(data, millions)
    secrets = data / "empty-secrets.toml"
    secrets.write_text("")  # every default: no configured source, no push-down below 20M events
    newest = pl.scan_parquet(folder / "events.parquet").select(pl.col("event_time").max()).collect().item()
    end = newest.astimezone(ZoneInfo(TZ)).date()
    start = end - timedelta(days=days - 1)
    # the bound our read takes (shop_analytics/bounds.py): 29 days of MAU, then a day and a session gap
    bound = utc_bounds(start - timedelta(days=29), start, TZ)[0] - timedelta(minutes=30) - timedelta(days=1)
    commands = {
        "ours": [sys.executable, "cli.py", "export", "kpis", "--source", str(folder), "--from", str(start), "--to", str(end),
                 "--format", "csv", "--secrets", str(secrets), "--tz", TZ],
        "duckdb_all_events": [sys.executable, "-c", DUCKDB_KPIS, str(folder), str(start), str(end), "all", TZ],
        "duckdb_same_bound": [sys.executable, "-c", DUCKDB_KPIS, str(folder), str(start), str(end), bound.isoformat(), TZ],
    }
    times = {name: [] for name in commands}
    outputs = {}
    load = [os.getloadavg()]
    for _ in range(repeat):
        for name, command in commands.items():
            elapsed, outputs[name] = timed_process(command)
            times[name].append(elapsed)
    load.append(os.getloadavg())
    ours = kpi_table(outputs["ours"])
    result = {"millions": millions, "days": days, "start": str(start), "end": str(end), "load_average": load, "repeat": repeat}
    for name, measured in times.items():
        result[f"{name}_s"] = statistics.median(measured)
        result[f"{name}_runs"] = measured
        if name != "ours":
            result[f"{name}_agrees"] = agrees(ours, kpi_table(outputs[name]))
            result[f"ratio_to_{name}"] = result["ours_s"] / result[f"{name}_s"] if result[f"{name}_agrees"] else None
    print(json.dumps(result), flush=True)
    if not all(result[f"{name}_agrees"] for name in commands if name != "ours"):
        raise SystemExit("a DuckDB peer disagrees with our table: its ratio is void")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    refresh = commands.add_parser("refresh")
    refresh.add_argument("--sizes", default="1,2,5", help="millions of events, comma-separated")
    refresh.add_argument("--repeat", type=int, default=3)
    export = commands.add_parser("export")
    export.add_argument("--events", type=float, default=10, help="millions of events")
    export.add_argument("--days", type=int, default=30)
    export.add_argument("--repeat", type=int, default=5)
    for command in (refresh, export):
        command.add_argument("--data", type=Path, default=Path("/tmp/shop-bench-refresh"))
    worker = commands.add_parser("refresh-worker")
    worker.add_argument("extract", type=Path)
    worker.add_argument("mode", choices=["full", "changes"])
    arguments = parser.parse_args()
    if arguments.command == "refresh-worker":
        print(json.dumps(refresh_worker(arguments.extract, arguments.mode == "full")))
    elif arguments.command == "refresh":
        print(f"load average at the start: {os.getloadavg()}; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC", flush=True)
        bench_refresh(arguments.data, [float(size) for size in arguments.sizes.split(",")], arguments.repeat)
    else:
        bench_export(arguments.data, arguments.events, arguments.days, arguments.repeat)


if __name__ == "__main__":
    main()
