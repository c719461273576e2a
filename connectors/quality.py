"""Data-quality report: what in a source's canonical tables the views would misread, counted,
each with how to fix it in the mapping (connectors/mapping.py). Pure: frames in, a frame out.
"""

from datetime import datetime

import polars as pl

from connectors.schema import EVENT_TYPES, ORDER_STATUSES, TABLES, TICKET_CATEGORIES, UTC_DATETIME

REPORT_SCHEMA = {"table": pl.String, "check": pl.String, "column": pl.String, "count": pl.Int64, "fix": pl.String}
ID_COLUMNS = {
    "users": "user_id",
    "orders": "order_id",
    "products": "product_id",
    "campaigns": "campaign_id",
    "reviews": "review_id",
    "tickets": "ticket_id",
}
MONEY_COLUMNS = {
    "orders": ("amount", "discount", "refund_amount"),
    "order_items": ("unit_price", "quantity"),
    "products": ("price", "cost"),
    "campaigns": ("budget",),
    "ad_spend": ("spend",),
}
KNOWN_VALUES = {
    ("orders", "status"): ORDER_STATUSES,
    ("events", "event_type"): EVENT_TYPES,
    ("tickets", "category"): TICKET_CATEGORIES,
}
EXAMPLES = 5
# A text timestamp carries a zone when it ends in Z or an offset like +08:00 / -0500.
_ZONED_TEXT = r"(Z|[+-]\d{2}:?\d{2})$"


def quality_report(
    tables: dict[str, pl.DataFrame],
    *,
    now: datetime,
    raw: dict[str, pl.DataFrame] | None = None,
    zone: str = "UTC",
) -> pl.DataFrame:
    """One row per problem found, with its count and its fix; no rows when all is well.

    `tables` are canonical tables (conformed: times are UTC), `raw` the same tables as the
    mapping gives them before conforming (for times stored without a zone, read in `zone`),
    `now` an aware datetime. Checks: missing required columns, nulls in required columns,
    duplicate ids, order items without an order, timestamps in the future, timestamps
    without a zone, negative amounts, unknown order statuses, event types and ticket
    categories (SPEC section 2).
    """
    findings: list[dict] = []
    for name, frame in tables.items():
        findings += _missing_and_null(name, frame)
        findings += _duplicates(name, frame)
        findings += _future(name, frame, now)
        findings += _negative(name, frame)
        findings += _unknown_values(name, frame)
    findings += _orphan_items(tables)
    for name, frame in (raw or {}).items():
        findings += _zoneless(name, frame, zone)
    return pl.DataFrame(findings, schema=REPORT_SCHEMA)


def _finding(table: str, check: str, column: str, count: int, fix: str) -> dict:
    return {"table": table, "check": check, "column": column, "count": count, "fix": fix}


def _missing_and_null(name: str, frame: pl.DataFrame) -> list[dict]:
    findings = []
    for column in TABLES[name].required:
        if column not in frame.columns:
            findings.append(_finding(
                name, "missing required column", column, 1,
                f"map {column} in [tables.{name}.columns] to a platform column or an expression.",
            ))
            continue
        nulls = frame[column].null_count()
        if nulls:
            findings.append(_finding(
                name, "nulls in a required column", column, nulls,
                f"{column} must always be set: map it to a column that is never empty, "
                f"or give a fallback with {{ coalesce = [\"{column}\", ...] }}.",
            ))
    return findings


def _duplicates(name: str, frame: pl.DataFrame) -> list[dict]:
    column = ID_COLUMNS.get(name)
    if column is None or column not in frame.columns:
        return []
    ids = frame[column].drop_nulls()
    duplicates = ids.len() - ids.n_unique()
    if not duplicates:
        return []
    return [_finding(
        name, "duplicate ids", column, duplicates,
        f"{column} must be unique (rows beyond the first of an id are counted): map it to the "
        "platform's primary key, or keep one row per id with `where` or a GROUP BY query.",
    )]


def _future(name: str, frame: pl.DataFrame, now: datetime) -> list[dict]:
    findings = []
    for column, dtype in frame.schema.items():
        if dtype == UTC_DATETIME:
            count = frame.select((pl.col(column) > now).sum()).item()
            if count:
                findings.append(_finding(
                    name, "timestamps in the future", column, count,
                    "times are read as UTC unless the mapping's time_zone names their zone: set "
                    "time_zone = \"Area/City\" if they are local times, else check the platform's clock.",
                ))
    return findings


def _negative(name: str, frame: pl.DataFrame) -> list[dict]:
    findings = []
    for column in MONEY_COLUMNS.get(name, ()):
        if column in frame.columns:
            count = frame.select((pl.col(column) < 0).sum()).item()
            if count:
                findings.append(_finding(
                    name, "negative amounts", column, count,
                    f"{column} is counted as a positive amount: map it with {{ negate = \"...\" }} "
                    "when the platform stores it as a negative number.",
                ))
    return findings


def _unknown_values(name: str, frame: pl.DataFrame) -> list[dict]:
    findings = []
    for (table, column), known in KNOWN_VALUES.items():
        if table != name or column not in frame.columns:
            continue
        counts = (
            frame.select(pl.col(column).cast(pl.String))
            .filter(pl.col(column).is_not_null() & ~pl.col(column).is_in(known))
            .group_by(column)
            .len()
            .sort(["len", column], descending=[True, False])
        )
        if counts.height:
            examples = ", ".join(f"'{value}' ({count:,})" for value, count in counts.head(EXAMPLES).iter_rows())
            findings.append(_finding(
                name, f"unknown {column.replace('_', ' ')}", column, int(counts["len"].sum()),
                f"map them in [tables.{name}.values.{column}] to one of {', '.join(known)}: {examples}.",
            ))
    return findings


def _orphan_items(tables: dict[str, pl.DataFrame]) -> list[dict]:
    items, orders = tables.get("order_items"), tables.get("orders")
    if items is None or orders is None or "order_id" not in items.columns or "order_id" not in orders.columns:
        return []
    known = orders["order_id"].drop_nulls()
    if known.dtype != items["order_id"].dtype:
        known = known.cast(pl.String)
        orphans = items.filter(~pl.col("order_id").cast(pl.String).is_in(known.implode())).height
    else:
        orphans = items.filter(~pl.col("order_id").is_in(known.implode())).height
    if not orphans:
        return []
    return [_finding(
        "order_items", "order items without an order", "order_id", orphans,
        "map order_items.order_id and orders.order_id to the same platform key, and keep the "
        "orders' `where` from dropping orders that have items.",
    )]


def _zoneless(name: str, frame: pl.DataFrame, zone: str) -> list[dict]:
    findings = []
    for column, target in TABLES[name].columns.items():
        if target != UTC_DATETIME or column not in frame.columns:
            continue
        dtype = frame.schema[column]
        if isinstance(dtype, pl.Datetime):
            count = frame[column].drop_nulls().len() if dtype.time_zone is None else 0
        elif dtype == pl.String:
            count = frame.select((pl.col(column).is_not_null() & ~pl.col(column).str.contains(_ZONED_TEXT)).sum()).item()
        else:
            count = 0
        if count:
            findings.append(_finding(
                name, "timestamps without a zone", column, count,
                f"read as {zone} time: if that is not their zone, set time_zone = \"Area/City\" "
                "at the top of the mapping.",
            ))
    return findings
