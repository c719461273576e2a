"""The management report's charts: frames in, Plotly figures out, words in the report's
language. The HTML report draws them interactively, the PDF as static images."""

import plotly.graph_objects as go
import polars as pl
from plotly.subplots import make_subplots

from metrics.registry import KPIS
from shop_analytics.i18n import text

# A CJK font first, so that Chinese labels are drawn in the static images the PDF holds.
FONT = '"WenQuanYi Micro Hei", "Noto Sans CJK SC", "PingFang SC", "Microsoft YaHei", sans-serif'
GOOD, BAD, NEUTRAL = "#2e7d32", "#c62828", "#1565c0"
_TICK_FORMATS = {"ratio": ".1%", "money": ",.0f", "count": ",d"}
_LAYOUT = {"margin": {"l": 10, "r": 10, "t": 40, "b": 10}, "font": {"family": FONT, "size": 12}, "showlegend": False,
           "plot_bgcolor": "white", "paper_bgcolor": "white"}
_GRID = {"gridcolor": "#e0e0e0", "zerolinecolor": "#9e9e9e"}


def _words(key: str, lang: str, **values) -> str:
    return text(f"reports.charts.{key}", lang, **values)


def kpi_trends(daily: pl.DataFrame, names: tuple[str, ...], currency: str, lang: str) -> go.Figure:
    """Small multiples: each KPI of `names` per day of the period, two to a row."""
    rows = (len(names) + 1) // 2
    figure = make_subplots(rows=rows, cols=2, subplot_titles=[KPIS[name].label_in(lang) for name in names],
                           vertical_spacing=0.16, horizontal_spacing=0.1)
    days = daily["date"].to_list()
    for position, name in enumerate(names):
        kpi = KPIS[name]
        prefix = currency if kpi.unit == "money" else ""
        row, col = position // 2 + 1, position % 2 + 1
        trace = (go.Bar if kpi.unit != "ratio" else go.Scatter)(
            x=days, y=daily[name].to_list(), name=kpi.label_in(lang), marker_color=NEUTRAL,
            hovertemplate=f"%{{x|%Y-%m-%d}}<br>{kpi.label_in(lang)}: {prefix}%{{y:{_TICK_FORMATS[kpi.unit]}}}<extra></extra>",
        )
        figure.add_trace(trace, row=row, col=col)
        figure.update_yaxes(tickformat=_TICK_FORMATS[kpi.unit], tickprefix=prefix, rangemode="tozero", row=row, col=col, **_GRID)
        figure.update_xaxes(tickformat="%m-%d", row=row, col=col, **_GRID)
    figure.update_layout(**_LAYOUT, height=230 * rows + 40)
    return figure


def channel_targets(channels: pl.DataFrame, roi_target: float, cpc_target: float, currency: str, lang: str) -> go.Figure:
    """ROI and CPC per channel with ad spend, beside the ROI target (above it is good) and the
    CPC target (at or below it is good); a bar that misses its target is red."""
    paid = channels.filter(pl.col("roi").is_not_null() | pl.col("cpc").is_not_null()).sort("channel")
    names = paid["channel"].to_list()
    figure = make_subplots(rows=1, cols=2, subplot_titles=[
        _words("roi_title", lang, target=f"{roi_target:.0%}"), _words("cpc_title", lang, target=f"{currency}{cpc_target:g}")
    ], horizontal_spacing=0.12)
    roi, cpc = paid["roi"].to_list(), paid["cpc"].to_list()
    figure.add_bar(x=names, y=roi, marker_color=[BAD if value is not None and value < roi_target else GOOD for value in roi],
                   hovertemplate="%{x}: %{y:.1%}<extra></extra>", row=1, col=1)
    figure.add_bar(x=names, y=cpc, marker_color=[BAD if value is not None and value > cpc_target else GOOD for value in cpc],
                   hovertemplate=f"%{{x}}: {currency}%{{y:.2f}}<extra></extra>", row=1, col=2)
    figure.add_hline(y=roi_target, line_dash="dash", line_color=BAD, row=1, col=1)
    figure.add_hline(y=cpc_target, line_dash="dash", line_color=BAD, row=1, col=2)
    figure.update_yaxes(tickformat=".0%", row=1, col=1, **_GRID)
    figure.update_yaxes(tickprefix=currency, tickformat=".2f", rangemode="tozero", row=1, col=2, **_GRID)
    figure.update_layout(**_LAYOUT, height=300)
    return figure


def gmv_change_by_channel(channels: pl.DataFrame, currency: str, lang: str) -> go.Figure:
    """Each channel's GMV change against the previous period, as horizontal bars (green up,
    red down), largest change on top."""
    ordered = channels.sort(pl.col("gmv_change").abs())
    changes = ordered["gmv_change"].to_list()
    figure = go.Figure(go.Bar(
        x=changes, y=ordered["channel"].to_list(), orientation="h",
        marker_color=[GOOD if value >= 0 else BAD for value in changes],
        hovertemplate=f"%{{y}}: {currency}%{{x:,.2f}}<extra></extra>",
    ))
    figure.update_layout(**_LAYOUT, height=60 + 28 * max(ordered.height, 1), title=_words("gmv_change_title", lang),
                         xaxis={"tickprefix": currency, "tickformat": ",.0f", **_GRID}, yaxis={"automargin": True})
    return figure


def retention_heatmap(retention: pl.DataFrame, kind: str, lang: str) -> go.Figure:
    """Cohorts down, periods since the first across, colour and label = retention rate; a
    cell whose period has not ended yet is marked with *."""
    cohorts = retention["cohort"].unique().sort().to_list()
    offsets = list(range(int(retention["offset"].max() or 0) + 1)) if retention.height else []
    cells = {(row["cohort"], row["offset"]): row for row in retention.iter_rows(named=True)}
    rates, labels = [], []
    for cohort in cohorts:
        row_cells = [cells.get((cohort, offset)) for offset in offsets]
        rates.append([None if cell is None else cell["rate"] for cell in row_cells])
        labels.append(["" if cell is None or cell["rate"] is None else f"{cell['rate']:.0%}{'' if cell['complete'] else '*'}"
                       for cell in row_cells])
    sizes = {row["cohort"]: row["cohort_size"] for row in retention.filter(pl.col("offset") == 0).iter_rows(named=True)}
    figure = go.Figure(go.Heatmap(
        z=rates, x=offsets, y=[f"{cohort:%Y-%m-%d} ({sizes.get(cohort, 0):,})" for cohort in cohorts],
        text=labels, texttemplate="%{text}", colorscale="Blues", zmin=0, zmax=1, showscale=False,
        hovertemplate="%{y}<br>+%{x}: %{z:.1%}<extra></extra>",
    ))
    figure.update_layout(**_LAYOUT, height=max(240, 26 * len(cohorts) + 90), title=_words(f"retention_title_{kind}", lang),
                         xaxis={"title": _words(f"offset_{kind}", lang), "dtick": 1}, yaxis={"autorange": "reversed", "automargin": True})
    return figure


def ltv_lines(ltv: pl.DataFrame, currency: str, lang: str) -> go.Figure:
    """Cumulative GMV per cohort user by months since the first order, one line per cohort."""
    figure = go.Figure()
    for (cohort,), curve in ltv.sort("offset").group_by("cohort", maintain_order=True):
        figure.add_scatter(x=curve["offset"].to_list(), y=curve["ltv"].to_list(), mode="lines+markers", name=f"{cohort:%Y-%m}",
                           hovertemplate=f"{cohort:%Y-%m} +%{{x}}: {currency}%{{y:,.2f}}<extra></extra>")
    figure.update_layout(**{**_LAYOUT, "showlegend": True}, height=300, title=_words("ltv_title", lang),
                         xaxis={"title": _words("offset_month", lang), "dtick": 1, **_GRID},
                         yaxis={"tickprefix": currency, "tickformat": ",.0f", "rangemode": "tozero", **_GRID},
                         legend={"orientation": "h", "y": -0.25})
    return figure
