"""Sources of a shop's data, handed out as canonical tables (SPEC section 2)."""

import os
from pathlib import Path

import sqlalchemy as sa

from connectors.base import Source, SourceError
from connectors.combined import CombinedSource
from connectors.files import FolderSource
from connectors.mapping import Mapping, load_mapping, load_preset
from connectors.schema import TABLES
from connectors.sql import SqlSource, sqlite_url
from connectors.trackers import is_tracker_mapping, open_tracker, tracker_preset_names

SAMPLE_SHOP = Path(__file__).resolve().parents[1] / "sample_data" / "shop.db"


def mapping_of(mapping: str | Path | None = None, preset: str | None = None) -> Mapping | None:
    """The mapping in the TOML file `mapping`, or the shipped preset `preset` (connectors/presets/);
    None for neither (the canonical layout)."""
    if mapping is not None and preset is not None:
        raise SourceError("give a mapping file or a preset, not both.")
    if mapping is not None:
        return load_mapping(mapping)
    if preset is not None:
        return load_preset(preset)
    return None


def open_source(
    location: str | Path | None = None, *, mapping: str | Path | None = None, preset: str | None = None
) -> Source:
    """The source at `location`: a SQLAlchemy URL, a SQLite file, or a folder of tables, read
    through the mapping file `mapping` or the preset `preset` (else the canonical layout);
    a tracker preset or tracker mapping reads a tracker's export there instead.

    No location means the embedded sample shop.
    """
    if location is None:
        location = SAMPLE_SHOP
    if (preset is not None and preset in tracker_preset_names()) or is_tracker_mapping(mapping):
        # a tracker's export (GA4, Snowplow, Segment, RudderStack, PostHog): connectors/trackers
        return open_tracker(location, preset=preset, mapping=mapping)
    chosen = mapping_of(mapping, preset)
    text = str(location)
    if "://" in text:
        return SqlSource(text, mapping=chosen)
    path = Path(text)
    if path.is_dir():
        return FolderSource(path, mapping=chosen)
    if path.is_file():
        return SqlSource(sqlite_url(path), mapping=chosen)
    if path == SAMPLE_SHOP:
        raise SourceError(
            f"the sample shop {path} has not been generated yet: run `python cli.py sample` "
            "(or `make run`, which does it)."
        )
    raise SourceError(
        f"{text} is neither a database URL (like postgresql+psycopg://user@host/db), "
        "a SQLite file, nor a folder of tables."
    )


def source_from_settings(settings: dict | None) -> Source:
    """The source configured in `[connections.shop]` of .streamlit/secrets.toml.

    Keys as Streamlit's SQL connection reads them: `url`, or `dialect`, `driver`, `host`,
    `port`, `database`, `username`, `password` (or `password_env`, the name of the environment
    variable holding it); or `folder` for a folder of tables (files up to `max_file_mb`). `mapping` (a TOML file) or
    `preset` (a name in connectors/presets/) maps a platform's own tables.
    Nothing configured means the sample shop.
    """
    if not settings:
        return open_source()
    own = {name: settings[name] for name in TABLES if isinstance(settings.get(name), dict)}
    if own:
        # one shop from several sources: [connections.shop.events] and the like
        base = {key: value for key, value in settings.items() if key not in own}
        return CombinedSource(source_from_settings(base), {name: source_from_settings(table) for name, table in own.items()})
    preset, mapping = settings.get("preset"), settings.get("mapping")
    if (preset is not None and preset in tracker_preset_names()) or is_tracker_mapping(mapping):
        location = settings.get("folder") or settings.get("url")
        if location is None:
            raise SourceError("a tracker's export is a folder (folder = ...) or a database (url = ...)")
        return open_tracker(location, preset=preset, mapping=mapping)
    chosen = mapping_of(mapping, preset)
    if "folder" in settings:
        limit = {"max_file_mb": settings["max_file_mb"]} if "max_file_mb" in settings else {}
        return FolderSource(settings["folder"], mapping=chosen, **limit)
    if "url" in settings:
        url = sa.make_url(settings["url"])
        if "password_env" in settings or "password" in settings:
            # the password kept apart from the URL (an environment variable), so the URL can be
            # shown and logged without it
            url = url.set(password=_password(settings))
        return SqlSource(url, mapping=chosen)
    if "dialect" in settings:
        drivername = settings["dialect"] + (f"+{settings['driver']}" if settings.get("driver") else "")
        return SqlSource(
            sa.URL.create(
                drivername,
                username=settings.get("username"),
                password=_password(settings),
                host=settings.get("host"),
                port=settings.get("port"),
                database=settings.get("database"),
            ),
            mapping=chosen,
        )
    raise SourceError(
        "[connections.shop] in .streamlit/secrets.toml needs `url`, `dialect` and its parts, "
        "or `folder`; see .streamlit/secrets.toml.example."
    )


def _password(settings: dict) -> str | None:
    """The connection's password: `password`, or the environment variable named by `password_env`."""
    if "password_env" not in settings:
        return settings.get("password")
    name = settings["password_env"]
    if name not in os.environ:
        raise SourceError(
            f"[connections.shop] takes its password from the environment variable {name}, which is not set."
        )
    return os.environ[name]


__all__ = [
    "SAMPLE_SHOP", "CombinedSource", "FolderSource", "Source", "SourceError", "SqlSource", "mapping_of", "open_source", "source_from_settings",
]
