"""The scheduler's memory, in the alert database (SQLAlchemy Core, bound parameters only):
subscriptions, each run of a report (one per subscription and due time), its files, each
delivery of it (one per recipient and part: the message, or a file for a robot that takes
files) and the daily jobs (the alerts check).

Exactly once comes from unique rows and conditional updates, which SQLite grants to one
writer at a time, whichever process asks: a run is created by the insert that wins the
(subscription, due time) key; a delivery is sent by the process whose update moved it from
"pending" to "sending"; a job of a day by the insert that wins (job, day).
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import polars as pl
import sqlalchemy as sa

from shop_analytics.alerts.notify import FAILED, SENT, UNKNOWN
from shop_analytics.alerts.store import METADATA, AlertStore, inserted_id
from shop_analytics.scheduler.subscriptions import Recipient, Subscription, check_subscription

PENDING, SENDING, BUILDING, BUILT, DONE, MISSED = "pending", "sending", "building", "built", "done", "missed"
SCHEDULED, MANUAL = "schedule", "manual"
MESSAGE_PART = "message"
FINAL = (SENT, FAILED, UNKNOWN)

SUBSCRIPTIONS = sa.Table(
    "report_subscriptions", METADATA,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String, nullable=False),
    sa.Column("kind", sa.String, nullable=False),
    sa.Column("language", sa.String, nullable=False),
    sa.Column("formats", sa.JSON, nullable=False),
    sa.Column("day", sa.Integer, nullable=False),
    sa.Column("hour", sa.Integer, nullable=False),
    sa.Column("recipients", sa.JSON, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
)
RUNS = sa.Table(
    "report_runs", METADATA,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("subscription_id", sa.ForeignKey("report_subscriptions.id", ondelete="CASCADE"), nullable=False),
    sa.Column("due_at", sa.DateTime, nullable=False),
    sa.Column("trigger", sa.String, nullable=False),
    sa.Column("period_start", sa.Date, nullable=False),
    sa.Column("period_end", sa.Date, nullable=False),
    sa.Column("status", sa.String, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("next_attempt_at", sa.DateTime, nullable=False),
    sa.Column("claimed_by", sa.String),
    sa.Column("claimed_at", sa.DateTime),
    sa.Column("error", sa.String),
    sa.Column("subject", sa.String),
    sa.Column("message", sa.JSON),
    sa.UniqueConstraint("subscription_id", "due_at", "trigger"),
)
FILES = sa.Table(
    "report_files", METADATA,
    sa.Column("run_id", sa.ForeignKey("report_runs.id", ondelete="CASCADE"), nullable=False),
    sa.Column("format", sa.String, nullable=False),
    sa.Column("name", sa.String, nullable=False),
    sa.Column("content", sa.LargeBinary, nullable=False),
    sa.UniqueConstraint("run_id", "format"),
)
DELIVERIES = sa.Table(
    "report_deliveries", METADATA,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("run_id", sa.ForeignKey("report_runs.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("recipient", sa.Integer, nullable=False),
    sa.Column("recipient_name", sa.String, nullable=False),
    sa.Column("part", sa.String, nullable=False),
    sa.Column("status", sa.String, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", sa.DateTime, nullable=False),
    sa.Column("claimed_by", sa.String),
    sa.Column("claimed_at", sa.DateTime),
    sa.Column("error", sa.String),
    sa.Column("key", sa.String, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.UniqueConstraint("run_id", "recipient", "part"),
)
JOBS = sa.Table(
    "scheduled_jobs", METADATA,
    sa.Column("name", sa.String, nullable=False),
    sa.Column("day", sa.Date, nullable=False),
    sa.Column("started_at", sa.DateTime, nullable=False),
    sa.Column("status", sa.String, nullable=False),
    sa.Column("summary", sa.String),
    sa.UniqueConstraint("name", "day"),
)
HISTORY_COLUMNS = {
    "run_id": pl.Int64(), "subscription": pl.String(), "trigger": pl.String(), "due_at": pl.Datetime("us", "UTC"),
    "period_start": pl.Date(), "period_end": pl.Date(), "recipient": pl.String(), "part": pl.String(), "status": pl.String(),
    "attempts": pl.Int64(), "updated_at": pl.Datetime("us", "UTC"), "error": pl.String(),
}


def _stored(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


def _read(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Delivery:
    """A delivery row: which run, recipient and part, its state and its idempotency key."""

    id: int
    run_id: int
    recipient: int
    part: str
    status: str
    attempts: int
    key: str


def _subscription(row) -> Subscription:
    return Subscription(
        name=row.name, kind=row.kind, language=row.language, formats=tuple(row.formats), day=row.day, hour=row.hour,
        recipients=tuple(Recipient(**recipient) for recipient in row.recipients), id=row.id, created_at=_read(row.created_at),
    )


class ScheduleStore:
    """Subscriptions, runs, files, deliveries and jobs in the alert database of `alerts`."""

    def __init__(self, alerts: AlertStore):
        self.alerts = alerts
        self.engine = alerts.engine

    # Subscriptions -----------------------------------------------------------------------
    def add(self, subscription: Subscription, *, now: datetime) -> int:
        """Keep a checked subscription; its id. Due times before `now` are not sent."""
        check_subscription(subscription)
        with self.engine.begin() as connection:
            return inserted_id(connection.execute(sa.insert(SUBSCRIPTIONS).values(
                name=subscription.name.strip(), kind=subscription.kind, language=subscription.language,
                formats=list(subscription.formats), day=subscription.day, hour=subscription.hour,
                recipients=[recipient.as_dict() for recipient in subscription.recipients], created_at=_stored(now),
            )))

    def remove(self, subscription_id: int) -> None:
        """Delete a subscription with its runs, files and deliveries."""
        with self.engine.begin() as connection:
            runs = sa.select(RUNS.c.id).where(RUNS.c.subscription_id == subscription_id)
            connection.execute(sa.delete(DELIVERIES).where(DELIVERIES.c.run_id.in_(runs)))
            connection.execute(sa.delete(FILES).where(FILES.c.run_id.in_(runs)))
            connection.execute(sa.delete(RUNS).where(RUNS.c.subscription_id == subscription_id))
            connection.execute(sa.delete(SUBSCRIPTIONS).where(SUBSCRIPTIONS.c.id == subscription_id))

    def subscriptions(self) -> list[Subscription]:
        with self.engine.connect() as connection:
            return [_subscription(row) for row in connection.execute(sa.select(SUBSCRIPTIONS).order_by(SUBSCRIPTIONS.c.id))]

    def subscription(self, subscription_id: int) -> Subscription:
        with self.engine.connect() as connection:
            row = connection.execute(sa.select(SUBSCRIPTIONS).where(SUBSCRIPTIONS.c.id == subscription_id)).first()
        if row is None:
            raise KeyError(f"there is no subscription {subscription_id}")
        return _subscription(row)

    # Runs ---------------------------------------------------------------------------------
    def create_run(self, subscription: Subscription, *, due: datetime, trigger: str, period: tuple[date, date],
                   parts: list[tuple[int, str, str, str]], status: str = PENDING) -> int | None:
        """The run of `subscription` due at `due`, with a pending delivery per (recipient
        index, recipient name, part, idempotency key) of `parts`; None when another process
        (or an earlier start) already made it."""
        try:
            with self.engine.begin() as connection:
                run_id = inserted_id(connection.execute(sa.insert(RUNS).values(
                    subscription_id=subscription.id, due_at=_stored(due), trigger=trigger, period_start=period[0],
                    period_end=period[1], status=status, attempts=0, next_attempt_at=_stored(due),
                )))
                if parts:
                    connection.execute(sa.insert(DELIVERIES), [
                        {"run_id": run_id, "recipient": index, "recipient_name": name, "part": part, "status": PENDING,
                         "attempts": 0, "next_attempt_at": _stored(due), "key": key, "updated_at": _stored(due)}
                        for index, name, part, key in parts
                    ])
        except sa.exc.IntegrityError:
            return None
        return run_id

    def run(self, run_id: int) -> dict:
        with self.engine.connect() as connection:
            row = connection.execute(sa.select(RUNS).where(RUNS.c.id == run_id)).one()
        return dict(row._mapping) | {"due_at": _read(row.due_at)}

    def claim_build(self, holder: str, *, now: datetime, lease: timedelta) -> int | None:
        """A run whose files are to be made, taken for `holder`: a pending one due, or one
        whose builder stopped (its lease ran out; making files sends nothing, so it is safe
        to do again). None when there is none."""
        with self.engine.begin() as connection:
            candidates = connection.execute(
                sa.select(RUNS.c.id).where(sa.or_(
                    sa.and_(RUNS.c.status == PENDING, RUNS.c.next_attempt_at <= _stored(now)),
                    sa.and_(RUNS.c.status == BUILDING, RUNS.c.claimed_at <= _stored(now - lease)),
                )).order_by(RUNS.c.id)
            ).scalars().all()
        for run_id in candidates:
            with self.engine.begin() as connection:
                taken = connection.execute(
                    sa.update(RUNS).where(RUNS.c.id == run_id, RUNS.c.status.in_((PENDING, BUILDING)),
                                          sa.or_(RUNS.c.status == PENDING, RUNS.c.claimed_at <= _stored(now - lease)))
                    .values(status=BUILDING, claimed_by=holder, claimed_at=_stored(now), attempts=RUNS.c.attempts + 1)
                ).rowcount
            if taken:
                return run_id
        return None

    def built(self, run_id: int, files: dict[str, tuple[str, bytes]], subject: str, message: dict) -> None:
        """Keep the run's files (format: (name, content)) and its chat message; its
        deliveries may go."""
        with self.engine.begin() as connection:
            connection.execute(sa.delete(FILES).where(FILES.c.run_id == run_id))
            connection.execute(sa.insert(FILES), [{"run_id": run_id, "format": name, "name": file[0], "content": file[1]}
                                                  for name, file in files.items()])
            connection.execute(sa.update(RUNS).where(RUNS.c.id == run_id).values(status=BUILT, error=None, subject=subject, message=message))

    def build_failed(self, run_id: int, error: str, *, retry_at: datetime | None) -> None:
        """The report could not be made: tried again at `retry_at`, or failed for good (None)."""
        with self.engine.begin() as connection:
            values = {"status": PENDING, "next_attempt_at": _stored(retry_at)} if retry_at else {"status": FAILED}
            connection.execute(sa.update(RUNS).where(RUNS.c.id == run_id).values(error=error, **values))
            if retry_at is None:
                connection.execute(sa.update(DELIVERIES).where(DELIVERIES.c.run_id == run_id, DELIVERIES.c.status == PENDING)
                                   .values(status=FAILED, error=f"the report was not made: {error}"))

    def files(self, run_id: int) -> dict[str, tuple[str, bytes]]:
        with self.engine.connect() as connection:
            rows = connection.execute(sa.select(FILES).where(FILES.c.run_id == run_id))
            return {row.format: (row.name, row.content) for row in rows}

    # Deliveries ---------------------------------------------------------------------------
    def stale_sends(self, *, now: datetime, lease: timedelta) -> int:
        """Deliveries whose sender stopped while sending (its lease ran out): they may have
        arrived, so they become unknown rather than being sent again. How many."""
        with self.engine.begin() as connection:
            return connection.execute(
                sa.update(DELIVERIES).where(DELIVERIES.c.status == SENDING, DELIVERIES.c.claimed_at <= _stored(now - lease))
                .values(status=UNKNOWN, updated_at=_stored(now),
                        error="the sending process stopped before the answer came; it may have arrived, so it is not sent again")
            ).rowcount

    def claim_delivery(self, holder: str, *, now: datetime) -> Delivery | None:
        """A pending delivery of a built run whose time has come, moved to "sending" for
        `holder`; None when there is none."""
        with self.engine.begin() as connection:
            candidates = connection.execute(
                sa.select(DELIVERIES.c.id).join(RUNS, RUNS.c.id == DELIVERIES.c.run_id)
                .where(RUNS.c.status.in_((BUILT, DONE)), DELIVERIES.c.status == PENDING, DELIVERIES.c.next_attempt_at <= _stored(now))
                .order_by(DELIVERIES.c.next_attempt_at, DELIVERIES.c.id)
            ).scalars().all()
        for delivery_id in candidates:
            with self.engine.begin() as connection:
                taken = connection.execute(
                    sa.update(DELIVERIES).where(DELIVERIES.c.id == delivery_id, DELIVERIES.c.status == PENDING)
                    .values(status=SENDING, claimed_by=holder, claimed_at=_stored(now), attempts=DELIVERIES.c.attempts + 1)
                ).rowcount
                if taken:
                    row = connection.execute(sa.select(DELIVERIES).where(DELIVERIES.c.id == delivery_id)).one()
                    return Delivery(row.id, row.run_id, row.recipient, row.part, row.status, row.attempts, row.key)
        return None

    def finish_delivery(self, delivery: Delivery, status: str, *, now: datetime, error: str | None = None,
                        retry_at: datetime | None = None) -> None:
        """Keep a delivery's outcome: sent, failed or unknown; pending again at `retry_at`."""
        values = {"status": PENDING, "next_attempt_at": _stored(retry_at)} if retry_at else {"status": status}
        with self.engine.begin() as connection:
            connection.execute(sa.update(DELIVERIES).where(DELIVERIES.c.id == delivery.id)
                               .values(error=error, updated_at=_stored(now), **values))
            left = connection.execute(sa.select(sa.func.count()).where(
                DELIVERIES.c.run_id == delivery.run_id, DELIVERIES.c.status.not_in(FINAL))).scalar_one()
            if not left:
                connection.execute(sa.update(RUNS).where(RUNS.c.id == delivery.run_id).values(status=DONE))

    # Jobs ---------------------------------------------------------------------------------
    def start_job(self, name: str, day: date, *, now: datetime) -> bool:
        """Whether this process is the one to run job `name` of `day` (the first to ask)."""
        try:
            with self.engine.begin() as connection:
                connection.execute(sa.insert(JOBS).values(name=name, day=day, started_at=_stored(now), status="running"))
        except sa.exc.IntegrityError:
            return False
        return True

    def end_job(self, name: str, day: date, status: str, summary: str) -> None:
        with self.engine.begin() as connection:
            connection.execute(sa.update(JOBS).where(JOBS.c.name == name, JOBS.c.day == day).values(status=status, summary=summary))

    def jobs(self, limit: int = 30) -> list[dict]:
        with self.engine.connect() as connection:
            rows = connection.execute(sa.select(JOBS).order_by(JOBS.c.day.desc()).limit(limit))
            return [dict(row._mapping) | {"started_at": _read(row.started_at)} for row in rows]

    # History ------------------------------------------------------------------------------
    def history(self, *, limit: int = 200) -> pl.DataFrame:
        """The latest deliveries (and runs without any, such as missed ones), newest first:
        subscription, trigger, due time, period, recipient, part, status, attempts, when last
        changed and the last error. Columns: HISTORY_COLUMNS."""
        query = (
            sa.select(
                RUNS.c.id.label("run_id"), SUBSCRIPTIONS.c.name.label("subscription"), RUNS.c.trigger, RUNS.c.due_at,
                RUNS.c.period_start, RUNS.c.period_end, DELIVERIES.c.recipient_name.label("recipient"), DELIVERIES.c.part,
                sa.func.coalesce(DELIVERIES.c.status, RUNS.c.status).label("status"),
                sa.func.coalesce(DELIVERIES.c.attempts, RUNS.c.attempts).label("attempts"),
                sa.func.coalesce(DELIVERIES.c.updated_at, RUNS.c.due_at, type_=sa.DateTime).label("updated_at"),
                sa.func.coalesce(DELIVERIES.c.error, RUNS.c.error).label("error"),
            )
            .join(SUBSCRIPTIONS, SUBSCRIPTIONS.c.id == RUNS.c.subscription_id)
            .outerjoin(DELIVERIES, DELIVERIES.c.run_id == RUNS.c.id)
            .order_by(RUNS.c.due_at.desc(), RUNS.c.id.desc(), DELIVERIES.c.id)
            .limit(limit)
        )
        with self.engine.connect() as connection:
            rows = [dict(row._mapping) | {"due_at": _read(row.due_at), "updated_at": _read(row.updated_at)} for row in connection.execute(query)]
        return pl.DataFrame(rows, schema=HISTORY_COLUMNS)
