"""What a management report says: its numbers, computed by the metric functions from a loaded
shop for one week or month, and the highlights written from them.

SPEC section 1, management: "a generated report (HTML and PDF, Chinese or English) with KPIs,
trends, channel ROI, campaign effect, service quality and written highlights". Nothing here
draws or formats: `reports.tables` lays the numbers out, `reports.render` writes the files.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl

from metrics.anomalies import (
    CONTRIBUTOR_KPIS,
    AnomalySettings,
    alert_contributors,
    alerts_of,
    anomaly_verdicts,
    baseline_days,
    special_days,
)
from metrics.cohorts import CohortPeriod, ltv_curves, retention
from metrics.compare import campaign_effect
from metrics.kpis import daily_kpis
from metrics.periods import compare_periods, comparison_periods, elapsed_part
from metrics.repeat_orders import new_and_repeat_orders, repurchase_rates
from metrics.review_words import review_words
from metrics.segments import Segment
from metrics.service import service_summary
from metrics.time import as_utc, utc_bounds
from models.ltv import ltv_analysis
from shop_analytics.config import Settings
from shop_analytics.loading import Shop
from shop_analytics.reports.highlights import write_highlights
from shop_analytics.targets import Target, distinct_actuals, pacing_daily, target_paces
from shop_analytics.views import activity_frames, check_view, configured_channel_table, gmv_decomposition, mask_unavailable

PERIOD_KINDS = ("week", "month")
COMPARED = ("previous", "year_before")
# The KPIs the report's headline table shows, in this order (metrics/registry.py names).
HEADLINE_KPIS = (
    "gmv", "net_revenue", "orders", "buyers", "aov", "active_users", "new_users",
    "conversion_rate", "repeat_purchase_rate", "sessions", "bounce_rate", "session_conversion",
)
# How far back the cohort views reach: the report's own period and the ones before it.
RETENTION_COHORTS = {"week": 8, "month": 6}
LTV_COHORTS = 6  # monthly first-order cohorts: LTV grows over months, whatever the report's period
REVIEW_WORDS_PER_BAND = 8
CAMPAIGN_CONFIDENCE = 0.95
BUILD_STEPS = ("kpis", "trends", "channels", "operations", "campaigns", "cohorts", "service", "alerts")


@dataclass(frozen=True)
class ReportPeriod:
    """The business days start..end of the report's week (Monday to Sunday) or calendar
    month, `cut`, the local instant where the data ends when it ends inside the period
    (None when the data covers the whole period), and `data_start`, the data's first day."""

    kind: CohortPeriod
    start: date
    end: date
    tz: str
    cut: datetime | None = None
    data_start: date | None = None

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def last_day(self) -> date:
        """The last day with data: the end, or the day of the cut."""
        return self.end if self.cut is None else min(self.end, (self.cut - timedelta(microseconds=1)).date())

    @property
    def compared(self) -> dict[str, tuple[date, date]]:
        """The previous period of the same length and the same period a year before
        (SPEC, Period comparison; `metrics.periods.comparison_periods`)."""
        periods = comparison_periods(self.start, self.end)
        return {name: periods[name] for name in COMPARED}

    def covers(self, name: str) -> bool:
        """Whether the data reaches back to the start of the compared period `name`: one that
        begins before the data has no numbers to compare with (not zeros)."""
        return self.data_start is None or self.compared[name][0] >= self.data_start


REPORT_KINDS: tuple[CohortPeriod, ...] = ("week", "month")


def _report_kind(kind: str) -> CohortPeriod:
    """`kind` as one of REPORT_KINDS; ValueError for any other."""
    for known in REPORT_KINDS:
        if kind == known:
            return known
    raise ValueError(f"a report covers a week or a month, not {kind!r}")


def report_period(kind: str, day: date) -> tuple[date, date]:
    """The week (Monday to Sunday) or the calendar month that holds `day`."""
    if kind == "week":
        start = day - timedelta(days=day.weekday())
        return start, start + timedelta(days=6)
    if kind == "month":
        start = day.replace(day=1)
        following = (start + timedelta(days=32)).replace(day=1)
        return start, following - timedelta(days=1)
    raise ValueError(f"a report covers a week or a month, not {kind!r}")


@dataclass(frozen=True)
class Report:
    """The numbers of one report, each frame a metric function's output (columns as there).

    - kpis: `compare_periods` rows of HEADLINE_KPIS (current, previous, year_before and the
      changes), the compared columns null where the data does not reach back to them.
    - daily: `daily_kpis` of the period's days up to the data's end.
    - channels: `channel_table` of the period, plus gmv_previous (the channel's GMV in the
      previous period, cut at the same point while the period is in progress), gmv_change
      and share_of_change = the channel's GMV change / the total GMV change.
    - campaigns: `campaign_effect` rows (one per measure) of each campaign in `campaigns_of`,
      with campaign_id, name, start_date, end_date, channel in front.
    - retention: `retention` (activity cohorts of the report's period kind); ltv:
      `ltv_curves` (monthly first-order cohorts); predicted_ltv: `_predicted_ltv` (None
      when no customer had a valid order by the period's end).
    - service: the one `service_summary` row as a dict (None without tickets); words:
      `review_words` by rating band (None without review texts).
    - alerts: the `anomaly_verdicts` rows of the period that raise an alert, with the
      channel that moved most (`alert_contributors`) as top_channel and top_channel_share.
    - confidence: the level of the campaigns' intervals and tests.
    - highlights: sentences in `lang` written from these numbers (`reports.highlights`).
    - decomposition: `views.gmv_decomposition` against the previous period (current and
      comparison factors, parts, channels, categories); None without events or orders.
    - new_and_repeat: `new_and_repeat_orders`; repurchase: `repurchase_rates` (30 and 90 days,
      pending buyers apart); both None without orders.
    - paces: `targets.target_paces` of the targets set for the report's own week or month,
      after its last day with data (None when none is set).
    """

    period: ReportPeriod
    lang: str
    settings: Settings
    source: str
    kpis: pl.DataFrame
    daily: pl.DataFrame
    channels: pl.DataFrame
    has_ad_spend: bool
    campaigns: pl.DataFrame | None
    campaigns_in_period: bool
    retention: pl.DataFrame
    ltv: pl.DataFrame
    predicted_ltv: dict | None
    service: dict | None
    words: pl.DataFrame | None
    alerts: pl.DataFrame
    confidence: float = CAMPAIGN_CONFIDENCE
    highlights: tuple[str, ...] = ()
    decomposition: dict | None = None
    new_and_repeat: pl.DataFrame | None = None
    repurchase: pl.DataFrame | None = None
    paces: pl.DataFrame | None = None

    @property
    def kpi(self) -> dict[str, dict]:
        """The headline rows by KPI name."""
        return {row["kpi"]: row for row in self.kpis.iter_rows(named=True)}


def _check_shop(shop: Shop, kind: str, day: date, tz: str) -> tuple[date, date, date]:
    """The period's first and last day and the data's first day; ValueError when the shop
    has no data in the period."""
    check_view("reports", shop)
    span = shop.date_span(tz)
    if span is None:
        raise ValueError(f"{shop.description} has no events or orders to report on")
    start, end = report_period(kind, day)
    first, last = span
    if end < first or start > last:
        raise ValueError(
            f"the {kind} of {day} ({start} to {end}) has no data: the data runs from {first} to {last} "
            f"({tz}); pick a date inside it"
        )
    return start, end, first


def _cut_before(frame: pl.DataFrame, column: str, instant: datetime | None) -> pl.DataFrame:
    return frame if instant is None else as_utc(frame, column).filter(pl.col(column) < instant)


def _channels(shop: Shop, period: ReportPeriod, elapsed: timedelta | None, settings: Settings) -> pl.DataFrame:
    """The channel table of the period beside each channel's GMV in the previous period,
    cut at the same point as the KPIs while the period is in progress, so the channels'
    changes add up to the headline GMV change."""
    optional = {name: shop.optional(name) for name in ("ad_spend", "order_items", "products")}
    events, sessions, orders, users = activity_frames(shop)
    zoned = settings.model_copy(update={"time_zone": period.tz})
    current = configured_channel_table(events, sessions, orders, users, optional,
                                       start=period.start, end=period.end, settings=zoned)
    previous_start, previous_end = period.compared["previous"]
    cut = None if elapsed is None else utc_bounds(previous_start, previous_end, period.tz)[0] + elapsed
    previous = configured_channel_table(
        _cut_before(events, "event_time", cut), _cut_before(sessions, "started_at", cut),
        _cut_before(orders, "created_at", cut), users, optional,
        start=previous_start, end=previous_end, settings=zoned,
    ).select("channel", gmv_previous="gmv")
    table = current.join(previous, on="channel", how="full", coalesce=True).with_columns(
        pl.col("gmv", "gmv_previous").fill_null(0.0)
    ).with_columns(gmv_change=pl.col("gmv") - pl.col("gmv_previous"))
    total_change = pl.col("gmv_change").sum()
    return table.with_columns(
        share_of_change=pl.when(total_change != 0).then(pl.col("gmv_change") / total_change)
    ).sort(["gmv", "gmv_previous", "channel"], descending=[True, True, False])


def campaigns_of(campaigns: pl.DataFrame, start: date, end: date) -> tuple[pl.DataFrame, bool]:
    """The campaigns whose window overlaps start..end (True), else the latest one that began
    before `end` (False), so a quiet week still reports the last campaign's result."""
    windows = campaigns.with_columns(pl.col("start_date", "end_date").cast(pl.Date))
    overlapping = windows.filter(pl.col("start_date") <= end, pl.col("end_date") >= start)
    if overlapping.height:
        return overlapping.sort("start_date", "campaign_id"), True
    return windows.filter(pl.col("start_date") <= end).sort("end_date", "start_date").tail(1), False


def _campaign_effects(shop: Shop, chosen: pl.DataFrame, tz: str) -> pl.DataFrame | None:
    """`campaign_effect` of each chosen campaign; a campaign aimed at one channel is measured
    on that channel's sessions, events and orders."""
    effects = []
    for campaign in chosen.iter_rows(named=True):
        channel = campaign.get("channel")
        segment = Segment(channels=(channel,)) if channel else Segment()
        frames = segment.apply(*activity_frames(shop))
        effect = campaign_effect(*frames, campaigns=shop.campaigns, campaign_id=campaign["campaign_id"], tz=tz,
                                 confidence=CAMPAIGN_CONFIDENCE)
        effects.append(effect.with_columns(
            campaign_id=pl.lit(str(campaign["campaign_id"])), name=pl.lit(str(campaign["name"])),
            start_date=pl.lit(campaign["start_date"]), end_date=pl.lit(campaign["end_date"]),
            channel=pl.lit(None if channel is None else str(channel), pl.String),
        ).select("campaign_id", "name", "start_date", "end_date", "channel", *effect.columns))
    return pl.concat(effects) if effects else None


def _periods_back(day: date, kind: str, count: int) -> date:
    """The first day of the `count`-th week or month back, counting the one holding `day` as 1."""
    start, _ = report_period(kind, day)
    for _ in range(count - 1):
        start, _ = report_period(kind, start - timedelta(days=1))
    return start


def _cohorts(shop: Shop, period: ReportPeriod) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Retention of the activity cohorts of the RETENTION_COHORTS periods ending with the
    report's, and the LTV curves of the LTV_COHORTS months ending with its month; data after
    the period is left out, so an old period reads as it did then."""
    _, upper = utc_bounds(period.start, period.end, period.tz)
    data_end = upper - timedelta(microseconds=1)
    first_cohort_day = _periods_back(period.start, period.kind, RETENTION_COHORTS[period.kind])
    first_month_day = _periods_back(period.end, "month", LTV_COHORTS)
    kept = retention(shop.activity, shop.or_empty("orders"), shop.users, start=first_cohort_day, end=period.end, tz=period.tz,
                     period=period.kind, data_end=data_end)
    ltv = ltv_curves(shop.or_empty("orders"), shop.users, shop.activity, start=first_month_day, end=period.end, tz=period.tz,
                     period="month", cohort_by="first_order", data_end=data_end)
    return kept, ltv


def _predicted_ltv(shop: Shop, period: ReportPeriod) -> dict | None:
    """SPEC, Predicted LTV: BG/NBD with Gamma-Gamma (`models.ltv.ltv_analysis`), fitted on the
    valid orders up to the period's last day, summed over its customers: customers,
    expected_purchases and expected_value over horizon_days after calibration_end, their
    mean per customer (mean_expected_value) and the mean probability of being alive
    (mean_p_alive). None when there is no customer to fit on."""
    if not shop.has("orders"):
        return None
    try:
        analysis = ltv_analysis(shop.orders, calibration_end=period.last_day, tz=period.tz)
    except ValueError:
        return None
    customers = analysis.customers
    totals = customers.select(
        expected_purchases=pl.col("expected_purchases").sum(), expected_value=pl.col("expected_value").sum(),
        mean_expected_value=pl.col("expected_value").mean(), mean_p_alive=pl.col("p_alive").mean(),
    ).row(0, named=True)
    return {
        "customers": customers.height,
        "expected_purchases": float(totals["expected_purchases"]),
        "expected_value": float(totals["expected_value"]),
        "mean_expected_value": float(totals["mean_expected_value"]),
        "mean_p_alive": float(totals["mean_p_alive"]),
        "horizon_days": analysis.horizon_days,
        "calibration_end": analysis.calibration_end,
    }


def _service(shop: Shop, period: ReportPeriod) -> tuple[dict | None, pl.DataFrame | None]:
    service = None
    if shop.has("tickets"):
        service = service_summary(shop.tickets, shop.or_empty("orders"), start=period.start, end=period.end, tz=period.tz).row(0, named=True)
    words = None
    if shop.has("reviews") and "text" in shop.reviews.columns:
        words = review_words(shop.reviews, start=period.start, end=period.end, tz=period.tz, top=REVIEW_WORDS_PER_BAND)
    return service, words


def _alerts(shop: Shop, period: ReportPeriod, history: pl.DataFrame, anomaly: AnomalySettings) -> pl.DataFrame:
    """The anomaly alerts (SPEC, Anomaly) on the period's days, as the overview, the Alerts
    page and `alerts check` raise them (metrics.anomalies.anomaly_verdicts: the configured
    window, threshold and holidays; only a KPI moving in its bad direction), each additive
    KPI's with the channel that moved most."""
    campaigns = shop.optional("campaigns")
    special = special_days(campaigns, anomaly.holidays)
    verdicts = anomaly_verdicts(history, campaigns, anomaly)
    alerts = alerts_of(verdicts).filter(pl.col("date").is_between(period.start, period.last_day))
    days = history["date"].to_list()
    top_channels, top_shares = [], []
    for alert in alerts.iter_rows(named=True):
        channel = share = None
        can_split = alert["kpi"] not in ("gmv", "orders") or shop.has("order_items", "products")
        if alert["kpi"] in CONTRIBUTOR_KPIS and can_split:
            contributors = alert_contributors(
                *activity_frames(shop)[:3], shop.or_empty("order_items"), shop.or_empty("products"),
                kpi=alert["kpi"], day=alert["date"], tz=period.tz,
                baseline_days=baseline_days(alert["date"], days, special, window=anomaly.window),
            ).filter(pl.col("dimension") == "channel")
            if contributors.height:
                channel, share = contributors.row(0, named=True)["member"], contributors.row(0, named=True)["share"]
        top_channels.append(channel)
        top_shares.append(share)
    return alerts.with_columns(
        top_channel=pl.Series(top_channels, dtype=pl.String), top_channel_share=pl.Series(top_shares, dtype=pl.Float64)
    ).sort("date", "kpi")


def _operations(shop: Shop, period: ReportPeriod, history: pl.DataFrame, settings: Settings, targets: Sequence[Target]) -> dict[str, Any]:
    """The GMV decomposition against the previous period, new and repeat orders, repurchase
    and the pace of the targets set for the report's own period (SPEC section 3): the
    Report's fields of those names."""
    frames = activity_frames(shop)
    start, end, tz = period.start, period.end, period.tz
    events = order_items = products = None
    if shop.has("events", "order_items", "products") and shop.pushed is None:
        events, order_items, products = shop.events, shop.order_items, shop.products
    operations: dict[str, Any] = {"decomposition": gmv_decomposition(
        *frames, start=start, end=end, tz=tz, compared_with="previous", events=events, order_items=order_items, products=products,
    )}
    if shop.has("orders"):
        operations["new_and_repeat"] = new_and_repeat_orders(shop.orders, start=start, end=end, tz=tz)
        operations["repurchase"] = repurchase_rates(shop.orders, start=start, end=end, tz=tz)
    own = [target for target in targets if target.period_kind == period.kind and target.period_start == period.start]
    if own:
        actuals = distinct_actuals(frames, own, as_of=period.last_day, tz=tz)
        operations["paces"] = target_paces(pacing_daily(history), own, as_of=period.last_day, margin=settings.target_margin, actuals=actuals)
    return operations


def build_report(
    shop: Shop,
    *,
    kind: str,
    day: date,
    lang: str,
    settings: Settings,
    anomaly: AnomalySettings = AnomalySettings(),
    progress: Callable[[str], None] | None = None,
    targets: Sequence[Target] = (),
) -> Report:
    """The report of the week or month (`kind`) that holds `day`, in the business zone of
    `settings`, with highlights in `lang`; `targets` are the stored ones (shop_analytics.targets:
    those of the report's own period are paced). `progress` is called with each of BUILD_STEPS
    as it finishes. ValueError when the shop lacks a required table or the period has no data.
    """
    tz = settings.time_zone
    start, end, history_start = _check_shop(shop, kind, day, tz)
    step = progress or (lambda _: None)
    frames = activity_frames(shop)

    elapsed = elapsed_part(shop.activity, shop.or_empty("orders"), start=start, end=end, tz=tz)
    cut = None if elapsed is None else (utc_bounds(start, end, tz)[0] + elapsed).astimezone(ZoneInfo(tz))
    period = ReportPeriod(_report_kind(kind), start, end, tz, cut, history_start)
    kpis = mask_unavailable(compare_periods(*frames, start=start, end=end, tz=tz), shop)
    uncovered = [name for name in COMPARED if not period.covers(name)]
    kpis = (
        pl.DataFrame({"kpi": HEADLINE_KPIS})
        .join(kpis, on="kpi", how="left", maintain_order="left")
        .select("kpi", "current", *COMPARED, *(f"change_vs_{name}" for name in COMPARED))
        .with_columns(pl.lit(None, pl.Float64).alias(column) for name in uncovered for column in (name, f"change_vs_{name}"))
    )
    step("kpis")

    history = mask_unavailable(daily_kpis(*frames, start=min(history_start, start), end=period.last_day, tz=tz), shop)
    daily = history.filter(pl.col("date") >= start)
    step("trends")

    channels = _channels(shop, period, elapsed, settings)
    step("channels")

    operations = _operations(shop, period, history, settings, targets)
    step("operations")

    campaigns, in_period = None, False
    if shop.has("campaigns"):
        chosen, in_period = campaigns_of(shop.campaigns, start, end)
        campaigns = _campaign_effects(shop, chosen, tz)
    step("campaigns")

    kept, ltv = _cohorts(shop, period)
    predicted_ltv = _predicted_ltv(shop, period)
    step("cohorts")

    service, words = _service(shop, period)
    step("service")

    alerts = _alerts(shop, period, history, anomaly)
    step("alerts")

    report = Report(
        period=period, lang=lang, settings=settings, source=shop.description, kpis=kpis, daily=daily,
        channels=channels, has_ad_spend=shop.has("ad_spend"), campaigns=campaigns, campaigns_in_period=in_period,
        retention=kept, ltv=ltv, predicted_ltv=predicted_ltv, service=service, words=words, alerts=alerts,
        **operations,
    )
    return replace(report, highlights=write_highlights(report))
