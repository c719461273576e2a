"""Daily trend and breakdown charts."""

import plotly.graph_objects as go
import polars as pl

from metrics.registry import Kpi
from shop_analytics.i18n import DEFAULT_LANGUAGE

_TICK_FORMATS = {"ratio": ".1%", "money": ",.0f", "count": ",d"}


def daily_trend(daily: pl.DataFrame, kpi: Kpi, currency: str = "¥", lang: str = DEFAULT_LANGUAGE) -> go.Figure:
    """One KPI per day as a line with clickable markers (a click selects the day)."""
    prefix = currency if kpi.unit == "money" else ""
    label = kpi.label_in(lang)
    figure = go.Figure(
        go.Scatter(
            x=daily["date"].to_list(),
            y=daily[kpi.name].to_list(),
            mode="lines+markers",
            name=label,
            hovertemplate=f"%{{x|%Y-%m-%d}}<br>{label}: {prefix}%{{y:{_TICK_FORMATS[kpi.unit]}}}<extra></extra>",
        )
    )
    figure.update_layout(
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        height=340,
        yaxis={"title": label, "tickformat": _TICK_FORMATS[kpi.unit], "tickprefix": prefix, "rangemode": "tozero"},
        xaxis={"title": None, "tickformat": "%m-%d"},
        hovermode="closest",
        clickmode="event+select",
    )
    return figure


def channel_bars(channels: pl.DataFrame, value: str, label: str) -> go.Figure:
    """A horizontal bar per channel of `value`."""
    ordered = channels.sort(value)
    figure = go.Figure(go.Bar(x=ordered[value].to_list(), y=ordered["channel"].to_list(), orientation="h"))
    figure.update_layout(margin={"l": 10, "r": 10, "t": 30, "b": 10}, height=260, xaxis={"title": label})
    return figure
