"""Service & reviews charts."""

import plotly.graph_objects as go
import polars as pl

from shop_analytics.i18n import DEFAULT_LANGUAGE, text


def rating_bars(ratings: pl.DataFrame, lang: str = DEFAULT_LANGUAGE) -> go.Figure:
    """Reviews per rating (columns rating, reviews) as bars, one per star count."""
    figure = go.Figure(
        go.Bar(
            x=ratings["rating"].to_list(),
            y=ratings["reviews"].to_list(),
            text=[f"{reviews:,}" for reviews in ratings["reviews"]],
            textposition="outside",
            hovertemplate="%{x} ★: %{y:,}<extra></extra>",
        )
    )
    figure.update_layout(
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        height=260,
        xaxis={"title": text("columns.rating", lang), "dtick": 1},
        yaxis={"title": text("columns.reviews", lang)},
    )
    return figure
