"""The one configuration: `.streamlit/secrets.toml`, read once into an immutable, hashable
`AppConfig` that the dashboard, every CLI command, alerts, reports, the scheduler and the API
all take (see .streamlit/secrets.toml.example for every key).

Each section is one pydantic model that refuses unknown keys; a mistake is reported as a
`ConfigError` naming the section, the key, the value and the fix. The environment variables
the file names (`password_env`, `url_env`, `secret_env`) are read where the secret is used,
so that a secret is never part of a message, a log or a cache key.

`AppConfig.fingerprint` is the cache key of everything computed from it: a changed setting
gives a new fingerprint, so every cached result depending on it is computed again on the
next run; `AppConfig.shop_fingerprint` covers only what the loaded shop depends on (the
source, the session gap and the business zone), so changing the margin recomputes the
tables without reading the database again.
"""

import hashlib
import json
import os
import tomllib
from collections.abc import Mapping
from datetime import date, time, timedelta
from pathlib import Path
from typing import Any, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from metrics.gmv_basis import DEFAULT_CODE as DEFAULT_GMV_BASIS
from metrics.gmv_basis import GmvBasis
from shop_analytics.i18n import DEFAULT_LANGUAGE, LANGUAGES

PROJECT = Path(__file__).resolve().parents[1]
SECRETS_FILE = PROJECT / ".streamlit" / "secrets.toml"
SECRETS_ENV = "SHOP_ANALYTICS_SECRETS"
"""An environment variable naming another secrets file (for cron and services)."""


SectionModel = TypeVar("SectionModel", bound=BaseModel)


class ConfigError(ValueError):
    """The configuration is wrong; the message names the key, the value and the fix."""


class _Section(BaseModel):
    """A section of secrets.toml: immutable, unknown keys refused."""

    model_config = ConfigDict(frozen=True, extra="forbid")


def check_time_zone(name: str) -> str:
    """`name` if it is an IANA time zone, else ValueError saying so."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}: use an IANA name like Asia/Shanghai") from None
    return name


class Settings(_Section):
    """`[settings]`: what a deployment sets once; every field has the SPEC's default."""

    time_zone: str = "Asia/Shanghai"
    currency: str = "¥"
    session_gap_minutes: int = Field(30, gt=0)
    cpc_target: float = Field(1.0, ge=0)
    roi_target: float = 0.05
    default_margin: float = Field(0.30, ge=0, le=1)
    language: str = DEFAULT_LANGUAGE
    ltv_horizon_days: int = Field(365, gt=0)
    attribution_lookback_days: int = Field(30, gt=0)
    target_margin: float = Field(0.10, ge=0, lt=1)
    gmv_basis: str = DEFAULT_GMV_BASIS

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return check_time_zone(value)

    @field_validator("language")
    @classmethod
    def _language(cls, value: str) -> str:
        if value not in LANGUAGES:
            raise ValueError(f"use one of {', '.join(LANGUAGES)}")
        return value

    @field_validator("gmv_basis")
    @classmethod
    def _gmv_basis(cls, value: str) -> str:
        return GmvBasis.from_code(value).code

    @property
    def session_gap(self) -> timedelta:
        return timedelta(minutes=self.session_gap_minutes)

    @property
    def attribution_lookback(self) -> timedelta:
        return timedelta(days=self.attribution_lookback_days)

    @property
    def basis(self) -> GmvBasis:
        """The GMV basis (口径) every KPI on orders is counted under (metrics.gmv_basis)."""
        return GmvBasis.from_code(self.gmv_basis)

    @classmethod
    def from_mapping(cls, values: Mapping | None) -> "Settings":
        """Settings from a `[settings]` table; ConfigError names a wrong key."""
        return validated_section(cls, dict(values or {}), "settings")


PUSHDOWN_MODES = ("auto", "always", "never")
SOURCE_TABLES = ("users", "events", "orders", "order_items", "products", "campaigns", "ad_spend", "reviews", "tickets")
"""The canonical tables (SPEC section 2), each of which may come from a source of its own."""
PUSHDOWN_ENGINES = ("native", "spark")


class _SourceKeys(_Section):
    """The keys of a source, whether the shop's or one table's: a SQLAlchemy `url`, or its
    parts, or a `folder` of tables, read through a `preset` or a `mapping` file."""

    url: str | None = None
    dialect: str | None = None
    driver: str | None = None
    host: str | None = None
    port: int | None = Field(None, gt=0, lt=65536)
    database: str | None = None
    username: str | None = None
    password: str | None = Field(None, repr=False)
    password_env: str | None = None
    folder: str | None = None
    max_file_mb: float | None = Field(None, gt=0)
    mapping: str | None = None
    preset: str | None = None


class TableSource(_SourceKeys):
    """`[connections.shop.TABLE]`: one canonical table from a source of its own (the events
    from a tracker's export beside the shop database's orders), with the keys of a source."""

    @model_validator(mode="after")
    def _one_kind(self) -> "TableSource":
        kinds = [name for name in ("url", "dialect", "folder") if getattr(self, name) is not None]
        if len(kinds) != 1:
            raise ValueError("give one of url, dialect (with host, database, ...) or folder")
        if self.mapping is not None and self.preset is not None:
            raise ValueError("give mapping or preset, not both")
        return self


class SourceConfig(_SourceKeys):
    """`[connections.shop]`: where the shop's tables are and how they are read.

    A SQLAlchemy `url`, or its parts (`dialect`, `driver`, `host`, `port`, `database`,
    `username`, `password` or `password_env`), or a `folder` of tables; a platform's layout
    through a `preset` or a `mapping` file; a server database's local extract; push-down."""

    query: dict[str, str] | None = None
    extract_ttl_minutes: float | None = Field(None, gt=0)
    extract_folder: str | None = None
    refresh_window_days: float = Field(3, gt=0)
    full_refresh_hours: float = Field(24, gt=0)
    pushdown: Literal["auto", "always", "never"] = "auto"
    pushdown_threshold: int = Field(20_000_000, gt=0)
    pushdown_engine: Literal["native", "spark"] = "native"
    spark_master: str | None = None
    users: TableSource | None = None
    events: TableSource | None = None
    orders: TableSource | None = None
    order_items: TableSource | None = None
    products: TableSource | None = None
    campaigns: TableSource | None = None
    ad_spend: TableSource | None = None
    reviews: TableSource | None = None
    tickets: TableSource | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> "SourceConfig":
        kinds = [name for name in ("url", "dialect", "folder") if getattr(self, name) is not None]
        if len(kinds) > 1:
            raise ValueError(f"give one of url, dialect (with host, database, ...) or folder, not {' and '.join(kinds)}")
        if self.mapping is not None and self.preset is not None:
            raise ValueError("give mapping or preset, not both")
        if self.password is not None and self.password_env is not None:
            raise ValueError("give password or password_env (the environment variable holding it), not both")
        if self.spark_master is not None and self.pushdown_engine != "spark":
            raise ValueError('spark_master is for pushdown_engine = "spark"')
        return self

    @property
    def is_sample(self) -> bool:
        return self.url is None and self.dialect is None and self.folder is None

    def connection(self) -> dict[str, Any]:
        """The keys that say where the tables are and how they map (what
        connectors.source_from_settings reads), without extract and push-down keys."""
        keys = ("url", "dialect", "driver", "host", "port", "database", "username", "password", "password_env", "query", "folder", "max_file_mb", "mapping", "preset")
        own = {name: table.model_dump(exclude_none=True) for name in SOURCE_TABLES if (table := getattr(self, name)) is not None}
        return {**{key: getattr(self, key) for key in keys if getattr(self, key) is not None}, **own}

    @property
    def own_sources(self) -> dict[str, "TableSource"]:
        """The tables read from a source of their own ([connections.shop.TABLE])."""
        return {name: table for name in SOURCE_TABLES if (table := getattr(self, name)) is not None}

    def pushdown_options(self) -> dict[str, Any]:
        """load_shop's push-down keywords."""
        options: dict[str, Any] = {"pushdown": self.pushdown, "pushdown_threshold": self.pushdown_threshold, "pushdown_engine": self.pushdown_engine}
        if self.pushdown_engine == "spark":
            from shop_analytics.pushdown import DEFAULT_SPARK_MASTER

            options["spark_master"] = self.spark_master or DEFAULT_SPARK_MASTER
        return options


class SmtpSection(_Section):
    """`[alerts.smtp]`: the mail server alerts and reports are sent through."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    name: str | None = None
    host: str
    port: int | None = Field(None, gt=0, lt=65536)
    tls: Literal["starttls", "ssl", "none"] = "starttls"
    user: str | None = None
    password: str | None = Field(None, repr=False)
    password_env: str | None = None
    sender: str = Field(alias="from")
    to: tuple[str, ...]
    ca_file: str | None = None

    @field_validator("to", mode="before")
    @classmethod
    def _addresses(cls, value):
        addresses = [value] if isinstance(value, str) else value
        if not addresses or not all(isinstance(address, str) and "@" in address for address in addresses):
            raise ValueError("to must be an e-mail address or a list of them")
        return tuple(addresses)


WEBHOOK_KINDS = ("generic", "wecom", "dingtalk", "slack", "feishu")


class WebhookSection(_Section):
    """One `[[alerts.webhooks]]`: a chat robot or an HTTP endpoint."""

    name: str | None = None
    kind: Literal["generic", "wecom", "dingtalk", "slack", "feishu"]
    url: str | None = Field(None, repr=False)
    url_env: str | None = None
    secret: str | None = Field(None, repr=False)
    secret_env: str | None = None

    @model_validator(mode="after")
    def _url(self) -> "WebhookSection":
        if (self.url is None) == (self.url_env is None):
            raise ValueError("give url or url_env (the environment variable holding it), one of them")
        if self.url is not None and not self.url.startswith(("http://", "https://")):
            raise ValueError("url must start with http:// or https://")
        if self.secret is not None and self.secret_env is not None:
            raise ValueError("give secret or secret_env, not both")
        if (self.secret is not None or self.secret_env is not None) and self.kind not in ("dingtalk", "feishu"):
            raise ValueError("only a dingtalk or feishu robot takes a signing secret")
        return self


class AlertsSection(_Section):
    """`[alerts]`: where alerts are kept, how they are judged and where they are sent."""

    database: str = ".alerts/alerts.db"
    language: str | None = None
    app_url: str | None = None
    anomaly_window_days: int = Field(28, ge=1)
    anomaly_threshold: float = Field(3.5, ge=0)
    holidays: tuple[date, ...] = ()
    send_attempts: int = Field(4, ge=1)
    retry_seconds: float = Field(30, ge=0)
    timeout_seconds: float = Field(10, ge=0.1)
    smtp: SmtpSection | None = None
    webhooks: tuple[WebhookSection, ...] = ()

    @field_validator("language")
    @classmethod
    def _language(cls, value: str | None) -> str | None:
        if value is not None and value not in LANGUAGES:
            raise ValueError(f"use one of {', '.join(LANGUAGES)}")
        return value

    @field_validator("app_url")
    @classmethod
    def _app_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("app_url must start with http:// or https://")
        return value

    @property
    def database_path(self) -> Path:
        path = Path(self.database)
        return path if path.is_absolute() else PROJECT / path


class AccessUser(_Section):
    """`[access.users.NAME]`: a local user, made with `python cli.py user add NAME --role ROLE`."""

    password_hash: str = Field(repr=False)
    role: str


class AccessSection(_Section):
    """`[access]`: who may sign in, with which role, and the sign-in limits."""

    idle_minutes: float = Field(30, gt=0)
    max_failures: int = Field(5, gt=0)
    client_max_failures: int = Field(20, gt=0)
    lock_minutes: float = Field(15, gt=0)
    users: dict[str, AccessUser] = Field(default_factory=dict)
    emails: dict[str, str] = Field(default_factory=dict)


class SchedulerSection(_Section):
    """`[scheduler]`: the report subscriptions' sender (`python cli.py schedule`, started by
    `make run`) and its daily alerts check."""

    catch_up_days: float = Field(2, ge=0)
    send_attempts: int = Field(5, ge=1)
    retry_minutes: float = Field(1, gt=0)
    alerts_check_at: time | None = None
    poll_seconds: float = Field(30, gt=0)

    def runner_settings(self):
        """The scheduler's own settings object (shop_analytics.scheduler.runner)."""
        from shop_analytics.scheduler.runner import SchedulerSettings

        return SchedulerSettings(
            catch_up=timedelta(days=self.catch_up_days), attempts=self.send_attempts,
            first_wait=timedelta(minutes=self.retry_minutes), alerts_check_at=self.alerts_check_at,
            poll_seconds=self.poll_seconds,
        )


class ApiSection(_Section):
    """`[api]`: the read-only HTTP API (`python cli.py api`) and the MCP server's HTTP
    transport (`python cli.py mcp --http`), served beside the dashboard: where they listen,
    how many requests a token may make a minute, and the SQLite file of the API tokens
    (`python cli.py token add NAME --role ROLE`; only their hashes are stored)."""

    port: int = Field(8502, gt=0, lt=65536)
    mcp_port: int = Field(8503, gt=0, lt=65536)
    host: str = "127.0.0.1"
    requests_per_minute: int = Field(120, gt=0)
    tokens_database: str = ".api/tokens.db"

    @property
    def tokens_database_path(self) -> Path:
        path = Path(self.tokens_database)
        return path if path.is_absolute() else PROJECT / path


class AppConfig(_Section):
    """The whole of secrets.toml that this product reads (Streamlit's own `[auth]` and
    `[server]` tables are Streamlit's and passed through untouched)."""

    source: SourceConfig = Field(default_factory=SourceConfig)
    settings: Settings = Field(default_factory=Settings)
    alerts: AlertsSection = Field(default_factory=AlertsSection)
    access: AccessSection | None = None
    api: ApiSection = Field(default_factory=ApiSection)
    scheduler: SchedulerSection = Field(default_factory=SchedulerSection)
    auth: dict[str, Any] | None = Field(None, repr=False)
    origin: str = Field("", exclude=True)
    """Where it was read from (a file, Streamlit's secrets, or the defaults), for messages."""

    @property
    def fingerprint(self) -> str:
        """A digest of every value (secrets included, never shown): the cache key of
        everything computed from this configuration."""
        return _digest(self.model_dump(mode="json", by_alias=True))

    @property
    def shop_fingerprint(self) -> str:
        """A digest of what the loaded shop depends on: the source, the session gap, the
        business zone and the GMV basis its orders are read under."""
        return _digest({
            "source": self.source.model_dump(mode="json"),
            "gap": self.settings.session_gap_minutes,
            "zone": self.settings.time_zone,
            "gmv_basis": self.settings.gmv_basis,
        })

    def __hash__(self) -> int:
        return hash(self.fingerprint)

    def overridden(
        self,
        *,
        source: str | None = None,
        mapping: str | Path | None = None,
        preset: str | None = None,
        time_zone: str | None = None,
        language: str | None = None,
    ) -> "AppConfig":
        """This configuration with a command line's flags in place of its values: `source`
        (a URL, a SQLite file or a folder) replaces `[connections.shop]`'s location; `mapping`
        or `preset` its layout."""
        update: dict[str, Any] = {}
        if source is not None or mapping is not None or preset is not None:
            current = self.source.model_dump(exclude_none=True, exclude_defaults=True)
            if source is not None:
                for key in ("url", "dialect", "driver", "host", "port", "database", "username", "password", "password_env", "query", "folder"):
                    current.pop(key, None)
                current.update(_location(source))
            if mapping is not None or preset is not None:
                current.pop("mapping", None)
                current.pop("preset", None)
                current.update({"mapping": str(mapping)} if mapping is not None else {"preset": preset})
            update["source"] = validated_section(SourceConfig, current, "connections.shop")
        settings = {}
        if time_zone is not None:
            settings["time_zone"] = time_zone
        if language is not None:
            settings["language"] = language
        if settings:
            update["settings"] = validated_section(Settings, {**self.settings.model_dump(), **settings}, "settings")
        return self.model_copy(update=update)


def _location(location: str) -> dict[str, str]:
    """`[connections.shop]` keys for a location given on the command line."""
    if "://" in location:
        return {"url": location}
    path = Path(location).expanduser()
    if path.is_dir():
        return {"folder": str(path)}
    from connectors.sql import sqlite_url

    if path.is_file():
        return {"url": sqlite_url(path)}
    raise ConfigError(
        f"{location} is neither a database URL (like postgresql+psycopg://user@host/db), "
        "a SQLite file, nor a folder of tables."
    )


def _digest(values: Any) -> str:
    return hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()[:24]


TABLE_LISTS = ("webhooks",)
"""Keys that hold a list of tables ([[alerts.webhooks]]), named by their number in messages."""


def _where(section: str, location: tuple) -> tuple[str, bool]:
    """Where a problem is, in the file's own words ("[alerts.smtp] tls", "[[alerts.webhooks]]
    number 2 kind", "[alerts] holidays item 1"), and whether it names one key (so that its
    value can be shown) rather than a whole table."""
    parts = list(location)
    tables = [section]
    while len(parts) >= 2 and isinstance(parts[1], int) and parts[0] in TABLE_LISTS:
        listed, number = parts[0], parts[1] + 1
        parts = parts[2:]
        prefix = f"[[{'.'.join([*tables, str(listed)])}]] number {number}"
        if not parts:
            return prefix, False
        return f"{prefix} {'.'.join(str(part) for part in parts)}", True
    while len(parts) >= 2 and isinstance(parts[0], str) and parts[0] in ("smtp", "users", "emails", "shop"):
        tables.append(str(parts.pop(0)))
        if tables[-1] == "users" and len(parts) >= 2:
            tables.append(str(parts.pop(0)))  # [access.users.NAME]
    if not parts:
        return f"[{'.'.join(tables)}]", False
    key = str(parts[0]) + "".join(f" item {part + 1}" if isinstance(part, int) else f".{part}" for part in parts[1:])
    return f"[{'.'.join(tables)}] {key}", True


SECRET_KEYS = ("password", "secret", "url", "password_hash", "cookie_secret", "client_secret")


def validated_section(model: type[SectionModel], values: dict, section: str) -> SectionModel:
    try:
        return model.model_validate(values)
    except ValidationError as error:
        raise ConfigError(_explain(error, section)) from None


def _explain(error: ValidationError, section: str) -> str:
    """One line per mistake: where, the value (never a secret's), what is wrong and the fix."""
    lines = []
    for problem in error.errors():
        where, one_key = _where(section, problem["loc"])
        message = problem["msg"].removeprefix("Value error, ")
        if problem["type"] == "extra_forbidden":
            lines.append(f"{where} is not a key of this table: remove it or fix its spelling (.streamlit/secrets.toml.example lists the keys)")
        elif problem["type"] == "missing":
            lines.append(f"{where} is missing: add it")
        elif one_key:
            secret = any(str(part) in SECRET_KEYS for part in problem["loc"])
            lines.append(f"{where} = {'(hidden)' if secret else repr(problem.get('input'))}: {message}")
        else:
            lines.append(f"{where}: {message}")
    return "; ".join(lines)


def plain(values: Any) -> Any:
    """Streamlit's secrets (read-only mappings) as plain dicts and lists."""
    if isinstance(values, Mapping):
        return {key: plain(value) for key, value in values.items()}
    if isinstance(values, list | tuple):
        return [plain(value) for value in values]
    return values


def config_from_mapping(secrets: Mapping | None, origin: str = "the defaults") -> AppConfig:
    """The configuration in `secrets` (secrets.toml as a mapping); ConfigError names every
    mistake. Sections that are not this product's (Streamlit's `[server]`, ...) are ignored."""
    values = plain(secrets or {})
    sections = {
        "source": values.get("connections", {}).get("shop", {}),
        "settings": values.get("settings", {}),
        "alerts": values.get("alerts", {}),
        "api": values.get("api", {}),
        "scheduler": values.get("scheduler", {}),
    }
    names = {"source": "connections.shop", "settings": "settings", "alerts": "alerts", "api": "api", "access": "access", "scheduler": "scheduler"}
    models: dict[str, type[BaseModel]] = {**_MODELS, "access": AccessSection}
    if "access" in values:
        sections["access"] = values["access"]
    checked: dict[str, Any] = {}
    problems = []
    for name, section in sections.items():
        try:
            checked[name] = validated_section(models[name], section, names[name])
        except ConfigError as error:
            problems.append(str(error))
    if problems:
        raise ConfigError("; ".join(problems))
    if "auth" in values:
        checked["auth"] = values["auth"]
    return AppConfig(**checked, origin=origin)


_MODELS: dict[str, type[BaseModel]] = {"source": SourceConfig, "settings": Settings, "alerts": AlertsSection, "api": ApiSection, "scheduler": SchedulerSection}


def secrets_path(path: str | Path | None = None) -> Path:
    """The secrets file: `path`, else $SHOP_ANALYTICS_SECRETS, else .streamlit/secrets.toml."""
    if path is not None:
        return Path(path)
    return Path(os.environ.get(SECRETS_ENV) or SECRETS_FILE)


def read_secrets(path: str | Path | None = None) -> dict:
    """The secrets file as a dict; {} when it does not exist (every default: the sample shop)."""
    path = secrets_path(path)
    if not path.exists():
        return {}
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path} is not valid TOML: {error}") from None


def load_config(path: str | Path | None = None) -> AppConfig:
    """The configuration in the secrets file (`secrets_path`); every default when there is none."""
    chosen = secrets_path(path)
    return config_from_mapping(read_secrets(chosen), origin=str(chosen) if chosen.exists() else "the defaults")
