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
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from metrics.anomalies import AnomalySettings
from shop_analytics.alerts.notify import DINGTALK, EMAIL, EmailTarget, Retry, Target, WebhookTarget
from shop_analytics.config import PROJECT, SECRETS_FILE, AlertsSection, AppConfig, ConfigError, Settings, SmtpSection, WebhookSection, validated_section

__all__ = ["PROJECT", "SECRETS_FILE", "AlertConfig", "AlertConfigError", "alert_config", "alert_config_of"]

SIGNING_KINDS = (DINGTALK, "feishu")


class AlertConfigError(ConfigError):
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


def _secret(value: str | None, variable: str | None, key: str, where: str, environ: Mapping[str, str]) -> str | None:
    """The secret itself, or the value of the environment variable that holds it."""
    if variable is None:
        return value
    if variable not in environ:
        raise AlertConfigError(f"{where} takes its {key} from the environment variable {variable}, which is not set")
    return environ[variable]


def _email(smtp: SmtpSection, timeout: float, environ: Mapping[str, str]) -> EmailTarget:
    where = "[alerts.smtp]"
    password = _secret(smtp.password, smtp.password_env, "password", where, environ)
    if smtp.user is not None and password is None:
        raise AlertConfigError(f"{where} needs password (or password_env, the name of an environment variable holding it) for user {smtp.user}")
    return EmailTarget(
        host=smtp.host, port=smtp.port or {"ssl": 465, "starttls": 587, "none": 25}[smtp.tls],
        sender=smtp.sender, recipients=smtp.to, security=smtp.tls, user=smtp.user, password=password,
        ca_file=smtp.ca_file, timeout=timeout, name=smtp.name or EMAIL,
    )


def _webhook(webhook: WebhookSection, number: int, timeout: float, environ: Mapping[str, str]) -> WebhookTarget:
    where = f"[[alerts.webhooks]] number {number}"
    url = _secret(webhook.url, webhook.url_env, "url", where, environ)
    if url is None or not url.startswith(("http://", "https://")):
        raise AlertConfigError(f"url in {where} must start with http:// or https://")
    secret = _secret(webhook.secret, webhook.secret_env, "secret", where, environ)
    return WebhookTarget(name=webhook.name or f"{webhook.kind}-{number}", kind=webhook.kind, url=url, secret=secret, timeout=timeout)


def alert_config(
    values: AlertsSection | Mapping | None,
    settings: Settings,
    *,
    environ: Mapping[str, str] = os.environ,
    with_targets: bool = True,
) -> AlertConfig:
    """The alert settings from the `[alerts]` table (None or empty: every default, no
    notification targets) and the deployment's `[settings]`. `with_targets` False leaves the
    targets out, so that listing alerts needs no SMTP password or webhook URL."""
    if isinstance(values, AlertsSection):
        section = values
    else:
        try:
            section = validated_section(AlertsSection, dict(values or {}), "alerts")
        except ConfigError as error:
            raise AlertConfigError(str(error)) from None
    targets: list[Target] = []
    if with_targets:
        if section.smtp is not None:
            targets.append(_email(section.smtp, section.timeout_seconds, environ))
        targets += [_webhook(webhook, number, section.timeout_seconds, environ) for number, webhook in enumerate(section.webhooks, start=1)]
    names = [target.name for target in targets]
    if len(set(names)) != len(names):
        raise AlertConfigError(f"notification targets need different names, not {', '.join(names)}")
    return AlertConfig(
        database=section.database_path,
        language=section.language or settings.language,
        currency=settings.currency,
        time_zone=settings.time_zone,
        app_url=section.app_url,
        anomaly=AnomalySettings(window=section.anomaly_window_days, threshold=section.anomaly_threshold, holidays=tuple(section.holidays)),
        retry=Retry(attempts=section.send_attempts, first_wait=float(section.retry_seconds)),
        targets=tuple(targets),
    )


def alert_config_of(config: AppConfig, *, environ: Mapping[str, str] = os.environ, with_targets: bool = True) -> AlertConfig:
    """The alert settings of the configuration."""
    return alert_config(config.alerts, config.settings, environ=environ, with_targets=with_targets)
