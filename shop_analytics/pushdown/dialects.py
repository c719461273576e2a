"""What the engines do not share, generated per dialect with SQLAlchemy: the business day of
a UTC instant and an instant plus a number of seconds.

Everything else the push-down queries use (window functions LAG and SUM OVER, CASE, MIN,
MAX, COUNT, COUNT DISTINCT, GROUP BY, IN, EXISTS-free semi joins through IN) is common to
PostgreSQL, MySQL/MariaDB, SQLite and Spark SQL. The two constructs here compile to:

| construct | PostgreSQL | Spark (PostgreSQL's text, through sqlglot) | MySQL / MariaDB | SQLite |
| --- | --- | --- | --- | --- |
| business day | `CAST(t + offset * INTERVAL '1 second' AS DATE)` | `CAST(t AT TIME ZONE 'zone' AS DATE)` | `CAST(DATE_ADD(t, INTERVAL offset SECOND) AS DATE)` | `date(t, '+offset seconds')` |
| t + n seconds | `t + n * INTERVAL '1 second'` | the same | `DATE_ADD(t, INTERVAL n SECOND)` | `datetime(t, '+n seconds') \\|\\| substr(t, 20)` |

MySQL's CONVERT_TZ needs the server's time zone tables, which a server may not have loaded
(this machine's MariaDB has not: CONVERT_TZ gives NULL), and SQLite knows no zones at all;
there the zone's UTC offset is written into the query, as a CASE over the offset changes
(daylight saving) between the data's first and last instant. A zone without changes in that
span, such as Asia/Shanghai, is one fixed offset. PostgreSQL knows zones by name, but its
`AT TIME ZONE 'zone'` looks the zone's rules up for every row: at 10,000,000 events the
session days' two uses of it cost 15 % of the query (5.6 s against 4.75 s for the two parts
at once, on 2 cores), so the push-down on PostgreSQL writes the offsets in too (`offsets`
given). Its CAST of a zoned time to DATE takes the session's zone, which the connector sets
to UTC on every connection (connectors/sql.py).

SQLite stores times as text `YYYY-MM-DD HH:MM:SS.ffffff` (sample_data/sqlite_store.py):
`datetime()` drops the fraction, so it is put back with `substr(t, 20)`, which keeps the
comparison exact to the microsecond.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

SQLITE_TIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"
OFFSET_DIALECTS = ("sqlite", "mysql")
"""Dialects whose business day is computed from written-in UTC offsets, not the zone's name."""


@dataclass(frozen=True)
class ZoneOffsets:
    """The UTC offset of a zone over a span of instants: `first` seconds until the first
    change, then (instant, seconds) for each change, in order."""

    first: int
    changes: tuple[tuple[datetime, int], ...] = ()


def zone_offsets(zone: str, start: datetime, end: datetime) -> ZoneOffsets:
    """The UTC offsets of `zone` from instant `start` to `end` (UTC-aware), to the second.

    Offsets are looked up day by day; a day over which the offset changes is halved until the
    second of the change is found.
    """
    tz = ZoneInfo(zone)

    def offset(moment: datetime) -> int:
        utc_offset = moment.astimezone(tz).utcoffset()
        if utc_offset is None:  # an aware datetime in a ZoneInfo zone always has one
            raise ValueError(f"time zone {zone} gives no UTC offset at {moment.isoformat()}")
        return int(utc_offset.total_seconds())

    start, end = start.astimezone(UTC).replace(microsecond=0), end.astimezone(UTC)
    first = current = offset(start)
    changes = []
    moment = start
    while moment < end:
        following = min(moment + timedelta(days=1), end + timedelta(seconds=1))
        if offset(following) != current:
            low, high = moment, following  # offset(low) == current, offset(high) differs
            while high - low > timedelta(seconds=1):
                middle = low + (high - low) // 2
                middle = middle.replace(microsecond=0)
                if offset(middle) == current:
                    low = middle
                else:
                    high = middle
            current = offset(high)
            changes.append((high, current))
        moment = following
    return ZoneOffsets(first, tuple(changes))


class LocalTime(FunctionElement):
    """The wall time in zone `zone` of the UTC instant `column` (a zoneless column holds UTC).

    Compiled only for dialects that know zones by name (PostgreSQL, and Spark through the
    PostgreSQL text); the offset dialects use `business_day` with ZoneOffsets instead.
    """

    type = sa.DateTime()
    inherit_cache = True
    name = "local_time"

    def __init__(self, column: sa.ColumnElement, zone: str):
        self.zoned = bool(getattr(column.type, "timezone", False))
        super().__init__(column, sa.literal(zone, sa.String()))


@compiles(LocalTime)
def _local_time(element: LocalTime, compiler, **kw) -> str:
    column, zone = list(element.clauses)
    instant = compiler.process(column, **kw)
    if not element.zoned:
        instant = f"({instant} AT TIME ZONE {compiler.process(sa.literal('UTC', sa.String()), **kw)})"
    return f"({instant} AT TIME ZONE {compiler.process(zone, **kw)})"


for _dialect in OFFSET_DIALECTS:

    @compiles(LocalTime, _dialect)
    def _no_zones(element, compiler, **kw):
        raise sa.exc.CompileError(
            f"{compiler.dialect.name} has no time zones by name here: build the business day with zone offsets"
        )


class AddSeconds(FunctionElement):
    """`column` (a UTC instant) plus a whole number of seconds (an int or a SQL expression
    giving one)."""

    type = sa.DateTime()
    inherit_cache = True
    name = "add_seconds"

    def __init__(self, column: sa.ColumnElement, seconds: int | sa.ColumnElement):
        if isinstance(seconds, int):
            seconds = sa.literal(int(seconds), sa.Integer())
        super().__init__(column, seconds)


@compiles(AddSeconds)
def _add_seconds(element: AddSeconds, compiler, **kw) -> str:
    column, seconds = list(element.clauses)
    # n times a one-second interval: valid with n a bound parameter, and sqlglot writes it
    # for Spark as n * INTERVAL '1' SECOND
    return f"({compiler.process(column, **kw)} + {compiler.process(seconds, **kw)} * INTERVAL '1 second')"


@compiles(AddSeconds, "mysql")
def _add_seconds_mysql(element: AddSeconds, compiler, **kw) -> str:
    column, seconds = list(element.clauses)
    return f"DATE_ADD({compiler.process(column, **kw)}, INTERVAL {compiler.process(seconds, **kw)} SECOND)"


@compiles(AddSeconds, "sqlite")
def _add_seconds_sqlite(element: AddSeconds, compiler, **kw) -> str:
    column, seconds = list(element.clauses)
    modifier = sa.cast(seconds, sa.String()).concat(" seconds")
    shifted = sa.func.datetime(column, modifier).concat(sa.func.substr(column, 20))
    return compiler.process(shifted, **kw)


def _offset_case(column: sa.ColumnElement, offsets: ZoneOffsets, dialect: str) -> sa.ColumnElement:
    """The UTC offset in seconds at each value of `column`, from `offsets`."""
    if not offsets.changes:
        return sa.literal(offsets.first, sa.Integer())
    bounds = [moment for moment, _ in offsets.changes]
    seconds = [offsets.first] + [value for _, value in offsets.changes]

    def bound(moment: datetime) -> sa.ColumnElement:
        naive = moment.astimezone(UTC).replace(tzinfo=None)
        if dialect == "sqlite":
            return sa.literal(naive.strftime(SQLITE_TIME_FORMAT), sa.String())
        return sa.literal(naive, sa.DateTime())

    return sa.case(
        *[(column < bound(moment), sa.literal(value, sa.Integer())) for moment, value in zip(bounds, seconds)],
        else_=sa.literal(seconds[-1], sa.Integer()),
    )


def business_day(column: sa.ColumnElement, zone: str, dialect: str, offsets: ZoneOffsets | None = None) -> sa.ColumnElement:
    """The calendar date in zone `zone` of the UTC instant `column`, for `dialect`.

    With `offsets`, the zone's offsets over the data's span (`zone_offsets`), the day is the
    instant shifted by its offset (an instant outside that span would take the nearest
    offset); the offset dialects (OFFSET_DIALECTS) need them. Without, the zone by name.
    """
    if offsets is None:
        if dialect in OFFSET_DIALECTS:
            raise ValueError(f"the business day on {dialect} needs the zone's offsets over the data's span")
        return sa.cast(LocalTime(column, zone), sa.Date())
    seconds = _offset_case(column, offsets, dialect)
    if dialect == "sqlite":
        return sa.func.date(column, sa.cast(seconds, sa.String()).concat(" seconds"))
    return sa.cast(AddSeconds(column, seconds), sa.Date())
