"""Reports: build the weekly or monthly management report for a chosen day and language,
see its highlights and headline numbers, preview the HTML and download HTML, PDF and Excel."""

import streamlit as st

from metrics.registry import KPIS, format_value
from shop_analytics.i18n import LANGUAGES
from shop_analytics.reports.content import PERIOD_KINDS
from shop_analytics.reports.render import FORMATS, file_name
from shop_analytics.reports.tables import period_line
from shop_analytics.reports.wording import days_span, words
from shop_analytics.ui import data, report_data
from shop_analytics.ui.frame import open_page
from shop_analytics.ui.lang import language, t

CARD_KPIS = ("gmv", "orders", "aov", "active_users", "conversion_rate")
REQUEST_KEY = "report_request"
PREVIEW_HEIGHT = 900
PREVIEW_FORMAT = "html"

settings, shop, chosen = open_page("reports")
first, last = shop.date_span(chosen.tz)
st.caption(t("reports.page.intro"))


def _request() -> None:
    """Keep the form's choices as the report to build: period kind, day, language, formats."""
    chosen_formats = tuple(st.session_state["report_formats"] or ())
    st.session_state[REQUEST_KEY] = (st.session_state["report_kind"], st.session_state["report_day"], st.session_state["report_lang"], chosen_formats)


with st.form("report_form", border=True):
    left, middle, right = st.columns(3)
    left.segmented_control(
        t("reports.page.period"), PERIOD_KINDS, format_func=lambda name: t(f"reports.page.kind_{name}"),
        default="week", required=True, key="report_kind",
    )
    middle.date_input(
        t("reports.page.day"), value=min(max(chosen.end, first), last), min_value=first, max_value=last,
        help=t("reports.page.day_help", first=first, last=last, tz=chosen.tz), key="report_day",
    )
    right.segmented_control(
        t("reports.page.language"), list(LANGUAGES), format_func=LANGUAGES.get, default=language(), required=True, key="report_lang",
    )
    st.pills(
        t("reports.page.formats"), list(FORMATS), selection_mode="multi", default=list(FORMATS),
        format_func=str.upper, key="report_formats",
    )
    # The request is taken in the button's callback, before the page reruns inside the app frame.
    st.form_submit_button(t("reports.page.build"), type="primary", icon=":material/description:", key="report_build", on_click=_request)

if REQUEST_KEY not in st.session_state:
    st.info(t("reports.page.pick"))
    st.stop()

kind, day, lang, formats = st.session_state[REQUEST_KEY]
rendered = [name for name in FORMATS if name == PREVIEW_FORMAT or name in formats]
request = (data.source_key(), kind, day, lang, chosen.tz)
bar = st.progress(0.0, text=t("reports.page.building"))
try:
    report = report_data.report(*request)
except ValueError as error:
    bar.empty()
    st.error(t("reports.page.cannot_build", error=error))
    st.stop()
files = {}
for done, name in enumerate(rendered):
    bar.progress((done + 1) / (len(rendered) + 1), text=t("reports.page.rendering", format=name.upper()))
    files[name] = report_data.report_file(*request, name)
bar.empty()

# The report's own words are in the report's language; the page's controls in the page's.
st.subheader(words(f"title_{kind}", lang, span=days_span(report.period.start, report.period.end, lang)))
st.caption(period_line(report))
if report.period.cut is not None:
    st.warning(words("in_progress", lang, cut=f"{report.period.cut:%Y-%m-%d %H:%M}"))
for column, name in zip(st.columns(len(CARD_KPIS)), CARD_KPIS):
    row = report.kpi[name]
    change = row["change_vs_previous"]
    column.metric(
        KPIS[name].label_in(lang), format_value(KPIS[name], row["current"], settings.currency, lang=lang),
        delta=None if change is None else f"{change:+.1%}", delta_color="normal" if KPIS[name].higher_is_better else "inverse",
        border=True,
    )
st.markdown(f"**{words('sections.highlights', lang)}**\n\n" + "\n".join(f"- {sentence}" for sentence in report.highlights))

for column, name in zip(st.columns(len(FORMATS)), (name for name in FORMATS if name in formats)):
    column.download_button(
        t("reports.page.download", format=name.upper()), files[name], file_name(report, name), FORMATS[name],
        key=f"report_download_{name}", icon=":material/download:", on_click="ignore", width="stretch",
    )

with st.expander(t("reports.page.preview"), expanded=True):
    st.iframe(files[PREVIEW_FORMAT].decode("utf-8"), height=PREVIEW_HEIGHT)
