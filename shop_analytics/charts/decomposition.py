"""The GMV decomposition as a bridge: the comparison period's GMV, each factor's part of the
change (visitors, visitor conversion, orders per buyer, AOV), and the period's GMV."""

import plotly.graph_objects as go
import polars as pl

from metrics.decomposition import FACTORS
from metrics.registry import KPIS
from shop_analytics.i18n import DEFAULT_LANGUAGE, text


def gmv_bridge(parts: pl.DataFrame, currency: str = "¥", lang: str = DEFAULT_LANGUAGE) -> go.Figure:
    """A waterfall from the comparison GMV to the current GMV through each factor's part, from
    one group's rows of `metrics.decomposition.decompose_gmv` (the four factors, then gmv).
    When the split is empty (a factor is 0 in a period), the change is one bar."""
    by_factor = {row["factor"]: row for row in parts.iter_rows(named=True)}
    gmv = by_factor["gmv"]
    split = gmv["empty_reason"] is None
    steps = [(text("charts.gmv_comparison", lang), gmv["comparison"], "absolute")]
    if split:
        steps += [(KPIS[factor].label_in(lang), by_factor[factor]["part"], "relative") for factor in FACTORS]
    else:
        steps.append((text("charts.gmv_change", lang), gmv["part"], "relative"))
    steps.append((text("charts.gmv_current", lang), gmv["current"], "total"))
    labels, values, measures = (list(column) for column in zip(*steps))
    figure = go.Figure(
        go.Waterfall(
            x=labels, y=[0.0 if value is None else value for value in values], measure=measures,
            text=[f"{currency}{value:,.0f}" if value is not None else "–" for value in values], textposition="outside",
            increasing={"marker": {"color": "#2e7d32"}}, decreasing={"marker": {"color": "#c62828"}},
            totals={"marker": {"color": "#1565c0"}}, connector={"line": {"color": "#9e9e9e"}},
            hovertemplate=f"%{{x}}<br>{currency}%{{y:,.2f}}<extra></extra>",
        )
    )
    figure.update_layout(
        margin={"l": 10, "r": 10, "t": 30, "b": 10}, height=340, showlegend=False,
        yaxis={"title": f"GMV ({currency})", "tickformat": ",.0f"},
    )
    return figure
