"""The report's files: a self-contained HTML page (interactive charts, plotly.js inlined so it
opens offline), a PDF (WeasyPrint, charts as SVG images drawn by kaleido) and an Excel
workbook of its tables (xlsxwriter, one sheet per table)."""

import atexit
import base64
import io
import re
from datetime import date
from pathlib import Path

import plotly.graph_objects as go
import plotly.io
import xlsxwriter
from plotly.offline import get_plotlyjs

from shop_analytics.reports.content import Report
from shop_analytics.reports.document import document
from shop_analytics.reports.tables import (
    CHANGE,
    DATE,
    HOURS,
    NUMBER,
    P_VALUE,
    TEXT,
    Z_SCORE,
    report_tables,
)
from shop_analytics.reports.wording import words

FORMATS = {"html": "text/html", "pdf": "application/pdf", "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
# The width a chart image is drawn at: an A4 page's text width at 96 dpi, a little less than
# the HTML page's, so the PDF's labels keep a readable size.
IMAGE_WIDTH = 720
_CHART_CONFIG = {"displaylogo": False, "responsive": True}
_SHEET_NAME_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")
_EXCEL_SHEET_NAME_LENGTH = 31


class ReportError(ValueError):
    """A report that cannot be written, with what to do about it."""


def render_html(report: Report) -> bytes:
    """The report as one HTML file: plotly.js inlined once in <head>, every chart an
    interactive Plotly div, no external script or style."""
    def chart(figure: go.Figure) -> str:
        markup = plotly.io.to_html(figure, include_plotlyjs=False, full_html=False, config=_CHART_CONFIG)
        return f'<div class="chart">{markup}</div>'

    head = f'<script type="text/javascript">{get_plotlyjs()}</script>'
    return document(report, chart, head=head).encode("utf-8")


_image_server_started = False


def _start_image_server() -> None:
    """Start kaleido's browser once per process: each image then takes about 0.1 s instead of
    a browser start (RECIPES: kaleido.start_sync_server)."""
    global _image_server_started
    if _image_server_started:
        return
    import kaleido

    kaleido.start_sync_server(silence_warnings=True)
    atexit.register(kaleido.stop_sync_server, silence_warnings=True)
    _image_server_started = True


def static_svg(figure: go.Figure) -> bytes:
    """The figure as an SVG image of IMAGE_WIDTH pixels across, drawn by kaleido's Chromium."""
    import kaleido
    from kaleido.errors import ChromeNotFoundError

    _start_image_server()
    height = figure.layout.height or 400
    try:
        return kaleido.calc_fig_sync(figure.to_dict(), opts={"format": "svg", "width": IMAGE_WIDTH, "height": height})
    except ChromeNotFoundError:
        raise ReportError(
            "PDF charts are drawn by Chromium, which was not found: install it (apt-get install chromium) "
            "or point BROWSER_PATH at one"
        ) from None


def render_pdf(report: Report) -> bytes:
    """The report as a PDF: the same document with each chart an SVG image, A4 pages
    numbered, text in the CJK font WenQuanYi Micro Hei."""
    from weasyprint import HTML

    def chart(figure: go.Figure) -> str:
        encoded = base64.b64encode(static_svg(figure)).decode("ascii")
        return f'<div class="chart"><img src="data:image/svg+xml;base64,{encoded}" alt=""></div>'

    return HTML(string=document(report, chart, for_print=True)).write_pdf()


def _sheet_name(title: str, taken: set[str]) -> str:
    name = _SHEET_NAME_FORBIDDEN.sub(" ", title)[:_EXCEL_SHEET_NAME_LENGTH]
    base, number = name, 2
    while name.lower() in taken:
        suffix = f" {number}"
        name, number = base[: _EXCEL_SHEET_NAME_LENGTH - len(suffix)] + suffix, number + 1
    taken.add(name.lower())
    return name


def render_xlsx(report: Report) -> bytes:
    """The report's tables as an Excel workbook, one sheet per table named by its title:
    labelled header row, then every value as a number in its unit's format (money with the
    currency, rates as percentages)."""
    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(buffer, {"in_memory": True})
    currency = report.settings.currency.replace('"', "")
    formats = {
        "money": workbook.add_format({"num_format": f'"{currency}"#,##0.00'}),
        "ratio": workbook.add_format({"num_format": "0.00%"}),
        CHANGE: workbook.add_format({"num_format": "+0.0%;-0.0%;0.0%"}),
        "count": workbook.add_format({"num_format": "#,##0"}),
        HOURS: workbook.add_format({"num_format": "0.0"}),
        NUMBER: workbook.add_format({"num_format": "#,##0.00"}),
        Z_SCORE: workbook.add_format({"num_format": "+0.0;-0.0;0.0"}),
        P_VALUE: workbook.add_format({"num_format": "0.000"}),
        DATE: workbook.add_format({"num_format": "yyyy-mm-dd"}),
    }
    header = workbook.add_format({"bold": True, "bg_color": "#F5F5F5", "bottom": 1})
    yes, no = words("units.yes", report.lang), words("units.no", report.lang)
    taken: set[str] = set()
    for table in report_tables(report).values():
        sheet = workbook.add_worksheet(_sheet_name(table.title, taken))
        columns = table.columns
        sheet.write_row(0, 0, [table.labels[column] for column in columns], header)
        for row in range(table.frame.height):
            for position, column in enumerate(columns):
                value, unit = table.frame[column][row], table.unit(row, column)
                if value is None:
                    sheet.write_blank(row + 1, position, None)
                elif isinstance(value, bool):
                    sheet.write_string(row + 1, position, yes if value else no)
                elif isinstance(value, date):
                    sheet.write_datetime(row + 1, position, value, formats[DATE])
                elif unit == TEXT or isinstance(value, str):
                    sheet.write_string(row + 1, position, str(value))
                else:
                    sheet.write_number(row + 1, position, value, formats.get(unit))
        sheet.freeze_panes(1, 0)
        sheet.autofit()
    workbook.close()
    return buffer.getvalue()


RENDERERS = {"html": render_html, "pdf": render_pdf, "xlsx": render_xlsx}


def file_name(report: Report, output_format: str) -> str:
    """report_week_2026-11-16_en.pdf: the period kind, its first day, the language."""
    return f"report_{report.period.kind}_{report.period.start}_{report.lang}.{output_format}"


def write_report(report: Report, output_format: str, folder: Path) -> Path:
    """Render the report in `output_format` into `folder` (made if absent); the file's path."""
    if output_format not in RENDERERS:
        raise ReportError(f"unknown report format {output_format!r}: use one of {', '.join(RENDERERS)}")
    content = RENDERERS[output_format](report)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / file_name(report, output_format)
        path.write_bytes(content)
    except OSError as error:
        raise ReportError(f"cannot write the report into {folder}: {error.strerror or error}") from None
    return path
