"""The push-down queries, written once with SQLAlchemy Core over any FROM clause that has the
canonical column names (a mapped table of a database, or a Parquet file registered in Spark).

Each is the heavy first step of a metric family, returning aggregated rows only:

- `session_days`: one row per session and business day it touches (sessions and per-user
  daily activity both follow from it, see pushdown.frames);
- `daily_active_users`: distinct active users per business day and session channel;
- `order_days`: valid orders per customer and business day (models.features.purchase_days);
- `funnel_events`: the events a funnel reads, of the users who enter it in the period.

The SQL is what PostgreSQL, MySQL/MariaDB, SQLite and Spark share (pushdown.dialects holds
the two exceptions). Values are bound or rendered by SQLAlchemy; nothing is pasted in.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from metrics.funnel_spec import FunnelSpec, FunnelStep
from metrics.orders import VALID_ORDER_STATUSES
from shop_analytics.pushdown.dialects import SQLITE_TIME_FORMAT, AddSeconds, ZoneOffsets, business_day

SESSION_DAY_COLUMNS = (
    "user_id", "session_number", "date", "first_at", "last_at", "events", "purchases",
    "starts_session", "channel", "device",
)
DAILY_ACTIVE_COLUMNS = ("date", "channel", "dau")
ORDER_DAY_COLUMNS = ("user_id", "day", "value", "orders")

_SQL_OPERATORS = {
    "==": lambda column, value: column == value,
    "!=": lambda column, value: column != value,
    "<": lambda column, value: column < value,
    "<=": lambda column, value: column <= value,
    ">": lambda column, value: column > value,
    ">=": lambda column, value: column >= value,
    "in": lambda column, values: column.in_(list(values)),
    "not in": lambda column, values: column.not_in(list(values)),
}


@dataclass(frozen=True)
class Dialect:
    """Whose SQL to write and how it places an instant in the business zone `zone`.

    `name` is a SQLAlchemy dialect name (Spark gets "postgresql", then sqlglot); `offsets`
    are the zone's UTC offsets over the data's span, which the offset dialects need.
    """

    name: str
    zone: str
    offsets: ZoneOffsets | None = None

    def day(self, column: sa.ColumnElement) -> sa.ColumnElement:
        """The business day of the UTC instant `column`."""
        return business_day(column, self.zone, self.name, self.offsets)

    def instant(self, column: sa.ColumnElement, moment: datetime) -> sa.ColumnElement:
        """The UTC instant `moment` typed to compare with `column`: zoned, as zoneless UTC, or
        for SQLite as the text it stores times as."""
        if getattr(column.type, "timezone", False):
            return sa.cast(sa.literal(moment.astimezone(UTC), sa.DateTime(timezone=True)), sa.DateTime(timezone=True))
        naive = moment.astimezone(UTC).replace(tzinfo=None)
        if self.name == "sqlite":
            return sa.literal(naive.strftime(SQLITE_TIME_FORMAT), sa.String())
        return sa.literal(naive, sa.DateTime())


def _optional(table: sa.FromClause, name: str) -> sa.ColumnElement:
    return table.c[name] if name in table.c else sa.null()


def user_part(events: sa.FromClause, part: tuple[int, int] | None) -> list[sa.ColumnElement]:
    """The condition keeping the users of part k of n (user_id modulo n is k): sessions are
    per user, so the parts can be sessionized apart, and at once. None keeps everyone."""
    if part is None:
        return []
    number, parts = part
    return [sa.func.mod(events.c.user_id, parts) == number]


def session_days(events: sa.FromClause, dialect: Dialect, *, gap: timedelta, part: tuple[int, int] | None = None) -> sa.Select:
    """One row per (user, session, business day) with events: SESSION_DAY_COLUMNS, for the
    users of `part` (`user_part`).

    SPEC: "a new session starts at a user's first event and after every gap of more than 30
    minutes (setting)"; a session's channel and device are its first event's. LAG finds the
    gaps; a running SUM of the starts numbers each user's sessions from 1 (a RANGE frame, so
    that events at one instant get one number whatever order the engine sees them in).
    `events` counts the events of the row, `purchases` those of type purchase, `first_at` and
    `last_at` are its first and last event; `starts_session` is 1 on the row holding the
    session's first event, which alone carries the session's `channel` and `device`.
    """
    # the event type is carried through the sort as a purchase flag: narrower rows sort faster
    scoped = sa.select(
        events.c.user_id, events.c.event_time, sa.case((events.c.event_type == "purchase", 1), else_=0).label("purchase"),
        _optional(events, "channel").label("channel"), _optional(events, "device").label("device"),
    ).where(*user_part(events, part)).subquery("scoped")
    e = scoped.c
    previous = sa.func.lag(e.event_time).over(partition_by=e.user_id, order_by=e.event_time)
    starts = sa.case(
        (previous.is_(None), 1), (e.event_time > AddSeconds(previous, int(gap.total_seconds())), 1), else_=0
    )
    marked = sa.select(e.user_id, e.event_time, e.purchase, e.channel, e.device, starts.label("starts")).subquery("marked")
    m = marked.c
    number = sa.func.sum(m.starts).over(partition_by=m.user_id, order_by=m.event_time)
    numbered = sa.select(m.user_id, m.event_time, m.purchase, m.channel, m.device, m.starts,
                         number.label("session_number")).subquery("numbered")
    n = numbered.c
    day = dialect.day(n.event_time)
    at_start = n.starts == 1
    return sa.select(
        n.user_id,
        n.session_number,
        day.label("date"),
        sa.func.min(n.event_time).label("first_at"),
        sa.func.max(n.event_time).label("last_at"),
        sa.func.count().label("events"),
        sa.func.sum(n.purchase).label("purchases"),
        sa.func.max(n.starts).label("starts_session"),
        sa.func.max(sa.case((at_start, n.channel))).label("channel"),
        sa.func.max(sa.case((at_start, n.device))).label("device"),
    ).group_by(n.user_id, n.session_number, day)


def daily_active_users(
    events: sa.FromClause, dialect: Dialect, *, gap: timedelta, start, end, part: tuple[int, int] | None = None
) -> sa.Select:
    """DAU per business day from `start` to `end` and session channel: DAILY_ACTIVE_COLUMNS,
    among the users of `part` (parts have no user in common, so their counts add up).

    A user is active on D in channel C with an event on D in a session whose first event's
    channel is C (the channel filter's reading, ui: Segment). Sessions chain back before
    `start`, so every event is sessionized; only (day, channel, count) rows come back.
    """
    days = session_days(events, dialect, gap=gap, part=part).subquery("session_days")
    d = days.c
    # the session's channel on each of its days by a window over the session's rows (only
    # the starting row carries it): a join of the days to the starting rows made PostgreSQL
    # plan a nested loop, 20 s for the 60,000 events of the test shop
    session_channel = sa.func.max(sa.case((d.starts_session == 1, d.channel))).over(partition_by=[d.user_id, d.session_number])
    channelled = sa.select(d.user_id, d.date, session_channel.label("channel")).subquery("session_channels")
    c = channelled.c
    return (
        sa.select(c.date, c.channel, sa.func.count(sa.distinct(c.user_id)).label("dau"))
        .where(c.date >= sa.literal(start, sa.Date()), c.date <= sa.literal(end, sa.Date()))
        .group_by(c.date, c.channel)
    )


def order_days(orders: sa.FromClause, dialect: Dialect) -> sa.Select:
    """Valid orders per customer and business day: ORDER_DAY_COLUMNS (value = GMV that day).

    SPEC: "Valid order: status in paid, shipped, completed, refunded"; as
    models.features.purchase_days, whose customer-days the LTV models count.
    """
    o = orders.c
    day = dialect.day(o.created_at)
    return (
        sa.select(o.user_id, day.label("day"), sa.func.sum(o.amount).label("value"), sa.func.count().label("orders"))
        .where(o.status.in_(VALID_ORDER_STATUSES))
        .group_by(o.user_id, day)
    )


def _step_condition(events: sa.FromClause, step: FunnelStep) -> sa.ColumnElement:
    """SQL for FunnelStep.condition: the event type and every filter (a null matches none)."""
    conditions = [events.c.event_type == step.event_type]
    conditions += [_SQL_OPERATORS[operator](events.c[column], value) for column, operator, value in step.filters]
    return sa.and_(*conditions)


def funnel_columns(events: sa.FromClause, spec: FunnelSpec) -> list[str]:
    """The columns a funnel reads (as metrics.funnel scopes them): user, time, type, the
    step filters' columns and an events breakdown."""
    carried = [spec.breakdown] if spec.breakdown and spec.breakdown in events.c else []
    return list(dict.fromkeys(["user_id", "event_time", "event_type", *sorted(spec.columns_used()), *carried]))


def funnel_events(events: sa.FromClause, dialect: Dialect, spec: FunnelSpec, *, lower: datetime, upper: datetime) -> sa.Select:
    """The events the funnel of `spec` reads for entries in [lower, upper) (UTC), of entering
    users only: those in [lower - reach back, upper + W] (reach back W for unordered funnels),
    of a step's or an excluded type unless the funnel is strict (any event breaks a strict
    chain), of users with a step-1 event in [lower, upper).

    The same rows metrics.funnel keeps before matching, so the funnel computed from them is
    the funnel computed from every event (the data's end aside: see `latest_event`).
    """
    e = events.c
    reach_back = spec.window if spec.mode == "unordered" else timedelta(0)
    entrants = sa.select(e.user_id).where(
        _step_condition(events, spec.steps[0]),
        e.event_time >= dialect.instant(e.event_time, lower),
        e.event_time < dialect.instant(e.event_time, upper),
    )
    query = sa.select(*[e[column] for column in funnel_columns(events, spec)]).where(
        e.event_time >= dialect.instant(e.event_time, lower - reach_back),
        e.event_time <= dialect.instant(e.event_time, upper + spec.window),
        e.user_id.in_(entrants),
    )
    if spec.mode != "strict":
        types = list(dict.fromkeys([*(step.event_type for step in spec.steps), *spec.exclusions]))
        query = query.where(e.event_type.in_(types))
    return query


def latest_event(events: sa.FromClause, columns: list[str]) -> sa.Select:
    """The shop's latest event (its `columns`): the data's end, which marks funnel entries
    whose window is still open."""
    return sa.select(*[events.c[column] for column in columns]).order_by(events.c.event_time.desc()).limit(1)


def row_count(table: sa.FromClause) -> sa.Select:
    """COUNT(*) of `table`: what `pushdown = "auto"` weighs."""
    return sa.select(sa.func.count().label("rows")).select_from(table)


def time_span(table: sa.FromClause, column: str) -> sa.Select:
    """The first and last value of the time column `column`."""
    return sa.select(sa.func.min(table.c[column]).label("first"), sa.func.max(table.c[column]).label("last"))
