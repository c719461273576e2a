"""A TOML mapping turns a platform's tables into the exact canonical rows, the same from
SQLite, PostgreSQL, MariaDB and a folder of files; hostile names and values in a mapping are
rejected or quoted, and only reads reach the database."""

from datetime import date, datetime

import platform_db
import polars as pl
import pytest
import sqlalchemy as sa
from conftest import utc
from platform_db import DATABASES, platform_source
from polars.testing import assert_frame_equal

from connectors import FolderSource, SourceError, SqlSource, open_source, source_from_settings
from connectors.mapping import MappedTable, Mapping, check_select, executable_select, parse_mapping

dropped_after = platform_db.dropped_after  # the fixture, shared with the other platform tests

PLATFORM = {
    "shop_orders": pl.DataFrame(
        {
            "id": [1, 2, 3, 4, 5],
            "customer": ["Ann@X.com", "bo@x.com", "Ann@X.com", "cy@x.com", "bo@x.com"],
            "placed": [datetime(2026, 3, 1, 10), datetime(2026, 3, 1, 12), datetime(2026, 3, 2, 9), datetime(2026, 3, 2, 9), datetime(2026, 3, 3, 18)],
            "total": [100.0, 40.0, 25.5, 10.0, 60.0],
            "disc": [-10.0, 0.0, -2.5, 0.0, 0.0],
            "state": ["complete", "canceled", "processing", "complete", "on_hold"],
            "kind": ["order", "order", "order", "refund", "order"],
            "refunded": [None, None, 5.0, None, None],
        }
    ),
    "shop_customers": pl.DataFrame(
        {
            "email": ["ann@x.com", "bo@x.com"],
            "joined": [datetime(2026, 2, 1, 8), datetime(2026, 2, 20, 23, 30)],
            "gender": [2, 1],
            "dob": [date(1990, 5, 1), date(1985, 12, 31)],
        }
    ),
    "shop_lines": pl.DataFrame(
        {"order_ref": [1, 1, 2, 3], "sku": ["A", "B", "A", "C"], "qty": [1, 2, 1, 3], "price": [60.0, 25.0, 40.0, 0.0]}
    ),
}
MAPPING = parse_mapping(
    {
        "name": "Test platform",
        "unavailable": {"events": "no browsing events"},
        "tables": {
            "orders": {
                "from": "shop_orders",
                "where": {"kind": "order"},
                "columns": {
                    "order_id": "id",
                    "user_id": {"lower": "customer"},
                    "created_at": "placed",
                    "amount": "total",
                    "status": "state",
                    "discount": {"negate": "disc"},
                    "channel": {"value": "web"},
                    "refund_amount": {"coalesce": ["refunded", 0]},
                },
                "values": {"status": {"complete": "completed", "canceled": "cancelled", "processing": "paid"}},
            },
            "users": {
                "from": "shop_customers",
                "columns": {"user_id": "email", "signup_at": "joined", "gender": "gender", "birth_year": {"year": "dob"}},
                "values": {"gender": {"1": "male", "2": "female"}},
            },
            "order_items": {
                "query": "SELECT order_ref AS order_id, sku AS product_id, qty AS quantity, price AS unit_price "
                "FROM shop_lines WHERE price > 0 -- free lines are samples;",
            },
        },
    },
    "test mapping",
)
ORDERS = pl.DataFrame(
    {
        "order_id": [1, 2, 3, 5],
        "user_id": ["ann@x.com", "bo@x.com", "ann@x.com", "bo@x.com"],
        "created_at": [utc("2026-03-01 10:00"), utc("2026-03-01 12:00"), utc("2026-03-02 09:00"), utc("2026-03-03 18:00")],
        "amount": [100.0, 40.0, 25.5, 60.0],
        "status": pl.Series(["completed", "cancelled", "paid", "on_hold"], dtype=pl.Categorical),
        "discount": [10.0, 0.0, 2.5, 0.0],
        "channel": pl.Series(["web"] * 4, dtype=pl.Categorical),
        "refund_amount": [0.0, 0.0, 5.0, 0.0],
    }
)
USERS = pl.DataFrame(
    {
        "user_id": ["ann@x.com", "bo@x.com"],
        "signup_at": [utc("2026-02-01 08:00"), utc("2026-02-20 23:30")],
        "gender": pl.Series(["female", "male"], dtype=pl.Categorical),
        "birth_year": pl.Series([1990, 1985], dtype=pl.Int32),
    }
)
ITEMS = pl.DataFrame({"order_id": [1, 1, 2], "product_id": ["A", "B", "A"], "quantity": [1, 2, 1], "unit_price": [60.0, 25.0, 40.0]})


def sorted_by(frame: pl.DataFrame, *keys) -> pl.DataFrame:
    return frame.sort(list(keys))


@pytest.fixture(params=[*DATABASES, "parquet folder"])
def platform(request, tmp_path, dropped_after):
    if request.param == "parquet folder":
        for name, frame in PLATFORM.items():
            frame.write_parquet(tmp_path / f"{name}.parquet")
        return FolderSource(tmp_path, mapping=MAPPING)
    dropped_after.append((request.param, list(PLATFORM)))
    return platform_source(request.param, PLATFORM, MAPPING, tmp_path, reader="sqlalchemy")


def test_a_mapping_gives_the_exact_canonical_rows(platform):
    assert platform.table_names() == {"orders", "users", "order_items"}
    assert_frame_equal(sorted_by(platform.read_table("orders"), "order_id"), ORDERS, check_dtypes=False)
    assert_frame_equal(sorted_by(platform.read_table("users"), "user_id"), USERS, check_dtypes=False)
    assert_frame_equal(sorted_by(platform.read_table("order_items"), "order_id", "product_id"), ITEMS, check_dtypes=False)


def test_columns_and_window_reach_mapped_tables(platform):
    read = platform.read_table("orders", columns=["order_id", "status"], since=utc("2026-03-01 10:00"), until=utc("2026-03-03 18:00"))
    assert_frame_equal(sorted_by(read, "order_id"), ORDERS.filter(pl.col("order_id").is_in([2, 3])).select("order_id", "status"), check_dtypes=False)


def test_unmapped_tables_are_absent_and_named(platform):
    with pytest.raises(SourceError, match="does not map it"):
        platform.read_table("events")


def test_zoneless_times_in_the_mappings_zone_become_utc(tmp_path):
    shanghai = parse_mapping({"time_zone": "Asia/Shanghai", "tables": {"users": {"from": "shop_customers", "columns": {"user_id": "email", "signup_at": "joined"}}}}, "zoned")
    PLATFORM["shop_customers"].write_csv(tmp_path / "shop_customers.csv")
    source = FolderSource(tmp_path, mapping=shanghai)
    assert source.read_table("users")["signup_at"].to_list() == [utc("2026-02-01 00:00"), utc("2026-02-20 15:30")]
    # 2026-02-20 23:30 in Shanghai is 15:30 UTC: strictly later than 15:00 UTC
    assert source.read_table("users", since=utc("2026-02-20 15:00"))["user_id"].to_list() == ["bo@x.com"]


@pytest.mark.parametrize(
    ("sql", "dialect", "reason"),
    [
        ("SELECT 1; DELETE FROM orders", None, "without `;` between statements"),
        ("DELETE FROM orders", None, "must be a SELECT .*not DELETE"),
        ("WITH gone AS (DELETE FROM orders RETURNING *) SELECT * FROM gone", None, "WITH may name only SELECTs, not DELETE"),
        ("SELECT * INTO copy FROM orders", None, r"may not hold SELECT \.\.\. INTO"),
        ("SELECT * FROM orders FOR UPDATE", None, "may not hold FOR UPDATE"),
        # standard SQL ends the string at \' ; MySQL reads one string to the end
        ("SELECT '\\'; DROP TABLE orders; --' AS x", "postgres", "without `;`"),
        # dollar quotes are PostgreSQL's only
        ("SELECT $$; DROP TABLE orders; $$", "mysql", "without `;`"),
        ("SELECT 1 /* unclosed", None, "not SQL that postgres reads"),
        ("/* SELECT */ UPDATE orders SET amount = 0", None, "not UPDATE"),
        ("COPY orders TO '/tmp/orders.csv'", None, "not COPY"),
        ("CALL refresh_orders()", None, "not CALL"),
        ("SELECT o.*, dblink_exec('dbname=shop', 'DELETE FROM other') AS done FROM orders o", None, "may not call dblink_exec"),
        ("SELECT * FROM dblink('dbname=shop', 'SELECT 1') AS t(x int)", "postgres", "may not call dblink"),
        ("SELECT pg_terminate_backend(pid) FROM pg_stat_activity", None, "may not call pg_terminate_backend"),
        ("SELECT pg_read_file('/etc/passwd')", None, "may not call pg_read_file"),
        ("SELECT lo_import('/etc/passwd')", None, "may not call lo_import"),
        ("SELECT set_config('transaction_read_only', 'off', false)", None, "may not call set_config"),
        ("SELECT nextval('orders_id_seq')", None, "may not call nextval"),
        ("SELECT load_file('/etc/passwd')", "mysql", "may not call load_file"),
        ("SELECT * FROM read_csv('/etc/passwd')", "duckdb", "may not call READ_CSV"),
        ("SELECT pg_catalog.lower(name) FROM orders", None, "pg_catalog.lower.*a function of a schema"),
        # MySQL reads `--x` as minus minus x, and runs the code of /*! ... */ comments
        ("SELECT 1 --sleep(5)\n FROM orders", "mysql", "may not call sleep"),
        ("SELECT 1 /*! , sleep(5) */ FROM orders", "mysql", "code to MySQL"),
        ("SELECT * FROM orders WHERE id = $1", "postgres", "a parameter"),
    ],
)
def test_only_one_reading_select_is_accepted(sql, dialect, reason):
    with pytest.raises(SourceError, match=reason):
        check_select(sql, "q", dialect)


def test_a_select_with_keywords_in_strings_and_names_is_accepted():
    sql = "SELECT 'drop; delete' AS \"update\", `into` FROM t -- ; insert\n;"
    assert check_select(sql, "q") == "SELECT 'drop; delete' AS \"update\", `into` FROM t -- ; insert"
    assert check_select(sql, "q", "mysql")


@pytest.mark.parametrize(
    ("sql", "dialect"),
    [
        ("WITH paid AS (SELECT * FROM orders WHERE state IN ('complete', 'closed')) SELECT customer_id, COUNT(*), "
         "SUM(CAST(total AS DECIMAL(12, 2))), MIN(created_at) FROM paid GROUP BY customer_id HAVING COUNT(*) > 1", "postgres"),
        ("SELECT id, CASE WHEN total > 100 THEN 'big' ELSE 'small' END, COALESCE(NULLIF(email, ''), 'none'), "
         "LOWER(TRIM(email)), EXTRACT(YEAR FROM created_at), DATE_TRUNC('day', created_at), ROUND(total * 1.19, 2) FROM orders", "postgres"),
        ("SELECT id, DATE_FORMAT(created_at, '%Y-%m'), IFNULL(coupon, ''), CONCAT('order ', id), "
         "ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY created_at) FROM orders LIMIT 10", "mysql"),
        ("SELECT strptime(\"Created at\", '%Y-%m-%d %H:%M:%S %z') AS created_at FROM orders_export "
         "UNION ALL SELECT NULL FROM orders_export WHERE \"Name\" IS NULL", "duckdb"),
        ("SELECT o.id FROM orders o WHERE EXISTS (SELECT 1 FROM lines l WHERE l.order_id = o.id) AND o.id IN (SELECT order_id FROM refunds)", "sqlite"),
    ],
)
def test_reading_queries_of_every_kind_are_accepted(sql, dialect):
    assert check_select(sql, "q", dialect) == sql


def test_the_query_that_runs_is_the_one_checked():
    # comments are dropped, so no database reads code where the check read a comment
    assert executable_select("SELECT id -- the key\nFROM orders /* all */", "q", "postgresql") == "SELECT id FROM orders"
    assert executable_select("SELECT `total` FROM `orders`", "q", "mysql") == "SELECT `total` FROM `orders`"
    with pytest.raises(SourceError, match="may not call sleep"):
        executable_select("SELECT 1 --sleep(5)\n FROM orders", "q", "mysql")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"tables": {"order": {"from": "x"}}}, "'order' is not a canonical table"),
        ({"tables": {"orders": {"from": "x", "query": "SELECT 1"}}}, "exactly one of `from`"),
        ({"tables": {"orders": {"from": "x", "colums": {}}}}, "unknown key\\(s\\) colums"),
        ({"tables": {"orders": {"from": "x", "columns": {"total": "t"}}}}, "'total' is not a canonical column of orders"),
        ({"tables": {"orders": {"from": "x", "columns": {"amount": {"shell": "rm"}}}}}, "unknown expression 'shell'"),
        ({"tables": {"orders": {"from": "x", "columns": {"amount": {"ratio": ["a"]}}}}}, "ratio takes 2 operand"),
        ({"tables": {"orders": {"from": "x\x00y"}}}, "is not a table or column name"),
        ({"time_zone": "Mars/Base", "tables": {"orders": {"from": "x"}}}, "not a time zone name"),
        ({"tables": {"orders": {"query": "SELECT 1", "where": {"a": 1}}}}, "put the row filters of a query in its WHERE"),
    ],
)
def test_mapping_mistakes_are_named(data, message):
    with pytest.raises(SourceError, match=message):
        parse_mapping(data, "m.toml")


HOSTILE = 'x"; DROP TABLE shop_orders; --'
HOSTILE_VALUE = "it's'); DROP TABLE shop_orders; --"


@pytest.mark.parametrize("database", DATABASES)
def test_hostile_names_and_values_never_reach_the_database_as_sql(database, tmp_path, dropped_after):
    dropped_after.append((database, list(PLATFORM)))
    hostile = parse_mapping(
        {
            "tables": {
                "orders": {
                    "from": "shop_orders",
                    "where": {"state": [HOSTILE_VALUE, "complete"]},
                    "columns": {"order_id": "id", "user_id": "customer", "created_at": "placed", "amount": "total", "status": "state", "coupon_code": {"value": HOSTILE_VALUE}},
                    "values": {"status": {HOSTILE_VALUE: HOSTILE, "complete": HOSTILE_VALUE}},
                },
                "users": {"from": HOSTILE},
                "products": {"from": "shop_orders", "columns": {"product_id": HOSTILE, "name": "id", "category": "id"}},
            }
        },
        "hostile",
    )
    source = platform_source(database, PLATFORM, hostile, tmp_path, reader="sqlalchemy")
    statements = []
    sa.event.listen(source.engine, "before_cursor_execute", lambda _c, _cur, statement, *rest: statements.append(statement))
    assert source.table_names() == {"orders", "products"}
    orders = source.read_table("orders")
    # the values came back as data: quoted, never run
    assert orders["order_id"].to_list() == [1, 4]
    assert orders["status"].to_list() == [HOSTILE_VALUE] * 2
    assert orders["coupon_code"].to_list() == [HOSTILE_VALUE] * 2
    with pytest.raises(SourceError, match="no column 'x\"; DROP TABLE shop_orders; --'"):
        source.read_table("products")
    with pytest.raises(SourceError, match="has no table 'x\"; DROP TABLE"):
        source.read_table("users")
    reads = ("SELECT", "WITH", "PRAGMA", "SHOW", "DESCRIBE")
    assert statements and all(statement.lstrip().upper().startswith(reads) for statement in statements), statements
    assert source.read_table("orders").height == 2  # the table is still there


@pytest.mark.parametrize("database", DATABASES)
def test_a_write_hidden_in_a_mapped_query_fails(database, tmp_path, dropped_after):
    """The SELECT check is a courtesy: the session itself refuses writes, even from a query
    that passed it (a function call that writes)."""
    dropped_after.append((database, list(PLATFORM)))
    source = platform_source(database, PLATFORM, MAPPING, tmp_path, reader="sqlalchemy")
    with pytest.raises(sa.exc.DBAPIError, match="(?i)read.only|readonly"), source.engine.begin() as connection:
        connection.execute(sa.text("UPDATE shop_orders SET total = 0"))
    assert source.read_table("orders")["amount"].sum() == ORDERS["amount"].sum()


def test_settings_choose_a_mapping_file_or_a_preset(tmp_path, monkeypatch):
    for name, frame in PLATFORM.items():
        frame.write_parquet(tmp_path / f"{name}.parquet")
    mapping_file = tmp_path / "shop.toml"
    mapping_file.write_text('name = "From a file"\n[tables.users]\nfrom = "shop_customers"\ncolumns = { user_id = "email", signup_at = "joined" }\n')
    source = source_from_settings({"folder": str(tmp_path), "mapping": str(mapping_file)})
    assert source.table_names() == {"users"}
    assert source.description == f"{tmp_path} (From a file)"
    assert source_from_settings({"folder": str(tmp_path), "preset": "canonical"}).mapping.name == "Canonical tables"
    with pytest.raises(SourceError, match="there is no preset 'nope'"):
        open_source(tmp_path, preset="nope")
    with pytest.raises(SourceError, match="a mapping file or a preset, not both"):
        open_source(tmp_path, preset="canonical", mapping=mapping_file)


def test_a_password_from_the_environment_is_used_and_never_shown(monkeypatch):
    monkeypatch.setenv("SHOP_DB_PASSWORD", "s3cret!")
    source = source_from_settings({"dialect": "postgresql", "driver": "psycopg", "host": "db", "username": "analyst", "database": "shop", "password_env": "SHOP_DB_PASSWORD"})
    assert source.url.password == "s3cret!"
    assert "s3cret" not in source.description
    monkeypatch.delenv("SHOP_DB_PASSWORD")
    with pytest.raises(SourceError, match="environment variable SHOP_DB_PASSWORD, which is not set"):
        source_from_settings({"dialect": "postgresql", "host": "db", "password_env": "SHOP_DB_PASSWORD"})


DBLINK_DELETE = (
    "SELECT o.*, dblink_exec('host=127.0.0.1 dbname=test user=postgres', 'DELETE FROM mapping_victim') AS done "
    "FROM shop_orders o"
)


@pytest.fixture
def postgres_with_dblink(tmp_path, dropped_after):
    """PostgreSQL holding the platform's tables and `mapping_victim` (3 rows), with dblink."""
    engine = platform_db.server_engine("postgresql")
    try:
        with engine.begin() as connection:
            connection.execute(sa.text("CREATE EXTENSION IF NOT EXISTS dblink"))
    except sa.exc.DBAPIError as error:
        pytest.skip(f"the dblink extension cannot be installed on this PostgreSQL: {str(error.orig).splitlines()[0]}")
    dropped_after.append(("postgresql", [*PLATFORM, "mapping_victim"]))
    platform_db.write_tables(engine, {**PLATFORM, "mapping_victim": pl.DataFrame({"id": [1, 2, 3]})})
    return engine


def victims(engine: sa.Engine) -> int:
    with engine.connect() as connection:
        return connection.execute(sa.text("SELECT COUNT(*) FROM mapping_victim")).scalar()


def test_dblink_writes_through_a_read_only_session(postgres_with_dblink):
    """The hole as it was found: the app's read-only session runs dblink_exec, whose own new
    connection is not read-only, and the other table is emptied."""
    source = SqlSource(platform_db.SERVERS["postgresql"])
    with source.engine.connect() as connection:
        connection.execute(sa.text("SELECT dblink_exec('host=127.0.0.1 dbname=test user=postgres', 'DELETE FROM mapping_victim')"))
    assert victims(postgres_with_dblink) == 0


def test_a_mapping_query_calling_dblink_is_refused_before_anything_runs(postgres_with_dblink):
    with pytest.raises(SourceError, match=r"\[tables.orders\].query: a mapping only reads; its query may not call dblink_exec"):
        parse_mapping({"tables": {"orders": {"query": DBLINK_DELETE}}}, "shop.toml")
    # a mapping that skipped parse_mapping is refused by the source, in its dialect, before it runs
    unchecked = Mapping("unchecked", {"orders": MappedTable("orders", query=DBLINK_DELETE)}, origin="unchecked.toml")
    source = SqlSource(platform_db.SERVERS["postgresql"], mapping=unchecked)
    statements = []
    sa.event.listen(source.engine, "before_cursor_execute", lambda _c, _cur, statement, *rest: statements.append(statement))
    with pytest.raises(SourceError, match="may not call dblink_exec"):
        source.read_table("orders")
    assert source.table_names() == set() and "dblink_exec" in source.problems["orders"]
    assert not any("dblink" in statement for statement in statements)
    assert victims(postgres_with_dblink) == 3


def test_a_mapping_query_calling_pg_terminate_backend_is_refused(postgres_with_dblink):
    kill = "SELECT pg_terminate_backend(pid) AS order_id FROM pg_stat_activity WHERE pid <> pg_backend_pid()"
    with pytest.raises(SourceError, match="may not call pg_terminate_backend"):
        parse_mapping({"tables": {"orders": {"query": kill}}}, "shop.toml")
    other = postgres_with_dblink.connect()
    try:
        unchecked = Mapping("unchecked", {"orders": MappedTable("orders", query=kill)}, origin="unchecked.toml")
        with pytest.raises(SourceError, match="may not call pg_terminate_backend"):
            SqlSource(platform_db.SERVERS["postgresql"], mapping=unchecked).read_table("orders")
        assert other.execute(sa.text("SELECT 1")).scalar() == 1  # still connected
    finally:
        other.close()
