"""Product charts."""

import plotly.graph_objects as go
import polars as pl


def category_treemap(products: pl.DataFrame, currency: str = "¥") -> go.Figure:
    """Categories and their products as a treemap sized by GMV; `customdata` is the product id
    (null on category tiles)."""
    selling = products.filter(pl.col("gmv") > 0)
    categories = selling.group_by("category").agg(pl.col("gmv").sum()).sort("category")
    ids = [f"category/{name}" for name in categories["category"]] + [f"product/{pid}" for pid in selling["product_id"]]
    figure = go.Figure(
        go.Treemap(
            ids=ids,
            labels=categories["category"].to_list() + selling["name"].to_list(),
            parents=[""] * categories.height + [f"category/{name}" for name in selling["category"]],
            values=categories["gmv"].to_list() + selling["gmv"].to_list(),
            branchvalues="total",
            customdata=[None] * categories.height + selling["product_id"].to_list(),
            hovertemplate=f"%{{label}}<br>GMV {currency}%{{value:,.0f}}<extra></extra>",
        )
    )
    figure.update_layout(margin={"l": 0, "r": 0, "t": 10, "b": 0}, height=420)
    return figure
