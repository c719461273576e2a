"""One alert check: evaluate a day, take it into the stored state, and send every target the
messages it is owed, each send retried and kept (sent or failed).

A second check of the same day finds the same alerts already open and already sent, so it
sends nothing; an alert that clears is sent as resolved to the targets that heard of it; a
send that failed after its retries stays owed and is tried again by the next check.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from shop_analytics.alerts.config import AlertConfig
from shop_analytics.alerts.evaluate import evaluate_shop
from shop_analytics.alerts.messages import Message, alert_message, trial_message
from shop_analytics.alerts.notify import Delivery, Target, deliver
from shop_analytics.alerts.rules import AlertRule
from shop_analytics.alerts.store import AlertStore
from shop_analytics.config import Settings
from shop_analytics.loading import Shop

ALERTS_PURPOSE, TEST_PURPOSE = "alerts", "test"


@dataclass(frozen=True)
class SendOutcome:
    target: str
    delivery: Delivery


@dataclass
class CheckResult:
    """What a check did: the day, the alert ids it opened and resolved, its sends, and the
    rules it could not evaluate."""

    day: date
    new: list[int] = field(default_factory=list)
    resolved: list[int] = field(default_factory=list)
    sends: list[SendOutcome] = field(default_factory=list)
    skipped: list[AlertRule] = field(default_factory=list)

    @property
    def failed(self) -> list[SendOutcome]:
        return [send for send in self.sends if not send.delivery.delivered]

    def summary(self) -> str:
        """The line cron mails: "3 new, 1 resolved, 0 failed"."""
        return f"{len(self.new)} new, {len(self.resolved)} resolved, {len(self.failed)} failed"


def default_day(shop: Shop, tz: str, *, now: datetime | None = None) -> date:
    """The day a scheduled check looks at: yesterday in the business zone (the last whole
    day), or the last day of data when the data ends earlier."""
    yesterday = (now or datetime.now(UTC)).astimezone(ZoneInfo(tz)).date() - timedelta(days=1)
    span = shop.date_span(tz)
    return yesterday if span is None else min(yesterday, span[1])


def send_recorded(
    store: AlertStore,
    target: Target,
    message: Message,
    config: AlertConfig,
    *,
    purpose: str,
    items: list[tuple[int, str]] = (),
    sleep: Callable[[float], None] = time.sleep,
) -> SendOutcome:
    """Deliver `message` to `target` with the configured retries and keep the send."""
    delivery = deliver(target, message, config.retry, sleep=sleep)
    store.record_send(
        target=target.name, target_kind=target.kind, purpose=purpose, subject=message.title,
        delivered=delivery.delivered, attempts=delivery.attempts, error=delivery.error,
        items=items, at=datetime.now(UTC),
    )
    return SendOutcome(target.name, delivery)


def notify_owed(
    store: AlertStore, config: AlertConfig, *, day: date, sleep: Callable[[float], None] = time.sleep
) -> list[SendOutcome]:
    """Send each target one message with every alert it is owed (new and resolved)."""
    outcomes = []
    for target in config.targets:
        owed = store.owed(target.name)
        if not owed:
            continue
        message = alert_message(owed, day=day, lang=config.language, currency=config.currency, app_url=config.app_url)
        items = [(alert["id"], alert["event"]) for alert in owed]
        outcomes.append(send_recorded(store, target, message, config, purpose=ALERTS_PURPOSE, items=items, sleep=sleep))
    return outcomes


def run_check(
    shop: Shop,
    store: AlertStore,
    config: AlertConfig,
    settings: Settings,
    *,
    day: date | None = None,
    now: datetime | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> CheckResult:
    """Check `day` (default: `default_day`): evaluate the anomalies and the stored rules,
    update the alerts' state, and notify every configured target of what it is owed."""
    now = now or datetime.now(UTC)
    day = day or default_day(shop, config.time_zone, now=now)
    evaluation = evaluate_shop(shop, store.rules(), day=day, settings=settings, anomaly=config.anomaly)
    opened, resolved = store.record(evaluation, now=now)
    sends = notify_owed(store, config, day=day, sleep=sleep)
    return CheckResult(day=day, new=opened, resolved=resolved, sends=sends, skipped=evaluation.skipped)


def send_test(store: AlertStore, config: AlertConfig, target_name: str, *, sleep: Callable[[float], None] = time.sleep) -> SendOutcome:
    """Send the test message to the target named `target_name` and keep the send."""
    target = config.target(target_name)
    return send_recorded(store, target, trial_message(target.name, lang=config.language), config, purpose=TEST_PURPOSE, sleep=sleep)
