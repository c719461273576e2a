"""Explore, one level down: which pivots a source can answer, and the rows behind one cell
of a pivot (the orders, order items, refunds, sessions or new users it counts).

A cell of `metrics.explore.pivot` aggregates the rows of one fact whose dimension values
are the cell's; `cell_rows` lists exactly those rows, built the same way, so that the
measure over them is the cell's value (for orders: their count; GMV: the sum of their
amount, or of quantity x unit_price when split by category; buyers: their distinct users).
"""

from collections.abc import Mapping
from datetime import date

import polars as pl

from metrics.explore import (
    _FACTS,
    DIMENSIONS,
    MEASURES,
    PivotError,
    _check_available,
    _choose,
    _plan,
    _resolve,
    _with_dimension,
)
from metrics.time import utc_bounds


def _needs(fact: str, dimensions) -> list[tuple[str, str, str]]:
    return [(dimension.name, table, column) for dimension in dimensions for table, column in dimension.lookups[fact].needs()]


def available_measures(frames: Mapping[str, pl.DataFrame | None]) -> list[str]:
    """The MEASURES whose rows the source has (orders need `orders`, units `order_items`,
    sessions `events`, new users `users`), in MEASURES order."""
    tables = _resolve(frames)
    return [name for name, measure in MEASURES.items() if all(table in tables for table in _FACTS[measure.fact].tables)]


def available_dimensions(frames: Mapping[str, pl.DataFrame | None], measure: str) -> list[str]:
    """The DIMENSIONS that split `measure` on this source: the pair means something (sessions
    have no category) and the tables and columns the split reads are present. In DIMENSIONS
    order; a pivot by any one of them (or two of them) does not raise `PivotError`."""
    chosen = _choose(measure, MEASURES, "measure")
    tables = _resolve(frames)
    usable = []
    for name, dimension in DIMENSIONS.items():
        try:
            fact, _ = _plan(chosen, [dimension])
            _check_available(tables, fact, _needs(fact, [dimension]))
        except PivotError:
            continue
        usable.append(name)
    return usable


def cell_rows(
    frames: Mapping[str, pl.DataFrame | None],
    *,
    measure: str,
    rows: str,
    columns: str | None = None,
    values: tuple[str, ...],
    start: date,
    end: date,
    tz: str,
) -> pl.DataFrame:
    """The rows of the pivot cell whose dimension values are `values` (the `rows` value, then
    the `columns` value when given), for `measure` over business days `start`..`end`.

    The rows are those of the fact `metrics.explore.pivot` counts for the cell: valid orders
    by `created_at`, their order items (when a dimension is only known per item, like
    category), refunds by `refunded_at`, sessions by their first event, or users by
    `signup_at` (SPEC section 3). Columns: the dimensions (labelled as in the pivot, with
    "(unknown)" and "(no campaign)"), then the fact's own columns; times in zone `tz`.
    Sorted by the fact's time. Raises `PivotError` as `pivot` does, and when `values` do not
    match the dimensions.
    """
    chosen = _choose(measure, MEASURES, "measure")
    names = [rows] if columns is None else [rows, columns]
    if len(values) != len(names):
        raise PivotError(f"a cell of a pivot by {' and '.join(names)} has {len(names)} value(s), got {len(values)}")
    dimensions = [_choose(name, DIMENSIONS, "dimension") for name in names]
    fact_name, _ = _plan(chosen, dimensions)
    tables = _resolve(frames)
    _check_available(tables, fact_name, _needs(fact_name, dimensions))
    fact = _FACTS[fact_name].rows(tables, *utc_bounds(start, end, tz))
    for dimension in dimensions:
        fact = _with_dimension(fact, dimension, dimension.lookups[fact_name], tables)
    cell = fact.filter(*[pl.col(name) == value for name, value in zip(names, values)])
    time_column = next(name for name in ("refund_time", "created_at", "started_at", "signup_at") if name in cell.columns)
    zoned = [name for name, dtype in cell.schema.items() if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None]
    return (
        cell.sort(time_column, maintain_order=True)
        .with_columns(pl.col(zoned).dt.convert_time_zone(tz))
        .select(*names, pl.exclude(names))
    )
