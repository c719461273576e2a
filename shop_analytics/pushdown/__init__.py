"""Push-down: the heavy first step of each metric family runs where the events are, and only
aggregated rows reach the app.

`[connections.shop] pushdown = "auto" | "always" | "never"` chooses per source (default
auto: push-down above DEFAULT_THRESHOLD events, counted with a cheap COUNT or a Parquet file's
metadata). A database runs pushdown.queries as SQL; a folder of Parquet files or an extract
is read by Polars' streaming engine, or, with `pushdown_engine = "spark"`, by Spark SQL at
`spark_master` (pushdown.spark). `pushdown_options` reads these keys.

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
from shop_analytics.pushdown.engines import Pushdown, SqlPushdown, StreamingPushdown, parquet_scan
from shop_analytics.pushdown.frames import sessions_and_activity, with_session_columns

MODES = ("auto", "always", "never")
DEFAULT_THRESHOLD = 20_000_000
"""Events above which `auto` pushes down: loading 20,000,000 events into memory takes 2.8 to
3.8 GB (bench/RESULTS.md), most of a small machine's 4 GB."""
ENGINES = ("native", "spark")
"""`pushdown_engine`: "native" runs the first steps where the source is (the database's SQL,
Polars' streaming engine over Parquet files); "spark" runs them in Spark SQL over the folder."""
DEFAULT_SPARK_MASTER = "local[2]"


class NeedsEvents(SourceError):
    """A view needs every event in memory, and the shop was loaded with push-down: how many
    events there are and what keeps them (safe to show), for the message in each language."""

    def __init__(self, event_count: int, keeper: str):
        self.event_count = event_count
        self.keeper = keeper
        super().__init__(
            f"this view needs all {event_count:,} events in memory, and the shop is read with push-down "
            f"({keeper} keeps them). Set pushdown = \"never\" in [connections.shop] "
            "on a machine with the memory for them."
        )


def check_mode(mode: str, threshold: int) -> None:
    """ValueError unless `mode` is one of MODES and `threshold` a positive whole number."""
    if mode not in MODES:
        raise ValueError(f"pushdown in [connections.shop] is one of {', '.join(MODES)}, not {mode!r}")
    if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold <= 0:
        raise ValueError(f"pushdown_threshold in [connections.shop] is a positive number of events, not {threshold!r}")


def check_engine(engine: str, spark_master: str | None) -> None:
    """ValueError unless `engine` is one of ENGINES, and `spark_master` is given only with
    "spark" (and then as text)."""
    if engine not in ENGINES:
        raise ValueError(f"pushdown_engine in [connections.shop] is one of {', '.join(ENGINES)}, not {engine!r}")
    if spark_master is not None and engine != "spark":
        raise ValueError('spark_master in [connections.shop] is read only with pushdown_engine = "spark"')
    if spark_master is not None and (not isinstance(spark_master, str) or not spark_master.strip()):
        raise ValueError(f"spark_master in [connections.shop] is a Spark master URL such as \"local[2]\", not {spark_master!r}")


def pushdown_options(connection: dict) -> dict:
    """The push-down keys of a `[connections.shop]` section, taken out of `connection` (which
    is left describing the source alone) and checked, as load_shop's keywords: `pushdown`
    (default "auto"), `pushdown_threshold` (DEFAULT_THRESHOLD), `pushdown_engine` ("native")
    and `spark_master` (DEFAULT_SPARK_MASTER with "spark")."""
    options = {
        "pushdown": connection.pop("pushdown", "auto"),
        "pushdown_threshold": connection.pop("pushdown_threshold", DEFAULT_THRESHOLD),
        "pushdown_engine": connection.pop("pushdown_engine", "native"),
    }
    master = connection.pop("spark_master", None)
    check_mode(options["pushdown"], options["pushdown_threshold"])
    check_engine(options["pushdown_engine"], master)
    if options["pushdown_engine"] == "spark":
        options["spark_master"] = master or DEFAULT_SPARK_MASTER
    return options


def _engine_of(source: Source) -> tuple[Pushdown | None, int | None]:
    """The engine that can run the first steps where `source` keeps its events, and the event
    count when it is known without asking (an extract's manifest)."""
    if isinstance(source, SqlSource):
        return SqlPushdown(source), None
    if isinstance(source, ExtractSource):
        manifest = source.current()
        if "events" not in manifest.tables:
            return None, None
        files = {name: table.files for name, table in manifest.tables.items()}
        engine = StreamingPushdown(parquet_scan(source.folder, files), f"the extract of {source.description}")
        return engine, manifest.tables["events"].rows
    if isinstance(source, FolderSource) and source.mapping.is_identity:
        folder = source.folder
        if (folder / "events.parquet").is_file() or (folder / "events").is_dir():
            return StreamingPushdown(parquet_scan(folder), f"Parquet files in {folder}"), None
    return None, None


def _spark_engine(source: FolderSource, master: str) -> Pushdown:
    """SparkPushdown over the folder of `source`, in a Spark session at `master` (one per
    process: a second shop joins the first one's session, whatever its master)."""
    try:
        from shop_analytics.pushdown.spark import SparkPushdown, spark_session
    except ImportError as error:
        raise SourceError(
            f"pushdown_engine = \"spark\" needs pyspark and sqlglot (pip install pyspark sqlglot) and Java 17: {error}"
        ) from None
    return SparkPushdown(spark_session(master), source.folder)


def engine_for(
    source: Source,
    mode: str = "auto",
    threshold: int = DEFAULT_THRESHOLD,
    *,
    engine: str = "native",
    spark_master: str = DEFAULT_SPARK_MASTER,
) -> Pushdown | None:
    """The push-down engine to use for `source`, None to compute in memory.

    "never": None. "always": the engine, or SourceError when the source is neither a
    database nor Parquet files in the canonical layout. "auto": the engine when the source
    has more than `threshold` events. `engine` "spark" gives Spark SQL at `spark_master` over
    a folder of Parquet files instead of Polars' streaming engine; under "auto" the events are
    counted from the files' metadata first, so that a small shop starts no Spark.
    """
    check_mode(mode, threshold)
    check_engine(engine, spark_master if engine == "spark" else None)
    if mode == "never":
        return None
    native, count = _engine_of(source)
    # Spark reads the canonical files by name: not a database, nor an extract's generations
    spark_folder = source if isinstance(source, FolderSource) and native is not None else None
    if engine == "spark" and spark_folder is None:
        raise SourceError(
            f"pushdown_engine = \"spark\" reads a folder of Parquet files in the canonical layout (folder = \"...\"); "
            f"{source.description} is not one: set pushdown_engine = \"native\"."
        )
    if native is None:
        if mode == "always":
            raise SourceError(
                f"pushdown = \"always\" needs a database or Parquet files in the canonical layout; "
                f"{source.description} is neither: set pushdown = \"auto\" or \"never\"."
            )
        return None
    if mode == "auto" and (count if count is not None else native.event_count()) <= threshold:
        return None
    if engine == "spark" and spark_folder is not None:
        return _spark_engine(spark_folder, spark_master)
    return native


@dataclass(frozen=True)
class PushedEvents:
    """A shop's events as a pushed-down load keeps them: the engine that still has them all,
    the business zone the activity events were cut into days in, and the activity events."""

    engine: Pushdown
    zone: str
    activity: pl.DataFrame
    event_count: int

    def needs_events(self) -> NeedsEvents:
        """The error for a view that needs every event in memory."""
        return NeedsEvents(self.event_count, self.engine.description)

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


__all__ = [
    "DEFAULT_SPARK_MASTER", "DEFAULT_THRESHOLD", "ENGINES", "MODES", "NeedsEvents", "Pushdown", "PushedEvents",
    "check_engine", "check_mode", "engine_for", "pushdown_options", "pushed_events",
]
