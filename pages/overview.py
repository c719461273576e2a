"""Overview: the period's KPI cards against the previous period, daily trends, and a
drill-down into any day the user clicks."""

from datetime import date

import streamlit as st

from charts.trends import channel_bars, daily_trend
from metrics.kpis import DAILY_COLUMNS
from metrics.registry import KPIS, format_value
from ui import data
from ui.frame import open_page
from ui.tables import kpi_table

CARD_KPIS = ("gmv", "net_revenue", "orders", "aov", "buyers", "active_users", "conversion_rate", "sessions", "bounce_rate", "session_conversion")
TREND_KPIS = tuple(name for name in DAILY_COLUMNS if name != "date")
CHART_KEY = "overview_trend"
CHANNEL_EXPLAINED = {"dau", "sessions", "bounce_rate", "session_conversion", "orders", "buyers", "gmv", "conversion_rate", "new_users"}

settings, shop, chosen = open_page("overview", needs=("events", "orders", "users"))

args = (data.source_key(), chosen.start, chosen.end, chosen.tz, chosen.segment)
alerts = data.recent_alerts(args[0], chosen.end, chosen.tz, chosen.segment)
if alerts.height:
    with st.container(border=True):
        st.markdown(f"**Alerts** in the 7 days to {chosen.end}")
        for alert in alerts.iter_rows(named=True):
            kpi = KPIS[alert["kpi"]]
            st.markdown(
                f":red[{alert['date']:%a %m-%d}] **{kpi.label}** {format_value(kpi, alert['value'], settings.currency)}, "
                f"{alert['direction']} from a usual {format_value(kpi, alert['baseline_median'], settings.currency)} "
                f"(robust z {alert['robust_z']:+.1f}, against {alert['compared_with']})"
            )
        if set(alerts["kpi"]) & CHANNEL_EXPLAINED:
            st.page_link("pages/channels.py", label="See which channels moved", icon=":material/campaign:")
else:
    st.success(f"No anomalies in the 7 days to {chosen.end}.", icon=":material/check_circle:")

COMPARED_WITH = {"previous": "the previous period", "week_before": "a week before", "year_before": "a year before"}
compared_with = st.segmented_control(
    "Compare with", list(COMPARED_WITH), format_func=COMPARED_WITH.get, default="previous", key="overview_compare"
) or "previous"
cut_at = data.period_cut(*args[:4])
st.caption(
    f"{chosen.start:%a %Y-%m-%d} to {chosen.end:%a %Y-%m-%d} ({chosen.days} days, {chosen.tz}), "
    f"compared with {COMPARED_WITH[compared_with]}."
    + ("" if cut_at is None else f" The period is still in progress (data up to {cut_at:%Y-%m-%d %H:%M}); "
       "every period is compared up to the same point.")
)

comparison = {row["kpi"]: row for row in data.period_comparison(*args).iter_rows(named=True)}
for card_row in (CARD_KPIS[:5], CARD_KPIS[5:]):
    for column, name in zip(st.columns(5), card_row):
        kpi, row = KPIS[name], comparison[name]
        change = row[f"change_vs_{compared_with}"]
        others = "; ".join(f"{label}: {format_value(kpi, row[other], settings.currency)}" for other, label in COMPARED_WITH.items())
        column.metric(
            kpi.label,
            format_value(kpi, row["current"], settings.currency, compact=True),
            delta=None if change is None else f"{change:+.1%}",
            delta_color="normal" if kpi.higher_is_better else "inverse",
            help=f"{kpi.description}. This period: {format_value(kpi, row['current'], settings.currency)}; {others}.",
            border=True,
        )

daily = data.daily_kpis(*args)
picked = st.selectbox(
    "Trend", TREND_KPIS, format_func=lambda name: KPIS[name].label, key="overview_metric"
)
event = st.plotly_chart(
    daily_trend(daily, KPIS[picked], settings.currency),
    on_select="rerun",
    selection_mode=("points",),
    key=CHART_KEY,
    width="stretch",
)
points = (event or {}).get("selection", {}).get("points", [])
clicked = date.fromisoformat(str(points[0]["x"])[:10]) if points else None

with st.expander("Daily table"):
    kpi_table(daily, settings.currency)
    st.download_button("Download CSV", daily.write_csv(), f"daily_kpis_{chosen.start}_{chosen.end}.csv", "text/csv")

if clicked is None or not chosen.start <= clicked <= chosen.end:
    st.caption("Click a day in the chart to see its channels, top products and orders.")
    st.stop()

st.subheader(f"{clicked:%A %Y-%m-%d}")
detail = data.day_detail(args[0], clicked, chosen.tz, chosen.segment)
left, right = st.columns(2)
with left:
    st.markdown("**Channels**")
    kpi_table(detail["channels"], settings.currency)
with right:
    st.plotly_chart(channel_bars(detail["channels"], "gmv", f"GMV ({settings.currency})"), width="stretch")
if "products" in detail:
    st.markdown("**Top products**")
    kpi_table(detail["products"], settings.currency)
st.markdown(f"**Orders** ({detail['orders'].height})")
st.dataframe(
    detail["orders"],
    hide_index=True,
    width="stretch",
    column_config={
        "created_at_local": st.column_config.DatetimeColumn(f"Created ({chosen.tz})", format="YYYY-MM-DD HH:mm:ss"),
        "amount": st.column_config.NumberColumn("Amount", format=f"{settings.currency}%.2f"),
    },
)
