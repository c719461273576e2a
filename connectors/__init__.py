"""Sources of a shop's data, handed out as canonical tables (SPEC section 2)."""

from pathlib import Path

import sqlalchemy as sa

from connectors.base import Source, SourceError
from connectors.files import FolderSource
from connectors.sql import SqlSource, sqlite_url

SAMPLE_SHOP = Path(__file__).resolve().parents[1] / "sample_data" / "shop.db"


def open_source(location: str | Path | None = None) -> Source:
    """The source at `location`: a SQLAlchemy URL, a SQLite file, or a folder of tables.

    No location means the embedded sample shop.
    """
    if location is None:
        location = SAMPLE_SHOP
    text = str(location)
    if "://" in text:
        return SqlSource(text)
    path = Path(text)
    if path.is_dir():
        return FolderSource(path)
    if path.is_file():
        return SqlSource(sqlite_url(path))
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
    `port`, `database`, `username`, `password`; or `folder` for a folder of tables.
    Nothing configured means the sample shop.
    """
    if not settings:
        return open_source()
    if "folder" in settings:
        return FolderSource(settings["folder"])
    if "url" in settings:
        return SqlSource(settings["url"])
    if "dialect" in settings:
        drivername = settings["dialect"] + (f"+{settings['driver']}" if settings.get("driver") else "")
        return SqlSource(
            sa.URL.create(
                drivername,
                username=settings.get("username"),
                password=settings.get("password"),
                host=settings.get("host"),
                port=settings.get("port"),
                database=settings.get("database"),
            )
        )
    raise SourceError(
        "[connections.shop] in .streamlit/secrets.toml needs `url`, `dialect` and its parts, "
        "or `folder`; see .streamlit/secrets.toml.example."
    )


__all__ = ["Source", "SourceError", "FolderSource", "SqlSource", "open_source", "source_from_settings", "SAMPLE_SHOP"]
