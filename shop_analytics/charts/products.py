"""Product charts."""

from itertools import pairwise

import plotly.graph_objects as go
import polars as pl

from shop_analytics.charts.axes import date_axis
from shop_analytics.i18n import DEFAULT_LANGUAGE, label


def product_bars(products: pl.DataFrame, currency: str = "¥", lang: str = DEFAULT_LANGUAGE, top: int = 20) -> go.Figure:
    """The `top` products by GMV as horizontal bars, largest on top, coloured by category (the
    legend names the categories in `lang`); a click on a bar selects the product (`customdata`
    is its id). Bars, not a treemap: a treemap's click zooms into the tile and tells the page
    nothing."""
    selling = products.filter(pl.col("gmv") > 0).sort("gmv", descending=True).head(top).reverse()
    figure = go.Figure()
    for (category,), rows in selling.group_by("category", maintain_order=True):
        name = label("category", category, lang)
        figure.add_bar(
            x=rows["gmv"].to_list(), y=[str(product) for product in rows["product_id"]], orientation="h", name=name,
            customdata=rows["product_id"].to_list(), hovertext=rows["name"].to_list(),
            hovertemplate=f"%{{hovertext}}<br>{name}<br>GMV {currency}%{{x:,.2f}}<extra></extra>",
        )
    ids = [str(product) for product in selling["product_id"]]
    figure.update_layout(
        margin={"l": 10, "r": 10, "t": 10, "b": 10}, height=max(260, 24 * selling.height + 60), barmode="stack",
        # one row per product, in GMV order, named by the product (names may repeat; ids do not)
        yaxis={"type": "category", "categoryorder": "array", "categoryarray": ids, "tickvals": ids, "ticktext": selling["name"].to_list(), "automargin": True},
        xaxis={"title": f"GMV ({currency})", "tickformat": ",.0f"}, legend={"orientation": "h", "y": -0.12},
        clickmode="event+select",
    )
    return figure


def product_trend(daily: pl.DataFrame, labels: dict[str, str], currency: str = "¥", lang: str = DEFAULT_LANGUAGE) -> go.Figure:
    """One product per day: GMV as bars, product views as a line on a second axis, dates in
    `lang`. `labels` names the two series in the page's language."""
    figure = go.Figure(
        [
            go.Bar(x=daily["date"].to_list(), y=daily["gmv"].to_list(), name=labels["gmv"],
                   hovertemplate=f"%{{x|%Y-%m-%d}}<br>{labels['gmv']} {currency}%{{y:,.2f}}<extra></extra>"),
            go.Scatter(x=daily["date"].to_list(), y=daily["views"].to_list(), name=labels["views"], yaxis="y2",
                       mode="lines+markers", hovertemplate=f"%{{x|%Y-%m-%d}}<br>{labels['views']} %{{y:,d}}<extra></extra>"),
        ]
    )
    figure.update_layout(
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        height=300,
        yaxis={"title": f"{labels['gmv']} ({currency})", "rangemode": "tozero"},
        yaxis2={"title": labels["views"], "overlaying": "y", "side": "right", "rangemode": "tozero", "showgrid": False},
        legend={"orientation": "h", "y": 1.12},
        xaxis=date_axis(lang, daily["date"].to_list()),
    )
    return figure


def product_steps(row: dict, labels: dict[str, str]) -> go.Figure:
    """A product's way from being shown to being bought: impressions, clicks, views, viewers
    and buyers as horizontal bars, each labelled with its share of the step before."""
    steps = ("impressions", "clicks", "views", "viewers", "buyers")
    values = [row[step] for step in steps]
    shares = [""] + [f"{current / previous:.1%}" if previous else "–" for previous, current in pairwise(values)]
    figure = go.Figure(
        go.Bar(
            x=values[::-1], y=[labels[step] for step in steps][::-1], orientation="h",
            text=[f"{value:,}  {share}" for value, share in zip(values, shares)][::-1], textposition="auto",
        )
    )
    figure.update_layout(margin={"l": 10, "r": 10, "t": 10, "b": 10}, height=260, xaxis={"title": None})
    return figure
