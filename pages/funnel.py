"""Funnel: build the steps, pick window, mode and breakdown; see users, conversion and time
between steps; click a step to list and export the users who dropped off after it."""

from datetime import timedelta

import streamlit as st

from charts.funnel import funnel_bars
from exports import DEFAULT_FUNNEL_STEPS
from metrics.funnel_spec import FunnelSpec
from ui import data
from ui.frame import open_page

CHART_KEY = "funnel_chart"
MODES = {"ordered": "Ordered", "strict": "Strict (next event)", "unordered": "Any order"}
WINDOW_UNITS = {"minutes": "minutes", "hours": "hours", "days": "days"}
BREAKDOWNS = ("channel", "device", "region", "member_level", "gender")

settings, shop, chosen = open_page("funnel", needs=("events",))

event_types = sorted(shop.events["event_type"].unique().to_list())
default_steps = [step for step in DEFAULT_FUNNEL_STEPS.split(",") if step in event_types]
steps = st.multiselect(
    "Steps, in order", event_types, default=default_steps, key="funnel_steps",
    help="Pick the event types in the order the user should do them.",
)
columns = st.columns(4)
window_size = columns[0].number_input("Window", min_value=1, value=7, step=1, key="funnel_window")
window_unit = columns[1].selectbox("Unit", list(WINDOW_UNITS), index=2, key="funnel_window_unit")
mode = columns[2].selectbox("Mode", list(MODES), format_func=MODES.get, key="funnel_mode")
available = [name for name in BREAKDOWNS if name in shop.events.columns or name in shop.users.columns]
breakdown = columns[3].selectbox("Breakdown", [None, *available], format_func=lambda name: "None" if name is None else name, key="funnel_breakdown")

try:
    spec = FunnelSpec(steps=tuple(steps), window=timedelta(**{window_unit: int(window_size)}), mode=mode, breakdown=breakdown)
except ValueError as error:
    st.info(f"{error}. Add steps above.")
    st.stop()

result = data.funnel(data.source_key(), chosen.start, chosen.end, chosen.tz, chosen.segment, spec)
table = result["table"]
st.caption(
    f"Users who did {steps[0]} between {chosen.start} and {chosen.end} ({chosen.tz}), and the later steps within "
    f"{window_size} {window_unit} of it (late steps after the period count). "
    f"{int(table['in_progress'].max() or 0):,} users are still inside their window."
)
event = st.plotly_chart(funnel_bars(table, breakdown), on_select="rerun", selection_mode=("points",), key=CHART_KEY, width="stretch")
st.dataframe(
    table,
    hide_index=True,
    width="stretch",
    column_config={
        "conversion_from_previous": st.column_config.NumberColumn("From previous", format="percent"),
        "conversion_from_first": st.column_config.NumberColumn("From first", format="percent"),
        "median_seconds_from_previous": st.column_config.NumberColumn("Median seconds from previous", format="%.0f"),
    },
)

points = (event or {}).get("selection", {}).get("points", [])
clicked_step = int(points[0]["customdata"]) if points else None
if clicked_step is None or clicked_step >= len(steps):
    st.caption("Click a step (not the last) to list the users who stopped there.")
    st.stop()

dropped = result["drop_offs"].filter(result["drop_offs"]["step"] == clicked_step)
st.subheader(f"Stopped after step {clicked_step} ({steps[clicked_step - 1]}): {dropped.height:,} users")
st.dataframe(dropped, hide_index=True, width="stretch")
st.download_button("Download these users (CSV)", dropped.write_csv(), f"funnel_drop_offs_step_{clicked_step}.csv", "text/csv")
