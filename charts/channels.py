"""Channel charts."""

import plotly.graph_objects as go
import polars as pl


def _percent(value: float | None, digits: int) -> str:
    return "–" if value is None else f"{value:.{digits}%}"


def channel_quality(channels: pl.DataFrame, currency: str = "¥") -> go.Figure:
    """Each channel as a bubble: bounce rate across, session conversion up, area by GMV.

    Good channels sit top left. `customdata` carries the channel name for click handling.
    """
    gmv = channels["gmv"].fill_null(0).to_list()
    largest = max(max(gmv, default=0.0), 1.0)
    hover = [
        f"{name}<br>bounce {_percent(bounce, 1)}<br>session conversion {_percent(conversion, 2)}<br>GMV {currency}{value:,.0f}"
        for name, bounce, conversion, value in zip(channels["channel"], channels["bounce_rate"], channels["session_conversion"], gmv)
    ]
    figure = go.Figure(
        go.Scatter(
            x=channels["bounce_rate"].to_list(),
            y=channels["session_conversion"].to_list(),
            mode="markers+text",
            text=channels["channel"].to_list(),
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
        xaxis={"title": "Bounce rate", "tickformat": ".0%"},
        yaxis={"title": "Session conversion", "tickformat": ".1%"},
        clickmode="event+select",
    )
    return figure
