"""Operating targets: a value of a KPI for a month or a week, set by a manager, kept in the
alert database beside the alert rules (SQLAlchemy Core, bound parameters only), and paced
against the shop's days (metrics.pacing).

SPEC section 3, Targets and pacing: "a target is a value of a KPI for a month or week (counts
and money: a total; ratios: a level). Expected-to-date = target x the share of the period's
usual total that falls on the elapsed days [...] Pace = actual-to-date / expected-to-date.
Projected end = actual to date + expected remaining x the recent pace (last 7 days); shown
with its interval from the past weeks' pace errors. A target alert fires when pace < 1 -
margin (setting, default 10 %)."

A target is the whole shop's: the overview, the report, `export targets` and the alert check
pace it on every channel, device and region together.
"""

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import sqlalchemy as sa

from metrics.pacing import _PACE_SCHEMA, PACE_COLUMNS, expected_path, pace_against_target
from metrics.periods import period_summary
from metrics.registry import KPIS

# The KPIs a target can be set on: the daily table holds them or their two measures.
TARGET_KPIS = ("gmv", "net_revenue", "orders", "buyers", "aov", "conversion_rate", "new_users", "sessions")
# KPIs whose days do not add up to the period (distinct buyers, distinct active users): their
# actual to date is the period's own value up to the day (metrics.periods.period_summary).
DISTINCT_KPIS = frozenset({"buyers", "conversion_rate"})
PERIOD_KINDS = ("month", "week")
TARGET_COLUMNS = ("id", "kpi", "period_kind", "period_start", "period_end", "value", "set_by", "set_at")
TARGET_PACE_COLUMNS = ("period_kind", *PACE_COLUMNS)

METADATA = sa.MetaData()
TARGETS = sa.Table(
    "targets", METADATA,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("kpi", sa.String, nullable=False),
    sa.Column("period_kind", sa.String, nullable=False),
    sa.Column("period_start", sa.Date, nullable=False),
    sa.Column("value", sa.Float, nullable=False),
    sa.Column("set_by", sa.String, nullable=False),
    sa.Column("set_at", sa.DateTime, nullable=False),
    sa.UniqueConstraint("kpi", "period_kind", "period_start", name="one_target_per_kpi_and_period"),
)


class TargetError(ValueError):
    """A target that cannot be set: the message names what is wrong and how to fix it."""


def target_period(kind: str, day: date) -> tuple[date, date]:
    """The calendar month, or the week (Monday to Sunday), that holds `day`."""
    if kind == "week":
        start = day - timedelta(days=day.weekday())
        return start, start + timedelta(days=6)
    if kind == "month":
        start = day.replace(day=1)
        return start, (start + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    raise TargetError(f"a target is for a month or a week, not {kind!r}")


@dataclass(frozen=True)
class Target:
    """A KPI's target for the month or week starting `period_start`; `value` is a total for
    counts and money, a level for ratios (0.05 is a 5 % conversion rate) and AOV."""

    kpi: str
    period_kind: str
    period_start: date
    value: float
    set_by: str = ""
    set_at: datetime | None = None
    id: int | None = None

    @property
    def period_end(self) -> date:
        return target_period(self.period_kind, self.period_start)[1]

    @property
    def key(self) -> str:
        """The target alert's name across checks: "target:gmv:month:2026-12-01"."""
        return f"target:{self.kpi}:{self.period_kind}:{self.period_start}"

    def holds(self, day: date) -> bool:
        return self.period_start <= day <= self.period_end


def checked_target(kpi: str, period_kind: str, day: date, value: float) -> Target:
    """The target of `kpi` for the month or week holding `day`; TargetError names a KPI that
    cannot be paced, a period that is neither, or a value that is no target (a total above 0,
    a ratio's level above 0 and at most 1)."""
    if kpi not in TARGET_KPIS:
        raise TargetError(f"targets are set on {', '.join(TARGET_KPIS)}, not {kpi!r}")
    start, _ = target_period(period_kind, day)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        raise TargetError(f"a target is a number above 0, not {value!r}")
    if KPIS[kpi].unit == "ratio" and value > 1:
        raise TargetError(f"{kpi} is a ratio: give its level as a share from 0 to 1 (0.05 for 5 %), not {value}")
    return Target(kpi, period_kind, start, float(value))


def _stored(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


class TargetStore:
    """The targets in the `targets` table of the alert database behind `engine` (made when
    absent). One target per KPI and period: setting it again replaces the value, who set it
    and when."""

    def __init__(self, engine: sa.Engine):
        self.engine = engine
        METADATA.create_all(engine)

    def set(self, target: Target, *, set_by: str, now: datetime | None = None) -> int:
        """Keep `target` (from `checked_target`), replacing the one of the same KPI and
        period; returns its id."""
        values = {"value": target.value, "set_by": set_by, "set_at": _stored(now or datetime.now(UTC))}
        same = sa.and_(
            TARGETS.c.kpi == target.kpi, TARGETS.c.period_kind == target.period_kind,
            TARGETS.c.period_start == target.period_start,
        )
        with self.engine.begin() as connection:
            existing = connection.execute(sa.select(TARGETS.c.id).where(same)).scalar()
            if existing is not None:
                connection.execute(sa.update(TARGETS).where(TARGETS.c.id == existing).values(values))
                return existing
            inserted = connection.execute(sa.insert(TARGETS).values(
                kpi=target.kpi, period_kind=target.period_kind, period_start=target.period_start, **values
            ))
            new_key = inserted.inserted_primary_key
            if new_key is None:  # SQLAlchemy has no key only for a statement that added no single row
                raise RuntimeError("an INSERT of one target returned no new row id")
            return new_key[0]

    def delete(self, target_id: int) -> None:
        with self.engine.begin() as connection:
            connection.execute(sa.delete(TARGETS).where(TARGETS.c.id == target_id))

    def targets(self, *, holding: date | None = None) -> list[Target]:
        """Every target, latest period first (then KPI and kind); with `holding`, those
        whose month or week holds that day."""
        query = sa.select(TARGETS).order_by(TARGETS.c.period_start.desc(), TARGETS.c.kpi, TARGETS.c.period_kind)
        if holding is not None:
            # a week starts at most 6 days and a month at most 30 days before a day it holds
            query = query.where(TARGETS.c.period_start <= holding, TARGETS.c.period_start > holding - timedelta(days=31))
        with self.engine.connect() as connection:
            rows = connection.execute(query).all()
        targets = [
            Target(row.kpi, row.period_kind, row.period_start, row.value, row.set_by, row.set_at.replace(tzinfo=UTC), row.id)
            for row in rows
        ]
        return [target for target in targets if holding is None or target.holds(holding)]


def stored_targets(database: Path) -> list[Target]:
    """The targets kept in the alert database file `database` ([alerts] database); none when it
    does not exist yet (reading creates nothing)."""
    if not database.exists():
        return []
    engine = sa.create_engine(sa.URL.create("sqlite", database=str(database)))
    try:
        if not sa.inspect(engine).has_table(TARGETS.name):
            return []
        return TargetStore(engine).targets()
    finally:
        engine.dispose()


def targets_frame(targets: Iterable[Target]) -> pl.DataFrame:
    """Targets as a table. Columns: TARGET_COLUMNS."""
    return pl.DataFrame(
        [{name: getattr(target, name) for name in TARGET_COLUMNS} for target in targets],
        schema={"id": pl.Int64, "kpi": pl.String, "period_kind": pl.String, "period_start": pl.Date, "period_end": pl.Date,
                "value": pl.Float64, "set_by": pl.String, "set_at": pl.Datetime("us", "UTC")},
    )


def pacing_daily(daily: pl.DataFrame) -> pl.DataFrame:
    """A daily KPI table (metrics.kpis.daily_kpis) with the measures the target KPIs are paced
    from: a day's active users are its DAU (conversion rate = buyers / active users)."""
    return daily.with_columns(active_users=pl.col("dau")) if "dau" in daily.columns else daily


def distinct_actuals(
    frames: tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.DataFrame],
    targets: Iterable[Target],
    *,
    as_of: date,
    tz: str,
) -> dict[str, float | None]:
    """The period's own value to date of each target on a distinct count (DISTINCT_KPIS), by
    target key: its days do not add up to it. `frames` are the activity events, sessions,
    orders and users (views.activity_frames)."""
    return {
        target.key: period_summary(*frames, start=target.period_start, end=min(target.period_end, as_of), tz=tz)[target.kpi]
        for target in targets
        if target.kpi in DISTINCT_KPIS and as_of >= target.period_start
    }


def target_paces(
    daily: pl.DataFrame,
    targets: Iterable[Target],
    *,
    as_of: date,
    margin: float,
    actuals: Mapping[str, float | None] | None = None,
) -> pl.DataFrame:
    """Each target's pace after the business day `as_of` (metrics.pacing.pace_against_target):
    `daily` is the whole shop's daily KPI table from 8 weeks before the earliest target's
    period to `as_of` (pacing_daily adds the measures), `actuals` the distinct counts' own
    values (distinct_actuals). Columns: TARGET_PACE_COLUMNS, one row per target in order."""
    actuals = actuals or {}
    rows = [
        pace_against_target(
            daily, kpi=target.kpi, target=target.value, start=target.period_start, end=target.period_end,
            as_of=as_of, margin=margin, actual_to_date=actuals.get(target.key),
        ).select(pl.lit(target.period_kind).alias("period_kind"), *PACE_COLUMNS)
        for target in targets
    ]
    return pl.concat(rows) if rows else pl.DataFrame(schema={"period_kind": pl.String, **_PACE_SCHEMA})


def target_path(daily: pl.DataFrame, target: Target, *, as_of: date) -> pl.DataFrame:
    """The expected and actual course of `target`'s period, day by day (metrics.pacing
    .expected_path), for a chart."""
    return expected_path(
        daily, kpi=target.kpi, target=target.value, start=target.period_start, end=target.period_end, as_of=as_of,
    )
