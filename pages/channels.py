"""Traffic & channels: per channel traffic, sales and spend against the CPC and ROI targets;
click a channel to filter every page to it."""

import streamlit as st

from charts.channels import channel_quality
from ui import data, filters
from ui.frame import open_page
from ui.tables import kpi_column_config

CHART_KEY = "channels_quality"

settings, shop, chosen = open_page("channels", needs=("events", "orders", "users"))

table = data.channel_table(data.source_key(), chosen.start, chosen.end, chosen.tz, chosen.segment)
st.caption(
    f"{chosen.start} to {chosen.end} ({chosen.tz}). Targets: CPC at most {settings.currency}{settings.cpc_target:g}, "
    f"ROI above {settings.roi_target:.0%}; margin from product cost, else {settings.default_margin:.0%}."
)
if not shop.has("ad_spend"):
    st.info("This source has no ad_spend table, so spend, CPC, CAC, ROAS and ROI stay empty.")

over_cpc = table.filter(table["cpc_above_target"].fill_null(False))["channel"].to_list()
under_roi = table.filter(table["roi_below_target"].fill_null(False))["channel"].to_list()
for channels, message in ((over_cpc, "CPC above target"), (under_roi, "ROI below target")):
    if channels:
        st.warning(f"{message}: {', '.join(channels)}")


def _filter_to_clicked_channel() -> None:
    points = st.session_state[CHART_KEY].get("selection", {}).get("points", [])
    if points:
        st.session_state[filters.CHANNELS_KEY] = [points[0]["customdata"]]


st.plotly_chart(
    channel_quality(table, settings.currency),
    on_select=_filter_to_clicked_channel,
    selection_mode=("points",),
    key=CHART_KEY,
    width="stretch",
)
st.caption("Bubble area is GMV; click a channel to filter every page to it (clear it in the sidebar).")

money = {name: st.column_config.NumberColumn(name.replace("_", " ").capitalize(), format=f"{settings.currency}%.2f") for name in ("spend", "cpc", "cac", "gross_profit")}
st.dataframe(
    table,
    hide_index=True,
    width="stretch",
    column_config=kpi_column_config(table, settings.currency)
    | money
    | {
        "roas": st.column_config.NumberColumn("ROAS", format="%.2f", help="GMV / spend"),
        "roi": st.column_config.NumberColumn("ROI", format="percent", help="(gross profit - spend) / spend"),
        "margin": st.column_config.NumberColumn("Margin", format="percent"),
        "visitors": st.column_config.NumberColumn("Visitors", format="localized"),
        "first_time_buyers": st.column_config.NumberColumn("First-time buyers", format="localized"),
        "impressions": st.column_config.NumberColumn("Ad impressions", format="localized"),
        "clicks": st.column_config.NumberColumn("Ad clicks", format="localized"),
    },
)
st.download_button("Download CSV", table.write_csv(), f"channels_{chosen.start}_{chosen.end}.csv", "text/csv")
