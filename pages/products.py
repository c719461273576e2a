"""Products: CTR, conversion, GMV and refund rate per product and category, top movers;
click a product in the treemap for its daily trend, its way from impression to purchase and
its reviews."""

import polars as pl
import streamlit as st

from metrics.registry import KPIS, format_value
from shop_analytics.charts.products import category_treemap, product_steps, product_trend
from shop_analytics.i18n import label
from shop_analytics.ui import data
from shop_analytics.ui.frame import open_page
from shop_analytics.ui.lang import language, t
from shop_analytics.ui.tables import column_label, kpi_table

CHART_KEY = "products_treemap"
DISMISSED_KEY = "products_dismissed"
STEPS = ("impressions", "clicks", "views", "viewers", "buyers")

settings, shop, chosen = open_page("products")
lang = language()
if "product_id" not in shop.events.columns:
    st.warning(t("products.needs_product_id"))
    st.page_link("pages/data_source.py", label=t("nav.data_source"), icon=":material/database:")
    st.stop()

views = data.product_views(data.source_key(), chosen.start, chosen.end, chosen.tz, chosen.segment)
period = f"{chosen.start}_{chosen.end}"

event = st.plotly_chart(category_treemap(views["products"], settings.currency, lang), on_select="rerun", selection_mode=("points",), key=CHART_KEY, width="stretch")
points = (event or {}).get("selection", {}).get("points", [])
clicked = points[0].get("customdata") if points else None
if clicked != st.session_state.get(DISMISSED_KEY):
    st.session_state.pop(DISMISSED_KEY, None)
else:
    clicked = None
product = views["products"].filter(pl.col("product_id") == clicked) if clicked is not None else None

if product is None or product.height == 0:
    st.caption(t("products.click_a_product"))
else:
    row = product.row(0, named=True)
    with st.container(border=True):
        st.subheader(f"{row['name']} ({label('category', row['category'], lang)})")
        cells = st.columns(4)
        cells[0].metric(KPIS["gmv"].label_in(lang), format_value(KPIS["gmv"], row["gmv"], settings.currency, lang=lang))
        for cell, name in zip(cells[1:], ("ctr", "conversion", "refund_rate")):
            cell.metric(column_label(name), "–" if row[name] is None else f"{row[name]:.2%}")
        detail = data.product_detail(data.source_key(), clicked, chosen.start, chosen.end, chosen.tz, chosen.segment)
        labels = {name: column_label(name) for name in (*STEPS, "gmv")}
        left, right = st.columns([3, 2])
        left.plotly_chart(product_trend(detail["daily"], labels, settings.currency, lang), width="stretch")
        right.plotly_chart(product_steps(row, labels), width="stretch")
        if "ratings" in detail:
            left, right = st.columns(2)
            with left:
                st.markdown(f"**{t('products.ratings')}**")
                kpi_table(detail["ratings"], settings.currency)
            with right:
                st.markdown(f"**{t('products.review_words')}**")
                if "words" in detail:
                    kpi_table(detail["words"].drop("group"), settings.currency)
        st.button(t("products.back"), icon=":material/arrow_back:", on_click=st.session_state.__setitem__, args=(DISMISSED_KEY, clicked))

st.subheader(t("products.movers"))
kpi_table(views["movers"], settings.currency, name=f"product_movers_{period}")

st.subheader(t("products.categories"))
kpi_table(views["categories"], settings.currency, name=f"categories_{period}")

st.subheader(t("products.products"))
kpi_table(views["products"], settings.currency, name=f"products_{period}")
