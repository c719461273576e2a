"""Traffic & channels: per channel traffic, sales and spend against the CPC and ROI targets,
spend and ROAS per day, GMV, ROAS and ROI under each attribution model; click a channel to
filter every page to it."""

import polars as pl
import streamlit as st

from metrics.attribution import DEFAULT_MODEL, MODELS
from metrics.registry import KPIS, format_value
from shop_analytics.charts.attribution import models_side_by_side
from shop_analytics.charts.channels import channel_quality, spend_and_roas
from shop_analytics.i18n import label, text
from shop_analytics.ui import data, filters
from shop_analytics.ui.frame import open_page
from shop_analytics.ui.lang import language, t
from shop_analytics.ui.links import linked
from shop_analytics.ui.tables import kpi_table

CHART_KEY = "channels_quality"
TARGET_COLUMNS = ("cpc", "cpc_above_target", "cac", "roas", "roi", "roi_below_target")

settings, shop, chosen = open_page("channels")
lang = language()

table = data.channel_table(data.source_key(), chosen.start, chosen.end, chosen.tz, chosen.segment)
st.caption(
    t(
        "channels.targets",
        start=chosen.start, end=chosen.end, tz=chosen.tz, cpc=f"{settings.currency}{settings.cpc_target:g}",
        roi=f"{settings.roi_target:.0%}", margin=f"{settings.default_margin:.0%}",
    )
)
if not shop.has("ad_spend"):
    st.info(t("channels.no_spend"))

for flag, message in (("cpc_above_target", "channels.cpc_above"), ("roi_below_target", "channels.roi_below")):
    flagged = table.filter(table[flag].fill_null(False))["channel"].to_list()
    if flagged:
        st.warning(t(message, channels=", ".join(label("channel", channel, lang) for channel in flagged)))


def _filter_to_clicked_channel() -> None:
    points = st.session_state[CHART_KEY].get("selection", {}).get("points", [])
    if points:
        st.session_state[filters.CHANNELS_KEY] = [points[0]["customdata"]]


st.plotly_chart(
    channel_quality(table, settings.currency, lang),
    on_select=_filter_to_clicked_channel,
    selection_mode=("points",),
    key=CHART_KEY,
    width="stretch",
)
st.caption(t("channels.click_a_channel"))

# the columns with targets right after the (pinned) channel: in view on a laptop and a phone
kpi_table(table, settings.currency, name=f"channels_{chosen.start}_{chosen.end}", first=TARGET_COLUMNS)

trend = data.channel_trend(data.source_key(), chosen.start, chosen.end, chosen.tz, chosen.segment)
if trend is not None and trend.height:
    st.subheader(t("channels.spend_trend"))
    st.plotly_chart(spend_and_roas(trend, settings.currency, lang), width="stretch")
    with st.expander(t("channels.spend_table")):
        kpi_table(trend, settings.currency, name=f"channel_spend_{chosen.start}_{chosen.end}")

# Attribution (SPEC: an order's channel credit over its buyer's sessions in the lookback).
span = f"{chosen.start}_{chosen.end}"
st.subheader(t("channels.attribution"))
linked("attribution_model", "model", DEFAULT_MODEL, choices=MODELS)  # kept in the URL (ui/links.py)
model = st.selectbox(
    t("channels.model"), MODELS, format_func=lambda name: text(f"channels.model_{name}", lang), key="attribution_model",
)
models = data.attribution_models(data.source_key(), chosen.start, chosen.end, chosen.tz, chosen.segment)
attributed = models.filter(pl.col("model") == model).drop("model")
st.caption(t(
    "channels.attribution_caption", days=settings.attribution_lookback_days,
    gmv=format_value(KPIS["gmv"], float(attributed["gmv"].sum()), settings.currency, lang=lang),
))
kpi_table(attributed, settings.currency, name=f"attribution_{model}_{span}")
st.markdown(f"**{t('channels.models_side_by_side')}**")
st.plotly_chart(models_side_by_side(models, settings.currency, lang), width="stretch")
with st.expander(t("channels.models_table")):
    model_words = {name: t(f"channels.model_{name}") for name in MODELS}
    kpi_table(models.with_columns(pl.col("model").replace_strict(model_words)), settings.currency, name=f"attribution_models_{span}")
