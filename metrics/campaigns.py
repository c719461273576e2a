"""Campaigns: what each one spent and returned, and whether it moved the shop's numbers.

SPEC section 1: "ROI of each activity and channel (target: above 5 %), paid-ad cost per click
(target: at most 1 yuan)", and "before/after comparison of strategies, promotion effect".
The per-channel definitions of section 3, Channel, are applied per campaign: "CPC = spend /
clicks ... ROAS = GMV / spend, ROI = (gross profit - spend) / spend, gross profit = GMV x
margin (margin from `products.cost` where present, else a setting, default 30 %)."
"""

from datetime import date, timedelta

import polars as pl

from metrics.channels import CPC_TARGET, DEFAULT_MARGIN, ROI_TARGET, order_margins
from metrics.orders import is_valid_order
from metrics.registry import ratio
from metrics.time import as_utc, between, previous_period, utc_bounds
from shop_analytics.i18n import text

# A fixed baseline as long as the anomaly window (SPEC section 3, Anomaly: "the 28 days
# before D"), for campaigns too short for a same-length baseline to say much.
FIXED_BASELINE_DAYS = 28
CAMPAIGN_COLUMNS = (
    "campaign_id", "name", "start_date", "end_date", "channel", "kind", "days_in_period",
    "budget", "spend", "budget_used", "impressions", "clicks", "cpc", "orders", "buyers", "gmv",
    "gross_profit", "roas", "roi", "cpc_above_target", "roi_below_target",
)
_SPEND_COLUMNS = {"spend": pl.Float64, "impressions": pl.Int64, "clicks": pl.Int64}
_OPTIONAL_CAMPAIGN_COLUMNS = {"channel": pl.String, "kind": pl.String, "budget": pl.Float64}


def _in_period(campaigns: pl.DataFrame, start: date, end: date) -> pl.DataFrame:
    """The campaigns whose window start_date..end_date shares a day with start..end."""
    window = campaigns.with_columns(pl.col("start_date", "end_date").cast(pl.Date))
    first, last = pl.max_horizontal(pl.col("start_date"), pl.lit(start)), pl.min_horizontal(pl.col("end_date"), pl.lit(end))
    optional = [
        pl.col(name).cast(dtype) if name in window.columns else pl.lit(None, dtype).alias(name)
        for name, dtype in _OPTIONAL_CAMPAIGN_COLUMNS.items()
    ]
    return window.filter(first <= last).with_columns(
        *optional, days_in_period=((last - first).dt.total_days() + 1).cast(pl.Int64)
    )


def _campaign_spend(ad_spend: pl.DataFrame | None, start: date, end: date) -> pl.DataFrame | None:
    """Spend, impressions and clicks per campaign_id on the days start..end; None when the
    source cannot say (no ad_spend table, or no campaign_id on it)."""
    if ad_spend is None or "campaign_id" not in ad_spend.columns:
        return None
    present = [name for name in _SPEND_COLUMNS if name in ad_spend.columns]
    return (
        ad_spend.filter(pl.col("date").cast(pl.Date).is_between(start, end), pl.col("campaign_id").is_not_null())
        .group_by("campaign_id")
        .agg(pl.col(present).sum())
    )


def _campaign_sales(
    orders: pl.DataFrame, order_items: pl.DataFrame | None, products: pl.DataFrame | None,
    lower, upper, default_margin: float,
) -> pl.DataFrame | None:
    """Orders, buyers, GMV and gross profit per campaign_id of the valid orders created in
    [lower, upper); None when orders carry no campaign_id."""
    if "campaign_id" not in orders.columns:
        return None
    period_orders = between(
        as_utc(orders, "created_at").filter(is_valid_order(), pl.col("campaign_id").is_not_null()),
        "created_at", lower, upper,
    )
    margins = order_margins(period_orders, order_items, products, default_margin=default_margin)
    return (
        period_orders.join(margins, on="order_id", how="left")
        .group_by("campaign_id")
        .agg(
            orders=pl.len(),
            buyers=pl.col("user_id").n_unique(),
            gmv=pl.col("amount").sum(),
            gross_profit=(pl.col("amount") * pl.col("margin")).sum(),
        )
    )


def campaign_table(
    campaigns: pl.DataFrame,
    orders: pl.DataFrame,
    ad_spend: pl.DataFrame | None = None,
    order_items: pl.DataFrame | None = None,
    products: pl.DataFrame | None = None,
    *,
    start: date,
    end: date,
    tz: str,
    default_margin: float = DEFAULT_MARGIN,
    cpc_target: float = CPC_TARGET,
    roi_target: float = ROI_TARGET,
) -> pl.DataFrame:
    """One row per campaign whose window (start_date..end_date) shares a day with the business
    days `start`..`end`, with what it spent and returned on those days.

    SPEC section 3, Channel, per campaign: "CPC = spend / clicks ... ROAS = GMV / spend,
    ROI = (gross profit - spend) / spend, gross profit = GMV x margin (margin from
    `products.cost` where present, else a setting, default 30 %)".

    - spend, impressions, clicks: the `ad_spend` rows carrying the campaign's id, dated in the
      period. Null (unknown, not 0) without an `ad_spend` table or without its campaign_id
      column, and so are CPC, ROAS and ROI; a spend column the table lacks stays null. A
      campaign without rows in the period spent 0.
    - orders, buyers, GMV: the valid orders carrying the campaign's id, created in the period
      ("GMV = sum of `amount` of valid orders by `created_at`"); null when orders have no
      campaign_id column. gross_profit = sum of amount x the order's margin
      (`metrics.channels.order_margins`).
    - budget_used = spend / budget (campaigns.budget is optional); days_in_period = the days
      of the campaign's window inside the period.
    - cpc_above_target = CPC > `cpc_target`, roi_below_target = ROI < `roi_target` (SPEC
      section 1: "ROI ... target: above 5 %", "cost per click (target: at most 1 yuan)");
      null where the value is null.

    Ratios with a zero denominator are null. Sorted by start_date (newest first), then
    campaign_id. Columns: CAMPAIGN_COLUMNS.
    """
    table = _in_period(campaigns, start, end)
    spend = _campaign_spend(ad_spend, start, end)
    sales = _campaign_sales(orders, order_items, products, *utc_bounds(start, end, tz), default_margin)
    if spend is None:
        table = table.with_columns(pl.lit(None, dtype).alias(name) for name, dtype in _SPEND_COLUMNS.items())
    else:
        key_type = table.schema["campaign_id"]
        table = table.join(spend.with_columns(pl.col("campaign_id").cast(key_type)), on="campaign_id", how="left").with_columns(
            pl.col(name).fill_null(0).cast(dtype) if name in spend.columns else pl.lit(None, dtype).alias(name)
            for name, dtype in _SPEND_COLUMNS.items()
        )
    sales_columns = {"orders": pl.Int64, "buyers": pl.Int64, "gmv": pl.Float64, "gross_profit": pl.Float64}
    if sales is None:
        table = table.with_columns(pl.lit(None, dtype).alias(name) for name, dtype in sales_columns.items())
    else:
        key_type = table.schema["campaign_id"]
        table = table.join(sales.with_columns(pl.col("campaign_id").cast(key_type)), on="campaign_id", how="left").with_columns(
            pl.col(name).fill_null(0).cast(dtype) for name, dtype in sales_columns.items()
        )
    table = table.with_columns(
        profit_after_spend=pl.col("gross_profit") - pl.col("spend"),
    ).with_columns(
        budget_used=ratio("spend", "budget"),
        cpc=ratio("spend", "clicks"),
        roas=ratio("gmv", "spend"),
        roi=ratio("profit_after_spend", "spend"),
    ).with_columns(
        cpc_above_target=pl.col("cpc") > cpc_target,
        roi_below_target=pl.col("roi") < roi_target,
    )
    return table.select(CAMPAIGN_COLUMNS).sort(["start_date", "campaign_id"], descending=[True, False])


def baseline_period(window: tuple[date, date], days: int | None = None) -> tuple[date, date]:
    """The baseline a campaign window start..end is compared with: the `days` days before
    it starts, or with `days` None the period of the same length before it (as
    `metrics.compare.campaign_periods` takes it)."""
    start, end = window
    if days is None:
        return previous_period(start, end)
    if days < 1:
        raise ValueError(f"a baseline needs at least one day, got {days}")
    return start - timedelta(days=days), start - timedelta(days=1)


def _percent(value: float) -> str:
    return f"{value:+.0%}"


def effect_verdict(comparison: dict, *, campaign: str, baseline: str, lang: str, confidence: float = 0.95) -> str:
    """A sentence in `lang` saying what one row of `metrics.compare.before_after` shows.

    The change is after / before - 1 and its interval the difference's confidence interval
    as a share of the baseline value (ci_low / before to ci_high / before): how far from the
    baseline the campaign's value may lie. The conclusion is a real uplift or drop when the
    test rejects "no difference" (`significant`, p < 1 - confidence), else "not
    distinguishable from the baseline"; a row without a baseline value or without a test says
    that there is not enough data to tell. `baseline` names the baseline period ("the 28 days
    before"), `campaign` the campaign.
    """
    measure = text(f"campaigns.measure.{comparison['measure']}", lang)
    before, low, high = comparison["before"], comparison["ci_low"], comparison["ci_high"]
    if not before or comparison["after"] is None or low is None or high is None or comparison["p_value"] is None:
        return text("campaigns.verdict_no_data", lang, measure=measure, campaign=campaign, baseline=baseline)
    change = comparison["after"] / before - 1
    if comparison["significant"]:
        conclusion = text("campaigns.real_uplift" if change > 0 else "campaigns.real_drop", lang)
    else:
        conclusion = text("campaigns.no_difference", lang)
    return text(
        "campaigns.verdict",
        lang,
        measure=measure,
        moved=text("campaigns.rose" if change >= 0 else "campaigns.fell", lang),
        change=f"{abs(change):.0%}",
        level=f"{confidence:.0%}",
        low=_percent(low / before),
        high=_percent(high / before),
        campaign=campaign,
        baseline=baseline,
        conclusion=conclusion,
    )
