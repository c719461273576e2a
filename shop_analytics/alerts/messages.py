"""Alerts in words: one message per target and check, in the deployment's language, every
number formatted as the dashboard writes it (metrics.registry.format_value, i18n).

Each alert line links, when the deployment's address is set, to the page that explains it
with the filters that show it (`explaining_view`); the Alerts page opens the same view.
"""

from dataclasses import dataclass, field
from datetime import date, timedelta
from urllib.parse import urlencode

from metrics.anomalies import DEFAULT_WINDOW, PAST_CAMPAIGN_DAYS
from metrics.registry import KPIS, format_value
from shop_analytics.alerts.evaluate import ANOMALY, TARGET
from shop_analytics.alerts.rules import CHANNEL, METRICS, SERVICE, AlertRule, format_metric
from shop_analytics.alerts.store import NEW_EVENT
from shop_analytics.i18n import format_day, format_number, label, text

# The overview's URL is the app's root: it is the navigation's default page.
PAGE_PATHS = {"overview": "", "channels": "channels", "products": "products", "service": "service"}


@dataclass(frozen=True)
class View:
    """A page of the dashboard with the filters that show an alert: the period (business
    days) and the channel, device and region segment."""

    page: str
    start: date
    end: date
    channels: tuple[str, ...] = ()
    devices: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()

    def query(self, lang: str) -> dict:
        """The view as the dashboard's link parameters (ui/filters.py reads them)."""
        values = {"from": str(self.start), "to": str(self.end), "channel": list(self.channels),
                  "device": list(self.devices), "region": list(self.regions), "lang": lang}
        return {name: value for name, value in values.items() if value}

    def url(self, app_url: str, lang: str) -> str:
        return f"{app_url.rstrip('/')}/{PAGE_PATHS[self.page]}?{urlencode(self.query(lang), doseq=True)}"


def explaining_view(alert: dict) -> View:
    """The page that explains an alert.

    A channel rule (CPC, ROI, ...): Traffic & channels on the day, filtered to the channel.
    A service rule: Service & reviews over the baseline window up to the day. An anomaly whose change is more concentrated in one category than in one channel:
    Products on the day. Any other: the Overview over the baseline window up to the day
    (its trend shows the day against the days it was compared with), on the rule's segment.
    A target behind pace: the Overview from the start of the target's period to the day.
    """
    details, day = alert["details"], alert["last_seen_day"]
    if alert["kind"] == TARGET:
        # the overview paces the target's period up to the day
        return View("overview", date.fromisoformat(details["period_start"]), day)
    segment = {name: tuple(details.get(name, ())) for name in ("channels", "devices", "regions")}
    if alert["kind"] != ANOMALY and METRICS[alert["metric"]].source == CHANNEL:
        return View("channels", day, day, (alert["member"],), segment["devices"], segment["regions"])
    if alert["kind"] != ANOMALY and METRICS[alert["metric"]].source == SERVICE:
        return View("service", day - timedelta(days=DEFAULT_WINDOW), day)
    leaders = {part["dimension"]: abs(part["share"] or 0) for part in details.get("contributors", [])}
    if leaders.get("category", 0) > leaders.get("channel", 0):
        return View("products", day, day)
    return View("overview", day - timedelta(days=DEFAULT_WINDOW), day, **segment)


@dataclass(frozen=True)
class Line:
    text: str
    link: str | None = None


@dataclass(frozen=True)
class Message:
    """A message: a title, sections of lines (heading, lines), and for the generic webhook
    the alerts as data."""

    title: str
    sections: tuple[tuple[str, tuple[Line, ...]], ...]
    language: str
    items: tuple[dict, ...] = field(default_factory=tuple)


def rule_of(alert: dict) -> AlertRule:
    """The rule an alert was raised by, as it was then (from the alert's own details)."""
    details = alert["details"]
    return AlertRule(
        alert["metric"], details["operator"], details["threshold"], details["rule_kind"],
        channels=details["channels"], devices=details["devices"], regions=details["regions"], id=alert["rule_id"],
    )


def target_period_words(kind: str, start: date, lang: str) -> str:
    """A target's month ("2026-12", "2026年12月") or week ("the week from Mon 12-07")."""
    if kind == "month":
        return text("targets.period_month", lang, year=start.year, month=start.month)
    return text("targets.period_week", lang, day=format_day(start, lang))


def alert_subject(alert: dict, lang: str, currency: str) -> str:
    """What the alert is about: the KPI, the target, or the rule (and the channel it broke in)."""
    if alert["kind"] == ANOMALY:
        return KPIS[alert["metric"]].label_in(lang)
    if alert["kind"] == TARGET:
        details = alert["details"]
        period = target_period_words(details["period_kind"], date.fromisoformat(details["period_start"]), lang)
        return text("targets.alert_subject", lang, kpi=KPIS[alert["metric"]].label_in(lang), period=period)
    subject = rule_of(alert).describe(lang, currency)
    if alert["member"] is not None:
        subject += text("alerts.member", lang, name=text("columns.channel", lang), member=label("channel", alert["member"], lang))
    return subject


def _contributors(details: dict, lang: str, currency: str, metric: str) -> str:
    parts = [
        text(
            "alerts.contributor", lang,
            dimension=text(f"columns.{part['dimension']}", lang), member=label(part["dimension"], part["member"], lang),
            change=format_metric(metric, part["change"], lang, currency),
            share=format_number(part["share"], "ratio", lang),
        )
        for part in details.get("contributors", [])
    ]
    return text("alerts.contributors", lang, parts="; ".join(parts)) if parts else ""


def alert_line(alert: dict, lang: str, currency: str) -> str:
    """An open alert in one sentence of `lang`."""
    day = format_day(alert["last_seen_day"], lang)
    if alert["kind"] == ANOMALY:
        kpi, details = KPIS[alert["metric"]], alert["details"]
        against = "alerts.against_special" if details["compared_with"] == PAST_CAMPAIGN_DAYS else "alerts.against_ordinary"
        return text(
            "alerts.anomaly_line", lang,
            kpi=kpi.label_in(lang), day=day, value=format_value(kpi, alert["value"], currency, lang=lang),
            direction=text(f"alerts.{details['direction']}", lang),
            usual=format_value(kpi, alert["reference"], currency, lang=lang),
            z=f"{details['z']:+.1f}", against=text(against, lang),
        ) + _contributors(details, lang, currency, alert["metric"])
    if alert["kind"] == TARGET:
        kpi, details = KPIS[alert["metric"]], alert["details"]

        def value(number: float | None) -> str:
            return format_value(kpi, number, currency, lang=lang)

        return text(
            "targets.alert_line", lang,
            subject=alert_subject(alert, lang, currency), day=day, pace=format_number(alert["value"], "ratio", lang),
            actual=value(details["actual_to_date"]), expected=value(details["expected_to_date"]),
            projected=value(details["projected_end"]), low=value(details["projected_low"]),
            high=value(details["projected_high"]), target=value(details["target"]),
        )
    rule = rule_of(alert)
    line = text(
        "alerts.rule_line", lang,
        rule=alert_subject(alert, lang, currency), day=day,
        value=format_metric(rule.metric, alert["value"], lang, currency, unit=rule.unit),
    )
    if rule.kind == "relative_change":
        line += text(
            "alerts.now", lang,
            value=format_metric(rule.metric, alert["details"].get("metric_value"), lang, currency),
        )
    return line


def resolved_line(alert: dict, lang: str, currency: str) -> str:
    """A resolved alert in one sentence of `lang`: since when it held and the value now."""
    if alert["kind"] == TARGET:
        return text(
            "targets.resolved_line", lang,
            subject=alert_subject(alert, lang, currency), day=format_day(alert["resolved_day"], lang),
            since=format_day(alert["first_seen_day"], lang), pace=format_number(alert["resolved_value"], "ratio", lang),
        )
    return text(
        "alerts.resolved_line", lang,
        subject=alert_subject(alert, lang, currency), day=format_day(alert["resolved_day"], lang),
        since=format_day(alert["first_seen_day"], lang),
        value=format_metric(alert["metric"], alert["resolved_value"], lang, currency),
    )


def _item(alert: dict, words: str, link: str | None) -> dict:
    """An alert as the generic webhook's data."""
    fields = ("key", "kind", "metric", "member", "rule_id", "value", "reference", "resolved_value")
    days = ("first_seen_day", "last_seen_day", "resolved_day")
    return (
        {"event": alert["event"]} | {name: alert[name] for name in fields}
        | {name: None if alert[name] is None else str(alert[name]) for name in days}
        | {"text": words, "link": link}
    )


def alert_message(owed: list[dict], *, day: date, lang: str, currency: str = "¥", app_url: str | None = None) -> Message:
    """The message about the alerts a target is owed (AlertStore.owed): new ones, then
    resolved ones, each a line with its link."""
    sections, items = [], []
    for event, heading, words in ((NEW_EVENT, "alerts.new_heading", alert_line), ("resolved", "alerts.resolved_heading", resolved_line)):
        lines = []
        for alert in (alert for alert in owed if alert["event"] == event):
            link = explaining_view(alert).url(app_url, lang) if app_url else None
            lines.append(Line(words(alert, lang, currency), link))
            items.append(_item(alert, lines[-1].text, link))
        if lines:
            sections.append((text(heading, lang), tuple(lines)))
    count = {event: sum(alert["event"] == event for alert in owed) for event in (NEW_EVENT, "resolved")}
    title = text("alerts.title", lang, day=format_day(day, lang), new=count[NEW_EVENT], resolved=count["resolved"])
    return Message(title, tuple(sections), lang, tuple(items))


def trial_message(target: str, *, lang: str) -> Message:
    """The message the "send test message" button sends."""
    return Message(text("alerts.test_title", lang), ((text("alerts.test_heading", lang), (Line(text("alerts.test_line", lang, target=target)),)),), lang)


def plain_text(message: Message) -> str:
    """The message as plain text (the e-mail body)."""
    blocks = [message.title]
    for heading, lines in message.sections:
        blocks.append("\n".join([heading, *(f"- {line.text}" + (f"\n  {line.link}" if line.link else "") for line in lines)]))
    return "\n\n".join(blocks) + "\n"


def markdown(message: Message, *, link_word: str) -> str:
    """The message in the Markdown subset WeCom and DingTalk robots render: a heading, bold
    section names, list items and [text](url) links."""
    blocks = [f"### {message.title}"]
    for heading, lines in message.sections:
        blocks.append("\n".join([f"**{heading}**", *(f"- {line.text}" + (f" [{link_word}]({line.link})" if line.link else "") for line in lines)]))
    return "\n\n".join(blocks)
