"""Daily trend and breakdown charts."""

import plotly.graph_objects as go
import polars as pl

from metrics.registry import Kpi
from shop_analytics.charts.axes import date_axis
from shop_analytics.i18n import DEFAULT_LANGUAGE, label, text

_TICK_FORMATS = {"ratio": ".1%", "money": ",.0f", "count": ",d"}


def daily_trend(
    daily: pl.DataFrame, kpi: Kpi, currency: str = "¥", lang: str = DEFAULT_LANGUAGE, band: pl.DataFrame | None = None
) -> go.Figure:
    """One KPI per day as a line with clickable markers (a click selects the day); with `band`
    (metrics.bands.daily_bands of the KPI: date, typical, excellent), the own-history band
    behind it: the area from typical to excellent and the typical line, dotted. Dates are
    written in `lang`; a short period has a tick per day, and a single day is one large
    marker in the middle of its day."""
    prefix = currency if kpi.unit == "money" else ""
    name = kpi.label_in(lang)
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
        name=name,
        line={"color": "#1565c0"},
        marker={"size": 12 if daily.height == 1 else 6},
        hovertemplate=f"%{{x|%Y-%m-%d}}<br>{name}: {prefix}%{{y:{_TICK_FORMATS.get(kpi.unit, ',.2f')}}}<extra></extra>",
    )
    figure.update_layout(
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        height=340,
        yaxis={"title": name, "tickformat": _TICK_FORMATS.get(kpi.unit, ",.2f"), "tickprefix": prefix, "rangemode": "tozero"},
        xaxis=date_axis(lang, daily["date"].to_list()),
        hovermode="closest",
        clickmode="event+select",
        legend={"orientation": "h", "y": 1.12},
    )
    return figure


def channel_bars(channels: pl.DataFrame, value: str, title: str, lang: str = DEFAULT_LANGUAGE) -> go.Figure:
    """A horizontal bar per channel (named in `lang`) of `value`."""
    ordered = channels.sort(value)
    names = [label("channel", channel, lang) for channel in ordered["channel"]]
    figure = go.Figure(go.Bar(x=ordered[value].to_list(), y=names, orientation="h"))
    figure.update_layout(margin={"l": 10, "r": 10, "t": 30, "b": 10}, height=260, xaxis={"title": title})
    return figure
