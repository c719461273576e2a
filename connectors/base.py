"""What every source hands out: canonical tables (SPEC section 2) as Polars frames."""

from typing import Protocol

import polars as pl

from connectors.schema import TABLES, UTC_DATETIME


class SourceError(Exception):
    """A source cannot be read as the canonical model; the message says what to fix."""


class Source(Protocol):
    """A shop's data, read-only, as canonical tables."""

    @property
    def description(self) -> str:
        """Where the data comes from, safe to show: never a password."""

    def table_names(self) -> set[str]:
        """The canonical tables this source has."""

    def read_table(self, name: str) -> pl.DataFrame:
        """The canonical table `name`, conformed by `conform`."""


def conform(name: str, frame: pl.DataFrame, origin: str) -> pl.DataFrame:
    """Keep the canonical columns of table `name` and give them their canonical dtypes.

    Raises SourceError naming the missing required columns, or the column whose values
    cannot be read as its canonical type. Text timestamps are parsed; zoneless ones are UTC.
    """
    table = TABLES[name]
    missing = [column for column in table.required if column not in frame.columns]
    if missing:
        raise SourceError(
            f"{origin}: table '{name}' lacks the required column(s) {', '.join(missing)}; "
            f"it has {', '.join(frame.columns) or 'no columns'}."
        )
    present = [column for column in table.columns if column in frame.columns]
    frame = frame.select(present)
    conversions = [
        _cast(column, frame.schema[column], dtype)
        for column, dtype in table.columns.items()
        if column in frame.columns and dtype is not None and frame.schema[column] != dtype
    ]
    try:
        return frame.with_columns(conversions)
    except pl.exceptions.PolarsError as error:
        raise SourceError(
            f"{origin}: table '{name}' has values that do not fit the canonical model "
            f"({str(error).splitlines()[0]})."
        ) from None


def _cast(column: str, current: pl.DataType, target: pl.DataType) -> pl.Expr:
    expression = pl.col(column)
    if target == UTC_DATETIME:
        if current == pl.String:
            expression = expression.str.to_datetime(time_unit="us", time_zone="UTC")
        elif isinstance(current, pl.Datetime) and current.time_zone is not None:
            return expression.dt.convert_time_zone("UTC").dt.cast_time_unit("us")
        elif isinstance(current, pl.Datetime):
            return expression.dt.cast_time_unit("us").dt.replace_time_zone("UTC")
        elif current == pl.Date:
            return expression.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    elif target == pl.Date and current == pl.String:
        return expression.str.to_date()
    elif target == pl.Date and isinstance(current, pl.Datetime):
        return expression.dt.date()
    return expression.cast(target, strict=True)
