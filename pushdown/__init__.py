"""Push-down: the heavy first step of each metric family runs where the events are, and only
aggregated rows reach the app.

`[connections.shop] pushdown = "auto" | "always" | "never"` chooses per source (default
auto: push-down above DEFAULT_THRESHOLD events, counted with a cheap COUNT or a Parquet file's
metadata). A database runs pushdown.queries as SQL; a folder of Parquet files or an extract
is read by Polars' streaming engine; Spark SQL runs the same queries (pushdown.spark).

What a pushed-down shop holds in memory (`PushedEvents`): the sessions, the *activity
events* (pushdown.frames), every table but events; a funnel asks the engine for its own
events. Views that need every event (products, paths, search, payments, models) say so.
"""

from dataclasses import dataclass
from datetime import date, timedelta

import polars as pl

from connectors import FolderSource, Source, SourceError, SqlSource
from connectors.extracts import ExtractSource
from metrics.funnel_spec import FunnelSpec
from pushdown.engines import Pushdown, SqlPushdown, StreamingPushdown, parquet_scan
from pushdown.frames import sessions_and_activity, with_session_columns

MODES = ("auto", "always", "never")
DEFAULT_THRESHOLD = 20_000_000
"""Events above which `auto` pushes down: loading 20,000,000 events into memory takes 2.8 to
3.8 GB (bench/RESULTS.md), most of a small machine's 4 GB."""


def check_mode(mode: str, threshold: int) -> None:
    """ValueError unless `mode` is one of MODES and `threshold` a positive whole number."""
    if mode not in MODES:
        raise ValueError(f"pushdown in [connections.shop] is one of {', '.join(MODES)}, not {mode!r}")
    if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold <= 0:
        raise ValueError(f"pushdown_threshold in [connections.shop] is a positive number of events, not {threshold!r}")


def _engine_of(source: Source) -> tuple[Pushdown | None, int | None]:
    """The engine that can run the first steps where `source` keeps its events, and the event
    count when it is known without asking (an extract's manifest)."""
    if isinstance(source, SqlSource):
        return SqlPushdown(source), None
    if isinstance(source, ExtractSource):
        manifest = source.current()
        if "events" not in manifest.tables:
            return None, None
        files = {name: table.file for name, table in manifest.tables.items()}
        engine = StreamingPushdown(parquet_scan(source.folder, files), f"the extract of {source.description}")
        return engine, manifest.tables["events"].rows
    if isinstance(source, FolderSource) and source.mapping.is_identity:
        folder = source.folder
        if (folder / "events.parquet").is_file() or (folder / "events").is_dir():
            return StreamingPushdown(parquet_scan(folder), f"Parquet files in {folder}"), None
    return None, None


def engine_for(source: Source, mode: str = "auto", threshold: int = DEFAULT_THRESHOLD) -> Pushdown | None:
    """The push-down engine to use for `source`, None to compute in memory.

    "never": None. "always": the engine, or SourceError when the source is neither a
    database nor Parquet files in the canonical layout. "auto": the engine when the source
    has more than `threshold` events.
    """
    check_mode(mode, threshold)
    if mode == "never":
        return None
    engine, count = _engine_of(source)
    if engine is None:
        if mode == "always":
            raise SourceError(
                f"pushdown = \"always\" needs a database or Parquet files in the canonical layout; "
                f"{source.description} is neither: set pushdown = \"auto\" or \"never\"."
            )
        return None
    if mode == "always":
        return engine
    return engine if (count if count is not None else engine.event_count()) > threshold else None


@dataclass(frozen=True)
class PushedEvents:
    """A shop's events as a pushed-down load keeps them: the engine that still has them all,
    the business zone the activity events were cut into days in, and the activity events."""

    engine: Pushdown
    zone: str
    activity: pl.DataFrame
    event_count: int

    def needs_events(self) -> SourceError:
        """The error for a view that needs every event in memory."""
        return SourceError(
            f"this view needs all {self.event_count:,} events in memory, and the shop is read with push-down "
            f"({self.engine.description} keeps them). Set pushdown = \"never\" in [connections.shop] "
            "on a machine with the memory for them."
        )

    def funnel_events(
        self, spec: FunnelSpec, *, start: date, end: date, tz: str, sessions: pl.DataFrame | None = None
    ) -> pl.DataFrame:
        """The events the funnel reads, from the engine (pushdown.engines.Pushdown.funnel_events),
        with the session columns loading gives events when `sessions` (the shop's) is given, so
        that the channel and device filters apply to them."""
        events = self.engine.funnel_events(spec, start=start, end=end, tz=tz)
        return events if sessions is None else with_session_columns(events, sessions)


def pushed_events(engine: Pushdown, *, tz: str, gap: timedelta) -> tuple[PushedEvents, pl.DataFrame]:
    """Run the session-days step on `engine`: the PushedEvents and the sessions table."""
    days = engine.session_days(tz=tz, gap=gap)
    sessions, activity = sessions_and_activity(days)
    return PushedEvents(engine, tz, activity, int(days["events"].sum())), sessions


__all__ = ["DEFAULT_THRESHOLD", "MODES", "Pushdown", "PushedEvents", "check_mode", "engine_for", "pushed_events"]
