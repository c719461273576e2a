"""The one way to open the configured shop, for the dashboard, every CLI command, alerts,
reports, the scheduler and the API: the source of `[connections.shop]` (through its mapping
or preset, and through a local extract when it is a database server), loaded with the
configured push-down, session gap and business zone.

The dashboard keeps the extract and the loaded shop in Streamlit's caches (shop_analytics/ui/
data.py); the other entry points open the same things here, once per process. A shop loaded
from a newer generation of an extract whose earlier one this process loaded (and still holds)
derives again only the sessions of the users whose events changed (loading.PreviousLoad). A
one-off command (an export, a report, an alerts check) opens only what its view reads
(`open_shop(scope=...)`, shop_analytics/bounds.py).
"""

import weakref
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from connectors import Source, SourceError, source_from_settings
from connectors.extracts import DEFAULT_TTL, ExtractSource, worth_extracting
from metrics.gmv_basis import apply_gmv_basis
from shop_analytics.bounds import History, Reads, Scope, reads_for
from shop_analytics.config import AppConfig
from shop_analytics.loading import EventBounds, PreviousLoad, Shop, load_shop, time_span
from shop_analytics.pushdown import engine_for
from shop_analytics.views import anomaly_settings


def configured_source(config: AppConfig) -> Source:
    """The source `[connections.shop]` names, read directly (the sample shop when none)."""
    return source_from_settings(config.source.connection())


def extract_for(config: AppConfig) -> ExtractSource | None:
    """The extract a server database or a tracker's export is read through; None for a
    SQLite file, a folder or the sample shop, which are read directly (worth_extracting), and
    for a server read with push-down, whose events stay in the database."""
    source = configured_source(config)
    if not worth_extracting(source) or _pushed_down(source, config):
        return None
    minutes = config.source.extract_ttl_minutes
    ttl = DEFAULT_TTL if minutes is None else timedelta(minutes=minutes)
    return ExtractSource(
        lambda: configured_source(config), folder=config.source.extract_folder, ttl=ttl,
        window=timedelta(days=config.source.refresh_window_days), full_every=timedelta(hours=config.source.full_refresh_hours),
    )


def _pushed_down(source: Source, config: AppConfig) -> bool:
    """Whether the server keeps the events and computes on them (push-down). Not when it cannot
    be asked how many events it has: then the extract serves what it last read."""
    try:
        return engine_for(source, config.source.pushdown, config.source.pushdown_threshold) is not None
    except SourceError:
        return False


_LOADED: dict[tuple, tuple[weakref.ref, int]] = {}
"""The last shop this process loaded from each extract (by folder, session gap and zone),
while something still holds it, and the generation it was loaded from."""


def load_configured(
    config: AppConfig, source: Source, progress: Callable[[str], None] | None = None, *, reads: Reads | None = None,
) -> Shop:
    """`source` (the configured one, or its extract) loaded as the configuration says, its
    orders read under the configured GMV basis (口径, metrics.gmv_basis), so that every KPI on
    orders, on every surface, counts what the basis counts. ValueError when the basis needs a
    column the orders lack.

    From an extract whose earlier generation this process loaded, and still holds, only the
    sessions of the users whose events changed are derived again. `reads`: only the tables
    and events a one-off command's view reads (shop_analytics/bounds.py)."""
    settings = config.settings
    key = None
    if isinstance(source, ExtractSource):
        source = source.pinned()  # another thread may move the shared extract's pin meanwhile
        key = (str(source.folder), settings.session_gap, settings.time_zone)
    previous = None
    if key is not None and reads is None and key in _LOADED:
        shop, generation = _LOADED[key][0](), _LOADED[key][1]
        previous = None if shop is None else PreviousLoad(shop, generation, settings.session_gap)
    shop = load_shop(
        source,
        session_gap=settings.session_gap,
        tz=settings.time_zone,
        progress=progress,
        previous=previous,
        tables=None if reads is None else reads.tables,
        bounds=None if reads is None else EventBounds(reads.first_instant(settings.time_zone), reads.first_seen),
        **config.source.pushdown_options(),
    )
    basis = settings.basis
    if not basis.is_default and shop.has("orders"):
        shop = shop.replaced(orders=apply_gmv_basis(shop.orders, basis))
    if key is not None and reads is None and isinstance(source, ExtractSource) and source.generation is not None:
        _LOADED[key] = (weakref.ref(shop), source.generation)
    return shop


def open_shop(config: AppConfig, progress: Callable[[str], None] | None = None, *, scope: Scope | None = None) -> Shop:
    """The configured shop, loaded: through its extract when it has one (refreshed first when
    its time-to-live has passed), else read directly. SourceError says why it cannot be read.

    With a `scope` (a one-off command's view, period and options), only the tables and the
    events its definitions read, with their look-backs (shop_analytics/bounds.py): the
    numbers of its view are those of the whole shop."""
    extract = extract_for(config)
    if extract is not None:
        extract.current()
    source = extract or configured_source(config)
    reads = None if scope is None else reads_for(_dated(scope, source, config), _history(source, config))
    return load_configured(config, source, progress, reads=reads)


def _history(source: Source, config: AppConfig) -> History:
    """What the anomaly look-backs need before the load: the settings, the campaigns, the
    data's first day."""
    campaigns = source.read_table("campaigns") if "campaigns" in source.table_names() else None

    def data_first() -> date | None:
        span = _span(source)
        return None if span is None else span[0].astimezone(ZoneInfo(config.settings.time_zone)).date()

    return History(anomaly_settings(config), campaigns, data_first)


def _span(source: Source) -> tuple[datetime, datetime] | None:
    """The first and last instant of the data: events, else orders (Shop.date_span)."""
    present = source.table_names()
    spans = (time_span(source, name) for name in ("events", "orders") if name in present)
    return next((span for span in spans if span is not None), None)


def _dated(scope: Scope, source: Source, config: AppConfig) -> Scope:
    """An alerts check without a day checks yesterday, or the data's last day
    (alerts.check.default_day): its look-back needs the day before the load."""
    if scope.view != "alerts" or scope.end is not None:
        return scope
    span = _span(source)
    zone = ZoneInfo(config.settings.time_zone)
    yesterday = datetime.now(UTC).astimezone(zone).date() - timedelta(days=1)
    day = yesterday if span is None else min(yesterday, span[1].astimezone(zone).date())
    return Scope(scope.view, day, day, scope.options)


def refresh_extract(config: AppConfig, *, full: bool = False, progress: Callable[[str], None] | None = None):
    """Refresh the configured shop's extract now (by its changes; `full`: everything) and
    return its manifest; ValueError when the shop is not read through an extract."""
    extract = extract_for(config)
    if extract is None:
        raise ValueError(
            "the configured shop is read directly, not through an extract (only a PostgreSQL or MySQL server "
            "without push-down, or a tracker's export, is): there is nothing to refresh"
        )
    return extract.refresh(full=full, progress=progress)
