"""Demand & baskets: weekly units per category for the next weeks, backtested against the
seasonal naive forecast; and frequently bought together, as association rules between pairs.

Both learn from the shop's whole history up to its last day of data, not from the sidebar's
period (so moving the period recomputes nothing)."""

import polars as pl
import streamlit as st

from models.basket import LEVELS
from models.forecast import ALL_CATEGORIES, season_length
from shop_analytics.charts.demand import category_label, demand_chart
from shop_analytics.i18n import text
from shop_analytics.ui import data, model_data
from shop_analytics.ui.frame import open_page
from shop_analytics.ui.lang import language, t
from shop_analytics.ui.links import linked, number_between
from shop_analytics.ui.model_tables import model_table

HORIZONS = (4, 5, 6, 7, 8)  # weeks ahead, as the supply chain plans
DEFAULT_HORIZON = 8
DEFAULT_SUPPORT_PERCENT = 0.05  # of orders: the sample shop's orders mostly hold one item
MIN_SUPPORT_PERCENT = 0.01

settings, shop, chosen = open_page("demand")
lang, source, tz, currency = language(), data.source_key(), chosen.tz, settings.currency
end = model_data.data_end(source, tz)
st.caption(t("demand.window", end=end, start=chosen.start, period_end=chosen.end))


def show(frame: pl.DataFrame, name: str, **units: str) -> None:
    model_table(frame, namespace="demand", units=units, currency=currency, name=name)


st.subheader(t("demand.forecast_title"))
# the pickers are kept in the URL (ui/links.py): a shared link shows the same forecast and rules
linked("demand_horizon", "horizon", DEFAULT_HORIZON, choices=HORIZONS)
horizon = st.segmented_control(t("demand.horizon"), HORIZONS, key="demand_horizon",
                               format_func=lambda weeks: text("demand.weeks", lang, weeks=weeks)) or DEFAULT_HORIZON
try:
    with st.spinner(t("demand.fitting")):
        demand = model_data.demand(source, tz, horizon)
except ValueError as error:
    st.warning(t("demand.cannot_forecast", reason=error))
else:
    result = demand.forecast
    first_week, last_week = result.history
    weeks = demand.units["week"].n_unique()
    st.caption(t("demand.forecast_about", first=first_week, last=last_week, weeks=weeks, horizon=horizon,
                 origins=result.backtest["origin"].n_unique(), season=season_length(weeks)))
    overall = result.errors.row(0, named=True)
    beaten = overall["mase_model"] < overall["mase_naive"]
    (st.success if beaten else st.warning)(t("demand.verdict_better" if beaten else "demand.verdict_worse",
                                             model=f"{overall['mase_model']:.2f}", naive=f"{overall['mase_naive']:.2f}"))
    errors = result.errors.with_columns(category=pl.col("category").map_elements(lambda name: category_label(name, lang), return_dtype=pl.String))
    show(errors, f"forecast_backtest_errors_{horizon}w_{end}", mase_model="number", mase_naive="number", mape_model="ratio", mape_naive="ratio", weeks="count")

    left, right = st.columns(2)
    categories = result.errors.filter(pl.col("category") != ALL_CATEGORIES)["category"].to_list()
    linked("demand_category", "category", categories[0], choices=categories)
    category = left.selectbox(t("demand.category"), categories, key="demand_category", format_func=lambda name: category_label(name, lang))
    origins = result.backtest["origin"].unique().sort().to_list()
    linked("demand_origin", "origin", origins[0], choices=origins)
    origin = right.select_slider(t("demand.origin"), origins, key="demand_origin")
    st.plotly_chart(demand_chart(demand.units, result.backtest, result.forecast, category=category, origin=origin, lang=lang), width="stretch")
    st.caption(t("demand.chart_about", origin=origin))
    show(result.forecast, f"forecast_{horizon}w_{end}", forecast="number", seasonal_naive="number", campaign_lift="number")

st.subheader(t("demand.baskets_title"))
left, middle, right = st.columns(3)
linked("demand_level", "level", "product", choices=LEVELS)
level = left.segmented_control(t("demand.level"), LEVELS, key="demand_level",
                               format_func=lambda name: text(f"demand.level_{name}", lang)) or "product"
linked("demand_support", "support", DEFAULT_SUPPORT_PERCENT, parse=number_between(MIN_SUPPORT_PERCENT, 100.0, float))
min_support = middle.number_input(t("demand.min_support"), min_value=MIN_SUPPORT_PERCENT, max_value=100.0,
                                  step=MIN_SUPPORT_PERCENT, format="%.2f", key="demand_support") / 100
linked("demand_confidence", "confidence", 0.0, parse=number_between(0.0, 100.0, float))
min_confidence = right.number_input(t("demand.min_confidence"), min_value=0.0, max_value=100.0, step=5.0,
                                    format="%.0f", key="demand_confidence") / 100
orders, multi = model_data.basket_sizes(model_data.basket_items(source, tz, level))
st.caption(t("demand.baskets_about", end=end, orders=f"{orders:,}", multi=f"{multi:,}", share=f"{multi / orders:.1%}" if orders else "–"))
rules = model_data.basket_rules(source, tz, level, min_support, min_confidence)
if rules.is_empty():
    st.info(t("demand.no_rules", support=f"{min_support:.2%}", confidence=f"{min_confidence:.0%}"))
else:
    show(rules, f"bought_together_{level}_{end}", baskets_together="count", support="ratio", confidence="ratio", lift="number",
         antecedent_support="ratio", consequent_support="ratio")
st.caption(t("demand.rules_help"))
