"""Hostile and broken input (hypothesis): whatever a folder of files or a mapping holds, the
loaders hand out canonical frames or a SourceError naming the table, the column and the rows;
never another exception, never a write to the source, never the loss of the last good
extract. Hand-made cases pin the messages and what the data-quality report says."""

import hashlib
import shutil
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from connectors import FolderSource, SourceError, SqlSource, source_from_settings
from connectors.extracts import MANIFEST, ExtractSource
from connectors.mapping import check_select, parse_mapping
from connectors.quality import quality_report
from connectors.schema import TABLES, UTC_DATETIME
from connectors.sql import sqlite_url

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
CELLS = st.one_of(
    st.text(max_size=10),
    st.sampled_from([
        "", "NULL", "1", "-3", "0.5", "1e309", "12 yuan", "¥12", "9" * 25, "2026-01-01", "2026-01-01 10:00",
        "2026-01-01T10:00:00+08:00", "2999-12-31 23:59:59Z", "01/02/2026", '"', 'a"b', "a,b", "\n", "\x00",
        "nan", "-inf", "true", "Robert'); DROP TABLE orders;--",
    ]),
)
TABLE_NAMES = ["orders", "events", "users", "order_items"]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def canonical(name: str, frame: pl.DataFrame) -> None:
    """`frame` is table `name` of the canonical model: known columns with their dtypes."""
    columns = TABLES[name].columns
    assert set(frame.columns) <= set(columns)
    for column, dtype in frame.schema.items():
        if columns[column] is not None:
            assert dtype == columns[column], (column, dtype)


def names_table_column_rows(message: str, name: str, header: list[str]) -> None:
    """A message about values names the table, the column and the rows; one about the file
    names the table and the file."""
    assert f"'{name}'" in message, message
    if "cannot be read as" in message:
        assert any(f"column '{column}'" in message for column in header), message
        assert " row" in message, message


@FUZZ
@given(
    name=st.sampled_from(TABLE_NAMES),
    extra=st.lists(st.sampled_from(["discount", "paid_at", "channel", "coupon_code", "session_id", "page", "device", "nonsense"]), max_size=3, unique=True),
    rows=st.lists(st.lists(CELLS, min_size=0, max_size=9), max_size=6),
    raw=st.binary(max_size=80),
    use_raw=st.booleans(),
)
def test_any_csv_file_gives_canonical_frames_or_a_source_error_that_names_where(tmp_path_factory, name, extra, rows, raw, use_raw):
    folder = tmp_path_factory.mktemp("hostile")
    header = list(TABLES[name].required) + [column for column in extra if column in TABLES[name].columns]
    path = folder / f"{name}.csv"
    if use_raw:
        path.write_bytes(raw)
    else:
        path.write_text("\n".join([",".join(header)] + [",".join(row) for row in rows]), encoding="utf-8")
    before = snapshot(folder)
    try:
        canonical(name, FolderSource(folder).read_table(name))
    except SourceError as error:
        names_table_column_rows(str(error), name, header)
    assert snapshot(folder) == before


NOT_NUMBERS = ("12 yuan", "", "1,5", "abc")  # "" quoted is empty text, not a missing value


@FUZZ
@given(
    amounts=st.lists(st.one_of(st.floats(allow_nan=False, allow_infinity=False, width=32), st.sampled_from(NOT_NUMBERS)), min_size=1, max_size=8),
)
def test_amounts_as_text_read_as_numbers_or_name_the_rows_that_are_not(tmp_path_factory, amounts):
    folder = tmp_path_factory.mktemp("amounts")
    rows = [f"{number},7,2026-03-01 10:00:00,\"{amount}\",paid" for number, amount in enumerate(amounts, start=1)]
    (folder / "orders.csv").write_text("order_id,user_id,created_at,amount,status\n" + "\n".join(rows))
    texts = [str(amount) for amount in amounts]
    bad = [row for row, text in enumerate(texts, start=1) if text in NOT_NUMBERS]
    if bad:
        with pytest.raises(SourceError) as raised:
            FolderSource(folder).read_table("orders")
        shown = ", ".join(str(row) for row in bad[:5])
        assert f"table 'orders', column 'amount': {len(bad)} value(s) cannot be read as a number, in row{'s' if len(bad) > 1 else ''} {shown}" in str(raised.value)
    else:
        orders = FolderSource(folder).read_table("orders")
        assert orders["amount"].to_list() == [float(text) for text in texts]


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / f"{name}.csv"
    path.write_text(text)
    return path


def test_a_value_that_is_not_a_time_names_its_column_rows_and_values(tmp_path):
    write(tmp_path, "events", "user_id,event_time,event_type\n1,2026-03-01 10:00:00,page_view\n2,yesterday,page_view\n3,2026-03-01 11:00:00,purchase\n4,31/12/2026,purchase\n")
    with pytest.raises(SourceError) as raised:
        FolderSource(tmp_path).read_table("events")
    assert str(raised.value) == (
        f"{tmp_path / 'events.csv'}: table 'events', column 'event_time': 2 value(s) cannot be read as a date and time, "
        "in rows 2, 4 (for example 'yesterday', '31/12/2026'); correct them at the source, or map the column to one that holds such values."
    )


def test_a_quantity_with_a_fraction_is_not_a_whole_number(tmp_path):
    write(tmp_path, "order_items", "order_id,product_id,quantity,unit_price\n1,A,2,10.0\n1,B,2.5,4.0\n")
    with pytest.raises(SourceError, match=r"table 'order_items', column 'quantity': 1 value\(s\) cannot be read as a whole number, in row 2 \(for example '2.5'\)"):
        FolderSource(tmp_path).read_table("order_items")


def test_a_ragged_csv_names_its_lines_and_an_empty_one_says_it_needs_a_header(tmp_path):
    write(tmp_path, "users", "user_id,signup_at\n1,2026-01-01 00:00:00\n2,2026-01-02 00:00:00,extra\n3\n")
    with pytest.raises(SourceError) as raised:
        FolderSource(tmp_path).read_table("users")
    assert str(raised.value).startswith(f"cannot read table 'users' from {tmp_path / 'users.csv'}: ")
    assert str(raised.value).endswith("(line(s) 3, 4 hold another number of fields than the header's 2)")
    write(tmp_path, "users", "")
    with pytest.raises(SourceError, match="it needs a header line naming the columns"):
        FolderSource(tmp_path).read_table("users")


def test_a_file_over_max_file_mb_is_refused_with_its_size_and_the_setting(tmp_path):
    write(tmp_path, "events", "user_id,event_time,event_type\n" + "1,2026-03-01 10:00:00,page_view\n" * 40_000)
    size = (tmp_path / "events.csv").stat().st_size / 2**20
    with pytest.raises(SourceError) as raised:
        FolderSource(tmp_path, max_file_mb=1).read_table("events")
    assert str(raised.value) == (
        f"{tmp_path / 'events.csv'} is {size:,.1f} MB, over the limit of 1 MB for a file of the folder: "
        "split it, save it as Parquet, or raise max_file_mb in [connections.shop]."
    )
    assert FolderSource(tmp_path, max_file_mb=2).read_table("events").height == 40_000
    with pytest.raises(SourceError, match="over the limit of 1 MB"):
        source_from_settings({"folder": str(tmp_path), "max_file_mb": 1}).read_table("events")
    with pytest.raises(SourceError, match="max_file_mb must be a positive number of megabytes"):
        FolderSource(tmp_path, max_file_mb=0)


def test_null_ids_zoneless_and_future_times_and_duplicates_load_and_the_quality_report_counts_them(tmp_path):
    future = (datetime.now(UTC) + timedelta(days=400)).strftime("%Y-%m-%d %H:%M:%S")
    write(tmp_path, "orders", "order_id,user_id,created_at,amount,status\n1,7,2026-03-01 08:00:00,10.0,paid\n1,7,2026-03-01 08:00:00,10.0,paid\n,8,2026-03-02 09:00:00,\"12.50\",paid\n3,,"
          f"{future},5,paid\n")
    source = FolderSource(tmp_path)
    orders = source.read_table("orders")
    canonical("orders", orders)
    assert orders["amount"].to_list() == [10.0, 10.0, 12.5, 5.0]
    assert orders["created_at"][0] == datetime(2026, 3, 1, 8, 0, tzinfo=UTC)  # no zone: UTC, the mapping's default
    report = quality_report({"orders": orders}, now=datetime.now(UTC), raw={"orders": source.read_mapped("orders")})
    found = {(row["check"], row["column"]): row["count"] for row in report.iter_rows(named=True)}
    assert found == {
        ("nulls in a required column", "order_id"): 1,
        ("nulls in a required column", "user_id"): 1,
        ("duplicate ids", "order_id"): 1,
        ("timestamps in the future", "created_at"): 1,
        ("timestamps without a zone", "created_at"): 4,
    }
    zoned = FolderSource(tmp_path, mapping=parse_mapping({"time_zone": "Asia/Shanghai", "tables": {"orders": {"from": "orders"}}}, "shanghai.toml"))
    assert zoned.read_table("orders")["created_at"][0] == datetime(2026, 3, 1, 0, 0, tzinfo=UTC)  # 08:00 in Shanghai
    write(tmp_path, "orders", "order_id,user_id,created_at,amount,status\n1,7,2026-03-01 08:00:00,10.0,paid\n2,8,2026-03-02 09:00:00+08:00,1.0,paid\n")
    with pytest.raises(SourceError, match=r"column 'created_at': 1 value\(s\) cannot be read as a date and time, in row 2 \(for example '2026-03-02 09:00:00\+08:00'\)"):
        source.read_table("orders")  # a zone on some times and not others: which zone the others are in is a guess


# -- the last good extract --------------------------------------------------------------

GOOD_ORDERS = "order_id,user_id,created_at,amount,status\n1,7,2026-03-01 08:00:00,10.0,paid\n2,8,2026-03-02 09:00:00,20.0,completed\n"
BREAKAGES = {
    "amount as words": GOOD_ORDERS + "3,9,2026-03-03 10:00:00,twelve,paid\n",
    "a line too long": GOOD_ORDERS + "3,9,2026-03-03 10:00:00,5.0,paid,surplus\n",
    "open quote": GOOD_ORDERS + '3,9,"2026-03-03,5,paid\n',
    "empty file": "",
    "no amount column": "order_id,user_id,created_at,status\n1,7,2026-03-01 08:00:00,paid\n",
    "binary": "\x00\x01\x02\xff garbage",
    "over the size limit": GOOD_ORDERS + "3,9,2026-03-03 10:00:00,1.0,paid\n" * 40_000,
}


@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
@given(breakage=st.sampled_from(sorted(BREAKAGES)), times=st.integers(min_value=1, max_value=3))
def test_a_broken_file_never_replaces_the_last_good_extract(tmp_path_factory, breakage, times):
    folder, extract_folder = tmp_path_factory.mktemp("files"), tmp_path_factory.mktemp("extract")
    write(folder, "orders", GOOD_ORDERS)
    extract = ExtractSource(lambda: FolderSource(folder, max_file_mb=1), folder=extract_folder, ttl=timedelta(seconds=1))
    good = extract.refresh()
    expected = extract.read_table("orders")
    write(folder, "orders", BREAKAGES[breakage])
    for _ in range(times):
        with pytest.raises(SourceError, match="orders"):
            extract.refresh()
    assert extract.manifest() == good and (extract_folder / MANIFEST).is_file()
    assert extract.stale is not None and "orders" in extract.stale.reason
    assert_frame_equal(extract.read_table("orders"), expected)
    assert extract.current().generation == good.generation


# -- mappings -----------------------------------------------------------------------------

HOSTILE_NAMES = st.one_of(
    st.text(min_size=0, max_size=20),
    st.sampled_from([
        'orders"; DROP TABLE orders; --', "orders; DELETE FROM orders", "x` OR 1=1 --", "[orders]", "o'rders",
        "amount) FROM orders; DROP TABLE orders; --", "total", "id", "placed", "state", "\u0000", "*", "orders.amount",
        "sqlite_master", "main.orders", "1; ATTACH DATABASE '/tmp/x' AS x",
    ]),
)


@pytest.fixture(scope="module")
def platform_files(tmp_path_factory) -> tuple[Path, Path]:
    """A platform's orders as a CSV folder and as a SQLite file, both to read through mappings."""
    frame = pl.DataFrame({
        "id": [1, 2], "customer": [7, 8], "placed": ["2026-03-01 10:00:00", "2026-03-02 11:00:00"],
        "total": [10.0, 20.0], "state": ["complete", "canceled"],
    })
    folder = tmp_path_factory.mktemp("platform")
    frame.write_csv(folder / "shop_orders.csv")
    database = folder.parent / "platform.db"
    with sqlite3.connect(database) as connection:
        connection.execute("CREATE TABLE shop_orders (id INTEGER, customer INTEGER, placed TEXT, total REAL, state TEXT)")
        connection.executemany("INSERT INTO shop_orders VALUES (?, ?, ?, ?, ?)", frame.rows())
    return folder, database


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@FUZZ
@given(
    table_from=HOSTILE_NAMES, amount=HOSTILE_NAMES, where_column=HOSTILE_NAMES,
    where_value=st.one_of(st.text(max_size=12), st.integers(), st.floats(allow_nan=False)),
    status_key=HOSTILE_NAMES,
)
def test_a_mapping_with_hostile_names_reads_canonical_orders_or_says_what_is_wrong(platform_files, tmp_path_factory, table_from, amount, where_column, where_value, status_key):
    folder, database = platform_files
    mapping_data = {"tables": {"orders": {
        "from": table_from,
        "columns": {"order_id": "id", "user_id": "customer", "created_at": "placed", "amount": amount, "status": "state"},
        "where": {where_column: where_value},
        "values": {"status": {status_key: "completed"}},
    }}}
    files_before, database_before = snapshot(folder), _digest(database)
    copy = tmp_path_factory.mktemp("db") / "platform.db"
    shutil.copy(database, copy)
    try:
        mapping = parse_mapping(mapping_data, "hostile.toml")
    except SourceError as error:
        assert "hostile.toml" in str(error) and "[tables.orders]" in str(error)
        return
    for source in (FolderSource(folder, mapping=mapping), SqlSource(sqlite_url(copy), mapping=mapping)):
        try:
            canonical("orders", source.read_table("orders"))
        except SourceError as error:
            assert "'orders'" in str(error) or "mapped to orders" in str(error) or "hostile.toml" in str(error), str(error)
    assert snapshot(folder) == files_before and _digest(database) == database_before
    with sqlite3.connect(copy) as connection:
        assert connection.execute("SELECT name FROM sqlite_master").fetchall() == [("shop_orders",)]
        assert connection.execute("SELECT COUNT(*) FROM shop_orders").fetchone() == (2,)


SELECT_PIECES = st.sampled_from([
    "SELECT", "WITH", "x AS (", ")", "*", "id", "FROM", "shop_orders", "WHERE", "1=1", ";", "DROP TABLE shop_orders",
    "DELETE FROM shop_orders", "INSERT INTO shop_orders VALUES (9,9,'',0,'')", "--", "/*", "*/", "'", '"', "`", "$$",
    "UNION SELECT", "ATTACH DATABASE 'x' AS y", "PRAGMA writable_schema=1", "RETURNING *", "load_extension('x')",
    "\\", "\n", "id AS order_id, customer AS user_id, placed AS created_at, total AS amount, state AS status",
])


@FUZZ
@given(pieces=st.lists(SELECT_PIECES, min_size=1, max_size=12))
def test_a_mapping_query_only_ever_reads(platform_files, tmp_path_factory, pieces):
    folder, database = platform_files
    sql = " ".join(pieces)
    copy = tmp_path_factory.mktemp("db") / "platform.db"
    shutil.copy(database, copy)
    try:
        check_select(sql, "[tables.orders].query")
        mapping = parse_mapping({"tables": {"orders": {"query": sql}}}, "hostile.toml")
    except SourceError as error:
        assert "[tables.orders].query" in str(error)
        return
    for source in (FolderSource(folder, mapping=mapping), SqlSource(sqlite_url(copy), mapping=mapping)):
        try:
            canonical("orders", source.read_table("orders"))
        except SourceError:
            pass
    assert _digest(copy) == _digest(database)


def test_the_canonical_tables_keep_their_dtypes_through_a_folder(tmp_path):
    write(tmp_path, "orders", GOOD_ORDERS)
    orders = FolderSource(tmp_path).read_table("orders")
    assert orders.schema["created_at"] == UTC_DATETIME and orders.schema["status"] == pl.Categorical
