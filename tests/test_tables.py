"""Table downloads: the Excel file holds the same table the page shows."""

import io
from datetime import UTC, date, datetime

import polars as pl
from polars.testing import assert_frame_equal

from shop_analytics.ui.tables import excel_bytes


def test_excel_bytes_read_back_to_the_same_frame():
    frame = pl.DataFrame(
        {
            "channel": ["email", "social", "直播"],
            "orders": [3, 0, 12],
            "gmv": [129.5, 0.0, 2048.25],
            "roi": [0.125, None, -0.5],
            "date": [date(2026, 11, 1), date(2026, 11, 2), date(2026, 11, 11)],
        }
    )
    workbook = excel_bytes(frame)
    assert workbook[:2] == b"PK"  # an .xlsx is a zip archive
    read = pl.read_excel(io.BytesIO(workbook), engine="openpyxl")
    # headers in words, each channel's raw value kept beside its words
    assert read.columns == ["Channel", "Channel (code)", "Orders", "GMV", "ROI", "Date"]
    assert_frame_equal(read.drop("Channel (code)"), frame.rename(dict(zip(frame.columns, ["Channel", "Orders", "GMV", "ROI", "Date"]))), check_dtypes=False)
    assert read["Channel (code)"].to_list() == frame["channel"].to_list()


def test_times_with_a_zone_are_written_as_their_utc_wall_time():
    moments = [datetime(2026, 11, 11, 0, 30, tzinfo=UTC), datetime(2026, 11, 11, 23, 59, 59, tzinfo=UTC)]
    frame = pl.DataFrame({"order_id": [1, 2], "created_at": moments})
    read = pl.read_excel(io.BytesIO(excel_bytes(frame)), engine="openpyxl")
    assert read["Order id"].to_list() == [1, 2]
    assert read["created at (UTC)"].to_list() == [moment.replace(tzinfo=None) for moment in moments]
