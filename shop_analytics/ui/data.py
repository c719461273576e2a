"""The cached loading edge: one loaded shop per configured source, filter-keyed results.

The shop is a `st.cache_resource` (shared, never copied); metric results are
`st.cache_data`, keyed by the source and the filters, so moving a filter recomputes from
memory and never reloads the database.
"""

import json
from contextlib import nullcontext
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
import streamlit as st

from connectors import SourceError
from connectors.extracts import ExtractSource
from metrics import abandonment as abandonment_metric
from metrics import (
    anomalies,
    bands,
    channels,
    cohorts,
    drilldown,
    kpis,
    payments,
    periods,
    products,
    review_words,
    search,
    service,
)
from metrics import attribution as attribution_metric
from metrics import funnel as funnel_metric
from metrics import lifecycle as lifecycle_metric
from metrics import repeat_orders as repeat_orders_metric
from metrics.cohorts import CohortBy, CohortPeriod, Measure, Period, RetentionMode
from metrics.funnel_spec import FunnelSpec
from metrics.segments import Segment
from metrics.time import in_days, utc_bounds
from shop_analytics import targets as targets_module
from shop_analytics.config import AppConfig, ConfigError, Settings, config_from_mapping, plain
from shop_analytics.loading import Shop
from shop_analytics.opening import configured_source, extract_for, load_configured
from shop_analytics.targets import Target, distinct_actuals, pacing_daily, target_path
from shop_analytics.ui.lang import t
from shop_analytics.views import activity_frames, all_frames, anomaly_settings, configured_channel_table, funnel_events, mask_unavailable
from shop_analytics.views import gmv_decomposition as gmv_decomposition_of


@st.cache_resource(show_spinner=False, max_entries=4)
def _config(secrets_json: str) -> AppConfig:
    """The configuration of the secrets Streamlit read (validated once per content)."""
    return config_from_mapping(json.loads(secrets_json), origin=".streamlit/secrets.toml")


def current_config() -> AppConfig:
    """The configuration: Streamlit's secrets (.streamlit/secrets.toml), checked
    (ConfigError names a wrong key), the same object for the same content."""
    try:
        secrets = plain(st.secrets.to_dict())
    except FileNotFoundError as error:
        if "Error parsing" in str(error):
            raise ConfigError(str(error)) from None
        secrets = {}  # no secrets file: every default, the sample shop
    return _config(json.dumps(secrets, sort_keys=True, default=str))


def settings() -> Settings:
    return current_config().settings


_CONFIGS: dict[str, AppConfig] = {}
"""The configurations whose keys this process has handed out, by fingerprint: a cached
function gets its key (a string, cheap to hash) and finds the configuration it stands for."""


def config_of(key: str) -> AppConfig:
    """The configuration a `source_key()` was made from."""
    return _CONFIGS[json.loads(key)["config"]]


@st.cache_resource(show_spinner=False)
def _extract(shop_fingerprint: str) -> ExtractSource | None:
    """The extract a server database is read through, shared by every session (opening.extract_for)."""
    return extract_for(_CONFIGS[shop_fingerprint])


def shop_extract() -> ExtractSource | None:
    """The extract of the configured source, None when it is read directly."""
    config = current_config()
    _CONFIGS[config.shop_fingerprint] = config
    return _extract(config.shop_fingerprint)


def source_key() -> str:
    """The cache key of everything computed from the configured shop: the configuration's
    fingerprint (any setting changed gives a new key) and the extract's generation when the
    source is read through one (refreshing it first when its time-to-live has passed)."""
    config = current_config()
    _CONFIGS[config.fingerprint] = _CONFIGS[config.shop_fingerprint] = config
    extract = _extract(config.shop_fingerprint)
    generation = None
    if extract is not None:
        with st.spinner(t("extracts.refreshing")) if extract.refresh_due() else nullcontext():
            generation = extract.current().generation
    return json.dumps({"config": config.fingerprint, "shop": config.shop_fingerprint, "extract": generation})


@st.cache_resource(show_spinner=False, max_entries=2)
def _load_shop(shop_fingerprint: str, generation: str | None) -> Shop:
    config = _CONFIGS[shop_fingerprint]
    return load_configured(config, _extract(shop_fingerprint) or configured_source(config))


def _load(key: str) -> Shop:
    """The loaded shop of a `source_key()`: loaded once per source, session gap, zone and
    extract generation, whatever the other settings."""
    parts = json.loads(key)
    return _load_shop(parts["shop"], parts["extract"])


def shop_of(key: str) -> Shop:
    """The loaded shop a `source_key()` stands for, as a function cached by that key reads it:
    without a spinner, so that it can run outside a visitor's run too (the server's start)."""
    return _load(key)


def prepare_shop() -> Shop:
    """The configured shop loaded into the shared cache outside any visitor's run, with the
    sessions and activity events every page reads and the whole shop's daily KPIs and
    verdicts (the Overview's alerts and bands) (the server's start: ui/serve.py), so that
    `current_shop` finds them there."""
    key = source_key()
    shop = _load(key)
    if shop.sessions is not None:
        shop.activity  # noqa: B018 - a cached property: computing it is the point
    _history(key, config_of(key).settings.time_zone, Segment())
    return shop


def current_shop() -> Shop:
    """The loaded shop of the configured source (SourceError when it cannot be read), under
    a spinner in the page's language while it loads."""
    key = source_key()
    with st.spinner(t("loading.shop")):
        return _load(key)


def _segment_frames(shop: Shop, segment: Segment):
    return segment.apply(*all_frames(shop))


@st.cache_resource(show_spinner=False, max_entries=32)
def segment_activity_frames(key: str, segment: Segment) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """The segment's frames with the events as the activity metrics read them (Shop.activity),
    filtered once per segment and shared (never copied) by every result computed from them."""
    return segment.apply(*activity_frames(_load(key)))


@st.cache_resource(ttl=3600, max_entries=32, show_spinner=False)
def _history(key: str, tz: str, segment: Segment) -> dict[str, pl.DataFrame] | None:
    """The segment's daily KPI table over every day of the data and its anomaly verdicts
    (None for a shop without activity), computed once and shared: a day's KPIs and verdict
    depend only on that day and the days before it, so any period's table and any day's
    alerts are slices of these, whoever asks. A resource, not a copy per reader: the frames
    are only read, and the server's start (prepare_shop) can compute the whole shop's."""
    shop = _load(key)
    span = shop.date_span(tz)
    if span is None:
        return None
    daily = mask_unavailable(kpis.daily_kpis(*segment_activity_frames(key, segment), start=span[0], end=span[1], tz=tz), shop)
    verdicts = anomalies.anomaly_verdicts(daily, shop.optional("campaigns"), anomaly_settings(config_of(key)))
    return {"daily": daily, "verdicts": verdicts}


def _covered(history: dict[str, pl.DataFrame] | None, start: date, end: date) -> bool:
    return history is not None and history["daily"]["date"][0] <= start and end <= history["daily"]["date"][-1]


@st.cache_data(ttl=3600, max_entries=64, show_spinner=False)
def daily_kpis(key: str, start: date, end: date, tz: str, segment: Segment) -> pl.DataFrame:
    """metrics.kpis.daily_kpis for start..end: a slice of the segment's history when the data
    covers the period, else computed for it (days outside the data are zero days)."""
    history = _history(key, tz, segment)
    if history is not None and _covered(history, start, end):
        return history["daily"].filter(pl.col("date").is_between(start, end))
    return mask_unavailable(kpis.daily_kpis(*segment_activity_frames(key, segment), start=start, end=end, tz=tz), _load(key))


@st.cache_data(ttl=3600, max_entries=64, show_spinner=False)
def period_comparison(key: str, start: date, end: date, tz: str, segment: Segment) -> pl.DataFrame:
    frames = segment_activity_frames(key, segment)
    return mask_unavailable(periods.compare_periods(*frames, start=start, end=end, tz=tz), _load(key))


@st.cache_data(ttl=3600, max_entries=64, show_spinner=False)
def period_cut(key: str, start: date, end: date, tz: str) -> datetime | None:
    """Where the data ends inside the period start..end (local time), None if it covers it."""
    shop = _load(key)
    elapsed = periods.elapsed_part(shop.activity, shop.or_empty("orders"), start=start, end=end, tz=tz)
    if elapsed is None:
        return None
    return (utc_bounds(start, end, tz)[0] + elapsed).astimezone(ZoneInfo(tz))


@st.cache_data(ttl=3600, max_entries=64, show_spinner=False)
def day_detail(key: str, day: date, tz: str, segment: Segment) -> dict[str, pl.DataFrame]:
    shop = _load(key)
    _, sessions, orders, _ = segment_activity_frames(key, segment)
    detail = {
        "channels": drilldown.channels_on_day(sessions, orders, day=day, tz=tz),
        "orders": drilldown.orders_on_day(orders, day=day, tz=tz),
    }
    if shop.has("order_items", "products"):
        detail["products"] = drilldown.top_products_on_day(
            orders, shop.order_items, shop.products, day=day, tz=tz
        )
    return detail


@st.cache_data(ttl=3600, max_entries=64, show_spinner=False)
def channel_table(key: str, start: date, end: date, tz: str, segment: Segment) -> pl.DataFrame:
    """The channel table for the period, across every channel (the device and region filters
    apply)."""
    shop = _load(key)
    events, sessions, orders, users = segment_activity_frames(key, replace(segment, channels=()))
    optional = {name: shop.tables.get(name) for name in ("ad_spend", "order_items", "products")}
    configured = config_of(key).settings.model_copy(update={"time_zone": tz})
    return configured_channel_table(events, sessions, orders, users, optional, start=start, end=end, settings=configured)


@st.cache_data(ttl=3600, max_entries=64, show_spinner=False)
def channel_trend(key: str, start: date, end: date, tz: str, segment: Segment) -> pl.DataFrame | None:
    """Daily spend, GMV and ROAS per paid channel (None without an ad_spend table)."""
    shop = _load(key)
    if not shop.has("ad_spend"):
        return None
    _, _, orders, users = segment_activity_frames(key, replace(segment, channels=()))
    return channels.channel_spend_trend(orders, users, shop.ad_spend, start=start, end=end, tz=tz)


@st.cache_data(ttl=3600, max_entries=64, show_spinner=False)
def retention(
    key: str, start: date, end: date, tz: str, segment: Segment,
    period: CohortPeriod, cohort_by: CohortBy, measure: Measure, mode: RetentionMode,
) -> pl.DataFrame:
    events, _, orders, users = segment_activity_frames(key, segment)
    return cohorts.retention(events, orders, users, start=start, end=end, tz=tz, period=period, cohort_by=cohort_by, measure=measure, mode=mode)


@st.cache_data(ttl=3600, max_entries=64, show_spinner=False)
def lifecycle(key: str, start: date, end: date, tz: str, segment: Segment, period: Period) -> pl.DataFrame:
    events, _, _, users = segment_activity_frames(key, segment)
    return lifecycle_metric.lifecycle(events, users, start=start, end=end, tz=tz, period=period)


@st.cache_data(ttl=3600, max_entries=64, show_spinner=False)
def ltv_curves(key: str, start: date, end: date, tz: str, segment: Segment, period: CohortPeriod, cohort_by: CohortBy) -> pl.DataFrame:
    events, _, orders, users = segment_activity_frames(key, segment)
    return cohorts.ltv_curves(orders, users, events, start=start, end=end, tz=tz, period=period, cohort_by=cohort_by)


@st.cache_data(ttl=3600, max_entries=64, show_spinner=False)
def channel_payback(key: str, start: date, end: date, tz: str, segment: Segment, period: CohortPeriod) -> dict[str, pl.DataFrame] | None:
    """CAC per acquisition channel and when its first-time buyers paid it back (None
    without an ad_spend table)."""
    shop = _load(key)
    if not shop.has("ad_spend"):
        return None
    _, _, orders, users = segment_activity_frames(key, replace(segment, channels=()))
    payback = cohorts.channel_payback(orders, users, shop.ad_spend, start=start, end=end, tz=tz, period=period, margin=config_of(key).settings.default_margin)
    return {"channels": payback.channels, "curves": payback.curves}


@st.cache_data(ttl=3600, max_entries=64, show_spinner=False)
def funnel(key: str, start: date, end: date, tz: str, segment: Segment, spec: FunnelSpec) -> dict[str, pl.DataFrame]:
    """The funnel table and its drop-off users for the period and segment; with push-down,
    from the events the engine gives for this funnel."""
    shop = _load(key)
    events = funnel_events(shop, spec, start=start, end=end, tz=tz)
    events, _, _, users = segment.apply(events, activity_frames(shop)[1], shop.or_empty("orders"), shop.or_empty("users"))
    return {
        "table": funnel_metric.funnel(events, spec, start=start, end=end, tz=tz, users=users),
        "drop_offs": funnel_metric.drop_offs(events, spec, start=start, end=end, tz=tz, users=users),
    }


@st.cache_data(ttl=3600, max_entries=64, show_spinner=False)
def recent_alerts(key: str, end: date, tz: str, segment: Segment, days: int = 7) -> pl.DataFrame:
    """Anomaly alerts whose direction is bad, on the `days` days ending at `end`, newest first.

    The whole history up to `end` feeds the baselines (28 days before each day; campaign days
    against past campaign days): the verdicts of the segment's history, whose days before
    `end` are the same whatever comes after it."""
    history = _history(key, tz, segment)
    if history is None:
        return pl.DataFrame(schema=anomalies.ANOMALY_SCHEMA)
    if _covered(history, end, end):
        verdicts = history["verdicts"]
    else:
        shop = _load(key)
        daily = mask_unavailable(kpis.daily_kpis(*segment_activity_frames(key, segment), start=history["daily"]["date"][0], end=end, tz=tz), shop)
        verdicts = anomalies.anomaly_verdicts(daily, shop.optional("campaigns"), anomaly_settings(config_of(key)))
    return anomalies.alerts_of(verdicts).filter(
        pl.col("date").is_between(end - timedelta(days=days - 1), end)
    ).sort("date", "kpi", descending=[True, False])


@st.cache_data(ttl=3600, max_entries=64, show_spinner=False)
def product_views(key: str, start: date, end: date, tz: str, segment: Segment) -> dict[str, pl.DataFrame]:
    """Per product and per category tables for the period, and the top movers against the
    previous period of the same length."""
    shop = _load(key)
    events, _, orders, _ = _segment_frames(shop, segment)
    frames = (events, orders, shop.order_items, shop.products)
    return {
        "products": products.product_table(*frames, start=start, end=end, tz=tz),
        "categories": products.category_table(*frames, start=start, end=end, tz=tz),
        "movers": products.product_movers(*frames, start=start, end=end, tz=tz),
    }


@st.cache_data(ttl=3600, max_entries=64, show_spinner=False)
def product_detail(key: str, product_id, start: date, end: date, tz: str, segment: Segment) -> dict[str, pl.DataFrame]:
    """One product's days and, where the source has reviews, its ratings and review words."""
    shop = _load(key)
    events, _, orders, _ = _segment_frames(shop, segment)
    detail = {"daily": products.product_daily(events, orders, shop.order_items, product_id=product_id, start=start, end=end, tz=tz)}
    if shop.has("reviews"):
        reviews = in_days(shop.reviews.filter(pl.col("product_id") == product_id), "created_at", start, end, tz)
        detail["ratings"] = reviews.group_by("rating").len("reviews").sort("rating")
        if "text" in reviews.columns:
            detail["words"] = review_words.review_words(reviews, tz=tz, by="product", top=15)
    return detail


@st.cache_data(ttl=3600, max_entries=64, show_spinner=False)
def service_views(key: str, start: date, end: date, tz: str, segment: Segment) -> dict[str, pl.DataFrame]:
    """Service (tickets), fulfilment (orders) and review words for the period."""
    shop = _load(key)
    _, _, orders, _ = segment_activity_frames(key, segment)
    views: dict[str, pl.DataFrame] = {"fulfilment": service.fulfilment_summary(orders, start=start, end=end, tz=tz)}
    if shop.has("tickets"):
        views["service"] = service.service_summary(shop.tickets, orders, start=start, end=end, tz=tz)
        views["service_by_category"] = service.service_summary(shop.tickets, orders, start=start, end=end, tz=tz, by="category")
    if shop.has("reviews"):
        products_table = shop.tables.get("products")
        views["words"] = review_words.review_words(shop.reviews, start=start, end=end, tz=tz, top=15)
        views["ratings"] = (
            in_days(shop.reviews, "created_at", start, end, tz).group_by("rating").len("reviews").sort("rating")
        )
        if products_table is not None:
            views["words_by_product"] = review_words.review_words(shop.reviews, start=start, end=end, tz=tz, by="product", top=10, products=products_table)
    return views


@st.cache_data(ttl=3600, max_entries=64, show_spinner=False)
def checkout_views(key: str, start: date, end: date, tz: str, segment: Segment) -> dict[str, pl.DataFrame]:
    """Search, payment and coupon tables for the period."""
    shop = _load(key)
    events, _, orders, _ = _segment_frames(shop, segment)
    period: dict[str, Any] = {"start": start, "end": end, "tz": tz}
    return {
        "search": search.search_summary(events, **period),
        "terms": search.top_search_terms(events, **period),
        "exit_terms": search.exit_terms(events, **period),
        "failures": payments.payment_failure_rate(events, orders, **period),
        "methods": payments.payment_methods(orders, **period),
        "coupons": payments.coupon_summary(orders, **period),
        "coupon_repeat": payments.coupon_repeat_purchase(orders, **period),
    }


__all__ = ["SourceError", "current_shop", "prepare_shop", "segment_activity_frames", "settings", "source_key", "daily_kpis", "period_comparison", "period_cut", "day_detail", "channel_table", "channel_trend", "retention", "lifecycle", "ltv_curves", "channel_payback", "funnel", "recent_alerts", "product_views", "product_detail", "service_views", "checkout_views", "shop_extract", "shop_of", "card_bands", "trend_band", "gmv_decomposition", "repeat_orders", "repurchase_by_period", "abandonment_views", "attribution_models", "target_paces"]


# Issue 19: the operations views a team in China reads every day (SPEC section 3: visitors and
# UV value, the GMV decomposition, new and repeat orders, repurchase, abandonment, attribution,
# targets and pacing, the own-history band).


def _comparison_cut(key: str, start: date, end: date, tz: str, segment: Segment, other_start: date, other_end: date) -> datetime | None:
    """Where another period is cut so that it is compared with the same elapsed part as the
    current one while that is in progress (SPEC, Period comparison); None when it is not."""
    events, _, orders, _ = segment_activity_frames(key, segment)
    elapsed = periods.elapsed_part(events, orders, start=start, end=end, tz=tz)
    return None if elapsed is None else utc_bounds(other_start, other_end, tz)[0] + elapsed


@st.cache_data(ttl=3600, max_entries=64, show_spinner=False)
def card_bands(key: str, start: date, end: date, tz: str, segment: Segment, kpis: tuple[str, ...]) -> pl.DataFrame:
    """The period's KPIs against the same-length periods of the previous 8 periods
    (metrics.bands.period_bands), each cut at the same elapsed point while the period is in
    progress, as the cards' comparisons are; periods before the data's first day are left out."""
    frames = segment_activity_frames(key, segment)
    shop = _load(key)
    first_day = (shop.date_span(tz) or (start, end))[0]
    current = {row["kpi"]: row["current"] for row in period_comparison(key, start, end, tz, segment).iter_rows(named=True)}
    history = []
    for other_start, other_end in bands.previous_periods(start, end):
        if other_start < first_day:
            break
        cut = _comparison_cut(key, start, end, tz, segment, other_start, other_end)
        history.append(periods.period_summary(*frames, start=other_start, end=other_end, tz=tz, until=cut))
    return mask_unavailable(bands.period_bands(current, history, list(kpis)), shop)


@st.cache_data(ttl=3600, max_entries=64, show_spinner=False)
def trend_band(key: str, start: date, end: date, tz: str, segment: Segment, kpi: str) -> pl.DataFrame | None:
    """Each day's `kpi` of start..end against the same weekday of the previous 8 weeks
    (metrics.bands.daily_bands), from the segment's history (days before the data are not
    zeros: they are left out of the band). None for a shop without activity."""
    history = _history(key, tz, segment)
    if history is None:
        return None
    first = max(bands.history_start(start), history["daily"]["date"][0])
    daily = history["daily"].filter(pl.col("date").is_between(first, end))
    return bands.daily_bands(daily, [kpi], start=start)


@st.cache_data(ttl=3600, max_entries=64, show_spinner=False)
def gmv_decomposition(key: str, start: date, end: date, tz: str, segment: Segment, compared_with: str) -> dict:
    """The GMV factors of the period and of the period it is compared with, and each factor's
    part of the change, for the shop, by channel and, where the shop has items, products and its
    events in memory, by category (views.gmv_decomposition)."""
    shop = _load(key)
    by_category = {}
    if shop.has("events", "order_items", "products") and shop.pushed is None:
        by_category = {"events": _segment_frames(shop, segment)[0], "order_items": shop.order_items, "products": shop.products}
    return gmv_decomposition_of(*segment_activity_frames(key, segment), start=start, end=end, tz=tz, compared_with=compared_with, **by_category)


@st.cache_data(ttl=3600, max_entries=64, show_spinner=False)
def repeat_orders(key: str, start: date, end: date, tz: str, segment: Segment) -> dict[str, pl.DataFrame]:
    """New-buyer and repeat-buyer orders of the period, and its buyers' repurchase within 30
    and 90 days, the buyers whose days have not passed by the last order shown as pending
    (metrics.repeat_orders; the export and the report judge it the same way)."""
    _, _, orders, _ = segment_activity_frames(key, segment)
    period: dict[str, Any] = {"start": start, "end": end, "tz": tz}
    return {
        "orders": repeat_orders_metric.new_and_repeat_orders(orders, **period),
        "repurchase": repeat_orders_metric.repurchase_rates(orders, **period),
    }


@st.cache_data(ttl=3600, max_entries=64, show_spinner=False)
def repurchase_by_period(key: str, start: date, end: date, tz: str, segment: Segment, period: CohortPeriod) -> pl.DataFrame:
    """Repurchase within 30 and 90 days of the buyers of each week or month of the period."""
    _, _, orders, _ = segment_activity_frames(key, segment)
    return repeat_orders_metric.repurchase_rates(orders, start=start, end=end, tz=tz, period=period)


@st.cache_data(ttl=3600, max_entries=64, show_spinner=False)
def abandonment_views(key: str, start: date, end: date, tz: str, segment: Segment) -> dict[str, pl.DataFrame]:
    """Cart and checkout abandonment of the period's sessions, whole and by channel and device,
    and the users who abandoned a cart or a checkout (metrics.abandonment)."""
    shop = _load(key)
    # every event of the sessions (NeedsEvents with push-down, whose engine keeps them)
    _, sessions, orders, users = activity_frames(shop)
    events, sessions, _, _ = segment.apply(shop.events, sessions, orders, users)
    products_table = shop.optional("products")
    period: dict[str, Any] = {"start": start, "end": end, "tz": tz}
    return {
        "total": abandonment_metric.abandonment(events, sessions, products_table, **period),
        "channel": abandonment_metric.abandonment(events, sessions, products_table, by=["channel"], **period),
        "device": abandonment_metric.abandonment(events, sessions, products_table, by=["device"], **period),
        "cart_users": abandonment_metric.abandoning_users(events, sessions, products_table, stage="cart", **period),
        "checkout_users": abandonment_metric.abandoning_users(events, sessions, products_table, stage="checkout", **period),
    }


@st.cache_data(ttl=3600, max_entries=64, show_spinner=False)
def attribution_models(key: str, start: date, end: date, tz: str, segment: Segment) -> pl.DataFrame:
    """GMV, ROAS and ROI per channel under every attribution model, over the configured
    lookback, across every channel (the device and region filters apply), as the channel table
    (metrics.attribution.compare_attribution_models)."""
    shop = _load(key)
    _, sessions, orders, users = segment_activity_frames(key, replace(segment, channels=()))
    configured = config_of(key).settings
    return attribution_metric.compare_attribution_models(
        sessions, orders, shop.optional("ad_spend"), shop.optional("order_items"), shop.optional("products"),
        start=start, end=end, tz=tz, lookback=configured.attribution_lookback, default_margin=configured.default_margin,
        users=users,
    )


@st.cache_data(ttl=600, max_entries=64, show_spinner=False)
def target_paces(key: str, tz: str, as_of: date, targets: tuple[Target, ...]) -> dict | None:
    """Each target's pace after `as_of` on the whole shop (shop_analytics.targets), with the
    configured margin, and each target's expected and actual course for a chart, by target
    key. None for a shop without activity."""
    history = _history(key, tz, Segment())
    if history is None:
        return None
    daily = pacing_daily(history["daily"]).filter(pl.col("date") <= as_of)
    actuals = distinct_actuals(segment_activity_frames(key, Segment()), targets, as_of=as_of, tz=tz)
    return {
        "paces": targets_module.target_paces(daily, targets, as_of=as_of, margin=config_of(key).settings.target_margin, actuals=actuals),
        "paths": {target.key: target_path(daily, target, as_of=as_of) for target in targets},
    }
