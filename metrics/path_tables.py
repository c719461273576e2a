"""User paths as tables: the Sankey's paths listed, most common first, and the paths through
one of its nodes (the drill-down of the User paths page).

SPEC, Paths: "within sessions, the sequence of `page` values (else event types), consecutive
repeats collapsed. From a chosen start (or to a chosen end), the top paths up to depth 5 as a
Sankey; rarer branches grouped as "other"; exits shown."

The paths here are exactly those `metrics.paths.path_flows` draws: the same sessions, cut at
the same depth, with the same branches grouped as "other", so the paths through a node add
up to the node's sessions. This module builds the grouped per-session columns once and gives
both the Sankey and the tables from them (`path_views`).
"""

from datetime import date

import polars as pl

from metrics.paths import (
    DEFAULT_DEPTH,
    DEFAULT_MIN_SHARE,
    ENTRANCE,
    EXIT,
    _collapsed_steps,
    _group_rare_branches,
    _path_columns,
    _sankey,
    _step_columns,
    _step_label,
    period_session_events,
)
from metrics.registry import ratio

PATH_SCHEMA = pl.Schema({"path": pl.List(pl.String), "steps": pl.Int64(), "sessions": pl.Int64(), "share": pl.Float64()})


def step_labels(events: pl.DataFrame) -> list[str]:
    """Every step a path can pass: the distinct `page` values, and the event types of events
    without a page (SPEC: "`page` values (else event types)"), sorted."""
    return sorted(events.select(_step_label(events).unique().drop_nulls()).to_series().to_list())


def grouped_session_paths(
    events: pl.DataFrame,
    *,
    start: date,
    end: date,
    tz: str,
    start_at: str | None = None,
    end_at: str | None = None,
    depth: int = DEFAULT_DEPTH,
    min_share: float = DEFAULT_MIN_SHARE,
    top_n: int | None = None,
) -> pl.DataFrame:
    """One row per session drawn in `path_flows` with the same arguments: `node_0` ..
    `node_{depth-1}`, the node the session passes at each position ("other" for a grouped
    branch, "exit" / "entrance" where it ends or begins, null past it). Position 0 is the
    landing step or `start_at` (Sankey step 1), or, with `end_at`, that end (step `depth`),
    position i then being step depth - i. Arguments and their checks as in `path_flows`."""
    if start_at is not None and end_at is not None:
        raise ValueError("a path flow starts at a step or ends at one, not both")
    if depth < 2:
        raise ValueError("a path flow needs a depth of at least 2 steps")
    steps = _collapsed_steps(period_session_events(_path_columns(events), start=start, end=end, tz=tz))
    backwards = end_at is not None
    anchor = end_at if backwards else start_at
    if anchor is not None:
        first_seen = steps.filter(pl.col("step") == anchor).group_by("session_id").agg(anchor=pl.col("position").min())
        steps = steps.join(first_seen, on="session_id", how="inner", maintain_order="left")
        offset = pl.col("anchor") - pl.col("position") if backwards else pl.col("position") - pl.col("anchor")
        steps = steps.with_columns(position=offset).filter(pl.col("position") >= 0)
        if backwards:
            steps = steps.sort("session_id", "position")
    columns = _step_columns(steps, depth, ENTRANCE if backwards else EXIT)
    for position in range(depth):
        columns = _group_rare_branches(columns, position, min_share, top_n)
    return columns.select(f"node_{position}" for position in range(depth))


def _position(step: int, depth: int, backwards: bool) -> int:
    if not 1 <= step <= depth:
        raise ValueError(f"step {step} is not on a path of depth {depth}: choose 1 to {depth}")
    return depth - step if backwards else step - 1


def top_paths(
    grouped: pl.DataFrame, *, backwards: bool = False, through: tuple[int, str] | None = None
) -> pl.DataFrame:
    """The distinct paths of `grouped_session_paths`, each with the sessions that follow it.

    `path` lists the nodes left to right as the Sankey draws them (so a path to a chosen end
    ends there and may begin at "entrance"; one from a start may end at "exit"); `steps` is
    its length; `share` = sessions / all sessions of `grouped`. With `through` = (step,
    label), only the sessions that pass that Sankey node (step 1 = leftmost column), and
    `share` is of the node's sessions. Sorted by sessions (descending), then path.
    """
    depth = grouped.width
    if through is not None:
        step, label = through
        grouped = grouped.filter(pl.col(f"node_{_position(step, depth, backwards)}") == label)
    order = range(depth - 1, -1, -1) if backwards else range(depth)
    paths = grouped.select(path=pl.concat_list(f"node_{position}" for position in order).list.drop_nulls())
    return (
        paths.group_by("path")
        .agg(sessions=pl.len())
        .with_columns(steps=pl.col("path").list.len().cast(pl.Int64), total=pl.col("sessions").sum())
        .with_columns(share=ratio("sessions", "total"))
        .sort(["sessions", pl.col("path").list.join("\u0000")], descending=[True, False])
        .select(*PATH_SCHEMA)
        .cast(PATH_SCHEMA)
    )


def path_views(
    events: pl.DataFrame,
    *,
    start: date,
    end: date,
    tz: str,
    start_at: str | None = None,
    end_at: str | None = None,
    depth: int = DEFAULT_DEPTH,
    min_share: float = DEFAULT_MIN_SHARE,
    top_n: int | None = None,
) -> dict[str, pl.DataFrame]:
    """What the User paths page shows, computed once: "nodes" and "links" (as
    `metrics.paths.path_flows` returns them), "paths" (`top_paths`) and "grouped" (the
    per-session nodes, for the paths through a clicked node)."""
    grouped = grouped_session_paths(
        events, start=start, end=end, tz=tz, start_at=start_at, end_at=end_at,
        depth=depth, min_share=min_share, top_n=top_n,
    )
    backwards = end_at is not None
    nodes, links = _sankey(grouped, depth, backwards)
    return {"nodes": nodes, "links": links, "paths": top_paths(grouped, backwards=backwards), "grouped": grouped}


def path_strings(paths: pl.DataFrame, names: dict[str, str], separator: str = " → ") -> pl.DataFrame:
    """`paths` with each path as one line of text, its special nodes ("other", "exit",
    "entrance") renamed by `names` (their words in the reader's language)."""
    return paths.with_columns(pl.col("path").list.eval(pl.element().replace(names)).list.join(separator))
