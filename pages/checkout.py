"""Search & checkout: what shoppers search for and what they do not find, how they pay and
how often paying fails, what coupons do for repeat purchase, and how many carts and checkouts
are abandoned (by channel and device, with who abandoned them for analysts)."""

import streamlit as st

from metrics.abandonment import STAGES
from metrics.registry import KPIS, format_value, kpi_help
from shop_analytics.charts.repeat_orders import rate_bars
from shop_analytics.i18n import text
from shop_analytics.ui import data
from shop_analytics.ui.frame import open_page
from shop_analytics.ui.lang import language, t
from shop_analytics.ui.links import linked
from shop_analytics.ui.tables import download_buttons, kpi_table, may_show_users

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
payment_cells = st.columns(2)
payment_cells[0].metric(t("checkout.checkouts"), f"{failures['checkouts']:,}")
payment_cells[1].metric(t("checkout.failure_rate"), _share(failures["payment_failure_rate"]), help=t("checkout.failure_rate_help"))
kpi_table(views["methods"], settings.currency, name=f"payment_methods_{span}")

st.subheader(t("checkout.coupons"))
coupons = views["coupons"].row(0, named=True)
cells = st.columns(3)
cells[0].metric(t("checkout.redemption"), _share(coupons["redemption_rate"]), help=t("checkout.redemption_help"))
cells[1].metric(t("checkout.discount_cost"), format_value(KPIS["gmv"], coupons["discount_cost"], settings.currency, lang=lang))
cells[2].metric(t("checkout.coupon_orders"), f"{coupons['coupon_orders']:,} / {coupons['orders']:,}")
kpi_table(views["coupon_repeat"], settings.currency, name=f"coupon_repeat_purchase_{span}")

# Cart and checkout abandonment (SPEC: sessions with an add_to_cart and no purchase / sessions
# with an add_to_cart; checkout likewise).
st.subheader(t("checkout.abandonment"))
if not shop.has("events"):
    st.info(t("checkout.abandonment_needs_events"))
    st.stop()
abandoned = data.abandonment_views(data.source_key(), chosen.start, chosen.end, chosen.tz, chosen.segment)
total = abandoned["total"].row(0, named=True)
st.caption(t("checkout.abandonment_caption", unpriced=f"{total['unpriced_cart_products']:,}"))
cells = st.columns(3)
for cell, name in zip(cells, ("cart_abandonment_rate", "checkout_abandonment_rate", "abandoned_cart_value")):
    kpi = KPIS[name]
    cell.metric(kpi.label_in(lang), format_value(kpi, total[name], settings.currency, lang=lang), help=kpi_help(kpi, lang), border=True)
rates = {name: KPIS[name].label_in(lang) for name in ("cart_abandonment_rate", "checkout_abandonment_rate")}
by_channel, by_device = st.tabs([t("checkout.by_channel"), t("checkout.by_device")])
for tab, breakdown in ((by_channel, "channel"), (by_device, "device")):
    with tab:
        st.plotly_chart(rate_bars(abandoned[breakdown], breakdown, rates, lang), width="stretch", key=f"abandonment_{breakdown}")
        kpi_table(abandoned[breakdown], settings.currency, name=f"abandonment_by_{breakdown}_{span}")

st.markdown(f"**{t('checkout.audience')}**")
linked("abandonment_stage", "stage", "cart", choices=tuple(STAGES))  # kept in the URL (ui/links.py)
stage = st.segmented_control(t("checkout.stage"), tuple(STAGES), format_func=lambda name: text(f"checkout.stage_{name}", lang),
                             key="abandonment_stage") or "cart"
audience = abandoned[f"{stage}_users"]
st.caption(t("checkout.audience_caption", users=f"{audience.height:,}", stage=t(f"checkout.stage_{stage}"),
             came_back=f"{audience['bought_since'].sum():,}"))
if may_show_users():
    kpi_table(audience, settings.currency, user_level=True)
    download_buttons(audience, f"abandoning_users_{stage}_{span}", user_level=True)
