"""What every source hands out: canonical tables (SPEC section 2) as Polars frames."""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Literal, Protocol

import polars as pl
from polars.expr.whenthen import ChainedThen, Then

from connectors.schema import TABLES, TIME_COLUMN, UTC_DATETIME, DType


class SourceError(Exception):
    """A source cannot be read as the canonical model; the message says what to fix."""


class Source(Protocol):
    """A shop's data, read-only, as canonical tables."""

    @property
    def description(self) -> str:
        """Where the data comes from, safe to show: never a password."""

    def table_names(self) -> set[str]:
        """The canonical tables this source has."""

    def read_table(
        self,
        name: str,
        *,
        columns: Iterable[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> pl.DataFrame:
        """The canonical table `name`, conformed by `conform`.

        `columns`: the canonical columns wanted (None: all the source has). `since` / `until`:
        UTC datetimes; only rows whose time column (TIME_COLUMN) is strictly later than
        `since` and earlier than `until` are read. Both are pushed into the read.
        """


def wanted_columns(name: str, columns: Iterable[str] | None) -> list[str]:
    """The canonical columns of table `name` to read, in canonical order (all for None)."""
    if name not in TABLES:
        raise SourceError(f"'{name}' is not a canonical table; the tables are {', '.join(TABLES)}.")
    canonical = TABLES[name].columns
    if columns is None:
        return list(canonical)
    asked = set(columns)
    unknown = sorted(asked - set(canonical))
    if unknown:
        raise SourceError(
            f"table '{name}' has no canonical column(s) {', '.join(unknown)}; "
            f"its columns are {', '.join(canonical)}."
        )
    return [column for column in canonical if column in asked]


@dataclass(frozen=True)
class TimeWindow:
    """Rows whose `column` is strictly later than `since` and earlier than `until` (UTC).

    A date column (`is_date`) counts a day as its midnight: later than `since` means after
    the day of `since`; earlier than `until` means before `until`'s day, or on it when
    `until` is past its midnight.
    """

    column: str
    is_date: bool
    since: datetime | None
    until: datetime | None

    def conditions(self, value, bound: Callable = lambda moment: moment) -> list:
        """The comparisons of `value` (a Polars expression or a SQLAlchemy column) with the
        bounds; `bound` turns a bound (a UTC datetime, or a date) into the value compared."""
        conditions = []
        if self.since is not None:
            if self.is_date:
                conditions.append(value >= bound(self.since.date() + timedelta(days=1)))
            else:
                conditions.append(value > bound(self.since))
        if self.until is not None:
            if self.is_date:
                day = self.until.date()
                conditions.append(value < bound(day if self.until.time() == time(0) else day + timedelta(days=1)))
            else:
                conditions.append(value < bound(self.until))
        return conditions


def time_window(name: str, since: datetime | None, until: datetime | None) -> TimeWindow | None:
    """The time filter asked of table `name`, in UTC; None when neither bound is given."""
    if since is None and until is None:
        return None
    if name not in TIME_COLUMN:
        raise SourceError(
            f"table '{name}' has no time column to filter on; since/until apply to "
            f"{', '.join(TIME_COLUMN)}."
        )
    bounds = {}
    for label, moment in (("since", since), ("until", until)):
        if moment is not None and (not isinstance(moment, datetime) or moment.tzinfo is None):
            raise SourceError(f"{label}={moment!r} must be a datetime with a time zone (UTC).")
        bounds[label] = None if moment is None else moment.astimezone(UTC)
    column = TIME_COLUMN[name]
    return TimeWindow(column, TABLES[name].columns[column] == pl.Date, bounds["since"], bounds["until"])


def missing_required(name: str, present: Iterable[str], wanted: Iterable[str] | None = None) -> list[str]:
    """The required columns of table `name` (among `wanted`, if given) absent from `present`."""
    present = set(present)
    wanted = TABLES[name].required if wanted is None else set(wanted)
    return [column for column in TABLES[name].required if column in wanted and column not in present]


def lacks_columns(name: str, missing: list[str], present: Iterable[str], origin: str) -> SourceError:
    """The error for table `name` lacking the required columns `missing`."""
    return SourceError(
        f"{origin}: table '{name}' lacks the required column(s) {', '.join(missing)}; "
        f"it has {', '.join(present) or 'no columns'}."
    )


def conform(
    name: str, frame: pl.DataFrame, origin: str, columns: Iterable[str] | None = None, *, zone: str = "UTC"
) -> pl.DataFrame:
    """Keep the canonical columns of table `name` and give them their canonical dtypes.

    `columns` limits the required columns checked to those asked for. Raises SourceError
    naming the missing required columns, or the column whose values cannot be read as its
    canonical type. Text timestamps are parsed; those without a zone are in `zone` (UTC
    unless the mapping says otherwise) and all become UTC.
    """
    table = TABLES[name]
    missing = missing_required(name, frame.columns, columns)
    if missing:
        raise lacks_columns(name, missing, frame.columns, origin)
    present = [column for column in table.columns if column in frame.columns]
    frame = frame.select(present)
    conversions = [
        _cast(column, frame.schema[column], dtype, zone)
        for column, dtype in table.columns.items()
        if column in frame.columns and dtype is not None and frame.schema[column] != dtype
    ]
    fractions = [
        column for column, dtype in table.columns.items()
        if column in frame.columns and dtype is not None and dtype.is_integer() and frame.schema[column].is_float()
    ]
    if fractions and frame.select(pl.any_horizontal((pl.col(column) != pl.col(column).floor()).any() for column in fractions)).item():
        # a cast to whole numbers would drop the fraction; unfit_values names the rows
        # (the fallback says the same when it finds none to name)
        raise unfit_values(name, frame, origin, zone) or SourceError(
            f"{origin}: table '{name}' has fractions in whole-number column(s) {', '.join(fractions)}; "
            "correct them at the source, or map the column(s) to ones that hold whole numbers."
        )
    try:
        return frame.with_columns(conversions)
    except pl.exceptions.PolarsError as error:
        raise unfit_values(name, frame, origin, zone) or SourceError(
            f"{origin}: table '{name}' has values that do not fit the canonical model "
            f"({str(error).splitlines()[0]})."
        ) from None


# What a canonical dtype holds, as the message about values that are not that says it.
_KINDS: dict[DType, str] = {pl.Float64: "a number", pl.Int64: "a whole number", pl.Int32: "a whole number", pl.Date: "a date"}
SHOWN_ROWS = 5


def unfit_values(name: str, frame: pl.DataFrame, origin: str, zone: str = "UTC") -> SourceError | None:
    """The error naming the first column of table `name` whose values its canonical dtype
    cannot hold, with the rows holding them (counted from 1, as read: the line after a CSV
    file's header is row 1) and a few of the values; None when every column converts.

    A value that does not convert is one that is set but comes out empty when converted
    leniently (a text timestamp in another format than the column's first, an amount like
    "12 yuan", a number too large for its type, a quantity with a fraction)."""
    for column, target in TABLES[name].columns.items():
        if column not in frame.columns or target is None or frame.schema[column] == target:
            continue
        current = frame.schema[column]
        try:
            converted = frame.select(_cast(column, current, target, zone, strict=False).alias("converted"))["converted"]
        except pl.exceptions.PolarsError:
            converted = pl.Series("converted", [None] * frame.height)
        unfit = frame.select(pl.col(column)).with_row_index("row", offset=1).filter(
            pl.col(column).is_not_null() & converted.is_null()
        )
        if unfit.is_empty():
            continue
        rows = ("rows " if unfit.height > 1 else "row ") + ", ".join(str(row) for row in unfit["row"].head(SHOWN_ROWS))
        more = f" and {unfit.height - SHOWN_ROWS:,} more" if unfit.height > SHOWN_ROWS else ""
        examples = ", ".join(repr(str(value))[:40] for value in unfit[column].unique(maintain_order=True).head(3))
        kind = "a date and time" if target == UTC_DATETIME else _KINDS.get(target, f"{target}")
        return SourceError(
            f"{origin}: table '{name}', column '{column}': {unfit.height:,} value(s) cannot be read as {kind}, "
            f"in {rows}{more} (for example {examples}); correct them at the source, or map the column "
            "to one that holds such values."
        )
    return None


def canonical_value(column: str, current: pl.DataType, target: DType, zone: str = "UTC") -> pl.Expr:
    """`column` (now of dtype `current`) as its canonical dtype `target`; zoneless times in `zone`."""
    return _cast(column, current, target, zone) if current != target else pl.col(column)


# Unix times below these sizes are in seconds, milliseconds, microseconds (else nanoseconds).
# Each unit's range covers the years 1973 to 5138, so for any date since 1973 the size of the
# number tells its unit: 1.7e9 is November 2023 in seconds, 1.7e12 the same in milliseconds.
_UNIX_TIME_UNITS = ((1e11, 1_000_000), (1e14, 1_000), (1e17, 1))


def _unix_time(expression: pl.Expr, *, strict: bool) -> pl.Expr:
    """A number column holding Unix times (UTC by definition, whatever the mapping's zone) as
    UTC datetimes, each value's unit told by its size (`_UNIX_TIME_UNITS`): platforms store
    seconds (PHP's time()), milliseconds (JavaScript's Date.now()) or finer, and a whole
    number read as microseconds regardless put every order of a shop in January 1970.
    Computed in Float64, exact to the microsecond until the year 2255."""
    value = expression.cast(pl.Float64)
    magnitude = value.abs()
    (first_bound, first_factor), *others = _UNIX_TIME_UNITS
    by_size: Then | ChainedThen = pl.when(magnitude < first_bound).then(value * first_factor)
    for bound, factor in others:
        by_size = by_size.when(magnitude < bound).then(value * factor)
    micros = by_size.otherwise(value / 1_000)
    return micros.round().cast(pl.Int64, strict=strict).cast(UTC_DATETIME)


def _cast(column: str, current: pl.DataType, target: DType, zone: str = "UTC", *, strict: bool = True) -> pl.Expr:
    """`column` as `target`; with `strict` False a value that does not convert is empty."""
    expression = pl.col(column)
    if target == UTC_DATETIME:
        if current == pl.String:
            return expression.str.to_datetime(time_unit="us", time_zone=zone, strict=strict).dt.convert_time_zone("UTC")
        if isinstance(current, pl.Datetime) and current.time_zone is not None:
            return expression.dt.convert_time_zone("UTC").dt.cast_time_unit("us")
        if current.is_numeric():
            return _unix_time(expression, strict=strict)
        if current == pl.Date:
            expression = expression.cast(pl.Datetime("us"))
        elif isinstance(current, pl.Datetime):
            expression = expression.dt.cast_time_unit("us")
        else:
            return expression.cast(target, strict=strict)
        # a local time that a clock change repeats is read as the first of the two
        skipped: Literal["raise", "null"] = "raise" if strict else "null"
        return expression.dt.replace_time_zone(zone, ambiguous="earliest", non_existent=skipped).dt.convert_time_zone("UTC")
    elif target == pl.Date and current == pl.String:
        return expression.str.to_date(strict=strict)
    elif target == pl.Date and isinstance(current, pl.Datetime):
        return expression.dt.date()
    elif target == pl.Categorical and current != pl.String:
        # a label stored as a code (a gender 1 or 2, a level id) is the code's text
        return expression.cast(pl.String).cast(target)
    if current.is_float() and target.is_integer():
        # a fraction is no whole number: conform refuses it before a strict cast
        expression = pl.when(expression == expression.floor()).then(expression)
    return expression.cast(target, strict=strict)
