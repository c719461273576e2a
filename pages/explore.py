"""Explore: any measure by one or two dimensions, as a table and a heatmap (or bars); click a
cell to list the orders, sessions or users behind it. Cross-analysis without SQL."""

import polars as pl
import streamlit as st

from metrics.explore import MEASURES, VALUE, pivot_wide
from metrics.registry import KPIS, unit_of
from shop_analytics.charts.explore import pivot_bars, pivot_heatmap
from shop_analytics.i18n import VALUE_KINDS, format_number, label, text, translations
from shop_analytics.ui import analysis_data, data
from shop_analytics.ui.frame import open_page
from shop_analytics.ui.lang import language, t
from shop_analytics.ui.links import linked
from shop_analytics.ui.tables import kpi_table

MEASURE_KEY, ROWS_KEY, COLUMNS_KEY = "explore_measure", "explore_rows", "explore_columns"
GENERATION_KEY = "explore_generation"  # bumped to draw a fresh chart, without a selected cell

settings, shop, chosen = open_page("explore")
lang = language()
source = data.source_key()


# Labels in the language of this run (pickers also call them outside a run, e.g. AppTest).
def measure_label(name: str) -> str:
    return KPIS[name].label_in(lang) if name in KPIS else text(f"explore.{name}", lang)


def dimension_label(name: str | None) -> str:
    return text("explore.none", lang) if name is None else text(f"explore.dimension.{name}", lang)


def value_label(dimension: str, value: str) -> str:
    """A value of `dimension` (a channel, a region...) in the page's language."""
    return label(VALUE_KINDS.get(dimension, dimension), value, lang)


def drill_column(name: str, dtype: pl.DataType):
    """How a column of the rows behind a cell is shown: its label, money with the currency,
    times to the second (in the business zone the rows are given in)."""
    label = text(f"explore.column.{name}", lang)
    if unit_of(name) == "money":
        return st.column_config.NumberColumn(label, format=f"{settings.currency}%.2f")
    if isinstance(dtype, pl.Datetime):
        return st.column_config.DatetimeColumn(label, format="YYYY-MM-DD HH:mm:ss")
    return st.column_config.Column(label)


def fresh_chart() -> None:
    st.session_state[GENERATION_KEY] = st.session_state.get(GENERATION_KEY, 0) + 1


options = analysis_data.explore_options(source)
if not options:
    st.info(t("explore.nothing"))
    st.page_link("pages/data_source.py", label=t("nav.data_source"), icon=":material/database:")
    st.stop()

# the pickers are kept in the URL (ui/links.py): a shared link shows the same pivot
pickers = st.columns(3)
linked(MEASURE_KEY, "measure", next(iter(options)), choices=list(options))
measure = pickers[0].selectbox(t("explore.measure"), list(options), format_func=measure_label, key=MEASURE_KEY, on_change=fresh_chart)
dimensions = options[measure]
if not dimensions:
    st.info(t("explore.no_split", measure=measure_label(measure)))
    st.stop()
# A choice the new measure cannot split by falls back to the first that it can.
if st.session_state.get(ROWS_KEY) not in dimensions:
    st.session_state[ROWS_KEY] = dimensions[0]
linked(ROWS_KEY, "rows", dimensions[0], choices=dimensions)
rows = pickers[1].selectbox(
    t("explore.rows"), dimensions, format_func=dimension_label, key=ROWS_KEY, on_change=fresh_chart,
    help=t(f"explore.dimension_help.{st.session_state[ROWS_KEY]}"),
)
column_options = [None, *(name for name in dimensions if name != rows)]
if st.session_state.get(COLUMNS_KEY) not in column_options:
    st.session_state[COLUMNS_KEY] = None
linked(COLUMNS_KEY, "columns", None, choices=column_options[1:])
columns = pickers[2].selectbox(t("explore.columns"), column_options, format_func=dimension_label, key=COLUMNS_KEY, on_change=fresh_chart)

long, total = analysis_data.explore_pivot(source, chosen.start, chosen.end, chosen.tz, chosen.segment, measure, rows, columns)
if long.is_empty():
    st.info(t("explore.empty", start=chosen.start, end=chosen.end))
    st.stop()
unit = KPIS[measure].unit if measure in KPIS else "count"
notes = ("" if MEASURES[measure].additive else t("explore.not_additive")) + (t("explore.category_note") if "category" in (rows, columns) else "")
st.caption(t(
    "explore.caption", measure=measure_label(measure), start=chosen.start, end=chosen.end, tz=chosen.tz,
    total=format_number(total, unit, lang, settings.currency),
) + notes)

chart_key = f"explore_chart_{st.session_state.get(GENERATION_KEY, 0)}"
if columns is None:
    figure = pivot_bars(long, measure_label(measure), unit, settings.currency, lang)
else:
    figure = pivot_heatmap(long, (dimension_label(rows), dimension_label(columns)), measure_label(measure), unit, settings.currency, lang)
event = st.plotly_chart(figure, on_select="rerun", selection_mode=("points",), key=chart_key, width="stretch")
points = event.get("selection", {}).get("points", []) if event else []

names = [rows] if columns is None else [rows, columns]
labels = {name: st.column_config.Column(dimension_label(name)) for name in names}
with st.expander(t("explore.table"), expanded=not points):
    wide = pivot_wide(long)
    value_format = f"{settings.currency}%.2f" if unit == "money" else "localized"
    kpi_table(
        wide, settings.currency, name=f"explore_{measure}_by_{'_'.join(names)}_{chosen.start}_{chosen.end}",
        column_config=labels | {
            name: st.column_config.NumberColumn(
                value_label(columns, name) if columns is not None and name != VALUE else measure_label(measure), format=value_format,
            )
            for name in wide.columns if name not in names
        },
    )

cell = tuple(str(value) for value in points[0]["customdata"][: len(names)]) if points else None
if cell is None or long.filter(*[long[name] == value for name, value in zip(names, cell)]).is_empty():
    st.caption(t("explore.click_a_cell"))
    st.stop()

behind = analysis_data.explore_cell(source, chosen.start, chosen.end, chosen.tz, chosen.segment, measure, rows, columns, cell)
st.subheader(t("explore.cell_title", cell=" × ".join(value_label(name, value) for name, value in zip(names, cell)), rows=f"{behind.height:,}"))
st.button(t("explore.back"), icon=":material/arrow_back:", on_click=fresh_chart, key="explore_back")
own_words = translations()
kpi_table(
    behind, settings.currency, name=f"explore_{measure}_{'_'.join(cell)}_{chosen.start}_{chosen.end}",
    column_config={
        name: drill_column(name, dtype) for name, dtype in behind.schema.items()
        if f"explore.column.{name}" in own_words and f"columns.{name}" not in own_words
    } | labels,
    user_level=True,
)
