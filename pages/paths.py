"""User paths: where sessions go from where they land, from a chosen step or to one, as a
Sankey; click a step's page to list the paths through it and start or end the paths there."""

from functools import partial

import streamlit as st

from metrics.path_tables import path_strings, top_paths
from metrics.paths import DEFAULT_DEPTH, DEFAULT_MIN_SHARE, ENTRANCE, EXIT, OTHER
from shop_analytics.charts.paths import path_sankey
from shop_analytics.i18n import label as value_label
from shop_analytics.i18n import text, translations
from shop_analytics.ui import analysis_data, data
from shop_analytics.ui.frame import open_page
from shop_analytics.ui.lang import language, t
from shop_analytics.ui.links import linked, number_between
from shop_analytics.ui.tables import kpi_table

DIRECTIONS = ("landing", "from_step", "to_step")
GROUPINGS = ("min_share", "top_n")
DIRECTION_KEY, ANCHOR_KEY, DEPTH_KEY = "paths_direction", "paths_anchor", "paths_depth"
HISTORY_KEY = "paths_history"  # the (direction, step) views a drill-down left, for "Back"
VIEW_KEY = "paths_view"  # the view the node pickers were drawn for
MAX_TOP_N = 10
MAX_MIN_SHARE_PERCENT = 20.0
DEFAULT_TOP_N = 3

settings, shop, chosen = open_page("paths")
lang = language()
names = {EXIT: t("paths.exit"), ENTRANCE: t("paths.entrance"), OTHER: t("paths.other")}
source = data.source_key()
path_columns = {
    "path": st.column_config.TextColumn(t("paths.path"), width="large"),
    "steps": st.column_config.NumberColumn(t("paths.steps")),
    "sessions": st.column_config.NumberColumn(t("paths.sessions"), format="localized"),
    "share": st.column_config.NumberColumn(t("paths.share"), format="percent"),
}


def node_key(step: int) -> str:
    return f"paths_node_{step}"


def clear_nodes() -> None:
    for step in range(1, DEFAULT_DEPTH + 1):
        st.session_state[node_key(step)] = None


def keep_one_node(step: int) -> None:
    """A click on a step's page clears the pick in every other step."""
    for other in range(1, DEFAULT_DEPTH + 1):
        if other != step:
            st.session_state[node_key(other)] = None


def reanchor(direction: str, label: str) -> None:
    st.session_state.setdefault(HISTORY_KEY, []).append((st.session_state[DIRECTION_KEY], st.session_state[ANCHOR_KEY]))
    st.session_state[DIRECTION_KEY], st.session_state[ANCHOR_KEY] = direction, label
    clear_nodes()


def back(focused: bool) -> None:
    """Leave the clicked node; without one, return to the view before the last re-anchoring."""
    clear_nodes()
    if not focused and st.session_state.get(HISTORY_KEY):
        st.session_state[DIRECTION_KEY], st.session_state[ANCHOR_KEY] = st.session_state[HISTORY_KEY].pop()


labels = analysis_data.step_labels(source)


def step_name(step: str) -> str:
    """A path step in words: a page's name, else an event's (paths fall back to event types)."""
    kind = "page" if f"values.page.{step}" in translations() else "event"
    return value_label(kind, step, lang)


# every node in words: the special ones (exit, entrance, other) and the pages
shown_names = {step: step_name(step) for step in labels} | names


def node_pill(node: str, sessions: dict[str, int]) -> str:
    """A node of a step as its pill says it: its name and the sessions through it."""
    return text("paths.node_pill", lang, label=shown_names.get(node, node), sessions=f"{sessions[node]:,}")
# every picker is kept in the URL (ui/links.py): a shared link shows the same paths
first_row = st.columns([3, 2, 2])
linked(DIRECTION_KEY, "direction", "landing", choices=DIRECTIONS)
direction = first_row[0].segmented_control(
    t("paths.direction"), DIRECTIONS, format_func=lambda name: text(f"paths.{name}", lang), key=DIRECTION_KEY
) or "landing"
linked(ANCHOR_KEY, "step", labels[0] if labels else None, choices=labels)
anchor = first_row[1].selectbox(t("paths.step"), labels, key=ANCHOR_KEY, disabled=direction == "landing", format_func=step_name)
linked(DEPTH_KEY, "depth", DEFAULT_DEPTH, parse=number_between(2, DEFAULT_DEPTH))
depth = first_row[2].slider(t("paths.depth"), 2, DEFAULT_DEPTH, key=DEPTH_KEY)
second_row = st.columns([3, 4])
linked("paths_grouping", "grouping", "min_share", choices=GROUPINGS)
grouping = second_row[0].segmented_control(
    t("paths.grouping"), GROUPINGS, format_func=lambda name: text(f"paths.{name}", lang), key="paths_grouping"
) or "min_share"
if grouping == "min_share":
    linked("paths_min_share", "min_share", DEFAULT_MIN_SHARE * 100, parse=number_between(0.0, MAX_MIN_SHARE_PERCENT, float))
    percent = second_row[1].slider(t("paths.min_share_value"), 0.0, MAX_MIN_SHARE_PERCENT, step=0.5, format="%.1f%%", key="paths_min_share")
    min_share, top_n = percent / 100, None
else:
    min_share = 0.0
    linked("paths_top_n", "top_n", DEFAULT_TOP_N, parse=number_between(1, MAX_TOP_N))
    top_n = int(second_row[1].number_input(t("paths.top_n_value"), 1, MAX_TOP_N, key="paths_top_n"))

start_at = anchor if direction == "from_step" else None
end_at = anchor if direction == "to_step" else None
view = (chosen.start, chosen.end, chosen.segment, start_at, end_at, depth, min_share, top_n)
if st.session_state.get(VIEW_KEY) != view:
    # A picked node belongs to the Sankey it was picked on.
    st.session_state[VIEW_KEY] = view
    clear_nodes()
views = analysis_data.path_views(source, chosen.start, chosen.end, chosen.tz, chosen.segment, start_at, end_at, depth, min_share, top_n)
nodes = views["nodes"]
if nodes.is_empty():
    message = "paths.no_sessions_at_all" if direction == "landing" else "paths.no_sessions"
    st.info(t(message, start=chosen.start, end=chosen.end, step=step_name(anchor)))
    st.stop()

st.caption(t("paths.caption", sessions=f"{views['grouped'].height:,}", start=chosen.start, end=chosen.end, tz=chosen.tz))
sankey = st.empty()  # drawn once the pickers below say which node is focused

st.caption(t("paths.pick_a_node"))
for step in range(1, depth + 1):
    step_nodes = dict(nodes.filter(nodes["step"] == step).select("label", "sessions").iter_rows())
    linked(node_key(step), f"node{step}", None, choices=list(step_nodes))
    st.pills(
        t("paths.step_column", step=step), list(step_nodes), key=node_key(step), on_change=keep_one_node, args=(step,),
        format_func=partial(node_pill, sessions=step_nodes),
    )
focus = next(((step, st.session_state[node_key(step)]) for step in range(1, depth + 1) if st.session_state.get(node_key(step))), None)
sankey.plotly_chart(path_sankey(nodes, views["links"], shown_names, lang, focus), width="stretch", key="paths_sankey")

if focus is not None or st.session_state.get(HISTORY_KEY):
    st.button(t("paths.back"), icon=":material/arrow_back:", on_click=back, args=(focus is not None,), key="paths_back")

if focus is not None:
    step, label = focus
    through = top_paths(views["grouped"], backwards=end_at is not None, through=focus)
    st.subheader(t("paths.through_title", step=step, label=shown_names.get(label, label), sessions=f"{through['sessions'].sum():,}"))
    if label not in names:
        left, right, _ = st.columns([1, 1, 2])
        left.button(t("paths.start_here", label=step_name(label)), on_click=reanchor, args=("from_step", label), key="paths_start_here")
        right.button(t("paths.end_here", label=step_name(label)), on_click=reanchor, args=("to_step", label), key="paths_end_here")
    kpi_table(path_strings(through, shown_names), settings.currency, name=f"paths_through_step_{step}_{label}", column_config=path_columns)

st.subheader(t("paths.top_paths"))
kpi_table(
    path_strings(views["paths"], shown_names),
    settings.currency,
    name=f"paths_{chosen.start}_{chosen.end}",
    column_config=path_columns,
)
