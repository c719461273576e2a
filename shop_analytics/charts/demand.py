"""Demand charts: one category's weekly units with a backtest and the forecast."""

from datetime import date

import plotly.graph_objects as go
import polars as pl

from models.forecast import ALL_CATEGORIES
from shop_analytics.charts.axes import date_axis
from shop_analytics.i18n import DEFAULT_LANGUAGE, label, text

_LAYOUT = {"margin": {"l": 10, "r": 10, "t": 40, "b": 10}, "legend": {"orientation": "h", "y": -0.2}}
_ACTUAL, _MODEL, _NAIVE = "#37474f", "#1565c0", "#ef6c00"


def category_label(category: str, lang: str = DEFAULT_LANGUAGE) -> str:
    """A category's name in `lang`, with the all-categories row of the error table in words."""
    return text("demand.all_categories", lang) if category == ALL_CATEGORIES else label("category", category, lang)


def demand_chart(
    units: pl.DataFrame, backtest: pl.DataFrame, forecast: pl.DataFrame, *, category: str, origin: date, lang: str = DEFAULT_LANGUAGE
) -> go.Figure:
    """`category`'s weekly units (`weekly_units`) as a line; the model's and the seasonal
    naive forecasts made at backtest `origin` from the weeks before it only (dashed), and
    both forecasts of the weeks after the data (`DemandForecast.forecast`), solid."""
    history = units.filter(pl.col("category") == category).sort("week")
    tested = backtest.filter(pl.col("category") == category, pl.col("origin") == origin).sort("week")
    ahead = forecast.filter(pl.col("category") == category).sort("week")
    figure = go.Figure()
    figure.add_scatter(x=history["week"].to_list(), y=history["units"].to_list(), mode="lines+markers", name=text("demand.chart.actual", lang),
                       line={"color": _ACTUAL}, marker={"size": 4})
    for frame, dash, key in ((tested, "dash", "backtest"), (ahead, "solid", "future")):
        figure.add_scatter(x=frame["week"].to_list(), y=frame["forecast"].to_list(), mode="lines+markers",
                           name=text(f"demand.chart.model_{key}", lang), line={"color": _MODEL, "dash": dash})
        figure.add_scatter(x=frame["week"].to_list(), y=frame["seasonal_naive"].to_list(), mode="lines",
                           name=text(f"demand.chart.naive_{key}", lang), line={"color": _NAIVE, "dash": "dot" if key == "backtest" else "solid"})
    figure.add_vline(x=origin, line={"color": "#9e9e9e", "dash": "dot", "width": 1})
    figure.update_layout(**_LAYOUT, height=400, title=text("demand.chart.title", lang, category=category_label(category, lang)),
                         xaxis=date_axis(lang), yaxis={"title": text("demand.chart.units", lang), "rangemode": "tozero"})
    return figure
