"""Targets and pacing: how far a month or week is from its target, and where it will end
(SPEC section 3).

SPEC: "a target is a value of a KPI for a month or week (counts and money: a total; ratios: a
level). Expected-to-date = target x the share of the period's usual total that falls on the
elapsed days (from the same days of the previous 8 weeks, by weekday; linear when there is no
history). Pace = actual-to-date / expected-to-date. Projected end = actual to date + expected
remaining x the recent pace (last 7 days); shown with its interval from the past weeks' pace
errors. A target alert fires when pace < 1 - margin (setting, default 10 %)."

A KPI is a total when the registry (`metrics.registry.KPIS`) gives it no denominator, a
level when it is a ratio of two measures; the daily frame then holds those two measures
(e.g. gmv and orders for AOV), so that a level over several days is pooled (sum of numerators
/ sum of denominators), not an average of daily ratios.
"""

from datetime import date, timedelta

import polars as pl

from metrics.registry import KPIS, Kpi
from metrics.time import calendar, day_span

HISTORY_WEEKS = 8
RECENT_DAYS = 7
DEFAULT_MARGIN = 0.10
PACE_COLUMNS = (
    "kpi", "target_kind", "target", "period_start", "period_end", "as_of", "elapsed_days", "period_days",
    "actual_to_date", "expected_to_date", "pace", "recent_pace", "projected_end", "projected_low",
    "projected_high", "behind",
)
PATH_COLUMNS = ("date", "expected_share", "expected_to_date", "actual_to_date")


def _kpi(name: str) -> Kpi:
    if name not in KPIS:
        raise ValueError(f"unknown KPI {name!r}: targets are set on {', '.join(KPIS)}")
    kpi = KPIS[name]
    if kpi.unit == "ratio" and not kpi.is_ratio:
        raise ValueError(f"{name} is a ratio without daily measures to pool, so it cannot be paced")
    return kpi


def _measures(kpi: Kpi) -> list[str]:
    """The daily columns a KPI is paced from: itself (a total) or its two measures (a level)."""
    if kpi.denominator is None:
        return [kpi.name]
    if kpi.numerator is None:
        raise ValueError(f"{kpi.name} has a denominator but no numerator, so it cannot be paced")
    return [kpi.numerator, kpi.denominator]


def _daily(daily: pl.DataFrame, columns: list[str], first: date, last: date) -> pl.DataFrame:
    """The measures for every day first..last; a day the table lacks counts 0 (SPEC: counts and
    money on a day with no data are 0)."""
    missing = [name for name in ("date", *columns) if name not in daily.columns]
    if missing:
        raise ValueError(f"the daily table needs the column(s) {', '.join(missing)} to pace this KPI")
    if last < first:
        return pl.DataFrame(schema={"date": pl.Date, **{name: pl.Float64 for name in columns}})
    return calendar(first, last).join(
        daily.select("date", *[pl.col(name).cast(pl.Float64) for name in columns]), on="date", how="left"
    ).with_columns(pl.col(name).fill_null(0.0) for name in columns)


def _usual_by_weekday(daily: pl.DataFrame, column: str, start: date, weeks: int) -> pl.DataFrame | None:
    """The median of `column` on each weekday over the `weeks` weeks before `start`, from the
    days the table holds; None when it holds none of them."""
    history = daily.filter(pl.col("date").is_between(start - timedelta(weeks=weeks), start - timedelta(days=1)))
    history = history.filter(pl.col(column).is_not_null())
    if history.is_empty():
        return None
    return history.group_by(weekday=pl.col("date").dt.weekday()).agg(usual=pl.col(column).cast(pl.Float64).median())


def _period_weights(daily: pl.DataFrame, column: str, start: date, end: date, weeks: int) -> pl.DataFrame:
    """date, share: each day's share of the period's usual total of `column`; equal shares
    (linear) when there is no history or the usual total is 0."""
    days = calendar(start, end)
    usual = _usual_by_weekday(daily, column, start, weeks)
    if usual is not None:
        days = days.join(usual, left_on=pl.col("date").dt.weekday(), right_on="weekday", how="left").select(
            "date", pl.col("usual").fill_null(0.0)
        )
        total = days["usual"].sum()
        if total > 0:
            return days.select("date", share=pl.col("usual") / total)
    return days.select("date", share=pl.lit(1.0 / days.height))


def expected_path(
    daily: pl.DataFrame,
    *,
    kpi: str,
    target: float,
    start: date,
    end: date,
    as_of: date | None = None,
    weeks: int = HISTORY_WEEKS,
) -> pl.DataFrame:
    """The expected and actual course of a target's period, day by day, for a chart.

    For a total: expected_share = the day's share of the period's usual total (the median of
    the same weekday over the `weeks` weeks before `start`; equal shares without history),
    expected_to_date = target x the shares up to the day, actual_to_date = the KPI summed up
    to the day (null after `as_of`, default the table's last day; with no day in the table,
    nothing is observed and it is null throughout). For a level: the target
    on every day (expected_share is the day's share of the usual denominator), and the pooled
    level up to the day.

    Grain: one row per day of start..end. Columns: PATH_COLUMNS.
    """
    definition = _kpi(kpi)
    columns = _measures(definition)
    if as_of is None:
        # with no day in the table nothing is observed yet: as of the day before the period
        as_of = start - timedelta(days=1) if daily.is_empty() else day_span(daily["date"])[1]
    weights = _period_weights(daily, columns[-1], start, end, weeks)
    observed = _daily(daily, columns, start, min(end, as_of))
    path = weights.join(observed, on="date", how="left").sort("date")
    if definition.is_ratio:
        numerator, denominator = (pl.col(name).cum_sum() for name in columns)
        expected = pl.lit(float(target))
        actual: pl.Expr = pl.when(denominator > 0).then(numerator / denominator)
    else:
        expected = float(target) * pl.col("share").cum_sum()
        actual = pl.col(columns[0]).cum_sum()
    return path.select(
        "date",
        expected_share="share",
        expected_to_date=expected.cast(pl.Float64),
        actual_to_date=pl.when(pl.col("date") <= as_of).then(actual).cast(pl.Float64),
    )


def _weekly_changes(daily: pl.DataFrame, columns: list[str], as_of: date, weeks: int) -> list[float]:
    """The past weeks' pace errors: for the `weeks` seven-day blocks ending at `as_of`, how far
    each block's value (total, or pooled level) was from the block before it, relative to that
    block. A full week holds every weekday once, so the usual shape cancels and this is the
    error of "the recent week's pace goes on" over the next week."""
    if daily.is_empty():
        return []
    first = as_of - timedelta(days=7 * (weeks + 1) - 1)
    blocks = (
        _daily(daily, columns, first, as_of)
        .filter(pl.col("date") >= daily["date"].min())  # no invented zeros before the data begins
        .group_by(block=(pl.lit(as_of) - pl.col("date")).dt.total_days() // 7)
        .agg(*[pl.col(name).sum() for name in columns], days=pl.len())
        .filter(pl.col("days") == 7)
        .sort("block")
    )
    if len(columns) == 2:
        value: pl.Expr = pl.when(pl.col(columns[1]) > 0).then(pl.col(columns[0]) / pl.col(columns[1]))
    else:
        value = pl.col(columns[0])
    blocks = blocks.with_columns(value=value).with_columns(before=pl.col("value").shift(-1), block_before=pl.col("block").shift(-1))
    changes = blocks.filter(pl.col("block_before") == pl.col("block") + 1, pl.col("before") > 0)
    return changes.select(pl.col("value") / pl.col("before") - 1).to_series().to_list()


def pace_against_target(
    daily: pl.DataFrame,
    *,
    kpi: str,
    target: float,
    start: date,
    end: date,
    as_of: date,
    margin: float = DEFAULT_MARGIN,
    actual_to_date: float | None = None,
    weeks: int = HISTORY_WEEKS,
) -> pl.DataFrame:
    """Where a KPI stands against its target for the period start..end (a month or a week)
    after the business day `as_of` (the last complete day).

    `daily` is a daily table (`date` and the KPI's measures: the KPI itself for a total, its
    registry numerator and denominator for a level) from `weeks` weeks before `start` on.

    A total (counts and money): expected_to_date = target x the elapsed days' share of the
    period's usual total (see `expected_path`); actual_to_date = the KPI summed over the
    elapsed days; pace = actual / expected; recent_pace = the same over the last 7 elapsed
    days (fewer in the period's first week: the recent pace is the period's own);
    projected_end = actual + (target - expected_to_date) x recent_pace.
    A level (ratios): expected_to_date = target; actual_to_date = the pooled level of the
    elapsed days; pace = actual / target; recent_pace = the last 7 elapsed days' pooled level
    / target; projected_end = the pooled level of the elapsed days and of the remaining days
    at the recent level, the remaining days weighted by their usual denominator.

    `actual_to_date` overrides the value summed from `daily`: pass the period's own value to
    date where the daily values do not add up to it (distinct counts such as buyers or active
    users, or a level such as conversion rate = distinct buyers / distinct active users).

    The interval: the past `weeks` weeks' pace errors are the relative changes of each week's
    value from the week before (see `_weekly_changes`); projected_low and projected_high apply
    the smallest and the largest of them to the recent pace for the remaining days, so the
    interval spans what the last 8 weeks' swings would give. Null without two full weeks of
    data; equal to the actual when no day remains.

    behind: the target alert's verdict, pace < 1 - margin; for a lower-is-better KPI (refunds,
    bounce rate) the pace runs the other way, so it is pace > 1 + margin. Null when pace is.
    With no elapsed day (as_of before start) pace, recent pace and the projection are null.

    Grain: one row. Columns: PACE_COLUMNS.
    """
    definition = _kpi(kpi)
    if not 0 <= margin < 1:
        raise ValueError(f"the target margin is a share from 0 to under 1 (0.10 is 10 %), not {margin}")
    if end < start:
        raise ValueError(f"the target's period ends ({end}) before it starts ({start})")
    columns = _measures(definition)
    last_elapsed = min(as_of, end)
    elapsed = _daily(daily, columns, start, last_elapsed)
    recent = elapsed.filter(pl.col("date") > last_elapsed - timedelta(days=RECENT_DAYS))
    weights = _period_weights(daily, columns[-1], start, end, weeks)
    remaining = weights.filter(pl.col("date") > last_elapsed)
    pacing = _LevelPacing if definition.is_ratio else _TotalPacing
    state = pacing(daily, columns, float(target), elapsed, recent, weights, remaining, weeks, actual_to_date)
    if elapsed.is_empty():
        pace = projected_end = low = high = None
        recent_pace = None
    else:
        pace = state.actual / state.expected if state.actual is not None and state.expected else None
        recent_pace = state.recent_pace
        projected_end = state.project(state.recent_rate)
        changes = _weekly_changes(daily, columns, last_elapsed, weeks)
        if remaining.is_empty():
            low = high = projected_end
        elif state.recent_rate is None or not changes:
            low = high = None
        else:
            low = state.project(state.recent_rate * (1 + min(changes)))
            high = state.project(state.recent_rate * (1 + max(changes)))
    if pace is None:
        behind = None
    elif definition.higher_is_better:
        behind = pace < 1 - margin
    else:
        behind = pace > 1 + margin
    row = {
        "kpi": kpi, "target_kind": "level" if definition.is_ratio else "total", "target": float(target),
        "period_start": start, "period_end": end, "as_of": as_of,
        "elapsed_days": elapsed.height, "period_days": weights.height,
        "actual_to_date": state.actual, "expected_to_date": state.expected, "pace": pace,
        "recent_pace": recent_pace, "projected_end": projected_end, "projected_low": low,
        "projected_high": high, "behind": behind,
    }
    return pl.DataFrame([row], schema=_PACE_SCHEMA, orient="row")


_PACE_SCHEMA = {
    "kpi": pl.String, "target_kind": pl.String, "target": pl.Float64, "period_start": pl.Date,
    "period_end": pl.Date, "as_of": pl.Date, "elapsed_days": pl.Int64, "period_days": pl.Int64,
    "actual_to_date": pl.Float64, "expected_to_date": pl.Float64, "pace": pl.Float64,
    "recent_pace": pl.Float64, "projected_end": pl.Float64, "projected_low": pl.Float64,
    "projected_high": pl.Float64, "behind": pl.Boolean,
}


class _TotalPacing:
    """A total: expected is target x the elapsed share; the recent rate is the recent pace and
    the remaining days are expected to bring (target - expected) x that rate."""

    def __init__(self, daily, columns, target, elapsed, recent, weights, remaining, weeks, actual_to_date):
        (column,) = columns

        def share_of(days: pl.DataFrame) -> float:
            return float(weights.join(days.select("date"), on="date", how="semi")["share"].sum())

        self.actual = actual_to_date if actual_to_date is not None else float(elapsed[column].sum())
        self.expected = target * share_of(elapsed)
        recent_expected = target * share_of(recent)
        self.recent_pace = recent[column].sum() / recent_expected if recent_expected > 0 else None
        self.recent_rate = self.recent_pace
        self._expected_remaining = target * share_of(remaining)
        self._days_remain = not remaining.is_empty()

    def project(self, rate: float | None) -> float | None:
        if not self._days_remain:
            return self.actual
        return self.actual + self._expected_remaining * rate if rate is not None else None


class _LevelPacing:
    """A level: expected is the target itself; the recent rate is the recent level, which the
    remaining days hold, weighted by their usual denominator against the elapsed days' own."""

    def __init__(self, daily, columns, target, elapsed, recent, weights, remaining, weeks, actual_to_date):
        numerator, denominator = columns

        def level(days: pl.DataFrame) -> float | None:
            below = days[denominator].sum()
            return days[numerator].sum() / below if below > 0 else None

        self.actual = actual_to_date if actual_to_date is not None else level(elapsed)
        self.expected = target
        self.recent_rate = level(recent)
        self.recent_pace = self.recent_rate / target if self.recent_rate is not None and target else None
        self._elapsed_weight = float(elapsed[denominator].sum())
        usual = _usual_by_weekday(daily, denominator, weights["date"].min(), weeks)
        if usual is not None:
            self._remaining_weight = float(
                remaining.join(usual, left_on=pl.col("date").dt.weekday(), right_on="weekday", how="left")["usual"]
                .fill_null(0.0).sum()
            )
        elif elapsed.height:
            self._remaining_weight = self._elapsed_weight / elapsed.height * remaining.height
        else:
            self._remaining_weight = 0.0
        self._days_remain = not remaining.is_empty()

    def project(self, rate: float | None) -> float | None:
        if not self._days_remain or self._remaining_weight <= 0:
            return self.actual
        if self.actual is None or rate is None:
            return None
        total_weight = self._elapsed_weight + self._remaining_weight
        return (self.actual * self._elapsed_weight + rate * self._remaining_weight) / total_weight
