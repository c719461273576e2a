"""The benchmark suite (`make bench`): how the app's cost grows with the shop, from 1 to 20
million events, written to bench/RESULTS.md.

    .venv/bin/python bench/suite.py [--sizes 1,2,5,10,20] [--repeat 3] [--memory-limit-gb 4]
        [--tasks memory,streaming,limited,pages,postgres] [--data /tmp/shop-bench] [--keep-databases]

For each size (millions of events; 25,000 users per million, the sample shop's ratio, seed 7)
the sample generator writes a SQLite file and the same tables as Parquet (both cached in
`--data`), then separate processes measure, each reporting its own peak memory (ru_maxrss):

- in memory, as the app works: the database read (every table through the connector);
  deriving sessions; the daily KPI table (30 and 365 days), weekly retention, the channel
  table and a 4-step funnel, each beside DuckDB SQL doing the same work on the same frames
  (bench/bench_metrics.py; a peer that disagrees voids its ratio and is reported); a model
  fit (BG/NBD + Gamma-Gamma with a 90-day holdout); the weekly report built and written as
  HTML;
- pages: the first render of the overview, channels, cohorts and funnel pages after a period
  change, in AppTest (bench/bench_pages.py);
- streaming: the shop loaded with push-down from the Parquet files (what an extract holds)
  by Polars' streaming engine, the daily KPI table and a funnel, with the address space
  limited to `--memory-limit-gb` (RLIMIT_DATA), as on a small machine; and the in-memory load
  under the same limit, which may not survive it;
- PostgreSQL: the events, orders and users copied into a database of the suite's own, then
  reading the raw events out (the connector) beside the push-down queries (session days, DAU
  per day and channel) and the whole push-down load.

Every figure is the median of `--repeat` runs. Results per size and task are kept in
bench/results/suite.json (git-ignored), so a run of some sizes or tasks replaces those and
keeps the others; bench/RESULTS.md and bench/suite_times.svg are written from all of them.
"""

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

TZ = "Asia/Shanghai"
USERS_PER_MILLION = 25_000
SEED = 7
RESULTS = ROOT / "bench" / "results" / "suite.json"
PAGES = ("overview", "channels", "cohorts", "funnel")
TASKS = ("memory", "streaming", "limited", "pages", "postgres")
GAP = timedelta(minutes=30)


# -- measuring -----------------------------------------------------------------------------


def measured(work: Callable[[], object], repeat: int) -> tuple[dict, object]:
    """{"ours": median wall seconds, "cpu": median CPU seconds of this process (every thread)}
    of `repeat` runs of `work`, and the last run's result.

    The CPU time is what judges growth: on a machine shared with other work the wall time
    also measures the others' load, while this process's CPU seconds do not."""
    wall, cpu, result = [], [], None
    for _ in range(repeat):
        started, started_cpu = time.perf_counter(), time.process_time()
        result = work()
        wall.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    return {"ours": statistics.median(wall), "cpu": statistics.median(cpu)}, result


def beside(ours: dict, peer: dict, agrees: bool) -> dict:
    """Our measurement with the peer's beside it."""
    return {**ours, "peer": peer["ours"], "peer_cpu": peer["cpu"], "agrees": agrees}


def peak_mib() -> float:
    """This process's peak resident memory so far (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _sessions_beside_duckdb(db: Path, repeat: int) -> dict:
    """Deriving sessions (metrics.sessions) from the events as the database gives them, in
    time order, beside DuckDB's window functions (bench/run.py); they agree when they find as
    many sessions. (A loaded shop's events are sorted by user already, which would spare the
    sort that is most of the work.)"""
    import duckdb

    from bench.run import SESSIONS_SQL
    from connectors import open_source
    from metrics.sessions import derive_sessions

    raw = open_source(db).read_table("events")
    ours, (_, sessions) = measured(lambda: derive_sessions(raw), repeat)
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    connection.register("events", raw.to_arrow())
    peer, peer_sessions = measured(lambda: connection.sql(SESSIONS_SQL).to_arrow_table(), repeat)
    connection.close()
    return beside(ours, peer, peer_sessions.num_rows == sessions.height)


def work_memory(db: Path, repeat: int) -> dict:
    """The in-memory path: read, sessions, the metric families beside DuckDB, a model, a report."""
    import polars as pl

    from bench.bench_metrics import benchmarks, disagreements, duckdb_over
    from bench.run import read_all
    from connectors import open_source
    from models.ltv import ltv_analysis
    from shop_analytics.config import Settings
    from shop_analytics.loading import load_shop
    from shop_analytics.reports.content import build_report
    from shop_analytics.reports.render import render_html

    timings, notes = {}, []
    timings["database read (SQLite, every table)"] = measured(lambda: read_all(open_source(db)), repeat)[0]
    timings["load: read + sessions + attribution"], shop = measured(lambda: load_shop(open_source(db)), 1)
    memory = {"in-memory app after the load": peak_mib()}
    timings["derive sessions"] = _sessions_beside_duckdb(db, repeat)
    cases = benchmarks(shop, days=30)
    results = [measured(case.ours, repeat) for case in cases]
    peers = duckdb_over(shop)
    for case, (ours, result) in zip(cases, results):
        peer, peer_result = measured(lambda sql=case.peer_sql: pl.from_arrow(peers.sql(sql).to_arrow_table()), repeat)
        differences = disagreements(result, peer_result, case.comparison)
        notes += [f"{case.name}: DuckDB disagrees on {difference}" for difference in differences]
        timings[case.name] = beside(ours, peer, not differences)
    peers.close()
    _, last = shop.date_span(TZ)
    timings["model fit: BG/NBD + Gamma-Gamma, 90-day holdout"] = measured(
        lambda: ltv_analysis(shop.orders, calibration_end=last - timedelta(days=90), holdout_end=last, tz=TZ), repeat)[0]
    timings["weekly report: build + HTML"] = measured(
        lambda: render_html(build_report(shop, kind="week", day=last, lang="en", settings=Settings())), repeat)[0]
    memory["in-memory measurements, end (DuckDB's memory included)"] = peak_mib()
    rows = {"events": shop.events.height, "sessions": shop.sessions.height, "orders": shop.orders.height, "users": shop.users.height}
    return {"timings": timings, "memory": memory, "rows": rows, "notes": notes}


def work_pages(db: Path, repeat: int) -> dict:
    """Each page's first render after a period change (AppTest), median of `repeat`."""
    import bench.bench_pages as pages

    pages.PAGES.extend(PAGES)
    timings = pages.bench_apptest(db, repeat)
    return {
        "timings": {f"page render: {name} (AppTest)": {"ours": statistics.median(values)} for name, values in timings.items()},
        "memory": {"AppTest with the shop loaded": peak_mib()},
    }


def limit_memory(gigabytes: float) -> None:
    """Let this process have at most `gigabytes` of writable memory (RLIMIT_DATA: heap and
    anonymous maps), as a machine with that much memory would. Not RLIMIT_AS: Polars reserves
    about 1 GB of address space for its threads and allocator before it holds any data, which
    a machine's memory does not have to back."""
    limit = int(gigabytes * 1024**3)
    resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))


def work_streaming(folder: Path, repeat: int, memory_limit_gb: float) -> dict:
    """Push-down by Polars' streaming engine over the Parquet files, the address space limited."""
    limit_memory(memory_limit_gb)
    from connectors import FolderSource
    from metrics.funnel import FunnelSpec, funnel
    from metrics.kpis import daily_kpis
    from shop_analytics.loading import load_shop

    load, shop = measured(lambda: load_shop(FolderSource(folder), pushdown="always", tz=TZ), repeat)
    _, last = shop.date_span(TZ)
    kpis, _ = measured(lambda: daily_kpis(shop.activity, shop.sessions, shop.orders, shop.users, start=last - timedelta(days=364), end=last, tz=TZ), repeat)
    spec = FunnelSpec(steps=("product_view", "add_to_cart", "checkout", "purchase"))

    def pushed_funnel():
        events = shop.pushed.funnel_events(spec, start=last - timedelta(days=29), end=last, tz=TZ)
        return funnel(events, spec, start=last - timedelta(days=29), end=last, tz=TZ)

    funnel_seconds, _ = measured(pushed_funnel, repeat)
    return {
        "timings": {
            f"streaming push-down load (Parquet, {memory_limit_gb:g} GB limit)": load,
            "daily KPI table, 365 days, from activity events": kpis,
            "ordered funnel, 4 steps, from its pushed events": funnel_seconds,
        },
        "memory": {f"streaming push-down app ({memory_limit_gb:g} GB limit)": peak_mib()},
        "rows": {"activity events": shop.activity.height},
    }


def work_limited_in_memory(folder: Path, memory_limit_gb: float) -> dict:
    """The in-memory load of the same Parquet files under the same limit."""
    limit_memory(memory_limit_gb)
    from connectors import FolderSource
    from shop_analytics.loading import load_shop

    load, _ = measured(lambda: load_shop(FolderSource(folder)), 1)
    return {
        "timings": {f"in-memory load (Parquet, {memory_limit_gb:g} GB limit)": load},
        "memory": {f"in-memory load (Parquet, {memory_limit_gb:g} GB limit)": peak_mib()},
    }


def work_postgres(db: Path, millions: float, repeat: int, keep: bool) -> dict:
    """Raw events out of PostgreSQL beside the push-down queries."""
    import sqlalchemy as sa
    from test_pushdown_sql import SERVERS

    from connectors import SqlSource, open_source
    from sample_data.server_store import write_server
    from shop_analytics.loading import load_shop
    from shop_analytics.pushdown.engines import SqlPushdown

    database = f"shop_suite_{str(millions).replace('.', '_')}m"
    admin = sa.create_engine(SERVERS["postgresql"], isolation_level="AUTOCOMMIT")
    quoted = admin.dialect.identifier_preparer.quote(database)
    url = sa.make_url(SERVERS["postgresql"]).set(database=database)
    source = open_source(db)
    events = source.read_table("events", columns=["user_id", "event_time", "event_type", "channel", "device"]).height
    with admin.connect() as connection:
        exists = connection.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": database}).first()
        if not exists:
            connection.execute(sa.text(f"CREATE DATABASE {quoted}"))
    started = time.perf_counter()
    if not exists:
        write_server({name: source.read_table(name) for name in ("users", "orders", "events")}, url)
    copied = time.perf_counter() - started
    # a shop's tables have planner statistics (autovacuum gathers them); freshly copied ones
    # have none until autovacuum comes round, and the plans vary with that
    analyze = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with analyze.connect() as connection:
        connection.execute(sa.text("ANALYZE events, orders, users"))
    analyze.dispose()
    try:
        raw, read = measured(lambda: SqlSource(url).read_table("events"), repeat)
        if read.height != events:
            raise SystemExit(f"PostgreSQL gave {read.height:,} events, not {events:,}")
        del read
        engine = SqlPushdown(SqlSource(url))
        days_seconds, days = measured(lambda: engine.session_days(tz=TZ, gap=GAP), repeat)
        if days["events"].sum() != events:
            raise SystemExit("the pushed session days do not count every event")
        last = days["date"].max()
        dau, _ = measured(lambda: engine.daily_active_users(start=last - timedelta(days=29), end=last, tz=TZ, gap=GAP), repeat)
        load, _ = measured(lambda: load_shop(SqlSource(url), pushdown="always", tz=TZ), repeat)
    finally:
        if not keep:
            with admin.connect() as connection:
                connection.execute(sa.text(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)"))
        admin.dispose()
    # the database does the work of these in its own processes: only the wall time says it
    raw, days_seconds, dau, load = ({"ours": timing["ours"]} for timing in (raw, days_seconds, dau, load))
    return {
        "timings": {
            "PostgreSQL: read the raw events out (connector)": raw,
            "PostgreSQL push-down: session days": days_seconds,
            "PostgreSQL push-down: DAU per day and channel, 30 days": dau,
            "PostgreSQL push-down: whole load": load,
        },
        "memory": {"PostgreSQL push-down measurements": peak_mib()},
        "rows": {"session days": days.height},
        "notes": [f"copied into PostgreSQL in {copied:.0f} s"] if not exists else [],
    }


# -- the data ------------------------------------------------------------------------------


def shop_file(data: Path, millions: float) -> Path:
    """The generated shop of `millions` million events (made once, then cached)."""
    path = data / f"shop_{millions:g}m.db"
    if not path.exists():
        events = int(millions * 1_000_000)
        subprocess.run(
            [sys.executable, str(ROOT / "cli.py"), "sample", "--users", str(int(millions * USERS_PER_MILLION)),
             "--events", str(events), "--seed", str(SEED), "--out", str(path)],
            check=True,
        )
    return path


def parquet_folder(db: Path) -> Path:
    """The shop's canonical tables as Parquet beside its SQLite file (made once)."""
    from connectors import open_source

    folder = db.with_suffix("")
    if not (folder / "events.parquet").exists():
        folder.mkdir(exist_ok=True)
        source = open_source(db)
        for name in sorted(source.table_names(), key=lambda name: name == "events"):
            source.read_table(name).write_parquet(folder / f".{name}.parquet")
            (folder / f".{name}.parquet").rename(folder / f"{name}.parquet")
    return folder


# -- running -------------------------------------------------------------------------------


LIMITED_TASKS = ("streaming", "limited")
# jemalloc, Polars' allocator, keeps the address space it freed mapped for reuse ("retain"),
# which RLIMIT_DATA counts though no memory backs it; without retaining, the limit counts what
# the process holds.
LIMITED_ENVIRONMENT = {"_RJEM_MALLOC_CONF": "retain:false"}


def run_worker(arguments: list[str]) -> dict:
    """Run this script as `worker ...` in a new process; its result, or why it failed."""
    environment = {**os.environ, **(LIMITED_ENVIRONMENT if arguments[0] in LIMITED_TASKS else {})}
    completed = subprocess.run(
        [sys.executable, __file__, "worker", *arguments], check=False, capture_output=True, text=True, env=environment
    )
    if completed.returncode != 0:
        lines = [line for line in (completed.stderr or "").splitlines() if line.strip()]
        out_of_memory = any("memory allocation of" in line or "MemoryError" in line for line in lines)
        reason = "out of memory under the limit" if out_of_memory else (lines[-1] if lines else "no message")
        return {"failed": f"{reason} (exit status {completed.returncode})"}
    return json.loads(completed.stdout.strip().splitlines()[-1])


def machine() -> dict:
    import duckdb
    import polars as pl

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")), platform.processor())
    memory = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal"))
    return {
        "cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(memory / 1024**2, 1),
        "python": platform.python_version(), "polars": pl.__version__, "duckdb": duckdb.__version__,
        "system": f"{platform.system()} {platform.release()}",
    }


def measure_size(millions: float, options, record: dict | None) -> dict:
    """Run the chosen tasks at `millions` million events into `record` (the size's earlier
    results, whose other tasks are kept): each task's results replace its own, and `runs`
    says when each ran, the load average at its start and end, and whether it failed."""
    db = shop_file(options.data, millions)
    paths = {"memory": db, "pages": db, "postgres": db, "streaming": parquet_folder(db), "limited": parquet_folder(db)}
    record = record or {"timings": {}, "memory": {}, "rows": {}, "runs": {}}
    for task in options.tasks:
        started, load = datetime.now(UTC).isoformat(timespec="minutes"), os.getloadavg()[0]
        print(f"{millions:g}M events: {task} (load average {load:.1f})", file=sys.stderr)
        arguments = [task, str(paths[task]), f"{millions:g}", "--repeat", str(options.repeat), "--memory-limit-gb", str(options.memory_limit_gb)]
        result = run_worker(arguments + (["--keep-databases"] if options.keep_databases else []))
        for part in ("timings", "memory", "rows"):
            record[part].update(result.get(part, {}))
        run = f"{task} ({options.memory_limit_gb:g} GB limit)" if task in LIMITED_TASKS else task
        record["runs"][run] = {
            "measured_at": started, "load_average": [load, os.getloadavg()[0]],
            "failed": result.get("failed"), "notes": result.get("notes", []),
        }
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1,2,5,10,20", help="millions of events, comma-separated")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--memory-limit-gb", type=float, default=4.0)
    parser.add_argument("--data", type=Path, default=Path("/tmp/shop-bench"), help="where generated shops are cached")
    parser.add_argument("--tasks", default=",".join(TASKS), help=f"which measurements, comma-separated: {', '.join(TASKS)}")
    parser.add_argument("--keep-databases", action="store_true", help="keep the PostgreSQL databases for the next run")
    options = parser.parse_args()
    options.data.mkdir(parents=True, exist_ok=True)
    sizes = [float(size) for size in options.sizes.split(",")]
    options.tasks = options.tasks.split(",")
    unknown = sorted(set(options.tasks) - set(TASKS))
    if unknown:
        parser.error(f"unknown task(s) {', '.join(unknown)}; the tasks are {', '.join(TASKS)}")
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {"sizes": {}}
    results["machine"] = machine()
    for millions in sizes:
        events = str(int(millions * 1_000_000))
        results["sizes"][events] = measure_size(millions, options, results["sizes"].get(events))
        RESULTS.parent.mkdir(exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=1))
    from bench.suite_report import write_results

    write_results(results, ROOT / "bench" / "RESULTS.md", ROOT / "bench" / "suite_times.svg")
    print(f"wrote {ROOT / 'bench' / 'RESULTS.md'}", file=sys.stderr)


def worker() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("task", choices=TASKS)
    parser.add_argument("path", type=Path)
    parser.add_argument("millions", nargs="?", type=float)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--memory-limit-gb", type=float, default=4.0)
    parser.add_argument("--keep-databases", action="store_true")
    options = parser.parse_args(sys.argv[2:])
    if options.task == "memory":
        result = work_memory(options.path, options.repeat)
    elif options.task == "pages":
        result = work_pages(options.path, options.repeat)
    elif options.task == "streaming":
        result = work_streaming(options.path, options.repeat, options.memory_limit_gb)
    elif options.task == "limited":
        result = work_limited_in_memory(options.path, options.memory_limit_gb)
    else:
        result = work_postgres(options.path, options.millions, options.repeat, options.keep_databases)
    print(json.dumps(result))


if __name__ == "__main__":
    worker() if sys.argv[1:2] == ["worker"] else main()
