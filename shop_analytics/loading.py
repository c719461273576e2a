"""The loading edge: a source's canonical tables plus what is derived once per load.

Sessions are derived here, over all events, so that every metric reads the same sessions
and none derives them again per query.
"""

from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta
from functools import cached_property
from types import MappingProxyType

import polars as pl

from connectors import Source, SourceError
from connectors.schema import TABLES, UTC_DATETIME
from metrics.orders import attribute_orders
from metrics.sessions import DEFAULT_SESSION_GAP, derive_sessions
from metrics.time import DEFAULT_TIME_ZONE, business_day
from shop_analytics.pushdown import (
    DEFAULT_SPARK_MASTER,
    DEFAULT_THRESHOLD,
    Pushdown,
    PushedEvents,
    engine_for,
    pushed_events,
)
from shop_analytics.pushdown.frames import activity_from_events

LOAD_ORDER = tuple(TABLES)


class MissingTable(SourceError):
    """A view asked for a table the shop does not have; says which and how to map it."""

    def __init__(self, table: str, description: str):
        self.table, self.description = table, description
        super().__init__(
            f"this view needs the '{table}' table, which {description} does not have; "
            f"map it in the data-source settings ([tables.{table}] of the mapping, or the Data sources page)."
        )


def empty_table(name: str, id_dtype: pl.DataType = pl.Int64) -> pl.DataFrame:
    """A canonical table with all its columns (required and optional) and no rows."""
    return pl.DataFrame(schema={column: dtype or id_dtype for column, dtype in TABLES[name].columns.items()})


class Shop:
    """A loaded shop: its canonical tables, its derived sessions, and what it lacks.

    Each canonical table is a typed attribute (`shop.orders`, ...) that raises MissingTable
    for a table the source does not have; `optional(name)` is the one way to ask for a table
    a view can do without (None when absent). `events` carry `session_id`,
    `session_channel` and `session_device`; `orders` carry the attributed `channel` and the
    user's `device`. A shop without a users table has users all the same: the distinct ids of
    its events and orders, without signup (`users_derived`; `missing` still names it, so a
    view that reads signup says so). A shop loaded with push-down (`pushed`) keeps its events
    where they are: `events` raises NeedsEvents. `activity` holds the activity events in
    business zone `zone`. Nothing about a loaded shop changes: its answers (activity, the
    date span, the filter labels) are computed once, when first asked.
    """

    def __init__(
        self,
        tables: Mapping[str, pl.DataFrame],
        sessions: pl.DataFrame | None,
        description: str,
        missing: tuple[str, ...] = (),
        pushed: PushedEvents | None = None,
        zone: str = DEFAULT_TIME_ZONE,
        users_derived: bool = False,
    ) -> None:
        self._tables = MappingProxyType(dict(tables))
        self.sessions = sessions
        self.description = description
        self.missing = tuple(missing)
        self.pushed = pushed
        self.zone = zone
        self.users_derived = users_derived

    def replaced(self, *, sessions: pl.DataFrame | None = None, **tables: pl.DataFrame) -> "Shop":
        """This shop with some of its tables (and its sessions) in place of its own, such as
        a segment's rows; what it lacks stays lacking."""
        unknown = set(tables) - set(TABLES)
        if unknown:
            raise KeyError(f"not canonical tables: {', '.join(sorted(unknown))}")
        kept = {name: frame for name, frame in tables.items() if name in self._tables}
        return Shop(
            {**self._tables, **kept}, self.sessions if sessions is None else sessions, self.description,
            self.missing, self.pushed, self.zone, self.users_derived,
        )

    def __repr__(self) -> str:
        return f"Shop({self.description!r}, tables={sorted(self._tables)}, missing={list(self.missing)})"

    @property
    def tables(self) -> Mapping[str, pl.DataFrame]:
        """The tables the shop has (read-only), by canonical name."""
        return self._tables

    def _table(self, name: str) -> pl.DataFrame:
        if name not in self._tables:
            raise MissingTable(name, self.description)
        return self._tables[name]

    @property
    def users(self) -> pl.DataFrame:
        return self._table("users")

    @property
    def events(self) -> pl.DataFrame:
        if self.pushed is not None:
            raise self.pushed.needs_events()
        return self._table("events")

    @property
    def orders(self) -> pl.DataFrame:
        return self._table("orders")

    @property
    def order_items(self) -> pl.DataFrame:
        return self._table("order_items")

    @property
    def products(self) -> pl.DataFrame:
        return self._table("products")

    @property
    def campaigns(self) -> pl.DataFrame:
        return self._table("campaigns")

    @property
    def ad_spend(self) -> pl.DataFrame:
        return self._table("ad_spend")

    @property
    def reviews(self) -> pl.DataFrame:
        return self._table("reviews")

    @property
    def tickets(self) -> pl.DataFrame:
        return self._table("tickets")

    def optional(self, name: str) -> pl.DataFrame | None:
        """The table `name` when the shop has it, else None: for what a view can do without."""
        if name not in TABLES:
            raise KeyError(f"{name!r} is not a canonical table")
        return self._tables.get(name)

    def or_empty(self, name: str) -> pl.DataFrame:
        """The table `name`, or an empty one with its required columns, for the measures
        that read it to come out as zero rows, which the surfaces then mark as not available
        (views.mask_unavailable), never as a day of zeros."""
        table = self._tables.get(name)
        if table is not None:
            return table
        known = next((frame["user_id"].dtype for frame in self._tables.values() if "user_id" in frame.columns), pl.Int64)
        if name == "events":
            return derive_sessions(empty_table(name, known))[0]  # with the session columns loading adds
        return empty_table(name, known)

    def has(self, *names: str) -> bool:
        return all((name in self._tables and not (name == "users" and self.users_derived)) or (name == "events" and self.pushed is not None) for name in names)

    @cached_property
    def activity(self) -> pl.DataFrame:
        """The activity events (pushdown.frames), cut into business days of `zone`, which the
        metrics that only ask who was active when read (daily KPIs, period summaries,
        retention, lifecycle, LTV curves, anomalies) and on which they give what they give on
        every event: the engine's with push-down, else derived once from the events in memory
        (436,814 rows for the sample shop's 2,000,000 events)."""
        if self.pushed is not None:
            return self.pushed.activity
        return activity_from_events(self.or_empty("events"), tz=self.zone)

    @cached_property
    def _first_and_last(self) -> tuple[datetime, datetime] | None:
        """The first and last instants with activity: events, else orders."""
        events = self.pushed.activity if self.pushed is not None else self._tables.get("events")
        for frame, column in ((events, "event_time"), (self._tables.get("orders"), "created_at")):
            if frame is not None and frame.height:
                return frame.select(pl.col(column).min().alias("first"), pl.col(column).max().alias("last")).row(0)
        return None

    def date_span(self, tz: str) -> tuple[date, date] | None:
        """First and last business day (zone `tz`) with activity: events, else orders."""
        if self._first_and_last is None:
            return None
        # the business day only moves forward with time, so the first and last instants give
        # the first and last days without converting every row
        ends = pl.DataFrame({"first": [self._first_and_last[0]], "last": [self._first_and_last[1]]})
        first, last = ends.select(business_day("first", tz), business_day("last", tz)).row(0)
        return first, last

    @cached_property
    def _labels(self) -> dict[str, list[str]]:
        values: dict[str, set[str]] = {}
        for frame in (self.sessions, self._tables.get("users")):
            for column in ("channel", "device", "region"):
                if frame is not None and column in frame.columns:
                    values.setdefault(column, set()).update(frame[column].drop_nulls().unique().to_list())
        return {column: sorted(found) for column, found in values.items()}

    def labels(self, column: str) -> list[str]:
        """The values of a session and user label (channel, device, region) in the shop,
        sorted: what the filters offer."""
        return self._labels.get(column, [])


def derived_users(tables: Mapping[str, pl.DataFrame]) -> pl.DataFrame | None:
    """The users of a shop without a users table: the distinct ids of its events and orders,
    without signup (SPEC section 2: a view that needs signup says so)."""
    ids = [tables[name].select("user_id") for name in ("events", "orders") if name in tables]
    if not ids:
        return None
    dtypes = {frame["user_id"].dtype for frame in ids}
    # ids of one shop share a dtype; where two sources disagree, text holds both
    dtype = dtypes.pop() if len(dtypes) == 1 else pl.String
    users = pl.concat([frame.with_columns(pl.col("user_id").cast(dtype)) for frame in ids]).unique().sort("user_id")
    return users.with_columns(signup_at=pl.lit(None, UTC_DATETIME))


def load_shop(
    source: Source,
    *,
    session_gap: timedelta = DEFAULT_SESSION_GAP,
    progress: Callable[[str], None] | None = None,
    pushdown: str | Pushdown = "never",
    pushdown_threshold: int = DEFAULT_THRESHOLD,
    pushdown_engine: str = "native",
    spark_master: str = DEFAULT_SPARK_MASTER,
    tz: str = DEFAULT_TIME_ZONE,
) -> Shop:
    """Read every canonical table the source has and derive sessions and order attribution.

    `pushdown` ("never", "auto" or "always", pushdown.engine_for, or an engine such as
    pushdown.spark.SparkPushdown) may leave the events where they are: then sessions and the
    activity events, cut into business days in zone `tz`, come from the engine, and only the
    other tables are read. `pushdown_engine` "spark" runs a folder's push-down in Spark SQL at
    `spark_master`; `pushdown.pushdown_options` reads all four from `[connections.shop]`.
    """
    available = source.table_names()
    engine = None
    if "events" in available:
        engine = (
            engine_for(source, pushdown, pushdown_threshold, engine=pushdown_engine, spark_master=spark_master)
            if isinstance(pushdown, str) else pushdown
        )
    tables: dict[str, pl.DataFrame] = {}
    for name in LOAD_ORDER:
        if name in available and not (name == "events" and engine is not None):
            tables[name] = source.read_table(name)
        if progress:
            progress(name)
    sessions = pushed = None
    if engine is not None:
        pushed, sessions = pushed_events(engine, tz=tz, gap=session_gap)
    if "events" in tables:
        # pop first: the raw frame can be freed as soon as derive_sessions has reordered it
        tables["events"], sessions = derive_sessions(tables.pop("events"), gap=session_gap)
    if sessions is None:
        # no events: no sessions, in the shape the metrics read
        id_dtype = next((frame["user_id"].dtype for frame in tables.values() if "user_id" in frame.columns), pl.Int64)
        _, sessions = derive_sessions(empty_table("events", id_dtype), gap=session_gap)
    users_derived = False
    if "users" not in tables:
        users = derived_users({**tables, **({"events": pushed.activity} if pushed is not None else {})})
        if users is not None:
            tables["users"], users_derived = users, True
    if "orders" in tables:
        users = tables.get("users", pl.DataFrame({"user_id": []}, schema={"user_id": tables["orders"]["user_id"].dtype}))
        tables["orders"] = attribute_orders(tables["orders"], users)
    if progress:
        progress("sessions")
    missing = tuple(
        name for name in TABLES
        if (name not in tables or (name == "users" and users_derived)) and not (name == "events" and pushed)
    )
    return Shop(tables=tables, sessions=sessions, description=source.description, missing=missing, pushed=pushed, zone=tz, users_derived=users_derived)
