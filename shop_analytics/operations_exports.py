"""The tables of issue 19 that `cli.py export` prints and the API serves (their entries and
options are in exports.EXPORTS): the GMV decomposition, new and repeat orders, repurchase,
abandonment and who abandoned, the attribution models, and the targets' pace. Each builds
from a loaded (and segmented) shop and an exports.ExportRequest with the metric functions, as
the dashboard's cached edge does (ui/data.py)."""

from collections.abc import Sequence
from datetime import date
from typing import Literal

import polars as pl

from metrics.abandonment import BREAKDOWNS, abandoning_users, abandonment
from metrics.abandonment import STAGES as STAGE_EVENTS
from metrics.attribution import MODELS, attributed_channel_table, compare_attribution_models
from metrics.decomposition import category_gmv_factors, decompose_gmv, gmv_factors
from metrics.kpis import daily_kpis
from metrics.pacing import pace_against_target
from metrics.periods import COMPARISONS
from metrics.repeat_orders import new_and_repeat_orders, repurchase_rates
from shop_analytics.loading import Shop
from shop_analytics.targets import distinct_actuals, pacing_daily, stored_targets, target_paces
from shop_analytics.views import activity_frames, gmv_decomposition, mask_unavailable

__all__ = ["BREAKDOWNS", "COMPARISONS", "MODELS"]
STAGES = tuple(STAGE_EVENTS)

DECOMPOSITION_METRICS = (gmv_factors, category_gmv_factors, decompose_gmv)
REPEAT_METRICS = (new_and_repeat_orders,)
REPURCHASE_METRICS = (repurchase_rates,)
ABANDONMENT_METRICS = (abandonment,)
AUDIENCE_METRICS = (abandoning_users,)
ATTRIBUTION_METRICS = (compare_attribution_models, attributed_channel_table)
PACING_METRICS = (pace_against_target,)


def _period(request) -> tuple[date, date, str]:
    return request.start, request.end, request.tz


def decomposition(shop: Shop, request) -> pl.DataFrame:
    """views.gmv_decomposition's parts for the shop, per channel or per category (--by)."""
    from shop_analytics.exports import OptionError

    by = request.options.get("by") or "shop"
    if by not in ("shop", "channel", "category"):
        raise OptionError("by", f"decomposition is by shop, channel or category, not {by!r}")
    events = order_items = products = None
    if by == "category":
        if not shop.has("events", "order_items", "products") or shop.pushed is not None:
            raise OptionError("by", "decomposition by category needs the order_items and products tables and the events in memory: leave by out")
        events, order_items, products = shop.events, shop.order_items, shop.products
    start, end, tz = _period(request)
    tables = gmv_decomposition(
        *activity_frames(shop), start=start, end=end, tz=tz, compared_with=request.options.get("compare") or "previous",
        events=events, order_items=order_items, products=products,
    )
    return tables[{"shop": "parts", "channel": "channels", "category": "categories"}[by]]


def repeat_orders(shop: Shop, request) -> pl.DataFrame:
    start, end, tz = _period(request)
    return new_and_repeat_orders(shop.or_empty("orders"), start=start, end=end, tz=tz)


def repurchase(shop: Shop, request) -> pl.DataFrame:
    start, end, tz = _period(request)
    chosen = request.options.get("period")
    period: Literal["week", "month"] | None = "week" if chosen == "week" else "month" if chosen == "month" else None
    return repurchase_rates(shop.or_empty("orders"), start=start, end=end, tz=tz, period=period)


def abandonment_table(shop: Shop, request) -> pl.DataFrame:
    start, end, tz = _period(request)
    by = request.options.get("by")
    _, sessions, _, _ = activity_frames(shop)
    return abandonment(shop.events, sessions, shop.optional("products"), start=start, end=end, tz=tz, by=[by] if by else [])


def abandoning(shop: Shop, request) -> pl.DataFrame:
    start, end, tz = _period(request)
    _, sessions, _, _ = activity_frames(shop)
    stage: Literal["cart", "checkout"] = "checkout" if request.options.get("stage") == "checkout" else "cart"
    return abandoning_users(shop.events, sessions, shop.optional("products"), start=start, end=end, tz=tz, stage=stage)


def attribution(shop: Shop, request, models: Sequence[str] = MODELS) -> pl.DataFrame:
    """GMV, ROAS and ROI per channel under each of `models` over [settings]
    attribution_lookback_days, with the configured margin (metrics.attribution)."""
    _, sessions, orders, users = activity_frames(shop)
    start, end, tz = _period(request)
    settings = request.settings
    return compare_attribution_models(
        sessions, orders, shop.optional("ad_spend"), shop.optional("order_items"), shop.optional("products"),
        start=start, end=end, tz=tz, models=models, lookback=settings.attribution_lookback,
        default_margin=settings.default_margin, users=users,
    )


def attributed_channels(shop: Shop, request) -> pl.DataFrame:
    """`export channels --attribution MODEL`: per channel, orders, GMV, gross profit, spend, ROAS
    and ROI under the model (attributed_channel_table), the model named in the first column."""
    return attribution(shop, request, models=[request.options["attribution"]])


def targets(shop: Shop, request) -> pl.DataFrame:
    """Each stored target whose month or week overlaps the period, paced after the last day of
    its period that has data and falls in the period (shop_analytics.targets), on the whole
    shop with [settings] target_margin. Empty without an alert database. Columns:
    targets.TARGET_PACE_COLUMNS."""
    stored = [target for target in stored_targets(request.config.alerts.database_path)
              if target.period_start <= request.end and target.period_end >= request.start]
    span = shop.date_span(request.tz)
    if not stored or span is None:
        return target_paces(pl.DataFrame({"date": []}, schema={"date": pl.Date}), [], as_of=request.end, margin=request.settings.target_margin)
    first = min(target.period_start for target in stored)
    daily = pacing_daily(mask_unavailable(
        daily_kpis(*activity_frames(shop), start=min(span[0], first), end=min(request.end, span[1]), tz=request.tz), shop,
    ))
    rows = []
    for target in sorted(stored, key=lambda target: (target.period_start, target.kpi, target.period_kind)):
        as_of: date = min(target.period_end, request.end, span[1])
        actuals = distinct_actuals(activity_frames(shop), [target], as_of=as_of, tz=request.tz)
        rows.append(target_paces(daily, [target], as_of=as_of, margin=request.settings.target_margin, actuals=actuals))
    return pl.concat(rows)
