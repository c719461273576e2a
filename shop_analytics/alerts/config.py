"""The `[alerts]` settings of .streamlit/secrets.toml, checked once with a message that says
what is wrong and how to fix it (see .streamlit/secrets.toml.example).

    [alerts]
    database = ".alerts/alerts.db"   # relative to the project folder
    language = "zh"                   # default: [settings] language
    app_url = "https://shop-analytics.example.com"   # links in messages (optional)
    anomaly_window_days = 28
    anomaly_threshold = 3.5
    holidays = ["2026-10-01"]         # compared with past campaign days
    send_attempts = 4                 # tries per send
    retry_seconds = 30                # first back-off wait, doubled after each failure

    [alerts.smtp]
    host = "smtp.example.com"
    port = 587
    tls = "starttls"                  # "starttls", "ssl" or "none"
    user = "alerts@example.com"
    password_env = "ALERTS_SMTP_PASSWORD"   # or password = "..."
    from = "alerts@example.com"
    to = ["ops@example.com"]

    [[alerts.webhooks]]
    name = "ops-group"
    kind = "wecom"                    # "generic", "wecom", "dingtalk" or "slack"
    url_env = "ALERTS_WECOM_URL"      # or url = "..."; a DingTalk robot may add secret_env
"""

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from shop_analytics.alerts.evaluate import AnomalySettings
from shop_analytics.alerts.notify import (
    DINGTALK,
    EMAIL,
    SMTP_SECURITY,
    WEBHOOK_KINDS,
    EmailTarget,
    Retry,
    Target,
    WebhookTarget,
)
from shop_analytics.i18n import check_language
from shop_analytics.settings import Settings

PROJECT = Path(__file__).resolve().parents[2]
SECRETS_FILE = PROJECT / ".streamlit" / "secrets.toml"
DEFAULT_DATABASE = ".alerts/alerts.db"
DEFAULT_TIMEOUT_SECONDS = 10.0
TOP_KEYS = (
    "database", "language", "app_url", "anomaly_window_days", "anomaly_threshold", "holidays",
    "send_attempts", "retry_seconds", "timeout_seconds", "smtp", "webhooks",
)
SMTP_KEYS = ("name", "host", "port", "tls", "user", "password", "password_env", "from", "to", "ca_file")
WEBHOOK_KEYS = ("name", "kind", "url", "url_env", "secret", "secret_env")


class AlertConfigError(ValueError):
    """The alert settings are wrong; the message says where and how to fix it."""


@dataclass(frozen=True)
class AlertConfig:
    """Where alerts are kept, how they are worded and judged, and where they are sent."""

    database: Path
    language: str
    currency: str
    time_zone: str
    app_url: str | None = None
    anomaly: AnomalySettings = field(default_factory=AnomalySettings)
    retry: Retry = field(default_factory=Retry)
    targets: tuple[Target, ...] = ()

    def target(self, name: str) -> Target:
        for target in self.targets:
            if target.name == name:
                return target
        raise KeyError(f"no notification target named {name!r}")


def plain(values):
    """Streamlit's secrets (read-only mappings) as plain dicts and lists."""
    if isinstance(values, Mapping):
        return {key: plain(value) for key, value in values.items()}
    if isinstance(values, list | tuple):
        return [plain(value) for value in values]
    return values


def read_secrets(path: str | Path = SECRETS_FILE) -> dict:
    """The secrets file as a dict; {} when it does not exist (the defaults: sample shop, no targets)."""
    path = Path(path)
    if not path.exists():
        return {}
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except tomllib.TOMLDecodeError as error:
        raise AlertConfigError(f"{path} is not valid TOML: {error}") from None


def _unknown(values: dict, known: tuple[str, ...], where: str) -> None:
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise AlertConfigError(f"unknown key(s) {', '.join(unknown)} in {where}; known: {', '.join(known)}")


def _number(values: dict, key: str, default: float, where: str, *, whole: bool = False, minimum: float = 0) -> float:
    value = values.get(key, default)
    kinds = int if whole else int | float
    if isinstance(value, bool) or not isinstance(value, kinds) or value < minimum:
        kind = "a whole number" if whole else "a number"
        raise AlertConfigError(f"{key} in {where} must be {kind} of at least {minimum:g}, not {value!r}")
    return value


def _text(values: dict, key: str, where: str, *, required: bool = False) -> str | None:
    value = values.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise AlertConfigError(f"{where} needs {key} as text" + ("" if value is None else f", not {value!r}"))
    return value


def _secret(values: dict, key: str, where: str, environ: Mapping[str, str], *, required: bool = False) -> str | None:
    """`key` itself, or the environment variable named by `key`_env (never both)."""
    named = f"{key}_env"
    if key in values and named in values:
        raise AlertConfigError(f"{where} sets both {key} and {named}: keep one")
    if named in values:
        variable = _text(values, named, where)
        if variable not in environ:
            raise AlertConfigError(f"{where} takes its {key} from the environment variable {variable}, which is not set")
        return environ[variable]
    if required and key not in values:
        raise AlertConfigError(f"{where} needs {key} (or {named}, the name of an environment variable holding it)")
    return _text(values, key, where)


def _email(values: dict, timeout: float, environ: Mapping[str, str]) -> EmailTarget:
    where = "[alerts.smtp]"
    _unknown(values, SMTP_KEYS, where)
    security = values.get("tls", "starttls")
    if security not in SMTP_SECURITY:
        raise AlertConfigError(f"tls in {where} must be one of {', '.join(SMTP_SECURITY)}, not {security!r}")
    recipients = values.get("to")
    recipients = [recipients] if isinstance(recipients, str) else recipients
    if not recipients or not all(isinstance(address, str) and "@" in address for address in recipients):
        raise AlertConfigError(f"{where} needs to = an e-mail address or a list of them")
    sender = _text(values, "from", where, required=True)
    user = _text(values, "user", where)
    password = _secret(values, "password", where, environ, required=user is not None)
    return EmailTarget(
        host=_text(values, "host", where, required=True),
        port=int(_number(values, "port", {"ssl": 465, "starttls": 587, "none": 25}[security], where, whole=True, minimum=1)),
        sender=sender, recipients=tuple(recipients), security=security, user=user, password=password,
        ca_file=_text(values, "ca_file", where), timeout=timeout, name=_text(values, "name", where) or EMAIL,
    )


def _webhook(values: dict, number: int, timeout: float, environ: Mapping[str, str]) -> WebhookTarget:
    where = f"[[alerts.webhooks]] number {number}"
    if not isinstance(values, dict):
        raise AlertConfigError(f"{where} must be a table with kind and url")
    _unknown(values, WEBHOOK_KEYS, where)
    kind = values.get("kind")
    if kind not in WEBHOOK_KINDS:
        raise AlertConfigError(f"kind in {where} must be one of {', '.join(WEBHOOK_KINDS)}, not {kind!r}")
    url = _secret(values, "url", where, environ, required=True)
    if not url.startswith(("http://", "https://")):
        raise AlertConfigError(f"url in {where} must start with http:// or https://")
    secret = _secret(values, "secret", where, environ)
    if secret is not None and kind != DINGTALK:
        raise AlertConfigError(f"{where}: only a dingtalk robot takes a signing secret")
    return WebhookTarget(name=_text(values, "name", where) or f"{kind}-{number}", kind=kind, url=url, secret=secret, timeout=timeout)


def _holidays(values: dict) -> tuple[date, ...]:
    days = values.get("holidays", [])
    try:
        return tuple(day if isinstance(day, date) else date.fromisoformat(day) for day in days)
    except (TypeError, ValueError):
        raise AlertConfigError(f"holidays in [alerts] must be a list of dates like \"2026-10-01\", not {days!r}") from None


def alert_config(values: Mapping | None, settings: Settings, *, environ: Mapping[str, str] = os.environ) -> AlertConfig:
    """The alert settings from the `[alerts]` table (None or empty: every default, no
    notification targets) and the deployment's `[settings]`."""
    values = plain(values or {})
    where = "[alerts]"
    _unknown(values, TOP_KEYS, where)
    database = Path(_text(values, "database", where) or DEFAULT_DATABASE)
    language = values.get("language", settings.language)
    try:
        check_language(language)
    except ValueError as error:
        raise AlertConfigError(f"language in {where}: {error}") from None
    timeout = float(_number(values, "timeout_seconds", DEFAULT_TIMEOUT_SECONDS, where, minimum=0.1))
    webhooks = values.get("webhooks", [])
    if not isinstance(webhooks, list):
        raise AlertConfigError("webhooks go in [[alerts.webhooks]] tables, one per webhook")
    targets = [_email(values["smtp"], timeout, environ)] if "smtp" in values else []
    targets += [_webhook(webhook, number, timeout, environ) for number, webhook in enumerate(webhooks, start=1)]
    names = [target.name for target in targets]
    if len(set(names)) != len(names):
        raise AlertConfigError(f"notification targets need different names, not {', '.join(names)}")
    app_url = _text(values, "app_url", where)
    if app_url is not None and not app_url.startswith(("http://", "https://")):
        raise AlertConfigError(f"app_url in {where} must start with http:// or https://")
    return AlertConfig(
        database=database if database.is_absolute() else PROJECT / database,
        language=language,
        currency=settings.currency,
        time_zone=settings.time_zone,
        app_url=app_url,
        anomaly=AnomalySettings(
            window=int(_number(values, "anomaly_window_days", AnomalySettings.window, where, whole=True, minimum=1)),
            threshold=float(_number(values, "anomaly_threshold", AnomalySettings.threshold, where, minimum=0)),
            holidays=_holidays(values),
        ),
        retry=Retry(
            attempts=int(_number(values, "send_attempts", Retry.attempts, where, whole=True, minimum=1)),
            first_wait=float(_number(values, "retry_seconds", Retry.first_wait, where, minimum=0)),
        ),
        targets=tuple(targets),
    )
