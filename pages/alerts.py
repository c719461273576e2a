"""Alerts: the current alerts with their state, each opening the page that explains it; the
rule editor; the notification targets with a test send; the send history."""

from dataclasses import replace
from functools import partial
from typing import Any

import polars as pl
import streamlit as st

from shop_analytics.alerts.check import run_check, send_test
from shop_analytics.alerts.messages import alert_line, explaining_view, resolved_line
from shop_analytics.alerts.rules import KINDS, METRICS, OPERATORS, AlertRule, RuleError, metric_label
from shop_analytics.alerts.store import OPEN, SEND_STATUSES, Busy, alerts_frame
from shop_analytics.i18n import format_day, label, text
from shop_analytics.ui import alerts_data
from shop_analytics.ui.frame import open_page
from shop_analytics.ui.lang import language, t
from shop_analytics.ui.tables import download_buttons

alerts_data.follow_pending_view()
settings, shop, chosen = open_page("alerts")
lang = language()
try:
    config = alerts_data.config()
except ValueError as error:
    st.error(t("alerts.bad_config", error=error))
    st.stop()
store = alerts_data.store(str(config.database))
RULE_FIELDS = ("metric", "operator", "threshold", "kind", "channels", "devices", "regions")
EDITING_KEY, FEEDBACK_KEY, DELETING_KEY = "rule_editing", "rule_feedback", "rule_deleting"


def labelled(frame: pl.DataFrame, words: dict[str, tuple[str, ...]]) -> pl.DataFrame:
    """`frame` with the values of the columns in `words` in the page's language."""
    return frame.with_columns(
        pl.col(column).replace_strict({value: t(f"alerts.{column}_{value}") for value in values}) for column, values in words.items()
    )


def headers(frame: pl.DataFrame) -> dict:
    return {name: st.column_config.Column(t(f"alerts.col_{name}")) for name in frame.columns}


# Current alerts --------------------------------------------------------------------------
st.subheader(t("alerts.current"))
CHECKED_KEY, TESTED_KEY, BUSY_KEY = "alerts_checked", "alerts_tested", "alerts_busy"
PAGE_LOCK_WAIT_SECONDS = 5


# Buttons act in callbacks: a callback's work survives the rerun that brings a page into the frame.
def check_now() -> None:
    with st.spinner(t("alerts.checking")):
        try:
            # a person waits here: a few seconds for a check already running, then say so
            st.session_state[CHECKED_KEY] = run_check(shop, store, config, settings, lock_wait=PAGE_LOCK_WAIT_SECONDS)
        except Busy:
            st.session_state[BUSY_KEY] = True


def test_target(name: str) -> None:
    with st.spinner(t("alerts.sending")):
        st.session_state[TESTED_KEY] = send_test(store, config, name)


st.button(t("alerts.check_now"), key="alerts_check_now", icon=":material/play_arrow:", on_click=check_now)
result = st.session_state.pop(CHECKED_KEY, None)
if st.session_state.pop(BUSY_KEY, False):
    st.info(t("alerts.busy"))
if result is not None:
    message = t("alerts.checked", day=format_day(result.day, lang), new=len(result.new), resolved=len(result.resolved), failed=len(result.failed))
    (st.warning if result.failed else st.success)(message)
    for rule in result.skipped:
        st.info(t("alerts.skipped", rule=rule.describe(lang, settings.currency)))

alerts = store.alerts(since=chosen.start, until=chosen.end)
span = shop.date_span(chosen.tz)
if not alerts:
    st.info(t("alerts.none", start=chosen.start, end=chosen.end))
for alert in alerts:
    is_open = alert["status"] == OPEN
    view = explaining_view(alert)
    with st.container(border=True):
        words = (alert_line if is_open else resolved_line)(alert, lang, settings.currency)
        state = t(f"alerts.status_{alert['status']}")
        st.markdown(f"{':red-badge' if is_open else ':green-badge'}[{state}] {words}")
        sent = t("alerts.sent_at", at=f"{alert['last_sent_at']:%Y-%m-%d %H:%M} UTC") if alert["last_sent_at"] else t("alerts.not_sent")
        st.caption(t("alerts.state", first=format_day(alert["first_seen_day"], lang), last=format_day(alert["last_seen_day"], lang), sent=sent))
        st.button(
            t("alerts.open_view", page=t(f"nav.{view.page}")), key=f"alert_view_{alert['id']}", icon=":material/open_in_new:",
            on_click=alerts_data.open_view, args=(view, span),
        )
if alerts:
    table = alerts_frame(alerts).with_columns(
        alert=pl.Series([(alert_line if a["status"] == OPEN else resolved_line)(a, lang, settings.currency) for a in alerts])
    ).select("id", "status", "first_seen_day", "last_seen_day", "resolved_day", "last_sent_at", "alert")
    with st.expander(t("alerts.table")):
        table = labelled(table, {"status": ("open", "resolved")})
        st.dataframe(table, hide_index=True, width="stretch", column_config=headers(table))
        download_buttons(table, f"alerts_{chosen.start}_{chosen.end}")

# Rules -----------------------------------------------------------------------------------
st.subheader(t("alerts.rules"))
rules = store.rules()


def shown_threshold(rule: AlertRule) -> float:
    """Ratios and changes are typed in percent."""
    return rule.threshold * 100 if rule.unit == "ratio" else rule.threshold


def start_editing(rule: AlertRule) -> None:
    for name in RULE_FIELDS:
        st.session_state[f"rule_{name}"] = list(getattr(rule, name)) if name in ("channels", "devices", "regions") else getattr(rule, name)
    st.session_state["rule_threshold"] = shown_threshold(rule)
    st.session_state[EDITING_KEY] = rule.id


def save_rule() -> None:
    # the form's widget values, as typed; AlertRule checks each one (RuleError)
    values: dict[str, Any] = {name: st.session_state.get(f"rule_{name}") for name in RULE_FIELDS}
    in_percent = values["kind"] == "relative_change" or METRICS[values["metric"]].unit == "ratio"
    if in_percent and isinstance(values["threshold"], float):
        values["threshold"] /= 100
    try:
        rule = AlertRule(**values)
    except RuleError as error:
        st.session_state[FEEDBACK_KEY] = ("error", t("alerts.rule_invalid", error=error.in_language(lang)))
        return
    editing = st.session_state.get(EDITING_KEY)
    # the same rule twice would alert twice: a second Save (or one after Enter) adds nothing
    same = next((kept for kept in store.rules() if kept.id != editing and replace(kept, id=None) == rule), None)
    if same is not None:
        st.session_state[FEEDBACK_KEY] = ("info", t("alerts.rule_exists", id=same.id, rule=rule.describe(lang, settings.currency)))
        return
    st.session_state.pop(EDITING_KEY, None)
    if editing is None:
        store.add_rule(rule)
    else:
        store.update_rule(editing, rule)
    st.session_state[FEEDBACK_KEY] = ("success", t("alerts.rule_saved", rule=rule.describe(lang, settings.currency)))


if not rules:
    st.caption(t("alerts.no_rules"))
def delete_rule(rule_id: int) -> None:
    store.delete_rule(rule_id)
    st.session_state.pop(DELETING_KEY, None)


for rule in rules:
    rule_cell, edit, delete = st.columns([6, 1, 1], vertical_alignment="center")
    rule_cell.markdown(f"**#{rule.id}** {rule.describe(lang, settings.currency)}")
    edit.button(t("alerts.edit"), key=f"rule_edit_{rule.id}", icon=":material/edit:", on_click=start_editing, args=(rule,))
    # Delete asks first: the rule's open alerts resolve with it
    delete.button(
        t("alerts.delete"), key=f"rule_delete_{rule.id}", icon=":material/delete:", on_click=st.session_state.__setitem__, args=(DELETING_KEY, rule.id),
    )
    if st.session_state.get(DELETING_KEY) == rule.id:
        with st.container(border=True):
            st.warning(t("alerts.delete_confirm", id=rule.id, rule=rule.describe(lang, settings.currency)), icon=":material/delete:")
            sure, cancel = st.columns(2)
            sure.button(t("alerts.delete_yes"), key=f"rule_delete_yes_{rule.id}", type="primary", on_click=delete_rule, args=(rule.id,))
            cancel.button(t("alerts.delete_no"), key=f"rule_delete_no_{rule.id}", on_click=st.session_state.pop, args=(DELETING_KEY, None))

editing = st.session_state.get(EDITING_KEY)
options = alerts_data.segment_options(shop)
# Enter in a field does not save: only the Save button does (Enter and then Save added the rule twice)
with st.form("rule_form", border=True, enter_to_submit=False):
    st.markdown(f"**{t('alerts.edit_rule', id=editing) if editing else t('alerts.new_rule')}**")
    left, middle, right = st.columns([3, 1, 2])
    left.selectbox(t("alerts.metric"), list(METRICS), key="rule_metric", format_func=lambda name: metric_label(name, lang))
    middle.selectbox(t("alerts.operator"), OPERATORS, key="rule_operator")
    right.number_input(t("alerts.threshold"), key="rule_threshold", step=0.1, help=t("alerts.threshold_help"))
    st.radio(t("alerts.kind"), KINDS, key="rule_kind", horizontal=True, format_func=lambda kind: text(f"alerts.kind_{kind}", lang))
    for column, name in zip(st.columns(3), ("channel", "device", "region")):
        column.multiselect(
            t(f"filters.{name}"), options[name], key=f"rule_{name}s", placeholder=t(f"filters.all_{name}"),
            format_func=partial(label, name, lang=lang),
        )
    st.form_submit_button(t("alerts.save_rule"), key="rule_save", icon=":material/save:", on_click=save_rule)
feedback = st.session_state.pop(FEEDBACK_KEY, None)
if feedback:
    {"error": st.error, "info": st.info, "success": st.success}[feedback[0]](feedback[1])

# Notification targets --------------------------------------------------------------------
st.subheader(t("alerts.targets"))
if not config.targets:
    st.info(t("alerts.no_targets"))
for target in config.targets:
    target_cell, button = st.columns([5, 2], vertical_alignment="center")
    target_cell.markdown(f"**{target.name}** · {target.describe(lang)}")
    button.button(t("alerts.send_test"), key=f"test_{target.name}", icon=":material/send:", on_click=test_target, args=(target.name,))
outcome = st.session_state.pop(TESTED_KEY, None)
if outcome is not None and outcome.delivery.delivered:
    st.success(t("alerts.test_sent", target=outcome.target, attempts=outcome.delivery.attempts))
elif outcome is not None:
    st.error(t("alerts.test_failed", target=outcome.target, attempts=outcome.delivery.attempts, error=outcome.delivery.error))

# Send history ----------------------------------------------------------------------------
st.subheader(t("alerts.history"))
sends = store.sends()
if sends.height:
    sends = labelled(sends, {"status": SEND_STATUSES, "purpose": ("alerts", "test")})
    st.dataframe(sends, hide_index=True, width="stretch", column_config=headers(sends))
    download_buttons(sends, "alert_sends")
else:
    st.caption(t("alerts.no_sends"))
