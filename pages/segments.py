"""Segments & LTV: RFM segments, k-means clusters, the tag system with an audience builder,
predicted LTV validated on a holdout beside a boosted model, and churn risk.

The models learn from the shop's whole history up to its last day of data, not from the
sidebar's period (so moving the period refits nothing); the channel, device and region
filters choose which customers the tables list. Only the open tab is computed."""

from datetime import date, timedelta

import polars as pl
import streamlit as st

from models.clusters import K_RANGE
from models.rfm import SEGMENTS, segment_summary
from models.tags import TagRules, audience, tag_counts
from models.value_regression import MODELS
from shop_analytics.charts import segments as charts
from shop_analytics.i18n import text
from shop_analytics.ui import data, model_data
from shop_analytics.ui.frame import open_page
from shop_analytics.ui.lang import language, t
from shop_analytics.ui.links import linked
from shop_analytics.ui.model_tables import model_table
from shop_analytics.ui.tables import download_buttons, may_show_users

TABS = ("rfm", "clusters", "tags", "ltv", "churn")
HOLDOUT_DAYS = (60, 90, 120, 180)  # holdout lengths offered for the LTV and value checks
CHURN_DAYS = (30, 60, 90)  # "no purchase in the next N days"

settings, shop, chosen = open_page("segments")
lang, source, tz, currency = language(), data.source_key(), chosen.tz, settings.currency
data_end = model_data.data_end(source, tz)
if data_end is None:
    # open_page stops first in practice: without data the sidebar has no period to pick
    st.info(t("filters.no_data"))
    st.stop()
end: date = data_end  # the as-of day of every model, narrowed for the tabs' functions
users = model_data.segment_users(source, chosen.segment)
st.caption(t("segments.window", end=end, start=chosen.start, period_end=chosen.end))
if users is not None:
    st.caption(t("segments.filtered"))


def show(frame: pl.DataFrame, name: str, *, user_level: bool = False, **units: str) -> None:
    """`frame` as a table with its downloads; a list of customers (`user_level`) only for the
    roles that may see users' rows."""
    if user_level and not may_show_users():
        return
    model_table(frame, namespace="segments", units=units, currency=currency, name=name, user_level=user_level)


def fitted(model: str, fit, *arguments):
    """`fit(*arguments)` under a spinner; None after saying why the model cannot be fitted."""
    try:
        with st.spinner(t("segments.fitting", model=t(f"segments.model_name.{model}"))):
            return fit(*arguments)
    except ValueError as error:
        st.warning(t("segments.cannot_fit", model=t(f"segments.model_name.{model}"), reason=error))
        return None


def days_picker(label: str, choices: tuple[int, ...], key: str) -> int:
    linked(key, key.removeprefix("segments_"), model_data.DEFAULT_DAYS, choices=choices)
    return st.segmented_control(label, choices, key=key, format_func=lambda days: text("segments.days", lang, days=days)) or model_data.DEFAULT_DAYS


def rfm_tab() -> None:
    st.caption(t("segments.rfm_about", end=end))
    customers = model_data.customers_in(model_data.rfm(source, tz), users)
    if customers.is_empty():
        st.info(t("segments.no_customers", end=end))
        return
    summary = segment_summary(customers)
    st.plotly_chart(charts.segment_shares(summary, lang), width="stretch")
    show(summary.with_columns(segment=pl.col("segment").replace_strict({name: charts.segment_label(name, lang) for name in SEGMENTS})),
         f"rfm_segments_{end}", customers="count", customer_share="ratio", recency_days_mean="number",
         frequency_mean="number", monetary_mean="money", gmv="money", gmv_share="ratio")
    linked("segments_export", "segment", SEGMENTS[0], choices=SEGMENTS)
    picked = st.selectbox(t("segments.export_segment"), SEGMENTS, format_func=lambda name: charts.segment_label(name, lang), key="segments_export")
    members = customers.filter(pl.col("segment") == picked)
    st.caption(t("segments.members", customers=f"{members.height:,}", segment=charts.segment_label(picked, lang)))
    download_buttons(members, f"rfm_{picked}_{end}", user_level=True)


def clusters_tab() -> None:
    linked("segments_k", "k", None, choices=K_RANGE)
    k = st.selectbox(t("segments.k"), (None, *K_RANGE), format_func=lambda k: text("segments.k_auto", lang) if k is None else str(k), key="segments_k")
    customers = model_data.customers_in(model_data.rfm(source, tz), users)
    if customers.is_empty():
        st.info(t("segments.no_customers", end=end))
        return
    model = fitted("clusters", model_data.cluster_model, source, tz, k)
    if model is None:
        return
    silhouettes = ", ".join(f"k={size}: {score:.2f}" for size, score in model.silhouettes_.items())
    st.caption(t("segments.clusters_about", end=end, k=model.k_, how=t("segments.k_by_silhouette" if k is None else "segments.k_set"), silhouettes=silhouettes))
    clusters = model.clusters(customers)
    st.plotly_chart(charts.cluster_bubbles(clusters, currency, lang), width="stretch")
    described = clusters.with_columns(description=pl.Series([charts.traits_label(traits, lang) for traits in clusters["traits"].to_list()]))
    show(described.select("cluster", "description", *clusters.columns[1:-2]), f"clusters_{model.k_}_{end}", customers="count", share="ratio", recency_days_mean="number",
         frequency_mean="number", monetary_mean="money", recency_days_z="number", frequency_z="number", monetary_z="number")


def tags_tab() -> None:
    st.caption(t("segments.tags_about", end=end, **vars(TagRules())))
    every_tag = model_data.tags(source, tz)
    tags = model_data.customers_in(every_tag, users)
    counts = tag_counts(tags)
    if counts.is_empty():
        st.info(t("segments.no_tags", end=end))
        return
    # the pickers offer every tag of the shop, so a choice stays when the filters change
    names = {tag: charts.tag_label(tag, lang) for tag in tag_counts(every_tag)["tag"]}
    st.plotly_chart(charts.tag_bars(counts, lang), width="stretch")
    show(counts.with_columns(tag=pl.col("tag").replace_strict(names)), f"tags_{end}", users="count")
    st.subheader(t("segments.audience"))
    st.caption(t("segments.audience_about"))
    left, middle, right = st.columns(3)
    for rule in ("all_of", "any_of", "none_of"):
        linked(f"audience_{rule}", rule, [], choices=list(names), many=True)
    chosen_tags = {
        rule: column.multiselect(t(f"segments.{rule}"), list(names), format_func=names.__getitem__, key=f"audience_{rule}", placeholder=t("segments.pick"))
        for rule, column in (("all_of", left), ("any_of", middle), ("none_of", right))
    }
    if not (chosen_tags["all_of"] or chosen_tags["any_of"]):
        st.info(t("segments.pick_tags"))
        return
    people = audience(tags, **{rule: tuple(picked) for rule, picked in chosen_tags.items()})
    st.caption(t("segments.audience_size", users=f"{people.height:,}"))
    show(people.with_columns(tags=pl.col("tags").str.split(", ").list.eval(pl.element().replace(names)).list.join(", ")), "audience", user_level=True)


def ltv_tab() -> None:
    holdout_days = days_picker(t("segments.holdout"), HOLDOUT_DAYS, "segments_holdout")
    calibration_end = end - timedelta(days=holdout_days)
    st.subheader(t("segments.ltv_title"))
    validation = fitted("ltv", model_data.ltv_validation, source, tz, holdout_days)
    if validation is not None:
        holdout = validation.holdout
        st.caption(t("segments.ltv_about", calibration_end=calibration_end, end=end, days=holdout_days, weeks=f"{holdout['weeks']:.1f}"))
        estimates = [
            {"model": name, "parameter": parameter, "estimate": value}
            for name, model in (("BG/NBD", validation.bgnbd), ("Gamma-Gamma", validation.gamma_gamma))
            for parameter, value in (model.params_ | {t("segments.loglik"): model.loglik_}).items()
        ]
        show(pl.DataFrame(estimates), f"ltv_parameters_{calibration_end}", estimate="score")
        st.markdown(t("segments.ltv_holdout", customers=f"{holdout['customers']:,}", actual=f"{holdout['actual_repeat_purchases']:,}",
                      predicted=f"{holdout['predicted_repeat_purchases']:,.0f}", mae=f"{holdout['mean_absolute_error']:.3f}"))
        st.plotly_chart(charts.frequency_holdout(validation.holdout_by_frequency, lang), width="stretch")
    st.subheader(t("segments.value_title"))
    comparison = fitted("value", model_data.value_comparison, source, tz, holdout_days)
    if comparison is not None:
        st.caption(t("segments.value_about", calibration_end=calibration_end, end=end, days=holdout_days, training=comparison.training_as_of))
        errors = comparison.errors.with_columns(model=pl.col("model").map_elements(lambda model: charts.model_label(model, lang), return_dtype=pl.String))
        show(errors, f"value_holdout_errors_{calibration_end}_{end}", mae="money", rmse="money", predicted_total="money", actual_total="money")
        st.caption(t("segments.zero_note"))
        models = [name for name in MODELS if name in comparison.deciles["model"]]
        linked("segments_decile_model", "decile_model", models[0], choices=models)
        model = st.segmented_control(t("segments.decile_model"), models, key="segments_decile_model",
                                     format_func=lambda name: charts.model_label(name, lang)) or models[0]
        st.plotly_chart(charts.value_deciles(comparison.deciles, model, currency, lang), width="stretch")
    st.subheader(t("segments.prediction_title", days=settings.ltv_horizon_days))
    prediction = fitted("ltv", model_data.ltv_prediction, source, tz, settings.ltv_horizon_days)
    if prediction is not None:
        st.caption(t("segments.prediction_about", end=end, days=settings.ltv_horizon_days))
        customers = model_data.customers_in(prediction.customers.drop("monetary_value"), users).sort("expected_value", descending=True)
        show(customers, f"predicted_ltv_{end}", user_level=True, recency="number", T="number", expected_purchases="number", p_alive="ratio", expected_value="money")


def churn_tab() -> None:
    horizon = days_picker(t("segments.churn_horizon"), CHURN_DAYS, "segments_churn_days")
    risk = fitted("churn", model_data.churn, source, tz, horizon)
    if risk is None:
        return
    training = risk.validation_as_of - timedelta(days=horizon)
    st.caption(t("segments.churn_about", days=horizon, training=training, validation=risk.validation_as_of, end=end))
    scores = risk.scores.with_columns(model=pl.col("model").map_elements(lambda model: charts.model_label(model, lang, days=horizon), return_dtype=pl.String))
    show(scores, f"churn_scores_{horizon}d_{end}", roc_auc="score", brier="score", base_rate="ratio")
    st.caption(t("segments.churn_scores_note"))
    left, right = st.columns(2)
    left.plotly_chart(charts.churn_roc(risk.validation, risk.scores, horizon, lang), width="stretch")
    right.plotly_chart(charts.churn_calibration(risk.calibration, lang), width="stretch")
    st.subheader(t("segments.at_risk", end=end, days=horizon))
    customers = model_data.customers_in(risk.customers, users).sort("churn_probability", descending=True).rename({"frequency": "orders"})
    show(customers, f"churn_risk_{horizon}d_{end}", user_level=True, churn_probability="ratio", bgnbd_no_purchase="ratio", p_alive="ratio",
         recency_days="count", orders="count", monetary="money")


TAB_KEY, OPEN_TAB_KEY = "segments_tab", "segments_open_tab"
tab_labels = {name: t(f"segments.tab.{name}") for name in TABS}
# the open tab is kept in the URL (ui/links.py) by its name, as its label changes with the language
opened_tab = {label: name for name, label in tab_labels.items()}.get(st.session_state.get(TAB_KEY, ""))
if opened_tab is not None:
    st.session_state[OPEN_TAB_KEY] = opened_tab
st.session_state[TAB_KEY] = tab_labels[linked(OPEN_TAB_KEY, "tab", TABS[0], choices=TABS)]
tabs = st.tabs(list(tab_labels.values()), on_change="rerun", key=TAB_KEY)
for tab, draw in zip(tabs, (rfm_tab, clusters_tab, tags_tab, ltv_tab, churn_tab)):
    if tab.open:
        with tab:
            draw()
