"""The management report's charts, each defined once: a function from the report's frames to
a `ChartSpec` that says what the chart shows (its panels, series, colours, bar labels, and
each axis's unit and format), in the report's language. Two backends draw a spec: Plotly
here (`plotly_figure`) for the interactive HTML report, and matplotlib (`charts.static`) for
the PDF, which needs no browser.

Numbers on axes and bars are written by `value_text`, the one formatter both backends use:
money with the currency and thousands separators, ratios as percentages, counts whole.
"""

from dataclasses import dataclass
from datetime import date

import plotly.graph_objects as go
import polars as pl
from plotly.subplots import make_subplots

from metrics.registry import KPIS
from shop_analytics.i18n import text

GOOD, BAD, NEUTRAL = "#2e7d32", "#c62828", "#1565c0"
# Distinct colours for lines that stand side by side (one per cohort): Tableau 10's first
# eight, which stay apart for readers with the common colour-vision deficiencies.
PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7")
# A CJK font first, so that Chinese labels are drawn wherever the reader's machine has one.
FONT = '"WenQuanYi Micro Hei", "Noto Sans CJK SC", "PingFang SC", "Microsoft YaHei", sans-serif'
MONEY, RATIO, COUNT, DAY, CATEGORY, OFFSET = "money", "ratio", "count", "date", "category", "offset"
BAR, HBAR, LINE = "bar", "hbar", "line"


@dataclass(frozen=True)
class Axis:
    """An axis: what its values are (`unit`: money, ratio, count, date, category or offset, a
    whole number of periods), how many decimals its ticks show, its title, whether it starts
    at zero and whether it runs downwards (a heatmap's rows, first on top)."""

    unit: str
    decimals: int = 0
    title: str = ""
    from_zero: bool = False
    downwards: bool = False


@dataclass(frozen=True)
class Series:
    """One series of a panel: `style` bar, hbar (horizontal bars: `x` holds the values, `y`
    the categories) or line; a colour per point for bars, one for a line; `labels` the text
    written at each bar's end (empty: none)."""

    name: str
    x: tuple
    y: tuple
    style: str
    colors: tuple[str, ...]
    labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class Panel:
    """A plot area: its title, series, the category or time axis `x` and the value axis `y`
    (for hbar series, `x` is the value axis), a dashed target line on the value axis, and
    whether it has a legend."""

    title: str
    series: tuple[Series, ...]
    x: Axis
    y: Axis
    target: float | None = None
    legend: bool = False


@dataclass(frozen=True)
class Heatmap:
    """A grid of shares from 0 to 1: one row per `rows` label, one column per `columns`
    value, `values` (None: no cell) and the text in each cell."""

    title: str
    rows: tuple[str, ...]
    columns: tuple[int, ...]
    values: tuple[tuple[float | None, ...], ...]
    labels: tuple[tuple[str, ...], ...]
    x: Axis


@dataclass(frozen=True)
class ChartSpec:
    """A chart: its panels laid out `columns` to a row, its height in pixels at the HTML
    report's width, the currency its money is in, and its title above all panels."""

    name: str
    panels: tuple[Panel | Heatmap, ...]
    height: int
    currency: str
    columns: int = 1
    title: str = ""

    def words(self) -> list[str]:
        """Every text the chart draws (titles, names, labels), to check a font covers them."""
        found = [self.title]
        for panel in self.panels:
            found += [panel.title, panel.x.title]
            if isinstance(panel, Heatmap):
                found += [*panel.rows, *(label for row in panel.labels for label in row)]
            else:
                found += [panel.y.title]
                for series in panel.series:
                    found += [series.name, *series.labels, *(str(value) for value in (series.y if series.style == HBAR else series.x))]
        return [word for word in found if word]


def value_text(value: float | None, unit: str, currency: str, decimals: int = 0) -> str:
    """A number on an axis or a bar: ¥1,234, -¥56.20, 12%, 1,234; empty for None."""
    if value is None:
        return ""
    if unit == MONEY:
        return f"{'-' if value < 0 else ''}{currency}{abs(value):,.{decimals}f}"
    if unit == RATIO:
        return f"{value:.{decimals}%}"
    return f"{value:,.{decimals}f}"


def _words(key: str, lang: str, **values) -> str:
    return text(f"reports.charts.{key}", lang, **values)


# The specs ------------------------------------------------------------------------------------
def kpi_trends(daily: pl.DataFrame, names: tuple[str, ...], currency: str, lang: str) -> ChartSpec:
    """Small multiples: each KPI of `names` per day of the period, two to a row; money and
    counts as bars, rates as a line."""
    days = tuple(daily["date"].to_list())
    panels = []
    for name in names:
        kpi = KPIS[name]
        style = LINE if kpi.unit == RATIO else BAR
        values = tuple(daily[name].to_list())
        panels.append(Panel(
            kpi.label_in(lang), (Series(kpi.label_in(lang), days, values, style, (NEUTRAL,) * (1 if style == LINE else len(days))),),
            Axis(DAY), Axis(kpi.unit, decimals=1 if kpi.unit == RATIO else 0, from_zero=True),
        ))
    rows = (len(names) + 1) // 2
    return ChartSpec("trends", tuple(panels), height=230 * rows + 40, currency=currency, columns=2)


def channel_targets(channels: pl.DataFrame, roi_target: float, cpc_target: float, currency: str, lang: str) -> ChartSpec:
    """ROI and CPC per channel with ad spend (`channel` holds the names as the reader says
    them), beside the ROI target (above it is good) and the CPC target (at or below it is
    good); a bar that misses its target is red, each labelled with its value."""
    paid = channels.filter(pl.col("roi").is_not_null() | pl.col("cpc").is_not_null()).sort("channel")
    names = tuple(paid["channel"].to_list())
    roi, cpc = tuple(paid["roi"].to_list()), tuple(paid["cpc"].to_list())
    roi_panel = Panel(
        _words("roi_title", lang, target=value_text(roi_target, RATIO, currency)),
        (Series("ROI", names, roi, BAR, tuple(BAD if value is not None and value < roi_target else GOOD for value in roi),
                tuple(value_text(value, RATIO, currency) for value in roi)),),
        Axis(CATEGORY), Axis(RATIO, from_zero=True), target=roi_target,
    )
    cpc_panel = Panel(
        _words("cpc_title", lang, target=value_text(cpc_target, MONEY, currency, 2)),
        (Series("CPC", names, cpc, BAR, tuple(BAD if value is not None and value > cpc_target else GOOD for value in cpc),
                tuple(value_text(value, MONEY, currency, 2) for value in cpc)),),
        Axis(CATEGORY), Axis(MONEY, decimals=2, from_zero=True), target=cpc_target,
    )
    return ChartSpec("channel_targets", (roi_panel, cpc_panel), height=320, currency=currency, columns=2)


def gmv_change_by_channel(channels: pl.DataFrame, currency: str, lang: str) -> ChartSpec:
    """Each channel's GMV change against the previous period, as horizontal bars (green up,
    red down) labelled with the change, largest change on top."""
    ordered = channels.sort(pl.col("gmv_change").abs())
    changes = tuple(ordered["gmv_change"].to_list())
    series = Series(
        _words("gmv_change_title", lang), changes, tuple(ordered["channel"].to_list()), HBAR,
        tuple(GOOD if value >= 0 else BAD for value in changes),
        tuple(("+" if value > 0 else "") + value_text(value, MONEY, currency) for value in changes),
    )
    panel = Panel(_words("gmv_change_title", lang), (series,), Axis(MONEY), Axis(CATEGORY))
    return ChartSpec("gmv_change", (panel,), height=90 + 30 * max(ordered.height, 1), currency=currency)


def retention_heatmap(retention: pl.DataFrame, kind: str, lang: str, currency: str = "") -> ChartSpec:
    """Cohorts down (with their size), periods since the first across, colour and label =
    retention rate; a cell whose period has not ended yet is marked with *."""
    cohorts = retention["cohort"].unique().sort().to_list()
    offsets = tuple(range(int(retention.select(pl.col("offset").max()).item() or 0) + 1)) if retention.height else ()
    cells = {(row["cohort"], row["offset"]): row for row in retention.iter_rows(named=True)}
    sizes = {row["cohort"]: row["cohort_size"] for row in retention.filter(pl.col("offset") == 0).iter_rows(named=True)}
    values, labels = [], []
    for cohort in cohorts:
        row_cells = [cells.get((cohort, offset)) for offset in offsets]
        values.append(tuple(None if cell is None else cell["rate"] for cell in row_cells))
        labels.append(tuple("" if cell is None or cell["rate"] is None else f"{cell['rate']:.0%}{'' if cell['complete'] else '*'}"
                            for cell in row_cells))
    panel = Heatmap(
        _words(f"retention_title_{kind}", lang),
        tuple(f"{_cohort_day(cohort)} ({sizes.get(cohort, 0):,})" for cohort in cohorts),
        offsets, tuple(values), tuple(labels), Axis(OFFSET, title=_words(f"offset_{kind}", lang)),
    )
    return ChartSpec("retention", (panel,), height=max(240, 26 * len(cohorts) + 100), currency=currency)


def _cohort_day(cohort: date) -> str:
    return f"{cohort:%Y-%m-%d}"


def ltv_lines(ltv: pl.DataFrame, currency: str, lang: str) -> ChartSpec:
    """Cumulative GMV per cohort customer by months since the first order, one line per
    cohort, each in its own colour."""
    series = []
    for position, ((cohort,), curve) in enumerate(ltv.sort("offset").group_by("cohort", maintain_order=True)):
        series.append(Series(f"{cohort:%Y-%m}", tuple(curve["offset"].to_list()), tuple(curve["ltv"].to_list()), LINE,
                             (PALETTE[position % len(PALETTE)],)))
    panel = Panel(_words("ltv_title", lang), tuple(series), Axis(OFFSET, title=_words("offset_month", lang)),
                  Axis(MONEY, from_zero=True), legend=True)
    return ChartSpec("ltv", (panel,), height=340, currency=currency)


# The Plotly backend -----------------------------------------------------------------------------
# d3 formats with "~": as many decimals as the ticks need up to the axis's own, none trailing.
_PLOTLY_FORMATS = {MONEY: ",.{decimals}~f", RATIO: ".{decimals}~%", COUNT: ",.1~f", "number": ",.{decimals}~f"}
_GRID = {"gridcolor": "#e0e0e0", "zerolinecolor": "#9e9e9e", "automargin": True}


def _plotly_axis(axis: Axis, currency: str) -> dict:
    options: dict = dict(_GRID, title=axis.title or None)
    if axis.unit in _PLOTLY_FORMATS:
        options["tickformat"] = _PLOTLY_FORMATS[axis.unit].format(decimals=axis.decimals + 2)
        options["tickprefix"] = currency if axis.unit == MONEY else ""
        options["rangemode"] = "tozero" if axis.from_zero else "normal"
    elif axis.unit == DAY:
        options["tickformat"] = "%m-%d"
    elif axis.unit == OFFSET:
        options["dtick"] = 1
    if axis.downwards:
        options["autorange"] = "reversed"
    return options


def _hover(series: Series, value_axis: Axis, currency: str) -> list[str]:
    values = series.x if series.style == HBAR else series.y
    return [value_text(value, value_axis.unit, currency, max(value_axis.decimals, 2 if value_axis.unit != COUNT else 0))
            for value in values]


def _plotly_trace(series: Series, panel: Panel, currency: str) -> go.Bar | go.Scatter:
    value_axis = panel.x if series.style == HBAR else panel.y
    hover = {"hovertext": _hover(series, value_axis, currency), "hoverinfo": "text+name"}
    if series.style == LINE:
        return go.Scatter(x=list(series.x), y=list(series.y), name=series.name, mode="lines+markers",
                          line={"color": series.colors[0]}, **hover)
    return go.Bar(
        x=list(series.x), y=list(series.y), name=series.name, orientation="h" if series.style == HBAR else "v",
        marker_color=list(series.colors), text=list(series.labels) or None, textposition="outside", cliponaxis=False, **hover,
    )


def plotly_figure(spec: ChartSpec) -> go.Figure:
    """The spec as an interactive Plotly figure (the HTML report)."""
    rows = (len(spec.panels) + spec.columns - 1) // spec.columns
    figure = make_subplots(rows=rows, cols=spec.columns, subplot_titles=[panel.title for panel in spec.panels],
                           vertical_spacing=0.16 if rows > 1 else 0.1, horizontal_spacing=0.12)
    for position, panel in enumerate(spec.panels):
        row, col = position // spec.columns + 1, position % spec.columns + 1
        if isinstance(panel, Heatmap):
            figure.add_trace(go.Heatmap(
                z=[list(values) for values in panel.values], x=list(panel.columns), y=list(panel.rows),
                text=[list(labels) for labels in panel.labels], texttemplate="%{text}", colorscale="Blues", zmin=0, zmax=1,
                showscale=False, hovertemplate="%{y}<br>+%{x}: %{z:.1%}<extra></extra>",
            ), row=row, col=col)
            figure.update_xaxes(_plotly_axis(panel.x, spec.currency), row=row, col=col)
            figure.update_yaxes(autorange="reversed", automargin=True, row=row, col=col)
            continue
        for series in panel.series:
            figure.add_trace(_plotly_trace(series, panel, spec.currency), row=row, col=col)
        figure.update_xaxes(_plotly_axis(panel.x, spec.currency), row=row, col=col)
        figure.update_yaxes(_plotly_axis(panel.y, spec.currency), row=row, col=col)
        if panel.target is not None:
            figure.add_hline(y=panel.target, line_dash="dash", line_color=BAD, row=row, col=col)
    legend = any(isinstance(panel, Panel) and panel.legend for panel in spec.panels)
    figure.update_layout(
        height=spec.height, showlegend=legend, legend={"orientation": "h", "y": -0.2}, font={"family": FONT, "size": 12},
        margin={"l": 10, "r": 10, "t": 50, "b": 10}, plot_bgcolor="white", paper_bgcolor="white",
        colorway=list(PALETTE), title=spec.title or None,
    )
    return figure
