"""Daily trend and breakdown charts."""

import plotly.graph_objects as go
import polars as pl

from metrics.registry import Kpi
from shop_analytics.i18n import DEFAULT_LANGUAGE, text

_TICK_FORMATS = {"ratio": ".1%", "money": ",.0f", "count": ",d"}


def daily_trend(
    daily: pl.DataFrame, kpi: Kpi, currency: str = "¥", lang: str = DEFAULT_LANGUAGE, band: pl.DataFrame | None = None
) -> go.Figure:
    """One KPI per day as a line with clickable markers (a click selects the day); with `band`
    (metrics.bands.daily_bands of the KPI: date, typical, excellent), the own-history band
    behind it: the area from typical to excellent and the typical line, dotted."""
    prefix = currency if kpi.unit == "money" else ""
    label = kpi.label_in(lang)
    figure = go.Figure()
    if band is not None and band.height:
        value_format = f"{prefix}%{{y:{_TICK_FORMATS.get(kpi.unit, ',.2f')}}}"
        dates = band["date"].to_list()
        figure.add_scatter(
            x=dates, y=band["typical"].to_list(), mode="lines", name=text("charts.band_typical", lang),
            line={"color": "rgba(120, 120, 120, 0.9)", "dash": "dot", "width": 1}, connectgaps=False,
            hovertemplate=f"{text('charts.band_typical', lang)}: {value_format}<extra></extra>",
        )
        figure.add_scatter(
            x=dates, y=band["excellent"].to_list(), mode="lines", name=text("charts.band_excellent", lang),
            line={"width": 0}, fill="tonexty", fillcolor="rgba(46, 125, 50, 0.15)", connectgaps=False,
            hovertemplate=f"{text('charts.band_excellent', lang)}: {value_format}<extra></extra>",
        )
    figure.add_scatter(
        x=daily["date"].to_list(),
        y=daily[kpi.name].to_list(),
        mode="lines+markers",
        name=label,
        line={"color": "#1565c0"},
        hovertemplate=f"%{{x|%Y-%m-%d}}<br>{label}: {prefix}%{{y:{_TICK_FORMATS.get(kpi.unit, ',.2f')}}}<extra></extra>",
    )
    figure.update_layout(
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        height=340,
        yaxis={"title": label, "tickformat": _TICK_FORMATS.get(kpi.unit, ",.2f"), "tickprefix": prefix, "rangemode": "tozero"},
        xaxis={"title": None, "tickformat": "%m-%d"},
        hovermode="closest",
        clickmode="event+select",
        legend={"orientation": "h", "y": 1.12},
    )
    return figure


def channel_bars(channels: pl.DataFrame, value: str, label: str) -> go.Figure:
    """A horizontal bar per channel of `value`."""
    ordered = channels.sort(value)
    figure = go.Figure(go.Bar(x=ordered[value].to_list(), y=ordered["channel"].to_list(), orientation="h"))
    figure.update_layout(margin={"l": 10, "r": 10, "t": 30, "b": 10}, height=260, xaxis={"title": label})
    return figure
