"""Products: CTR, conversion, GMV and refund rate per product and category, top movers;
click a product in the treemap to see its own figures."""

import polars as pl
import streamlit as st

from charts.products import category_treemap
from ui import data
from ui.frame import open_page
from ui.tables import kpi_column_config

CHART_KEY = "products_treemap"
RATES = {name: st.column_config.NumberColumn(label, format="percent") for name, label in (("ctr", "CTR"), ("conversion", "Conversion"), ("refund_rate", "Refund rate"), ("relative_change", "Change %"))}

settings, shop, chosen = open_page("products", needs=("events", "orders", "order_items", "products"))
if "product_id" not in shop.events.columns:
    st.warning("Products need events.product_id; map it on the Data source page.")
    st.stop()

views = data.product_views(data.source_key(), chosen.start, chosen.end, chosen.tz, chosen.segment)
columns = kpi_column_config(views["products"], settings.currency) | RATES


def _money(frame: pl.DataFrame) -> dict:
    labels = {"gmv": "GMV", "previous_gmv": "Previous GMV", "change": "Change"}
    return {name: st.column_config.NumberColumn(label, format=f"{settings.currency}%.2f") for name, label in labels.items() if name in frame.columns}


event = st.plotly_chart(category_treemap(views["products"], settings.currency), on_select="rerun", selection_mode=("points",), key=CHART_KEY, width="stretch")
st.caption("Area is GMV (quantity x unit price of valid orders). Click a product to see it below.")

st.subheader("Top movers against the previous period")
st.dataframe(views["movers"], hide_index=True, width="stretch", column_config=_money(views["movers"]) | RATES)

st.subheader("Categories")
st.dataframe(views["categories"], hide_index=True, width="stretch", column_config=columns | _money(views["categories"]))

st.subheader("Products")
st.dataframe(views["products"], hide_index=True, width="stretch", column_config=columns | _money(views["products"]))
st.download_button("Download CSV", views["products"].write_csv(), f"products_{chosen.start}_{chosen.end}.csv", "text/csv")

points = (event or {}).get("selection", {}).get("points", [])
clicked = points[0].get("customdata") if points else None
if clicked is not None:
    product = views["products"].filter(pl.col("product_id") == clicked)
    if product.height:
        row = product.row(0, named=True)
        st.subheader(f"{row['name']} ({row['category']})")
        cells = st.columns(4)
        cells[0].metric("GMV", f"{settings.currency}{row['gmv']:,.2f}")
        cells[1].metric("CTR", "–" if row["ctr"] is None else f"{row['ctr']:.2%}")
        cells[2].metric("Conversion", "–" if row["conversion"] is None else f"{row['conversion']:.2%}")
        cells[3].metric("Refund rate", "–" if row["refund_rate"] is None else f"{row['refund_rate']:.2%}")
