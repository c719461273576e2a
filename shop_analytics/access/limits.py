"""Sign-in attempts limited per user name and per client address: after `max_failures`
wrong passwords within `lock` of each other, that name (or client) is locked for `lock`.
One limiter serves the whole server process (ui/access.py keeps it in st.cache_resource),
so opening more browser tabs gains nothing."""

import threading
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta


class SignInLimiter:
    """Failures and locks by key ("name:alice", "client:203.0.113.5"), thread-safe."""

    def __init__(self, *, lock: timedelta, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.lock = lock
        self._clock = clock
        self._failures: dict[str, deque[datetime]] = {}
        self._locked_until: dict[str, datetime] = {}
        self._mutex = threading.Lock()

    def locked_until(self, *keys: str) -> datetime | None:
        """The latest time until which any of `keys` is locked, None when none is."""
        now = self._clock()
        with self._mutex:
            self._forget(now)
            ends = [self._locked_until[key] for key in keys if key in self._locked_until]
        return max(ends, default=None)

    def failed(self, limits: dict[str, int]) -> None:
        """Count a failure against every key of `limits`; a key reaching its limit (failures
        within `lock`) is locked for `lock` from now and its count starts again."""
        now = self._clock()
        with self._mutex:
            self._forget(now)
            for key, limit in limits.items():
                failures = self._failures.setdefault(key, deque())
                failures.append(now)
                if len(failures) >= limit:
                    self._locked_until[key] = now + self.lock
                    del self._failures[key]

    def succeeded(self, key: str) -> None:
        """Forget the failures of `key` (a user who got their password right)."""
        with self._mutex:
            self._failures.pop(key, None)

    def _forget(self, now: datetime) -> None:
        """Drop failures older than `lock` and locks that have ended, so that the memory held
        stays bounded by the attempts of the last `lock`."""
        for key in list(self._failures):
            failures = self._failures[key]
            while failures and now - failures[0] >= self.lock:
                failures.popleft()
            if not failures:
                del self._failures[key]
        for key in [key for key, end in self._locked_until.items() if end <= now]:
            del self._locked_until[key]
