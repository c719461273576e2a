"""The scheduler's work, one `tick` at a time, with the clock passed in (tests move it; the
service reads the wall clock every `poll_seconds`):

1. plan: each subscription's latest due time gets its run, once (a unique row), when it is
   not older than `catch_up` (a report missed while the scheduler was down is sent late; an
   older one is kept as "missed" and not sent);
2. build: a run's report is made from the configured shop and its files kept in the alert
   database (a failure is tried again with back-off);
3. deliver: each recipient's delivery is sent by the process that claims it; a failure is
   tried again after `first_wait`, doubled each time, up to `attempts`; an answer that came
   too late leaves it "unknown", not sent again;
4. the daily alerts check at `alerts_check_at` (business zone), once a day.

Every wait on the outside is bounded: the shop's database by its connector, SMTP and webhooks
by `[alerts] timeout_seconds`.
"""

import logging
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as day_time
from zoneinfo import ZoneInfo

from connectors import SourceError
from connectors.extracts import ExtractSource
from shop_analytics.alerts.check import run_check
from shop_analytics.alerts.config import AlertConfigError, alert_config_of
from shop_analytics.alerts.notify import (
    EMAIL,
    FAILED,
    SENT,
    UNKNOWN,
    WECOM,
    Attachment,
    EmailTarget,
    WebhookTarget,
    attempt,
    message_key,
)
from shop_analytics.alerts.store import AlertStore
from shop_analytics.config import AppConfig
from shop_analytics.loading import Shop
from shop_analytics.opening import extract_for
from shop_analytics.reports.content import build_report
from shop_analytics.reports.message import message_from_record, message_record, report_link, report_message
from shop_analytics.reports.render import FORMATS, RENDERERS, file_name
from shop_analytics.reports.wording import days_span, words
from shop_analytics.scheduler.state import MANUAL, MESSAGE_PART, MISSED, SCHEDULED, Delivery, ScheduleStore
from shop_analytics.scheduler.subscriptions import Recipient, Subscription, latest_due, reported_period
from shop_analytics.targets import stored_targets
from shop_analytics.views import anomaly_settings

ALERTS_CHECK_JOB = "alerts check"
FILE_PART = "file:"
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SchedulerSettings:
    """How the scheduler catches up, retries and polls, and when it checks alerts (None:
    it does not; cron may)."""

    catch_up: timedelta = timedelta(days=2)
    attempts: int = 5
    first_wait: timedelta = timedelta(minutes=1)
    alerts_check_at: day_time | None = None
    poll_seconds: float = 30.0
    build_lease: timedelta = timedelta(minutes=30)
    send_lease: timedelta = timedelta(minutes=10)

    def retry_at(self, now: datetime, attempts: int) -> datetime | None:
        """When to try again after `attempts` failed tries; None when they are used up."""
        return None if attempts >= self.attempts else now + self.first_wait * 2 ** (attempts - 1)


@dataclass
class TickResult:
    """What a tick did: runs created and missed, reports built, deliveries by outcome."""

    created: list[int] = field(default_factory=list)
    missed: list[int] = field(default_factory=list)
    built: list[int] = field(default_factory=list)
    sent: list[int] = field(default_factory=list)
    retried: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    unknown: list[int] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)
    extract: str | None = None  # what the tick's refresh of the shop's extract did, if it ran

    def summary(self) -> str:
        done = (f"{len(self.created)} due, {len(self.missed)} missed, {len(self.built)} built, {len(self.sent)} sent, "
                f"{len(self.retried)} to retry, {len(self.failed)} failed, {len(self.unknown)} unknown")
        return done if self.extract is None else f"{done}; {self.extract}"


def _parts(subscription: Subscription, identity: str) -> list[tuple[int, str, str, str]]:
    """One delivery per recipient (the message; e-mail carries the files), plus a file
    message per format for a WeCom robot; each with its idempotency key."""
    parts = []
    for index, recipient in enumerate(subscription.recipients):
        names = [MESSAGE_PART] + ([f"{FILE_PART}{name}" for name in subscription.formats] if recipient.kind == WECOM else [])
        parts += [(index, recipient.describe(), part, message_key("report", identity, index, part)) for part in names]
    return parts


class Scheduler:
    """Sends the configured deployment's report subscriptions and runs its daily alerts
    check; `open_shop` loads the configured shop (once per tick that needs it)."""

    def __init__(self, config: AppConfig, store: ScheduleStore, *, open_shop: Callable[[], Shop],
                 settings: SchedulerSettings = SchedulerSettings(), holder: str | None = None,
                 open_extract: Callable[[], ExtractSource | None] | None = None):
        self.config, self.store, self.settings = config, store, settings
        self.open_shop = open_shop
        self.open_extract = open_extract
        self._extract: ExtractSource | None = None
        self._extract_opened = open_extract is None
        self.holder = holder or f"{socket.gethostname()}:{uuid.uuid4().hex[:8]}"
        self.tz = config.settings.time_zone
        self._shop: Shop | None = None

    def _loaded(self) -> Shop:
        if self._shop is None:
            self._shop = self.open_shop()
        return self._shop

    # 1. plan ------------------------------------------------------------------------------
    def plan(self, now: datetime, result: TickResult) -> None:
        for subscription in self.store.subscriptions():
            due = latest_due(subscription, self.tz, now)
            if subscription.created_at is not None and due < subscription.created_at:
                continue
            period = reported_period(subscription.kind, due, self.tz)
            if now - due > self.settings.catch_up:
                run_id = self.store.create_run(subscription, due=due, trigger=SCHEDULED, period=period, parts=[], status=MISSED)
                if run_id is not None:
                    result.missed.append(run_id)
                    logger.warning("report %r due %s was missed (more than %s ago); not sent", subscription.name, due, self.settings.catch_up)
                continue
            run_id = self.store.create_run(subscription, due=due, trigger=SCHEDULED, period=period,
                                           parts=_parts(subscription, f"{subscription.id}|{due.isoformat()}|{SCHEDULED}"))
            if run_id is not None:
                result.created.append(run_id)

    def send_now(self, subscription_id: int, now: datetime, *, data_end: date | None = None) -> int:
        """A run for "send now" of the subscription's last complete period, by `now` or by
        the data's last day `data_end` when the data ends earlier; its id."""
        subscription = self.store.subscription(subscription_id)
        zone = ZoneInfo(self.tz)
        reference = now if data_end is None else min(now, datetime.combine(data_end + timedelta(days=1), day_time(0), tzinfo=zone))
        period = reported_period(subscription.kind, reference, self.tz)
        run_id = self.store.create_run(subscription, due=now, trigger=MANUAL, period=period,
                                       parts=_parts(subscription, f"{subscription.id}|{now.isoformat()}|{MANUAL}"))
        if run_id is None:
            raise ValueError("that report is being sent already")
        return run_id

    # 2. build -----------------------------------------------------------------------------
    def build(self, run_id: int, now: datetime) -> bool:
        run = self.store.run(run_id)
        subscription = self.store.subscription(run["subscription_id"])
        try:
            report = build_report(self._loaded(), kind=subscription.kind, day=run["period_start"], lang=subscription.language,
                                  settings=self.config.settings, anomaly=anomaly_settings(self.config),
                                  targets=stored_targets(self.config.alerts.database_path))
            files = {name: (file_name(report, name), RENDERERS[name](report)) for name in FORMATS if name in subscription.formats}
        except Exception as error:  # noqa: BLE001 - the scheduler outlives one report's failure; kept in the history and retried
            retry_at = self.settings.retry_at(now, run["attempts"])
            words_of = f"{type(error).__name__}: {error}"
            self.store.build_failed(run_id, words_of, retry_at=retry_at)
            logger.error("report %r for %s could not be made: %s%s", subscription.name, run["period_start"], words_of,
                         f"; tried again at {retry_at:%Y-%m-%d %H:%M} UTC" if retry_at else "")
            return False
        app_url = self.config.alerts.app_url
        link = report_link(app_url, report.period.start, report.period.end, subscription.language) if app_url else None
        names = tuple(name for name, _ in files.values())
        messages = {"attached": message_record(report_message(report, link=link, attached=names)),
                    "linked": message_record(report_message(report, link=link))}
        subject = words(f"title_{subscription.kind}", subscription.language,
                        span=days_span(report.period.start, report.period.end, subscription.language))
        self.store.built(run_id, files, subject, messages)
        return True

    # 3. deliver ---------------------------------------------------------------------------
    def _target(self, recipient: Recipient) -> EmailTarget | WebhookTarget:
        timeout = self.config.alerts.timeout_seconds
        if recipient.kind != EMAIL:
            return WebhookTarget(recipient.describe(), recipient.kind, recipient.url, recipient.secret, timeout=timeout)
        try:
            mail = [target for target in alert_config_of(self.config).targets if isinstance(target, EmailTarget)]
        except AlertConfigError as error:
            raise ValueError(f"e-mail cannot be sent: {error}") from None
        if not mail:
            raise ValueError("e-mail needs the mail server: add [alerts.smtp] (host, from, to) to the configuration")
        return EmailTarget(mail[0].host, mail[0].port, mail[0].sender, (recipient.address,), mail[0].security, mail[0].user,
                           mail[0].password, mail[0].ca_file, timeout)

    def deliver(self, delivery: Delivery, now: datetime, result: TickResult) -> None:
        run = self.store.run(delivery.run_id)
        subscription = self.store.subscription(run["subscription_id"])
        recipient = subscription.recipients[delivery.recipient]
        files = self.store.files(delivery.run_id)
        attachments = tuple(Attachment(name, FORMATS[kind], content) for kind, (name, content) in files.items())
        try:
            target = self._target(recipient)
        except ValueError as error:
            self.store.finish_delivery(delivery, FAILED, now=now, error=str(error))
            result.failed.append(delivery.id)
            return
        if delivery.part.startswith(FILE_PART):
            kind = delivery.part.removeprefix(FILE_PART)
            name, content = files[kind]
            outcome = attempt(lambda: target.send_file(Attachment(name, FORMATS[kind], content)))  # type: ignore[union-attr]
        else:
            email = recipient.kind == EMAIL
            message = message_from_record(run["message"]["attached" if email or recipient.kind == WECOM else "linked"])
            outcome = attempt(lambda: target.send(message, delivery.key, attachments if email else ()))
        if outcome.delivered:
            self.store.finish_delivery(delivery, SENT, now=now)
            result.sent.append(delivery.id)
        elif outcome.unknown:
            self.store.finish_delivery(delivery, UNKNOWN, now=now, error=outcome.error)
            result.unknown.append(delivery.id)
        else:
            retry_at = None if outcome.permanent else self.settings.retry_at(now, delivery.attempts)
            self.store.finish_delivery(delivery, FAILED, now=now, error=outcome.error, retry_at=retry_at)
            (result.retried if retry_at else result.failed).append(delivery.id)
        logger.info("report %r to %s (%s): %s%s", subscription.name, recipient.describe(), delivery.part,
                    outcome.status, f" ({outcome.error})" if outcome.error else "")

    # 4. the daily alerts check ---------------------------------------------------------------
    def alerts_check(self, now: datetime, result: TickResult) -> None:
        at = self.settings.alerts_check_at
        if at is None:
            return
        zone = ZoneInfo(self.tz)
        local = now.astimezone(zone)
        day = local.date() if local.time() >= at else local.date() - timedelta(days=1)
        due = datetime.combine(day, at, tzinfo=zone).astimezone(UTC)
        if now - due > self.settings.catch_up or not self.store.start_job(ALERTS_CHECK_JOB, day, now=now):
            return
        try:
            checked = run_check(self._loaded(), self.store.alerts, alert_config_of(self.config), self.config.settings, now=now)
        except Exception as error:  # noqa: BLE001 - kept as the job's outcome; the next day's check runs regardless
            self.store.end_job(ALERTS_CHECK_JOB, day, FAILED, f"{type(error).__name__}: {error}")
            logger.error("alerts check of %s failed: %s", day, error)
            return
        self.store.end_job(ALERTS_CHECK_JOB, day, "done", f"{checked.day}: {checked.summary()}")
        result.checks.append(checked.summary())

    # 0. the shop's extract --------------------------------------------------------------
    def refresh_extract(self, result: TickResult) -> None:
        """Refresh the shop's extract (`open_extract`: opening.extract_for) when its
        time-to-live ends within the next two polls, so that no visitor's page waits for the
        refresh: a tracker's export converted whole once a day takes half a minute at 10 M
        events. The extract is opened at the first tick that can open it (a tracker's export
        folder may be mounted after the scheduler starts). A refresh that fails is logged and
        the extract keeps serving; the next tick tries again after RETRY_AFTER_FAILURE."""
        if not self._extract_opened and self.open_extract is not None:
            try:
                self._extract = self.open_extract()
            except SourceError as error:
                result.extract = f"the shop's source cannot be opened: {error}"
                logger.error("the shop's source cannot be opened: %s", error)
                return
            self._extract_opened = True
        extract = self._extract
        if extract is None:
            return
        ahead = timedelta(seconds=2 * self.settings.poll_seconds)
        if not extract.refresh_due(ahead=ahead):
            return
        try:
            manifest = extract.refresh(if_due=True, ahead=ahead)
        except SourceError as error:
            result.extract = f"the extract's refresh failed: {error}"
            logger.error("refreshing the extract of %s failed: %s", extract.description, error)
            return
        result.extract = f"extract at generation {manifest.generation}"

    def work(self, now: datetime, result: TickResult | None = None) -> TickResult:
        """Make the reports of the runs that are due and send their deliveries whose time has
        come (what "send now" needs, without planning or the alerts check)."""
        result = result or TickResult()
        self.store.stale_sends(now=now, lease=self.settings.send_lease)
        while (run_id := self.store.claim_build(self.holder, now=now, lease=self.settings.build_lease)) is not None:
            if self.build(run_id, now):
                result.built.append(run_id)
        while (delivery := self.store.claim_delivery(self.holder, now=now)) is not None:
            self.deliver(delivery, now, result)
        return result

    def tick(self, now: datetime) -> TickResult:
        """One round of work at `now` (UTC)."""
        result = TickResult()
        self._shop = None
        self.refresh_extract(result)
        self.plan(now, result)
        self.work(now, result)
        self.alerts_check(now, result)
        self._shop = None  # the next tick reads the shop again: its data moves on
        return result


def run_scheduler(
    config: AppConfig,
    *,
    open_shop: Callable[[], Shop],
    settings: SchedulerSettings = SchedulerSettings(),
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    stop: threading.Event | None = None,
    sleep: Callable[[float], None] | None = None,
) -> None:
    """Tick every `poll_seconds` until `stop` is set (the service: `cli.py schedule`)."""
    stop = stop or threading.Event()
    scheduler = Scheduler(config, ScheduleStore(AlertStore(config.alerts.database_path)), open_shop=open_shop, settings=settings,
                          open_extract=lambda: extract_for(config))
    logger.info("scheduler %s started: %d subscription(s), alerts check %s", scheduler.holder, len(scheduler.store.subscriptions()),
                settings.alerts_check_at or "not scheduled")
    while not stop.is_set():
        started = time.monotonic()
        result = scheduler.tick(clock())
        if any((result.created, result.missed, result.sent, result.retried, result.failed, result.unknown, result.checks, result.extract)):
            logger.info("%s", result.summary())
        wait = max(settings.poll_seconds - (time.monotonic() - started), 0.0)
        if sleep is not None:
            sleep(wait)
        else:
            stop.wait(wait)
