"""Service & reviews: 24-hour response, response and resolution times, return rate,
satisfaction, shipping times, and what reviews say."""

import polars as pl
import streamlit as st

from ui import data
from ui.frame import open_page

settings, shop, chosen = open_page("service", needs=("orders",))

views = data.service_views(data.source_key(), chosen.start, chosen.end, chosen.tz, chosen.segment)


def _share(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def _hours(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f} h"


st.subheader("Customer service")
if "service" not in views:
    st.info("This source has no tickets table, so response times and satisfaction cannot be shown.")
else:
    service = views["service"].row(0, named=True)
    cells = st.columns(5)
    cells[0].metric("Tickets", f"{service['tickets']:,}")
    cells[1].metric("Answered within 24 h", _share(service["answered_within_promise_share"]), help="Of the tickets whose 24 hours had passed by the data's end.")
    cells[2].metric("Median first response", _hours(service["first_response_hours_median"]), help=f"p90: {_hours(service['first_response_hours_p90'])}")
    cells[3].metric("Return rate", _share(service["return_rate"]), help="Valid orders with a return ticket or a refund / valid orders.")
    cells[4].metric("Satisfaction", "–" if service["mean_satisfaction"] is None else f"{service['mean_satisfaction']:.2f} / 5")
    st.dataframe(
        views["service_by_category"].drop("orders", "returned_orders", "return_rate"),
        hide_index=True,
        width="stretch",
        column_config={
            "answered_within_promise_share": st.column_config.NumberColumn("Within 24 h", format="percent"),
            "answered_within_promise": st.column_config.NumberColumn("Answered within 24 h"),
            "mean_satisfaction": st.column_config.NumberColumn("Satisfaction", format="%.2f"),
        }
        | {
            name: st.column_config.NumberColumn(name.replace("_hours_", " ").replace("_", " ").capitalize() + " (h)", format="%.1f")
            for name in views["service_by_category"].columns
            if "_hours_" in name
        },
    )

st.subheader("Fulfilment")
fulfilment = views["fulfilment"].row(0, named=True)
cells = st.columns(4)
cells[0].metric("Orders shipped", f"{fulfilment['shipped_orders']:,} / {fulfilment['orders']:,}")
cells[1].metric("Median order to ship", _hours(fulfilment["order_to_ship_hours_median"]), help=f"p90: {_hours(fulfilment['order_to_ship_hours_p90'])}")
cells[2].metric("Median ship to delivery", _hours(fulfilment["ship_to_delivery_hours_median"]))
cells[3].metric("Late shipments (over 48 h)", _share(fulfilment["late_share"]), help=f"{fulfilment['late_orders']:,} of {fulfilment['orders_due']:,} orders due")

st.subheader("Reviews")
if "words" not in views:
    st.info("This source has no reviews table.")
    st.stop()
ratings = views["ratings"]
left, right = st.columns([1, 2])
left.bar_chart(ratings, x="rating", y="reviews", height=260)
words = views["words"]
with right:
    for band, column in zip(("negative", "neutral", "positive"), st.columns(3)):
        band_words = words.filter(pl.col("group") == band)
        column.markdown(f"**{band.capitalize()}**")
        column.dataframe(band_words.select("word", "count"), hide_index=True, width="stretch", height=260)
if "words_by_product" in views:
    with st.expander("Words per product"):
        st.dataframe(views["words_by_product"], hide_index=True, width="stretch", column_config={"share": st.column_config.NumberColumn("Share of reviews", format="percent")})
