"""Business-day arithmetic shared by every metric (SPEC section 3, conventions)."""

from datetime import date, timedelta

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


def previous_period(start: date, end: date) -> tuple[date, date]:
    """The period of the same length that ends the day before `start`."""
    length = end - start + timedelta(days=1)
    return start - length, end - length
