"""Search & checkout: what shoppers search for and what they do not find, how they pay and
how often paying fails, and what coupons do for repeat purchase."""

import streamlit as st

from metrics.registry import KPIS, format_value
from shop_analytics.ui import data
from shop_analytics.ui.frame import open_page
from shop_analytics.ui.lang import language, t
from shop_analytics.ui.tables import kpi_table

settings, shop, chosen = open_page("checkout")
lang = language()
span = f"{chosen.start}_{chosen.end}"

views = data.checkout_views(data.source_key(), chosen.start, chosen.end, chosen.tz, chosen.segment)


def _share(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


st.subheader(t("checkout.search"))
summary = views["search"].row(0, named=True)
cells = st.columns(3)
cells[0].metric(t("checkout.searches"), f"{summary['searches']:,}")
per_session = summary["searches_per_searching_session"]
cells[1].metric(t("checkout.per_session"), "–" if per_session is None else f"{per_session:.2f}")
cells[2].metric(t("checkout.search_conversion"), _share(summary["search_conversion"]), help=t("checkout.search_conversion_help"))
left, right = st.columns(2)
with left:
    st.markdown(f"**{t('checkout.top_terms')}**")
    kpi_table(views["terms"], settings.currency, name=f"search_terms_{span}")
with right:
    st.markdown(t("checkout.exit_terms"))
    kpi_table(views["exit_terms"], settings.currency, name=f"exit_terms_{span}")

st.subheader(t("checkout.payment"))
failures = views["failures"].row(0, named=True)
cells = st.columns(2)
cells[0].metric(t("checkout.checkouts"), f"{failures['checkouts']:,}")
cells[1].metric(t("checkout.failure_rate"), _share(failures["payment_failure_rate"]), help=t("checkout.failure_rate_help"))
kpi_table(views["methods"], settings.currency, name=f"payment_methods_{span}")

st.subheader(t("checkout.coupons"))
coupons = views["coupons"].row(0, named=True)
cells = st.columns(3)
cells[0].metric(t("checkout.redemption"), _share(coupons["redemption_rate"]), help=t("checkout.redemption_help"))
cells[1].metric(t("checkout.discount_cost"), format_value(KPIS["gmv"], coupons["discount_cost"], settings.currency, lang=lang))
cells[2].metric(t("checkout.coupon_orders"), f"{coupons['coupon_orders']:,} / {coupons['orders']:,}")
kpi_table(views["coupon_repeat"], settings.currency, name=f"coupon_repeat_purchase_{span}")
