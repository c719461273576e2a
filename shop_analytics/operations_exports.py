"""The tables of issue 19 that `cli.py export` prints and the API serves (their entries and
options are in exports.EXPORTS): the GMV decomposition, new and repeat orders, repurchase,
abandonment and who abandoned, the attribution models, and the targets' pace. Each builds
from a loaded (and segmented) shop and an exports.ExportRequest with the metric functions, as
the dashboard's cached edge does (ui/data.py)."""

from datetime import date

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


def _period(request) -> dict:
    return {"start": request.start, "end": request.end, "tz": request.tz}


def decomposition(shop: Shop, request) -> pl.DataFrame:
    """views.gmv_decomposition's parts for the shop, per channel or per category (--by)."""
    from shop_analytics.exports import OptionError

    by = request.options.get("by") or "shop"
    if by not in ("shop", "channel", "category"):
        raise OptionError("by", f"decomposition is by shop, channel or category, not {by!r}")
    by_category = {}
    if by == "category":
        if not shop.has("events", "order_items", "products") or shop.pushed is not None:
            raise OptionError("by", "decomposition by category needs the order_items and products tables and the events in memory: leave by out")
        by_category = {"events": shop.events, "order_items": shop.order_items, "products": shop.products}
    tables = gmv_decomposition(
        *activity_frames(shop), compared_with=request.options.get("compare") or "previous", **_period(request), **by_category,
    )
    return tables[{"shop": "parts", "channel": "channels", "category": "categories"}[by]]


def repeat_orders(shop: Shop, request) -> pl.DataFrame:
    return new_and_repeat_orders(shop.or_empty("orders"), **_period(request))


def repurchase(shop: Shop, request) -> pl.DataFrame:
    return repurchase_rates(shop.or_empty("orders"), period=request.options.get("period"), **_period(request))


def abandonment_table(shop: Shop, request) -> pl.DataFrame:
    by = request.options.get("by")
    return abandonment(shop.events, shop.sessions, shop.optional("products"), by=[by] if by else [], **_period(request))


def abandoning(shop: Shop, request) -> pl.DataFrame:
    stage = request.options.get("stage") or "cart"
    return abandoning_users(shop.events, shop.sessions, shop.optional("products"), stage=stage, **_period(request))


def _attribution_inputs(shop: Shop, request) -> tuple[tuple, dict]:
    _, sessions, orders, users = activity_frames(shop)
    settings = request.settings
    frames = (sessions, orders, shop.optional("ad_spend"), shop.optional("order_items"), shop.optional("products"))
    options = {"lookback": settings.attribution_lookback, "default_margin": settings.default_margin, "users": users, **_period(request)}
    return frames, options


def attribution(shop: Shop, request) -> pl.DataFrame:
    frames, options = _attribution_inputs(shop, request)
    return compare_attribution_models(*frames, **options)


def attributed_channels(shop: Shop, request) -> pl.DataFrame:
    """`export channels --attribution MODEL`: per channel, orders, GMV, gross profit, spend, ROAS
    and ROI under the model, the model named in the first column."""
    model = request.options["attribution"]
    frames, options = _attribution_inputs(shop, request)
    table = attributed_channel_table(*frames, model=model, **options)
    return table.select(pl.lit(model).alias("model"), *table.columns)


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
