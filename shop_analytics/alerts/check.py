"""One alert check: evaluate a day, take it into the stored state, and send every target the
messages it is owed, each send retried and kept (sent or failed).

A second check of the same day finds the same alerts already open and already sent, so it
sends nothing; an alert that clears is sent as resolved to the targets that heard of it; a
send that failed after its retries stays owed and is tried again by the next check; a send
whose outcome is unknown (the answer came too late) is kept as such and not sent again.

Checks run one at a time, whichever process starts them (cron, the scheduler, the Alerts
page): the check holds CHECK_LOCK in the alert database while it evaluates, records and
sends, and a second check waits for it, then finds nothing owed. Each message carries an
idempotency key made from its target and the alerts it is about.
"""

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from shop_analytics.alerts.config import AlertConfig
from shop_analytics.alerts.evaluate import evaluate_shop
from shop_analytics.alerts.messages import Message, alert_message, trial_message
from shop_analytics.alerts.notify import Delivery, Target, deliver, message_key
from shop_analytics.alerts.rules import AlertRule
from shop_analytics.alerts.store import AlertStore
from shop_analytics.config import Settings
from shop_analytics.loading import Shop
from shop_analytics.targets import TargetStore

ALERTS_PURPOSE, TEST_PURPOSE = "alerts", "test"
CHECK_LOCK = "alerts check"
# How long a check waits for another one to finish: a check with slow targets retries each
# for minutes (Retry), so a scheduled one waits that long; the page waits less (someone is there).
CHECK_LOCK_WAIT_SECONDS = 15 * 60


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
        return [send for send in self.sends if not send.delivery.delivered and not send.delivery.unknown]

    @property
    def unknown(self) -> list[SendOutcome]:
        """Sends whose answer came too late: they may have arrived and are not repeated."""
        return [send for send in self.sends if send.delivery.unknown]

    def summary(self) -> str:
        """The line cron mails: "3 new, 1 resolved, 0 failed" (and ", 1 unknown" when a
        send's outcome is unknown)."""
        unknown = f", {len(self.unknown)} unknown" if self.unknown else ""
        return f"{len(self.new)} new, {len(self.resolved)} resolved, {len(self.failed)} failed{unknown}"


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
    items: Sequence[tuple[int, str]] = (),
    sleep: Callable[[float], None] = time.sleep,
    key: str | None = None,
) -> SendOutcome:
    """Deliver `message` to `target` with the configured retries and keep the send (sent,
    failed, or unknown when its answer came too late)."""
    delivery = deliver(target, message, config.retry, sleep=sleep, key=key)
    store.record_send(
        target=target.name, target_kind=target.kind, purpose=purpose, subject=message.title,
        delivered=delivery.delivered, attempts=delivery.attempts, error=delivery.error,
        items=items, at=datetime.now(UTC), unknown=delivery.unknown,
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
        key = message_key(ALERTS_PURPOSE, target.name, *sorted(items))
        outcomes.append(send_recorded(store, target, message, config, purpose=ALERTS_PURPOSE, items=items, sleep=sleep, key=key))
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
    lock_wait: float = CHECK_LOCK_WAIT_SECONDS,
) -> CheckResult:
    """Check `day` (default: `default_day`): evaluate the anomalies, the stored rules and the
    targets of the month and week holding the day, update the alerts' state, and notify
    every configured target of what it is owed; while another check runs, wait for it up to
    `lock_wait` seconds (store.Busy after that)."""
    now = now or datetime.now(UTC)
    day = day or default_day(shop, config.time_zone, now=now)
    with store.lock(CHECK_LOCK, wait=lock_wait):
        targets = TargetStore(store.engine).targets(holding=day)
        evaluation = evaluate_shop(shop, store.rules(), day=day, settings=settings, anomaly=config.anomaly, targets=targets)
        opened, resolved = store.record(evaluation, now=now)
        sends = notify_owed(store, config, day=day, sleep=sleep)
    return CheckResult(day=day, new=opened, resolved=resolved, sends=sends, skipped=evaluation.skipped)


def send_test(store: AlertStore, config: AlertConfig, target_name: str, *, sleep: Callable[[float], None] = time.sleep) -> SendOutcome:
    """Send the test message to the target named `target_name` and keep the send."""
    target = config.target(target_name)
    return send_recorded(store, target, trial_message(target.name, lang=config.language), config, purpose=TEST_PURPOSE, sleep=sleep)
