"""The Data sources page's pieces: the connection form, saving `[connections.shop]` to
.streamlit/secrets.toml, testing a connection (its mapped tables all there, its database user
one that only reads), previews and the data-quality report. Every error is one line.

A password is written to the secrets file (or named as an environment variable) and never
read back into a widget, a message or a log: the form's password box always starts empty,
and leaving it empty keeps the saved one.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple, Protocol, runtime_checkable

import polars as pl
import streamlit as st
import tomlkit

from connectors import CombinedSource, Source, SourceError, source_from_settings
from connectors.base import conform
from connectors.mapping import Mapping, identity_mapping, load_preset, preset_names
from connectors.privileges import write_access
from connectors.quality import quality_report
from connectors.schema import TABLES, TIME_COLUMN, UTC_DATETIME
from connectors.sql import SqlSource, sqlite_url
from shop_analytics.config import AppConfig
from shop_analytics.loading import Shop
from shop_analytics.opening import configured_source
from shop_analytics.ui import data
from shop_analytics.ui.lang import t

SECRETS_PATH = Path(__file__).resolve().parents[2] / ".streamlit" / "secrets.toml"
SECTION = "connections.shop"
KINDS = ("sample", "database", "sqlite", "folder")
DIALECTS = {"postgresql": "psycopg", "mysql": "pymysql"}
DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306}
# Keys the form writes; any other key of the section (an extract's settings) is kept.
FORM_KEYS = (
    "url", "dialect", "driver", "host", "port", "database", "username", "password",
    "password_env", "folder", "mapping", "preset",
)
PREVIEW_ROWS = 20
QUALITY_EVENT_ROWS = 100_000
"""Events the quality report reads when the shop is read with push-down: the first rows the
source gives. A mapping's faults are systematic, so they show in these as in every event."""
# The form's widget keys by ConnectionForm field, per kind of source.
FIELD_KEYS = {
    "database": {
        "dialect": "source_dialect", "host": "source_host", "port": "source_port", "database": "source_database",
        "username": "source_username", "password": "source_password", "password_env": "source_password_env",
    },
    "sqlite": {"path": "source_path"},
    "folder": {"path": "source_path"},
    "sample": {},
}
MAPPING_KEYS = {"preset": "source_preset", "mapping": "source_mapping"}
OUTCOME_KEY = "source_outcome"
WRITES_SHOWN = 5  # tables or grants named in the warning about a user that can write


@dataclass(frozen=True)
class ConnectionForm:
    """What the admin typed: a kind of source, its parts, and how it maps."""

    kind: str
    dialect: str = "postgresql"
    host: str = ""
    port: int | None = None
    database: str = ""
    username: str = ""
    password: str = ""
    password_env: str = ""
    path: str = ""
    preset: str = "canonical"
    mapping: str = ""


def saved_connection() -> dict:
    """The `[connections.shop]` the app runs with, as written (empty for the sample shop)."""
    return data.current_config().source.model_dump(exclude_none=True, exclude_defaults=True)


def saved_path(saved: dict) -> str:
    """The folder, or the SQLite file, of a saved connection ("" for others)."""
    if "folder" in saved:
        return str(saved["folder"])
    url = str(saved.get("url", ""))
    if not url.startswith("sqlite"):
        return ""
    return url.removeprefix("sqlite:///").removeprefix("file:").split("?")[0]


def connection_settings(form: ConnectionForm, saved: dict) -> dict:
    """The `[connections.shop]` section for `form`: a blank password keeps the saved one,
    `password_env` names an environment variable instead. Extract keys of `saved` are kept."""
    kept = {key: value for key, value in saved.items() if key not in FORM_KEYS}
    if form.kind == "sample":
        return kept
    section: dict = {}
    if form.kind == "database":
        section = {"dialect": form.dialect, "driver": DIALECTS[form.dialect], "host": form.host.strip()}
        if form.port:
            section["port"] = int(form.port)
        section.update({"database": form.database.strip(), "username": form.username.strip()})
        if form.password_env.strip():
            section["password_env"] = form.password_env.strip()
        elif form.password:
            section["password"] = form.password
        elif saved.get("password") and saved.get("host") == section["host"]:
            section["password"] = saved["password"]
    elif form.kind == "sqlite":
        section = {"url": sqlite_url(Path(form.path.strip()).expanduser())}
    else:
        section = {"folder": form.path.strip()}
    if form.mapping.strip():
        section["mapping"] = form.mapping.strip()
    elif form.preset != "canonical":
        section["preset"] = form.preset
    return {**section, **kept}


def _trailing_trivia(table) -> list:
    """The comments and blank lines after a table's last key."""
    body = table.value.body
    keys = [index for index, (key, _) in enumerate(body) if key is not None]
    return [item for _, item in body[(keys[-1] + 1 if keys else 0):]]


def save_connection(section: dict, path: Path | None = None) -> None:
    """Write `section` as `[connections.shop]` of the secrets file with tomlkit, which keeps
    every byte outside that table (root-level keys, comments, other sections and their order);
    an empty section removes it (the sample shop). The file is readable by its owner only."""
    path = path or SECRETS_PATH
    document = tomlkit.parse(path.read_text(encoding="utf-8")) if path.exists() else tomlkit.document()
    connections = document.get("connections")
    old = connections.get("shop") if connections is not None else None
    # tomlkit keeps the comments and blank lines written above the next table inside this
    # one's body: they are the next table's, so they stay where they are
    trailing = _trailing_trivia(old) if old is not None else []
    if section:
        table = tomlkit.table()
        for key, value in section.items():
            table.add(key, value)
        for item in trailing:
            table.add(item)
        if connections is None:
            connections = tomlkit.table(is_super_table=True)
            document.add("connections", connections)
        connections["shop"] = table
    elif connections is not None and old is not None:
        del connections["shop"]
        if not connections:
            del document["connections"]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(tomlkit.dumps(document), encoding="utf-8")


def error_line(error: BaseException) -> str:
    """`error`'s message as one line (a database driver's runs over several)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


def tested(section: dict) -> tuple[Source, set[str]]:
    """The source `section` describes and the mapped tables found in it (SourceError when it
    cannot be reached or mapped; the message never holds the password)."""
    source = source_from_settings(section)
    return source, source.table_names()


def missing_tables(source: Source, found: set[str]) -> dict[str, str]:
    """The mapped tables `source` does not have, each with the table of the source it is
    mapped to (a mapped SELECT that fails is in `source.problems`, with its reason)."""
    problems = getattr(source, "problems", {})
    return {
        name: table.source for name, table in mapping_of(source).tables.items()
        if name not in found and name not in problems and table.source is not None
    }


def write_notice(source: Source) -> tuple[str, str] | None:
    """What the page says about the database user of `source` (connectors/privileges.py), as
    (level, message): a warning with the statements for a user that only reads when it can
    do more; None for a source that is not a database server."""
    if not isinstance(source, SqlSource):
        return None
    try:
        access = write_access(source)
    except SourceError as error:
        return "info", t("data_source.privileges_unknown", error=error_line(error))
    if access is None:
        return None
    if access.read_only:
        return "success", t("data_source.reads_only", user=access.user)
    shown = access.beyond_reading[:WRITES_SHOWN]
    more = len(access.beyond_reading) - len(shown)
    lines = "\n".join(shown) + ("\n" + t("data_source.and_more", count=more) if more else "")
    grants = "\n".join(access.reader_grants)
    return "warning", t("data_source.can_write", user=access.user, lines=f"```\n{lines}\n```", grants=f"```sql\n{grants}\n```")


def submit(action: str) -> None:
    """The Test and Save buttons' callback: build `[connections.shop]` from the form, test it,
    and on "save" write it when the test reaches the source. What happened is kept under
    OUTCOME_KEY as (level, message) pairs for the page to show: a mapped table the source
    lacks and a database user that can write are warnings."""
    state = st.session_state
    kind = state["source_kind"]
    keys = {**FIELD_KEYS[kind], **(MAPPING_KEYS if kind != "sample" else {})}
    fields = {field: state[key] for field, key in keys.items() if key in state}
    if "source_password" in state:
        state["source_password"] = ""  # a typed password does not stay in the browser
    saved = saved_connection()
    section = connection_settings(ConnectionForm(kind, **fields), saved)
    try:
        source, found = tested(section)
    except (SourceError, ValueError) as error:
        state[OUTCOME_KEY] = [("error", t("data_source.failed", error=error_line(error)))]
        return
    missing = missing_tables(source, found)
    problems = getattr(source, "problems", {})
    if not found:
        outcome = [("warning", t("data_source.tested_none", description=source.description))]
    else:
        level = "warning" if missing or problems else "success"
        outcome = [(level, t("data_source.tested", description=source.description, tables=", ".join(sorted(found))))]
    outcome += [("warning", t("data_source.not_found", table=table, source=platform)) for table, platform in missing.items()]
    outcome += [("warning", t("data_source.problem", table=table, problem=error_line(problem))) for table, problem in problems.items()]
    notice = write_notice(source) if found else None
    outcome += [notice] if notice else []
    if action == "save":
        save_connection(section)
        outcome.append(("success", t("data_source.saved", description=source.description)))
    state[OUTCOME_KEY] = outcome


@st.cache_data(show_spinner=False, max_entries=4, ttl=300)
def current_write_notice(shop_fingerprint: str) -> tuple[str, str] | None:
    """write_notice for the configured source, asked once in five minutes."""
    return write_notice(current_source())


@st.cache_resource(show_spinner=False, max_entries=2)
def _source(shop_fingerprint: str, _config: AppConfig) -> Source:
    return configured_source(_config)


def current_source() -> Source:
    """The configured source, read directly (not through an extract), for previews."""
    config = data.current_config()
    return _source(config.shop_fingerprint, config)


def mapping_of(source: Source) -> Mapping:
    """The mapping `source` reads through (the canonical layout for a source without one)."""
    return getattr(source, "mapping", identity_mapping())


def mapping_in_use(source: Source) -> Mapping | None:
    """The mapping `source` reads through, None for a source that maps in its own way (a
    tracker's export, read through a tracker preset)."""
    mapping = getattr(source, "mapping", None)
    return mapping if isinstance(mapping, Mapping) else None


@st.cache_resource(show_spinner=False, max_entries=8)
def preset(name: str) -> Mapping:
    """The shipped preset `name`, read once."""
    return load_preset(name)


@runtime_checkable
class MappedSource(Source, Protocol):
    """A source that reads its tables through a mapping and can show a table before
    `conform` (SqlSource, FolderSource, CombinedSource)."""

    def read_mapped(
        self,
        name: str,
        *,
        columns: Iterable[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
    ) -> pl.DataFrame:
        """Table `name` as the mapping gives it, before `conform`."""


def has_mapping_step(source: Source, name: str) -> bool:
    """Whether table `name` of `source` is read through a mapping step, whose rows before
    `conform` the page can show and check; not a tracker's export, which its reader turns
    into canonical events (connectors/trackers), also as one table of a CombinedSource."""
    own = source.source_of(name) if isinstance(source, CombinedSource) else source
    return isinstance(own, MappedSource)


def preview(source: Source, name: str, shop: Shop) -> pl.DataFrame:
    """The first PREVIEW_ROWS rows of table `name` as the mapping gives it; for a table
    without a mapping step (a tracker's export) the loaded shop's canonical rows: reading the
    export again would convert all of it (at 10 M GA4 events half a minute of CPU) for a
    few rows."""
    if isinstance(source, MappedSource) and has_mapping_step(source, name):
        return source.read_mapped(name, limit=PREVIEW_ROWS)
    if name in shop.tables:
        return shop.tables[name].head(PREVIEW_ROWS)
    return source.read_table(name).head(PREVIEW_ROWS)


def table_summary(shop: Shop, tz: str) -> pl.DataFrame:
    """Per canonical table: rows, first and last day (in `tz`) and the optional columns absent.
    Events read with push-down: the count the load made, the days of the activity events
    (which hold every user's first and last event), the columns the engine has."""
    rows: list[dict[str, object]] = []
    for name, table in TABLES.items():
        pushed = shop.pushed if name == "events" else None
        frame = shop.activity if pushed is not None else shop.tables.get(name)
        if frame is None:
            rows.append({"table": name, "rows": None, "first": None, "last": None, "missing": "table absent"})
            continue
        first = last = None
        column = TIME_COLUMN.get(name)
        if column and frame.height:
            days = frame[column] if frame.schema[column] != UTC_DATETIME else frame[column].dt.convert_time_zone(tz).dt.date()
            first, last = days.min(), days.max()
        if pushed is not None:
            # session_id is derived by the load either way, as the in-memory events carry it
            absent = [c for c in table.optional if c != "session_id" and not pushed.engine.has_event_column(c)]
        else:
            absent = [c for c in table.optional if c not in frame.columns]
        count = pushed.event_count if pushed is not None else frame.height
        rows.append({"table": name, "rows": count, "first": first, "last": last, "missing": ", ".join(absent)})
    return pl.DataFrame(rows)


class Quality(NamedTuple):
    """The data-quality report, and how many events it checked when the shop is read with
    push-down (None when it checked every row of every table)."""

    report: pl.DataFrame
    events_checked: int | None


def _times(name: str) -> list[str]:
    """The time columns of canonical table `name`, whose raw values show a missing zone."""
    return [column for column, dtype in TABLES[name].columns.items() if dtype == UTC_DATETIME]


@st.cache_data(show_spinner=False, max_entries=4, ttl=600)
def quality(key: str) -> Quality:
    """The data-quality report of the loaded shop, its zoneless times read from the source.
    With push-down the events are not in memory: the report reads the first
    QUALITY_EVENT_ROWS of them from the source instead of every one."""
    shop = data.current_shop()
    source = current_source()
    zone = mapping_of(source).time_zone
    canonical = {name: frame.select([c for c in TABLES[name].columns if c in frame.columns]) for name, frame in shop.tables.items()}
    raw = {}
    # a table without a mapping step (a tracker's export) has no raw values to check
    mapped = source if isinstance(source, MappedSource) else None
    if mapped is not None:
        for name in shop.tables:
            if not has_mapping_step(source, name):
                continue
            try:
                raw[name] = mapped.read_mapped(name, columns=_times(name))
            except SourceError:
                continue
    checked = None
    if shop.pushed is not None and mapped is not None:
        sample = mapped.read_mapped("events", limit=QUALITY_EVENT_ROWS)
        canonical["events"] = conform("events", sample, source.description, zone=zone)
        raw["events"] = sample.select([column for column in _times("events") if column in sample.columns])
        checked = sample.height
    return Quality(quality_report(canonical, now=datetime.now(UTC), raw=raw, zone=zone), checked)


def presets() -> dict[str, str]:
    """The shipped presets by name, with their titles."""
    return preset_names()
