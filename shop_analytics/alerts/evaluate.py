"""What breaks on a day: the anomaly alerts of every daily KPI and the breaches of the rules.

SPEC section 3, Anomaly: "for each daily KPI, the value on D is compared with the same KPI
over the 28 days before D; robust z = (x - median) / (1.4826 x MAD); |z| > 3.5 raises an
alert (both threshold and window are settings). Days inside a campaign window or a listed
holiday are compared with the KPI's past campaign days instead of ordinary days [...] Each
alert names the channels and categories that contributed most to the change. Rule alerts:
fixed thresholds or relative changes [...] set by the user."

The verdicts are metrics.anomalies' (detect_anomalies, special_days, alert_contributors,
rule_alerts); this module picks the day, names each alert so that a later check recognises
it (its key), and gathers the values the messages quote.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta

import polars as pl

from metrics.anomalies import (
    CONTRIBUTOR_KPIS,
    AnomalySettings,
    alert_contributors,
    alerts_of,
    anomaly_verdicts,
    baseline_days,
    rule_alerts,
    special_days,
)
from metrics.kpis import DAILY_COLUMNS, daily_kpis
from metrics.registry import KPIS
from metrics.segments import Segment
from metrics.service import service_summary
from shop_analytics.alerts.rules import CHANNEL, DAILY, SERVICE, AlertRule
from shop_analytics.config import Settings
from shop_analytics.loading import Shop
from shop_analytics.targets import Target, distinct_actuals, pacing_daily, target_paces
from shop_analytics.views import activity_frames, check_view, configured_channel_table, mask_unavailable

ANOMALY, RULE, TARGET = "anomaly", "rule", "target"
# Every daily KPI of the daily table is watched for anomalies.
ANOMALY_KPIS = tuple(name for name in DAILY_COLUMNS if name != "date")


@dataclass(frozen=True)
class Finding:
    """One alert that holds on `day`.

    `key` names it across checks ("anomaly:gmv", "rule:3", "rule:3:paid_search"), so a
    check that finds it again recognises it. `value` is what was judged (the KPI's value, or
    for a relative-change rule the change); `reference` what it was judged against (the
    baseline median, or the rule's threshold). `details` holds what the message says besides.
    """

    key: str
    kind: str
    metric: str
    day: date
    value: float | None
    reference: float | None
    rule_id: int | None = None
    member: str | None = None
    details: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Evaluation:
    """The findings of a day, the day's value of every watched key (what a resolved message
    quotes) and the rules that could not be evaluated (service rules without a tickets table)."""

    day: date
    findings: list[Finding]
    values: dict[str, float | None]
    skipped: list[AlertRule] = field(default_factory=list)


def anomaly_key(kpi: str) -> str:
    return f"{ANOMALY}:{kpi}"


def rule_key(rule_id: int | None, member: str | None = None) -> str:
    return f"{RULE}:{rule_id}" + (f":{member}" if member is not None else "")


def anomaly_findings(
    daily: pl.DataFrame,
    *,
    day: date,
    campaigns: pl.DataFrame | None = None,
    settings: AnomalySettings = AnomalySettings(),
    kpis: Sequence[str] = ANOMALY_KPIS,
) -> tuple[list[Finding], dict[str, float | None]]:
    """The anomaly alerts on `day` of a daily KPI table holding `day` and the days before it.

    An alert is a verdict of `detect_anomalies` with |z| above the threshold in the KPI's bad
    direction (`KPIS[kpi].higher_is_better`): what broke, as the overview shows it. Each
    finding's reference is the baseline median; details hold z, direction and what the day
    was compared with. Also returns every KPI's value on `day`.
    """
    kpis = [kpi for kpi in kpis if kpi in daily.columns]
    verdicts = anomaly_verdicts(daily.filter(pl.col("date") <= day), campaigns, settings, kpis=kpis).filter(pl.col("date") == day)
    values = {anomaly_key(row["kpi"]): row["value"] for row in verdicts.iter_rows(named=True)}
    findings = [
        Finding(
            key=anomaly_key(row["kpi"]), kind=ANOMALY, metric=row["kpi"], day=day,
            value=row["value"], reference=row["baseline_median"],
            details={"z": row["robust_z"], "direction": row["direction"], "compared_with": row["compared_with"]},
        )
        for row in alerts_of(verdicts).iter_rows(named=True)
    ]
    return findings, values


def rule_findings(
    values: pl.DataFrame, rule: AlertRule, *, day: date, by: Sequence[str] = ()
) -> tuple[list[Finding], dict[str, float | None]]:
    """The breaches of `rule` on `day` in a frame of daily values (`date`, the rule's metric,
    the `by` columns; the day before `day` too for a relative change), one per `by` group.

    The comparison is `rule_alerts`'. Each finding's value is what was compared (the value, or
    the relative change), its reference the threshold; details hold the rule's own words
    (operator, threshold, kind, filters) and the metric's value, so messages about it can be
    written after the rule is edited or deleted. Also returns each group's value on `day`.
    """
    broken = rule_alerts(values, [rule.as_rule()], by=by).filter(pl.col("date") == day)
    today = values.filter(pl.col("date") == day)
    member_of = (lambda row: str(row[by[0]])) if by else (lambda row: None)
    current = {rule_key(rule.id, member_of(row)): row[rule.metric] for row in today.iter_rows(named=True)}
    described = {
        "operator": rule.operator, "threshold": rule.threshold, "rule_kind": rule.kind,
        "channels": list(rule.channels), "devices": list(rule.devices), "regions": list(rule.regions),
    }
    findings = []
    for row in broken.iter_rows(named=True):
        key = rule_key(rule.id, member_of(row))
        findings.append(
            Finding(
                key=key, kind=RULE, metric=rule.metric, day=day, value=row["value"], reference=row["threshold"],
                rule_id=rule.id, member=member_of(row), details=described | {"metric_value": current.get(key)},
            )
        )
    return findings, current


def target_findings(
    daily: pl.DataFrame,
    targets: Sequence[Target],
    *,
    day: date,
    margin: float,
    actuals: dict[str, float | None] | None = None,
) -> tuple[list[Finding], dict[str, float | None]]:
    """The targets behind pace after `day` (SPEC, Targets and pacing: "a target alert fires
    when pace < 1 - margin"; > 1 + margin for a lower-is-better KPI), from the whole shop's
    daily KPI table up to `day` (shop_analytics.targets.target_paces, `actuals` the distinct
    counts' own values).

    Each finding's key is the target's, its value the pace, its reference the pace the alert
    fires beyond; details hold the target, the period, the actual and expected to date and
    the projected end with its interval, so the message can be written after the target is
    changed. Also returns each target's pace.
    """
    paces = target_paces(pacing_daily(daily), targets, as_of=day, margin=margin, actuals=actuals)
    findings, values = [], {}
    for target, row in zip(targets, paces.iter_rows(named=True)):
        values[target.key] = row["pace"]
        if not row["behind"]:
            continue
        higher = KPIS[target.kpi].higher_is_better
        details = {name: row[name] for name in ("target", "target_kind", "actual_to_date", "expected_to_date", "projected_end", "projected_low", "projected_high")}
        findings.append(Finding(
            key=target.key, kind=TARGET, metric=target.kpi, day=day, value=row["pace"],
            reference=1 - margin if higher else 1 + margin,
            details=details | {"period_kind": target.period_kind, "period_start": str(target.period_start),
                               "period_end": str(target.period_end), "higher_is_better": higher},
        ))
    return findings, values


def _contributors(shop: Shop, finding: Finding, days: list[date], special: set[date], settings: AnomalySettings, tz: str) -> list[dict]:
    """The channel and the category that moved the KPI most (alert_contributors' first row of
    each), with their share of the change."""
    if finding.metric not in CONTRIBUTOR_KPIS or shop.sessions is None:
        return []
    if finding.metric in ("gmv", "orders") and not shop.has("order_items", "products"):
        return []
    baseline = baseline_days(finding.day, days, special, window=settings.window)
    if not baseline:
        return []
    # Traffic KPIs are split by channel only and never read the item tables.
    order_items, products = (shop.tables.get(name, pl.DataFrame()) for name in ("order_items", "products"))
    table = alert_contributors(
        *activity_frames(shop)[:3], order_items, products,
        kpi=finding.metric, day=finding.day, baseline_days=baseline, tz=tz,
    )
    leaders = table.filter(pl.col("change") != 0).unique("dimension", keep="first", maintain_order=True)
    return leaders.select("dimension", "member", "change", "share").to_dicts()


class _DailyValues:
    """The daily KPI tables a check needs, computed once per segment and period."""

    def __init__(self, shop: Shop, tz: str):
        self.shop, self.tz = shop, tz
        self.tables: dict[tuple[Segment, date, date], pl.DataFrame] = {}

    def table(self, segment: Segment, start: date, end: date) -> pl.DataFrame:
        key = (segment, start, end)
        if key not in self.tables:
            frames = segment.apply(*activity_frames(self.shop))
            self.tables[key] = mask_unavailable(daily_kpis(*frames, start=start, end=end, tz=self.tz), self.shop)
        return self.tables[key]


def _channel_values(shop: Shop, rule: AlertRule, day: date, settings: Settings) -> pl.DataFrame:
    """Each channel's row of the channel table on `day` and the day before (the device and
    region filters apply; the channel filter picks the rows)."""
    events, sessions, orders, users = replace(rule.segment, channels=()).apply(*activity_frames(shop))
    optional = {name: shop.optional(name) for name in ("ad_spend", "order_items", "products")}
    tables = [
        configured_channel_table(events, sessions, orders, users, optional, start=one_day, end=one_day, settings=settings)
        .select("channel", rule.metric).with_columns(date=pl.lit(one_day))
        for one_day in (day - timedelta(days=1), day)
    ]
    values = pl.concat(tables)
    return values.filter(pl.col("channel").is_in(rule.channels)) if rule.channels else values


def evaluate_shop(
    shop: Shop,
    rules: Sequence[AlertRule],
    *,
    day: date,
    settings: Settings,
    anomaly: AnomalySettings = AnomalySettings(),
    targets: Sequence[Target] = (),
) -> Evaluation:
    """Every alert that holds on `day` in `shop`: the anomalies of the whole shop's daily KPIs
    (baselines from all the history up to `day`; campaign days and holidays against past
    special days; the top channel and category of each additive KPI's change), then each
    rule's breaches on its segment.

    Then the `targets` whose month or week holds `day`, paced on the whole shop with the
    configured target margin (`target_findings`).

    Needs events or orders (views.VIEW_NEEDS); a KPI whose table the shop lacks is not
    available and gets no verdict. A rule on service measures needs tickets and is skipped
    with the reason without them.
    """
    check_view("alerts", shop)
    tz = settings.time_zone
    span = shop.date_span(tz)
    if span is None:
        raise ValueError(f"{shop.description} has no events or orders to check")
    if not span[0] <= day <= span[1]:
        # a day outside the data would read as a day of zeros and alert on every KPI
        raise ValueError(f"{day} is outside the data ({span[0]} to {span[1]}); pick a --date between them")
    daily = _DailyValues(shop, tz)
    history = daily.table(Segment(), span[0], day)
    special = special_days(shop.tables.get("campaigns"), anomaly.holidays)
    findings, values = anomaly_findings(history, day=day, campaigns=shop.tables.get("campaigns"), settings=anomaly)
    days = history["date"].to_list()
    findings = [
        replace(finding, details=finding.details | {"contributors": _contributors(shop, finding, days, special, anomaly, tz)})
        for finding in findings
    ]
    skipped = []
    for rule in rules:
        if rule.source == DAILY:
            found, current = rule_findings(daily.table(rule.segment, day - timedelta(days=1), day), rule, day=day)
        elif rule.source == CHANNEL:
            found, current = rule_findings(_channel_values(shop, rule, day, settings), rule, day=day, by=("channel",))
        elif rule.source == SERVICE and shop.has("tickets"):
            table = service_summary(shop.tickets, shop.orders, start=day - timedelta(days=1), end=day, tz=tz, by="date")
            found, current = rule_findings(table, rule, day=day)
        else:
            skipped.append(rule)
            continue
        findings.extend(found)
        values.update(current)
    held = [target for target in targets if target.holds(day)]
    if held:
        actuals = distinct_actuals(activity_frames(shop), held, as_of=day, tz=tz)
        found, current = target_findings(history, held, day=day, margin=settings.target_margin, actuals=actuals)
        findings.extend(found)
        values.update(current)
    return Evaluation(day=day, findings=findings, values=values, skipped=skipped)
