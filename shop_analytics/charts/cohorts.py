"""Cohort charts: retention heatmap, lifecycle bars, LTV curves."""

import plotly.graph_objects as go
import polars as pl
from plotly.colors import qualitative

from shop_analytics.charts.axes import date_axis
from shop_analytics.i18n import DEFAULT_LANGUAGE, label, text

_LAYOUT = {"margin": {"l": 10, "r": 10, "t": 30, "b": 10}}
_COLOURS = qualitative.Plotly


def retention_heatmap(retention: pl.DataFrame, lang: str = DEFAULT_LANGUAGE) -> go.Figure:
    """Cohorts down, offsets across, colour = retention rate; incomplete cells carry a `*`."""
    cohorts = retention["cohort"].unique().sort().to_list()
    last_offset = retention["offset"].max()
    offsets = list(range(last_offset + 1)) if isinstance(last_offset, int) else []
    cells = {(row["cohort"], row["offset"]): row for row in retention.iter_rows(named=True)}
    rates, labels = [], []
    for cohort in cohorts:
        cohort_cells = [cells.get((cohort, offset)) for offset in offsets]
        rates.append([None if cell is None else cell["rate"] for cell in cohort_cells])
        labels.append([
            "" if cell is None or cell["rate"] is None else f"{cell['rate']:.0%}{'' if cell['complete'] else '*'}"
            for cell in cohort_cells
        ])
    sizes = {row["cohort"]: row["cohort_size"] for row in retention.filter(pl.col("offset") == 0).iter_rows(named=True)}
    figure = go.Figure(
        go.Heatmap(
            z=rates,
            x=offsets,
            y=[f"{cohort} ({sizes.get(cohort, 0):,})" for cohort in cohorts],
            text=labels,
            texttemplate="%{text}",
            colorscale="Blues",
            zmin=0,
            zmax=1,
            hovertemplate=text("charts.retention_hover", lang) + "<extra></extra>",
            colorbar={"tickformat": ".0%"},
        )
    )
    figure.update_layout(**_LAYOUT, height=max(260, 28 * len(cohorts) + 80), xaxis={"title": text("charts.offset", lang), "dtick": 1}, yaxis={"autorange": "reversed", "title": None})
    return figure


def lifecycle_bars(lifecycle: pl.DataFrame, lang: str = DEFAULT_LANGUAGE, period_grain: str = "week") -> go.Figure:
    """New, returning and resurrecting users stacked up, dormant users below zero, per
    `period_grain` (day, week, month) on a date axis in `lang`."""
    periods = lifecycle["period"].to_list()
    figure = go.Figure()
    for column, colour in (("new", "#2e7d32"), ("returning", "#1565c0"), ("resurrecting", "#f9a825")):
        figure.add_bar(x=periods, y=lifecycle[column].to_list(), name=text(f"charts.{column}", lang), marker_color=colour)
    figure.add_bar(x=periods, y=(-lifecycle["dormant"]).to_list(), name=text("charts.dormant", lang), marker_color="#c62828")
    figure.update_layout(**_LAYOUT, barmode="relative", height=340, yaxis={"title": text("charts.users", lang)}, legend={"orientation": "h"},
                         xaxis=date_axis(lang, periods, grain=period_grain))
    return figure


def ltv_lines(curves: pl.DataFrame, currency: str = "¥", lang: str = DEFAULT_LANGUAGE) -> go.Figure:
    """Cumulative revenue per cohort user by offset, one line per cohort."""
    figure = go.Figure()
    for (cohort,), curve in curves.sort("offset").group_by("cohort", maintain_order=True):
        figure.add_scatter(x=curve["offset"].to_list(), y=curve["ltv"].to_list(), mode="lines+markers", name=str(cohort))
    figure.update_layout(**_LAYOUT, height=340, xaxis={"title": text("charts.offset", lang), "dtick": 1}, yaxis={"title": text("charts.revenue_per_user", lang), "tickprefix": currency})
    return figure


def retention_curves(retention: pl.DataFrame, lang: str = DEFAULT_LANGUAGE) -> go.Figure:
    """Retention by offset, one line per cohort, and their mean weighted by cohort size as a
    thick line; incomplete cells are left out so the last points do not dip."""
    complete = retention.filter(pl.col("complete"))
    figure = go.Figure()
    for (cohort,), curve in complete.sort("offset").group_by("cohort", maintain_order=True):
        figure.add_scatter(x=curve["offset"].to_list(), y=curve["rate"].to_list(), mode="lines", name=str(cohort),
                           line={"width": 1}, opacity=0.45)
    mean = complete.group_by("offset").agg(rate=pl.col("retained").sum() / pl.col("cohort_size").sum()).sort("offset")
    figure.add_scatter(x=mean["offset"].to_list(), y=mean["rate"].to_list(), mode="lines+markers",
                       name=text("charts.all_cohorts", lang), line={"width": 4, "color": "#0d47a1"})
    figure.update_layout(**_LAYOUT, height=340, xaxis={"title": text("charts.offset", lang), "dtick": 1},
                         yaxis={"title": text("charts.retention", lang), "tickformat": ".0%", "rangemode": "tozero"})
    return figure


def payback_lines(curves: pl.DataFrame, channels: pl.DataFrame, margin: float, currency: str = "¥", lang: str = DEFAULT_LANGUAGE) -> go.Figure:
    """Per acquisition channel, cumulative gross profit per first-time buyer by offset (revenue
    x margin) against a dashed line at that channel's CAC: where they cross it has paid back."""
    figure = go.Figure()
    cac = dict(zip(channels["channel"], channels["cac"]))
    for index, ((channel,), curve) in enumerate(curves.sort("offset").group_by("channel", maintain_order=True)):
        colour = _COLOURS[index % len(_COLOURS)]
        name = label("channel", channel, lang)
        offsets = curve["offset"].to_list()
        figure.add_scatter(x=offsets, y=(curve["cumulative_revenue_per_buyer"] * margin).to_list(), mode="lines+markers",
                           name=name, legendgroup=str(channel), line={"color": colour})
        if cac.get(channel) and offsets:
            figure.add_scatter(x=[offsets[0], offsets[-1]], y=[cac[channel]] * 2, mode="lines", showlegend=False,
                               legendgroup=str(channel), line={"color": colour, "dash": "dash"},
                               hovertemplate=f"{name} {text('charts.cac', lang)} {currency}%{{y:,.2f}}<extra></extra>")
    figure.update_layout(**_LAYOUT, height=360, xaxis={"title": text("charts.offset", lang), "dtick": 1},
                         yaxis={"title": text("charts.profit_per_buyer", lang), "tickprefix": currency})
    return figure
