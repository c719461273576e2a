"""Explore: an additive measure pivoted by one or two dimensions over a period.

The measures and dimensions are declared as data below (STYLE 2): a measure says which rows
it is counted over (its fact) and how they are aggregated; a dimension says, for each fact,
where its value is read. A pivot asks for a measure and one or two dimensions; a pair that
means nothing (sessions by category) or needs data the source lacks (region without
users.region) is refused with a `PivotError` whose message says why, for the page to show.

Facts, each for business days start..end in zone `tz` (SPEC section 3):
- orders: valid orders (paid, shipped, completed, refunded) by `created_at`.
- items: the `order_items` of those orders, each carrying its order's columns.
- refunds: refunded valid orders by `refunded_at` (else `created_at`), as `refund_lines`.
- sessions: sessions by their first event (derived from `events` when not given).
- signups: users by `signup_at`.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime

import polars as pl

from metrics.orders import attribute_orders, is_valid_order, refund_lines
from metrics.registry import KPIS
from metrics.sessions import derive_sessions
from metrics.time import as_utc, between, utc_bounds

VALUE = "value"
UNKNOWN = "(unknown)"
NO_CAMPAIGN = "(no campaign)"
ORDER_FACTS = ("orders", "items", "refunds")


class PivotError(ValueError):
    """A pivot that cannot be computed: an unknown name, a split that means nothing, or data
    the source does not have. The message is written for the person who asked."""


@dataclass(frozen=True)
class Measure:
    """A measure counted over the rows of one fact.

    `value_over_items` is the same measure over order items, used when a dimension is only
    known per item (category); None means the measure cannot be split that way. `additive`
    says whether the cells of a split add up to the total: distinct counts do not.
    """

    name: str
    label: str
    fact: str
    value: pl.Expr
    dtype: pl.DataType | type[pl.DataType]
    additive: bool
    value_over_items: pl.Expr | None = None


@dataclass(frozen=True)
class Lookup:
    """Where a dimension's value is read for one fact: `table`.`column`, either on the fact's
    own rows (`key` None) or joined on `key`, which the fact takes from `key_table`."""

    table: str
    column: str
    key: str | None = None
    key_table: str | None = None

    def needs(self) -> list[tuple[str, str]]:
        """The (table, column) pairs this lookup reads."""
        own_key = [(self.key_table, self.key)] if self.key_table is not None and self.key is not None else []
        return [*own_key, (self.table, self.column)]


@dataclass(frozen=True)
class Dimension:
    """A way to split a measure; `lookups` maps each fact it applies to onto its source.
    A row whose join key is null is labelled `no_key_label`; any other missing value, UNKNOWN."""

    name: str
    label: str
    description: str
    lookups: dict[str, Lookup]
    no_key_label: str = UNKNOWN


_ITEM_REVENUE = pl.col("quantity") * pl.col("unit_price")

MEASURES: dict[str, Measure] = {
    measure.name: measure
    for measure in (
        Measure("orders", KPIS["orders"].label, "orders", pl.len(), pl.Int64, additive=True,
                value_over_items=pl.col("order_id").n_unique()),
        Measure("gmv", KPIS["gmv"].label, "orders", pl.col("amount").sum(), pl.Float64, additive=True,
                value_over_items=_ITEM_REVENUE.sum()),
        Measure("units", "Units", "items", pl.col("quantity").sum(), pl.Int64, additive=True,
                value_over_items=pl.col("quantity").sum()),
        Measure("buyers", KPIS["buyers"].label, "orders", pl.col("user_id").n_unique(), pl.Int64,
                additive=False, value_over_items=pl.col("user_id").n_unique()),
        Measure("refunds", KPIS["refunds"].label, "refunds", pl.col("refund").sum(), pl.Float64,
                additive=True),
        Measure("sessions", KPIS["sessions"].label, "sessions", pl.len(), pl.Int64, additive=True),
        Measure("new_users", KPIS["new_users"].label, "signups", pl.len(), pl.Int64, additive=True),
    )
}

_ORDER_CHANNEL = Lookup("orders", "channel")
_USER_DEVICE = Lookup("users", "device", key="user_id")


def _user_attribute(column: str) -> dict[str, Lookup]:
    joined = Lookup("users", column, key="user_id")
    return {**dict.fromkeys((*ORDER_FACTS, "sessions"), joined), "signups": Lookup("users", column)}


DIMENSIONS: dict[str, Dimension] = {
    dimension.name: dimension
    for dimension in (
        Dimension(
            "channel", "Channel",
            "an order's own channel, else its user's acquisition channel; a session's first "
            "event's channel; a new user's acquisition channel",
            {**dict.fromkeys(ORDER_FACTS, _ORDER_CHANNEL), "sessions": Lookup("sessions", "channel"),
             "signups": Lookup("users", "channel")},
        ),
        Dimension(
            "device", "Device",
            "an order's user's device; a session's first event's device; a new user's device",
            {**dict.fromkeys(ORDER_FACTS, _USER_DEVICE), "sessions": Lookup("sessions", "device"),
             "signups": Lookup("users", "device")},
        ),
        Dimension("region", "Region", "the user's region (as the users table has it now)",
                  _user_attribute("region")),
        Dimension("member_level", "Member level",
                  "the user's member level (as the users table has it now)",
                  _user_attribute("member_level")),
        Dimension(
            "category", "Category",
            "the category of each ordered product: orders and buyers count once in every "
            "category they bought from, and GMV is quantity x unit_price of the items, before "
            "order-level discounts, so neither adds up to the order totals",
            {"items": Lookup("products", "category", key="product_id")},
        ),
        Dimension(
            "campaign", "Campaign", "the name of the order's campaign",
            dict.fromkeys(
                ORDER_FACTS, Lookup("campaigns", "name", key="campaign_id", key_table="orders")
            ),
            no_key_label=NO_CAMPAIGN,
        ),
    )
}


def _orders_fact(tables: dict[str, pl.DataFrame], lower: datetime, upper: datetime) -> pl.DataFrame:
    return between(tables["orders"].filter(is_valid_order()), "created_at", lower, upper)


def _items_fact(tables: dict[str, pl.DataFrame], lower: datetime, upper: datetime) -> pl.DataFrame:
    return tables["order_items"].join(_orders_fact(tables, lower, upper), on="order_id", how="inner")


def _refunds_fact(tables: dict[str, pl.DataFrame], lower: datetime, upper: datetime) -> pl.DataFrame:
    return between(refund_lines(tables["orders"]), "refund_time", lower, upper)


def _sessions_fact(tables: dict[str, pl.DataFrame], lower: datetime, upper: datetime) -> pl.DataFrame:
    return between(tables["sessions"], "started_at", lower, upper)


def _signups_fact(tables: dict[str, pl.DataFrame], lower: datetime, upper: datetime) -> pl.DataFrame:
    return between(tables["users"], "signup_at", lower, upper)


@dataclass(frozen=True)
class _Fact:
    tables: tuple[str, ...]
    rows: Callable[[dict[str, pl.DataFrame], datetime, datetime], pl.DataFrame]


_FACTS: dict[str, _Fact] = {
    "orders": _Fact(("orders",), _orders_fact),
    "items": _Fact(("orders", "order_items"), _items_fact),
    "refunds": _Fact(("orders",), _refunds_fact),
    "sessions": _Fact(("sessions",), _sessions_fact),
    "signups": _Fact(("users",), _signups_fact),
}
# A source has no sessions table of its own: they are derived from its events.
_SOURCE_TABLE = {"sessions": "events"}


def _resolve(frames: Mapping[str, pl.DataFrame | None]) -> dict[str, pl.DataFrame]:
    """The frames that are present, with UTC times, attributed orders and sessions."""
    tables = {name: frame for name, frame in frames.items() if frame is not None}
    if "sessions" not in tables and "events" in tables:
        tables["sessions"] = derive_sessions(tables["events"])[1]
    if "orders" in tables and "users" in tables:
        # Idempotent on orders that `loading` already attributed; needed for raw ones.
        tables["orders"] = attribute_orders(tables["orders"], tables["users"])
    time_columns = {"orders": ("created_at", "refunded_at"), "sessions": ("started_at",),
                    "users": ("signup_at",)}
    for name, columns in time_columns.items():
        if name in tables:
            tables[name] = as_utc(tables[name], *columns)
    return tables


def _choose(name: str, known: Mapping, what: str):
    if name not in known:
        raise PivotError(f"unknown {what} '{name}'; choose one of: {', '.join(known)}")
    return known[name]


def _splits(measure: Measure, dimension: Dimension) -> bool:
    return measure.fact in dimension.lookups or (
        measure.value_over_items is not None and "items" in dimension.lookups
    )


def _plan(measure: Measure, dimensions: list[Dimension]) -> tuple[str, pl.Expr]:
    """The fact to count over and the aggregation: the measure's own fact, or its items when
    a dimension is only known per item."""
    for dimension in dimensions:
        if not _splits(measure, dimension):
            splittable = [name for name, other in MEASURES.items() if _splits(other, dimension)]
            raise PivotError(
                f"{measure.name} cannot be split by {dimension.name}; "
                f"{dimension.name} splits {', '.join(splittable)}"
            )
    if all(measure.fact in dimension.lookups for dimension in dimensions):
        return measure.fact, measure.value
    if measure.value_over_items is None:  # _splits let a dimension without the fact through only by items
        raise PivotError(f"{measure.name} cannot be counted over order items")
    return "items", measure.value_over_items


def _check_available(
    tables: dict[str, pl.DataFrame], fact: str, needs: list[tuple[str, str, str]]
) -> None:
    """Raise when a table the fact needs, or a column a dimension reads, is absent."""
    for table in _FACTS[fact].tables:
        if table not in tables:
            source_table = _SOURCE_TABLE.get(table, table)
            raise PivotError(
                f"this view needs the {source_table} table, which this source does not have; "
                "map it in the data-source settings"
            )
    for dimension, table, column in needs:
        if table not in tables or column not in tables[table].columns:
            raise PivotError(
                f"{dimension} needs {table}.{column}, which this source does not have; "
                "map it in the data-source settings"
            )


def _with_dimension(fact: pl.DataFrame, dimension: Dimension, lookup: Lookup,
                    tables: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """`fact` with a String column named after the dimension, nulls labelled."""
    if lookup.key is None:
        value = pl.col(lookup.column).cast(pl.String).fill_null(UNKNOWN)
        return fact.with_columns(value.alias(dimension.name))
    values = tables[lookup.table].select(lookup.key, pl.col(lookup.column).alias(dimension.name))
    joined = fact.drop(dimension.name, strict=False).join(values, on=lookup.key, how="left")
    label = (
        pl.when(pl.col(lookup.key).is_null())
        .then(pl.lit(dimension.no_key_label))
        .otherwise(pl.col(dimension.name).cast(pl.String).fill_null(UNKNOWN))
    )
    return joined.with_columns(label.alias(dimension.name))


def pivot(
    frames: Mapping[str, pl.DataFrame | None],
    *,
    measure: str,
    rows: str,
    columns: str | None = None,
    start: date,
    end: date,
    tz: str,
) -> pl.DataFrame:
    """`measure` over business days `start`..`end` (zone `tz`), split by `rows` and, when
    given, `columns`: the long form, one row per cell.

    `frames` maps canonical table names (orders, order_items, products, campaigns, users,
    events) and "sessions" (as `loading` derives them) onto frames; absent or None ones are
    missing. Measures are MEASURES (orders, GMV, buyers and refunds as SPEC section 3 defines
    them; units = quantity of ordered items; sessions; new users) and dimensions DIMENSIONS.
    Buyers are distinct per cell, so cells do not add up to the period's buyers. Every pair
    of a row value and a column value seen in the period is present, 0 where it has no data.

    Columns: `rows`, `columns` (when given), `value`; dimension values are strings, missing
    ones "(unknown)" (campaign: "(no campaign)" for orders outside campaigns). Sorted by the
    dimension values. Raises `PivotError` for an unknown name, a measure a dimension cannot
    split, or a table or column the source lacks.
    """
    chosen = _choose(measure, MEASURES, "measure")
    names = [rows] if columns is None else [rows, columns]
    if columns == rows:
        raise PivotError(f"rows and columns are both {rows}; choose two different dimensions")
    dimensions = [_choose(name, DIMENSIONS, "dimension") for name in names]
    fact_name, value = _plan(chosen, dimensions)
    tables = _resolve(frames)
    needs = [
        (dimension.name, table, column)
        for dimension in dimensions
        for table, column in dimension.lookups[fact_name].needs()
    ]
    _check_available(tables, fact_name, needs)

    fact = _FACTS[fact_name].rows(tables, *utc_bounds(start, end, tz))
    for dimension in dimensions:
        fact = _with_dimension(fact, dimension, dimension.lookups[fact_name], tables)
    cells = fact.group_by(names).agg(value.cast(chosen.dtype).alias(VALUE))
    grid = cells.select(names[0]).unique()
    if columns is not None:
        grid = grid.join(cells.select(columns).unique(), how="cross")
    return (
        grid.join(cells, on=names, how="left")
        .with_columns(pl.col(VALUE).fill_null(0).cast(chosen.dtype))
        .sort(names)
    )


def measure_total(
    frames: Mapping[str, pl.DataFrame | None], *, measure: str, start: date, end: date, tz: str
) -> int | float:
    """`measure` over the whole period, unsplit: the total a pivot's cells are compared with
    (for buyers, the distinct buyers of the period, not the sum of the cells)."""
    chosen = _choose(measure, MEASURES, "measure")
    tables = _resolve(frames)
    _check_available(tables, chosen.fact, [])
    fact = _FACTS[chosen.fact].rows(tables, *utc_bounds(start, end, tz))
    return fact.select(chosen.value.cast(chosen.dtype)).item()


def pivot_wide(long: pl.DataFrame) -> pl.DataFrame:
    """A two-dimension pivot from `pivot` with the second dimension's values as columns
    (in sorted order); a one-dimension pivot is returned as it is."""
    if long.width == 2:
        return long
    rows, columns = long.columns[:2]
    return long.pivot(on=columns, index=rows, values=VALUE, sort_columns=True)
