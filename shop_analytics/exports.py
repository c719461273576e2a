"""The tables `python cli.py export NAME` prints: each a metric function's frame.

One entry per name: what it is, how to compute it from a loaded shop and the command's
options, the metric functions whose docstrings define it (SPEC section 3) and the options it
reads. The options are checked here, once, for every way a table is asked for: the CLI's
flags and the HTTP API's and MCP server's parameters (shop_analytics/api) call the same
parsers and `check_options`, so a bad value gets the same one-line answer everywhere.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import polars as pl

from metrics.anomalies import anomaly_verdicts
from metrics.channels import channel_table
from metrics.cohorts import retention
from metrics.compare import before_after, campaign_effect
from metrics.funnel import drop_offs, funnel
from metrics.funnel_spec import MODES, FunnelSpec, FunnelStep
from metrics.kpis import daily_kpis
from metrics.lifecycle import lifecycle
from metrics.paths import path_flows
from metrics.payments import coupon_repeat_purchase, payment_methods
from metrics.periods import compare_periods
from metrics.products import product_table
from metrics.review_words import review_words
from metrics.search import top_search_terms
from metrics.segments import Segment
from metrics.service import service_summary
from metrics.time import previous_period
from models.forecast import demand_forecast
from models.ltv import DEFAULT_HORIZON_DAYS, ltv_analysis
from models.rfm import rfm_table, segment_summary
from shop_analytics import operations_exports
from shop_analytics.config import AppConfig, Settings
from shop_analytics.loading import Shop
from shop_analytics.views import activity_frames, all_frames, anomaly_settings, check_view, configured_channel_table, funnel_events, mask_unavailable

FUNNEL_COLUMNS = ("step", "event", "users", "conversion_from_previous", "conversion_from_first", "median_seconds_from_previous")
_WINDOW = re.compile(r"^(\d+)([smhd])$")
_WINDOW_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
_WINDOW_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_WINDOW = timedelta(days=366)


def parse_window(text: str) -> timedelta:
    """A window such as 30m, 12h or 7d: a whole number with s, m, h or d, at most MAX_WINDOW."""
    match = _WINDOW.match(text.strip())
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"{text!r} is not a window: use a positive whole number with s, m, h or d, like 7d")
    number, unit = int(match.group(1)), match.group(2)
    if number * _WINDOW_SECONDS[unit] > MAX_WINDOW.total_seconds():
        raise ValueError(f"{text!r} is longer than a funnel window can be: use at most {MAX_WINDOW.days}d")
    return timedelta(**{_WINDOW_UNITS[unit]: number})


def parse_day(text: str) -> date:
    """A day written YYYY-MM-DD."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a date in the form YYYY-MM-DD") from None


def parse_positive(text: str) -> int:
    """A whole number above zero."""
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a whole number") from None
    if value <= 0:
        raise ValueError(f"{text} must be above zero")
    return value


class OptionError(ValueError):
    """A bad option of an export: `option` names it (its key in ExportRequest.options, or
    "from" / "to" for the period), the message says what is wrong and how to fix it."""

    def __init__(self, option: str, message: str):
        super().__init__(message)
        self.option = option


def check_period(start: date, end: date, names: tuple[str, str] = ("from", "to")) -> None:
    """OptionError when the period's first day is after its last; `names` are the two
    bounds as the caller spells them (the CLI's --from and --to)."""
    if start > end:
        raise OptionError("from", f"{names[0]} {start} is after {names[1]} {end}")


@dataclass(frozen=True)
class Option:
    """An option an export reads from ExportRequest.options: one of `choices` (any text when
    there are none), or with `many` a comma-separated list of values."""

    name: str
    help: str
    choices: tuple[str, ...] = ()
    many: bool = False


def listed(value: Any) -> tuple[str, ...]:
    """A comma-separated text or a list of texts (each may hold commas) as its values."""
    if value is None:
        return ()
    parts = [value] if isinstance(value, str) else list(value)
    return tuple(item.strip() for part in parts for item in str(part).split(",") if item.strip())


SEGMENT_OPTIONS = (
    Option("channel", "keep these channels (comma-separated): a session's channel is its first event's, an order's its own, else its user's acquisition channel", many=True),
    Option("device", "keep these devices (comma-separated), a session's by its first event, an order's by its user", many=True),
    Option("region", "keep the users of these regions (comma-separated) with their events, sessions and orders", many=True),
)
SEGMENT_NAMES = tuple(option.name for option in SEGMENT_OPTIONS)


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

    @property
    def segment(self) -> Segment:
        """The channels, devices and regions the options keep (everything without them)."""
        return Segment(*(listed(self.options.get(name)) for name in SEGMENT_NAMES))


@dataclass(frozen=True)
class Export:
    """A table: what it is, how it is built, the metric functions whose docstrings define it
    and the options it reads (checked by `check_options`, then `check` for what depends on
    several of them)."""

    description: str
    build: Callable[[Shop, ExportRequest], pl.DataFrame]
    metrics: tuple[Callable, ...] = ()
    options: tuple[Option, ...] = ()
    check: Callable[[dict], object] | None = None


def _kpis(shop: Shop, request: ExportRequest) -> pl.DataFrame:
    return daily_kpis(*activity_frames(shop), start=request.start, end=request.end, tz=request.tz)


def _periods(shop: Shop, request: ExportRequest) -> pl.DataFrame:
    return compare_periods(*activity_frames(shop), start=request.start, end=request.end, tz=request.tz)


def _campaign_id(campaigns: pl.DataFrame, text: str) -> int | str:
    """The campaign id `text` names, in the type of the campaigns table's ids."""
    if not campaigns.schema["campaign_id"].is_integer():
        return text
    try:
        return int(text)
    except ValueError:
        example = f", like {campaigns['campaign_id'][0]}" if campaigns.height else ""
        raise OptionError("campaign", f"{text!r} is not a campaign id: this shop's campaign ids are whole numbers{example}") from None


def _compare(shop: Shop, request: ExportRequest) -> pl.DataFrame:
    frames = activity_frames(shop)
    campaign = request.options.get("campaign")
    if campaign is not None:
        return campaign_effect(*frames, campaigns=shop.campaigns, campaign_id=_campaign_id(shop.campaigns, campaign), tz=request.tz)
    return before_after(*frames, before=previous_period(request.start, request.end), after=(request.start, request.end), tz=request.tz)


def _anomalies(shop: Shop, request: ExportRequest) -> pl.DataFrame:
    span = shop.date_span(request.tz)
    # a segment without any activity has no history before the period
    history_start = request.start if span is None else min(span[0], request.start)
    daily = mask_unavailable(daily_kpis(*activity_frames(shop), start=history_start, end=request.end, tz=request.tz), shop)
    verdicts = anomaly_verdicts(daily, shop.optional("campaigns"), anomaly_settings(request.config))
    return verdicts.filter(pl.col("date") >= request.start)


def _retention(shop: Shop, request: ExportRequest) -> pl.DataFrame:
    options = request.options
    return retention(
        shop.activity, shop.or_empty("orders"), shop.users, start=request.start, end=request.end, tz=request.tz,
        period=options.get("period") or "week", cohort_by=options.get("cohort") or "activity",
        measure=options.get("measure") or "activity", mode=options.get("retention_mode") or "on",
    )


def _lifecycle(shop: Shop, request: ExportRequest) -> pl.DataFrame:
    return lifecycle(shop.activity, shop.users, start=request.start, end=request.end, tz=request.tz, period=request.options.get("period") or "day")


DEFAULT_FUNNEL_STEPS = "product_view,add_to_cart,checkout,purchase"


def funnel_spec(options: dict) -> FunnelSpec:
    """The funnel the options ask for (steps, window, mode); OptionError names a bad one."""
    try:
        window = parse_window(options.get("window") or "7d")
    except ValueError as error:
        raise OptionError("window", str(error)) from None
    steps = [step.strip() for step in (options.get("steps") or DEFAULT_FUNNEL_STEPS).split(",") if step.strip()]
    try:
        return FunnelSpec(steps=tuple(FunnelStep(step) for step in steps), window=window, mode=options.get("mode") or "ordered")
    except ValueError as error:
        raise OptionError("steps", f"{error}: give the steps' event types in order, comma-separated, like {DEFAULT_FUNNEL_STEPS}") from None


def _funnel(shop: Shop, request: ExportRequest) -> pl.DataFrame:
    spec = funnel_spec(request.options)
    events = funnel_events(shop, spec, start=request.start, end=request.end, tz=request.tz)
    table = funnel(events, spec, start=request.start, end=request.end, tz=request.tz, users=shop.users)
    return table.select(FUNNEL_COLUMNS)


def _drop_offs(shop: Shop, request: ExportRequest) -> pl.DataFrame:
    spec = funnel_spec(request.options)
    events = funnel_events(shop, spec, start=request.start, end=request.end, tz=request.tz)
    return drop_offs(events, spec, start=request.start, end=request.end, tz=request.tz, users=shop.users)


def _channels(shop: Shop, request: ExportRequest) -> pl.DataFrame:
    optional = {name: shop.optional(name) for name in ("ad_spend", "order_items", "products")}
    return configured_channel_table(
        *activity_frames(shop), optional, start=request.start, end=request.end, settings=request.settings,
    )


def _products(shop: Shop, request: ExportRequest) -> pl.DataFrame:
    return product_table(shop.or_empty("events"), shop.or_empty("orders"), shop.or_empty("order_items"), shop.products, start=request.start, end=request.end, tz=request.tz)


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
    return service_summary(shop.tickets, shop.or_empty("orders"), start=request.start, end=request.end, tz=request.tz, by="category")


def _review_words(shop: Shop, request: ExportRequest) -> pl.DataFrame:
    products = shop.optional("products")
    by = request.options.get("by") or "rating_band"
    return review_words(shop.reviews, start=request.start, end=request.end, tz=request.tz, by=by, products=products)


def _segments(shop: Shop, request: ExportRequest) -> pl.DataFrame:
    return segment_summary(rfm_table(shop.orders, as_of=request.end, tz=request.tz))


def _forecast(shop: Shop, request: ExportRequest) -> pl.DataFrame:
    campaigns = shop.optional("campaigns")
    return demand_forecast(shop.orders, shop.order_items, shop.products, campaigns, tz=request.tz, end=request.end).forecast


_FUNNEL_OPTIONS = (
    Option("steps", f"funnel: event types in order, comma-separated (default {DEFAULT_FUNNEL_STEPS})"),
    Option("window", "funnel: conversion window, a number with s, m, h or d (default 7d)"),
    Option("mode", "funnel: matching mode (default ordered)", MODES),
)
_RETENTION_OPTIONS = (
    Option("period", "retention: week or month cohorts (default week)", ("week", "month")),
    Option("cohort", "retention: what starts a cohort (default activity)", ("activity", "signup", "first_order")),
    Option("measure", "retention: what retains a user (default activity)", ("activity", "purchase")),
    Option("retention_mode", "retention: active in period n, or in n or later (default on)", ("on", "on_or_after")),
)
_NOT_BY_CHANNEL = tuple(option for option in SEGMENT_OPTIONS if option.name != "channel")
_ATTRIBUTION_OPTION = Option(
    "attribution", "channels: GMV, ROAS and ROI per channel under this attribution model over [settings] "
    "attribution_lookback_days (default: the channel table, each order on its own channel)", operations_exports.MODELS,
)


def _channels_under_model(shop: Shop, request: ExportRequest) -> pl.DataFrame:
    """The channel table, or with --attribution the channels' GMV, ROAS and ROI under that model."""
    if request.options.get("attribution") is not None:
        return operations_exports.attributed_channels(shop, request)
    return _channels(shop, request)


EXPORTS: dict[str, Export] = {
    "kpis": Export("the daily KPI table", _kpis, (daily_kpis,), SEGMENT_OPTIONS),
    "channels": Export(
        "per channel traffic, sales, spend, CPC, CAC, ROAS and ROI with target flags (--attribution MODEL: GMV, ROAS and ROI under an attribution model)",
        _channels_under_model, (channel_table, *operations_exports.ATTRIBUTION_METRICS), (*_NOT_BY_CHANNEL, _ATTRIBUTION_OPTION),
    ),
    "products": Export("per product impressions, CTR, views, conversion, units, GMV and refund rate", _products, (product_table,), SEGMENT_OPTIONS),
    "funnel": Export("users per step (--steps a,b,c --window 7d --mode ordered|strict|unordered)", _funnel, (funnel,), (*_FUNNEL_OPTIONS, *SEGMENT_OPTIONS), funnel_spec),
    "funnel-drop-offs": Export(
        "the users who reached a funnel step but not the next, with when (user-level rows; same options as funnel)", _drop_offs,
        (drop_offs,), (*_FUNNEL_OPTIONS, *SEGMENT_OPTIONS), funnel_spec,
    ),
    "periods": Export("period KPIs against the previous period, a week and a year before", _periods, (compare_periods,), SEGMENT_OPTIONS),
    "compare": Export(
        "before/after: the period against the previous one of the same length, or --campaign ID against its baseline, with confidence intervals", _compare,
        (before_after, campaign_effect), (Option("campaign", "compare: a campaign id, its window against the baseline before it"), *SEGMENT_OPTIONS),
    ),
    "retention": Export("cohort retention (--period week|month --cohort activity|signup|first_order --measure activity|purchase)", _retention, (retention,), (*_RETENTION_OPTIONS, *SEGMENT_OPTIONS)),
    "lifecycle": Export(
        "new, returning, resurrecting and dormant users per --period day|week|month", _lifecycle, (lifecycle,),
        (Option("period", "lifecycle: day, week or month intervals (default day)", ("day", "week", "month")), *SEGMENT_OPTIONS),
    ),
    "anomalies": Export("robust-z verdicts of every daily KPI, campaign days against past campaign days", _anomalies, (anomaly_verdicts,), SEGMENT_OPTIONS),
    "paths": Export("page-to-page flows of the period's sessions, depth 5, rare branches as other", _paths, (path_flows,), SEGMENT_OPTIONS),
    "search": Export("top search terms with their sessions and conversion", _search, (top_search_terms,), SEGMENT_OPTIONS),
    "payments": Export("orders and GMV by payment method", _payments, (payment_methods,), SEGMENT_OPTIONS),
    "coupons": Export("repeat purchase rate of coupon buyers against other buyers", _coupons, (coupon_repeat_purchase,), SEGMENT_OPTIONS),
    "service": Export("tickets, first response, 24 h share, resolution and satisfaction by category", _service, (service_summary,), SEGMENT_OPTIONS),
    "review-words": Export(
        "the most frequent review words per rating band (--by product: per product)", _review_words, (review_words,),
        (Option("by", "review-words: group by (default rating_band)", ("rating_band", "product")),),
    ),
    "segments": Export("RFM segments as of --to: customers, means and GMV per named segment", _segments, (rfm_table, segment_summary)),
    "forecast": Export("weekly units per category for the 8 weeks after the last whole week up to --to, beside the seasonal naive forecast", _forecast, (demand_forecast,)),
    # issue 19 (shop_analytics/operations_exports.py)
    "decomposition": Export(
        "visitors, visitor conversion, orders per buyer and AOV of the period and the compared one, each factor's part of the GMV change (--by shop|channel|category, --compare previous|week_before|year_before)",
        operations_exports.decomposition, operations_exports.DECOMPOSITION_METRICS,
        (Option("by", "decomposition: the whole shop, per channel or per category (default shop)", ("shop", "channel", "category")),
         Option("compare", "decomposition: the period compared with (default previous)", operations_exports.COMPARISONS), *SEGMENT_OPTIONS),
    ),
    "repeat-orders": Export("orders, buyers, GMV and AOV of new-buyer and repeat-buyer orders", operations_exports.repeat_orders,
                            operations_exports.REPEAT_METRICS, SEGMENT_OPTIONS),
    "repurchase": Export(
        "repurchase within 30 and 90 days of the period's buyers, pending buyers apart (--period week|month: per week or month)",
        operations_exports.repurchase, operations_exports.REPURCHASE_METRICS,
        (Option("period", "repurchase: per week or month of the period (default: the whole period)", ("week", "month")), *SEGMENT_OPTIONS),
    ),
    "abandonment": Export(
        "cart and checkout abandonment rates and the abandoned carts' value (--by channel|device)", operations_exports.abandonment_table,
        operations_exports.ABANDONMENT_METRICS, (Option("by", "abandonment: per channel or device (default: the whole period)", operations_exports.BREAKDOWNS), *SEGMENT_OPTIONS),
    ),
    "abandoning-users": Export(
        "the users who abandoned a cart or a checkout in the period, with their carts' value and whether they bought since (user-level rows; --stage cart|checkout)",
        operations_exports.abandoning, operations_exports.AUDIENCE_METRICS,
        (Option("stage", "abandoning-users: who abandoned a cart or a checkout (default cart)", operations_exports.STAGES), *SEGMENT_OPTIONS),
    ),
    "attribution": Export("GMV, ROAS and ROI per channel under every attribution model, side by side", operations_exports.attribution,
                          operations_exports.ATTRIBUTION_METRICS, _NOT_BY_CHANNEL),
    "targets": Export("each stored target whose month or week overlaps the period, paced after its last day with data (the whole shop)",
                      operations_exports.targets, operations_exports.PACING_METRICS),
}


def check_options(name: str, options: dict) -> dict:
    """The options of export `name` as its build reads them: each checked against its choices,
    lists split at commas, absent ones left out. OptionError names a value that is not one of
    the choices, a segment filter on a table that cannot be filtered, or what the export's own
    check refuses (a funnel of one step, a window of 0 days)."""
    entry = EXPORTS[name]
    known = {option.name: option for option in entry.options}
    checked: dict[str, Any] = {}
    for key, value in options.items():
        if value is None or (isinstance(value, list | tuple) and not value):
            continue
        option = known.get(key)
        if option is None:
            if key in SEGMENT_NAMES:
                raise OptionError(key, f"{name} cannot be filtered by {key}: leave {key} out")
            continue  # the CLI's flags are shared by every table; each reads its own
        value = listed(value) if option.many else value
        if option.choices and value not in option.choices:
            raise OptionError(key, f"{key} must be one of {', '.join(option.choices)}, not {value!r}")
        checked[key] = value
    if entry.check is not None:
        entry.check(checked)
    return checked


def segmented(shop: Shop, segment: Segment) -> Shop:
    """`shop` with its events, sessions, orders and users restricted to `segment` (the shop
    itself when the segment keeps everything), as the dashboard's filters restrict them."""
    if segment.is_everything:
        return shop
    events, sessions, orders, users = segment.apply(*all_frames(shop))
    return shop.replaced(events=events, orders=orders, users=users, sessions=sessions)


def build_export(name: str, shop: Shop, request: ExportRequest) -> pl.DataFrame:
    """The table `name` of `shop` for the request, in the segment its options keep; a KPI
    whose table the shop lacks is null (views.mask_unavailable), and a table the view cannot
    do without is a SourceError saying which (views.VIEW_NEEDS)."""
    check_view(f"export:{name}", shop)
    return mask_unavailable(EXPORTS[name].build(segmented(shop, request.segment), request), shop)


@dataclass(frozen=True)
class DocumentRequest:
    """What a document export gets: the business zone and the command's options; no period."""

    tz: str
    options: dict


@dataclass(frozen=True)
class Document:
    """An export that prints one JSON object rather than a table, and the metric functions
    whose docstrings define it."""

    description: str
    build: Callable[[Shop, DocumentRequest], dict]
    metrics: tuple[Callable, ...] = ()


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
    "ltv": Document("BG/NBD and Gamma-Gamma fitted up to --calibration-end, checked on the holdout up to --holdout-end (default: the data's last day), with each customer's expected purchases, P(alive) and value over --horizon-days (default 365)", _ltv, (ltv_analysis,)),
}
