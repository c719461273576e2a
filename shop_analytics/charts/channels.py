"""Channel charts."""

import plotly.graph_objects as go
import polars as pl
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from shop_analytics.charts.axes import date_axis
from shop_analytics.i18n import DEFAULT_LANGUAGE, label, text


def _percent(value: float | None, digits: int) -> str:
    return "–" if value is None else f"{value:.{digits}%}"


def channel_quality(channels: pl.DataFrame, currency: str = "¥", lang: str = DEFAULT_LANGUAGE) -> go.Figure:
    """Each channel as a bubble: bounce rate across, session conversion up, area by GMV.

    Good channels sit top left, named in `lang`. `customdata` carries the channel's own
    value for click handling.
    """
    names = [label("channel", channel, lang) for channel in channels["channel"]]
    gmv = channels["gmv"].fill_null(0).to_list()
    largest = max(max(gmv, default=0.0), 1.0)
    hover = [
        text("charts.bubble_hover", lang, name=name, bounce=_percent(bounce, 1), conversion=_percent(conversion, 2), gmv=f"{currency}{value:,.0f}")
        for name, bounce, conversion, value in zip(names, channels["bounce_rate"], channels["session_conversion"], gmv)
    ]
    figure = go.Figure(
        go.Scatter(
            x=channels["bounce_rate"].to_list(),
            y=channels["session_conversion"].to_list(),
            mode="markers+text",
            text=names,
            textposition="top center",
            customdata=channels["channel"].to_list(),
            hovertext=hover,
            hovertemplate="%{hovertext}<extra></extra>",
            marker={"size": [12 + 48 * (value / largest) ** 0.5 for value in gmv], "opacity": 0.7},
        )
    )
    figure.update_layout(
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        height=380,
        xaxis={"title": text("charts.bounce_rate", lang), "tickformat": ".0%"},
        yaxis={"title": text("charts.session_conversion", lang), "tickformat": ".1%"},
        clickmode="event+select",
    )
    return figure


def spend_and_roas(trend: pl.DataFrame, currency: str = "¥", lang: str = DEFAULT_LANGUAGE) -> go.Figure:
    """Daily spend per paid channel (named in `lang`) as stacked bars above, each channel's
    ROAS as a line below."""
    figure = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08, row_heights=[0.55, 0.45])
    for index, ((code,), days) in enumerate(trend.group_by("channel", maintain_order=True)):
        channel = label("channel", code, lang)
        colour = qualitative.Plotly[index % len(qualitative.Plotly)]
        dates = days["date"].to_list()
        figure.add_bar(x=dates, y=days["spend"].to_list(), name=channel, legendgroup=channel, marker_color=colour,
                       hovertemplate=f"{channel} %{{x|%Y-%m-%d}}<br>{currency}%{{y:,.2f}}<extra></extra>", row=1, col=1)
        figure.add_scatter(x=dates, y=days["roas"].to_list(), name=channel, legendgroup=channel, showlegend=False,
                           mode="lines", line={"color": colour}, connectgaps=False,
                           hovertemplate=f"{channel} %{{x|%Y-%m-%d}}<br>ROAS %{{y:.2f}}<extra></extra>", row=2, col=1)
    figure.update_layout(margin={"l": 10, "r": 10, "t": 30, "b": 10}, height=440, barmode="stack", legend={"orientation": "h", "y": 1.08})
    figure.update_xaxes(date_axis(lang, trend["date"].to_list()))
    figure.update_yaxes(title_text=f"{text('charts.spend', lang)} ({currency})", row=1, col=1)
    figure.update_yaxes(title_text="ROAS", rangemode="tozero", row=2, col=1)
    return figure
