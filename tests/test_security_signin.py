"""Issue 23, item 3: ten simultaneous wrong passwords for one name with max_failures = 3 got
about ten argon2 checks. Each attempt is now counted as a failure before its password is
checked, atomically, so at most max_failures attempts of one name reach argon2.

The checks are counted where argon2 itself does them (argon2.low_level.verify_secret, the
library function every PasswordHasher.verify ends in), seen through the threads' profile
hook: nothing of ours is replaced or wrapped."""

import threading

import argon2.low_level
import pytest

from shop_analytics.access import SignInLimiter, access_config, hash_password, sign_in

ATTEMPTS = 10
MAX_FAILURES = 3


class Argon2Checks:
    """Counts calls of argon2's verify_secret in the threads started while it is installed."""

    def __init__(self) -> None:
        self.count = 0
        self._mutex = threading.Lock()

    def __call__(self, frame, event, arg):
        if event == "call" and frame.f_code is argon2.low_level.verify_secret.__code__:
            with self._mutex:
                self.count += 1

    def __enter__(self):
        threading.setprofile(self)
        return self

    def __exit__(self, *exc):
        threading.setprofile(None)


@pytest.fixture(scope="module")
def config():
    return access_config({
        "users": {"alice": {"password_hash": hash_password("correct horse"), "role": "analyst"}},
        "max_failures": MAX_FAILURES,
        "lock_minutes": 15,
    })


def simultaneous(config, limiter, passwords: list[str], clients: list[str]) -> list:
    """Sign in as alice once per password, every attempt in its own thread, all released at once."""
    start = threading.Barrier(len(passwords))
    results = [None] * len(passwords)

    def attempt(number: int) -> None:
        start.wait()
        results[number] = sign_in(config, limiter, "alice", passwords[number], clients[number])

    threads = [threading.Thread(target=attempt, args=(number,)) for number in range(len(passwords))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_ten_simultaneous_wrong_passwords_cost_at_most_max_failures_argon2_checks(config):
    limiter = SignInLimiter(lock=config.lock)
    with Argon2Checks() as checks:
        results = simultaneous(config, limiter, [f"guess {n}" for n in range(ATTEMPTS)], [f"203.0.113.{n}" for n in range(ATTEMPTS)])
    assert checks.count == MAX_FAILURES
    assert all(result.user is None for result in results)
    # Every attempt is refused with the lock: the three checked ones after their check (the
    # third count locked the name), the seven others without one.
    assert all(result.locked_until is not None for result in results)
    # The name stays locked for the right password too, from any client.
    with Argon2Checks() as later:
        after = simultaneous(config, limiter, ["correct horse"], ["198.51.100.7"])
    assert after[0].user is None and after[0].locked_until is not None and later.count == 0


def test_a_right_password_takes_back_its_own_count_and_the_limit_holds_after_it(config):
    """A sign-in that succeeds leaves no failure behind, so the next burst of wrong passwords
    again gets exactly max_failures checks before the name locks."""
    limiter = SignInLimiter(lock=config.lock)
    first = simultaneous(config, limiter, ["correct horse"], ["198.51.100.7"])
    assert first[0].user is not None and first[0].user.name == "alice"
    with Argon2Checks() as checks:
        results = simultaneous(config, limiter, ["wrong"] * ATTEMPTS, ["203.0.113.9"] * ATTEMPTS)
    assert checks.count == MAX_FAILURES and all(result.user is None for result in results)
