"""Targets: a manager sets a KPI's target for a month or a week (kept in the alert database
with who set it and when), sees how this month's and week's targets pace, and every target
set; a target is changed by setting it again, or deleted."""

from datetime import UTC, datetime

import polars as pl
import streamlit as st

from metrics.registry import KPIS, format_value
from shop_analytics.alerts.messages import target_period_words
from shop_analytics.targets import PERIOD_KINDS, TARGET_KPIS, TargetError, checked_target, targets_frame
from shop_analytics.ui import access, operations
from shop_analytics.ui.frame import open_page
from shop_analytics.ui.lang import language, t
from shop_analytics.ui.tables import kpi_table

SAVED_KEY = "targets_saved"

settings, shop, chosen = open_page("targets")
lang = language()
store = operations.target_store()


def who() -> str:
    """The signed-in user's name; "local" without [access] (this machine only)."""
    configured = access.configuration()
    user = None if configured is None else access.current_user(configured)
    return "local" if user is None else user.name


def is_level(kpi: str) -> bool:
    """Whether the KPI's target is a level given in percent (a ratio) rather than a total."""
    return KPIS[kpi].unit == "ratio"


def save() -> None:
    kpi = st.session_state["target_kpi"]
    value = st.session_state["target_value"]
    try:
        target = checked_target(kpi, st.session_state["target_period_kind"], st.session_state["target_day"],
                                value / 100 if is_level(kpi) else value)
    except TargetError as error:
        st.session_state[SAVED_KEY] = ("error", str(error))
        return
    store.set(target, set_by=who(), now=datetime.now(UTC))
    st.session_state[SAVED_KEY] = ("success", t("targets.saved", kpi=KPIS[kpi].label_in(lang),
                                                 period=target_period_words(target.period_kind, target.period_start, lang),
                                                 value=format_value(KPIS[kpi], target.value, settings.currency, lang=lang)))


def delete(target_id: int) -> None:
    store.delete(target_id)
    st.session_state[SAVED_KEY] = ("success", t("targets.deleted"))


operations.draw_target_paces(shop, settings, chosen)

st.subheader(t("targets.set"))
st.caption(t("targets.set_caption", margin=f"{settings.target_margin:.0%}"))
left, middle, right, far_right = st.columns(4)
kpi = left.selectbox(t("targets.kpi"), TARGET_KPIS, format_func=lambda name: KPIS[name].label_in(lang), key="target_kpi")
middle.segmented_control(t("targets.period_kind"), PERIOD_KINDS, format_func=lambda kind: t(f"targets.kind_{kind}"),
                         default="month", key="target_period_kind")
right.date_input(t("targets.day"), value=operations.pace_day(shop, chosen), key="target_day")
far_right.number_input(
    t("targets.value_percent") if is_level(kpi) else t("targets.value", unit=settings.currency if KPIS[kpi].unit == "money" else ""),
    min_value=0.0, step=1.0, key="target_value", help=t("targets.value_help"),
)
st.button(t("targets.save"), key="target_save", icon=":material/flag:", on_click=save)
outcome = st.session_state.pop(SAVED_KEY, None)
if outcome is not None:
    (st.error if outcome[0] == "error" else st.success)(outcome[1])

st.subheader(t("targets.all"))
targets = store.targets()
if not targets:
    st.info(t("targets.none"))
else:
    table = targets_frame(targets).with_columns(
        kpi=pl.Series([KPIS[target.kpi].label_in(lang) for target in targets]),
        period_kind=pl.Series([target_period_words(target.period_kind, target.period_start, lang) for target in targets]),
        target=pl.Series([format_value(KPIS[target.kpi], target.value, settings.currency, lang=lang) for target in targets]),
    ).select("id", "kpi", "period_kind", "period_start", "period_end", "target", "value", "set_by", "set_at")
    kpi_table(table, settings.currency, name="targets")
    left, right = st.columns([3, 1], vertical_alignment="bottom")
    chosen_id = left.selectbox(t("targets.pick"), [target.id for target in targets], key="target_delete_id",
                               format_func=lambda target_id: next(f"{operations.target_label(target)}: {format_value(KPIS[target.kpi], target.value, settings.currency, lang=lang)}"
                                                                  for target in targets if target.id == target_id))
    right.button(t("targets.delete"), key="target_delete", icon=":material/delete:", on_click=delete, args=(chosen_id,))
