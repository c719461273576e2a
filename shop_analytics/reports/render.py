"""The report's files: a self-contained HTML page (interactive Plotly charts, plotly.js inlined
so it opens offline), a PDF (WeasyPrint, each chart a PNG image drawn by matplotlib from the
same chart spec, so no browser is needed) and an Excel workbook of its tables (xlsxwriter,
one sheet per table).

Nothing here waits on anything outside the process: the PDF's images are drawn in it, and
WeasyPrint is given a fetcher that serves the document's own data: URLs and refuses any
other scheme, so a stray link can never make it wait on the network.
"""

import base64
import io
import logging
import os
import re
from datetime import date
from pathlib import Path

import plotly.io
import xlsxwriter
from plotly.offline import get_plotlyjs

from shop_analytics.charts.report import ChartSpec, plotly_figure
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
_CHART_CONFIG = {"displaylogo": False, "responsive": True}
_SHEET_NAME_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")
_EXCEL_SHEET_NAME_LENGTH = 31
DATA_ONLY_TIMEOUT = 5  # seconds; data: URLs are read from the document itself

logger = logging.getLogger(__name__)


class ReportError(ValueError):
    """A report that cannot be written, with what to do about it."""


def render_html(report: Report) -> bytes:
    """The report as one HTML file: plotly.js inlined once in <head>, every chart an
    interactive Plotly div, no external script or style."""
    def chart(spec: ChartSpec) -> str:
        markup = plotly.io.to_html(plotly_figure(spec), include_plotlyjs=False, full_html=False, config=_CHART_CONFIG)
        return f'<div class="chart">{markup}</div>'

    head = f'<script type="text/javascript">{get_plotlyjs()}</script>'
    return document(report, chart, head=head).encode("utf-8")


def pdf_font_notice(report: Report, specs: list[ChartSpec]) -> str | None:
    """The line that says which font package to install, when the report has Chinese text and
    the machine has no CJK font; None when the PDF's text can be drawn."""
    from shop_analytics.charts.static import MISSING_FONT, cjk_font, missing_font_notice

    if report.lang == "zh" and cjk_font() is None:
        return MISSING_FONT
    return missing_font_notice(specs)


def render_pdf(report: Report) -> bytes:
    """The report as a PDF: the same document with each chart a PNG image drawn by
    matplotlib, A4 pages numbered, text in a CJK font when the machine has one (else the
    PDF is still written and the missing font is logged in one line)."""
    from weasyprint import HTML
    from weasyprint.urls import URLFetcher

    from shop_analytics.charts.static import png

    specs: list[ChartSpec] = []

    def chart(spec: ChartSpec) -> str:
        specs.append(spec)
        encoded = base64.b64encode(png(spec)).decode("ascii")
        return f'<div class="chart"><img src="data:image/png;base64,{encoded}" alt=""></div>'

    markup = document(report, chart, for_print=True)
    notice = pdf_font_notice(report, specs)
    if notice:
        logger.warning(notice)
    return HTML(string=markup, url_fetcher=URLFetcher(allowed_protocols={"data"}, timeout=DATA_ONLY_TIMEOUT)).write_pdf()


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
        "multiple": workbook.add_format({"num_format": '#,##0.00"×"'}),
        "score": workbook.add_format({"num_format": "0.00"}),
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
    """Render the report in `output_format` into `folder` (made if absent); the file's path.
    The file is readable by its owner only, whatever the umask: a report holds the shop's
    numbers."""
    if output_format not in RENDERERS:
        raise ReportError(f"unknown report format {output_format!r}: use one of {', '.join(RENDERERS)}")
    content = RENDERERS[output_format](report)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / file_name(report, output_format)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(descriptor, 0o600)  # an older file of the same name keeps its mode otherwise
        with os.fdopen(descriptor, "wb") as file:
            file.write(content)
    except OSError as error:
        raise ReportError(f"cannot write the report into {folder}: {error.strerror or error}") from None
    return path
