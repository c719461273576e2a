"""A GA4 export loaded beside the same events as canonical Parquet: time and peak memory.

    .venv/bin/python bench/bench_trackers.py [--millions 1,2,10] [--repeat 3] [--data /tmp/shop-bench]

For each size (millions of canonical events; the sample shop generated as bench/suite.py
does: 25,000 users per million, seed 7, cached in `--data`) its events are written once as
canonical Parquet (`events.parquet`, nothing else in the folder) and as GA4's BigQuery export
(connectors/trackers/writers.py: one Parquet table a day, nested event_params and items,
session_start and first_visit beside the events, the session's source in
session_traffic_source_last_click). Then `load_shop` loads each, `--repeat` times, each load
in a process of its own so that its peak memory (ru_maxrss) is its own, the two kinds taking
turns. Reported: the median wall and CPU seconds and the median peak memory, and whether the
two loads agree (events, sessions, users, purchases, and sessions per channel); and the
time of a refresh, the export's last three days read again.

Results are written to bench/results/trackers.json (git-ignored) and the section of
bench/RESULTS.md between the `bench_trackers` markers.
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

TZ = "Asia/Shanghai"
RESULTS = ROOT / "bench" / "results" / "trackers.json"
REPORT = ROOT / "bench" / "RESULTS.md"
BEGIN, END = "<!-- bench_trackers: begin -->", "<!-- bench_trackers: end -->"
KINDS = ("canonical", "ga4")
REFRESH = "ga4_refresh"


def exports(data: Path, millions: float) -> dict[str, Path]:
    """The events of the generated shop of `millions` million events as a canonical Parquet
    folder and as a GA4 export folder (each made once, then cached)."""
    from bench.suite import parquet_folder, shop_file

    canonical = parquet_folder(shop_file(data, millions))
    events_only = data / f"shop_{millions:g}m_events"
    ga4 = data / f"shop_{millions:g}m_ga4"
    if not (events_only / "events.parquet").exists():
        events_only.mkdir(exist_ok=True)
        (events_only / "events.parquet").symlink_to(canonical / "events.parquet")
    if not (ga4 / "done").exists():
        # in a process of its own: writing holds the events and their GA4 rows at once
        subprocess.run([sys.executable, __file__, "worker", "write", str(events_only), str(ga4)], check=True)
    return {"canonical": events_only, "ga4": ga4}


def write_export(events_folder: Path, ga4: Path) -> None:
    import polars as pl

    from connectors.trackers.writers import write_ga4

    events = pl.read_parquet(events_folder / "events.parquet")
    started = time.perf_counter()
    files = write_ga4(events, ga4)
    rows = sum(pl.scan_parquet(path).select(pl.len()).collect().item() for path in files)
    (ga4 / "done").write_text(json.dumps({"files": len(files), "rows": rows, "seconds": round(time.perf_counter() - started, 1)}))


def load(kind: str, folder: Path) -> dict:
    """One load of the folder as the app loads it; seconds, CPU seconds, peak memory, and
    what was loaded."""
    import polars as pl

    from connectors import FolderSource, open_source
    from shop_analytics.loading import load_shop

    source = open_source(folder, preset="ga4") if kind == "ga4" else FolderSource(folder)
    cpu, wall = time.process_time(), time.perf_counter()
    shop = load_shop(source, tz=TZ)
    seconds, cpu_seconds = time.perf_counter() - wall, time.process_time() - cpu
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    events = shop.events
    channels = shop.sessions.group_by(pl.col("channel").cast(pl.String)).len().sort("channel")
    return {
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "peak_mib": peak_mib,
        "loaded": {
            "events": events.height,
            "sessions": shop.sessions.height,
            "users": events["user_id"].n_unique(),
            "purchases": events.filter(pl.col("event_type") == "purchase").height,
            "sessions_per_channel": dict(channels.iter_rows()),
        },
    }


def refresh(folder: Path) -> dict:
    """What a refresh reads: the events of the export's last three days (GA4 rewrites a
    day's table for three days), the day tables outside the window left unopened."""
    import polars as pl

    from connectors import open_source

    source = open_source(folder, preset="ga4")
    newest = pl.scan_parquet(sorted(folder.glob("events_*.parquet"))[-1]).select(pl.col("event_timestamp").max()).collect().item()
    since = datetime.fromtimestamp(newest / 1e6, UTC) - source.refresh_overlap
    cpu, wall = time.process_time(), time.perf_counter()
    events = source.read_table("events", since=since)
    return {
        "seconds": time.perf_counter() - wall,
        "cpu_seconds": time.process_time() - cpu,
        "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "loaded": {"events": events.height},
    }


def run_worker(arguments: list[str]) -> dict:
    completed = subprocess.run([sys.executable, __file__, "worker", *arguments], check=True, capture_output=True, text=True)
    return json.loads(completed.stdout.strip().splitlines()[-1])


def measure(millions: float, data: Path, repeat: int) -> dict:
    folders = exports(data, millions)
    runs = {kind: [] for kind in KINDS}
    runs[REFRESH] = []
    for _ in range(repeat):
        for kind in KINDS:
            runs[kind].append(run_worker(["load", kind, str(folders[kind])]))
        runs[REFRESH].append(run_worker(["refresh", str(folders["ga4"])]))
    result = {"millions": millions, "export": json.loads((folders["ga4"] / "done").read_text()), "repeat": repeat}
    for kind in (*KINDS, REFRESH):
        result[kind] = {
            name: round(statistics.median(run[name] for run in runs[kind]), 2) for name in ("seconds", "cpu_seconds", "peak_mib")
        }
        result[kind]["loaded"] = runs[kind][0]["loaded"]
    result["agree"] = result["canonical"]["loaded"] == result["ga4"]["loaded"]
    result["load"] = os.getloadavg()[0]
    return result


def report(results: dict) -> str:
    lines = [
        BEGIN,
        "## Tracker exports: a GA4 export beside the same events as canonical Parquet (bench_trackers.py)",
        "",
        "`load_shop` of the sample shop's events (25,000 users per million, seed 7) from `events.parquet`",
        "(canonical) and from the same events written as GA4's BigQuery export (one Parquet table a day,",
        "nested event_params and items, GA4's session_start and first_visit rows beside the events),",
        "each load in its own process; median of the runs, peak memory is the process's ru_maxrss.",
        "CPU seconds are the process's own: on this shared 2-core machine the wall time also",
        "measures everyone else's load (the 1-minute load average when the size was measured is given).",
        "",
        "| events | GA4 rows (files) | canonical s | GA4 s | canonical CPU s | GA4 CPU s | GA4 / canonical CPU | canonical peak MiB | GA4 peak MiB | GA4 / canonical memory | same numbers | refresh s (events) | load |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for key in sorted(results, key=float):
        r = results[key]
        c, g = r["canonical"], r["ga4"]
        lines.append(
            f"| {r['millions']:g}M | {r['export']['rows']:,} ({r['export']['files']}) | {c['seconds']:.2f} | {g['seconds']:.2f} | "
            f"{c['cpu_seconds']:.2f} | {g['cpu_seconds']:.2f} | {g['cpu_seconds'] / c['cpu_seconds']:.1f} | {c['peak_mib']:,.0f} | "
            f"{g['peak_mib']:,.0f} | {g['peak_mib'] / c['peak_mib']:.2f} | {'yes' if r['agree'] else 'NO'} | "
            f"{r[REFRESH]['seconds']:.2f} ({r[REFRESH]['loaded']['events']:,}) | {r['load']:.1f} |"
        )
    lines += [
        "",
        "\"Same numbers\": both loads hold the same events, sessions, users, purchases and sessions per channel.",
        "\"Refresh\": reading the export's last three days again (GA4 rewrites a day's table for three days;",
        "the source's `refresh_overlap`), which opens only the day tables near the window.",
        END,
    ]
    return "\n".join(lines)


def write_report(results: dict) -> None:
    text = REPORT.read_text() if REPORT.exists() else ""
    section = report(results)
    if BEGIN in text and END in text:
        text = text[: text.index(BEGIN)] + section + text[text.index(END) + len(END):]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    REPORT.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--millions", default="1,2")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--data", type=Path, default=Path("/tmp/shop-bench"))
    options = parser.parse_args()
    options.data.mkdir(parents=True, exist_ok=True)
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    for millions in (float(value) for value in options.millions.split(",")):
        result = measure(millions, options.data, options.repeat)
        results[f"{millions:g}"] = result
        print(json.dumps(result), file=sys.stderr)
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=1))
        write_report(results)
    print(report(results))


def worker() -> None:
    task, *arguments = sys.argv[2:]
    if task == "write":
        write_export(Path(arguments[0]), Path(arguments[1]))
        print("{}")
    elif task == "refresh":
        print(json.dumps(refresh(Path(arguments[0]))))
    else:
        print(json.dumps(load(arguments[0], Path(arguments[1]))))


if __name__ == "__main__":
    worker() if sys.argv[1:2] == ["worker"] else main()
