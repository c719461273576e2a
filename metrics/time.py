"""Business-day arithmetic shared by every metric (SPEC section 3, conventions)."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import polars as pl

DEFAULT_TIME_ZONE = "Asia/Shanghai"


def as_utc(frame: pl.DataFrame, *columns: str) -> pl.DataFrame:
    """Return `frame` with the named datetime columns UTC-aware.

    SPEC: "a timestamp without a zone is UTC"; a zoned one is converted to UTC.
    Columns that are absent are left alone.
    """
    conversions = []
    for column in columns:
        dtype = frame.schema.get(column)
        if not isinstance(dtype, pl.Datetime):
            continue
        if dtype.time_zone is None:
            conversions.append(pl.col(column).dt.replace_time_zone("UTC"))
        elif dtype.time_zone != "UTC":
            conversions.append(pl.col(column).dt.convert_time_zone("UTC"))
    return frame.with_columns(conversions) if conversions else frame


def business_day(column: str, tz: str) -> pl.Expr:
    """The calendar date in the business zone `tz` of a UTC-aware timestamp column."""
    return pl.col(column).dt.convert_time_zone(tz).dt.date()


def calendar(start: date, end: date, name: str = "date") -> pl.DataFrame:
    """Every day from `start` to `end` inclusive, one row each."""
    return pl.DataFrame({name: pl.date_range(start, end, eager=True)})


def day_span(days: pl.Series) -> tuple[date, date]:
    """The first and last day of the Date column `days`; ValueError when it holds none."""
    first, last = days.min(), days.max()
    if not isinstance(first, date) or not isinstance(last, date):
        raise ValueError(f"column '{days.name}' holds no day")
    return first, last


def latest_instant(*times: pl.Series) -> datetime | None:
    """The latest instant in the datetime columns `times`; None when they hold none."""
    latest = [value for value in (column.max() for column in times) if isinstance(value, datetime)]
    return max(latest) if latest else None


def previous_period(start: date, end: date) -> tuple[date, date]:
    """The period of the same length that ends the day before `start`."""
    length = end - start + timedelta(days=1)
    return start - length, end - length


def utc_bounds(start: date, end: date, tz: str) -> tuple[datetime, datetime]:
    """The UTC instants at which business day `start` begins and day `end` ends (exclusive)."""
    zone = ZoneInfo(tz)
    lower = datetime.combine(start, time(), zone).astimezone(UTC)
    upper = datetime.combine(end + timedelta(days=1), time(), zone).astimezone(UTC)
    return lower, upper


def between(frame: pl.DataFrame, column: str, lower: datetime, upper: datetime) -> pl.DataFrame:
    """Rows whose `column` falls in [lower, upper)."""
    return frame.filter(pl.col(column) >= lower, pl.col(column) < upper)


def in_days(frame: pl.DataFrame, column: str, start: date, end: date, tz: str) -> pl.DataFrame:
    """Rows whose UTC-aware `column` falls on business days start..end, with that day as `date`."""
    lower, upper = utc_bounds(start, end, tz)
    return between(frame, column, lower, upper).with_columns(date=business_day(column, tz))
