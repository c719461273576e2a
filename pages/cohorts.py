"""Cohorts: retention by cohort (heatmap and curves), lifecycle of the active base,
historical LTV curves, CAC payback per acquisition channel, and new and repeat orders with
repurchase within 30 and 90 days per week or month."""

import streamlit as st

from metrics.cohorts import CohortBy, CohortPeriod, Measure, RetentionMode
from shop_analytics.charts.cohorts import (
    lifecycle_bars,
    ltv_lines,
    payback_lines,
    retention_curves,
    retention_heatmap,
)
from shop_analytics.charts.repeat_orders import repurchase_lines
from shop_analytics.i18n import text
from shop_analytics.ui import data, operations
from shop_analytics.ui.cohort_span import WIDER_SPANS, cohort_start
from shop_analytics.ui.frame import open_page
from shop_analytics.ui.lang import language, t
from shop_analytics.ui.links import linked
from shop_analytics.ui.tables import kpi_table

PERIODS: tuple[CohortPeriod, ...] = ("week", "month")
COHORT_BY: tuple[CohortBy, ...] = ("activity", "signup", "first_order")
MEASURES: tuple[Measure, ...] = ("activity", "purchase")
MODES: tuple[RetentionMode, ...] = ("on", "on_or_after")

settings, shop, chosen = open_page("cohorts")
lang = language()

left, middle, right, far_right = st.columns(4)
# the pickers are kept in the URL (ui/links.py): a shared link shows the same cohorts
linked("cohort_period", "grain", "week", choices=PERIODS)
linked("cohort_by", "cohort_by", COHORT_BY[0], choices=COHORT_BY)
linked("cohort_measure", "retained_when", MEASURES[0], choices=MEASURES)
linked("cohort_mode", "counted", MODES[0], choices=MODES)
period = left.segmented_control(t("cohorts.period"), PERIODS, format_func=lambda name: text(f"cohorts.{name}", lang), key="cohort_period") or "week"
cohort_by = middle.selectbox(t("cohorts.cohort_by"), COHORT_BY, format_func=lambda name: text(f"cohorts.by_{name}", lang), key="cohort_by") or COHORT_BY[0]
measure = right.selectbox(t("cohorts.retained_when"), MEASURES, format_func=lambda name: text(f"cohorts.measure_{name}", lang), key="cohort_measure") or MEASURES[0]
mode = far_right.selectbox(t("cohorts.counted"), MODES, format_func=lambda name: text(f"cohorts.mode_{name}", lang), key="cohort_mode") or MODES[0]

key = data.source_key()
segment = chosen.segment
# A period holding fewer than MIN_COHORTS starts of the grain (a month on the default 30 days)
# gives one cohort and single dots: the cohort views then start WIDER_SPANS grains back instead.
data_span = shop.date_span(chosen.tz)
if data_span is None:
    # open_page stops first in practice: without data the sidebar has no period to pick
    st.info(t("filters.no_data"))
    st.stop()
start = cohort_start(period, chosen.start, chosen.end, data_span[0])
if start != chosen.start:
    st.info(t(
        f"cohorts.widened_{period}", count=WIDER_SPANS[period], start=start, end=chosen.end,
        chosen_start=chosen.start, chosen_end=chosen.end,
    ), icon=":material/date_range:")
span = f"{start}_{chosen.end}"
table = data.retention(key, start, chosen.end, chosen.tz, segment, period, cohort_by, measure, mode)
st.subheader(t("cohorts.retention"))
if table.height == 0:
    st.info(t("cohorts.no_cohort", period=t(f"cohorts.{period}"), start=start, end=chosen.end))
else:
    st.caption(t("cohorts.retention_caption", period=t(f"cohorts.{period}")))
    heatmap, curves = st.tabs([t("cohorts.heatmap"), t("cohorts.curves")])
    heatmap.plotly_chart(retention_heatmap(table, lang), width="stretch")
    curves.plotly_chart(retention_curves(table, lang), width="stretch")
    with st.expander(t("cohorts.retention_table")):
        kpi_table(table, settings.currency, name=f"retention_{period}_{span}")

st.subheader(t("cohorts.lifecycle"))
lifecycle = data.lifecycle(key, start, chosen.end, chosen.tz, segment, period)
st.caption(t("cohorts.lifecycle_caption"))
st.plotly_chart(lifecycle_bars(lifecycle, lang, period), width="stretch")

st.subheader(t("cohorts.ltv"))
ltv = data.ltv_curves(key, start, chosen.end, chosen.tz, segment, period, cohort_by)
st.caption(t("cohorts.ltv_caption"))
st.plotly_chart(ltv_lines(ltv, settings.currency, lang), width="stretch")

payback = data.channel_payback(key, start, chosen.end, chosen.tz, segment, period)
st.subheader(t("cohorts.payback"))
if payback is None:
    st.info(t("cohorts.no_spend"))
else:
    st.caption(t("cohorts.payback_caption", margin=f"{settings.default_margin:.0%}", period=t(f"cohorts.{period}")))
    st.plotly_chart(payback_lines(payback["curves"], payback["channels"], settings.default_margin, settings.currency, lang), width="stretch")
    kpi_table(payback["channels"], settings.currency, name=f"cac_payback_{period}_{span}")

st.subheader(t("cohorts.repurchase"))
repurchase = data.repurchase_by_period(key, start, chosen.end, chosen.tz, segment, period)
st.caption(t("cohorts.repurchase_caption", period=t(f"cohorts.{period}")))
st.plotly_chart(repurchase_lines(repurchase, lang), width="stretch")
with st.expander(t("cohorts.repurchase_table")):
    kpi_table(repurchase, settings.currency, name=f"repurchase_{period}_{span}")
operations.draw_new_and_repeat(settings, chosen)
