"""`cli.py export ltv | segments | forecast`: the printed numbers are the models' own."""

import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from models.features import purchase_summary, valid_order_days
from models.ltv import ltv_analysis
from shop_analytics.exports import DOCUMENTS, EXPORTS, DocumentRequest, ExportRequest

ROOT = Path(__file__).resolve().parents[1]
TZ = "Asia/Shanghai"


def run_cli(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "cli.py", *arguments], cwd=ROOT, capture_output=True, timeout=300)


def test_ltv_export_prints_the_fitted_models_holdout_and_customers(small_shop_db, small_shop):
    result = run_cli(
        "export", "ltv", "--source", str(small_shop_db), "--calibration-end", "2026-07-31",
        "--holdout-end", "2026-11-22", "--horizon-days", "180", "--format", "json",
    )
    assert result.returncode == 0, result.stderr.decode()
    printed = json.loads(result.stdout)
    assert list(printed) == ["calibration_end", "holdout_end", "horizon_days", "time_unit", "bgnbd", "gamma_gamma", "holdout", "customers"]
    analysis = ltv_analysis(small_shop.orders, calibration_end=date(2026, 7, 31), holdout_end=date(2026, 11, 22), tz=TZ, horizon_days=180)
    assert printed["bgnbd"] == pytest.approx({**analysis.bgnbd.params_, "loglik": analysis.bgnbd.loglik_}, rel=1e-9)
    assert printed["gamma_gamma"] == pytest.approx({**analysis.gamma_gamma.params_, "loglik": analysis.gamma_gamma.loglik_}, rel=1e-9)
    summary = purchase_summary(small_shop.orders, calibration_end=date(2026, 7, 31), holdout_end=date(2026, 11, 22), tz=TZ)
    holdout = printed["holdout"]
    assert holdout["actual_repeat_purchases"] == summary["holdout_frequency"].sum()
    assert holdout["weeks"] == pytest.approx((date(2026, 11, 22) - date(2026, 7, 31)).days / 7)
    assert sum(group["customers"] for group in holdout["by_frequency"]) == summary.height
    customers = printed["customers"]
    assert [row["user_id"] for row in customers] == summary["user_id"].to_list()
    assert list(customers[0]) == ["user_id", "frequency", "recency", "T", "expected_purchases", "p_alive", "expected_value"]
    assert [row["frequency"] for row in customers] == summary["frequency"].to_list()
    assert [row["expected_value"] for row in customers] == pytest.approx(analysis.customers["expected_value"].to_list(), rel=1e-9)


def test_ltv_without_a_holdout_end_checks_up_to_the_data_and_needs_no_period(small_shop):
    document = DOCUMENTS["ltv"].build(small_shop, DocumentRequest(TZ, {"calibration_end": date(2026, 7, 31)}))
    last_day = small_shop.date_span(TZ)[1]
    assert document["holdout_end"] == last_day.isoformat() and document["horizon_days"] == 365
    at_the_end = DOCUMENTS["ltv"].build(small_shop, DocumentRequest(TZ, {"calibration_end": last_day}))
    assert at_the_end["holdout"] is None


@pytest.mark.parametrize(
    "arguments, message",
    [
        (("export", "ltv", "--format", "json"), "export ltv needs --calibration-end"),
        (("export", "ltv", "--calibration-end", "2026-07-31"), "export ltv prints one JSON object: use --format json"),
        (("export", "ltv", "--calibration-end", "2026-07-31", "--horizon-days", "0", "--format", "json"), "0 must be above zero"),
        (("export", "ltv", "--calibration-end", "2026-07-31", "--holdout-end", "2026-07-01", "--format", "json"), "must come after the calibration end"),
        (("export", "segments", "--format", "json"), "export segments needs --from and --to"),
    ],
)
def test_bad_model_arguments_get_one_line_and_status_2(arguments, message, small_shop_db, capsys):
    from shop_analytics.cli import main

    with pytest.raises(SystemExit) as exit:
        main([*arguments, "--source", str(small_shop_db)])
    assert exit.value.code == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and message in error


def test_segment_and_forecast_exports_are_the_model_tables(small_shop):
    request = ExportRequest(date(2026, 10, 1), date(2026, 10, 14), TZ, {})
    segments = EXPORTS["segments"].build(small_shop, request)
    # every customer with a valid order up to --to is in exactly one segment
    valid = valid_order_days(small_shop.orders, TZ)
    assert segments["customers"].sum() == valid.filter(pl.col("day") <= date(2026, 10, 14))["user_id"].n_unique()
    assert segments["customer_share"].sum() == pytest.approx(1.0)
    forecast = EXPORTS["forecast"].build(small_shop, request)
    # the last whole week up to 14 Oct 2026 (a Wednesday) ends on Sunday 11 Oct
    assert forecast["week"].min() == date(2026, 10, 12) and forecast["week"].n_unique() == 8
    assert set(forecast["category"]) <= set(small_shop.products["category"].cast(str))
