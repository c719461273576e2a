"""Cohorts: retention by cohort, lifecycle of the active base, historical LTV curves."""

import streamlit as st

from charts.cohorts import lifecycle_bars, ltv_lines, retention_heatmap
from ui import data
from ui.frame import open_page

PERIODS = {"week": "Week", "month": "Month"}
COHORT_BY = {"activity": "First activity", "signup": "Signup", "first_order": "First order"}
MEASURES = {"activity": "Active", "purchase": "Buying"}
MODES = {"on": "In period n", "on_or_after": "In period n or later"}

settings, shop, chosen = open_page("cohorts", needs=("events", "orders", "users"))

left, middle, right, far_right = st.columns(4)
period = left.segmented_control("Cohort period", list(PERIODS), format_func=PERIODS.get, default="week", key="cohort_period") or "week"
cohort_by = middle.selectbox("Cohort by", list(COHORT_BY), format_func=COHORT_BY.get, key="cohort_by")
measure = right.selectbox("Retained when", list(MEASURES), format_func=MEASURES.get, key="cohort_measure")
mode = far_right.selectbox("Counted", list(MODES), format_func=MODES.get, key="cohort_mode")

key = data.source_key()
segment = chosen.segment
table = data.retention(key, chosen.start, chosen.end, chosen.tz, segment, period, cohort_by, measure, mode)
st.subheader("Retention")
if table.height == 0:
    st.info(f"No {period} starts inside {chosen.start} – {chosen.end}: widen the period in the sidebar.")
else:
    st.caption(
        f"Cohorts whose {period} begins in the period; the number beside each is its size. "
        "A `*` marks a cell whose period had not ended when the data ends."
    )
    st.plotly_chart(retention_heatmap(table), width="stretch")
    st.download_button("Download retention CSV", table.write_csv(), "retention.csv", "text/csv")

st.subheader("Lifecycle")
lifecycle = data.lifecycle(key, chosen.start, chosen.end, chosen.tz, segment, period)
st.caption("New, returning and resurrecting users per period; dormant users (active the period before, not now) below zero.")
st.plotly_chart(lifecycle_bars(lifecycle), width="stretch")

st.subheader("Historical LTV")
curves = data.ltv_curves(key, chosen.start, chosen.end, chosen.tz, segment, period, cohort_by)
st.caption("Cumulative GMV of valid orders per cohort user, by offset.")
st.plotly_chart(ltv_lines(curves, settings.currency), width="stretch")
