"""Alerts are sent once (issue 23, item 4): two checks of the same day started at once (two
threads, each with its own connection to the alert database, as two processes have) deliver
the message once; a receiver that answers after the timeout but accepts gets it once, the
send kept as "unknown" and not repeated by the next check; the lock itself is taken by one
holder at a time and freed when its process is gone."""

import socket
import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from alert_servers import HookServer

from shop_analytics.alerts.check import CHECK_LOCK, run_check
from shop_analytics.alerts.config import alert_config
from shop_analytics.alerts.notify import message_key
from shop_analytics.alerts.rules import AlertRule
from shop_analytics.alerts.store import UNKNOWN, AlertStore, Busy
from shop_analytics.config import Settings

SETTINGS = Settings()
DAY = date(2026, 11, 20)


def _config(tmp_path, hook: HookServer, *, timeout: float = 5.0):
    values = {"database": str(tmp_path / "alerts.db"), "send_attempts": 3, "retry_seconds": 0, "timeout_seconds": timeout,
              "webhooks": [{"name": "ops", "kind": "generic", "url": f"{hook.url}/hook"}]}
    return alert_config(values, SETTINGS, environ={})


def _always(store: AlertStore) -> None:
    """A rule that holds every day: GMV at or above zero."""
    store.add_rule(AlertRule("gmv", ">=", 0))


def test_two_checks_of_the_same_day_started_at_once_deliver_once(tmp_path, small_shop):
    # The receiver takes a moment to answer, so that both checks are under way together.
    hook = HookServer(late=2, late_seconds=0.4).start()
    config = _config(tmp_path, hook)
    _always(AlertStore(config.database))
    results, errors = [], []
    start = threading.Barrier(2)

    def check():
        store = AlertStore(config.database)  # a connection of its own, as another process has
        start.wait()
        try:
            results.append(run_check(small_shop, store, config, SETTINGS, day=DAY))
        except Exception as error:  # noqa: BLE001 - kept to fail the test with it below
            errors.append(error)

    threads = [threading.Thread(target=check) for _ in range(2)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        hook.stop()
    assert not errors and len(results) == 2
    assert len(hook.posts) == 1 and hook.posts[0]["body"]["alerts"][0]["metric"] == "gmv"
    assert sorted(len(result.new) for result in results) == [0, 1]
    assert sorted(len(result.sends) for result in results) == [0, 1]
    sends = AlertStore(config.database).sends()
    assert sends["status"].to_list() == ["sent"]
    assert AlertStore(config.database).lock_holder(CHECK_LOCK) is None  # freed after both


def test_a_late_answer_is_unknown_and_not_sent_again(tmp_path, small_shop):
    """The receiver accepts but answers after the timeout: kept as unknown, not retried by
    the check's own retries nor by the next check."""
    hook = HookServer(late=1, late_seconds=1.5).start()
    config = _config(tmp_path, hook, timeout=0.5)
    store = AlertStore(config.database)
    _always(store)
    try:
        first = run_check(small_shop, store, config, SETTINGS, day=DAY)
        second = run_check(small_shop, store, config, SETTINGS, day=DAY)
    finally:
        hook.stop()
    assert len(hook.posts) == 1 == len(hook.accepted())
    [send] = first.sends
    assert send.delivery.unknown and send.delivery.attempts == 1 and not first.failed
    assert "did not answer within 0.5 s" in send.delivery.error and "may have arrived" in send.delivery.error
    assert first.summary() == "1 new, 0 resolved, 0 failed, 1 unknown"
    assert second.sends == [] and second.summary() == "0 new, 0 resolved, 0 failed"
    assert store.sends()["status"].to_list() == [UNKNOWN]


def test_the_generic_webhook_carries_an_idempotency_key_made_from_the_message(tmp_path, small_shop):
    hook = HookServer(statuses=[500]).start()
    config = _config(tmp_path, hook)
    store = AlertStore(config.database)
    _always(store)
    try:
        run_check(small_shop, store, config, SETTINGS, day=DAY)
    finally:
        hook.stop()
    keys = [post["headers"]["Idempotency-Key"] for post in hook.posts]
    [alert] = store.alerts()
    assert len(keys) == 2 and keys[0] == keys[1] == message_key("alerts", "ops", (alert["id"], "new"))


def test_the_lock_has_one_holder_and_is_freed_when_its_process_is_gone(tmp_path):
    store = AlertStore(tmp_path / "alerts.db")
    now = datetime(2026, 11, 20, 8, tzinfo=UTC)
    assert store.try_lock("job", "host-a:1:x", lease=timedelta(minutes=10), now=now)
    assert not store.try_lock("job", "host-b:2:y", lease=timedelta(minutes=10), now=now + timedelta(minutes=5))
    # After its lease, the lock is taken over.
    assert store.try_lock("job", "host-b:2:y", lease=timedelta(minutes=10), now=now + timedelta(minutes=11))
    # A holder on this machine whose process has ended leaves it at once.
    gone = f"{socket.gethostname()}:{2**22 + 12345}:z"
    other = AlertStore(tmp_path / "other.db")
    assert other.try_lock("job", gone, lease=timedelta(hours=1), now=now)
    assert other.try_lock("job", "host-c:3:w", lease=timedelta(hours=1), now=now + timedelta(seconds=1))
    waits = []
    with pytest.raises(Busy, match="job is being done by another process"):
        with other.lock("job", wait=0.4, sleep=waits.append, poll=0.2, clock=lambda: now):
            pass
    assert waits == [0.2, 0.2]


def test_alerts_db_is_readable_by_its_owner_only(tmp_path):
    store = AlertStore(tmp_path / "fresh" / "alerts.db")
    assert store.path.stat().st_mode & 0o777 == 0o600
