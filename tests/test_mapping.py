"""A TOML mapping turns a platform's tables into the exact canonical rows, the same from
SQLite, PostgreSQL, MariaDB and a folder of files; hostile names and values in a mapping are
rejected or quoted, and only reads reach the database."""

from datetime import date, datetime

import polars as pl
import pytest
import sqlalchemy as sa
from polars.testing import assert_frame_equal

from conftest import utc
from connectors import FolderSource, SourceError, open_source, source_from_settings
from connectors.mapping import check_select, parse_mapping
import platform_db
from platform_db import DATABASES, platform_source

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
    ("sql", "reason"),
    [
        ("SELECT 1; DELETE FROM orders", "without `;` between statements"),
        ("DELETE FROM orders", "must start with SELECT"),
        ("WITH gone AS (DELETE FROM orders RETURNING *) SELECT * FROM gone", "may not use DELETE"),
        ("SELECT * INTO copy FROM orders", "may not use .*INTO"),
        ("SELECT * FROM orders FOR UPDATE", "may not use UPDATE"),
        ("SELECT '\\'; DROP TABLE orders; --' AS x", "without `;`"),  # standard SQL: the string ends at \'
        ("SELECT $$; DROP TABLE orders; $$", "`\\$`"),
        ("SELECT 1 /* unclosed", "not closed"),
        ("/* SELECT */ UPDATE orders SET amount = 0", "must start with SELECT"),
    ],
)
def test_only_one_select_is_accepted(sql, reason):
    with pytest.raises(SourceError, match=reason):
        check_select(sql, "q")


def test_a_select_with_keywords_in_strings_and_names_is_accepted():
    sql = "SELECT 'drop; delete' AS \"update\", `into` FROM t -- ; insert\n;"
    assert check_select(sql, "q") == "SELECT 'drop; delete' AS \"update\", `into` FROM t -- ; insert"


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
