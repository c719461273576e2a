"""The command line: exported KPI tables equal the metric function's, bad input exits 2."""

import io
import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from metrics.kpis import daily_kpis
from shop_analytics.exports import EXPORTS

ROOT = Path(__file__).resolve().parents[1]
START, END = date(2026, 10, 1), date(2026, 10, 14)


def run_cli(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "cli.py", *arguments], cwd=ROOT, capture_output=True, timeout=300)


def printed(capsysbinary, *arguments: str) -> bytes:
    """What the command prints, run through its entry point in this process (the exports'
    own numbers; the tests of the process itself, its exit status and its one-line errors,
    run it as a process: an interpreter start is most of such a test's time)."""
    from shop_analytics.cli import main

    status = main(list(arguments))
    output = capsysbinary.readouterr()
    assert status == 0, output.err.decode()
    return output.out


@pytest.fixture(scope="module")
def expected(small_shop):
    shop = small_shop
    return daily_kpis(shop.events, shop.sessions, shop.orders, shop.users, start=START, end=END, tz="Asia/Shanghai")


def test_json_export_equals_the_metric_table(small_shop_db, expected):
    result = run_cli("export", "kpis", "--source", str(small_shop_db), "--from", str(START), "--to", str(END), "--format", "json")
    assert result.returncode == 0, result.stderr.decode()
    rows = json.loads(result.stdout)
    assert [row["date"] for row in rows] == [str(day) for day in expected["date"]]
    assert list(rows[0]) == expected.columns
    exported = pl.DataFrame(rows, schema=expected.schema | {"date": pl.String}, orient="row")
    assert_frame_equal(exported.with_columns(pl.col("date").str.to_date()), expected)
    assert expected["gmv"].sum() > 0 and expected["dau"].min() > 0


def test_csv_and_parquet_exports_hold_the_same_numbers(small_shop_db, expected, capsysbinary):
    common = ("export", "kpis", "--source", str(small_shop_db), "--from", str(START), "--to", str(END))
    csv = printed(capsysbinary, *common, "--format", "csv")
    assert_frame_equal(pl.read_csv(io.BytesIO(csv), try_parse_dates=True), expected, check_dtypes=False)
    parquet = printed(capsysbinary, *common, "--format", "parquet")
    assert_frame_equal(pl.read_parquet(io.BytesIO(parquet)), expected)


def test_another_time_zone_moves_the_day_boundaries(small_shop_db, small_shop, capsysbinary):
    output = printed(capsysbinary, "export", "kpis", "--source", str(small_shop_db), "--from", str(START), "--to", str(END), "--tz", "UTC",
                     "--format", "json")
    shop = small_shop
    in_utc = daily_kpis(shop.events, shop.sessions, shop.orders, shop.users, start=START, end=END, tz="UTC")
    assert [row["gmv"] for row in json.loads(output)] == pytest.approx(in_utc["gmv"].to_list())


def test_a_folder_of_parquet_tables_is_a_source(tmp_path, small_shop, expected, capsysbinary):
    derived_columns = {"events": ["session_id", "session_channel", "session_device"], "orders": ["device"]}
    for name, table in small_shop.tables.items():
        table.drop(derived_columns.get(name, [])).write_parquet(tmp_path / f"{name}.parquet")
    output = printed(capsysbinary, "export", "kpis", "--source", str(tmp_path), "--from", str(START), "--to", str(END), "--format", "json")
    assert [row["gmv"] for row in json.loads(output)] == pytest.approx(expected["gmv"].to_list())


@pytest.mark.parametrize(
    "arguments, message",
    [
        (("export", "kpis", "--from", "2026-02-30", "--to", "2026-03-01"), "'2026-02-30' is not a date"),
        (("export", "kpis", "--from", "2026-03-02", "--to", "2026-03-01"), "--from 2026-03-02 is after --to 2026-03-01"),
        (("export", "kpis", "--from", "2026-03-01", "--to", "2026-03-02", "--tz", "Asia/Shenzhen"), "unknown time zone 'Asia/Shenzhen'"),
        (("export", "kpis", "--from", "2026-03-01", "--to", "2026-03-02", "--source", "/no/such/shop"), "/no/such/shop is neither a database URL"),
        (("export", "kpis", "--from", "2026-03-01", "--to", "2026-03-02", "--format", "xlsx"), "invalid choice: 'xlsx'"),
        (("sample", "--users", "0"), "0 must be above zero"),
        (("export", "kpis", "--from", "2026-03-01", "--to", "2026-03-02", "--preset", "olist", "--mapping", "m.toml"), "give --mapping or --preset, not both"),
        (("export", "funnel", "--from", "2026-03-01", "--to", "2026-03-02", "--preset", "shopify", "--source", "tests/fixtures/shopify"), "funnel needs the events table(s)"),
        (("export", "retention", "--source", "{small shop}", "--period", "day", "--from", "2026-03-01", "--to", "2026-03-02"), "period must be one of week, month, not 'day'"),
    ],
)
def test_bad_arguments_get_one_line_and_status_2(arguments, message, small_shop_db):
    result = run_cli(*[str(small_shop_db) if argument == "{small shop}" else argument for argument in arguments])
    assert result.returncode == 2
    error = result.stderr.decode()
    assert error.count("\n") == 1 and message in error and "Traceback" not in error


@pytest.fixture(scope="module")
def configured(tmp_path_factory):
    """A configuration whose alert database holds a GMV target for the month of START, which
    `export targets` paces."""
    from shop_analytics.alerts.store import AlertStore
    from shop_analytics.config import load_config
    from shop_analytics.targets import TargetStore, checked_target

    folder = tmp_path_factory.mktemp("configured")
    secrets = folder / "secrets.toml"
    secrets.write_text(f'[alerts]\ndatabase = "{folder / "alerts.db"}"\n')
    TargetStore(AlertStore(folder / "alerts.db").engine).set(checked_target("gmv", "month", START, 50_000.0), set_by="test")
    return secrets, load_config(secrets)


@pytest.mark.parametrize("name", sorted(EXPORTS))
def test_every_export_prints_its_metric_frame_as_json(name, small_shop_db, small_shop, configured, capsysbinary):
    from shop_analytics.exports import ExportRequest

    secrets, config = configured
    output = printed(capsysbinary, "export", name, "--source", str(small_shop_db), "--from", str(START), "--to", str(END),
                     "--format", "json", "--secrets", str(secrets))
    frame = EXPORTS[name].build(small_shop, ExportRequest(START, END, "Asia/Shanghai", {}, config))
    assert frame.height > 0
    rows, expected_rows = json.loads(output), json.loads(frame.write_json())
    assert len(rows) == len(expected_rows)
    for got, want in zip(rows, expected_rows):
        # sums of floats may differ in the last bit between two processes (parallel order)
        assert got == {key: pytest.approx(value, rel=1e-12) if isinstance(value, float) else value for key, value in want.items()}


def test_a_preset_reads_a_platform_layout_from_the_command_line():
    """The Olist fixture's orders through the olist preset: two valid credit-card orders."""
    result = run_cli(
        "export", "payments", "--source", "tests/fixtures/olist", "--preset", "olist",
        "--from", "2017-01-01", "--to", "2018-12-31", "--tz", "America/Sao_Paulo", "--format", "json",
    )
    assert result.returncode == 0, result.stderr.decode()
    rows = json.loads(result.stdout)
    assert [(row["payment_method"], row["orders"], row["gmv"]) for row in rows] == [("credit_card", 2, pytest.approx(269.9))]
