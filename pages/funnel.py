"""Funnel: build the steps (with property filters), pick window, mode and breakdown; see
users, conversion and time between steps; click a step to list and export the users who
dropped off after it."""

from datetime import timedelta
from functools import partial

import polars as pl
import streamlit as st

from metrics.funnel_spec import FunnelSpec, FunnelStep
from shop_analytics.charts.funnel import funnel_bars
from shop_analytics.exports import DEFAULT_FUNNEL_STEPS, MAX_WINDOW
from shop_analytics.i18n import VALUE_KINDS, label, text
from shop_analytics.ui import data, funnel_choices
from shop_analytics.ui.frame import open_page
from shop_analytics.ui.lang import language, t
from shop_analytics.ui.links import linked
from shop_analytics.ui.tables import column_label, kpi_table

CHART_KEY = "funnel_chart"
DEFAULT_WINDOW_DAYS = 7
MODES = ("ordered", "strict", "unordered")
WINDOW_UNITS = ("minutes", "hours", "days")
BREAKDOWNS = ("channel", "device", "region", "member_level", "gender")
# Event properties a step can be narrowed by, and how many of their commonest values to offer.
STEP_PROPERTIES = ("channel", "device", "page", "product_id", "search_term")
MAX_PROPERTY_VALUES = 200

settings, shop, chosen = open_page("funnel")
lang = language()


def whole_number(text: str) -> int:
    """A window size from a link: a whole number of at least 1."""
    number = int(text)
    if number < 1:
        raise ValueError(text)
    return number


def value_words(column: str, value) -> str:
    return label(VALUE_KINDS.get(column, column), value, lang)


def _listed(values: object) -> tuple[object, ...]:
    """A filter's values: the tuple of an "in" filter, or the one value of any other."""
    return values if isinstance(values, tuple) else (values,)


def step_words(step: FunnelStep) -> str:
    """A step as the reader says it: its event in words, with its property filters."""
    event = label("event", step.event_type, lang)
    if not step.filters:
        return event
    conditions = t("funnel.condition_joiner").join(
        t("funnel.condition", column=column_label(column), values=t("funnel.value_joiner").join(value_words(column, value) for value in _listed(values)))
        for column, _, values in step.filters
    )
    return t("funnel.step_with_filters", event=event, conditions=conditions)


source = data.source_key()
# The pickers ask the events for their types and values (funnel_choices): with push-down the
# engine answers, and no event is read into memory for them.
event_types = funnel_choices.event_types(source)
default_steps = [step for step in DEFAULT_FUNNEL_STEPS.split(",") if step in event_types]
# every control is kept in the URL (ui/links.py): a shared link shows the same funnel
linked("funnel_steps", "steps", default_steps, choices=event_types, many=True)
steps = st.multiselect(
    t("funnel.steps"), event_types, key="funnel_steps", help=t("funnel.steps_help"),
    format_func=lambda event_type: label("event", event_type, lang),
)
columns = st.columns(4)
linked("funnel_window", "window", DEFAULT_WINDOW_DAYS, parse=whole_number)
window_size = columns[0].number_input(t("funnel.window"), min_value=1, step=1, key="funnel_window")
linked("funnel_window_unit", "unit", "days", choices=WINDOW_UNITS)
window_unit = columns[1].selectbox(t("funnel.unit"), WINDOW_UNITS, format_func=lambda unit: text(f"funnel.{unit}", lang), key="funnel_window_unit")
linked("funnel_mode", "mode", MODES[0], choices=MODES)
mode = columns[2].selectbox(t("funnel.mode"), MODES, format_func=lambda name: text(f"funnel.mode_{name}", lang), key="funnel_mode")
available = [name for name in BREAKDOWNS if name in funnel_choices.event_columns(source, BREAKDOWNS) or name in shop.users.columns]
linked("funnel_breakdown", "breakdown", None, choices=available)
breakdown = columns[3].selectbox(
    t("funnel.breakdown"), [None, *available], format_func=lambda name: text("funnel.no_breakdown", lang) if name is None else column_label(name, lang), key="funnel_breakdown"
)

properties = funnel_choices.event_columns(source, STEP_PROPERTIES)
funnel_steps = []
with st.expander(t("funnel.step_filters")):
    for number, event_type in enumerate(steps, start=1):
        left, right = st.columns([1, 3])
        linked(f"funnel_filter_column_{number}", f"filter{number}", None, choices=properties)
        column = left.selectbox(
            f"{number}. {label('event', event_type, lang)}", [None, *properties], key=f"funnel_filter_column_{number}",
            format_func=lambda name: text("funnel.any_property", lang) if name is None else column_label(name, lang),
        )
        offered = funnel_choices.property_values(source, event_type, column, MAX_PROPERTY_VALUES) if column else []
        if column:
            linked(f"funnel_filter_values_{number}", f"values{number}", [], choices=offered, many=True)
        values = right.multiselect(
            t("funnel.is_one_of"), offered,
            key=f"funnel_filter_values_{number}", format_func=partial(value_words, column),
        ) if column else []
        funnel_steps.append(FunnelStep(event_type, filters=((column, "in", tuple(values)),) if column and values else ()))

# A number the window cannot mean (past MAX_WINDOW, up to what overflows a date) is refused here.
longest = MAX_WINDOW // timedelta(**{window_unit: 1})
if window_size > longest:
    st.warning(t(
        "funnel.window_too_long", size=f"{int(window_size):,}", unit=t(f"funnel.{window_unit}"), longest=f"{longest:,}", days=MAX_WINDOW.days,
    ))
    st.stop()
try:
    spec = FunnelSpec(steps=tuple(funnel_steps), window=timedelta(**{window_unit: int(window_size)}), mode=mode, breakdown=breakdown)
except ValueError as error:
    st.info(t("funnel.add_steps", error=error))
    st.stop()

result = data.funnel(source, chosen.start, chosen.end, chosen.tz, chosen.segment, spec)
window_words = f"{window_size} {t(f'funnel.{window_unit}')}"
# each step in words, its own description kept for the downloads
table = result["table"].with_columns(
    event=pl.col("step").replace_strict({number: step_words(step) for number, step in enumerate(funnel_steps, start=1)}, return_dtype=pl.String),
    event_code=pl.col("event"),
)
st.caption(
    t(
        "funnel.caption", first=step_words(funnel_steps[0]), start=chosen.start, end=chosen.end, tz=chosen.tz,
        window=window_words, in_progress=f"{int(table.select(pl.col('in_progress').max().fill_null(0)).item()):,}",
    )
)
event = st.plotly_chart(funnel_bars(table, breakdown, lang), on_select="rerun", selection_mode=("points",), key=CHART_KEY, width="stretch")
kpi_table(
    table,
    settings.currency,
    name=f"funnel_{chosen.start}_{chosen.end}",
    column_config={
        "median_seconds_from_previous": st.column_config.NumberColumn(column_label("median_seconds_from_previous"), format="%.0f"),
        "event_code": None,
    },
)

points = event.get("selection", {}).get("points", []) if event else []
clicked_step = int(points[0]["customdata"]) if points else None
if clicked_step is None or clicked_step >= len(steps):
    st.caption(t("funnel.click_a_step"))
    st.stop()

# Users whose window is still open have not stopped yet: counted and listed apart.
dropped = result["drop_offs"].filter(pl.col("step") == clicked_step)
lists = {"stopped": dropped.filter(~pl.col("in_progress")), "in_progress": dropped.filter(pl.col("in_progress"))}
st.subheader(t(
    "funnel.stopped_after", step=clicked_step, event=step_words(funnel_steps[clicked_step - 1]), users=f"{lists['stopped'].height:,}",
))
st.caption(t("funnel.stopped_apart", in_progress=f"{lists['in_progress'].height:,}", all=f"{dropped.height:,}", window=window_words))
linked("funnel_drop_off_list", "list", "stopped", choices=tuple(lists))
shown_list = st.segmented_control(
    t("funnel.drop_off_list"), tuple(lists), key="funnel_drop_off_list",
    format_func=lambda name: text(f"funnel.list_{name}", lang, users=f"{lists[name].height:,}"),
) or "stopped"
kpi_table(
    lists[shown_list], settings.currency, name=f"funnel_drop_offs_step_{clicked_step}_{shown_list}_{chosen.start}_{chosen.end}", user_level=True,
)
