"""Delivering a message: e-mail over SMTP and webhooks (a generic JSON body, WeCom, DingTalk,
Slack and Feishu / Lark), each send retried with exponential back-off and its outcome kept.

Every wait on the network is bounded by the target's `timeout`. A send ends in one of three
outcomes: delivered; failed (nothing arrived, or the service refused it: trying again is
safe); or unknown, when the request was sent whole and the answer did not come in time (or
the connection broke while waiting for it). An unknown send may well have arrived, so it is
not tried again blindly: `deliver` stops there and says so.

Each message carries an idempotency key where the target can use one: the generic webhook as
the `Idempotency-Key` header, e-mail as its Message-ID (the same message sent again is the
same mail to a receiving server); the chat robots have no such field.

Secrets (the SMTP password, a webhook's URL, whose query or path carries its key, and a
signing secret) are fields hidden from repr, and every error text passes through `redact`
before it is raised, so that no error path (an HTTP status, a robot's error, a proxy's page
echoing the URL, a socket error) can carry them to a page, a log, the database or stderr;
`describe()` names a target without them.
"""

import base64
import hashlib
import hmac
import html
import http.client
import json
import re
import smtplib
import ssl
import time
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from email.message import EmailMessage
from email.utils import formatdate
from urllib.parse import quote, unquote, urlencode, urlsplit

from shop_analytics.alerts.messages import Message, markdown, plain_text
from shop_analytics.i18n import text

EMAIL = "email"
GENERIC, WECOM, DINGTALK, SLACK, FEISHU = "generic", "wecom", "dingtalk", "slack", "feishu"
WEBHOOK_KINDS = (GENERIC, WECOM, DINGTALK, SLACK, FEISHU)
SIGNING_KINDS = (DINGTALK, FEISHU)
# Targets that can carry a file: e-mail as an attachment, a WeCom robot as a file message
# (upload_media, https://developer.work.weixin.qq.com/document/path/91770#文件上传接口, at most
# 20 MB); the others get a link to the report.
FILE_KINDS = (EMAIL, WECOM)
WECOM_FILE_BYTES = 20 * 1024 * 1024
SMTP_SECURITY = ("starttls", "ssl", "none")
# Documented limits: WeCom robot markdown content at most 4096 bytes; Slack section text at
# most 3000 characters, header text at most 150.
WECOM_MAX_BYTES = 4096
SLACK_SECTION_CHARS = 3000
SLACK_HEADER_CHARS = 150
REDACTED = "***"
# How much of an unexpected answer an error quotes (after redaction).
QUOTED_REPLY_CHARS = 200
# A webhook answer is small; a larger one is read no further.
REPLY_BYTES = 64 * 1024
# A URL path segment this long, or with a digit and at least TOKEN_WITH_DIGIT characters,
# is taken for a token (Slack's /services/T.../B.../XXXX, Feishu's /hook/<uuid>).
TOKEN_LENGTH, TOKEN_WITH_DIGIT = 20, 8
SENT, FAILED, UNKNOWN = "sent", "failed", "unknown"


class DeliveryError(Exception):
    """A send that did not arrive; `permanent` when trying again cannot help (a rejected
    address, refused credentials, a request the service calls malformed)."""

    def __init__(self, reason: str, *, permanent: bool = False):
        super().__init__(reason)
        self.permanent = permanent


class DeliveryUnknown(DeliveryError):
    """A send whose request went out whole but whose answer never came in time: it may have
    arrived. Not retried blindly."""


def redact(words: str, secrets: tuple[str | None, ...]) -> str:
    """`words` with every secret in it replaced by ***: as written, and as a URL or an HTML
    page may echo it (percent-encoded, decoded, HTML-escaped). The one redaction every error
    text goes through."""
    variants = set()
    for secret in secrets:
        if secret:
            variants |= {secret, quote(secret, safe=""), quote(secret, safe="/:?=&"), unquote(secret), html.escape(secret)}
    for variant in sorted((variant for variant in variants if variant), key=len, reverse=True):
        words = words.replace(variant, REDACTED)
    return words


def url_secrets(url: str) -> tuple[str, ...]:
    """The parts of a webhook URL that act as its key: the URL itself, its query, each query
    value and each path segment that looks like a token."""
    parts = urlsplit(url)
    values = [value for pair in parts.query.split("&") for value in [pair.partition("=")[2]] if value]
    tokens = [segment for segment in parts.path.split("/")
              if len(segment) >= TOKEN_LENGTH or (len(segment) >= TOKEN_WITH_DIGIT and any(ch.isdigit() for ch in segment))]
    return (url, parts.query, *values, *tokens)


def message_key(*parts: object) -> str:
    """An idempotency key: the same parts give the same key (so a message sent again is
    recognisably the same), different ones a different key."""
    return hashlib.sha256("\x1f".join(str(part) for part in parts).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Attachment:
    """A file sent with a message."""

    name: str
    content_type: str
    content: bytes = field(repr=False)


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

    def email(self, message: Message, key: str | None = None, attachments: tuple[Attachment, ...] = ()) -> EmailMessage:
        """The e-mail: the message's title as subject, its plain text as body (UTF-8), the
        files attached; its Message-ID made from `key` when there is one."""
        email = EmailMessage()
        email["Subject"] = message.title
        email["From"] = self.sender
        email["To"] = ", ".join(self.recipients)
        email["Date"] = formatdate(localtime=False)
        domain = self.sender.rpartition("@")[2] or "shop-analytics.invalid"
        email["Message-ID"] = f"<{key or uuid.uuid4().hex}@{domain}>"
        email.set_content(plain_text(message))
        for attachment in attachments:
            main, _, sub = attachment.content_type.partition("/")
            email.add_attachment(attachment.content, maintype=main, subtype=sub, filename=attachment.name)
        return email

    def _connect(self) -> smtplib.SMTP:
        context = ssl.create_default_context(cafile=self.ca_file)
        if self.security == "ssl":
            return smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        if self.security == "starttls":
            smtp.starttls(context=context)
        return smtp

    def send(self, message: Message, key: str | None = None, attachments: tuple[Attachment, ...] = ()) -> None:
        email = self.email(message, key, attachments)
        content = email.as_bytes(policy=email.policy.clone(linesep="\r\n"))
        try:
            with self._connect() as smtp:
                if self.user:
                    smtp.login(self.user, self.password or "")
                self._hand_over(smtp, content)
        except DeliveryError:
            raise
        except smtplib.SMTPResponseException as error:
            reply = error.smtp_error.decode(errors="replace") if isinstance(error.smtp_error, bytes) else str(error.smtp_error)
            raise DeliveryError(self._redacted(f"SMTP {error.smtp_code} {reply}"), permanent=error.smtp_code >= 500) from None
        except (smtplib.SMTPRecipientsRefused, smtplib.SMTPNotSupportedError) as error:
            raise DeliveryError(self._redacted(f"SMTP: {error}"), permanent=True) from None
        except (smtplib.SMTPException, OSError) as error:
            raise DeliveryError(self._redacted(f"SMTP {type(error).__name__}: {error}")) from None

    def _hand_over(self, smtp: smtplib.SMTP, content: bytes) -> None:
        """MAIL, RCPT and DATA, the last step by hand: once the message's final dot is sent,
        a lost or late answer leaves the outcome unknown (the server may have queued it)."""
        smtp.ehlo_or_helo_if_needed()
        code, reply = smtp.mail(self.sender)
        if code != 250:
            raise smtplib.SMTPSenderRefused(code, reply, self.sender)
        refused = {}
        for recipient in self.recipients:
            code, reply = smtp.rcpt(recipient)
            if code not in (250, 251):
                refused[recipient] = (code, reply)
        if len(refused) == len(self.recipients):
            raise smtplib.SMTPRecipientsRefused(refused)
        smtp.putcmd("data")
        code, reply = smtp.getreply()
        if code != 354:
            raise smtplib.SMTPDataError(code, reply)
        stuffed = re.sub(rb"(?m)^\.", b"..", content)
        smtp.send(stuffed + (b"" if stuffed.endswith(b"\r\n") else b"\r\n") + b".\r\n")
        try:
            code, reply = smtp.getreply()
        except smtplib.SMTPServerDisconnected as error:
            raise DeliveryUnknown(self._redacted(
                f"the SMTP server took the message but did not confirm it within {self.timeout:g} s ({error}); it may have arrived"
            )) from None
        if code != 250:
            raise smtplib.SMTPDataError(code, reply)
        if refused:
            raise DeliveryError(self._redacted(f"SMTP refused {', '.join(refused)}: {refused}"), permanent=True)

    def _redacted(self, words: str) -> str:
        return redact(words, (self.password,))


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's signature of a robot request: base64 of HMAC-SHA256 keyed by the secret
    over "{timestamp}\\n{secret}" (timestamp in milliseconds). It goes in the query with the
    timestamp, URL-encoded (DingTalk custom robot, security setting "加签",
    https://open.dingtalk.com/document/group/custom-robot-access)."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def feishu_sign(secret: str, timestamp_s: int) -> str:
    """Feishu / Lark's signature of a custom bot request: "{timestamp}\\n{secret}" (timestamp
    in seconds) is the HMAC-SHA256 key, over an empty message, base64-encoded; the timestamp
    (a string) and the sign go into the JSON body (Feishu custom bot, "签名校验",
    https://open.feishu.cn/document/client-docs/bot-v3/add-custom-bot)."""
    digest = hmac.new(f"{timestamp_s}\n{secret}".encode(), b"", hashlib.sha256).digest()
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


def _feishu_post(message: Message, link_word: str) -> dict:
    """A Feishu rich-text ("post") message: a title and one paragraph per line, links as
    "a" elements (https://open.feishu.cn/document/client-docs/bot-v3/add-custom-bot, 发送富文本消息)."""
    paragraphs = []
    for heading, lines in message.sections:
        paragraphs.append([{"tag": "text", "text": heading}])
        for line in lines:
            paragraph = [{"tag": "text", "text": f"• {line.text}"}]
            if line.link:
                paragraph.append({"tag": "a", "text": f" {link_word}", "href": line.link})
            paragraphs.append(paragraph)
    language = "zh_cn" if message.language == "zh" else "en_us"
    return {"msg_type": "post", "content": {"post": {language: {"title": message.title, "content": paragraphs}}}}


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
    - feishu (Feishu / Lark custom bot): {"msg_type": "post", "content": {"post": ...}}; a
      signed bot's timestamp and sign are added when sending.
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
    if kind == FEISHU:
        return _feishu_post(message, link_word)
    raise ValueError(f"unknown webhook kind {kind!r}: use one of {', '.join(WEBHOOK_KINDS)}")


def _multipart(field_name: str, attachment: Attachment) -> tuple[bytes, str]:
    """A multipart/form-data body holding one file, and its content type."""
    boundary = uuid.uuid4().hex
    name = attachment.name.replace('"', "")
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="{field_name}"; filename="{name}"; '
            f"filelength={len(attachment.content)}\r\nContent-Type: application/octet-stream\r\n\r\n").encode()
    return head + attachment.content + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


@dataclass(frozen=True)
class WebhookTarget:
    """A webhook that takes a JSON POST: `kind` says the body's format (webhook_body). A
    DingTalk robot with a signing `secret` gets the timestamp and sign query parameters, a
    Feishu bot the timestamp and sign body fields."""

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

    def body(self, message: Message, now: float) -> dict:
        """The JSON body (webhook_body), signed for a Feishu bot with a secret."""
        body = webhook_body(self.kind, message)
        if self.kind == FEISHU and self.secret:
            timestamp = int(now)
            body = {"timestamp": str(timestamp), "sign": feishu_sign(self.secret, timestamp), **body}
        return body

    def send(self, message: Message, key: str | None = None, attachments: tuple[Attachment, ...] = ()) -> None:
        """Post the message (a WeCom robot gets each attachment as a file message after it)."""
        now = time.time()
        headers = {"Content-Type": "application/json; charset=utf-8"}
        if key and self.kind == GENERIC:
            headers["Idempotency-Key"] = key
        body = json.dumps(self.body(message, now), ensure_ascii=False).encode()
        self._check_reply(self._post(self.request_url(int(now * 1000)), body, headers))
        if self.kind == WECOM:
            for attachment in attachments:
                self.send_file(attachment)

    def send_file(self, attachment: Attachment) -> None:
        """A WeCom robot's file message: the file uploaded (upload_media, same key), then
        posted by its media_id."""
        if self.kind != WECOM:
            raise ValueError(f"a {self.kind} webhook cannot carry a file: send a link")
        if len(attachment.content) > WECOM_FILE_BYTES:
            raise DeliveryError(f"{attachment.name} is larger than WeCom's 20 MB for a file", permanent=True)
        target = urlsplit(self.url)
        upload_url = target._replace(path=target.path.rsplit("/", 1)[0] + "/upload_media", query=f"{target.query}&type=file").geturl()
        body, content_type = _multipart("media", attachment)
        answer = self._check_reply(self._post(upload_url, body, {"Content-Type": content_type}))
        media = answer.get("media_id")
        if not media:
            raise DeliveryError(self._redacted(f"wecom upload answered without a media_id: {json.dumps(answer)[:QUOTED_REPLY_CHARS]}"))
        file_message = json.dumps({"msgtype": "file", "file": {"media_id": media}}).encode()
        self._check_reply(self._post(self.url, file_message, {"Content-Type": "application/json; charset=utf-8"}))

    def _connection(self, url: str) -> tuple[http.client.HTTPConnection, str, dict[str, str]]:
        """A connection for `url` (through the environment's proxy, as urllib would use it),
        the request target to send on it and the proxy's headers."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise DeliveryError(self._redacted(f"{url} is not an http:// or https:// address"), permanent=True)
        secure = parts.scheme == "https"
        port = parts.port or (443 if secure else 80)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        proxy = urllib.request.getproxies().get(parts.scheme)
        if proxy and not urllib.request.proxy_bypass(parts.hostname):
            through = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
            if not through.hostname:
                raise DeliveryError(
                    f"the {parts.scheme} proxy setting names no host; set it as http://HOST:PORT or unset it",
                    permanent=True)
            credentials = {}
            if through.username:
                token = base64.b64encode(f"{unquote(through.username)}:{unquote(through.password or '')}".encode()).decode()
                credentials = {"Proxy-Authorization": f"Basic {token}"}
            if secure:
                connection: http.client.HTTPConnection = http.client.HTTPSConnection(
                    through.hostname, through.port or 80, timeout=self.timeout, context=ssl.create_default_context())
                connection.set_tunnel(parts.hostname, port, headers=credentials)
                return connection, path, {}
            return http.client.HTTPConnection(through.hostname, through.port or 80, timeout=self.timeout), url, credentials
        if secure:
            return http.client.HTTPSConnection(parts.hostname, port, timeout=self.timeout, context=ssl.create_default_context()), path, {}
        return http.client.HTTPConnection(parts.hostname, port, timeout=self.timeout), path, {}

    def _post(self, url: str, body: bytes, headers: dict[str, str]) -> str:
        """POST `body`; the answer's text. Connecting or sending that fails is a failure
        (retried); a request sent whole whose answer is late or cut is unknown."""
        connection, target, proxy_headers = self._connection(url)
        headers = {**headers, **proxy_headers}
        try:
            try:
                connection.connect()
                connection.request("POST", target, body=body, headers=headers)
            except (OSError, http.client.HTTPException) as error:
                raise DeliveryError(self._redacted(f"{type(error).__name__}: {error}")) from None
            try:
                response = connection.getresponse()
                reply = response.read(REPLY_BYTES).decode(errors="replace")
            except (OSError, http.client.HTTPException) as error:
                raise DeliveryUnknown(self._redacted(
                    f"{self.kind} took the request but did not answer within {self.timeout:g} s ({type(error).__name__}); it may have arrived"
                )) from None
        finally:
            connection.close()
        if response.status >= 300:
            # 4xx but a timeout or too many requests: the request itself is wrong, do not repeat it
            permanent = 400 <= response.status < 500 and response.status not in (408, 429)
            raise DeliveryError(self._redacted(f"HTTP {response.status} {response.reason}"), permanent=permanent)
        return reply

    def _check_reply(self, reply: str) -> dict:
        """WeCom and DingTalk answer HTTP 200 with {"errcode": 0, "errmsg": "ok"} on success,
        Feishu with {"code": 0, ...} (older bots {"StatusCode": 0}), and a non-zero code when
        they refuse the message. An answer that is not JSON (a proxy's page, which may echo
        the URL) is quoted redacted. The answer as a dict ({} for the others)."""
        if self.kind not in (WECOM, DINGTALK, FEISHU):
            return {}
        try:
            answer = json.loads(reply)
            if not isinstance(answer, dict):
                raise ValueError("not an object")
        except ValueError:
            raise DeliveryError(self._redacted(f"{self.kind} answered something that is not JSON: {reply[:QUOTED_REPLY_CHARS]!r}")) from None
        if self.kind == FEISHU:
            code = answer.get("code", answer.get("StatusCode"))
            if code != 0:
                raise DeliveryError(self._redacted(f"feishu error {code}: {answer.get('msg', answer.get('StatusMessage'))}"))
        elif answer.get("errcode") != 0:
            raise DeliveryError(self._redacted(f"{self.kind} error {answer.get('errcode')}: {answer.get('errmsg')}"))
        return answer

    def _redacted(self, words: str) -> str:
        return redact(words, (*url_secrets(self.url), self.secret))


Target = EmailTarget | WebhookTarget


def can_attach(target: Target) -> bool:
    """Whether the target takes the report's files (else it gets a link)."""
    return target.kind in FILE_KINDS


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
    """A send's outcome: delivered, or not with the last error (`permanent` when trying
    again cannot help); `unknown` when the last attempt's answer never came (it may have
    arrived)."""

    delivered: bool
    attempts: int
    error: str | None = None
    unknown: bool = False
    permanent: bool = False

    @property
    def status(self) -> str:
        return SENT if self.delivered else UNKNOWN if self.unknown else FAILED


def attempt(send: Callable[[], None]) -> Delivery:
    """One try of `send` (a target's send or send_file): delivered, failed or unknown."""
    try:
        send()
    except DeliveryUnknown as error:
        return Delivery(False, 1, str(error), unknown=True)
    except DeliveryError as error:
        return Delivery(False, 1, str(error), permanent=error.permanent)
    return Delivery(True, 1)


def deliver(
    target: Target,
    message: Message,
    retry: Retry = Retry(),
    *,
    sleep: Callable[[float], None] = time.sleep,
    key: str | None = None,
    attachments: tuple[Attachment, ...] = (),
) -> Delivery:
    """Send `message` to `target`, trying again after back-off waits (`sleep`) until it
    arrives, a permanent error, an unknown outcome (not repeated: it may have arrived), or
    `retry.attempts` tries; the last error is returned."""
    for number in range(1, retry.attempts + 1):
        outcome = attempt(lambda: target.send(message, key, attachments))
        if outcome.delivered or outcome.unknown or outcome.permanent or number == retry.attempts:
            return replace(outcome, attempts=number)
        sleep(retry.wait(number))
    raise ValueError("a retry needs at least one attempt")
