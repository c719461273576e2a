"""Schema mapping: a platform's own tables, columns and values onto the canonical model.

A mapping is a TOML file (see connectors/presets/ for complete ones):

    name = "My shop"
    time_zone = "UTC"            # zone of timestamps stored without one (default UTC)

    [unavailable]                # what this platform cannot give, said on the page
    events = "The shop keeps no browsing events: no funnel, sessions or paths."

    [tables.orders]
    from = "sales_order"         # a platform table (or a file's name without .csv/.parquet)
    where = { type = "shop_order", state = ["new", "complete"] }

    [tables.orders.columns]      # canonical column = platform column, or an expression
    order_id = "entity_id"
    discount = { negate = "discount_amount" }
    channel = { value = "web" }

    [tables.orders.values.status]  # platform value = canonical value
    complete = "completed"

    [tables.order_items]
    query = "SELECT order_id, product_id, qty_ordered AS quantity, price AS unit_price FROM sales_order_item WHERE parent_item_id IS NULL"

A table is a platform table or one read-only SELECT written by the admin, which is checked
(`check_select`) and wrapped as a subquery. Canonical columns not listed in `columns` are
taken from a platform column of the same name when there is one (`same_names = false` turns
that off). Expressions: `{ column = "c" }`, `{ value = v }`, `{ coalesce = [...] }`,
`{ sum = [...] }`, `{ product = [...] }`, `{ difference = [a, b] }`, `{ ratio = [a, b] }`
(empty when b is 0), `{ negate = a }`, `{ lower = a }`, `{ year = a }`; an operand is a
column name, a number or another expression. Everything is built with SQLAlchemy Core:
platform names must exist in the source and are quoted by SQLAlchemy, values are bound or
rendered by it; nothing from a mapping is pasted into SQL.
"""

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa

from connectors.base import SourceError
from connectors.schema import TABLES

PRESETS = Path(__file__).resolve().parent / "presets"
MAX_IDENTIFIER = 128
_OPERATORS = {
    "coalesce": (2, None),
    "sum": (2, None),
    "product": (2, None),
    "difference": (2, 2),
    "ratio": (2, 2),
    "negate": (1, 1),
    "lower": (1, 1),
    "year": (1, 1),
}
_TOP_KEYS = {"name", "description", "kind", "time_zone", "unavailable", "tables"}
_TABLE_KEYS = {"from", "query", "columns", "values", "where", "same_names"}
# Words that make a statement write, lock or run something else: a mapping's SELECT may not
# contain them outside strings and quoted names (SELECT ... INTO, FOR UPDATE / FOR SHARE,
# WITH x AS (DELETE ...)). The session is read-only besides; this says so before it runs.
_FORBIDDEN_WORDS = {
    "insert", "update", "delete", "merge", "upsert", "into", "create", "drop", "alter",
    "truncate", "grant", "revoke", "call", "copy", "lock", "share", "execute", "exec",
    "attach", "detach", "pragma", "vacuum", "handler", "load",
}


@dataclass(frozen=True)
class MappedTable:
    """How one canonical table is read: a platform table (`source`) or a SELECT (`query`),
    its column expressions, value maps and row filters, as written in the mapping."""

    name: str
    source: str | None = None
    query: str | None = None
    columns: dict[str, Any] = field(default_factory=dict)
    values: dict[str, dict[str, Any]] = field(default_factory=dict)
    where: dict[str, Any] = field(default_factory=dict)
    same_names: bool = True


@dataclass(frozen=True)
class Mapping:
    """A source's mapping onto the canonical model; `unavailable` says what it cannot map."""

    name: str
    tables: dict[str, MappedTable]
    unavailable: dict[str, str] = field(default_factory=dict)
    time_zone: str = "UTC"
    kind: str | None = None
    description: str = ""
    origin: str = "the canonical layout"

    @property
    def is_identity(self) -> bool:
        return self.origin == "the canonical layout"


def identity_mapping() -> Mapping:
    """The canonical layout itself: every canonical table under its own name."""
    return Mapping(name="Canonical tables", tables={name: MappedTable(name, source=name) for name in TABLES})


def preset_names() -> dict[str, str]:
    """The presets shipped in connectors/presets/, by file name: their titles."""
    return {path.stem: load_mapping(path).name for path in sorted(PRESETS.glob("*.toml"))}


def load_preset(name: str) -> Mapping:
    """The preset connectors/presets/<name>.toml."""
    path = PRESETS / f"{name}.toml"
    if not re.fullmatch(r"[a-z0-9_]+", name) or not path.is_file():
        raise SourceError(f"there is no preset {name!r}; the presets are {', '.join(preset_names())}.")
    return load_mapping(path)


def load_mapping(path: str | Path) -> Mapping:
    """The mapping in the TOML file at `path`, checked (`parse_mapping`)."""
    path = Path(path)
    try:
        with path.open("rb") as file:
            data = tomllib.load(file)
    except OSError as error:
        raise SourceError(f"cannot read the mapping {path}: {error.strerror}.") from None
    except tomllib.TOMLDecodeError as error:
        raise SourceError(f"the mapping {path} is not valid TOML: {error}.") from None
    return parse_mapping(data, str(path))


def parse_mapping(data: dict, origin: str) -> Mapping:
    """A mapping from parsed TOML, every key checked; SourceError says what is wrong and where."""
    _no_unknown_keys(data, _TOP_KEYS, origin)
    tables = data.get("tables")
    if not isinstance(tables, dict) or not tables:
        raise SourceError(f"{origin}: a mapping needs at least one [tables.<name>] section.")
    parsed = {name: _parse_table(name, spec, origin) for name, spec in tables.items()}
    zone = data.get("time_zone", "UTC")
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise SourceError(f"{origin}: time_zone {zone!r} is not a time zone name like 'UTC' or 'Asia/Shanghai'.") from None
    unavailable = data.get("unavailable", {})
    if not isinstance(unavailable, dict) or not all(isinstance(v, str) for v in unavailable.values()):
        raise SourceError(f"{origin}: [unavailable] holds text, like events = \"why there are none\".")
    kind = data.get("kind")
    if kind not in (None, "sql", "files"):
        raise SourceError(f"{origin}: kind is 'sql' (a database) or 'files' (a folder), not {kind!r}.")
    return Mapping(
        name=str(data.get("name", Path(origin).stem)),
        tables=parsed,
        unavailable=dict(unavailable),
        time_zone=zone,
        kind=kind,
        description=str(data.get("description", "")),
        origin=origin,
    )


def _parse_table(name: str, spec: Any, origin: str) -> MappedTable:
    where = f"{origin}: [tables.{name}]"
    if name not in TABLES:
        raise SourceError(f"{where}: '{name}' is not a canonical table; use one of {', '.join(TABLES)}.")
    if not isinstance(spec, dict):
        raise SourceError(f"{where} must be a table with `from` or `query`.")
    _no_unknown_keys(spec, _TABLE_KEYS, where)
    if ("from" in spec) == ("query" in spec):
        raise SourceError(f"{where} needs exactly one of `from` (a platform table) or `query` (a SELECT).")
    columns = spec.get("columns", {})
    values = spec.get("values", {})
    filters = spec.get("where", {})
    for label, section in (("columns", columns), ("values", values), ("where", filters)):
        if not isinstance(section, dict):
            raise SourceError(f"{where}.{label} must be a table of names.")
    for column, expression in columns.items():
        _check_canonical_column(name, column, f"{where}.columns")
        _check_expression(expression, f"{where}.columns.{column}")
    for column, value_map in values.items():
        _check_canonical_column(name, column, f"{where}.values")
        if not isinstance(value_map, dict) or not all(isinstance(v, str | int | float) for v in value_map.values()):
            raise SourceError(f"{where}.values.{column} maps platform values to canonical ones, like complete = \"completed\".")
    for column, value in filters.items():
        check_identifier(column, f"{where}.where")
        values_given = value if isinstance(value, list) else [value]
        if not values_given or not all(isinstance(v, str | int | float | bool) for v in values_given):
            raise SourceError(f"{where}.where.{column} must be a value or a list of values.")
    same_names = spec.get("same_names", True)
    if not isinstance(same_names, bool):
        raise SourceError(f"{where}.same_names is true or false.")
    source = spec.get("from")
    query = spec.get("query")
    if source is not None:
        check_identifier(source, f"{where}.from")
    else:
        if filters:
            raise SourceError(f"{where}: put the row filters of a query in its WHERE, not in `where`.")
        query = check_select(query, f"{where}.query")
    return MappedTable(name, source, query, dict(columns), {k: dict(v) for k, v in values.items()}, dict(filters), same_names)


def _no_unknown_keys(section: dict, allowed: set[str], where: str) -> None:
    unknown = sorted(set(section) - allowed)
    if unknown:
        raise SourceError(f"{where}: unknown key(s) {', '.join(unknown)}; the keys are {', '.join(sorted(allowed))}.")


def _check_canonical_column(table: str, column: str, where: str) -> None:
    if column not in TABLES[table].columns:
        raise SourceError(
            f"{where}: '{column}' is not a canonical column of {table}; they are {', '.join(TABLES[table].columns)}."
        )


def check_identifier(name: Any, where: str) -> str:
    """A platform table or column name: text of at most MAX_IDENTIFIER printable characters.

    Any other character is allowed: SQLAlchemy quotes the name, and it must exist in the
    source, so a name like `x"; DROP TABLE y` is only ever a name that is not there.
    """
    if not isinstance(name, str) or not name or len(name) > MAX_IDENTIFIER or not name.isprintable():
        raise SourceError(
            f"{where}: {name!r} is not a table or column name (text of 1 to {MAX_IDENTIFIER} printable characters)."
        )
    return name


def _check_expression(expression: Any, where: str) -> None:
    if isinstance(expression, str):
        check_identifier(expression, where)
        return
    if not isinstance(expression, dict) or len(expression) != 1:
        raise SourceError(
            f"{where}: write a platform column name, or one of {{ column = ... }}, {{ value = ... }}, "
            f"{', '.join(f'{{ {op} = ... }}' for op in _OPERATORS)}."
        )
    (operator, operand), = expression.items()
    if operator == "column":
        check_identifier(operand, where)
    elif operator == "value":
        if not isinstance(operand, str | int | float | bool):
            raise SourceError(f"{where}: a value is text, a number or true/false.")
    elif operator in _OPERATORS:
        least, most = _OPERATORS[operator]
        operands = operand if isinstance(operand, list) else [operand]
        if len(operands) < least or (most is not None and len(operands) > most):
            count = f"{least}" if least == most else f"at least {least}"
            raise SourceError(f"{where}: {operator} takes {count} operand(s).")
        for item in operands:
            if not isinstance(item, int | float) or isinstance(item, bool):
                _check_expression(item, where)
    else:
        raise SourceError(f"{where}: unknown expression '{operator}'; use column, value, {', '.join(_OPERATORS)}.")


def check_select(sql: Any, where: str) -> str:
    """`sql` if it is one SELECT (or WITH ... SELECT) statement, without a trailing `;`.

    Comments, strings and quoted names are set aside first, read both with and without
    backslash escapes (MySQL and standard SQL disagree); the code left must be a single
    statement starting with SELECT or WITH and free of _FORBIDDEN_WORDS. Dollar-quoted
    strings are refused, since they could hide code from this reading.
    """
    if not isinstance(sql, str) or not sql.strip():
        raise SourceError(f"{where}: write one SELECT statement.")
    statement = sql.strip().rstrip(";").strip()
    for backslash_escapes in (True, False):
        code = _code_outside_quotes(statement, backslash_escapes, where)
        if "$" in code:
            raise SourceError(f"{where}: `$` (dollar quoting or parameters) is not allowed; use '...' strings.")
        if ";" in code:
            raise SourceError(f"{where}: write one SELECT statement, without `;` between statements.")
        words = [word.lower() for word in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", code)]
        if not words or words[0] not in ("select", "with"):
            raise SourceError(f"{where}: the query must start with SELECT (or WITH ... SELECT).")
        forbidden = sorted(set(words) & _FORBIDDEN_WORDS)
        if forbidden:
            raise SourceError(
                f"{where}: a mapping only reads; the query may not use {', '.join(w.upper() for w in forbidden)}."
            )
    return statement


def _code_outside_quotes(sql: str, backslash_escapes: bool, where: str) -> str:
    """`sql` with comments, strings and quoted names replaced by a space."""
    code, index = [], 0
    closers = {"'": "'", '"': '"', "`": "`", "[": "]"}
    while index < len(sql):
        char = sql[index]
        if sql.startswith("--", index):
            end = sql.find("\n", index)
            index = len(sql) if end < 0 else end
            code.append(" ")
        elif sql.startswith("/*", index):
            end = sql.find("*/", index + 2)
            if end < 0:
                raise SourceError(f"{where}: a /* comment is not closed.")
            index = end + 2
            code.append(" ")
        elif char in closers:
            closer = closers[char]
            index += 1
            while True:
                if index >= len(sql):
                    raise SourceError(f"{where}: a {char}...{closer} is not closed.")
                if backslash_escapes and sql[index] == "\\" and char in "'\"":
                    index += 2
                elif sql[index] == closer and sql.startswith(closer * 2, index) and closer != "]":
                    index += 2
                elif sql[index] == closer:
                    index += 1
                    break
                else:
                    index += 1
            code.append(" ")
        else:
            code.append(char)
            index += 1
    return "".join(code)


def text_subquery(sql: str, names: list[str], alias: str) -> sa.Subquery:
    """The checked SELECT `sql` as a subquery named `alias` with result columns `names`.

    Colons are escaped so that SQLAlchemy takes none of the admin's text for a parameter; a
    line break ends a trailing `--` comment before the subquery closes.
    """
    text = sa.text(sql.replace(":", "\\:") + "\n").columns(*[sa.column(name) for name in names])
    return text.subquery(alias)


def probe_query(sql: str) -> sa.Select:
    """A SELECT of no rows over the checked `sql`: its result names its columns."""
    return sa.select(sa.literal_column("*")).select_from(text_subquery(sql, [], "probe")).where(sa.false())


def canonical_select(table: MappedTable, base: sa.FromClause, wanted: list[str], origin: str):
    """The SELECT of table `table`'s canonical columns in `wanted` that the mapping provides,
    over `base` (the platform table or the wrapped query), and every provided column's
    expression by canonical name (for filters on columns not selected).

    Names the mapping uses must be columns of `base`: SourceError lists those it has.
    """
    expressions = {}
    for column in TABLES[table.name].columns:
        if column in table.columns:
            expression = _expression(table.columns[column], base, f"{origin}: {table.name}.{column}")
        elif table.same_names and column in base.c:
            expression = base.c[column]
        else:
            continue
        if column in table.values:
            expression = _value_map(expression, table.values[column], f"{origin}: {table.name}.{column}")
        expressions[column] = expression
    query = sa.select(*[expressions[column].label(column) for column in wanted if column in expressions])
    query = query.select_from(base)
    for column, value in table.where.items():
        platform = _platform_column(base, column, f"{origin}: {table.name} where")
        if isinstance(value, list):
            query = query.where(platform.in_([_typed(platform, item) for item in value]))
        else:
            query = query.where(platform == _typed(platform, value))
    return query, expressions


def _platform_column(base: sa.FromClause, name: str, where: str) -> sa.ColumnElement:
    if name not in base.c:
        raise SourceError(f"{where}: no column '{name}' in {_base_name(base)}; it has {', '.join(base.c.keys())}.")
    return base.c[name]


def _base_name(base: sa.FromClause) -> str:
    return f"'{base.name}'" if isinstance(base, sa.TableClause) else "the query"


def _expression(spec: Any, base: sa.FromClause, where: str) -> sa.ColumnElement:
    if isinstance(spec, str):
        return _platform_column(base, spec, where)
    if isinstance(spec, int | float) and not isinstance(spec, bool):
        return sa.literal(spec)
    (operator, operand), = spec.items()
    if operator == "column":
        return _platform_column(base, operand, where)
    if operator == "value":
        return sa.literal(operand)
    operands = [_expression(item, base, where) for item in (operand if isinstance(operand, list) else [operand])]
    if operator == "coalesce":
        return sa.func.coalesce(*operands)
    if operator == "sum":
        return _fold(operands, lambda a, b: a + b)
    if operator == "product":
        return _fold(operands, lambda a, b: a * b)
    if operator == "difference":
        return operands[0] - operands[1]
    if operator == "ratio":
        return sa.cast(operands[0], sa.Float) / sa.func.nullif(operands[1], 0)
    if operator == "negate":
        return -operands[0]
    if operator == "lower":
        return sa.func.lower(operands[0])
    return sa.extract("year", operands[0])


def _fold(operands: list[sa.ColumnElement], combine) -> sa.ColumnElement:
    result = operands[0]
    for operand in operands[1:]:
        result = combine(result, operand)
    return result


def _value_map(expression: sa.ColumnElement, value_map: dict[str, Any], where: str) -> sa.ColumnElement:
    """CASE over `expression`: a listed platform value becomes its canonical value; any other
    value is kept as text (the data-quality report names unknown ones)."""
    whens = {_typed(expression, key, where): value for key, value in value_map.items()}
    if isinstance(expression.type, sa.String):
        kept = expression
    else:
        kept = sa.cast(expression, sa.String)
    return sa.case(whens, value=expression, else_=kept)


def _typed(column: sa.ColumnElement, value: Any, where: str = "") -> Any:
    """`value` (from TOML, where map keys are text) as the type `column` holds, so that a
    comparison with an integer column compares integers on every database."""
    if isinstance(column.type, sa.Integer) and not isinstance(value, bool):
        try:
            return int(value)
        except (TypeError, ValueError):
            raise SourceError(f"{where}: {value!r} is compared with a column of whole numbers.") from None
    if isinstance(column.type, sa.Float | sa.Numeric) and not isinstance(value, bool):
        try:
            return float(value)
        except (TypeError, ValueError):
            raise SourceError(f"{where}: {value!r} is compared with a column of numbers.") from None
    return value
