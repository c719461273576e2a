"""User paths through the shop as a Sankey, and where sessions land and leave (SPEC section 3).

SPEC, Paths: "within sessions, the sequence of `page` values (else event types), consecutive
repeats collapsed. From a chosen start (or to a chosen end), the top paths up to depth 5 as a
Sankey; rarer branches grouped as "other"; exits shown."
"""

from datetime import date

import polars as pl

from metrics.registry import ratio
from metrics.time import as_utc, business_day, in_days, utc_bounds

DEFAULT_DEPTH = 5
DEFAULT_MIN_SHARE = 0.01
OTHER = "other"
EXIT = "exit"
ENTRANCE = "entrance"
_ROOT = ""
NODE_SCHEMA = pl.Schema({"id": pl.Int64, "step": pl.Int64, "label": pl.String, "sessions": pl.Int64})
LINK_SCHEMA = pl.Schema({"source": pl.Int64, "target": pl.Int64, "sessions": pl.Int64})


def _step_label(events: pl.DataFrame) -> pl.Expr:
    """An event's place on a path: its `page`, else (no page column, or an empty one) its type."""
    if "page" in events.columns:
        return pl.coalesce(pl.col("page"), pl.col("event_type"))
    return pl.col("event_type")


def period_session_events(
    events: pl.DataFrame, *, start: date, end: date, tz: str
) -> pl.DataFrame:
    """The events of the sessions that begin on business days start..end, with the session's
    `date`, sorted by session and time (events at the same time keep their given order).

    SPEC: "A session belongs to the day of its first event ... a session that began before the
    period is not one of the period's sessions." Its events after the period's end are still
    its events.
    """
    events = as_utc(events, "event_time")
    lower, upper = utc_bounds(start, end, tz)
    # A session that begins in the period has an event in it, so only those sessions' events
    # are grouped: much cheaper than finding the start of every session of the whole history.
    active = events.filter(pl.col("event_time") >= lower, pl.col("event_time") < upper)
    candidates = events.filter(pl.col("session_id").is_in(active["session_id"].unique().implode()))
    period_sessions = (
        candidates.group_by("session_id")
        .agg(started_at=pl.col("event_time").min())
        .filter(pl.col("started_at") >= lower)
        .select("session_id", date=business_day("started_at", tz))
    )
    return candidates.join(
        period_sessions, on="session_id", how="inner", maintain_order="left"
    ).sort("session_id", "event_time", maintain_order=True)


def _collapsed_steps(ordered_events: pl.DataFrame) -> pl.DataFrame:
    """session_id, `step` and its `position` on the session's path (0 for the first), one row
    per run of equal consecutive steps in a session, from events sorted by session and time."""
    new_session = pl.col("session_id").ne_missing(pl.col("session_id").shift(1))
    new_step = pl.col("step").ne_missing(pl.col("step").shift(1))
    row = pl.int_range(pl.len())
    # Rows of a session are contiguous, so a position is the distance from the session's first
    # row: no grouping needed.
    return (
        ordered_events.select("session_id", step=_step_label(ordered_events))
        .filter(new_session | new_step)
        .with_columns(position=row - pl.when(new_session).then(row).forward_fill())
    )


def session_paths(events: pl.DataFrame) -> pl.DataFrame:
    """Every session's path: session_id and `path`, the list of its steps in time order.

    SPEC: "within sessions, the sequence of `page` values (else event types), consecutive
    repeats collapsed." An event without a page is named by its event type. All sessions of
    `events` are included; sessions in order of id.
    """
    ordered = as_utc(events, "event_time").sort("session_id", "event_time", maintain_order=True)
    return _collapsed_steps(ordered).group_by("session_id", maintain_order=True).agg(path="step")


def path_flows(
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
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The top paths of the sessions that begin on days start..end, as Sankey `(nodes, links)`.

    SPEC, Paths: "From a chosen start (or to a chosen end), the top paths up to depth 5 as a
    Sankey; rarer branches grouped as "other"; exits shown." Paths are collapsed session paths
    (`session_paths`).

    - With `start_at`, a path begins at the first occurrence of that step in the session
      (sessions without it are left out); with `end_at`, it is the steps leading to the first
      occurrence of that step, read backwards from it; with neither, it begins at the session's
      landing step. Not both.
    - `depth` is the number of steps (Sankey columns) shown, the chosen point included. Forward,
      a session that ends within them goes on to an explicit "exit" node; backwards, a session
      that began within them comes from an explicit "entrance" node. Longer paths are cut.
    - Grouping is per node: a branch out of a node (backwards: into it) is kept when it holds
      at least `min_share` of the node's sessions and, if `top_n` is set, is among the node's
      `top_n` largest (ties by label); other branches go to that step's "other" node, which
      branches on like any node. Landing steps are branches of all sessions. Exit and entrance
      are never grouped.

    nodes: id, step (1..depth, left to right), label, sessions (sessions through the node),
    ordered by step, then real steps before "other", exit and entrance, then by sessions
    (descending) and label. links: source, target (node ids), sessions; by source, then
    sessions (descending), then target. Each session adds 1 to every node and link it passes.
    """
    if start_at is not None and end_at is not None:
        raise ValueError("a path flow starts at a step or ends at one, not both")
    if depth < 2:
        raise ValueError("a path flow needs a depth of at least 2 steps")
    period_events = period_session_events(_path_columns(events), start=start, end=end, tz=tz)
    steps = _collapsed_steps(period_events)
    backwards = end_at is not None
    anchor = start_at if start_at is not None else end_at
    if anchor is not None:
        first_seen = (
            steps.filter(pl.col("step") == anchor)
            .group_by("session_id")
            .agg(anchor=pl.col("position").min())
        )
        steps = steps.join(first_seen, on="session_id", how="inner", maintain_order="left")
        offset = pl.col("position") - pl.col("anchor")
        if backwards:
            offset = -offset
        steps = steps.with_columns(position=offset).filter(pl.col("position") >= 0)
        if backwards:
            steps = steps.sort("session_id", "position")
    columns = _step_columns(steps, depth, ENTRANCE if backwards else EXIT)
    for position in range(depth):
        columns = _group_rare_branches(columns, position, min_share, top_n)
    return _sankey(columns, depth, backwards)


def _path_columns(events: pl.DataFrame) -> pl.DataFrame:
    """Only the columns a path reads, so that joins and sorts move less data."""
    return events.select(
        "session_id", "event_time", "event_type", *(["page"] if "page" in events.columns else [])
    )


def _step_columns(steps: pl.DataFrame, depth: int, terminal: str) -> pl.DataFrame:
    """One row per session, one column `step_i` per position 0..depth-1 (null past the path),
    from steps in position order within each session; a path shorter than `depth` ends with
    `terminal`."""
    paths = (
        steps.filter(pl.col("position") < depth)
        .group_by("session_id", maintain_order=True)
        .agg(path=pl.col("step"), length=pl.len())
    )
    with_terminal = pl.when(pl.col("length") < depth).then(
        pl.col("path").list.concat(pl.lit([terminal]))
    ).otherwise(pl.col("path"))
    return paths.with_columns(path=with_terminal).select(
        pl.col("path").list.get(position, null_on_oob=True).alias(f"step_{position}")
        for position in range(depth)
    )


def _group_rare_branches(
    columns: pl.DataFrame, position: int, min_share: float, top_n: int | None
) -> pl.DataFrame:
    """Add `node_{position}`: the step at that position, or "other" when its branch out of the
    previous node is rare. Exit and entrance branches are always kept and take no top-n place."""
    parent = pl.col(f"node_{position - 1}") if position else pl.lit(_ROOT)
    step = pl.col(f"step_{position}")
    branches = (
        columns.filter(step.is_not_null())
        .group_by(parent=parent, step=step)
        .agg(sessions=pl.len())
        .with_columns(
            share=pl.col("sessions") / pl.col("sessions").sum().over("parent"),
            terminal=pl.col("step").is_in([EXIT, ENTRANCE]),
        )
        .sort("parent", "sessions", "step", descending=[False, True, False])
        .with_columns(rank=pl.int_range(1, pl.len() + 1).over("parent", "terminal"))
    )
    common = pl.col("share") >= min_share
    if top_n is not None:
        common &= pl.col("rank") <= top_n
    kept = branches.filter(pl.col("terminal") | common).select("parent", "step", kept=pl.lit(True))
    return (
        columns.with_columns(parent=parent)
        .join(
            kept, left_on=["parent", f"step_{position}"], right_on=["parent", "step"],
            how="left", maintain_order="left",
        )
        .with_columns(
            pl.when(step.is_null())
            .then(None)
            .when(pl.col("kept"))
            .then(step)
            .otherwise(pl.lit(OTHER))
            .alias(f"node_{position}")
        )
        .drop("parent", "kept")
    )


def _sankey(
    columns: pl.DataFrame, depth: int, backwards: bool
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Nodes and links from the grouped `node_i` columns; backwards, position 0 is the last
    step and links point from the earlier step to the later one."""

    def step_of(position: int) -> int:
        return depth - position if backwards else position + 1

    nodes = pl.concat(
        [
            columns.filter(pl.col(f"node_{position}").is_not_null())
            .group_by(label=f"node_{position}")
            .agg(sessions=pl.len())
            .with_columns(step=pl.lit(step_of(position), pl.Int64))
            for position in range(depth)
        ]
    )
    is_grouped_or_terminal = pl.col("label").is_in([OTHER, EXIT, ENTRANCE])
    nodes = (
        nodes.sort(
            [pl.col("step"), is_grouped_or_terminal, pl.col("sessions"), pl.col("label")],
            descending=[False, False, True, False],
        )
        .with_row_index("id")
        .select(pl.col("id", "step", "label", "sessions"))
        .cast(NODE_SCHEMA)
    )
    pairs = []
    for position in range(depth - 1):
        earlier, later = (position + 1, position) if backwards else (position, position + 1)
        pairs.append(
            columns.filter(pl.col(f"node_{later}").is_not_null())
            .group_by(source_label=f"node_{earlier}", target_label=f"node_{later}")
            .agg(sessions=pl.len())
            .with_columns(
                source_step=pl.lit(step_of(earlier), pl.Int64),
                target_step=pl.lit(step_of(later), pl.Int64),
            )
        )
    ids = nodes.select("id", "step", "label")
    links = (
        pl.concat(pairs)
        .join(_renamed_ids(ids, "source"), on=["source_step", "source_label"])
        .join(_renamed_ids(ids, "target"), on=["target_step", "target_label"])
        .select("source", "target", "sessions")
        .cast(LINK_SCHEMA)
        .sort(["source", "sessions", "target"], descending=[False, True, False])
    )
    return nodes, links


def _renamed_ids(ids: pl.DataFrame, end: str) -> pl.DataFrame:
    return ids.rename({"id": end, "step": f"{end}_step", "label": f"{end}_label"})


def bounce_and_exit_pages(
    events: pl.DataFrame, sessions: pl.DataFrame, *, start: date, end: date, tz: str
) -> pl.DataFrame:
    """Per page, for the sessions that begin on days start..end: where they land and leave.

    SPEC: "Bounce rate = sessions with exactly one event / sessions", here per landing page.
    A page is a path step (its `page`, else the event type). Columns:
    - page_views: visits to the page, a run of consecutive events on one page counting once
      (as on paths), so impressions and clicks on a page are not more views of it;
    - entrances: sessions whose first event is on the page; bounces: those with exactly one
      event; bounce_rate = bounces / entrances;
    - exits: sessions whose last event is on the page; exit_rate = exits / page_views.
    Pages by page_views (descending), then page.
    """
    period_sessions = in_days(as_utc(sessions, "started_at"), "started_at", start, end, tz)
    ordered = (
        as_utc(_path_columns(events), "event_time")
        .join(period_sessions, on="session_id", how="semi")
        .sort("session_id", "event_time", maintain_order=True)
    )
    steps = _collapsed_steps(ordered)
    ends = (
        steps.group_by("session_id")
        .agg(first=pl.col("step").first(), last=pl.col("step").last())
        .join(period_sessions.select("session_id", "event_count"), on="session_id")
    )
    views = steps.group_by(page="step").agg(page_views=pl.len())
    entrances = ends.group_by(page="first").agg(
        entrances=pl.len(), bounces=(pl.col("event_count") == 1).sum()
    )
    exits = ends.group_by(page="last").agg(exits=pl.len())
    return (
        views.join(entrances, on="page", how="left")
        .join(exits, on="page", how="left")
        .with_columns(
            pl.col("page_views", "entrances", "bounces", "exits").fill_null(0).cast(pl.Int64)
        )
        .with_columns(
            bounce_rate=ratio("bounces", "entrances"), exit_rate=ratio("exits", "page_views")
        )
        .select("page", "page_views", "entrances", "bounces", "bounce_rate", "exits", "exit_rate")
        .sort(["page_views", "page"], descending=[True, False])
    )
