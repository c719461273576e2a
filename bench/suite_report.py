"""bench/RESULTS.md and its plot, from the suite's results (bench/suite.py).

Growth is the slope of log(seconds) against log(events) over the sizes measured: 1 is
linear, 2 quadratic. It is taken on the process's CPU seconds where the work runs in the
measuring process (the wall time on a shared machine also measures the others' load), else on
the wall time. A slope above SUPERLINEAR is flagged, since a metric whose time grows faster
than the events is a bug to fix or a finding to explain.
"""

import math
from pathlib import Path

SUPERLINEAR = 1.15
PAGE_TARGET_SECONDS = 2.0  # the operations team's target (SPEC section 1: page load at most 2 s)
MEMORY_TARGET_MIB = 4 * 1024  # issue 9: under 4 GB at 20 million events with extracts
NARROW_MARGIN = 0.85  # a target met by less than 15 % is within this machine's run-to-run spread
# What was found behind a measurement flagged as growing faster than linear, or a missed
# target, written after the run that found it; printed beside the flag while it holds.
FINDINGS = {
    "derive sessions": (
        "Its user CPU grows linearly: 1.42 s at 10M events, 2.90 to 3.06 s at 20M (2.1x; measured apart "
        "on the suite's SQLite events, 2026-12-05). The rest is the kernel's time for memory the process "
        "touches for the first time: 0.3 to 0.4 s at 10M, 9.3 s at 20M on a first call and 1.8 s on a "
        "second in the same process, so the flag measures this virtual machine's memory more than the sort. "
        "Until 2026-12-04 the two-key `arg_sort_by(\"user_id\", \"event_time\", maintain_order=True)` took "
        "3.8 s of CPU at 10M and 14.0 s at 20M; derive_sessions now sorts stably by time, then by user "
        "(0.7 s and 1.7 s, the same order, ties included) and gathers each column from one chunk."
    ),
    "in-memory load": "Loading derives the sessions (see derive sessions).",
    "load: read": "Loading derives the sessions (see derive sessions).",
    "push-down on PostgreSQL": (
        "PostgreSQL runs the window functions of the sessions at about 1.4 µs of CPU per event (scan 0.15, "
        "sort 0.5, LAG and the running SUM 0.6, grouping by session and day 0.3, at 10M events), while "
        "connectorx decodes the raw rows sent over loopback at under 1 µs per event; on this 2-core machine "
        "the two parts at once come out close to the raw read, and the machine's other load decides which is "
        "ahead. Push-down saves the transfer over a real network, scales with the server's cores, and keeps "
        "the events out of the app's memory (Peak memory below)."
    ),
}
PLOTTED = (
    "load: read + sessions + attribution",
    "derive sessions",
    "daily KPI table, 365 days",
    "weekly retention",
    "channel table, 30 days",
    "ordered funnel, 4 steps, 30-day entry",
    "page render: overview (AppTest)",
    "streaming push-down load (Parquet, 4 GB limit)",
    "PostgreSQL: read the raw events out (connector)",
    "PostgreSQL push-down: session days",
)


def growth(points: list[tuple[int, float]]) -> float | None:
    """The least-squares slope of log(seconds) on log(events); None under two sizes."""
    points = [(events, seconds) for events, seconds in points if seconds > 0]
    if len(points) < 2:
        return None
    xs = [math.log(events) for events, _ in points]
    ys = [math.log(seconds) for _, seconds in points]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys)) / spread if spread else None


def _millions(events: int) -> str:
    return f"{events / 1e6:g}M"


def _seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}" if value < 100 else f"{value:.0f}"


def _series(sizes: dict, name: str, side: str = "ours") -> list[tuple[int, float]]:
    return [(events, record["timings"][name][side]) for events, record in sizes.items() if name in record["timings"] and record["timings"][name].get(side)]


def growth_of(sizes: dict, name: str) -> tuple[float | None, str]:
    """The growth of measurement `name` and what it was taken on: "CPU" or "wall"."""
    cpu, wall = _series(sizes, name, "cpu"), _series(sizes, name)
    if len(cpu) == len(wall):
        return growth(cpu), "CPU"
    return growth(wall), "wall"


def timing_table(sizes: dict) -> list[str]:
    names = list(dict.fromkeys(name for record in sizes.values() for name in record["timings"]))
    header = ["measurement", *[_millions(events) for events in sizes], "growth"]
    lines = ["| " + " | ".join(header) + " |", "| --- |" + " ---: |" * (len(header) - 1)]
    for name in names:
        cells = []
        for record in sizes.values():
            timing = record["timings"].get(name)
            if timing is None:
                cells.append("")
                continue
            cell = _seconds(timing["ours"])
            if timing.get("peer"):
                cell += f" ({_seconds(timing['peer'])}{'' if timing.get('agrees', True) else ', disagrees'})"
            cells.append(cell)
        slope, basis = growth_of(sizes, name)
        verdict = "" if slope is None else f"{slope:.2f} ({basis})" + (" **faster than linear**" if slope > SUPERLINEAR else "")
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {verdict} |")
    return lines


def keyed_table(sizes: dict, part: str, unit: str) -> list[str]:
    names = list(dict.fromkeys(name for record in sizes.values() for name in record[part]))
    header = [unit, *[_millions(events) for events in sizes]]
    lines = ["| " + " | ".join(header) + " |", "| --- |" + " ---: |" * (len(header) - 1)]
    for name in names:
        values = [record[part].get(name) for record in sizes.values()]
        lines.append(f"| {name} | " + " | ".join("" if value is None else f"{value:,.0f}" for value in values) + " |")
    return lines


def targets(sizes: dict) -> list[str]:
    """The issue's targets, each with what was measured against it."""
    found = []
    two, ten, twenty = (sizes.get(events) for events in (2_000_000, 10_000_000, 20_000_000))
    if two:
        pages = {name: timing["ours"] for name, timing in two["timings"].items() if name.startswith("page render")}
        slowest = max(pages.items(), key=lambda item: item[1]) if pages else None
        if slowest:
            verdict = "met" if slowest[1] <= PAGE_TARGET_SECONDS else "**missed**"
            found.append(f"- Every page's first render under {PAGE_TARGET_SECONDS:g} s at 2M events: {verdict} (slowest: {slowest[0]}, {slowest[1]:.2f} s).")
    if ten:
        ratios = [f"{name} {timing['ours'] / timing['peer']:.2f}x" for name, timing in ten["timings"].items() if timing.get("peer")]
        found.append(f"- Every metric at 10M events against DuckDB SQL on the same frames (ours / DuckDB): {'; '.join(ratios)}.")
        raw = ten["timings"].get("PostgreSQL: read the raw events out (connector)", {}).get("ours")
        pushed = ten["timings"].get("PostgreSQL push-down: whole load", {}).get("ours")
        if raw and pushed:
            verdict = "met" if pushed < raw else "**missed**"
            narrow = pushed < raw and pushed > NARROW_MARGIN * raw
            found.append(f"- Push-down on PostgreSQL at 10M events faster than reading the raw events out: {verdict}{', narrowly' if narrow else ''} (whole push-down load {pushed:.1f} s, raw events {raw:.1f} s)."
                         + (f" {FINDINGS['push-down on PostgreSQL']}" if narrow or pushed >= raw else ""))
    if twenty:
        streamed = [value for name, value in twenty["memory"].items() if name.startswith("streaming push-down app")]
        if streamed:
            verdict = "met" if max(streamed) < MEMORY_TARGET_MIB else "**missed**"
            found.append(f"- Peak memory of the app under 4 GB at 20M events with extracts (Parquet, streaming push-down): {verdict} ({max(streamed):,.0f} MiB).")
        for run, outcome in sorted(twenty["runs"].items()):
            if run.startswith("streaming ("):
                limit = run.removeprefix("streaming ")
                in_memory = twenty["runs"].get(f"limited {limit}")
                if in_memory is not None:
                    found.append(
                        f"- Larger than memory, 20M events with a {limit.strip('()')}: streaming push-down "
                        f"{'fails: ' + outcome['failed'] if outcome['failed'] else 'runs'}; the in-memory load "
                        f"{'fails: ' + in_memory['failed'] if in_memory['failed'] else 'runs too'}."
                    )
    return found or ["- Not measured at the sizes the targets name (2M, 10M, 20M)."]


def faster_than_linear(sizes: dict) -> list[str]:
    names = list(dict.fromkeys(name for record in sizes.values() for name in record["timings"]))
    flagged = []
    for name in names:
        slope, basis = growth_of(sizes, name)
        if slope is not None and slope > SUPERLINEAR:
            finding = next((text for start, text in FINDINGS.items() if name.startswith(start)), "no explanation yet.")
            flagged.append(f"- {name}: growth {slope:.2f} ({basis} time). {finding}")
    return flagged or [f"- None: every measurement's growth is at most {SUPERLINEAR} (1 is linear)."]


def plot(sizes: dict, path: Path) -> None:
    """Time against events, log-log, one line per measurement whose name starts as one of PLOTTED, with linear growth
    drawn from the smallest size as a reference."""
    import plotly.graph_objects as go
    from plotly.colors import qualitative

    figure = go.Figure()
    names = list(dict.fromkeys(name for record in sizes.values() for name in record["timings"]))
    for name in [name for name in names if name.startswith(PLOTTED)]:
        points = _series(sizes, name)
        if len(points) >= 2:
            figure.add_scatter(x=[events / 1e6 for events, _ in points], y=[seconds for _, seconds in points], mode="lines+markers", name=name)
    events = sorted(sizes)
    load = _series(sizes, "load: read + sessions + attribution")
    if load:
        first_events, first_seconds = load[0]
        figure.add_scatter(x=[value / 1e6 for value in events], y=[first_seconds * value / first_events for value in events],
                           mode="lines", line={"dash": "dot", "color": "grey"}, name="linear growth (from the load at the first size)")
    figure.update_layout(
        title="Time against events (median of 3, log-log)", width=1000, height=620, colorway=qualitative.Dark24,
        xaxis={"title": "events (millions)", "type": "log"}, yaxis={"title": "seconds", "type": "log"},
        legend={"font": {"size": 10}},
    )
    figure.write_image(path, format="svg")


def write_results(results: dict, markdown: Path, svg: Path) -> None:
    sizes = {int(events): record for events, record in sorted(results["sizes"].items(), key=lambda item: int(item[0]))}
    plot(sizes, svg)
    facts = results["machine"]
    lines = [
        "# Benchmark results",
        "",
        "Written by `make bench` (bench/suite.py; what each measurement is: its docstring). Sample shops of",
        "1 to 20 million events, 25,000 users per million, seed 7. Seconds are medians of 3 runs; in",
        "brackets DuckDB SQL doing the same work on the same frames in the same process. Growth is",
        "the slope of log(time) on log(events), 1 being linear, on the measuring process's CPU time",
        "where the work is in it (the wall time on this shared machine also measures the others'",
        "load), on the wall time where a server or a browser does the work.",
        "",
        (f"Machine: {facts['cpu']}, {facts['cores']} cores, {facts['memory_gib']} GiB; {facts['system']}; "
         f"Python {facts['python']}, Polars {facts['polars']}, DuckDB {facts['duckdb']}."),
        "The machine was shared with other engineers' tests while measuring; the load averages seen",
        "at the start and end of each size's measurements:",
        "",
        "| events | first measured (UTC) | load average | failed |",
        "| ---: | --- | --- | --- |",
    ]
    for events, record in sizes.items():
        runs = record["runs"].values()
        loads = [load for run in runs for load in run["load_average"]]
        failed = "; ".join(f"{task}: {run['failed']}" for task, run in record["runs"].items() if run["failed"])
        lines.append(f"| {_millions(events)} | {min(run['measured_at'] for run in runs)} | {min(loads):.1f} to {max(loads):.1f} | {failed} |")
    lines += ["", "## Targets", "", *targets(sizes), "", "## Time (seconds)", "", *timing_table(sizes), "",
              f"![Time against events]({svg.name})", "", "## Faster than linear", "", *faster_than_linear(sizes), "",
              "## Peak memory (MiB, each measured in its own process)", "", *keyed_table(sizes, "memory", "process"), "",
              "## Rows", "", *keyed_table(sizes, "rows", "table")]
    notes = [f"- {_millions(events)}: {note}" for events, record in sizes.items() for run in record["runs"].values() for note in run["notes"]]
    if notes:
        lines += ["", "## Notes", "", *notes]
    markdown.write_text("\n".join(lines) + "\n")
