"""The tables `python cli.py export NAME` prints: each a metric function's frame.

One entry per name: what it is and how to compute it from a loaded shop and the command's
options. The CLI and its tests look the names up here.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

import polars as pl

from metrics.anomalies import anomaly_verdicts
from metrics.cohorts import retention
from metrics.compare import before_after, campaign_effect
from metrics.funnel import funnel
from metrics.funnel_spec import FunnelSpec
from metrics.kpis import daily_kpis
from metrics.lifecycle import lifecycle
from metrics.paths import path_flows
from metrics.payments import coupon_repeat_purchase, payment_methods
from metrics.periods import compare_periods
from metrics.products import product_table
from metrics.review_words import review_words
from metrics.search import top_search_terms
from metrics.service import service_summary
from metrics.time import previous_period
from models.forecast import demand_forecast
from models.ltv import DEFAULT_HORIZON_DAYS, ltv_analysis
from models.rfm import rfm_table, segment_summary
from shop_analytics.config import AppConfig, Settings
from shop_analytics.loading import Shop
from shop_analytics.views import anomaly_settings, configured_channel_table

FUNNEL_COLUMNS = ("step", "event", "users", "conversion_from_previous", "conversion_from_first", "median_seconds_from_previous")
_WINDOW = re.compile(r"^(\d+)([smhd])$")
_WINDOW_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_window(text: str) -> timedelta:
    """A window such as 30m, 12h or 7d: a whole number with s, m, h or d."""
    match = _WINDOW.match(text.strip())
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"{text!r} is not a window: use a positive whole number with s, m, h or d, like 7d")
    return timedelta(**{_WINDOW_UNITS[match.group(2)]: int(match.group(1))})


@dataclass(frozen=True)
class ExportRequest:
    """What every export gets: the period in the business zone, the command's options and the
    configuration (its margin, targets and anomaly settings)."""

    start: date
    end: date
    tz: str
    options: dict
    config: AppConfig = field(default_factory=AppConfig)

    @property
    def settings(self) -> Settings:
        """The configuration's settings in the request's business zone."""
        return self.config.settings.model_copy(update={"time_zone": self.tz})


@dataclass(frozen=True)
class Export:
    description: str
    build: Callable[[Shop, ExportRequest], pl.DataFrame]


def _kpis(shop: Shop, request: ExportRequest) -> pl.DataFrame:
    return daily_kpis(shop.events, shop.sessions, shop.orders, shop.users, start=request.start, end=request.end, tz=request.tz)


def _periods(shop: Shop, request: ExportRequest) -> pl.DataFrame:
    return compare_periods(shop.events, shop.sessions, shop.orders, shop.users, start=request.start, end=request.end, tz=request.tz)


def _compare(shop: Shop, request: ExportRequest) -> pl.DataFrame:
    frames = (shop.events, shop.sessions, shop.orders, shop.users)
    campaign = request.options.get("campaign")
    if campaign is not None:
        campaign_id = int(campaign) if campaign.isdigit() else campaign
        return campaign_effect(*frames, campaigns=shop.campaigns, campaign_id=campaign_id, tz=request.tz)
    return before_after(*frames, before=previous_period(request.start, request.end), after=(request.start, request.end), tz=request.tz)


def _anomalies(shop: Shop, request: ExportRequest) -> pl.DataFrame:
    first_day, _ = shop.date_span(request.tz)
    history_start = min(first_day, request.start)
    daily = daily_kpis(shop.events, shop.sessions, shop.orders, shop.users, start=history_start, end=request.end, tz=request.tz)
    verdicts = anomaly_verdicts(daily, shop.tables.get("campaigns"), anomaly_settings(request.config))
    return verdicts.filter(pl.col("date") >= request.start)


def _retention(shop: Shop, request: ExportRequest) -> pl.DataFrame:
    options = request.options
    return retention(
        shop.events, shop.orders, shop.users, start=request.start, end=request.end, tz=request.tz,
        period=options.get("period") or "week", cohort_by=options.get("cohort") or "activity",
        measure=options.get("measure") or "activity", mode=options.get("retention_mode") or "on",
    )


def _lifecycle(shop: Shop, request: ExportRequest) -> pl.DataFrame:
    return lifecycle(shop.events, shop.users, start=request.start, end=request.end, tz=request.tz, period=request.options.get("period") or "day")


DEFAULT_FUNNEL_STEPS = "product_view,add_to_cart,checkout,purchase"


def _funnel(shop: Shop, request: ExportRequest) -> pl.DataFrame:
    options = request.options
    steps = [step.strip() for step in (options.get("steps") or DEFAULT_FUNNEL_STEPS).split(",") if step.strip()]
    spec = FunnelSpec(
        steps=tuple(steps),
        window=parse_window(options.get("window") or "7d"),
        mode=options.get("mode") or "ordered",
    )
    table = funnel(shop.events, spec, start=request.start, end=request.end, tz=request.tz, users=shop.users)
    return table.select(FUNNEL_COLUMNS)


def _channels(shop: Shop, request: ExportRequest) -> pl.DataFrame:
    optional = {name: shop.tables.get(name) for name in ("ad_spend", "order_items", "products")}
    return configured_channel_table(
        shop.events, shop.sessions, shop.orders, shop.users, optional, start=request.start, end=request.end, settings=request.settings,
    )


def _products(shop: Shop, request: ExportRequest) -> pl.DataFrame:
    return product_table(shop.events, shop.orders, shop.order_items, shop.products, start=request.start, end=request.end, tz=request.tz)


def _paths(shop: Shop, request: ExportRequest) -> pl.DataFrame:
    nodes, links = path_flows(shop.events, start=request.start, end=request.end, tz=request.tz)
    labels = nodes.select("id", "step", "label")
    return (
        links.join(labels.rename({"id": "source", "step": "source_step", "label": "source_label"}), on="source")
        .join(labels.rename({"id": "target", "step": "target_step", "label": "target_label"}), on="target")
        .select("source_step", "source_label", "target_step", "target_label", "sessions")
        .sort("source_step", "sessions", descending=[False, True])
    )


def _search(shop: Shop, request: ExportRequest) -> pl.DataFrame:
    return top_search_terms(shop.events, start=request.start, end=request.end, tz=request.tz)


def _payments(shop: Shop, request: ExportRequest) -> pl.DataFrame:
    return payment_methods(shop.orders, start=request.start, end=request.end, tz=request.tz)


def _coupons(shop: Shop, request: ExportRequest) -> pl.DataFrame:
    return coupon_repeat_purchase(shop.orders, start=request.start, end=request.end, tz=request.tz)


def _service(shop: Shop, request: ExportRequest) -> pl.DataFrame:
    return service_summary(shop.tickets, shop.orders, start=request.start, end=request.end, tz=request.tz, by="category")


def _review_words(shop: Shop, request: ExportRequest) -> pl.DataFrame:
    products = shop.products if shop.has("products") else None
    by = request.options.get("by") or "rating_band"
    return review_words(shop.reviews, start=request.start, end=request.end, tz=request.tz, by=by, products=products)


def _segments(shop: Shop, request: ExportRequest) -> pl.DataFrame:
    return segment_summary(rfm_table(shop.orders, as_of=request.end, tz=request.tz))


def _forecast(shop: Shop, request: ExportRequest) -> pl.DataFrame:
    campaigns = shop.campaigns if shop.has("campaigns") else None
    return demand_forecast(shop.orders, shop.order_items, shop.products, campaigns, tz=request.tz, end=request.end).forecast


EXPORTS: dict[str, Export] = {
    "kpis": Export("the daily KPI table", _kpis),
    "channels": Export("per channel traffic, sales, spend, CPC, CAC, ROAS and ROI with target flags", _channels),
    "products": Export("per product impressions, CTR, views, conversion, units, GMV and refund rate", _products),
    "funnel": Export("users per step (--steps a,b,c --window 7d --mode ordered|strict|unordered)", _funnel),
    "periods": Export("period KPIs against the previous period, a week and a year before", _periods),
    "compare": Export("before/after: the period against the previous one of the same length, or --campaign ID against its baseline, with confidence intervals", _compare),
    "retention": Export("cohort retention (--period week|month --cohort activity|signup|first_order --measure activity|purchase)", _retention),
    "lifecycle": Export("new, returning, resurrecting and dormant users per --period day|week|month", _lifecycle),
    "anomalies": Export("robust-z verdicts of every daily KPI, campaign days against past campaign days", _anomalies),
    "paths": Export("page-to-page flows of the period's sessions, depth 5, rare branches as other", _paths),
    "search": Export("top search terms with their sessions and conversion", _search),
    "payments": Export("orders and GMV by payment method", _payments),
    "coupons": Export("repeat purchase rate of coupon buyers against other buyers", _coupons),
    "service": Export("tickets, first response, 24 h share, resolution and satisfaction by category", _service),
    "review-words": Export("the most frequent review words per rating band (--by product: per product)", _review_words),
    "segments": Export("RFM segments as of --to: customers, means and GMV per named segment", _segments),
    "forecast": Export("weekly units per category for the 8 weeks after the last whole week up to --to, beside the seasonal naive forecast", _forecast),
}


@dataclass(frozen=True)
class DocumentRequest:
    """What a document export gets: the business zone and the command's options; no period."""

    tz: str
    options: dict


@dataclass(frozen=True)
class Document:
    """An export that prints one JSON object rather than a table."""

    description: str
    build: Callable[[Shop, DocumentRequest], dict]


def _ltv(shop: Shop, request: DocumentRequest) -> dict:
    options = request.options
    calibration_end = options.get("calibration_end")
    if calibration_end is None:
        raise ValueError("export ltv needs --calibration-end YYYY-MM-DD, the last day the models learn from")
    holdout_end = options.get("holdout_end")
    if holdout_end is None:
        # the holdout runs to the data's last day when there are days after the calibration
        span = shop.date_span(request.tz)
        holdout_end = span[1] if span and span[1] > calibration_end else None
    analysis = ltv_analysis(
        shop.orders, calibration_end=calibration_end, holdout_end=holdout_end, tz=request.tz,
        horizon_days=options.get("horizon_days") or DEFAULT_HORIZON_DAYS,
    )
    return analysis.to_document()


DOCUMENTS: dict[str, Document] = {
    "ltv": Document("BG/NBD and Gamma-Gamma fitted up to --calibration-end, checked on the holdout up to --holdout-end (default: the data's last day), with each customer's expected purchases, P(alive) and value over --horizon-days (default 365)", _ltv),
}
