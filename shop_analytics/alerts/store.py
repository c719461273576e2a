"""The alerts' memory: rules, each alert's state and every send, in a local SQLite file
(SQLAlchemy Core, bound parameters only).

An alert is open from the first check that finds it (first seen) until a check of a later
or the same day no longer does (resolved); finding it again later opens a new alert. A
message is owed to a target for every open alert it has not received ("new") and for every
resolved alert it received but whose resolution it has not ("resolved"); a send that failed
leaves the message owed, so the next check tries again; a send whose outcome is unknown
(the target took the request but its answer came too late) is not owed again: it may have
arrived, and sending blindly would repeat it. Times are stored as UTC.

Checks and report runs in several processes (cron, the scheduler, the page's "check now")
share the file: `lock` lets one of them at a time do a piece of work, through a row inserted
under a unique name, which SQLite grants to one writer only.
"""

import os
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import overload

import polars as pl
import sqlalchemy as sa

from shop_analytics.alerts.evaluate import Evaluation
from shop_analytics.alerts.rules import AlertRule

OPEN, RESOLVED = "open", "resolved"
NEW_EVENT, RESOLVED_EVENT = "new", "resolved"
SENT, FAILED, UNKNOWN = "sent", "failed", "unknown"
SEND_STATUSES = (SENT, FAILED, UNKNOWN)
# How long a writer waits for SQLite's write lock before giving up with an error.
BUSY_SECONDS = 30
# The file holds webhook keys and addresses: readable by its owner only.
FILE_MODE = 0o600

METADATA = sa.MetaData()
RULES = sa.Table(
    "rules", METADATA,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("metric", sa.String, nullable=False),
    sa.Column("operator", sa.String, nullable=False),
    sa.Column("threshold", sa.Float, nullable=False),
    sa.Column("kind", sa.String, nullable=False),
    sa.Column("channels", sa.JSON, nullable=False),
    sa.Column("devices", sa.JSON, nullable=False),
    sa.Column("regions", sa.JSON, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)
ALERTS = sa.Table(
    "alerts", METADATA,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("key", sa.String, nullable=False, index=True),
    sa.Column("kind", sa.String, nullable=False),
    sa.Column("metric", sa.String, nullable=False),
    sa.Column("rule_id", sa.Integer),
    sa.Column("member", sa.String),
    sa.Column("status", sa.String, nullable=False),
    sa.Column("first_seen_day", sa.Date, nullable=False),
    sa.Column("last_seen_day", sa.Date, nullable=False),
    sa.Column("first_seen_at", sa.DateTime, nullable=False),
    sa.Column("last_sent_at", sa.DateTime),
    sa.Column("resolved_day", sa.Date),
    sa.Column("resolved_at", sa.DateTime),
    sa.Column("value", sa.Float),
    sa.Column("reference", sa.Float),
    sa.Column("resolved_value", sa.Float),
    sa.Column("details", sa.JSON, nullable=False),
)
SENDS = sa.Table(
    "sends", METADATA,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("at", sa.DateTime, nullable=False),
    sa.Column("target", sa.String, nullable=False),
    sa.Column("target_kind", sa.String, nullable=False),
    sa.Column("purpose", sa.String, nullable=False),
    sa.Column("subject", sa.String, nullable=False),
    sa.Column("status", sa.String, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("error", sa.String),
)
SEND_ITEMS = sa.Table(
    "send_items", METADATA,
    sa.Column("send_id", sa.ForeignKey("sends.id"), nullable=False, index=True),
    sa.Column("alert_id", sa.ForeignKey("alerts.id"), nullable=False, index=True),
    sa.Column("event", sa.String, nullable=False),
)
LOCKS = sa.Table(
    "locks", METADATA,
    sa.Column("name", sa.String, primary_key=True),
    sa.Column("holder", sa.String, nullable=False),
    sa.Column("acquired_at", sa.DateTime, nullable=False),
    sa.Column("expires_at", sa.DateTime, nullable=False),
)
ALERT_COLUMNS = {
    "id": pl.Int64(), "key": pl.String(), "kind": pl.String(), "metric": pl.String(), "rule_id": pl.Int64(),
    "member": pl.String(), "status": pl.String(), "first_seen_day": pl.Date(), "last_seen_day": pl.Date(),
    "first_seen_at": pl.Datetime("us", "UTC"), "last_sent_at": pl.Datetime("us", "UTC"),
    "resolved_day": pl.Date(), "resolved_at": pl.Datetime("us", "UTC"), "value": pl.Float64(),
    "reference": pl.Float64(), "resolved_value": pl.Float64(),
}
SEND_COLUMNS = {
    "id": pl.Int64(), "at": pl.Datetime("us", "UTC"), "target": pl.String(), "target_kind": pl.String(),
    "purpose": pl.String(), "subject": pl.String(), "status": pl.String(), "attempts": pl.Int64(),
    "error": pl.String(), "alerts": pl.Int64(),
}


def _stored(moment: datetime) -> datetime:
    """A UTC-aware instant as SQLite keeps it: naive UTC."""
    return moment.astimezone(UTC).replace(tzinfo=None)


@overload
def _read(moment: datetime) -> datetime: ...
@overload
def _read(moment: None) -> None: ...
def _read(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment.replace(tzinfo=UTC)


def inserted_id(result: sa.CursorResult) -> int:
    """The primary key of the one row a single-row INSERT just added."""
    key = result.inserted_primary_key
    if key is None:  # SQLAlchemy has no key only for a statement that added no single row
        raise RuntimeError("an INSERT of one row returned no new row id")
    return key[0]


def _alert(row) -> dict:
    alert = dict(row._mapping)
    for name in ("first_seen_at", "last_sent_at", "resolved_at"):
        alert[name] = _read(alert[name])
    return alert


def _rule(row) -> AlertRule:
    return AlertRule(
        row.metric, row.operator, row.threshold, row.kind,
        channels=row.channels, devices=row.devices, regions=row.regions, id=row.id,
    )


class Busy(ValueError):
    """Another process holds the lock; the message says who, since when and what to do (a
    ValueError, so that a command prints it on one line like any refusal)."""


def _holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _is_gone(holder: str) -> bool:
    """Whether the process that took a lock on this machine has ended (a crash left it)."""
    host, _, rest = holder.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class AlertStore:
    """Rules, alerts and sends in the SQLite file `path` (created with its folder if absent,
    readable by its owner only)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.path.exists():
            self.path.touch(mode=FILE_MODE)
        # SQLite lets one writer in at a time; the others wait up to BUSY_SECONDS, not forever.
        self.engine = sa.create_engine(sa.URL.create("sqlite", database=str(self.path)), connect_args={"timeout": BUSY_SECONDS})
        METADATA.create_all(self.engine)

    # Locks --------------------------------------------------------------------------------
    def try_lock(self, name: str, holder: str, *, lease: timedelta, now: datetime) -> bool:
        """Take the lock `name` for `holder` until now + lease, unless another holds it; a
        lock whose lease ran out, or whose process on this machine has ended, is taken over."""
        with self.engine.begin() as connection:
            current = connection.execute(sa.select(LOCKS).where(LOCKS.c.name == name)).first()
            if current is not None:
                expired = _read(current.expires_at) <= now
                if current.holder != holder and not expired and not _is_gone(current.holder):
                    return False
                connection.execute(sa.delete(LOCKS).where(LOCKS.c.name == name, LOCKS.c.holder == current.holder))
            try:
                connection.execute(sa.insert(LOCKS).values(name=name, holder=holder, acquired_at=_stored(now), expires_at=_stored(now + lease)))
            except sa.exc.IntegrityError:
                return False
        return True

    def lock_holder(self, name: str) -> dict | None:
        """Who holds the lock `name` and since when, None when it is free."""
        with self.engine.connect() as connection:
            row = connection.execute(sa.select(LOCKS).where(LOCKS.c.name == name)).first()
        return None if row is None else {"holder": row.holder, "acquired_at": _read(row.acquired_at), "expires_at": _read(row.expires_at)}

    def unlock(self, name: str, holder: str) -> None:
        with self.engine.begin() as connection:
            connection.execute(sa.delete(LOCKS).where(LOCKS.c.name == name, LOCKS.c.holder == holder))

    def _busy_message(self, name: str, wait: float) -> str:
        taken = self.lock_holder(name)
        if taken is None:
            return f"{name} was being done by another process; waited {wait:g} s: try again"
        return (
            f"{name} is being done by another process ({taken['holder']}, since {taken['acquired_at']:%Y-%m-%d %H:%M:%S} UTC); "
            f"waited {wait:g} s. It ends by itself; were that process gone, the lock frees itself at {taken['expires_at']:%Y-%m-%d %H:%M} UTC"
        )

    @contextmanager
    def lock(
        self,
        name: str,
        *,
        lease: timedelta = timedelta(hours=1),
        wait: float = 60.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], None] = time.sleep,
        poll: float = 0.2,
    ) -> Iterator[str]:
        """Hold the lock `name` (one holder across every process using this file) for the
        block, waiting up to `wait` seconds for it; Busy when it stays taken."""
        holder = _holder()
        waited = 0.0
        while not self.try_lock(name, holder, lease=lease, now=clock()):
            if waited >= wait:
                raise Busy(self._busy_message(name, wait))
            sleep(poll)
            waited += poll
        try:
            yield holder
        finally:
            self.unlock(name, holder)

    # Rules --------------------------------------------------------------------------------
    def rules(self) -> list[AlertRule]:
        with self.engine.connect() as connection:
            return [_rule(row) for row in connection.execute(sa.select(RULES).order_by(RULES.c.id))]

    def _rule_values(self, rule: AlertRule, now: datetime) -> dict:
        return {
            "metric": rule.metric, "operator": rule.operator, "threshold": float(rule.threshold), "kind": rule.kind,
            "channels": list(rule.channels), "devices": list(rule.devices), "regions": list(rule.regions),
            "updated_at": _stored(now),
        }

    def add_rule(self, rule: AlertRule, *, now: datetime | None = None) -> int:
        """Store a new rule; returns its id."""
        with self.engine.begin() as connection:
            result = connection.execute(sa.insert(RULES).values(self._rule_values(rule, now or datetime.now(UTC))))
            return inserted_id(result)

    def update_rule(self, rule_id: int, rule: AlertRule, *, now: datetime | None = None) -> None:
        """Replace rule `rule_id` by `rule` (KeyError when there is no such rule). Its open
        alerts stay open and resolve at the next check that no longer finds them."""
        with self.engine.begin() as connection:
            result = connection.execute(
                sa.update(RULES).where(RULES.c.id == rule_id).values(self._rule_values(rule, now or datetime.now(UTC)))
            )
            if result.rowcount == 0:
                raise KeyError(f"there is no rule {rule_id}")

    def delete_rule(self, rule_id: int) -> None:
        """Delete rule `rule_id`; its open alerts resolve at the next check."""
        with self.engine.begin() as connection:
            connection.execute(sa.delete(RULES).where(RULES.c.id == rule_id))

    # Alert state --------------------------------------------------------------------------
    def record(self, evaluation: Evaluation, *, now: datetime) -> tuple[list[int], list[int]]:
        """Take a check's findings into the state: a finding whose key has an open alert
        updates it (last seen, value); any other opens a new alert (first seen); an open
        alert the check did not find, and last seen on or before the day checked, resolves
        with the day's value. Returns the ids opened and the ids resolved."""
        found = {finding.key: finding for finding in evaluation.findings}
        opened, resolved = [], []
        with self.engine.begin() as connection:
            current = {row.key: row for row in connection.execute(sa.select(ALERTS).where(ALERTS.c.status == OPEN))}
            for key, finding in found.items():
                values = {"value": finding.value, "reference": finding.reference, "details": finding.details}
                if key in current:
                    last_seen = max(current[key].last_seen_day, evaluation.day)
                    connection.execute(
                        sa.update(ALERTS).where(ALERTS.c.id == current[key].id).values(values | {"last_seen_day": last_seen})
                    )
                    continue
                result = connection.execute(
                    sa.insert(ALERTS).values(
                        values | {
                            "key": key, "kind": finding.kind, "metric": finding.metric, "rule_id": finding.rule_id,
                            "member": finding.member, "status": OPEN, "first_seen_day": evaluation.day,
                            "last_seen_day": evaluation.day, "first_seen_at": _stored(now),
                        }
                    )
                )
                opened.append(inserted_id(result))
            for key, row in current.items():
                if key in found or evaluation.day < row.last_seen_day:
                    continue
                connection.execute(
                    sa.update(ALERTS).where(ALERTS.c.id == row.id).values(
                        status=RESOLVED, resolved_day=evaluation.day, resolved_at=_stored(now),
                        resolved_value=evaluation.values.get(key),
                    )
                )
                resolved.append(row.id)
        return opened, resolved

    def _delivered(self, target: str, event: str) -> sa.Exists:
        """Whether `target` received `event` of the alert of the outer query, or may have
        (a send whose outcome is unknown is not repeated blindly)."""
        return sa.exists().where(
            SEND_ITEMS.c.alert_id == ALERTS.c.id,
            SEND_ITEMS.c.event == event,
            SEND_ITEMS.c.send_id == SENDS.c.id,
            SENDS.c.target == target,
            SENDS.c.status.in_((SENT, UNKNOWN)),
        )

    def owed(self, target: str) -> list[dict]:
        """The alerts `target` is owed a message about, each with its `event` ("new" or
        "resolved"), oldest first."""
        new = sa.select(ALERTS, sa.literal(NEW_EVENT).label("event")).where(
            ALERTS.c.status == OPEN, ~self._delivered(target, NEW_EVENT)
        )
        cleared = sa.select(ALERTS, sa.literal(RESOLVED_EVENT).label("event")).where(
            ALERTS.c.status == RESOLVED, self._delivered(target, NEW_EVENT), ~self._delivered(target, RESOLVED_EVENT)
        )
        with self.engine.connect() as connection:
            rows = [*connection.execute(new), *connection.execute(cleared)]
        return sorted((_alert(row) for row in rows), key=lambda alert: (alert["event"] != NEW_EVENT, alert["id"]))

    def record_send(
        self,
        *,
        target: str,
        target_kind: str,
        purpose: str,
        subject: str,
        delivered: bool,
        attempts: int,
        error: str | None,
        items: Iterable[tuple[int, str]] = (),
        at: datetime,
        unknown: bool = False,
    ) -> int:
        """Keep one send (to one target, of one message about the alerts `items`, each an
        (alert id, event) pair): sent, failed, or `unknown` (it may have arrived); a
        delivered one sets those alerts' last sent time."""
        items = list(items)
        with self.engine.begin() as connection:
            send_id = inserted_id(connection.execute(
                sa.insert(SENDS).values(
                    at=_stored(at), target=target, target_kind=target_kind, purpose=purpose, subject=subject,
                    status=SENT if delivered else UNKNOWN if unknown else FAILED, attempts=attempts, error=error,
                )
            ))
            if items:
                connection.execute(
                    sa.insert(SEND_ITEMS), [{"send_id": send_id, "alert_id": alert, "event": event} for alert, event in items]
                )
            if delivered and items:
                connection.execute(
                    sa.update(ALERTS).where(ALERTS.c.id.in_([alert for alert, _ in items])).values(last_sent_at=_stored(at))
                )
        return send_id

    # Reading ------------------------------------------------------------------------------
    def alerts(self, *, open_only: bool = False, since: date | None = None, until: date | None = None) -> list[dict]:
        """Alerts, newest first: the open ones, and unless `open_only` the resolved ones too
        (with `since` and `until`, those that held on some day between them)."""
        query = sa.select(ALERTS).order_by(ALERTS.c.last_seen_day.desc(), ALERTS.c.id.desc())
        if open_only:
            query = query.where(ALERTS.c.status == OPEN)
        else:
            held = [ALERTS.c.last_seen_day >= since] if since else []
            held += [ALERTS.c.first_seen_day <= until] if until else []
            query = query.where(sa.or_(ALERTS.c.status == OPEN, sa.and_(sa.true(), *held)))
        with self.engine.connect() as connection:
            return [_alert(row) for row in connection.execute(query)]

    def sends(self, *, limit: int = 200) -> pl.DataFrame:
        """The latest sends, newest first, with how many alerts each was about.
        Columns: SEND_COLUMNS."""
        counted = sa.select(SEND_ITEMS.c.send_id, sa.func.count().label("alerts")).group_by(SEND_ITEMS.c.send_id).subquery()
        query = (
            sa.select(SENDS, sa.func.coalesce(counted.c.alerts, 0).label("alerts"))
            .outerjoin(counted, counted.c.send_id == SENDS.c.id)
            .order_by(SENDS.c.id.desc())
            .limit(limit)
        )
        with self.engine.connect() as connection:
            rows = [dict(row._mapping) | {"at": _read(row.at)} for row in connection.execute(query)]
        return pl.DataFrame(rows, schema=SEND_COLUMNS)


def alerts_frame(alerts: list[dict]) -> pl.DataFrame:
    """Alert rows (AlertStore.alerts) as a table, without their details. Columns: ALERT_COLUMNS."""
    return pl.DataFrame([{name: alert[name] for name in ALERT_COLUMNS} for alert in alerts], schema=ALERT_COLUMNS)
