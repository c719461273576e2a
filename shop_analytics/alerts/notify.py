"""Delivering a message: e-mail over SMTP and webhooks (a generic JSON body, WeCom, DingTalk
and Slack), each send retried with exponential back-off and its failure kept, never lost.

Secrets (the SMTP password, a webhook's URL, which carries its key, and DingTalk's signing
secret) are fields hidden from repr and are cut out of every error text before it is kept
or shown; `describe()` names a target without them.
"""

import base64
import hashlib
import hmac
import json
import smtplib
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from urllib.parse import urlencode, urlsplit

from shop_analytics.alerts.messages import Message, markdown, plain_text
from shop_analytics.i18n import text

EMAIL = "email"
GENERIC, WECOM, DINGTALK, SLACK = "generic", "wecom", "dingtalk", "slack"
WEBHOOK_KINDS = (GENERIC, WECOM, DINGTALK, SLACK)
SMTP_SECURITY = ("starttls", "ssl", "none")
# Documented limits: WeCom robot markdown content at most 4096 bytes; Slack section text at
# most 3000 characters, header text at most 150.
WECOM_MAX_BYTES = 4096
SLACK_SECTION_CHARS = 3000
SLACK_HEADER_CHARS = 150
REDACTED = "***"


class DeliveryError(Exception):
    """A send that did not arrive; `permanent` when trying again cannot help (a rejected
    address, refused credentials, a request the service calls malformed)."""

    def __init__(self, reason: str, *, permanent: bool = False):
        super().__init__(reason)
        self.permanent = permanent


def redact(words: str, secrets: tuple[str | None, ...]) -> str:
    """`words` with every secret in it replaced by ***."""
    for secret in secrets:
        if secret:
            words = words.replace(secret, REDACTED)
    return words


@dataclass(frozen=True)
class EmailTarget:
    """E-mail through an SMTP server: `security` "starttls" (upgrade a plain connection,
    usually port 587), "ssl" (TLS from the start, usually 465) or "none" (plain, for a relay
    on the same network); logs in when `user` is set. `ca_file` trusts a private CA."""

    host: str
    port: int
    sender: str
    recipients: tuple[str, ...]
    security: str = "starttls"
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: str | None = None
    timeout: float = 10.0
    name: str = EMAIL
    kind: str = EMAIL

    def describe(self, lang: str = "en") -> str:
        """The target without its secrets: the recipients and the server."""
        return text("alerts.email_via", lang, recipients=", ".join(self.recipients), host=self.host, port=self.port, security=self.security)

    def email(self, message: Message) -> EmailMessage:
        """The e-mail: the message's title as subject, its plain text as body (UTF-8)."""
        email = EmailMessage()
        email["Subject"] = message.title
        email["From"] = self.sender
        email["To"] = ", ".join(self.recipients)
        email["Date"] = formatdate(localtime=False)
        email["Message-ID"] = make_msgid(domain=self.sender.rpartition("@")[2] or None)
        email.set_content(plain_text(message))
        return email

    def _connect(self) -> smtplib.SMTP:
        context = ssl.create_default_context(cafile=self.ca_file)
        if self.security == "ssl":
            return smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        if self.security == "starttls":
            smtp.starttls(context=context)
        return smtp

    def send(self, message: Message) -> None:
        try:
            with self._connect() as smtp:
                if self.user:
                    smtp.login(self.user, self.password or "")
                smtp.send_message(self.email(message))
        except smtplib.SMTPResponseException as error:
            reply = error.smtp_error.decode(errors="replace") if isinstance(error.smtp_error, bytes) else str(error.smtp_error)
            raise DeliveryError(self._redacted(f"SMTP {error.smtp_code} {reply}"), permanent=error.smtp_code >= 500) from None
        except (smtplib.SMTPRecipientsRefused, smtplib.SMTPNotSupportedError) as error:
            raise DeliveryError(self._redacted(f"SMTP: {error}"), permanent=True) from None
        except (smtplib.SMTPException, OSError) as error:
            raise DeliveryError(self._redacted(f"SMTP {type(error).__name__}: {error}")) from None

    def _redacted(self, words: str) -> str:
        return redact(words, (self.password,))


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's signature of a robot request: base64 of HMAC-SHA256 keyed by the secret
    over "{timestamp}\\n{secret}" (timestamp in milliseconds). It goes in the query with the
    timestamp, URL-encoded (DingTalk custom robot, security setting "加签",
    https://open.dingtalk.com/document/group/custom-robot-access)."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _slack_escape(words: str) -> str:
    """Slack mrkdwn treats &, < and > as control characters (https://api.slack.com/reference/surfaces/formatting#escaping)."""
    return words.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack_sections(heading: str, lines: list[str]) -> list[dict]:
    """A heading and its lines as Slack section blocks of at most 3000 characters each."""
    blocks, chunk = [], f"*{_slack_escape(heading)}*"
    for line in lines:
        if len(chunk) + 1 + len(line) > SLACK_SECTION_CHARS:
            blocks.append(chunk)
            chunk = ""
        chunk = f"{chunk}\n{line}" if chunk else line
    blocks.append(chunk)
    return [{"type": "section", "text": {"type": "mrkdwn", "text": chunk[:SLACK_SECTION_CHARS]}} for chunk in blocks]


def _fit_bytes(words: str, limit: int) -> str:
    """`words` cut at a line end to at most `limit` UTF-8 bytes, "…" marking the cut."""
    if len(words.encode()) <= limit:
        return words
    kept = words.encode()[: limit - len("\n…".encode())].decode(errors="ignore")
    return kept.rpartition("\n")[0] + "\n…"


def webhook_body(kind: str, message: Message) -> dict:
    """The JSON body of a webhook of `kind`.

    - generic: {"title", "text" (plain text), "language", "alerts": [one object per alert:
      event, key, kind, metric, member, rule_id, value, reference, resolved_value, the days,
      its text and link]} for scripts and other systems.
    - wecom (企业微信 group robot, https://developer.work.weixin.qq.com/document/path/91770):
      {"msgtype": "markdown", "markdown": {"content": ...}}, content at most 4096 bytes.
    - dingtalk (custom robot, https://open.dingtalk.com/document/development/robot-message-type):
      {"msgtype": "markdown", "markdown": {"title": ..., "text": ...}}; the title is what the
      conversation list shows.
    - slack (incoming webhook, https://api.slack.com/messaging/webhooks): {"text": ...,
      "blocks": [...]}; with blocks, text is the notification's fallback; a header block and
      mrkdwn section blocks with <url|word> links.
    """
    link_word = text("alerts.open_link", message.language)
    if kind == GENERIC:
        return {"title": message.title, "text": plain_text(message), "language": message.language, "alerts": list(message.items)}
    if kind == WECOM:
        return {"msgtype": "markdown", "markdown": {"content": _fit_bytes(markdown(message, link_word=link_word), WECOM_MAX_BYTES)}}
    if kind == DINGTALK:
        return {"msgtype": "markdown", "markdown": {"title": message.title, "text": markdown(message, link_word=link_word)}}
    if kind == SLACK:
        blocks = [{"type": "header", "text": {"type": "plain_text", "text": message.title[:SLACK_HEADER_CHARS]}}]
        for heading, lines in message.sections:
            words = [f"• {_slack_escape(line.text)}" + (f" <{line.link}|{link_word}>" if line.link else "") for line in lines]
            blocks.extend(_slack_sections(heading, words))
        return {"text": message.title, "blocks": blocks}
    raise ValueError(f"unknown webhook kind {kind!r}: use one of {', '.join(WEBHOOK_KINDS)}")


@dataclass(frozen=True)
class WebhookTarget:
    """A webhook that takes a JSON POST: `kind` says the body's format (webhook_body). A
    DingTalk robot with a signing `secret` gets the timestamp and sign query parameters."""

    name: str
    kind: str
    url: str = field(repr=False)
    secret: str | None = field(default=None, repr=False)
    timeout: float = 10.0

    def describe(self, lang: str = "en") -> str:
        """The target without its secrets: its kind and the host of its URL."""
        return text("alerts.webhook_at", lang, kind=self.kind, host=urlsplit(self.url).hostname or "?")

    def request_url(self, timestamp_ms: int) -> str:
        """The URL to post to: for a signed DingTalk robot, with &timestamp=...&sign=..."""
        if self.kind != DINGTALK or not self.secret:
            return self.url
        query = urlencode({"timestamp": timestamp_ms, "sign": dingtalk_sign(self.secret, timestamp_ms)})
        return f"{self.url}{'&' if urlsplit(self.url).query else '?'}{query}"

    def send(self, message: Message) -> None:
        body = json.dumps(webhook_body(self.kind, message), ensure_ascii=False).encode()
        request = urllib.request.Request(
            self.request_url(int(time.time() * 1000)), data=body, method="POST",
            headers={"Content-Type": "application/json; charset=utf-8"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                reply = response.read().decode(errors="replace")
        except urllib.error.HTTPError as error:
            # 4xx but a timeout or too many requests: the request itself is wrong, do not repeat it
            permanent = 400 <= error.code < 500 and error.code not in (408, 429)
            raise DeliveryError(self._redacted(f"HTTP {error.code} {error.reason}"), permanent=permanent) from None
        except (urllib.error.URLError, OSError, ValueError) as error:
            raise DeliveryError(self._redacted(f"{type(error).__name__}: {getattr(error, 'reason', error)}")) from None
        self._check_reply(reply)

    def _check_reply(self, reply: str) -> None:
        """WeCom and DingTalk answer HTTP 200 with {"errcode": 0, "errmsg": "ok"} on success
        and a non-zero errcode when they refuse the message."""
        if self.kind not in (WECOM, DINGTALK):
            return
        try:
            answer = json.loads(reply)
        except ValueError:
            raise DeliveryError(f"{self.kind} answered something that is not JSON: {reply[:200]!r}") from None
        if answer.get("errcode") != 0:
            raise DeliveryError(self._redacted(f"{self.kind} error {answer.get('errcode')}: {answer.get('errmsg')}"))

    def _redacted(self, words: str) -> str:
        query = urlsplit(self.url).query
        return redact(words, (self.url, query, self.secret))


Target = EmailTarget | WebhookTarget


@dataclass(frozen=True)
class Retry:
    """At most `attempts` tries per send, waiting `first_wait` seconds after the first
    failure and twice as long after each next one."""

    attempts: int = 4
    first_wait: float = 30.0

    def wait(self, failures: int) -> float:
        return self.first_wait * 2 ** (failures - 1)

    def capped(self, first_wait: float) -> "Retry":
        """The same attempts with the first wait at most `first_wait` (someone is waiting)."""
        return Retry(self.attempts, min(self.first_wait, first_wait))


@dataclass(frozen=True)
class Delivery:
    delivered: bool
    attempts: int
    error: str | None = None


def deliver(target: Target, message: Message, retry: Retry = Retry(), *, sleep: Callable[[float], None] = time.sleep) -> Delivery:
    """Send `message` to `target`, trying again after back-off waits (`sleep`) until it
    arrives, a permanent error, or `retry.attempts` tries; the last error is returned."""
    for attempt in range(1, retry.attempts + 1):
        try:
            target.send(message)
            return Delivery(True, attempt)
        except DeliveryError as error:
            if error.permanent or attempt == retry.attempts:
                return Delivery(False, attempt, str(error))
            sleep(retry.wait(attempt))
    raise ValueError("a retry needs at least one attempt")
