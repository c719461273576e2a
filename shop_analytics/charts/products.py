"""Product charts."""

from itertools import pairwise

import plotly.graph_objects as go
import polars as pl

from shop_analytics.charts.axes import date_axis
from shop_analytics.i18n import DEFAULT_LANGUAGE, label


def category_treemap(products: pl.DataFrame, currency: str = "¥", lang: str = DEFAULT_LANGUAGE) -> go.Figure:
    """Categories (named in `lang`) and their products as a treemap sized by GMV;
    `customdata` is the product id (null on category tiles)."""
    selling = products.filter(pl.col("gmv") > 0)
    categories = selling.group_by("category").agg(pl.col("gmv").sum()).sort("category")
    ids = [f"category/{name}" for name in categories["category"]] + [f"product/{pid}" for pid in selling["product_id"]]
    figure = go.Figure(
        go.Treemap(
            ids=ids,
            labels=[label("category", name, lang) for name in categories["category"]] + selling["name"].to_list(),
            parents=[""] * categories.height + [f"category/{name}" for name in selling["category"]],
            values=categories["gmv"].to_list() + selling["gmv"].to_list(),
            branchvalues="total",
            customdata=[None] * categories.height + selling["product_id"].to_list(),
            hovertemplate=f"%{{label}}<br>GMV {currency}%{{value:,.0f}}<extra></extra>",
        )
    )
    figure.update_layout(margin={"l": 0, "r": 0, "t": 10, "b": 0}, height=420)
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
