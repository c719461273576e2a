"""Repurchase within 30 and 90 days, per cohort week or month."""

import plotly.graph_objects as go
import polars as pl

from shop_analytics.charts.axes import date_axis
from shop_analytics.i18n import DEFAULT_LANGUAGE, VALUE_KINDS, label, text


def repurchase_lines(table: pl.DataFrame, lang: str = DEFAULT_LANGUAGE) -> go.Figure:
    """One line per window (rows of metrics.repeat_orders.repurchase_rates with `period`): the
    repurchase rate of each period's buyers; a period whose buyers are all pending has no
    point, and the hover says how many are pending."""
    figure = go.Figure()
    for (days,), rows in table.group_by("window_days", maintain_order=True):
        name = text("charts.repurchase_within", lang, days=days)
        figure.add_scatter(
            x=rows["period_start"].to_list(), y=rows["repurchase_rate"].to_list(), mode="lines+markers", name=name,
            customdata=list(zip(rows["eligible_buyers"].to_list(), rows["pending_buyers"].to_list())), connectgaps=False,
            hovertemplate=f"%{{x|%Y-%m-%d}}<br>{name}: %{{y:.1%}}<br>{text('charts.repurchase_hover', lang)}<extra></extra>",
        )
    figure.update_layout(
        margin={"l": 10, "r": 10, "t": 30, "b": 10}, height=320, legend={"orientation": "h", "y": 1.12},
        yaxis={"title": text("charts.repurchase_rate", lang), "tickformat": ".0%", "rangemode": "tozero"},
        xaxis=date_axis(lang),
    )
    return figure


def rate_bars(table: pl.DataFrame, by: str, rates: dict[str, str], lang: str = DEFAULT_LANGUAGE) -> go.Figure:
    """Grouped horizontal bars of the ratio columns `rates` (column: legend words) per value of
    `by` (a channel, a device), named in `lang`."""
    names = [label(VALUE_KINDS.get(by, by), value, lang) for value in table[by]]
    figure = go.Figure()
    for column, name in rates.items():
        figure.add_bar(
            y=names, x=table[column].to_list(), name=name, orientation="h",
            hovertemplate=f"{name}<br>%{{y}}: %{{x:.1%}}<extra></extra>",
        )
    figure.update_layout(
        margin={"l": 10, "r": 10, "t": 30, "b": 10}, height=max(220, 60 + 40 * table.height), barmode="group",
        legend={"orientation": "h", "y": 1.15}, xaxis={"tickformat": ".0%"},
    )
    return figure
