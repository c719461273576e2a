"""Campaigns & ROI: each campaign's spend, GMV, CPC and ROI against the targets; click one
to compare its window with a baseline, with confidence intervals and a verdict in words."""

import polars as pl
import streamlit as st

from metrics.campaigns import FIXED_BASELINE_DAYS, baseline_period, effect_verdict
from shop_analytics.charts.campaigns import effect_chart, roi_bars
from shop_analytics.i18n import format_number, text
from shop_analytics.ui import analysis_data, data
from shop_analytics.ui.frame import open_page
from shop_analytics.ui.lang import language, t
from shop_analytics.ui.links import linked
from shop_analytics.ui.tables import NARROW, download_buttons, kpi_column_config, kpi_table, leading, shown

CHART_KEY, TABLE_KEY, PICK_KEY = "campaigns_roi", "campaigns_table", "campaigns_pick"
SEEN_KEY = "campaigns_seen_clicks"  # the last click of the chart and of the table already applied
BASELINES = ("same_length", "fixed_days")
HEADLINE = "gmv_per_day"
TARGET_COLUMNS = ("cpc", "cpc_above_target", "roi", "roi_below_target", "roas", "spend", "budget_used", "gmv")

settings, shop, chosen = open_page("campaigns")
lang = language()
source = data.source_key()


def label(name: str) -> str:
    return t(f"campaigns.column.{name}")


def clicked_campaign(ids: list):
    """The campaign a new click chose: a bar of the chart or a row of the table (each
    selection is applied once, so the picker can be moved afterwards)."""
    seen = st.session_state.setdefault(SEEN_KEY, {})
    picked_now = None
    for key in (CHART_KEY, TABLE_KEY):
        selection = (st.session_state.get(key) or {}).get("selection", {})
        if key == CHART_KEY:
            picked = [point.get("customdata") for point in selection.get("points", [])]
        else:
            picked = [ids[row] for row in selection.get("rows", []) if row < len(ids)]
        current = picked[0] if picked else None
        if current is not None and current != seen.get(key):
            picked_now = current
        seen[key] = current
    return picked_now


table = analysis_data.campaign_table(source, chosen.start, chosen.end, chosen.tz, chosen.segment)
st.caption(t(
    "campaigns.caption", start=chosen.start, end=chosen.end, tz=chosen.tz,
    cpc_target=format_number(settings.cpc_target, "money", lang, settings.currency), roi_target=f"{settings.roi_target:.0%}",
))
if table.is_empty():
    st.info(t("campaigns.no_campaigns", start=chosen.start, end=chosen.end))
    st.stop()
if table["spend"].null_count() == table.height:
    st.info(t("campaigns.no_spend"))
if table["gmv"].null_count() == table.height:
    st.info(t("campaigns.no_orders"))
for flag, message in (("cpc_above_target", "campaigns.cpc_above"), ("roi_below_target", "campaigns.roi_below")):
    missed = table.filter(pl.col(flag).fill_null(False))["name"].to_list()
    if missed:
        st.warning(t(message, names=", ".join(missed)))

ids = table["campaign_id"].to_list()
clicked = clicked_campaign(ids)
if clicked in ids:
    st.session_state[PICK_KEY] = clicked
elif st.session_state.get(PICK_KEY) not in ids:
    st.session_state[PICK_KEY] = ids[0]
linked(PICK_KEY, "campaign", ids[0], choices=ids)  # the campaign and its baseline are kept in the URL (ui/links.py)

if table["roi"].drop_nulls().len():
    st.plotly_chart(
        roi_bars(table, settings.roi_target, settings.currency, lang),
        on_select="rerun", selection_mode=("points",), key=CHART_KEY, width="stretch",
    )
st.caption(t("campaigns.click_a_campaign"))
own_columns = ("campaign_id", "start_date", "end_date", "kind", "days_in_period", "budget_used", "buyers")
money = st.column_config.NumberColumn(label("budget"), format=f"{settings.currency}%.0f", width=NARROW)
# the name pinned, the columns with targets next: a wide table shows them without scrolling
listed = leading(table.select("name", pl.exclude("name")), TARGET_COLUMNS)
table_columns = (
    kpi_column_config(listed, settings.currency)
    | {name: st.column_config.Column(label(name), width=NARROW if listed.schema[name].is_numeric() else None) for name in own_columns}
    | {name: st.column_config.DateColumn(label(name), format="YYYY-MM-DD") for name in ("start_date", "end_date")}
    | {"name": st.column_config.Column(label("name"), pinned=True), "budget": money}
    | {"budget_used": st.column_config.NumberColumn(label("budget_used"), format="percent", width=NARROW)}
)
st.dataframe(
    shown(listed), hide_index=True, width="stretch", column_config=table_columns, on_select="rerun", selection_mode="single-row", key=TABLE_KEY,
)
download_buttons(listed, f"campaigns_{chosen.start}_{chosen.end}", column_config=table_columns)

names = dict(zip(ids, table["name"]))
picked = st.selectbox(t("campaigns.campaign"), ids, format_func=lambda campaign_id: str(names[campaign_id]), key=PICK_KEY)
campaign = table.row(ids.index(picked), named=True)
st.subheader(t("campaigns.effect_title", campaign=campaign["name"]))
linked("campaigns_baseline", "baseline", "same_length", choices=BASELINES)
baseline_kind = st.segmented_control(
    t("campaigns.baseline"), BASELINES, key="campaigns_baseline",
    format_func=lambda kind: text(f"campaigns.{kind}", lang, days=FIXED_BASELINE_DAYS),
) or "same_length"
window = (campaign["start_date"], campaign["end_date"])
baseline = baseline_period(window, FIXED_BASELINE_DAYS if baseline_kind == "fixed_days" else None)
baseline_words = t(f"campaigns.{baseline_kind}", days=FIXED_BASELINE_DAYS)
with st.spinner():
    comparison = analysis_data.campaign_comparison(source, window, baseline, chosen.tz, chosen.segment)

rows = {row["measure"]: row for row in comparison.iter_rows(named=True)}
headline = rows[HEADLINE]
verdict = effect_verdict(headline, campaign=campaign["name"], baseline=baseline_words, lang=lang, confidence=analysis_data.CONFIDENCE)
if headline["significant"] and headline["difference"] > 0:
    st.success(verdict, icon=":material/trending_up:")
elif headline["significant"]:
    st.error(verdict, icon=":material/trending_down:")
else:
    st.info(verdict, icon=":material/remove:")
st.markdown("\n".join(
    f"- {effect_verdict(row, campaign=campaign['name'], baseline=baseline_words, lang=lang, confidence=analysis_data.CONFIDENCE)}"
    for measure, row in rows.items() if measure != HEADLINE
))
st.caption(t(
    "campaigns.periods", window_start=window[0], window_end=window[1], baseline_start=baseline[0], baseline_end=baseline[1],
))
st.plotly_chart(effect_chart(comparison, settings.currency, lang, analysis_data.CONFIDENCE), width="stretch", key="campaigns_effect")
st.caption(t("campaigns.effect_help", level=f"{analysis_data.CONFIDENCE:.0%}"))
with st.expander(t("campaigns.comparison_table")):
    comparison_words = comparison.with_columns(
        pl.col("measure").map_elements(lambda name: t(f"campaigns.measure.{name}"), return_dtype=pl.String),
    )
    kpi_table(
        comparison_words, settings.currency, name=f"campaign_{picked}_before_after",
        column_config={name: st.column_config.Column(label(name)) for name in comparison_words.columns}
        | {"relative_change": st.column_config.NumberColumn(label("relative_change"), format="percent")},
    )
