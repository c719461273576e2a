"""A target's period: the expected course, the actual to date and the projected end with its
interval."""

import plotly.graph_objects as go
import polars as pl

from metrics.registry import Kpi
from shop_analytics.i18n import DEFAULT_LANGUAGE, text

_FORMATS = {"money": ",.2f", "ratio": ".2%", "count": ",.0f"}


def pace_chart(path: pl.DataFrame, pace: dict, kpi: Kpi, currency: str = "¥", lang: str = DEFAULT_LANGUAGE,
               *, daily_actual: bool = True) -> go.Figure:
    """The expected-to-date line of `path` (shop_analytics.targets.target_path), the actual to
    date day by day (`daily_actual`; else only the pace's actual to date, for a distinct count
    whose days do not add up), the target, and the projected end at the period's last day with
    its interval (`pace`: a row of target_paces)."""
    prefix = currency if kpi.unit == "money" else ""
    value_format = _FORMATS.get(kpi.unit, ",.2f")
    dates = path["date"].to_list()
    figure = go.Figure()
    figure.add_scatter(
        x=dates, y=path["expected_to_date"].to_list(), mode="lines", name=text("charts.expected_to_date", lang),
        line={"color": "#9e9e9e", "dash": "dash"},
        hovertemplate=f"%{{x|%Y-%m-%d}}<br>{text('charts.expected_to_date', lang)}: {prefix}%{{y:{value_format}}}<extra></extra>",
    )
    if daily_actual:
        figure.add_scatter(
            x=dates, y=path["actual_to_date"].to_list(), mode="lines+markers", name=text("charts.actual_to_date", lang),
            line={"color": "#1565c0"},
            hovertemplate=f"%{{x|%Y-%m-%d}}<br>{text('charts.actual_to_date', lang)}: {prefix}%{{y:{value_format}}}<extra></extra>",
        )
    elif pace["actual_to_date"] is not None:
        figure.add_scatter(
            x=[pace["as_of"]], y=[pace["actual_to_date"]], mode="markers", name=text("charts.actual_to_date", lang),
            marker={"color": "#1565c0", "size": 10},
        )
    if pace["projected_end"] is not None:
        low, high = pace["projected_low"], pace["projected_high"]
        error = None if low is None or high is None else {
            "type": "data", "symmetric": False, "array": [high - pace["projected_end"]], "arrayminus": [pace["projected_end"] - low],
        }
        figure.add_scatter(
            x=[pace["period_end"]], y=[pace["projected_end"]], mode="markers", name=text("charts.projected_end", lang),
            marker={"color": "#ef6c00", "size": 11, "symbol": "diamond"}, error_y=error,
            hovertemplate=f"{text('charts.projected_end', lang)}: {prefix}%{{y:{value_format}}}<extra></extra>",
        )
    figure.add_hline(y=pace["target"], line={"color": "#2e7d32", "width": 1}, annotation_text=text("charts.target", lang))
    figure.update_layout(
        margin={"l": 10, "r": 10, "t": 30, "b": 10}, height=300, legend={"orientation": "h", "y": 1.15},
        yaxis={"title": kpi.label_in(lang), "tickformat": value_format, "tickprefix": prefix, "rangemode": "tozero"},
        xaxis={"tickformat": "%m-%d"},
    )
    return figure
