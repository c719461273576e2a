"""Issue 21: downloads a Chinese team can open. CSVs carry a UTF-8 byte-order mark (Excel then
reads Chinese right), headers in the page's language with each translated column's raw code
kept beside it; Excel files format numbers by their unit (money with two decimals and the
currency, ratios as percentages, counts as whole numbers, ids plain); every download's times
are in the business zone (the funnel's drop-off list was in UTC)."""

import csv
import io
from datetime import UTC, date, datetime

import openpyxl
import polars as pl

from metrics.funnel import drop_offs
from metrics.funnel_spec import FunnelSpec
from shop_analytics.ui.tables import CSV_BOM, csv_bytes, excel_bytes

TZ = "Asia/Shanghai"
ORDERS = pl.DataFrame(
    {
        "order_id": [100234, 100235],
        "channel": ["paid_search", "direct"],
        "name": ["保温杯 500ml", "Wool scarf"],
        "gmv": [215_929.5, 12.0],
        "bounce_rate": [0.3, 0.125],
        "orders": [1_204, 3],
        "date": [date(2026, 11, 21), date(2026, 11, 22)],
        "created_at": [datetime(2026, 11, 21, 17, 30, tzinfo=UTC), datetime(2026, 11, 22, 3, 0, tzinfo=UTC)],
    }
)

# a page's own words for a column (st.column_config labels), as download_buttons passes them
PAGE_LABELS = {"created_at": "下单时间"}


def rows_of(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


def test_a_chinese_csv_has_a_bom_chinese_headers_words_and_the_raw_codes():
    chinese = csv_bytes(ORDERS, lang="zh", tz=TZ, labels=PAGE_LABELS)
    assert chinese.startswith(CSV_BOM) and not chinese.startswith(CSV_BOM * 2)
    header, first, second = rows_of(chinese)
    assert header == ["订单号", "渠道", "渠道（代码）", "名称", "GMV", "跳出率", "订单数", "日期", "下单时间 (Asia/Shanghai)"]
    assert first == ["100234", "付费搜索", "paid_search", "保温杯 500ml", "215929.5", "0.3", "1204", "2026-11-21", "2026-11-22 01:30:00"]
    assert second[1:3] == ["直接访问", "direct"] and second[-1] == "2026-11-22 11:00:00"
    english = csv_bytes(ORDERS, lang="en", tz=TZ, labels={"created_at": "Created"})
    assert english != chinese
    assert rows_of(english)[0][:3] == ["Order id", "Channel", "Channel (code)"]
    assert rows_of(english)[1][1:3] == ["paid search", "paid_search"]


def test_excel_numbers_are_formatted_by_their_unit_and_keep_their_value():
    book = openpyxl.load_workbook(io.BytesIO(excel_bytes(ORDERS, lang="zh", tz=TZ, labels=PAGE_LABELS, currency="¥")))
    sheet = book.active
    header = [cell.value for cell in sheet[1]]
    cells = dict(zip(header, sheet[2]))
    assert cells["GMV"].value == 215_929.5 and cells["GMV"].number_format == '"¥"#,##0.00;-"¥"#,##0.00'
    assert cells["跳出率"].value == 0.3 and cells["跳出率"].number_format == "0.00%"
    assert cells["订单数"].value == 1_204 and cells["订单数"].number_format == "#,##0"
    assert cells["订单号"].value == 100234 and cells["订单号"].number_format == "0"
    assert cells["日期"].number_format == "yyyy-mm-dd"
    assert cells["渠道"].value == "付费搜索" and cells["渠道（代码）"].value == "paid_search"
    created = cells["下单时间 (Asia/Shanghai)"]
    assert created.value == datetime(2026, 11, 22, 1, 30) and created.number_format == "yyyy-mm-dd hh:mm:ss"
    # no number is written with three decimals (215,929.500, 0.300)
    assert not any("0.000" in str(cell.number_format) for row in sheet.iter_rows() for cell in row)


def test_a_pages_own_headers_and_units_are_used():
    frame = pl.DataFrame({"budget": [5_000.0], "share_of_budget": [0.42], "word": ["好评"]})
    data = excel_bytes(frame, lang="zh", labels={"budget": "预算", "share_of_budget": "预算使用率"}, units={"budget": "money", "share_of_budget": "ratio"})
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    assert [cell.value for cell in sheet[1]] == ["预算", "预算使用率", "词语"]
    assert [cell.number_format for cell in sheet[2]][:2] == ['"¥"#,##0.00;-"¥"#,##0.00', "0.00%"]


def test_the_funnels_drop_off_list_is_downloaded_in_the_business_zone(small_shop):
    start, end = small_shop.date_span(TZ)[1].replace(day=1), small_shop.date_span(TZ)[1]
    dropped = drop_offs(small_shop.events, FunnelSpec(steps=("product_view", "add_to_cart", "purchase")), start=start, end=end, tz=TZ)
    assert dropped.height > 0 and dropped.schema["entry_time"].time_zone == "UTC"
    header, *rows = rows_of(csv_bytes(dropped.head(50), lang="zh", tz=TZ))
    assert header[:4] == ["步骤", "用户 ID", "进入时间 (Asia/Shanghai)", "到达该步时间 (Asia/Shanghai)"]
    local = dropped.head(50).with_columns(pl.col("entry_time", "reached_at").dt.convert_time_zone(TZ).dt.strftime("%Y-%m-%d %H:%M:%S"))
    assert [row[2] for row in rows] == local["entry_time"].to_list()
    assert [row[3] for row in rows] == local["reached_at"].to_list()
    # every entry was in the period's business days
    assert all(str(start) <= row[2][:10] <= str(end) for row in rows)
