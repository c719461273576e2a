"""A GA4 export loaded beside the same events as canonical Parquet: time and peak memory.

    .venv/bin/python bench/bench_trackers.py [--millions 1,2,10] [--repeat 3] [--data /tmp/shop-bench]

For each size (millions of canonical events; the sample shop generated as bench/suite.py
does: 25,000 users per million, seed 7, cached in `--data`) its events are written once as
canonical Parquet (`events.parquet`, nothing else in the folder), the same with text ids, the GA4
export's own canonical events (text ids and the tracker's session ids) as one events.parquet,
and as GA4's BigQuery export (connectors/trackers/writers.py: one Parquet table a day, nested
event_params and items, session_start and first_visit beside the events, the session's source in
session_traffic_source_last_click). The app reads a tracker's export through an extract
(connectors/extracts.py, worth_extracting), so these are timed, `--repeat` times, each in a
process of its own so that its peak memory (ru_maxrss) is its own, taking turns:

- canonical (three peers): `load_shop` of each canonical Parquet folder;
- ga4 convert: the extract's first refresh, which reads the whole export into canonical events
  and writes them (a fresh extract folder each time);
- ga4 load: `load_shop` through that extract, as every later load and restart does;
- ga4 refresh: a refresh by changes of the extract (the export's last three days read again,
  GA4's rewrite window, and merged).

Reported: the median wall and CPU seconds and the median peak memory, the GA4 load's ratios to
each canonical peer, and whether the four loads agree (events, sessions, users, purchases, and
sessions per channel).

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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

TZ = "Asia/Shanghai"
RESULTS = ROOT / "bench" / "results" / "trackers.json"
REPORT = ROOT / "bench" / "RESULTS.md"
BEGIN, END = "<!-- bench_trackers: begin -->", "<!-- bench_trackers: end -->"
KINDS = ("canonical", "canonical_text_ids", "canonical_of_ga4", "ga4_convert", "ga4_load", "ga4_refresh")


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
    text_ids = data / f"shop_{millions:g}m_events_text_ids"
    if not (text_ids / "events.parquet").exists():
        text_ids.mkdir(exist_ok=True)
        subprocess.run([sys.executable, __file__, "worker", "text_ids", str(events_only), str(text_ids)], check=True)
    same_events = data / f"shop_{millions:g}m_events_of_ga4"
    if not (same_events / "events.parquet").exists():
        same_events.mkdir(exist_ok=True)
        subprocess.run([sys.executable, __file__, "worker", "same_events", str(ga4), str(same_events)], check=True)
    return {"canonical": events_only, "canonical_text_ids": text_ids, "canonical_of_ga4": same_events, "ga4": ga4}


def write_same_events(ga4: Path, same_events: Path) -> None:
    """The canonical events the GA4 export reads as (the tracker's text ids and its session
    ids), as one canonical events.parquet in time order, as the sample's is: the peer of
    the very same events."""
    from connectors import open_source

    events = open_source(ga4, preset="ga4").read_table("events")
    events.sort("event_time", maintain_order=True).write_parquet(same_events / "events.parquet")


def write_text_ids(events_folder: Path, text_ids: Path) -> None:
    """The canonical events with their user and product ids as text, as a tracker's are
    (GA4's user_pseudo_id and item_id): the peer of the same ids."""
    import polars as pl

    events = pl.read_parquet(events_folder / "events.parquet")
    events.with_columns(pl.col("user_id", "product_id").cast(pl.String)).write_parquet(text_ids / "events.parquet")


def write_export(events_folder: Path, ga4: Path) -> None:
    import polars as pl

    from connectors.trackers.writers import write_ga4

    events = pl.read_parquet(events_folder / "events.parquet")
    started = time.perf_counter()
    files = write_ga4(events, ga4)
    rows = sum(pl.scan_parquet(path).select(pl.len()).collect().item() for path in files)
    (ga4 / "done").write_text(json.dumps({"files": len(files), "rows": rows, "seconds": round(time.perf_counter() - started, 1)}))


def extract_of(folder: Path):
    """The extract the app reads the GA4 export `folder` through (beside it, `<folder>_extract`)."""
    from connectors import open_source
    from connectors.extracts import ExtractSource

    return ExtractSource(lambda: open_source(folder, preset="ga4"), folder=folder.with_name(folder.name + "_extract"))


def measured(work) -> dict:
    """`work()`'s seconds, CPU seconds and the process's peak memory, with what it returns
    as `loaded`."""
    cpu, wall = time.process_time(), time.perf_counter()
    loaded = work()
    return {
        "seconds": time.perf_counter() - wall,
        "cpu_seconds": time.process_time() - cpu,
        "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "loaded": loaded,
    }


def load(kind: str, folder: Path) -> dict:
    """One load as the app loads it: the canonical folder read directly, or the GA4 export
    through its extract (made by `convert`)."""
    import polars as pl

    from connectors import FolderSource
    from shop_analytics.loading import load_shop

    def work() -> dict:
        if kind.startswith("canonical"):
            source = FolderSource(folder)
        else:
            source = extract_of(folder)
            source.current()
        shop = load_shop(source, tz=TZ)
        events = shop.events
        channels = shop.sessions.group_by(pl.col("channel").cast(pl.String)).len().sort("channel")
        return {
            "events": events.height,
            "sessions": shop.sessions.height,
            "users": events["user_id"].n_unique(),
            "purchases": events.filter(pl.col("event_type") == "purchase").height,
            "sessions_per_channel": dict(channels.iter_rows()),
        }

    return measured(work)


def convert(folder: Path) -> dict:
    """The extract's first refresh: the whole export read into canonical events and written."""
    import shutil

    extract = extract_of(folder)
    shutil.rmtree(extract.folder, ignore_errors=True)
    return measured(lambda: {"events": extract.refresh(full=True).tables["events"].rows})


def refresh(folder: Path) -> dict:
    """A refresh by changes of the extract: the export's events after its newest less three
    days (GA4 rewrites a day's table for three days) read again and merged; the day tables
    outside that window are left unopened."""
    extract = extract_of(folder)

    def work() -> dict:
        manifest = extract.refresh()
        events = manifest.tables["events"]
        if not events.incremental:
            raise RuntimeError("the refresh read the export whole: the extract's last full read is over a day old")
        return {"events": events.rows}

    return measured(work)


def run_worker(arguments: list[str]) -> dict:
    completed = subprocess.run([sys.executable, __file__, "worker", *arguments], check=True, capture_output=True, text=True)
    return json.loads(completed.stdout.strip().splitlines()[-1])


def measure(millions: float, data: Path, repeat: int) -> dict:
    folders = exports(data, millions)
    runs: dict[str, list[dict]] = {kind: [] for kind in KINDS}
    for _ in range(repeat):
        for kind in ("canonical", "canonical_text_ids", "canonical_of_ga4"):
            runs[kind].append(run_worker(["load", kind, str(folders[kind])]))
        runs["ga4_convert"].append(run_worker(["convert", str(folders["ga4"])]))
        runs["ga4_load"].append(run_worker(["load", "ga4", str(folders["ga4"])]))
        runs["ga4_refresh"].append(run_worker(["refresh", str(folders["ga4"])]))
    result = {"millions": millions, "export": json.loads((folders["ga4"] / "done").read_text()), "repeat": repeat}
    for kind in KINDS:
        result[kind] = {
            name: round(statistics.median(run[name] for run in runs[kind]), 2) for name in ("seconds", "cpu_seconds", "peak_mib")
        }
        result[kind]["loaded"] = runs[kind][0]["loaded"]
    result["agree"] = all(result[kind]["loaded"] == result["ga4_load"]["loaded"] for kind in ("canonical", "canonical_text_ids", "canonical_of_ga4"))
    result["load"] = os.getloadavg()[0]
    return result


def report(results: dict) -> str:
    lines = [
        BEGIN,
        "## Tracker exports: a GA4 export beside the same events as canonical Parquet (bench_trackers.py)",
        "",
        "The sample shop's events (25,000 users per million, seed 7) as `events.parquet` (canonical, integer",
        "ids), the same with text ids, the GA4 export's own canonical events (text ids, the tracker's session",
        "ids) as one `events.parquet`, and as GA4's BigQuery export (one Parquet table a day, nested",
        "event_params and items, GA4's session_start and first_visit rows beside the events). The app reads a",
        "tracker's export through an extract (connectors/extracts.py): its first refresh converts the whole",
        "export (\"conversion\"), every load and restart after it reads the extract's canonical Parquet (\"GA4",
        "load\"), and each refresh reads the export's last three days again. Each step in its own process;",
        "medians of the runs; peak memory is the process's ru_maxrss. CPU seconds are the process's own: on",
        "this shared 2-core machine the wall time also measures everyone else's load (the 1-minute load",
        "average is given).",
        "",
        "| events | what | s | CPU s | peak MiB | GA4 load / this: CPU | memory | load |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    titles = {
        "canonical": "canonical events.parquet (integer ids)",
        "canonical_text_ids": "the same, user and product ids as text",
        "canonical_of_ga4": "the GA4 export's own canonical events as events.parquet",
        "ga4_load": "**GA4 load through the extract**",
        "ga4_convert": "GA4 conversion (first and daily full refresh)",
        "ga4_refresh": "GA4 refresh by changes (last three days)",
    }
    for key in sorted(results, key=float):
        r = results[key]
        if "canonical_of_ga4" not in r:
            continue  # measured before the export was read through an extract
        g = r["ga4_load"]
        size = f"{r['millions']:g}M, {r['export']['rows']:,} GA4 rows"
        for number, (kind, title) in enumerate(titles.items()):
            m = r[kind]
            compared = kind.startswith("canonical")
            cpu_ratio = f"{g['cpu_seconds'] / m['cpu_seconds']:.2f}" if compared else ""
            memory_ratio = f"{g['peak_mib'] / m['peak_mib']:.2f}" if compared else ""
            lines.append(
                f"| {size if number == 0 else ''} | {title} | {m['seconds']:.2f} | {m['cpu_seconds']:.2f} | "
                f"{m['peak_mib']:,.0f} | {cpu_ratio} | {memory_ratio} | {r['load']:.1f} |"
            )
        lines.append(f"| | same numbers | {'yes' if r['agree'] else 'NO'} | | | | | |")
    lines += [
        "",
        "\"Same numbers\": the four loads hold the same events, sessions, users, purchases and sessions per channel.",
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
    elif task == "same_events":
        write_same_events(Path(arguments[0]), Path(arguments[1]))
        print("{}")
    elif task == "text_ids":
        write_text_ids(Path(arguments[0]), Path(arguments[1]))
        print("{}")
    elif task == "convert":
        print(json.dumps(convert(Path(arguments[0]))))
    elif task == "refresh":
        print(json.dumps(refresh(Path(arguments[0]))))
    else:
        print(json.dumps(load(arguments[0], Path(arguments[1]))))


if __name__ == "__main__":
    worker() if sys.argv[1:2] == ["worker"] else main()
