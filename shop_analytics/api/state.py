"""The shop an API process serves: the configuration read from its secrets file, the shop
opened once (shop_analytics.opening, as the dashboard opens it), and what is computed from it.

Every request asks `ShopState.current()`, which re-reads the secrets file when it changed and
loads the shop again when the configuration's shop fingerprint or the extract's generation
moved (an extract past its time-to-live is refreshed first). A source that cannot be read
is a 503 problem with the reason; an extract served after a failed refresh is served with
its age and the reason said (`Served.freshness`), never as if it were current.

Results are cached under the configuration's fingerprint and the extract generation, so a
changed setting or a new extract computes afresh: the segment's frames (as the dashboard's
filters cut them), each segment's daily KPIs over every day of the data (a period's KPI table
is a slice of it, as on the dashboard's overview: a day's KPIs depend only on that day and the
days before) and recent tables, for paging through them.
"""

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl

from connectors import SourceError
from connectors.extracts import ExtractSource
from metrics.kpis import daily_kpis
from metrics.segments import Segment
from shop_analytics.api.problems import ProblemError, source_unavailable
from shop_analytics.config import AppConfig, ConfigError, load_config, secrets_path
from shop_analytics.exports import segmented
from shop_analytics.loading import Shop
from shop_analytics.opening import configured_source, extract_for, load_configured

logger = logging.getLogger("shop_analytics.api")

LOAD_WAIT_SECONDS = 120
"""How long a request waits for the shop that another request is loading before it is told
to come back (503 with Retry-After)."""
RETRY_AFTER_SECONDS = 10


@dataclass(frozen=True)
class Served:
    """The configuration and the loaded shop a request is answered from, with `key` naming
    both (configuration fingerprint and extract generation) and what to say about the data's
    freshness."""

    config: AppConfig
    shop: Shop
    key: tuple
    loaded_at: datetime
    refreshed_at: datetime | None = None
    stale_reason: str | None = None

    @property
    def freshness(self) -> dict:
        """The data's source and age, for every answer: `stale` holds why a server database's
        extract is older than its time-to-live (its last refresh failed), else null."""
        return {
            "source": self.shop.description,
            "loaded_at": self.loaded_at.isoformat(),
            "refreshed_at": self.refreshed_at.isoformat() if self.refreshed_at else None,
            "stale": self.stale_reason,
        }


class LruCache:
    """A thread-safe dictionary of at most `size` entries that forgets the least recently used.
    An absent entry is computed once: whoever asks for it meanwhile waits for that computation
    instead of repeating it (twenty clients asking for a new segment at once cost one)."""

    def __init__(self, size: int):
        self.size = size
        self._entries: OrderedDict = OrderedDict()
        self._computing: dict[Hashable, threading.Event] = {}
        self._mutex = threading.Lock()

    def get(self, key: Hashable, compute: Callable):
        """The entry of `key`, computed by the first asker when absent (an error is raised to
        that asker, and the next asker computes again)."""
        while True:
            with self._mutex:
                if key in self._entries:
                    self._entries.move_to_end(key)
                    return self._entries[key]
                running = self._computing.get(key)
                if running is None:
                    running = self._computing[key] = threading.Event()
                    break
            running.wait()
        try:
            value = compute()
            with self._mutex:
                self._entries[key] = value
                while len(self._entries) > self.size:
                    self._entries.popitem(last=False)
            return value
        finally:
            with self._mutex:
                del self._computing[key]
            running.set()

    def peek(self, key: Hashable):
        """The entry of `key` if it is there, else None (computing nothing)."""
        with self._mutex:
            return self._entries.get(key)

    def prepare(self, key: Hashable, compute: Callable) -> None:
        """Compute the entry of `key` in a background thread unless it is there or being
        computed (a failure is logged; the next asker computes again)."""
        with self._mutex:
            if key in self._entries or key in self._computing:
                return

        def run():
            try:
                self.get(key, compute)
            except Exception:  # noqa: BLE001 - a background computation has nobody to raise to
                logger.exception("preparing %s failed", key)

        threading.Thread(target=run, name="prepare", daemon=True).start()

    def clear(self) -> None:
        with self._mutex:
            self._entries.clear()


def canonical(segment: Segment) -> Segment:
    """The segment with each list sorted and without repeats: the same filter, one cache key."""
    return Segment(*(tuple(sorted(set(values))) for values in (segment.channels, segment.devices, segment.regions)))


@dataclass
class _Loaded:
    shop_key: tuple
    shop: Shop
    loaded_at: datetime


@dataclass
class ShopState:
    """The served shop of one process, from the secrets file `secrets` (None: the default one,
    $SHOP_ANALYTICS_SECRETS or .streamlit/secrets.toml)."""

    secrets: Path | None = None
    _config: AppConfig | None = field(default=None, init=False)
    _config_stamp: tuple | None = field(default=None, init=False)
    _fingerprints: tuple[str, str] = field(default=("", ""), init=False)
    _extracts: dict[str, ExtractSource | None] = field(default_factory=dict, init=False)
    _loaded: _Loaded | None = field(default=None, init=False)
    _load_lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _config_lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    activity: LruCache = field(default_factory=lambda: LruCache(16), init=False)
    shops: LruCache = field(default_factory=lambda: LruCache(4), init=False)
    histories: LruCache = field(default_factory=lambda: LruCache(64), init=False)
    results: LruCache = field(default_factory=lambda: LruCache(64), init=False)

    # -- configuration -----------------------------------------------------------------------

    def config(self) -> AppConfig:
        """The configuration, read again when the secrets file changed (a wrong one is a 503
        problem naming the key and the fix)."""
        return self._read_config()[0]

    def _read_config(self) -> tuple[AppConfig, str, str]:
        """The configuration with its fingerprint and shop fingerprint."""
        path = secrets_path(self.secrets)
        try:
            stat = path.stat()
            stamp: tuple = (str(path), stat.st_mtime_ns, stat.st_size)
        except FileNotFoundError:
            stamp = (str(path), None, None)
        with self._config_lock:
            if stamp != self._config_stamp or self._config is None:
                try:
                    self._config = load_config(path)
                except ConfigError as error:
                    raise source_unavailable(f"the configuration {path} is wrong: {error}") from None
                self._config_stamp = stamp
                # digests of the whole configuration, taken once per reading rather than per request
                self._fingerprints = (self._config.fingerprint, self._config.shop_fingerprint)
            return self._config, *self._fingerprints

    def _extract(self, config: AppConfig, shop_fingerprint: str) -> ExtractSource | None:
        """The extract of the configured source, one per shop fingerprint (it remembers why
        its last refresh failed)."""
        if shop_fingerprint not in self._extracts:
            try:
                self._extracts[shop_fingerprint] = extract_for(config)
            except SourceError as error:
                raise source_unavailable(str(error), RETRY_AFTER_SECONDS) from None
        return self._extracts[shop_fingerprint]

    # -- the shop ----------------------------------------------------------------------------

    def current(self) -> Served:
        """The configuration and loaded shop to answer from now (see the module docstring)."""
        config, fingerprint, shop_fingerprint = self._read_config()
        if not self._load_lock.acquire(timeout=LOAD_WAIT_SECONDS):
            raise source_unavailable("the shop is still being loaded: try again shortly", RETRY_AFTER_SECONDS)
        try:
            extract = self._extract(config, shop_fingerprint)
            refreshed_at, stale = None, None
            generation = None
            if extract is not None:
                try:
                    manifest = extract.current()
                except SourceError as error:
                    raise source_unavailable(f"{error}", RETRY_AFTER_SECONDS) from None
                generation, refreshed_at = manifest.generation, manifest.refreshed_at
                if extract.stale is not None:
                    stale = f"the last refresh failed at {extract.stale.failed_at.isoformat()} ({extract.stale.reason}); serving the extract of {manifest.refreshed_at.isoformat()}"
            shop_key = (shop_fingerprint, generation)
            if self._loaded is None or self._loaded.shop_key != shop_key:
                self._loaded = None
                for cache in (self.activity, self.shops, self.histories, self.results):
                    cache.clear()
                try:
                    shop = load_configured(config, extract or configured_source(config))
                except SourceError as error:
                    raise source_unavailable(str(error), RETRY_AFTER_SECONDS) from None
                self._loaded = _Loaded(shop_key, shop, datetime.now(UTC))
                logger.info("loaded %s", shop.description)
            loaded = self._loaded
        finally:
            self._load_lock.release()
        return Served(config, loaded.shop, (fingerprint, generation), loaded.loaded_at, refreshed_at, stale)

    def start_loading(self) -> threading.Thread:
        """Load the shop in the background now, then the daily KPI histories of the whole shop
        and of each channel and device (what most requests filter by), so that the first
        requests find them ready (a failure is logged and said again to whoever asks)."""
        def load():
            try:
                served = self.current()
            except ProblemError as problem:
                logger.warning("the shop cannot be loaded yet: %s", problem.detail)
                return
            started = time.perf_counter()
            tz = served.config.settings.time_zone
            segments = [Segment()] + [Segment(channels=(value,)) for value in served.shop.labels("channel")]
            segments += [Segment(devices=(value,)) for value in served.shop.labels("device")]
            try:
                for segment in segments:
                    self.kpi_history(served, tz, segment)
            except (SourceError, ValueError) as error:
                logger.warning("no daily KPI history to prepare: %s", error)
                return
            logger.info("daily KPI histories of %d segments ready in %.1f s", len(segments), time.perf_counter() - started)

        thread = threading.Thread(target=load, name="shop-load", daemon=True)
        thread.start()
        return thread

    # -- what is computed from it ------------------------------------------------------------

    def segment_shop(self, served: Served, segment: Segment) -> Shop:
        """The shop restricted to `segment` (exports.segmented), kept for the next request."""
        segment = canonical(segment)
        return self.shops.get((served.key, segment), lambda: segmented(served.shop, segment))

    def activity_frames(self, served: Served, segment: Segment) -> tuple[pl.DataFrame, ...]:
        """The segment's activity events, sessions, orders and users (Shop.activity: what
        the daily KPIs read, and what they give on every event)."""
        shop, segment, sessions = served.shop, canonical(segment), served.shop.sessions
        if sessions is None:
            raise SourceError(f"{shop.description} has no events, so no activity to count")
        return self.activity.get((served.key, segment), lambda: segment.apply(shop.activity, sessions, shop.orders, shop.users))

    def _history(self, served: Served, tz: str, segment: Segment) -> tuple[tuple, Callable]:
        def compute():
            span = served.shop.date_span(tz)
            if span is None:
                return pl.DataFrame()
            return daily_kpis(*self.activity_frames(served, segment), start=span[0], end=span[1], tz=tz)

        return (served.key, tz, canonical(segment)), compute

    def kpi_history(self, served: Served, tz: str, segment: Segment) -> pl.DataFrame:
        """The segment's daily KPIs over every day of the data in zone `tz` (no rows without
        activity)."""
        return self.histories.get(*self._history(served, tz, segment))

    def daily_kpis(self, served: Served, start: date, end: date, tz: str, segment: Segment) -> pl.DataFrame:
        """metrics.kpis.daily_kpis of the segment for start..end: a slice of the segment's
        history when it is ready and covers the period, else computed for the period from the
        segment's activity frames (as the dashboard does) while the history is prepared in the
        background: a year's history of a new segment costs some ten times a month's table."""
        key, compute = self._history(served, tz, segment)
        history = self.histories.peek(key)
        if history is None:
            self.histories.prepare(key, compute)
        elif history.height and history["date"][0] <= start and end <= history["date"][-1]:
            return history.filter(pl.col("date").is_between(start, end))
        return daily_kpis(*self.activity_frames(served, segment), start=start, end=end, tz=tz)

