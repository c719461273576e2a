"""Data sources (admin): where the numbers come from, the connection and its mapping, a preview
of each mapped table, and the data-quality report."""

import streamlit as st

from connectors import CombinedSource, Source, SourceError
from connectors.schema import TABLES
from shop_analytics.loading import Shop
from shop_analytics.ui import access, coverage, data, sources
from shop_analytics.ui.frame import ensure_app_frame
from shop_analytics.ui.lang import language, t
from shop_analytics.ui.tables import quality_table
from shop_analytics.views import buyers_in_events

ensure_app_frame()
access.require_page("data_source")

settings = data.settings()
st.title(t("data_source.title"))
shop: Shop | None
source: Source | None
try:
    shop = data.current_shop()
    source = sources.current_source()
except (SourceError, ValueError) as error:
    # The admin comes here to fix a source that cannot be read: say why, keep the form.
    shop = source = None
    st.error(t("nav.cannot_load", error=sources.error_line(error)))
in_use = None  # the mapping the shop is read through, when it can be read
if shop is not None and source is not None:
    st.markdown(t("data_source.reading", description=shop.description, zone=settings.time_zone))
    st.dataframe(sources.table_summary(shop, settings.time_zone), hide_index=True, width="stretch")
    if shop.has("events"):
        events = shop.pushed.event_count if shop.pushed is not None else shop.or_empty("events").height
        # the load derives sessions whenever the shop has events
        sessions = shop.sessions.height if shop.sessions is not None else 0
        st.caption(t(
            "data_source.sessions",
            sessions=f"{sessions:,}", events=f"{events:,}", gap=settings.session_gap_minutes,
        ))
    if isinstance(source, CombinedSource):
        for name, own in source.tables.items():
            st.caption(t("data_source.table_from", table=name, source=own.description))
        share = buyers_in_events(shop)
        if share is not None:
            st.caption(t("data_source.buyers_in_events", share=f"{share:.1%}"))
    if shop.pushed is not None:
        st.info(t("data_source.pushed", events=f"{shop.pushed.event_count:,}", keeper=shop.pushed.engine.description))
    if shop.missing:
        st.warning(t("data_source.missing", tables=", ".join(shop.missing)))
    notice = sources.current_write_notice(data.current_config().shop_fingerprint)
    if notice is not None:
        getattr(st, notice[0])(notice[1])
    in_use = sources.mapping_in_use(source)
    if in_use is not None:
        coverage.show(
            in_use, t("data_source.coverage", mapping=in_use.name),
            shop_has={name for name in TABLES if shop.has(name)}, expanded=bool(shop.missing),
        )

st.subheader(t("data_source.connection"))
saved = sources.saved_connection()
if "folder" in saved:
    saved_kind = "folder"
elif str(saved.get("url", "")).startswith("sqlite"):
    saved_kind = "sqlite"
else:
    saved_kind = "database" if ("dialect" in saved or "url" in saved) else "sample"
kind = st.radio(
    t("data_source.kind"), sources.KINDS, index=sources.KINDS.index(saved_kind),
    format_func=lambda value: t(f"data_source.kind_{value}"), horizontal=True, key="source_kind",
)
if kind != "sample":
    # outside the form, so that the chosen preset's coverage shows as soon as it is chosen
    names = sources.presets()
    chosen = saved.get("preset", "canonical")
    preset = st.selectbox(
        t("data_source.preset"), list(names), format_func=names.__getitem__,
        index=list(names).index(chosen) if chosen in names else 0, key="source_preset",
    )
    mapping_file = st.text_input(
        t("data_source.mapping"), value=saved.get("mapping", ""), help=t("data_source.mapping_help"), key="source_mapping",
    )
    shown_above = shop is not None and in_use is not None and coverage.preset_of(in_use) == preset
    if not mapping_file.strip() and not shown_above:
        coverage.show(sources.preset(preset), t("data_source.chosen_coverage", mapping=names[preset]))
with st.form("connection"):
    if kind == "database":
        dialects = list(sources.DIALECTS)
        left, right = st.columns(2)
        dialect = left.selectbox(
            t("data_source.dialect"), dialects, index=dialects.index(saved.get("dialect", "postgresql"))
            if saved.get("dialect") in dialects else 0, key="source_dialect",
        )
        right.text_input(t("data_source.host"), value=saved.get("host", ""), key="source_host")
        left.number_input(
            t("data_source.port"), min_value=1, max_value=65535, step=1,
            value=int(saved.get("port") or sources.DEFAULT_PORTS[dialect]), key="source_port",
        )
        right.text_input(t("data_source.database"), value=saved.get("database", ""), key="source_database")
        left.text_input(t("data_source.username"), value=saved.get("username", ""), key="source_username")
        right.text_input(
            t("data_source.password"), type="password", value="", help=t("data_source.password_help"), key="source_password",
        )
        right.text_input(
            t("data_source.password_env"), value=saved.get("password_env", ""), help=t("data_source.password_env_help"),
            key="source_password_env",
        )
    elif kind in ("sqlite", "folder"):
        st.text_input(t("data_source.path"), value=sources.saved_path(saved), key="source_path")
    # the action runs in the buttons' callback, before the page reruns inside the app frame
    st.form_submit_button(
        t("data_source.test"), icon=":material/lan:", key="source_test", on_click=sources.submit, args=("test",),
    )
    st.form_submit_button(
        t("data_source.save"), type="primary", icon=":material/save:", key="source_save",
        on_click=sources.submit, args=("save",),
    )
for level, message in st.session_state.get(sources.OUTCOME_KEY, []):
    getattr(st, level)(message)

if shop is None or source is None:
    st.stop()

st.subheader(t("data_source.preview"))
try:
    mapped = sorted(source.table_names())
except SourceError as error:
    # the shop may still show from its extract while the database is away
    st.error(t("data_source.failed", error=sources.error_line(error)))
    st.stop()
if mapped:
    table = st.selectbox(t("data_source.preview_table"), mapped, key="preview_table")
    try:
        st.dataframe(sources.preview(source, table, shop), hide_index=True, width="stretch")
        st.caption(t("data_source.preview_caption", rows=sources.PREVIEW_ROWS))
        if table == "events" and shop.pushed is not None:
            st.caption(t("data_source.preview_pushed", rows=sources.PREVIEW_ROWS, events=f"{shop.pushed.event_count:,}"))
    except SourceError as error:
        st.error(t("data_source.failed", error=sources.error_line(error)))
else:
    st.info(t("data_source.no_tables"))

st.subheader(t("data_source.quality"))
if st.toggle(t("data_source.quality_run"), key="quality_run"):
    try:
        with st.spinner(t("data_source.quality_running")):
            report, events_checked = sources.quality(data.source_key())
    except SourceError as error:
        st.error(t("data_source.failed", error=sources.error_line(error)))
        st.stop()
    # the report counts the events it checked only when they are read with push-down
    if events_checked is not None and shop.pushed is not None:
        st.caption(t(
            "data_source.quality_pushed", checked=f"{events_checked:,}", events=f"{shop.pushed.event_count:,}",
            keeper=shop.pushed.engine.description,
        ))
    if report.height:
        st.warning(t("data_source.quality_found", count=report.height))
        st.dataframe(
            quality_table(report, language(), settings.time_zone), hide_index=True, width="stretch",
            column_config={name: t("columns.rows_found" if name == "count" else f"columns.{name}") for name in report.columns},
        )
    else:
        checked_tables = len(shop.tables) + (1 if events_checked is not None else 0)
        st.success(t("data_source.quality_clean", tables=checked_tables))
