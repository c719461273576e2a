"""Report subscriptions: who gets which report, when, in which language and formats.

A subscription sends the week's (Monday to Sunday) or the month's report that has just ended,
at `hour` o'clock in the business zone on `day`: a weekday (0 Monday .. 6 Sunday) for a
weekly report, a day of the month (1..28, so that every month has it) for a monthly one.
Its recipients are e-mail addresses (sent through `[alerts.smtp]`) and chat robots (WeCom,
DingTalk, Slack, Feishu / Lark, or a generic webhook), each robot's URL and signing secret
kept in the alert database and never shown.
"""

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from shop_analytics.alerts.notify import EMAIL, SIGNING_KINDS, WEBHOOK_KINDS
from shop_analytics.i18n import LANGUAGES
from shop_analytics.reports.content import PERIOD_KINDS, report_period
from shop_analytics.reports.render import FORMATS

RECIPIENT_KINDS = (EMAIL, *WEBHOOK_KINDS)
LAST_MONTH_DAY = 28  # the last day every month has
EMAIL_ADDRESS = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


class SubscriptionError(ValueError):
    """A subscription that cannot be kept; the message names the field and the fix."""


@dataclass(frozen=True)
class Recipient:
    """An e-mail `address`, or a chat robot of `kind` at `url` (with its signing `secret`
    for DingTalk and Feishu)."""

    kind: str
    address: str = ""
    url: str = field(default="", repr=False)
    secret: str | None = field(default=None, repr=False)

    def describe(self) -> str:
        """The recipient without its secrets: the address, or the robot's kind and host."""
        if self.kind == EMAIL:
            return self.address
        return f"{self.kind} @ {urlsplit(self.url).hostname or '?'}"

    def as_dict(self) -> dict:
        return {"kind": self.kind, "address": self.address, "url": self.url, "secret": self.secret}


def check_recipient(recipient: Recipient) -> Recipient:
    """The recipient if it can be sent to, else SubscriptionError saying what to fix."""
    if recipient.kind not in RECIPIENT_KINDS:
        raise SubscriptionError(f"a recipient is an e-mail address or one of {', '.join(WEBHOOK_KINDS)}, not {recipient.kind!r}")
    if recipient.kind == EMAIL:
        if not EMAIL_ADDRESS.fullmatch(recipient.address):
            raise SubscriptionError(f"{recipient.address!r} is not an e-mail address")
        return recipient
    if not recipient.url.startswith(("http://", "https://")) or not urlsplit(recipient.url).hostname:
        raise SubscriptionError(f"the {recipient.kind} robot's webhook URL must start with https:// (copy it from the robot's settings)")
    if recipient.secret and recipient.kind not in SIGNING_KINDS:
        raise SubscriptionError(f"only {' and '.join(SIGNING_KINDS)} robots take a signing secret, not {recipient.kind}")
    return recipient


@dataclass(frozen=True)
class Subscription:
    """Who gets which report when (see the module's docstring); `id` is the store's."""

    name: str
    kind: str
    language: str
    formats: tuple[str, ...]
    day: int
    hour: int
    recipients: tuple[Recipient, ...]
    id: int | None = None
    created_at: datetime | None = None

    def schedule(self, lang: str) -> str:
        """When it is sent, in words: "Mondays 08:00", "每月 1 日 08:00"."""
        if self.kind == "week":
            weekdays = {"en": ("Mondays", "Tuesdays", "Wednesdays", "Thursdays", "Fridays", "Saturdays", "Sundays"),
                        "zh": ("每周一", "每周二", "每周三", "每周四", "每周五", "每周六", "每周日")}
            return f"{weekdays[lang][self.day]} {self.hour:02d}:00"
        return f"每月 {self.day} 日 {self.hour:02d}:00" if lang == "zh" else f"day {self.day} of each month, {self.hour:02d}:00"


def check_subscription(subscription: Subscription) -> Subscription:
    """The subscription if it can be kept, else SubscriptionError naming the first problem."""
    if not subscription.name.strip():
        raise SubscriptionError("give the subscription a name")
    if subscription.kind not in PERIOD_KINDS:
        raise SubscriptionError(f"a subscription sends a week's or a month's report, not {subscription.kind!r}")
    if subscription.language not in LANGUAGES:
        raise SubscriptionError(f"the report's language is one of {', '.join(LANGUAGES)}, not {subscription.language!r}")
    if not subscription.formats or any(name not in FORMATS for name in subscription.formats):
        raise SubscriptionError(f"choose one or more formats of {', '.join(FORMATS)}")
    days = range(0, 7) if subscription.kind == "week" else range(1, LAST_MONTH_DAY + 1)
    if subscription.day not in days:
        raise SubscriptionError(
            "a weekly report's day is a weekday, 0 (Monday) to 6 (Sunday)" if subscription.kind == "week"
            else f"a monthly report's day is 1 to {LAST_MONTH_DAY}, a day every month has"
        )
    if not 0 <= subscription.hour <= 23:
        raise SubscriptionError(f"the hour is 0 to 23, not {subscription.hour}")
    if not subscription.recipients:
        raise SubscriptionError("add at least one recipient: an e-mail address or a chat robot")
    for recipient in subscription.recipients:
        check_recipient(recipient)
    return subscription


def _occurrence(subscription: Subscription, period_start: date, zone: ZoneInfo) -> datetime:
    """The send time in the period that starts on `period_start`, as a UTC instant."""
    offset = subscription.day if subscription.kind == "week" else subscription.day - 1
    local = datetime.combine(period_start + timedelta(days=offset), time(subscription.hour), tzinfo=zone)
    return local.astimezone(UTC)


def latest_due(subscription: Subscription, tz: str, now: datetime) -> datetime:
    """The last send time at or before `now` (UTC): this period's, or the previous one's
    while this period's is still to come."""
    zone = ZoneInfo(tz)
    start, _ = report_period(subscription.kind, now.astimezone(zone).date())
    due = _occurrence(subscription, start, zone)
    if due <= now:
        return due
    previous_start, _ = report_period(subscription.kind, start - timedelta(days=1))
    return _occurrence(subscription, previous_start, zone)


def next_due(subscription: Subscription, tz: str, now: datetime) -> datetime:
    """The first send time after `now` (UTC)."""
    zone = ZoneInfo(tz)
    start, end = report_period(subscription.kind, now.astimezone(zone).date())
    due = _occurrence(subscription, start, zone)
    return due if due > now else _occurrence(subscription, end + timedelta(days=1), zone)


def reported_period(kind: str, due: datetime, tz: str) -> tuple[date, date]:
    """The period a report sent at `due` covers: the week or month that ended before the
    one holding the send day (a Monday report covers the week to Sunday)."""
    start, _ = report_period(kind, due.astimezone(ZoneInfo(tz)).date())
    return report_period(kind, start - timedelta(days=1))
