"""Service & reviews: 24-hour response, response and resolution times, return rate,
satisfaction, shipping times, and what reviews say."""

import polars as pl
import streamlit as st

from shop_analytics.charts.service import rating_bars
from shop_analytics.ui import data
from shop_analytics.ui.frame import open_page
from shop_analytics.ui.lang import language, t
from shop_analytics.ui.tables import kpi_table

RATING_BANDS = ("negative", "neutral", "positive")
TARGET_COLUMNS = ("answered_within_promise_share", "first_response_hours_median", "tickets")

settings, shop, chosen = open_page("service")
span = f"{chosen.start}_{chosen.end}"

views = data.service_views(data.source_key(), chosen.start, chosen.end, chosen.tz, chosen.segment)


def _share(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def _hours(value: float | None) -> str:
    return "–" if value is None else t("service.hours", hours=f"{value:.1f}")


st.subheader(t("service.customer_service"))
if "service" not in views:
    st.info(t("service.no_tickets"))
else:
    service = views["service"].row(0, named=True)
    cells = st.columns(5)
    cells[0].metric(t("service.tickets"), f"{service['tickets']:,}")
    cells[1].metric(t("service.within_24h"), _share(service["answered_within_promise_share"]), help=t("service.within_24h_help"))
    cells[2].metric(t("service.first_response"), _hours(service["first_response_hours_median"]), help=f"p90: {_hours(service['first_response_hours_p90'])}")
    cells[3].metric(t("service.return_rate"), _share(service["return_rate"]), help=t("service.return_rate_help"))
    cells[4].metric(t("service.satisfaction"), "–" if service["mean_satisfaction"] is None else f"{service['mean_satisfaction']:.2f} / 5")
    kpi_table(
        views["service_by_category"].drop("orders", "returned_orders", "return_rate"), settings.currency, name=f"service_by_category_{span}",
        first=TARGET_COLUMNS,  # the 24-hour promise first
    )

st.subheader(t("service.fulfilment"))
fulfilment = views["fulfilment"].row(0, named=True)
fulfilment_cells = st.columns(4)
fulfilment_cells[0].metric(t("service.shipped"), f"{fulfilment['shipped_orders']:,} / {fulfilment['orders']:,}")
fulfilment_cells[1].metric(t("service.order_to_ship"), _hours(fulfilment["order_to_ship_hours_median"]), help=f"p90: {_hours(fulfilment['order_to_ship_hours_p90'])}")
fulfilment_cells[2].metric(t("service.ship_to_delivery"), _hours(fulfilment["ship_to_delivery_hours_median"]))
fulfilment_cells[3].metric(t("service.late"), _share(fulfilment["late_share"]), help=t("service.late_help", late=f"{fulfilment['late_orders']:,}", due=f"{fulfilment['orders_due']:,}"))

st.subheader(t("service.reviews"))
if "words" not in views:
    st.info(t("service.no_reviews"))
    st.stop()
left, right = st.columns([1, 2])
left.plotly_chart(rating_bars(views["ratings"], language()), width="stretch")
words = views["words"]
with right:
    for band, column in zip(RATING_BANDS, st.columns(3)):
        column.markdown(f"**{t(f'service.{band}')}**")
        column.dataframe(
            words.filter(pl.col("group") == band).select("word", "count"), hide_index=True, width="stretch", height=260,
            column_config={"word": t("columns.word"), "count": t("columns.count")},
        )
if "words_by_product" in views:
    with st.expander(t("service.words_per_product")):
        kpi_table(views["words_by_product"], settings.currency, name=f"review_words_by_product_{span}")
