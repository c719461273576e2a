"""Sign-in attempts limited per user name and per client address: after `max_failures`
wrong passwords within `lock` of each other, that name (or client) is locked for `lock`.
One limiter serves the whole server process (ui/access.py keeps it in st.cache_resource),
so opening more browser tabs gains nothing.

An attempt is counted as a failure when it is admitted, before its password is checked, and
admission and count are one step under the limiter's lock: attempts sent at the same moment
cannot all pass the check before any of them is counted, so a burst costs at most the limit
in password checks (argon2 work). An attempt whose password turns out right takes its count
back."""

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta


@dataclass(frozen=True)
class Attempt:
    """One sign-in attempt as the limiter answered it: refused while a key is locked
    (`refused_until`, nothing counted), else admitted and counted at `at` against `keys`,
    `locked` being the keys its count locked."""

    at: datetime
    keys: tuple[str, ...] = ()
    locked: tuple[str, ...] = ()
    refused_until: datetime | None = None


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

    def admit(self, limits: dict[str, int]) -> Attempt:
        """Admit an attempt against every key of `limits` (key: its limit), or refuse it while
        one is locked. Admitted, it counts as a failure at once; a key reaching its limit
        (failures within `lock`) is locked for `lock` from now and its count starts again."""
        now = self._clock()
        with self._mutex:
            self._forget(now)
            ends = [self._locked_until[key] for key in limits if key in self._locked_until]
            if ends:
                return Attempt(now, refused_until=max(ends))
            locked = []
            for key, limit in limits.items():
                failures = self._failures.setdefault(key, deque())
                failures.append(now)
                if len(failures) >= limit:
                    self._locked_until[key] = now + self.lock
                    del self._failures[key]
                    locked.append(key)
        return Attempt(now, tuple(limits), tuple(locked))

    def succeeded(self, attempt: Attempt, forget: str) -> None:
        """`attempt` had the right password: take back its count and the locks that count set,
        and forget every failure of `forget` (the user's name)."""
        with self._mutex:
            for key in attempt.keys:
                failures = self._failures.get(key)
                if failures is not None and attempt.at in failures:
                    failures.remove(attempt.at)
                    if not failures:
                        del self._failures[key]
            for key in attempt.locked:
                if self._locked_until.get(key) == attempt.at + self.lock:
                    del self._locked_until[key]
            self._failures.pop(forget, None)

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
