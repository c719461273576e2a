"""Reports: build the weekly or monthly management report for a chosen day and language (in
the background, with its progress; the page can be left meanwhile), see its headline
numbers and highlights, preview the HTML and download HTML, PDF and Excel; and the
subscriptions that send reports on a schedule, with their next run, history and "send now"."""

import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import streamlit as st

from metrics.registry import KPIS, format_value
from shop_analytics.alerts.notify import EMAIL, SIGNING_KINDS, WEBHOOK_KINDS
from shop_analytics.i18n import LANGUAGES
from shop_analytics.reports.content import PERIOD_KINDS
from shop_analytics.reports.render import FORMATS, file_name
from shop_analytics.reports.tables import period_line
from shop_analytics.reports.wording import days_span, words
from shop_analytics.scheduler.subscriptions import LAST_MONTH_DAY, Recipient, Subscription, SubscriptionError, next_due
from shop_analytics.ui import data, report_data
from shop_analytics.ui.frame import open_page
from shop_analytics.ui.lang import language, t

CARD_KPIS = ("gmv", "orders", "aov", "active_users", "conversion_rate")
REQUEST_KEY = "report_request"
PREVIEW_HEIGHT = 900
PREVIEW_FORMAT = "html"
# The page follows a build this long, then says it goes on and offers to look again.
PAGE_WAIT_SECONDS = 120
POLL_SECONDS = 0.25

settings, shop, chosen = open_page("reports")
config = data.current_config()
lang = language()
span = shop.date_span(chosen.tz)
if span is None:
    # open_page stops first in practice: without data the sidebar has no period to pick
    st.info(t("filters.no_data"))
    st.stop()
first, last = span
st.caption(t("reports.page.intro"))


def _request() -> None:
    """Keep the form's choices as the report to build: period kind, day, language, formats."""
    chosen_formats = tuple(st.session_state["report_formats"] or ())
    st.session_state[REQUEST_KEY] = (st.session_state["report_kind"], st.session_state["report_day"], st.session_state["report_lang"], chosen_formats)


def _report_tab() -> None:
    # The dashboard's period chooses the report (a report message links here with its period).
    whole_month = chosen.start.day == 1 and (chosen.end + timedelta(days=1)).day == 1
    with st.form("report_form", border=True):
        left, middle, right = st.columns(3)
        left.segmented_control(
            t("reports.page.period"), PERIOD_KINDS, format_func=lambda name: t(f"reports.page.kind_{name}"),
            default="month" if whole_month else "week", required=True, key="report_kind",
        )
        middle.date_input(
            t("reports.page.day"), value=min(max(chosen.end, first), last), min_value=first, max_value=last,
            help=t("reports.page.day_help", first=first, last=last, tz=chosen.tz), key="report_day",
        )
        right.segmented_control(
            t("reports.page.language"), list(LANGUAGES), format_func=LANGUAGES.__getitem__, default=lang, required=True, key="report_lang",
        )
        st.pills(
            t("reports.page.formats"), list(FORMATS), selection_mode="multi", default=list(FORMATS),
            format_func=str.upper, key="report_formats",
        )
        # The request is taken in the button's callback, before the page reruns inside the app frame.
        st.form_submit_button(t("reports.page.build"), type="primary", icon=":material/description:", key="report_build", on_click=_request)

    if REQUEST_KEY not in st.session_state:
        st.info(t("reports.page.pick"))
        return
    kind, day, report_lang, formats = st.session_state[REQUEST_KEY]
    rendered = tuple(name for name in FORMATS if name == PREVIEW_FORMAT or name in formats)
    job = report_data.report_job(data.source_key(), shop, config, kind, day, report_lang, rendered)
    future = job.future
    if future is None:
        raise RuntimeError("report_data.report_job returned a job it did not start")
    bar = st.progress(0.0, text=t("reports.page.building"))
    waited = time.monotonic()
    # Each update goes to the browser at once, and a click elsewhere ends this run there:
    # the build goes on in the background and is found done when the page is opened again.
    while not future.done():
        bar.progress(job.fraction, text=t("reports.page.building_step", step=job.step or "…", can_leave=t("reports.page.can_leave")))
        if time.monotonic() - waited > PAGE_WAIT_SECONDS:
            st.info(t("reports.page.still_building"))
            st.button(t("reports.page.look_again"), key="report_look_again", icon=":material/refresh:")
            return
        time.sleep(POLL_SECONDS)
    bar.empty()
    error = future.exception()
    if isinstance(error, ValueError):
        st.error(t("reports.page.cannot_build", error=error))
        return
    if error is not None:
        raise error
    report, files = future.result()

    # The report's own words are in the report's language; the page's controls in the page's.
    st.subheader(words(f"title_{kind}", report_lang, span=days_span(report.period.start, report.period.end, report_lang)))
    st.caption(period_line(report))
    if report.period.cut is not None:
        st.warning(words("in_progress", report_lang, cut=f"{report.period.cut:%Y-%m-%d %H:%M}"))
    # Three cards to a row, money shortened (¥48.76K): a whole value fits its card.
    for start in range(0, len(CARD_KPIS), 3):
        for column, name in zip(st.columns(3), CARD_KPIS[start:start + 3]):
            row = report.kpi[name]
            change = row["change_vs_previous"]
            column.metric(
                KPIS[name].label_in(report_lang), format_value(KPIS[name], row["current"], settings.currency, compact=True, lang=report_lang),
                delta=None if change is None else f"{change:+.1%}", delta_color="normal" if KPIS[name].higher_is_better else "inverse",
                border=True, help=format_value(KPIS[name], row["current"], settings.currency, lang=report_lang),
            )
    st.markdown(f"**{words('sections.highlights', report_lang)}**\n\n" + "\n".join(f"- {sentence}" for sentence in report.highlights))

    for column, name in zip(st.columns(len(FORMATS)), (name for name in FORMATS if name in formats)):
        column.download_button(
            t("reports.page.download", format=name.upper()), files[name], file_name(report, name), FORMATS[name],
            key=f"report_download_{name}", icon=":material/download:", on_click="ignore", width="stretch",
        )

    with st.expander(t("reports.page.preview"), expanded=True):
        st.iframe(files[PREVIEW_FORMAT].decode("utf-8"), height=PREVIEW_HEIGHT)


def _recipients() -> tuple[Recipient, ...]:
    addresses = [part.strip() for part in st.session_state["subscription_emails"].replace(",", "\n").splitlines() if part.strip()]
    recipients = [Recipient(EMAIL, address) for address in addresses]
    robot = st.session_state["subscription_robot"]
    if robot:
        recipients.append(Recipient(robot, url=st.session_state["subscription_robot_url"].strip(),
                                    secret=st.session_state["subscription_robot_secret"].strip() or None))
    return tuple(recipients)


def _save(store) -> None:
    kind = st.session_state["subscription_kind"]
    day = st.session_state["subscription_weekday"] if kind == "week" else st.session_state["subscription_month_day"]
    subscription = Subscription(
        st.session_state["subscription_name"], kind, st.session_state["subscription_lang"],
        tuple(st.session_state["subscription_formats"] or ()), day, st.session_state["subscription_hour"], _recipients(),
    )
    try:
        store.add(subscription, now=datetime.now(UTC))
    except SubscriptionError as error:
        st.session_state["subscription_feedback"] = ("error", t("reports.subs.cannot_save", error=error))
        return
    st.session_state["subscription_feedback"] = ("success", t("reports.subs.saved", name=subscription.name))


def _send_now(store, subscription_id: int) -> None:
    try:
        report_data.send_now(config, store, subscription_id, shop)
    except ValueError as error:
        st.session_state["subscription_feedback"] = ("error", str(error))
        return
    st.session_state["subscription_feedback"] = ("info", t("reports.subs.sending"))


def _subscriptions_tab() -> None:
    store = report_data.schedule_store(str(config.alerts.database_path))
    zone = ZoneInfo(settings.time_zone)
    st.caption(t("reports.subs.intro", tz=settings.time_zone))
    feedback = st.session_state.pop("subscription_feedback", None)
    if feedback:
        getattr(st, feedback[0])(feedback[1])
    subscriptions = store.subscriptions()
    if not subscriptions:
        st.info(t("reports.subs.none"))
    now = datetime.now(UTC)
    for subscription in subscriptions:
        with st.container(border=True):
            upcoming = next_due(subscription, settings.time_zone, now).astimezone(zone)
            st.markdown(f"**{subscription.name}** · {t(f'reports.page.kind_{subscription.kind}')} · {LANGUAGES[subscription.language]} · "
                        f"{', '.join(name.upper() for name in subscription.formats)}")
            st.caption(t("reports.subs.when", schedule=subscription.schedule(lang), next=f"{upcoming:%Y-%m-%d %H:%M}",
                         recipients=", ".join(recipient.describe() for recipient in subscription.recipients)))
            send, remove = st.columns(2)
            send.button(t("reports.subs.send_now"), key=f"subscription_send_{subscription.id}", icon=":material/send:",
                        on_click=_send_now, args=(store, subscription.id))
            remove.button(t("reports.subs.delete"), key=f"subscription_delete_{subscription.id}", icon=":material/delete:",
                          on_click=store.remove, args=(subscription.id,))

    with st.expander(t("reports.subs.new"), expanded=not subscriptions), st.form("subscription_form"):
        st.text_input(t("reports.subs.name"), key="subscription_name", placeholder=t("reports.subs.name_example"))
        left, middle, right = st.columns(3)
        left.segmented_control(t("reports.page.period"), PERIOD_KINDS, format_func=lambda name: t(f"reports.page.kind_{name}"),
                               default="week", required=True, key="subscription_kind")
        middle.segmented_control(t("reports.page.language"), list(LANGUAGES), format_func=LANGUAGES.__getitem__, default=lang,
                                 required=True, key="subscription_lang")
        right.pills(t("reports.page.formats"), list(FORMATS), selection_mode="multi", default=["pdf"], format_func=str.upper,
                    key="subscription_formats")
        left, middle, right = st.columns(3)
        left.selectbox(t("reports.subs.weekday"), range(7), format_func=lambda day: t(f"reports.subs.weekday_{day}"), key="subscription_weekday")
        middle.selectbox(t("reports.subs.month_day"), range(1, LAST_MONTH_DAY + 1), key="subscription_month_day")
        right.selectbox(t("reports.subs.hour", tz=settings.time_zone), range(24), index=8, format_func=lambda hour: f"{hour:02d}:00",
                        key="subscription_hour")
        st.text_area(t("reports.subs.emails"), key="subscription_emails", placeholder="boss@example.com, ops@example.com")
        left, middle, right = st.columns(3)
        left.selectbox(t("reports.subs.robot"), [None, *WEBHOOK_KINDS], format_func=lambda kind: t(f"reports.subs.robot_{kind or 'none'}"),
                       key="subscription_robot")
        middle.text_input(t("reports.subs.robot_url"), type="password", key="subscription_robot_url")
        right.text_input(t("reports.subs.robot_secret", kinds=", ".join(SIGNING_KINDS)), type="password", key="subscription_robot_secret")
        st.form_submit_button(t("reports.subs.save"), type="primary", key="subscription_save", on_click=_save, args=(store,))

    st.subheader(t("reports.subs.history"))
    history = store.history()
    if history.height:
        st.dataframe(history.drop("run_id"), hide_index=True, width="stretch",
                     column_config={name: st.column_config.Column(t(f"reports.subs.col_{name}")) for name in history.columns})
    else:
        st.caption(t("reports.subs.no_history"))
    jobs = store.jobs(limit=7)
    if jobs:
        st.caption(t("reports.subs.checks", checks="; ".join(f"{job['day']}: {job['status']} ({job['summary'] or '…'})" for job in jobs)))


report_tab, subscriptions_tab = st.tabs([t("reports.page.tab_report"), t("reports.page.tab_subscriptions")])
with report_tab:
    _report_tab()
with subscriptions_tab:
    _subscriptions_tab()
