"""The cached edge of the Segments & LTV and Demand & baskets pages: the models of models/
fitted on the whole loaded shop up to its last day of data.

The models learn from the shop's whole history, not from the sidebar's period, so moving the
period never refits them: each fit is cached by the source (`data.source_key()`), the zone and
the model's own settings, and reads the shop that key stands for (`data.shop_of`), so that the
server's start can fit the Predicted LTV tab's models ahead (`prepare_ltv_tab`). The channel,
device and region filters choose which customers a table lists (`segment_users`,
`customers_in`), after the fit.
"""

from dataclasses import dataclass
from datetime import date, timedelta

import polars as pl
import streamlit as st

from metrics.segments import Segment
from models import forecast as forecast_model
from models.basket import association_rules, baskets
from models.churn import ChurnRisk, churn_risk
from models.clusters import RfmClusters
from models.ltv import LtvAnalysis, ltv_analysis
from models.rfm import rfm_table
from models.tags import user_tags
from models.value_regression import ValueComparison, compare_value_predictors
from shop_analytics.ui import data

_cached = st.cache_data(ttl=3600, max_entries=16, show_spinner=False)
DEFAULT_DAYS = 90
"""The holdout of the LTV and value checks, and the churn horizon, until the user picks another."""


def _frames(shop) -> tuple:
    """What the behaviour models read: events, sessions, orders, users, order_items, products
    (the last two None when the source lacks them)."""
    return shop.events, shop.sessions, shop.orders, shop.users, shop.tables.get("order_items"), shop.tables.get("products")


@_cached
def data_end(source: str, tz: str) -> date | None:
    """The shop's last business day with data (events, else orders): the as-of day of every model."""
    span = data.shop_of(source).date_span(tz)
    return None if span is None else span[1]


def _as_of(source: str, tz: str) -> date:
    """`data_end`, which every model is fitted up to; ValueError when the shop has no data."""
    end = data_end(source, tz)
    if end is None:
        raise ValueError("the models need events or orders, and the shop has none")
    return end


@_cached
def segment_users(source: str, segment: Segment) -> pl.Series | None:
    """The user_ids in `segment` (a user is in it by acquisition channel, device and region,
    as `Segment` says); None when the segment is everyone."""
    if segment.is_everything:
        return None
    shop = data.shop_of(source)
    events, sessions = shop.events, shop.sessions
    if sessions is None:  # loading derives the sessions of every shop with events
        raise ValueError(f"{shop.description} has events but no sessions derived from them")
    # only the users are wanted: the other frames go in empty, with their columns
    return segment.apply(events.clear(), sessions.clear(), shop.orders.clear(), shop.users)[3]["user_id"]


def customers_in(frame: pl.DataFrame, users: pl.Series | None) -> pl.DataFrame:
    """The rows of `frame` whose user_id is in `users` (all of them when `users` is None)."""
    return frame if users is None else frame.filter(pl.col("user_id").is_in(users.implode()))


@_cached
def rfm(source: str, tz: str) -> pl.DataFrame:
    """Every customer's RFM scores and segment as of the data's last day (`models.rfm.rfm_table`)."""
    return rfm_table(data.shop_of(source).orders, as_of=_as_of(source, tz), tz=tz)


@st.cache_resource(ttl=3600, max_entries=16, show_spinner=False)
def cluster_model(source: str, tz: str, n_clusters: int | None) -> RfmClusters:
    """k-means on every customer's RFM values, k by silhouette when `n_clusters` is None."""
    return RfmClusters(n_clusters=n_clusters).fit(rfm(source, tz))


@_cached
def tags(source: str, tz: str) -> pl.DataFrame:
    """Every user's tags as of the data's last day (`models.tags.user_tags`, default rules)."""
    events, _, orders, users, order_items, products = _frames(data.shop_of(source))
    return user_tags(events, orders, users, order_items, products, as_of=_as_of(source, tz), tz=tz)


@_cached
def ltv_validation(source: str, tz: str, holdout_days: int) -> LtvAnalysis:
    """BG/NBD and Gamma-Gamma fitted up to `holdout_days` before the data's last day and
    checked on the days after (`models.ltv.ltv_analysis`)."""
    end = _as_of(source, tz)
    return ltv_analysis(data.shop_of(source).orders, calibration_end=end - timedelta(days=holdout_days), holdout_end=end, tz=tz)


@_cached
def ltv_prediction(source: str, tz: str, horizon_days: int) -> LtvAnalysis:
    """BG/NBD and Gamma-Gamma fitted on every valid order up to the data's last day: each
    customer's expected purchases, P(alive) and value over the `horizon_days` after it."""
    return ltv_analysis(data.shop_of(source).orders, calibration_end=_as_of(source, tz), tz=tz, horizon_days=horizon_days)


@_cached
def value_comparison(source: str, tz: str, holdout_days: int) -> ValueComparison:
    """Gradient boosting, BG/NBD + Gamma-Gamma, the naive baseline and zero predicting each
    customer's GMV in the last `holdout_days` days of data (`compare_value_predictors`)."""
    end = _as_of(source, tz)
    return compare_value_predictors(
        *_frames(data.shop_of(source)), calibration_end=end - timedelta(days=holdout_days), holdout_end=end, tz=tz
    )


@_cached
def churn(source: str, tz: str, horizon_days: int) -> ChurnRisk:
    """The churn classifier, validated and scoring every customer as of the data's last day
    (`models.churn.churn_risk`)."""
    return churn_risk(*_frames(data.shop_of(source)), as_of=_as_of(source, tz), tz=tz, horizon_days=horizon_days)


@dataclass(frozen=True)
class Demand:
    """The forecast with its backtest (`forecast`) and the weekly units it learned from (`units`)."""

    forecast: forecast_model.DemandForecast
    units: pl.DataFrame


@_cached
def demand(source: str, tz: str, horizon_weeks: int) -> Demand:
    """Weekly units per category for the `horizon_weeks` after the last whole week of data,
    backtested against the seasonal naive forecast (`models.forecast.demand_forecast`)."""
    shop = data.shop_of(source)
    end = data_end(source, tz)
    return Demand(
        forecast_model.demand_forecast(
            shop.orders, shop.order_items, shop.products, shop.tables.get("campaigns"), tz=tz, end=end, horizon_weeks=horizon_weeks
        ),
        forecast_model.weekly_units(shop.orders, shop.order_items, shop.products, tz=tz, end=end),
    )


@_cached
def basket_items(source: str, tz: str, level: str) -> pl.DataFrame:
    """Each valid order's distinct products or categories (`models.basket.baskets`)."""
    shop = data.shop_of(source)
    return baskets(shop.orders, shop.order_items, shop.tables.get("products"), tz=tz, level=level)


@_cached
def basket_rules(source: str, tz: str, level: str, min_support: float, min_confidence: float) -> pl.DataFrame:
    """Pair rules A -> B over every valid order (`models.basket.association_rules`); at the
    product level with each product's name beside its id when the products table has one."""
    rules = association_rules(basket_items(source, tz, level), min_support=min_support, min_confidence=min_confidence)
    products = data.shop_of(source).tables.get("products")
    if level != "product" or products is None:
        return rules
    names = products.select(product_id=pl.col("product_id").cast(pl.String), name=pl.col("name").cast(pl.String))
    return (
        rules.join(names.rename({"product_id": "antecedent", "name": "antecedent_name"}), on="antecedent", how="left", maintain_order="left")
        .join(names.rename({"product_id": "consequent", "name": "consequent_name"}), on="consequent", how="left", maintain_order="left")
        .select("antecedent", "antecedent_name", "consequent", "consequent_name", *rules.columns[2:])
    )


def basket_sizes(items: pl.DataFrame) -> tuple[int, int]:
    """Baskets, and baskets with at least two distinct items (the only ones a pair rule can come from)."""
    sizes = items.group_by("order_id").len()
    return sizes.height, sizes.filter(pl.col("len") >= 2).height


def prepare_ltv_tab(source: str, tz: str, horizon_days: int) -> None:
    """Fit the models the Predicted LTV tab of Segments & LTV shows with its default holdout
    (DEFAULT_DAYS) and the configured `horizon_days`: 1.5 s at 2 million events, which made
    the tab's first open the slowest first use of a control (bench/bench_cold.py). The same
    cached functions, with the same arguments, as pages/segments.py calls."""
    ltv_validation(source, tz, DEFAULT_DAYS)
    value_comparison(source, tz, DEFAULT_DAYS)
    ltv_prediction(source, tz, horizon_days)
