"""The report as one HTML document, shared by the HTML file and the PDF: the two differ only
in how a chart is embedded (its spec drawn by Plotly, interactive, or by matplotlib as an
image) and in the page CSS."""

from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

import polars as pl
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from metrics.registry import KPIS, basis_words
from shop_analytics.charts.report import (
    ChartSpec,
    channel_targets,
    gmv_change_by_channel,
    kpi_trends,
    ltv_lines,
    retention_heatmap,
)
from shop_analytics.i18n import text
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


def _table(table: ReportTable, report: Report) -> dict:
    currency, lang = report.settings.currency, report.lang
    rows = [
        [
            {"css": _cell_class(table, row, column), "text": cell_text(table.frame[column][row], table.unit(row, column), lang, currency)}
            for column in table.shown
        ]
        for row in range(table.frame.height)
    ]
    return {"kind": "table", "table": {"name": table.name, "head": [table.labels[column] for column in table.shown], "rows": rows}}


def _vertical(table: ReportTable, report: Report) -> dict:
    """A one-row table as label | value lines."""
    lines = [
        {"label": table.labels[column], "text": cell_text(table.frame[column][0], table.unit(0, column), report.lang, report.settings.currency)}
        for column in table.shown
    ]
    return {"kind": "vertical", "table": {"name": table.name, "lines": lines}}


def _words_by_band(table: ReportTable, report: Report) -> dict:
    bands = []
    for (band,), words_of_band in table.frame.group_by("group", maintain_order=True):
        listed = words("list_separator", report.lang).join(
            words("named_value", report.lang, name=row["word"], value=row["count"]) for row in words_of_band.iter_rows(named=True)
        )
        bands.append({"label": band, "text": listed})
    return {"kind": "bands", "bands": bands}


def _section(key: str, lang: str, *parts: dict) -> dict:
    return {"key": key, "title": words(f"sections.{key}", lang), "parts": list(parts)}


def _caption(text: str) -> dict:
    return {"kind": "caption", "text": text}


def _chart(markup: str) -> dict:
    """A chart's markup (a Plotly div or an embedded image), made by our own renderer: the one
    part of the document that is not escaped."""
    return {"kind": "chart", "markup": Markup(markup)}


def _basis_note(report: Report) -> list[dict]:
    """Under a GMV basis other than valid orders, a line naming it above the numbers (SPEC,
    Definitions: numbers under a non-default basis are labelled with it)."""
    settings = report.settings
    if settings.basis.is_default:
        return []
    return [_caption(text("definitions.non_default", report.lang, basis=basis_words(settings.gmv_basis, report.lang)))]


def _operations_sections(report: Report, tables: dict[str, ReportTable]) -> dict[str, list[dict]]:
    """The sections of issue 19 (SPEC section 3): the targets' pace, the GMV decomposition
    against the previous period, new and repeat orders with repurchase; each empty when the
    report has no such numbers."""
    lang, currency = report.lang, report.settings.currency
    sections: dict[str, list[dict]] = {"targets": [], "decomposition": [], "repeat": []}
    if "targets" in tables:
        sections["targets"] = [_section("targets", lang, _caption(words("targets_caption", lang, margin=f"{report.settings.target_margin:.0%}")),
                                        _table(tables["targets"], report))]
    decomposition = report.decomposition
    if decomposition is not None and "decomposition" in tables:
        previous_start, previous_end = decomposition["comparison_period"]
        uv_value = decomposition["current"]["uv_value"][0]
        parts = [
            _caption(words("decomposition_caption", lang, span=days_span(previous_start, previous_end, lang), uv_value=money(uv_value, lang, currency))),
            _table(tables["decomposition"], report),
        ]
        reason = decomposition["parts"]["empty_reason"][0]
        if reason is not None:
            factor, period = reason.rsplit("_zero_", 1)
            parts.append(_caption(words("decomposition_empty", lang, factor=KPIS[factor].label_in(lang), period=words(f"decomposition_{period}", lang))))
        for name in ("decomposition_channels", "decomposition_categories"):
            if name in tables:
                parts += [{"kind": "heading", "text": tables[name].title}, _table(tables[name], report)]
        sections["decomposition"] = [_section("decomposition", lang, *parts)]
    if "new_and_repeat" in tables:
        sections["repeat"] = [_section(
            "repeat", lang, _table(tables["new_and_repeat"], report), _caption(words("repurchase_caption", lang)), _table(tables["repurchase"], report),
        )]
    return sections


_TEMPLATES = Environment(
    loader=PackageLoader("shop_analytics.reports", "templates"),
    autoescape=select_autoescape(enabled_extensions=("html", "j2"), default_for_string=True),
    undefined=StrictUndefined,
)


def document(report: Report, chart: Callable[[ChartSpec], str], *, head: str = "", for_print: bool = False) -> str:
    """The whole report as HTML, from the Jinja2 template templates/report.html.j2 (every text
    escaped); `chart` turns a chart's spec into the markup that embeds it and `head` goes into
    <head> (the HTML file's inlined plotly.js)."""
    lang, settings, period = report.lang, report.settings, report.period
    currency = settings.currency
    tables = report_tables(report)
    title = words(f"title_{period.kind}", lang, span=days_span(period.start, period.end, lang))
    generated = datetime.now(ZoneInfo(period.tz))
    meta = words("meta", lang, tz=period.tz, source=report.source, generated=f"{generated:%Y-%m-%d %H:%M}")
    note = None if period.cut is None else words("in_progress", lang, cut=f"{period.cut:%Y-%m-%d %H:%M}")

    channel_table = tables["channels"]
    channel_parts = [_caption(words("targets", lang, roi=f"{settings.roi_target:.0%}", cpc=f"{currency}{settings.cpc_target:g}"))]
    if report.has_ad_spend and channel_table.frame.filter(pl.col("roi").is_not_null() | pl.col("cpc").is_not_null()).height:
        channel_parts.append(_chart(chart(channel_targets(channel_table.frame, settings.roi_target, settings.cpc_target, currency, lang))))
    elif not report.has_ad_spend:
        channel_parts.append(_caption(words("no_ad_spend", lang)))
    channel_parts += [_chart(chart(gmv_change_by_channel(channel_table.frame, currency, lang))), _table(channel_table, report)]

    if "campaigns" in tables:
        lead = "campaigns_in_period" if report.campaigns_in_period else "campaigns_latest"
        campaign_parts = [_caption(words(lead, lang, confidence=f"{report.confidence:.0%}")), _table(tables["campaigns"], report)]
    else:
        campaign_parts = [_caption(words("no_campaigns", lang))]

    cohort_parts = [_chart(chart(retention_heatmap(report.retention, period.kind, lang, currency))), _caption(words("incomplete_cells", lang))]
    if report.ltv.height:
        cohort_parts.append(_chart(chart(ltv_lines(report.ltv, currency, lang))))
    if report.predicted_ltv is not None:
        predicted = report.predicted_ltv
        cohort_parts.append(_caption(words(
            "predicted_ltv", lang, end=predicted["calibration_end"], customers=f"{predicted['customers']:,}",
            days=predicted["horizon_days"], value=money(predicted["expected_value"], lang, currency),
            mean=money(predicted["mean_expected_value"], lang, currency), alive=share(predicted["mean_p_alive"], lang),
        )))

    service_parts = [_vertical(tables["service"], report)] if "service" in tables else [_caption(words("no_tickets", lang))]
    if "words" in tables:
        service_parts += [{"kind": "heading", "text": tables["words"].title}, _words_by_band(tables["words"], report)]
    else:
        service_parts.append(_caption(words("no_reviews", lang)))

    alert_parts = [_table(tables["alerts"], report)] if report.alerts.height else [_caption(words("highlights.no_alerts", lang))]
    operations = _operations_sections(report, tables)

    sections = [
        _section("highlights", lang, {"kind": "highlights", "sentences": list(report.highlights)}),
        _section("kpis", lang, _caption(period_line(report)), *_basis_note(report), _table(tables["kpis"], report)),
        *operations["targets"],
        _section("trends", lang, _chart(chart(kpi_trends(report.daily, TREND_KPIS, currency, lang)))),
        _section("channels", lang, *channel_parts),
        *operations["decomposition"],
        *operations["repeat"],
        _section("campaigns", lang, *campaign_parts),
        _section("cohorts", lang, *cohort_parts),
        _section("service", lang, *service_parts),
        _section("alerts", lang, *alert_parts),
        _section("definitions", lang, _caption(words("definitions_caption", lang)), _table(tables["definitions"], report)),
    ]
    style = (STYLE + (PRINT_STYLE if for_print else "")) % {"font": FONT_STACK}
    return _TEMPLATES.get_template("report.html.j2").render(
        html_lang="zh-CN" if lang == "zh" else "en", title=title, meta=meta, footer=words("footer", lang), note=note,
        sections=sections, style=Markup(style), head=Markup(head),
    )
