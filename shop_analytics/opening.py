"""The one way to open the configured shop, for the dashboard, every CLI command, alerts,
reports, the scheduler and the API: the source of `[connections.shop]` (through its mapping
or preset, and through a local extract when it is a database server), loaded with the
configured push-down, session gap and business zone.

The dashboard keeps the extract and the loaded shop in Streamlit's caches (shop_analytics/ui/
data.py); the other entry points open the same things here, once per process.
"""

from collections.abc import Callable
from datetime import timedelta

from connectors import Source, SourceError, source_from_settings
from connectors.extracts import DEFAULT_TTL, ExtractSource, worth_extracting
from shop_analytics.config import AppConfig
from shop_analytics.loading import Shop, load_shop
from shop_analytics.pushdown import engine_for


def configured_source(config: AppConfig) -> Source:
    """The source `[connections.shop]` names, read directly (the sample shop when none)."""
    return source_from_settings(config.source.connection())


def extract_for(config: AppConfig) -> ExtractSource | None:
    """The extract a server database is read through; None for a SQLite file, a folder or the
    sample shop, which are read directly (worth_extracting), and for a server read with
    push-down, whose events stay in the database."""
    source = configured_source(config)
    if not worth_extracting(source) or _pushed_down(source, config):
        return None
    minutes = config.source.extract_ttl_minutes
    ttl = DEFAULT_TTL if minutes is None else timedelta(minutes=minutes)
    return ExtractSource(lambda: configured_source(config), folder=config.source.extract_folder, ttl=ttl)


def _pushed_down(source: Source, config: AppConfig) -> bool:
    """Whether the server keeps the events and computes on them (push-down). Not when it cannot
    be asked how many events it has: then the extract serves what it last read."""
    try:
        return engine_for(source, config.source.pushdown, config.source.pushdown_threshold) is not None
    except SourceError:
        return False


def load_configured(config: AppConfig, source: Source, progress: Callable[[str], None] | None = None) -> Shop:
    """`source` (the configured one, or its extract) loaded as the configuration says."""
    return load_shop(
        source,
        session_gap=config.settings.session_gap,
        tz=config.settings.time_zone,
        progress=progress,
        **config.source.pushdown_options(),
    )


def open_shop(config: AppConfig, progress: Callable[[str], None] | None = None) -> Shop:
    """The configured shop, loaded: through its extract when it has one (refreshed first when
    its time-to-live has passed), else read directly. SourceError says why it cannot be read."""
    extract = extract_for(config)
    if extract is not None:
        extract.current()
    return load_configured(config, extract or configured_source(config), progress)
