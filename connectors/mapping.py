"""Schema mapping: a platform's own tables, columns and values onto the canonical model.

A mapping is a TOML file (see connectors/presets/ for complete ones):

    name = "My shop"
    time_zone = "UTC"            # zone of timestamps stored without one (default UTC)

    [unavailable]                # what this platform cannot give, said on the page
    events = "The shop keeps no browsing events: no funnel, sessions or paths."

    [tables.orders]
    from = "sales_order"         # a platform table (or a file's name without .csv/.parquet)
    where = { type = "shop_order", state = ["new", "complete"] }
    updated_at = "updated_at"    # stamped at every change of a row: refreshes read changes by it

    [tables.orders.columns]      # canonical column = platform column, or an expression
    order_id = "entity_id"
    discount = { negate = "discount_amount" }
    channel = { value = "web" }

    [tables.orders.values.status]  # platform value = canonical value
    complete = "completed"

    [tables.order_items]
    query = "SELECT order_id, product_id, qty_ordered AS quantity, price AS unit_price FROM sales_order_item WHERE parent_item_id IS NULL"

A table is a platform table or one read-only SELECT written by the admin, which is parsed
and checked (`check_select`: one SELECT calling only ALLOWED_FUNCTIONS), run as sqlglot
writes it back in the database's dialect (`executable_select`) and wrapped as a subquery.
Canonical columns not listed in `columns` are taken from a platform column of the same name
when there is one (`same_names = false` turns that off). Expressions: `{ column = "c" }`,
`{ value = v }`, `{ coalesce = [...] }`, `{ sum = [...] }`, `{ product = [...] }`,
`{ difference = [a, b] }`, `{ ratio = [a, b] }` (empty when b is 0), `{ negate = a }`,
`{ lower = a }`, `{ year = a }`, `{ concat = [...] }` (joined as text, empty when a part is),
`{ only = [a, [v1, v2]] }` (a's value when it is one of those, else empty); an operand is a
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
import sqlglot
import sqlglot.errors
from sqlglot import expressions as sqlglot_exp

from connectors.base import SourceError
from connectors.schema import TABLES, TIME_COLUMN

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
    "concat": (2, None),
    "only": (2, 2),
}
_TOP_KEYS = {"name", "description", "kind", "time_zone", "unavailable", "tables"}
_TABLE_KEYS = {"from", "query", "columns", "values", "where", "same_names", "updated_at"}


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
    updated_at: str | None = None
    """The platform column (of the table, or of the query's result) that the platform stamps
    whenever a row changes, such as Magento's `updated_at` or WooCommerce's
    `date_updated_gmt`: an extract's refresh reads the rows changed since its last one by it
    (connectors/extracts.py)."""


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


def preset_coverage(mapping: Mapping) -> dict[str, str]:
    """What `mapping` reads and what it cannot, for the Data sources page: every canonical
    table in the model's order, "mapped" or the reason it is not (the mapping's words in
    [unavailable], else that it does not map it); then the mapping's other notes, on single
    columns ("orders.refunded_at") and on what the model holds no table for ("carts")."""
    coverage = {
        table: "mapped" if table in mapping.tables else mapping.unavailable.get(table, f"{mapping.name} does not map {table}.")
        for table in TABLES
    }
    return coverage | {key: reason for key, reason in mapping.unavailable.items() if key not in coverage}


def platform_tables_read(mapping: Mapping) -> dict[str, list[str]]:
    """The platform tables (or files, by name) each mapped canonical table reads, sorted: its
    `from`, or the tables its query names that are not its own WITH names."""
    read = {}
    for name, table in mapping.tables.items():
        if table.query is None:
            read[name] = [str(table.source)]
            continue
        statement = _parsed_select(table.query, f"[tables.{name}].query", _reading_dialect(table.query))
        own = {cte.alias_or_name for cte in statement.find_all(sqlglot_exp.CTE)}
        read[name] = sorted({node.name for node in statement.find_all(sqlglot_exp.Table) if node.name and node.name not in own})
    return read


def _reading_dialect(sql: str) -> str:
    """The first of CHECKED_DIALECTS that reads the checked query `sql`."""
    for dialect in CHECKED_DIALECTS:
        try:
            _parsed_select(sql, "query", dialect)
            return dialect
        except SourceError:
            continue
    return CHECKED_DIALECTS[0]


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
    updated_at = spec.get("updated_at")
    if updated_at is not None:
        check_identifier(updated_at, f"{where}.updated_at")
        if name not in TIME_COLUMN:
            raise SourceError(f"{where}.updated_at: {name} is read whole at every refresh (it has no time column); leave updated_at out.")
    source = spec.get("from")
    query = spec.get("query")
    if source is not None:
        check_identifier(source, f"{where}.from")
    else:
        if filters:
            raise SourceError(f"{where}: put the row filters of a query in its WHERE, not in `where`.")
        query = check_select(query, f"{where}.query")
    return MappedTable(name, source, query, dict(columns), {k: dict(v) for k, v in values.items()}, dict(filters), same_names, updated_at)


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
    elif operator == "only":
        if not (isinstance(operand, list) and len(operand) == 2 and isinstance(operand[1], list) and operand[1]
                and all(isinstance(v, str | int | float) and not isinstance(v, bool) for v in operand[1])):
            raise SourceError(f"{where}: only takes a column and a list of its values, like {{ only = [\"status\", [\"fraud\"]] }}.")
        _check_expression(operand[0], where)
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


def check_select(sql: Any, where: str, dialect: str | None = None) -> str:
    """`sql` without a trailing `;` if it is exactly one read-only SELECT; SourceError naming
    what it holds otherwise.

    The query is parsed by sqlglot in the SQL `dialect` of the source that runs it. It passes
    when it is one SELECT (WITH, subqueries and UNION of SELECTs allowed) that holds no
    statement or clause that writes, locks or calls out (`_REFUSED`), no comment that MySQL
    runs (`/*! ... */`), no parameter, and calls only the functions in ALLOWED_FUNCTIONS,
    unqualified: a function of the database such as dblink_exec, pg_terminate_backend or
    pg_read_file is refused by name before anything runs.

    Without a dialect (a mapping read before its source is known) the query passes when it
    passes in one of CHECKED_DIALECTS, which disagree on what is a string, a name or a
    comment; the source checks it again in its own dialect before it runs
    (`executable_select`, FolderSource).
    """
    dialects = (dialect,) if dialect else CHECKED_DIALECTS
    refusals = []
    for name in dialects:
        try:
            _parsed_select(sql, where, name)
            return sql.strip().rstrip(";").strip()
        except SourceError as refusal:
            refusals.append(refusal)
    raise refusals[0]


def executable_select(sql: str, where: str, dialect: str) -> str:
    """The checked `sql` as the database of SQLAlchemy dialect `dialect` will run it: parsed
    and checked in that dialect, then written back by sqlglot without comments, so that what
    runs is exactly what was checked. A dialect sqlglot does not know keeps the text as
    written, checked in every dialect of CHECKED_DIALECTS."""
    name = _SQLGLOT_DIALECTS.get(dialect, dialect)
    if not _known_dialect(name):
        return check_select(sql, where)
    return _parsed_select(sql, where, name).sql(dialect=name, comments=False)


# SQLAlchemy's dialect names where sqlglot's differ
_SQLGLOT_DIALECTS = {"postgresql": "postgres", "mariadb": "mysql", "mssql": "tsql"}
CHECKED_DIALECTS = ("postgres", "mysql", "sqlite", "duckdb")

# What a reading query may call: aggregates and window functions, conditionals and casts,
# text, date and time, arithmetic and JSON reads, by the names sqlglot gives them.
ALLOWED_FUNCTIONS = frozenset(
    """
    COUNT SUM AVG MIN MAX STDDEV STDDEV_POP STDDEV_SAMP VARIANCE VARIANCE_POP MEDIAN
    PERCENTILE_CONT PERCENTILE_DISC GROUP_CONCAT STRING_AGG LOGICAL_AND LOGICAL_OR ANY_VALUE
    COUNT_IF ROW_NUMBER RANK DENSE_RANK LAG LEAD FIRST_VALUE LAST_VALUE NTILE PERCENT_RANK
    CUME_DIST
    CASE IF COALESCE NULLIF GREATEST LEAST CAST TRY_CAST EXISTS
    LOWER UPPER TRIM LTRIM RTRIM LENGTH SUBSTRING REPLACE CONCAT CONCAT_WS LEFT RIGHT LPAD RPAD
    PAD STR_POSITION STRPOS INSTR LOCATE SPLIT_PART REGEXP_REPLACE REGEXP_LIKE REGEXP_EXTRACT
    INITCAP REVERSE ASCII CHR
    DATE TIME DATETIME TIMESTAMP TS_OR_DS_TO_DATE TS_OR_DS_TO_TIMESTAMP DATE_TRUNC
    TIMESTAMP_TRUNC DATETIME_TRUNC TIME_TRUNC DATE_PART EXTRACT DATE_ADD DATE_SUB TS_OR_DS_ADD
    DATEDIFF DATE_DIFF TIMESTAMP_DIFF TIMESTAMPDIFF TIMESTAMP_ADD TIMESTAMP_SUB TIME_TO_STR
    STR_TO_TIME STR_TO_DATE STRFTIME STRPTIME TO_DATE TO_TIMESTAMP TO_CHAR DATE_FORMAT
    UNIX_TO_TIME FROM_UNIXTIME UNIX_TIMESTAMP TIME_TO_UNIX TIME_STR_TO_TIME CONVERT_TZ
    CONVERT_TIMEZONE CURRENT_TIMESTAMP CURRENT_DATE NOW YEAR MONTH DAY HOUR MINUTE SECOND WEEK
    DAY_OF_WEEK DAY_OF_MONTH DAY_OF_YEAR QUARTER JULIANDAY UNIXEPOCH EPOCH DATE_FROM_PARTS
    MAKE_DATE LAST_DAY WEEKDAY
    ABS ROUND FLOOR CEIL TRUNC MOD POW POWER SQRT EXP LN LOG SIGN
    JSON_EXTRACT JSON_EXTRACT_SCALAR JSON_UNQUOTE JSON_VALUE
    """.split()
)

# Statements and clauses a reading query may not hold, with the words that name them.
_REFUSED = {
    "Insert": "INSERT", "Update": "UPDATE", "Delete": "DELETE", "Merge": "MERGE",
    "Create": "CREATE", "Drop": "DROP", "Alter": "ALTER", "TruncateTable": "TRUNCATE",
    "Copy": "COPY", "LoadData": "LOAD DATA", "Command": "a statement other than SELECT",
    "Into": "SELECT ... INTO", "Lock": "FOR UPDATE / FOR SHARE", "Pragma": "PRAGMA",
    "Set": "SET", "Use": "USE", "Transaction": "a transaction", "Commit": "COMMIT",
    "Rollback": "ROLLBACK", "Grant": "GRANT", "Revoke": "REVOKE", "Attach": "ATTACH",
    "Detach": "DETACH", "Install": "INSTALL", "Execute": "EXECUTE",
    "Placeholder": "a parameter", "Parameter": "a parameter", "SessionParameter": "a session variable",
}
_REFUSED_TYPES = tuple(
    (getattr(sqlglot_exp, name), label) for name, label in _REFUSED.items() if hasattr(sqlglot_exp, name)
)


def _known_dialect(name: str) -> bool:
    try:
        sqlglot.Dialect.get_or_raise(name)
    except ValueError:
        return False
    return True


def _parsed_select(sql: Any, where: str, dialect: str) -> sqlglot_exp.Expr:
    """The one statement of `sql` in `dialect`, checked (`check_select`)."""
    if not isinstance(sql, str) or not sql.strip():
        raise SourceError(f"{where}: write one SELECT statement.")
    try:
        statements = [statement for statement in sqlglot.parse(sql, read=dialect) if statement is not None]
        comments = [comment for token in sqlglot.Dialect.get_or_raise(dialect).tokenize(sql) for comment in token.comments]
    except (sqlglot.errors.SqlglotError, RecursionError) as error:
        raise SourceError(f"{where}: the query is not SQL that {dialect} reads ({str(error).splitlines()[0][:160]}).") from None
    if len(statements) != 1:
        raise SourceError(f"{where}: write one SELECT statement, without `;` between statements.")
    if any(comment.lstrip().startswith(("!", "M!")) for comment in comments):
        raise SourceError(f"{where}: a /*! ... */ comment is code to MySQL and MariaDB; remove it.")
    _check_statement(statements[0], where)
    return statements[0]


def _check_statement(statement: sqlglot_exp.Expr, where: str) -> None:
    if not isinstance(statement, sqlglot_exp.Query):
        raise SourceError(f"{where}: the query must be a SELECT (or WITH ... SELECT), not {_label(statement)}.")
    for node in statement.walk():
        for refused, label in _REFUSED_TYPES:
            if isinstance(node, refused):
                raise SourceError(f"{where}: a mapping only reads; its query may not hold {label}.")
        if isinstance(node, sqlglot_exp.CTE) and not isinstance(node.this, sqlglot_exp.Query):
            raise SourceError(f"{where}: a mapping only reads; WITH may name only SELECTs, not {_label(node.this)}.")
        # AND, OR, ^ and -> are operators to SQL, though sqlglot's classes are functions too
        if isinstance(node, sqlglot_exp.Func) and not isinstance(node, sqlglot_exp.Binary | sqlglot_exp.Unary):
            name = node.name if isinstance(node, sqlglot_exp.Anonymous) else node.sql_name()
            if isinstance(node.parent, sqlglot_exp.Dot):
                raise SourceError(f"{where}: a mapping only reads; its query may not call {node.parent.sql()}, a function of a schema.")
            if name.upper() not in ALLOWED_FUNCTIONS:
                raise SourceError(
                    f"{where}: a mapping only reads; its query may not call {name}. It may use aggregates, "
                    "casts, CASE and COALESCE, date, time, text and arithmetic functions."
                )


def _label(node: sqlglot_exp.Expr | None) -> str:
    if node is None:
        return "nothing"
    if isinstance(node, sqlglot_exp.Command):
        return str(node.this).upper()
    for refused, label in _REFUSED_TYPES:
        if isinstance(node, refused):
            return label
    return node.key.upper()


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
    if operator == "only":
        kept = _expression(operand[0], base, where)
        return sa.case((kept.in_([_typed(kept, value, where) for value in operand[1]]), kept))
    operands = [_expression(item, base, where) for item in (operand if isinstance(operand, list) else [operand])]
    if operator == "concat":
        return _fold([_as_text(item) for item in operands], lambda a, b: a + b)
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


def _as_text(expression: sa.ColumnElement) -> sa.ColumnElement:
    """`expression` as text, so that `+` joins text on every database (|| or CONCAT)."""
    return expression if isinstance(expression.type, sa.String) else sa.cast(expression, sa.String)


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
