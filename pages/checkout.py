"""Search & checkout: what shoppers search for and what they do not find, how they pay and
how often paying fails, and what coupons do for repeat purchase."""

import streamlit as st

from ui import data
from ui.frame import open_page

settings, shop, chosen = open_page("checkout", needs=("events", "orders"))

views = data.checkout_views(data.source_key(), chosen.start, chosen.end, chosen.tz, chosen.segment)
percent = {
    name: st.column_config.NumberColumn(label, format="percent")
    for name, label in (("conversion", "Conversion"), ("order_share", "Share of orders"), ("gmv_share", "Share of GMV"), ("repeat_purchase_rate", "Repeat purchase rate"))
}
money = {"gmv": st.column_config.NumberColumn("GMV", format=f"{settings.currency}%.2f")}


def _share(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


st.subheader("Search")
summary = views["search"].row(0, named=True)
cells = st.columns(3)
cells[0].metric("Searches", f"{summary['searches']:,}")
cells[1].metric("Searches per searching session", "–" if summary["searches_per_searching_session"] is None else f"{summary['searches_per_searching_session']:.2f}")
cells[2].metric("Search conversion", _share(summary["search_conversion"]), help="Sessions with a search and a purchase / sessions with a search.")
left, right = st.columns(2)
left.markdown("**Top search terms**")
left.dataframe(views["terms"], hide_index=True, width="stretch", column_config=percent)
right.markdown("**Searches that ended the visit** (what shoppers did not find)")
right.dataframe(views["exit_terms"], hide_index=True, width="stretch")

st.subheader("Payment")
failures = views["failures"].row(0, named=True)
cells = st.columns(2)
cells[0].metric("Checkouts", f"{failures['checkouts']:,}")
cells[1].metric(
    "Payment failure rate", _share(failures["payment_failure_rate"]),
    help="Checkouts not followed within 30 minutes by a purchase or a valid order of the same user.",
)
st.dataframe(views["methods"], hide_index=True, width="stretch", column_config=percent | money)

st.subheader("Coupons")
coupons = views["coupons"].row(0, named=True)
cells = st.columns(3)
cells[0].metric("Redemption", _share(coupons["redemption_rate"]), help="Valid orders with a coupon / valid orders.")
cells[1].metric("Discount cost", f"{settings.currency}{coupons['discount_cost']:,.2f}")
cells[2].metric("Coupon orders", f"{coupons['coupon_orders']:,} / {coupons['orders']:,}")
st.dataframe(views["coupon_repeat"], hide_index=True, width="stretch", column_config=percent)
