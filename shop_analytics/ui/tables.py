"""Tables as a person reads them: columns labelled in the page's language and formatted by
their unit, each table downloadable as CSV and Excel."""

import io

import polars as pl
import streamlit as st

from metrics.registry import KPIS, unit_of
from shop_analytics.i18n import translations
from shop_analytics.ui import access
from shop_analytics.ui.downloads import guarded
from shop_analytics.ui.lang import language, t

_FORMATS = {"ratio": "percent", "count": "localized", "multiple": "%.2f×", "hours": "%.1f h", "score": "%.2f"}


def column_label(name: str) -> str:
    """The header of column `name` in the page's language: a KPI's label, else its entry in
    locales/columns.toml, else the name itself."""
    if name in KPIS:
        return KPIS[name].label_in(language())
    key = f"columns.{name}"
    return t(key) if key in translations() else name.replace("_", " ")


def kpi_column_config(frame: pl.DataFrame, currency: str) -> dict:
    """Streamlit column settings for the columns of `frame`: KPI columns with their label and
    definition from the registry, other known columns with their translated label, ratios as
    percentages and money with the currency."""
    lang = language()
    formats = _FORMATS | {"money": f"{currency}%.2f"}
    config = {}
    for name in frame.columns:
        if name in KPIS:
            kpi = KPIS[name]
            config[name] = st.column_config.NumberColumn(kpi.label_in(lang), help=kpi.description_in(lang), format=formats[kpi.unit])
        elif unit_of(name) is not None:
            config[name] = st.column_config.NumberColumn(column_label(name), format=formats[unit_of(name)])
        else:
            config[name] = st.column_config.Column(column_label(name))
    return config


def excel_bytes(frame: pl.DataFrame) -> bytes:
    """`frame` as an .xlsx workbook of one sheet (times without their zone, which Excel lacks)."""
    naive = frame.with_columns(
        pl.col(name).dt.replace_time_zone(None)
        for name, dtype in frame.schema.items()
        if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None
    )
    buffer = io.BytesIO()
    naive.write_excel(buffer, autofit=True)
    return buffer.getvalue()


def may_show_users() -> bool:
    """Whether this session may see rows of single users or their orders (access/roles.py
    may_see_users, the one rule every page and download follows); when it may not, a caption
    says so where the rows would have been."""
    if access.session_may_see_users():
        return True
    st.caption(t("access.user_rows_refused"))
    return False


def download_buttons(frame: pl.DataFrame, name: str, *, user_level: bool = False) -> None:
    """CSV and Excel downloads of `frame`, side by side, as `name`.csv / `name`.xlsx.
    `user_level`: the frame lists users or their orders (who dropped off, a segment's
    audience): only the roles that may see such rows get the buttons (may_show_users).

    Both files are written when their button is clicked, not on every run of the page:
    Excel takes about 0.1 ms a row (5 s for the 24,000 sessions behind one Explore cell), and
    the CSV of every table of a page, written on each run, was a few percent of a busy
    server's time. At the click the session must still be connected and signed in with a
    role that may have the file, and the file leaves its URL seconds after (ui/downloads.py)."""
    if user_level and not may_show_users():
        return
    buttons = st.container(horizontal=True)
    buttons.download_button(
        t("tables.csv"), guarded(frame.write_csv, user_level=user_level), f"{name}.csv", "text/csv", key=f"csv_{name}", icon=":material/download:",
    )
    buttons.download_button(
        t("tables.excel"),
        guarded(lambda: excel_bytes(frame), user_level=user_level),
        f"{name}.xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        key=f"xlsx_{name}",
        icon=":material/table_view:",
    )


def kpi_table(
    frame: pl.DataFrame, currency: str, *, name: str | None = None, column_config: dict | None = None, user_level: bool = False
) -> None:
    """Draw `frame` full width with its columns labelled and formatted; with `name`, under it
    the CSV and Excel downloads. `user_level`: the frame lists users or their orders, drawn
    (and downloadable) only for the roles that may see such rows (may_show_users).
    `column_config` overrides the settings of some columns."""
    if user_level and not may_show_users():
        return
    config = kpi_column_config(frame, currency) | (column_config or {})
    st.dataframe(frame, hide_index=True, width="stretch", column_config=config)
    if name is not None:
        download_buttons(frame, name)
