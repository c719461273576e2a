"""Anomaly alerts on the daily KPIs, what drove them, and the user's rule alerts.

SPEC section 3, Anomaly: "for each daily KPI, the value on D is compared with the same KPI
over the 28 days before D; robust z = (x - median) / (1.4826 x MAD); |z| > 3.5 raises an
alert (both threshold and window are settings). Days inside a campaign window or a listed
holiday are compared with the KPI's past campaign days instead of ordinary days, so a
planned peak is not an alarm. Each alert names the channels and categories that contributed
most to the change. Rule alerts: fixed thresholds or relative changes (e.g. CPC > 1,
ROI < 5 %, complaint first response > 24 h) set by the user."
"""

import bisect
import math
import operator
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import polars as pl

from metrics.orders import is_valid_order
from metrics.registry import KPIS
from metrics.time import as_utc, business_day

DEFAULT_WINDOW = 28
DEFAULT_THRESHOLD = 3.5
DEFAULT_MIN_BASELINE = 7
ORDINARY_DAYS = "ordinary days"
PAST_CAMPAIGN_DAYS = "past campaign days"
# Both constants make the spread a consistent estimate of the standard deviation of normal
# data: 1.4826 for the median absolute deviation (the SPEC's), 1.253314 for the mean one.
MAD_TO_SIGMA = 1.4826
MEAN_ABSOLUTE_DEVIATION_TO_SIGMA = 1.253314
ANOMALY_SCHEMA = {
    "date": pl.Date,
    "kpi": pl.String,
    "value": pl.Float64,
    "baseline_size": pl.Int64,
    "baseline_median": pl.Float64,
    "mad": pl.Float64,
    "scale": pl.Float64,
    "robust_z": pl.Float64,
    "is_alert": pl.Boolean,
    "direction": pl.String,
    "bad": pl.Boolean,
    "compared_with": pl.String,
}


def special_days(campaigns: pl.DataFrame | None, holidays: Iterable[date] = ()) -> set[date]:
    """Every day inside a campaign window (start_date..end_date, inclusive) and every listed
    holiday: the days the SPEC compares with past campaign days. Campaigns aimed at one
    channel count too, since they move the shop's totals."""
    days = set(holidays)
    if campaigns is not None and campaigns.height:
        windows = campaigns.select(
            pl.date_ranges(pl.col("start_date").cast(pl.Date), pl.col("end_date").cast(pl.Date)).alias("day")
        )
        days.update(windows.explode("day").drop_nulls()["day"].to_list())
    return days


def baseline_days(
    day: date, days: Sequence[date], special: set[date], *, window: int = DEFAULT_WINDOW
) -> list[date]:
    """The days among `days` that `day` is compared with, oldest first.

    An ordinary day: the ordinary days among the `window` calendar days before it, so a
    28-day window is the last four weeks, every weekday four times, less the campaign days
    in them. A special day (campaign or holiday): the last `window` special days before it,
    however far back, because campaigns are too sparse for a calendar window to hold any.
    """
    if day in special:
        return [other for other in sorted(days) if other < day and other in special][-window:]
    first = day - timedelta(days=window)
    return [other for other in sorted(days) if first <= other < day and other not in special]


@dataclass(frozen=True)
class RobustScore:
    """How far a value lies from its baseline: median, MAD, the scale z is measured in
    (None when the baseline has no spread at all) and z (None when there is no verdict)."""

    median: float | None
    mad: float | None
    scale: float | None
    z: float | None


def robust_score(value: float | None, baseline: np.ndarray, *, min_baseline: int = DEFAULT_MIN_BASELINE) -> RobustScore:
    """SPEC: robust z = (x - median) / (1.4826 x MAD), over the baseline's values.

    Fewer than `min_baseline` values give no verdict (z is None). When at least half the
    baseline shares one value, MAD is 0 and the SPEC's z would be infinite for any change,
    however small, of a flat metric (a day with one more order than the usual 3). The scale
    then falls back to 1.253314 x the mean absolute deviation from the median, as the
    modified z-score of IBM Cognos Analytics does, which keeps the other baseline days' spread.
    When every baseline value is equal there is no spread to judge a change by: z is 0 for
    the same value and None (no verdict) for any other.
    """
    if baseline.size == 0:
        return RobustScore(None, None, None, None)
    median = float(np.median(baseline))
    deviations = np.abs(baseline - median)
    mad = float(np.median(deviations))
    mean_deviation = float(deviations.mean())
    if mad > 0:
        scale = MAD_TO_SIGMA * mad
    elif mean_deviation > 0:
        scale = MEAN_ABSOLUTE_DEVIATION_TO_SIGMA * mean_deviation
    else:
        scale = None
    if value is None or baseline.size < min_baseline:
        z = None
    elif scale is None:
        z = 0.0 if value == median else None
    else:
        z = (value - median) / scale
    return RobustScore(median, mad, scale, z)


def _check_daily(daily: pl.DataFrame, kpis: Sequence[str]) -> None:
    unknown = [kpi for kpi in kpis if kpi not in KPIS]
    if unknown:
        raise ValueError(f"unknown KPI(s) {', '.join(unknown)}; known: {', '.join(KPIS)}")
    missing = [kpi for kpi in ("date", *kpis) if kpi not in daily.columns]
    if missing:
        raise ValueError(f"the daily table has no column(s) {', '.join(missing)}")
    if daily["date"].is_duplicated().any():
        raise ValueError("the daily table must hold one row per date")


def _baseline_rows(days: list[date], special: set[date], window: int) -> np.ndarray:
    """Row numbers of each day's `baseline_days` in the sorted, distinct `days`: one row per
    day, `window` columns, padded with -1. The same days as `baseline_days`, found by
    bisection instead of a scan of every day for every day."""
    special_rows = [row for row, day in enumerate(days) if day in special]
    ordinary_rows = [row for row, day in enumerate(days) if day not in special]
    matrix = np.full((len(days), window), -1, dtype=np.int64)
    for row, day in enumerate(days):
        if day in special:
            before = bisect.bisect_left(special_rows, row)
            chosen = special_rows[max(0, before - window):before]
        else:
            first_row = bisect.bisect_left(days, day - timedelta(days=window))
            chosen = ordinary_rows[bisect.bisect_left(ordinary_rows, first_row):bisect.bisect_left(ordinary_rows, row)]
        matrix[row, : len(chosen)] = chosen
    return matrix


def _scores(values: np.ndarray, baseline_rows: np.ndarray, *, min_baseline: int) -> pl.DataFrame:
    """`robust_score` of every day at once: `values` holds one KPI per day (NaN where null),
    `baseline_rows` each day's baseline rows (`_baseline_rows`). Null values are left out of
    the baselines. Columns: value, baseline_size, baseline_median, mad, scale, robust_z."""
    baselines = np.append(values, np.nan)[baseline_rows]  # row -1 (padding) reads the NaN
    size = np.count_nonzero(~np.isnan(baselines), axis=1)
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # a day without a baseline: All-NaN slice
        median = np.nanmedian(baselines, axis=1)
        deviations = np.abs(baselines - median[:, None])
        mad = np.nanmedian(deviations, axis=1)
        mean_deviation = np.nansum(deviations, axis=1) / size
        scale = np.where(mad > 0, MAD_TO_SIGMA * mad, np.where(mean_deviation > 0, MEAN_ABSOLUTE_DEVIATION_TO_SIGMA * mean_deviation, np.nan))
        z = np.where(np.isnan(scale), np.where(values == median, 0.0, np.nan), (values - median) / scale)
    z[(size < min_baseline) | np.isnan(values)] = np.nan
    return pl.DataFrame(
        {
            "value": values, "baseline_size": size.astype(np.int64), "baseline_median": median,
            "mad": mad, "scale": scale, "robust_z": z,
        },
        nan_to_null=True,
    )


@dataclass(frozen=True)
class AnomalySettings:
    """The SPEC's anomaly settings: the baseline window (days), the |z| threshold, the fewest
    baseline values that give a verdict, and the listed holidays (compared like campaign days)."""

    window: int = DEFAULT_WINDOW
    threshold: float = DEFAULT_THRESHOLD
    min_baseline: int = DEFAULT_MIN_BASELINE
    holidays: tuple[date, ...] = ()


def anomaly_verdicts(
    daily: pl.DataFrame,
    campaigns: pl.DataFrame | None,
    settings: AnomalySettings = AnomalySettings(),
    *,
    kpis: Sequence[str] | None = None,
) -> pl.DataFrame:
    """The one anomaly pipeline: the verdicts (`detect_anomalies`) of a daily KPI table under
    the configured window, threshold and holidays, with the campaign windows of `campaigns`
    (None: no campaigns table) as special days. The overview, the Alerts page, the report,
    `export anomalies` and `alerts check` all read their verdicts from here; an alert that
    they show is a verdict with `is_alert` and `bad` (`alerts_of`)."""
    return detect_anomalies(
        daily,
        kpis=kpis,
        window=settings.window,
        threshold=settings.threshold,
        special_days=special_days(campaigns, settings.holidays),
        min_baseline=settings.min_baseline,
    )


def alerts_of(verdicts: pl.DataFrame) -> pl.DataFrame:
    """The verdicts that are alerts: |z| above the threshold in the KPI's bad direction (a
    good-direction spike, such as more buyers on Double 11, is not a problem to report)."""
    return verdicts.filter(pl.col("is_alert") & pl.col("bad"))


def detect_anomalies(
    daily: pl.DataFrame,
    *,
    kpis: Sequence[str] | None = None,
    window: int = DEFAULT_WINDOW,
    threshold: float = DEFAULT_THRESHOLD,
    special_days: Iterable[date] = (),
    min_baseline: int = DEFAULT_MIN_BASELINE,
) -> pl.DataFrame:
    """The anomaly verdict of every (date, kpi) of a daily KPI table (`daily_kpis`).

    SPEC: "the value on D is compared with the same KPI over the 28 days before D; robust
    z = (x - median) / (1.4826 x MAD); |z| > 3.5 raises an alert. Days inside a campaign
    window or a listed holiday are compared with the KPI's past campaign days instead of
    ordinary days." `baseline_days` says which days those are (28 calendar days for an
    ordinary day, the last 28 special days for a special one); `robust_score` how z is
    computed, with MAD = 0 and too small a baseline (< `min_baseline` values). Days with a
    null value (a ratio with a zero denominator) neither get nor give a verdict.

    `kpis` defaults to every registry KPI among the table's columns; `special_days` is what
    `special_days()` returns. Columns: ANOMALY_SCHEMA. direction is "up" or "down" as z is
    positive or negative; bad says whether that direction is the bad one for the KPI
    (`KPIS[kpi].higher_is_better`); is_alert, direction and bad are null without a verdict.
    Rows by date, then KPI in the order asked.
    """
    kpis = [column for column in daily.columns if column in KPIS] if kpis is None else list(kpis)
    _check_daily(daily, kpis)
    special = set(special_days)
    daily = daily.sort("date")
    days = daily["date"].to_list()
    if not days or not kpis:
        return pl.DataFrame(schema=ANOMALY_SCHEMA)
    rows = _baseline_rows(days, special, window)
    compared_with = pl.Series([PAST_CAMPAIGN_DAYS if day in special else ORDINARY_DAYS for day in days], dtype=pl.String)
    verdicts = pl.concat(
        pl.DataFrame({"date": daily["date"], "kpi": pl.Series([kpi] * len(days), dtype=pl.String)})
        .hstack(_scores(daily[kpi].cast(pl.Float64).fill_nan(None).to_numpy(), rows, min_baseline=min_baseline))
        .with_columns(compared_with=compared_with)
        for kpi in kpis
    )
    higher_is_better = pl.col("kpi").replace_strict({kpi: KPIS[kpi].higher_is_better for kpi in kpis})
    direction = pl.when(pl.col("robust_z") > 0).then(pl.lit("up")).when(pl.col("robust_z") < 0).then(pl.lit("down"))
    return (
        verdicts.with_columns(is_alert=pl.col("robust_z").abs() > threshold, direction=direction)
        .with_columns(bad=(pl.col("direction") == "up") != higher_is_better)
        .sort("date", maintain_order=True)
        .select(*ANOMALY_SCHEMA)
    )


CONTRIBUTOR_KPIS = ("gmv", "orders", "sessions", "dau")
CONTRIBUTOR_SCHEMA = pl.Schema({
    "dimension": pl.String(),
    "member": pl.String(),
    "value": pl.Float64(),
    "baseline": pl.Float64(),
    "change": pl.Float64(),
    "share": pl.Float64(),
})
UNKNOWN_MEMBER = "(unknown)"


def _order_parts(orders: pl.DataFrame, order_items: pl.DataFrame, products: pl.DataFrame, kpi: str) -> pl.DataFrame:
    """(dimension, member, date, amount) parts of the valid orders that add up to the KPI.

    By channel, an order counts whole in its attributed channel. By category, an order is
    split over its items' categories in proportion to item revenue (quantity x unit_price),
    so an order of two categories adds to both and the categories still sum to the day's
    GMV and orders; an order without item revenue goes to "(unknown)".
    """
    measure = pl.col("amount").cast(pl.Float64) if kpi == "gmv" else pl.lit(1.0)
    channel = pl.col("channel") if "channel" in orders.columns else pl.lit(None, pl.String)
    by_channel = orders.select(
        dimension=pl.lit("channel"), member=channel.cast(pl.String), date="date", amount=measure
    )
    item_revenue = (
        order_items.join(orders.select("order_id"), on="order_id", how="semi")
        .join(products.select("product_id", "category"), on="product_id", how="left")
        .group_by("order_id", "category")
        .agg(revenue=(pl.col("quantity") * pl.col("unit_price")).sum().cast(pl.Float64))
        .with_columns(revenue_share=pl.col("revenue") / pl.col("revenue").sum().over("order_id"))
        .filter(pl.col("revenue_share").is_finite())
    )
    by_category = (
        orders.with_columns(amount=measure)
        .join(item_revenue, on="order_id", how="left")
        .select(
            dimension=pl.lit("category"),
            member=pl.col("category").cast(pl.String),
            date="date",
            amount=pl.col("amount") * pl.col("revenue_share").fill_null(1.0),
        )
    )
    return pl.concat([by_channel, by_category])


def _traffic_parts(events: pl.DataFrame, sessions: pl.DataFrame, kpi: str, days: list[date], tz: str) -> pl.DataFrame:
    """(dimension, member, date, amount) parts of sessions or DAU by channel.

    Sessions count on the day of their first event, in its channel. A user counts in DAU on
    every day with an event, in the channel of the session of their first event that day,
    so the channels sum to DAU, also for a user active in several channels or in a session
    that began the evening before.
    """
    if kpi == "sessions":
        traffic = as_utc(sessions, "started_at").with_columns(date=business_day("started_at", tz))
        traffic = traffic.filter(pl.col("date").is_in(days))
    else:
        traffic = (
            as_utc(events, "event_time")
            .with_columns(date=business_day("event_time", tz), channel=pl.col("session_channel"))
            .filter(pl.col("date").is_in(days))
            .sort("event_time")
            .unique(["user_id", "date"], keep="first")
        )
    return traffic.select(
        dimension=pl.lit("channel"), member=pl.col("channel").cast(pl.String), date="date", amount=pl.lit(1.0)
    )


def alert_contributors(
    events: pl.DataFrame,
    sessions: pl.DataFrame,
    orders: pl.DataFrame,
    order_items: pl.DataFrame,
    products: pl.DataFrame,
    *,
    kpi: str,
    day: date,
    baseline_days: Sequence[date],
    tz: str,
) -> pl.DataFrame:
    """The channels and categories behind the change of an additive KPI on `day`.

    SPEC: "Each alert names the channels and categories that contributed most to the
    change." For each channel (sessions and active users by their session's channel, orders
    by their attributed channel) and, for gmv and orders, each product category: its value on `day`,
    its baseline = its mean over `baseline_days` (days without it count 0), change = value -
    baseline, and share = change / the KPI's total change. The mean rather than the median
    makes the members' changes add up exactly to the KPI's change from its baseline mean,
    which is what a share of the change needs; pass the days `baseline_days()` chose for
    the alert. KPIs: CONTRIBUTOR_KPIS. Columns: CONTRIBUTOR_SCHEMA; channels first, then
    categories, each by absolute change, largest first.
    """
    if kpi not in CONTRIBUTOR_KPIS:
        raise ValueError(f"contributions are computed for the additive KPIs {', '.join(CONTRIBUTOR_KPIS)}, not {kpi!r}")
    if not baseline_days:
        raise ValueError("contributions need at least one baseline day")
    if day in baseline_days:
        raise ValueError(f"{day} is the day judged, so it cannot be one of its baseline days")
    days = [day, *baseline_days]
    if kpi in ("gmv", "orders"):
        orders = as_utc(orders, "created_at").filter(is_valid_order())
        orders = orders.with_columns(date=business_day("created_at", tz)).filter(pl.col("date").is_in(days))
        parts = _order_parts(orders, order_items, products, kpi)
    else:
        parts = _traffic_parts(events, sessions, kpi, days, tz)
    contributions = (
        parts.with_columns(pl.col("member").fill_null(UNKNOWN_MEMBER))
        .group_by("dimension", "member")
        .agg(
            value=pl.col("amount").filter(pl.col("date") == day).sum(),
            baseline=pl.col("amount").filter(pl.col("date") != day).sum() / len(baseline_days),
        )
        .with_columns(change=pl.col("value") - pl.col("baseline"))
    )
    total_change = pl.col("change").sum().over("dimension")
    return (
        contributions.with_columns(share=pl.when(total_change != 0).then(pl.col("change") / total_change))
        .with_columns(dimension_order=pl.col("dimension") == "category", magnitude=pl.col("change").abs())
        .sort(["dimension_order", "magnitude", "member"], descending=[False, True, False])
        .select(*CONTRIBUTOR_SCHEMA)
        .cast(CONTRIBUTOR_SCHEMA)
    )


_OPERATORS = {">": operator.gt, "<": operator.lt, ">=": operator.ge, "<=": operator.le}
RULE_KINDS = ("value", "relative_change")
RULE_ALERT_SCHEMA = pl.Schema({"rule": pl.String(), "metric": pl.String(), "kind": pl.String(), "value": pl.Float64(), "threshold": pl.Float64()})


@dataclass(frozen=True)
class Rule:
    """A user's rule alert, SPEC: "fixed thresholds or relative changes (e.g. CPC > 1,
    ROI < 5 %, complaint first response > 24 h)".

    `metric` names a column of the values frame; `kind` "value" compares the value itself,
    "relative_change" its change from the previous row of its group (value / previous - 1),
    so Rule("gmv", "<", -0.3, kind="relative_change") fires when GMV falls by over 30 %.
    """

    metric: str
    operator: str
    threshold: float
    kind: str = "value"

    def __post_init__(self) -> None:
        for problem in (
            self._metric_is_named(), self._operator_is_known(), self._threshold_is_a_number(), self._kind_is_known(),
        ):
            if problem:
                raise ValueError(f"rule {self.metric!r} {self.operator} {self.threshold!r}: {problem}")

    def _metric_is_named(self) -> str | None:
        return None if isinstance(self.metric, str) and self.metric else "name the metric to watch"

    def _operator_is_known(self) -> str | None:
        return None if self.operator in _OPERATORS else f"the operator must be one of {', '.join(_OPERATORS)}"

    def _threshold_is_a_number(self) -> str | None:
        is_number = isinstance(self.threshold, (int, float)) and not isinstance(self.threshold, bool)
        return None if is_number and math.isfinite(self.threshold) else "the threshold must be a finite number"

    def _kind_is_known(self) -> str | None:
        return None if self.kind in RULE_KINDS else f"the kind must be one of {', '.join(RULE_KINDS)}, not {self.kind!r}"

    @property
    def description(self) -> str:
        watched = self.metric if self.kind == "value" else f"{self.metric} relative change"
        return f"{watched} {self.operator} {self.threshold:g}"

    def broken_by(self, value: pl.Expr) -> pl.Expr:
        """Whether `value` breaks the rule (null values break nothing)."""
        return _OPERATORS[self.operator](value, self.threshold).fill_null(False)


def rule_alerts(values: pl.DataFrame, rules: Sequence[Rule], *, by: Sequence[str] = ()) -> pl.DataFrame:
    """Which rows of `values` break which rules.

    `values` holds one column per metric (e.g. a channel table's cpc and roi, a daily
    service table's first_response_hours), an optional `date` and the `by` columns naming a
    row's group (e.g. channel). A relative change compares a row with the previous date of
    its group, so it needs `date`. Columns: `date` when present, the `by` columns, then
    RULE_ALERT_SCHEMA: the rule's description, metric, kind, the value compared (the
    relative change for that kind) and the threshold. Rows by date, group and rule order.
    """
    keys = [*(["date"] if "date" in values.columns else []), *by]
    missing = [name for name in (*by, *(rule.metric for rule in rules)) if name not in values.columns]
    if missing:
        raise ValueError(f"the values frame has no column(s) {', '.join(dict.fromkeys(missing))}")
    if "date" not in values.columns and any(rule.kind == "relative_change" for rule in rules):
        raise ValueError("a relative-change rule needs a date column to find the previous value")
    if "date" in values.columns:
        values = values.sort("date")
    broken = []
    for order, rule in enumerate(rules):
        value = pl.col(rule.metric).cast(pl.Float64)
        if rule.kind == "relative_change":
            previous = value.shift(1).over(list(by)) if by else value.shift(1)
            value = pl.when(previous != 0).then(value / previous - 1)
        broken.append(
            values.select(*keys, rule_order=pl.lit(order), value=value)
            .filter(rule.broken_by(pl.col("value")))
            .with_columns(
                rule=pl.lit(rule.description), metric=pl.lit(rule.metric),
                kind=pl.lit(rule.kind), threshold=pl.lit(float(rule.threshold)),
            )
        )
    key_schema = {name: values.schema[name] for name in keys}
    if not broken:
        return pl.DataFrame(schema=key_schema | RULE_ALERT_SCHEMA)
    return pl.concat(broken).sort([*keys, "rule_order"]).select(*keys, *RULE_ALERT_SCHEMA).cast(RULE_ALERT_SCHEMA)
