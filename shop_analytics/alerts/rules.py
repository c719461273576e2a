"""What an admin may watch with a rule alert, and a rule as it is set and stored.

SPEC section 3, Anomaly: "Rule alerts: fixed thresholds or relative changes (e.g. CPC > 1,
ROI < 5 %, complaint first response > 24 h) set by the user." A rule watches one metric of
one day: a daily KPI (metrics/registry.py, on the rule's channel, device and region
segment), a channel's spend, CPC, CAC, ROAS or ROI (each channel, or the rule's channels),
or a service measure of the day's tickets (the whole shop). The comparison itself is
metrics.anomalies.Rule's.
"""

from dataclasses import dataclass

from metrics.anomalies import Rule
from metrics.kpis import DAILY_COLUMNS
from metrics.registry import KPIS
from metrics.segments import Segment
from shop_analytics.i18n import format_number, text, translations

DAILY, CHANNEL, SERVICE = "daily", "channel", "service"
OPERATORS = (">", "<", ">=", "<=")
KINDS = ("value", "relative_change")


@dataclass(frozen=True)
class WatchedMetric:
    """A metric a rule may watch: where its daily value comes from and its unit ("count",
    "money", "ratio", "hours" or "number")."""

    name: str
    source: str
    unit: str


METRICS: dict[str, WatchedMetric] = {
    metric.name: metric
    for metric in (
        *(WatchedMetric(name, DAILY, KPIS[name].unit) for name in DAILY_COLUMNS if name != "date"),
        *(WatchedMetric(name, CHANNEL, KPIS[name].unit) for name in ("spend", "cpc", "cac", "roas", "roi")),
        *(WatchedMetric(name, SERVICE, KPIS[name].unit) for name in (
            "first_response_hours_median", "first_response_hours_p90", "answered_within_promise_share", "return_rate", "mean_satisfaction",
        )),
    )
}


def metric_label(name: str, lang: str) -> str:
    """A watched metric's name as a reader of `lang` knows it: the KPI's label, else the
    column header of locales/columns.toml, else `alerts.metric_<name>`."""
    if name in KPIS:
        return KPIS[name].label_in(lang)
    return text(f"columns.{name}" if f"columns.{name}" in translations() else f"alerts.metric_{name}", lang)


def format_metric(name: str, value: float | None, lang: str, currency: str = "¥", *, unit: str | None = None) -> str:
    """`value` of the watched metric `name` (or of `unit`, when given) as `lang` writes it,
    in the registry's unit (i18n.format_number); null is "–"."""
    return format_number(value, unit or METRICS[name].unit, lang, currency)


class RuleError(ValueError):
    """A rule that cannot be kept: `key` (in locales/alerts.toml) and `values` say why in
    every language; the message itself is the English."""

    def __init__(self, key: str, **values):
        super().__init__(text(key, "en", **values))
        self.key, self.values = key, values

    def in_language(self, lang: str) -> str:
        return text(self.key, lang, **self.values)


@dataclass(frozen=True)
class AlertRule:
    """A rule an admin sets: watch `metric`, alert when its value (kind "value") or its change
    from the previous day (kind "relative_change", value / previous - 1) compares with
    `threshold` by `operator`; on the segment of `channels`, `devices` and `regions` (empty:
    all). Ratios and relative changes are fractions (0.05 is 5 %). `id` is the store's.

    Checked on creation (RuleError), each problem named with how to fix it.
    """

    metric: str
    operator: str
    threshold: float
    kind: str = "value"
    channels: tuple[str, ...] = ()
    devices: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    id: int | None = None

    def __post_init__(self) -> None:
        for name in ("channels", "devices", "regions"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if self.metric not in METRICS:
            raise RuleError("alerts.unknown_metric", metric=self.metric, known=", ".join(METRICS))
        try:
            self.as_rule()  # the comparison's own checks: operator, finite threshold, kind
        except ValueError as error:
            raise RuleError("alerts.bad_comparison", problem=str(error)) from None
        if any(not isinstance(value, str) or not value for value in (*self.channels, *self.devices, *self.regions)):
            raise RuleError("alerts.bad_filters")
        if METRICS[self.metric].source == SERVICE and not self.segment.is_everything:
            raise RuleError("alerts.service_filters", metric=self.metric)

    @property
    def source(self) -> str:
        return METRICS[self.metric].source

    @property
    def segment(self) -> Segment:
        return Segment(self.channels, self.devices, self.regions)

    @property
    def unit(self) -> str:
        """The unit of the value compared: the metric's, or a ratio for a relative change."""
        return "ratio" if self.kind == "relative_change" else METRICS[self.metric].unit

    def as_rule(self) -> Rule:
        return Rule(self.metric, self.operator, self.threshold, kind=self.kind)

    def describe(self, lang: str, currency: str = "¥") -> str:
        """The rule in words: "CPC > ¥1.00 (Channel: paid_search)"."""
        words = text(
            "alerts.rule_value" if self.kind == "value" else "alerts.rule_change",
            lang,
            metric=metric_label(self.metric, lang),
            operator=self.operator,
            threshold=format_metric(self.metric, self.threshold, lang, currency, unit=self.unit),
        )
        filters = [
            text("alerts.filter_part", lang, name=text(f"columns.{name}", lang), values=", ".join(values))
            for name, values in (("channel", self.channels), ("device", self.devices), ("region", self.regions))
            if values
        ]
        return words + (text("alerts.filters", lang, filters="; ".join(filters)) if filters else "")
