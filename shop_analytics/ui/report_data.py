"""The Reports page's edge: a report and each of its files, built once per source, period,
language and time zone (`st.cache_data`). They are cached apart, so the page can show its
progress between them (a cached function cannot draw on the page's progress bar)."""

from datetime import date

import streamlit as st

from shop_analytics.reports.content import Report, build_report
from shop_analytics.reports.render import RENDERERS
from shop_analytics.ui import data
from shop_analytics.views import anomaly_settings


@st.cache_data(ttl=3600, max_entries=16, show_spinner=False)
def report(key: str, kind: str, day: date, lang: str, tz: str) -> Report:
    """The report of the week or month (`kind`) holding `day` for the source `key` (ValueError
    when the period has no data)."""
    config = data.config_of(key)
    return build_report(
        data.current_shop(), kind=kind, day=day, lang=lang,
        settings=config.settings.model_copy(update={"time_zone": tz}), anomaly=anomaly_settings(config),
    )


@st.cache_data(ttl=3600, max_entries=32, show_spinner=False)
def report_file(key: str, kind: str, day: date, lang: str, tz: str, output_format: str) -> bytes:
    """That report as a file in `output_format` (html, pdf or xlsx)."""
    return RENDERERS[output_format](report(key, kind, day, lang, tz))
