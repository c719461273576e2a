"""The report as one HTML document, shared by the HTML file and the PDF: the two differ only
in how a chart is embedded (its spec drawn by Plotly, interactive, or by matplotlib as an
image) and in the page CSS."""

from collections.abc import Callable
from datetime import datetime
from html import escape
from zoneinfo import ZoneInfo

import polars as pl

from shop_analytics.charts.report import (
    ChartSpec,
    channel_targets,
    gmv_change_by_channel,
    kpi_trends,
    ltv_lines,
    retention_heatmap,
)
from shop_analytics.reports.content import Report
from shop_analytics.reports.tables import CHANGE, ReportTable, cell_text, period_line, report_tables
from shop_analytics.reports.wording import days_span, money, share, words

TREND_KPIS = ("gmv", "orders", "dau", "conversion_rate")
NUMERIC_UNITS = {"money", "ratio", "count", "hours", "number", "z", "p", CHANGE}
# A CJK font first: WenQuanYi Micro Hei is installed with the project (.ci/run); the others
# are what a reader's own machine may have.
FONT_STACK = '"WenQuanYi Micro Hei", "Noto Sans CJK SC", "PingFang SC", "Microsoft YaHei", "Helvetica Neue", Arial, sans-serif'

STYLE = """
body { font-family: %(font)s; color: #212121; font-size: 10.5pt; line-height: 1.45; margin: 0 auto; max-width: 1100px; padding: 0 16px; }
h1 { font-size: 18pt; margin: 18px 0 4px; }
h2 { font-size: 13pt; margin: 22px 0 6px; padding-bottom: 3px; border-bottom: 2px solid #1565c0; break-after: avoid; }
h3 { font-size: 11pt; margin: 12px 0 4px; break-after: avoid; }
p.meta, p.caption { color: #616161; margin: 2px 0 6px; }
p.note { background: #fff8e1; border-left: 4px solid #f9a825; padding: 6px 10px; }
ul.highlights li { margin: 4px 0; }
table { border-collapse: collapse; width: 100%%; margin: 6px 0 10px; font-size: 9pt; }
th, td { border-bottom: 1px solid #e0e0e0; padding: 3px 6px; text-align: left; vertical-align: top; }
th { background: #f5f5f5; font-weight: bold; }
td.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
td.good { color: #2e7d32; } td.bad { color: #c62828; font-weight: bold; }
tr { break-inside: avoid; }
.chart { break-inside: avoid; margin: 4px 0 8px; }
.chart img { width: 100%%; }
"""
PRINT_STYLE = """
@page { size: A4; margin: 14mm 12mm 16mm; @bottom-center { content: counter(page) " / " counter(pages); font-family: %(font)s; font-size: 8pt; color: #757575; } }
body { max-width: none; padding: 0; font-size: 9.5pt; }
table { font-size: 8pt; }
"""


def _cell_class(table: ReportTable, row: int, column: str) -> str:
    """num for numbers; good or bad for a KPI's change, a channel's ROI or CPC against target
    and an alert's direction."""
    unit = table.unit(row, column)
    classes = ["num"] if unit in NUMERIC_UNITS else []
    value = table.frame[column][row]
    if unit == CHANGE and value and "_higher_is_better" in table.frame.columns:
        classes.append("good" if (value > 0) == table.frame["_higher_is_better"][row] else "bad")
    flags = {"roi": "roi_below_target", "cpc": "cpc_above_target", "direction": "bad"}
    if column in flags and flags[column] in table.frame.columns and table.frame[flags[column]][row]:
        classes.append("bad")
    return " ".join(classes)


def _table(table: ReportTable, report: Report) -> str:
    currency, lang = report.settings.currency, report.lang
    head = "".join(f"<th>{escape(table.labels[column])}</th>" for column in table.shown)
    rows = []
    for row in range(table.frame.height):
        cells = "".join(
            f'<td class="{_cell_class(table, row, column)}">'
            f"{escape(cell_text(table.frame[column][row], table.unit(row, column), lang, currency))}</td>"
            for column in table.shown
        )
        rows.append(f"<tr>{cells}</tr>")
    return f'<table class="{table.name}"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _vertical(table: ReportTable, report: Report) -> str:
    """A one-row table as label | value lines."""
    lines = "".join(
        f"<tr><th>{escape(table.labels[column])}</th><td class=\"num\">"
        f"{escape(cell_text(table.frame[column][0], table.unit(0, column), report.lang, report.settings.currency))}</td></tr>"
        for column in table.shown
    )
    return f'<table class="{table.name}">{lines}</table>'


def _words_by_band(table: ReportTable, report: Report) -> str:
    lines = []
    for (band,), words_of_band in table.frame.group_by("group", maintain_order=True):
        listed = words("list_separator", report.lang).join(
            words("named_value", report.lang, name=row["word"], value=row["count"]) for row in words_of_band.iter_rows(named=True)
        )
        lines.append(f"<tr><th>{escape(band)}</th><td>{escape(listed)}</td></tr>")
    return f'<table class="words">{"".join(lines)}</table>'


def _section(key: str, lang: str, *parts: str) -> str:
    return f'<section id="{key}"><h2>{escape(words(f"sections.{key}", lang))}</h2>{"".join(parts)}</section>'


def _caption(text: str) -> str:
    return f'<p class="caption">{escape(text)}</p>'


def document(report: Report, chart: Callable[[ChartSpec], str], *, head: str = "", for_print: bool = False) -> str:
    """The whole report as HTML; `chart` turns a chart's spec into the markup that embeds it and
    `head` goes into <head> (the HTML file's inlined plotly.js)."""
    lang, settings, period = report.lang, report.settings, report.period
    currency = settings.currency
    tables = report_tables(report)
    title = words(f"title_{period.kind}", lang, span=days_span(period.start, period.end, lang))
    generated = datetime.now(ZoneInfo(period.tz))
    meta = words("meta", lang, tz=period.tz, source=report.source, generated=f"{generated:%Y-%m-%d %H:%M}")
    note = "" if period.cut is None else f'<p class="note">{escape(words("in_progress", lang, cut=f"{period.cut:%Y-%m-%d %H:%M}"))}</p>'
    highlights = "".join(f"<li>{escape(sentence)}</li>" for sentence in report.highlights)

    channel_table = tables["channels"]
    channel_parts = [_caption(words("targets", lang, roi=f"{settings.roi_target:.0%}", cpc=f"{currency}{settings.cpc_target:g}"))]
    if report.has_ad_spend and channel_table.frame.filter(pl.col("roi").is_not_null() | pl.col("cpc").is_not_null()).height:
        channel_parts.append(chart(channel_targets(channel_table.frame, settings.roi_target, settings.cpc_target, currency, lang)))
    elif not report.has_ad_spend:
        channel_parts.append(_caption(words("no_ad_spend", lang)))
    channel_parts += [chart(gmv_change_by_channel(channel_table.frame, currency, lang)), _table(channel_table, report)]

    if "campaigns" in tables:
        lead = "campaigns_in_period" if report.campaigns_in_period else "campaigns_latest"
        campaign_parts = [_caption(words(lead, lang, confidence=f"{report.confidence:.0%}")), _table(tables["campaigns"], report)]
    else:
        campaign_parts = [_caption(words("no_campaigns", lang))]

    cohort_parts = [chart(retention_heatmap(report.retention, period.kind, lang, currency)), _caption(words("incomplete_cells", lang))]
    if report.ltv.height:
        cohort_parts.append(chart(ltv_lines(report.ltv, currency, lang)))
    if report.predicted_ltv is not None:
        predicted = report.predicted_ltv
        cohort_parts.append(_caption(words(
            "predicted_ltv", lang, end=predicted["calibration_end"], customers=f"{predicted['customers']:,}",
            days=predicted["horizon_days"], value=money(predicted["expected_value"], lang, currency),
            mean=money(predicted["mean_expected_value"], lang, currency), alive=share(predicted["mean_p_alive"], lang),
        )))

    service_parts = [_vertical(tables["service"], report)] if "service" in tables else [_caption(words("no_tickets", lang))]
    if "words" in tables:
        service_parts += [f"<h3>{escape(tables['words'].title)}</h3>", _words_by_band(tables["words"], report)]
    else:
        service_parts.append(_caption(words("no_reviews", lang)))

    alert_parts = [_table(tables["alerts"], report)] if report.alerts.height else [_caption(words("highlights.no_alerts", lang))]

    body = "".join((
        f"<header><h1>{escape(title)}</h1><p class=\"meta\">{escape(meta)} {escape(words('footer', lang))}</p>{note}</header>",
        _section("highlights", lang, f'<ul class="highlights">{highlights}</ul>'),
        _section("kpis", lang, _caption(period_line(report)), _table(tables["kpis"], report)),
        _section("trends", lang, chart(kpi_trends(report.daily, TREND_KPIS, currency, lang))),
        _section("channels", lang, *channel_parts),
        _section("campaigns", lang, *campaign_parts),
        _section("cohorts", lang, *cohort_parts),
        _section("service", lang, *service_parts),
        _section("alerts", lang, *alert_parts),
    ))
    style = STYLE + (PRINT_STYLE if for_print else "")
    return (
        f'<!DOCTYPE html><html lang="{"zh-CN" if lang == "zh" else "en"}"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{escape(title)}</title>'
        f"<style>{style % {'font': FONT_STACK}}</style>{head}</head><body>{body}</body></html>"
    )
