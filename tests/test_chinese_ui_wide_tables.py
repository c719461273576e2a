"""Issue 21: wide tables hid what matters. At 1440 px the channel table cut CPC, CAC, ROAS and
ROI (the columns with targets), Campaigns and Service likewise, and a phone showed 4-5
columns. The columns with targets now come right after the row's name, which is pinned, and a
table of many columns has narrow number columns; the downloads keep the same order."""

import io
import json

import openpyxl
import polars as pl
import pytest
from conftest import app_on_page

from shop_analytics.ui.tables import NARROW, excel_bytes, leading


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize(
    ("name", "leading_columns"),
    [
        ("channels", ["channel", "cpc", "cpc_above_target", "cac", "roas", "roi", "roi_below_target"]),
        ("campaigns", ["name", "cpc", "cpc_above_target", "roi", "roi_below_target", "roas", "spend", "budget_used", "gmv"]),
        ("service", ["category", "answered_within_promise_share", "first_response_hours_median", "tickets"]),
    ],
)
def test_the_columns_with_targets_follow_the_pinned_name(small_shop_db, name, leading_columns, lang):
    table = app_on_page(small_shop_db, name, lang).dataframe[0]
    assert list(table.value.columns)[: len(leading_columns)] == leading_columns
    columns = json.loads(table.proto.columns)
    assert columns[leading_columns[0]].get("pinned") is True
    if table.value.shape[1] > 10:
        numbers = [column for column in table.value.columns if str(table.value[column].dtype) in ("float64", "int64", "Int64", "Float64")]
        assert numbers and all(columns[column].get("width") == NARROW for column in numbers)


def test_leading_keeps_every_column_once_and_the_download_follows_it():
    frame = pl.DataFrame({"channel": ["email"], "sessions": [10], "gmv": [1.5], "cpc": [0.8], "roi": [0.1]})
    moved = leading(frame, ("cpc", "roi", "no_such_column"))
    assert moved.columns == ["channel", "cpc", "roi", "sessions", "gmv"]
    assert moved.row(0) == ("email", 0.8, 0.1, 10, 1.5)
    sheet = openpyxl.load_workbook(io.BytesIO(excel_bytes(moved, lang="zh"))).active
    assert [cell.value for cell in sheet[1]][:4] == ["渠道", "渠道（代码）", "单次点击成本 (CPC)", "投资回报率 (ROI)"]
