"""Products: CTR, conversion, GMV and refund rate per product and category, top movers;
pick a product (or click its bar among the best sellers) for its daily trend, its way from
impression to purchase and its reviews."""

import polars as pl
import streamlit as st

from metrics.registry import KPIS, format_value
from shop_analytics.charts.products import product_bars, product_steps, product_trend
from shop_analytics.i18n import label, text
from shop_analytics.ui import data
from shop_analytics.ui.frame import open_page
from shop_analytics.ui.lang import language, t
from shop_analytics.ui.links import linked
from shop_analytics.ui.tables import column_label, kpi_table

CHART_KEY = "products_chart"
PICK_KEY, CATEGORY_KEY = "products_pick", "products_category"
SEEN_KEY = "products_seen_click"  # the chart's last click already applied
STEPS = ("impressions", "clicks", "views", "viewers", "buyers")
TOP_PRODUCTS = 20

settings, shop, chosen = open_page("products")
lang = language()
if "product_id" not in shop.events.columns:
    st.warning(t("products.needs_product_id"))
    st.page_link("pages/data_source.py", label=t("nav.data_source"), icon=":material/database:")
    st.stop()

views = data.product_views(data.source_key(), chosen.start, chosen.end, chosen.tz, chosen.segment)
period = f"{chosen.start}_{chosen.end}"
products = views["products"].sort("gmv", descending=True, nulls_last=True)
names = dict(zip(products["product_id"], products["name"]))


def category_words(category: str | None) -> str:
    return text("products.all_categories", lang) if category is None else label("category", category, lang)


def newly_clicked():
    """The product of a new click on a bar (each click is applied once, so the picker can be
    moved afterwards)."""
    points = (st.session_state.get(CHART_KEY) or {}).get("selection", {}).get("points", [])
    clicked = points[0].get("customdata") if points else None
    if clicked == st.session_state.get(SEEN_KEY):
        return None
    st.session_state[SEEN_KEY] = clicked
    return clicked


clicked = newly_clicked()
if clicked in names:
    st.session_state[PICK_KEY] = clicked
# the category and the product are kept in the URL (ui/links.py): a link opens the product
left, right = st.columns([1, 2])
categories = sorted(products["category"].drop_nulls().unique().to_list())
linked(CATEGORY_KEY, "category", None, choices=categories)
category = left.selectbox(t("products.category"), [None, *categories], format_func=category_words, key=CATEGORY_KEY, placeholder=category_words(None))
picked = linked(PICK_KEY, "product", None, choices=list(names))
right.selectbox(
    t("products.product"), [None, *names], key=PICK_KEY,
    format_func=lambda product: text("products.no_product", lang) if product is None else names[product], placeholder=t("products.no_product"),
)
shown = products if category is None else products.filter(pl.col("category") == category)
st.plotly_chart(
    product_bars(shown, settings.currency, lang, top=TOP_PRODUCTS), on_select="rerun", selection_mode=("points",), key=CHART_KEY, width="stretch",
)
product = products.filter(pl.col("product_id") == picked) if picked is not None else None

if product is None or product.height == 0:
    st.caption(t("products.pick_a_product", top=TOP_PRODUCTS, category=category_words(category)))
else:
    row = product.row(0, named=True)
    with st.container(border=True):
        st.subheader(f"{row['name']} ({label('category', row['category'], lang)})")
        cells = st.columns(4)
        cells[0].metric(KPIS["gmv"].label_in(lang), format_value(KPIS["gmv"], row["gmv"], settings.currency, lang=lang))
        for cell, name in zip(cells[1:], ("ctr", "conversion", "refund_rate")):
            cell.metric(column_label(name), "–" if row[name] is None else f"{row[name]:.2%}")
        detail = data.product_detail(data.source_key(), picked, chosen.start, chosen.end, chosen.tz, chosen.segment)
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
        st.button(t("products.back"), icon=":material/arrow_back:", on_click=st.session_state.__setitem__, args=(PICK_KEY, None))

st.subheader(t("products.movers"))
kpi_table(views["movers"], settings.currency, name=f"product_movers_{period}")

st.subheader(t("products.categories"))
# Categories and products value items, the Overview values orders: say why they differ
order_gmv = data.daily_kpis(data.source_key(), chosen.start, chosen.end, chosen.tz, chosen.segment)["gmv"].sum()
st.caption(t(
    "products.gmv_definition",
    categories=format_value(KPIS["gmv"], float(views["categories"]["gmv"].sum()), settings.currency, lang=lang),
    overview=format_value(KPIS["gmv"], float(order_gmv), settings.currency, lang=lang),
))
kpi_table(views["categories"], settings.currency, name=f"categories_{period}")

st.subheader(t("products.products"))
kpi_table(views["products"], settings.currency, name=f"products_{period}")
