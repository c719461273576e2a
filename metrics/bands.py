"""Own-history bands: a KPI against its own recent past (SPEC section 3).

SPEC: "Own-history band: a day's KPI against the same weekday of the previous 8 weeks: their
median (typical) and 75th percentile (excellent, 25th for lower-is-better KPIs); a period's
KPI against the same-length periods of the previous 8 periods likewise."

Which way is better comes from the KPI registry (`metrics.registry.KPIS`), or from
`higher_is_better` for a KPI the registry does not hold. Percentiles interpolate linearly
between the sorted values (numpy's and DuckDB's quantile_cont default).
"""

from collections.abc import Mapping, Sequence
from datetime import date, timedelta

import polars as pl

from metrics.registry import KPIS
from metrics.time import calendar, day_span, previous_period

HISTORY_LENGTH = 8
MIN_HISTORY = 4
DAILY_BAND_COLUMNS = ("date", "kpi", "value", "typical", "excellent", "history_days", "standing")
PERIOD_BAND_COLUMNS = ("kpi", "value", "typical", "excellent", "history_periods", "standing")
STANDINGS = ("excellent", "typical", "below_typical")


def _directions(kpis: Sequence[str], higher_is_better: Mapping[str, bool] | None) -> dict[str, bool]:
    given = dict(higher_is_better or {})
    unknown = [name for name in kpis if name not in given and name not in KPIS]
    if unknown:
        raise ValueError(
            f"no direction for {', '.join(unknown)}: not in the KPI registry; pass higher_is_better for it"
        )
    return {name: given[name] if name in given else KPIS[name].higher_is_better for name in kpis}


def _with_band(frame: pl.DataFrame, min_history: int) -> pl.DataFrame:
    """Add typical, excellent, the history's size and the standing to a frame with `value`,
    `history` (a list of past values, nulls allowed) and `higher_is_better`.

    typical = median of the history, excellent = its 75th percentile (25th when lower is
    better); both null with fewer than `min_history` values. standing: "excellent" when the
    value is at least as good as excellent, "typical" when at least as good as typical,
    else "below_typical"; null without a value or a band.
    """
    history = pl.col("history").list.eval(pl.element().drop_nulls())
    higher = pl.col("higher_is_better")
    banded = frame.with_columns(history=history).with_columns(
        history_size=pl.col("history").list.len().cast(pl.Int64),
        typical=pl.col("history").list.eval(pl.element().quantile(0.5, "linear")).list.first(),
        high=pl.col("history").list.eval(pl.element().quantile(0.75, "linear")).list.first(),
        low=pl.col("history").list.eval(pl.element().quantile(0.25, "linear")).list.first(),
    )
    enough = pl.col("history_size") >= min_history
    banded = banded.with_columns(
        typical=pl.when(enough).then(pl.col("typical")).cast(pl.Float64),
        excellent=pl.when(enough).then(pl.when(higher).then(pl.col("high")).otherwise(pl.col("low"))).cast(pl.Float64),
    )
    value, typical, excellent = pl.col("value"), pl.col("typical"), pl.col("excellent")
    at_least = {  # "at least as good as", by direction
        "excellent": pl.when(higher).then(value >= excellent).otherwise(value <= excellent),
        "typical": pl.when(higher).then(value >= typical).otherwise(value <= typical),
    }
    standing = (
        pl.when(value.is_null() | typical.is_null()).then(None)
        .when(at_least["excellent"]).then(pl.lit("excellent"))
        .when(at_least["typical"]).then(pl.lit("typical"))
        .otherwise(pl.lit("below_typical"))
    )
    return banded.with_columns(standing=standing)


def daily_bands(
    daily: pl.DataFrame,
    kpis: Sequence[str],
    *,
    start: date | None = None,
    weeks: int = HISTORY_LENGTH,
    min_history: int = MIN_HISTORY,
    higher_is_better: Mapping[str, bool] | None = None,
) -> pl.DataFrame:
    """Each day's KPIs against the same weekday of the previous `weeks` weeks.

    `daily` is a daily KPI table (a `date` column and one column per KPI, as
    `metrics.kpis.daily_kpis` gives) reaching back far enough for the history: day D's
    history is the KPI on D - 7, D - 14, ..., D - 7 x weeks that the table holds and that
    are not null (a ratio is null on a day without its denominator). typical = their
    median; excellent = their 75th percentile, or 25th for a lower-is-better KPI; both null
    when fewer than `min_history` (default 4 of 8) such days exist, since a band of one or
    two days says little. standing names where the day's value falls (STANDINGS).

    Grain: one row per day of `daily` from `start` (default its first day) and KPI, by date
    then in the order of `kpis`. Columns: DAILY_BAND_COLUMNS (history_days = the days the
    band was taken from).
    """
    directions = _directions(kpis, higher_is_better)
    if daily.is_empty():
        return pl.DataFrame(schema={
            "date": pl.Date, "kpi": pl.String, "value": pl.Float64, "typical": pl.Float64,
            "excellent": pl.Float64, "history_days": pl.Int64, "standing": pl.String,
        })
    first_day, last_day = day_span(daily["date"])
    full = calendar(first_day, last_day).join(daily.select("date", *kpis), on="date", how="left").sort("date")
    first_shown = start or first_day
    shown = full.with_columns(shown=pl.col("date").is_in(daily["date"].implode()) & (pl.col("date") >= first_shown))
    long = pl.concat(
        [
            shown.select(
                "date", "shown",
                kpi=pl.lit(name),
                value=pl.col(name).cast(pl.Float64),
                history=pl.concat_list([pl.col(name).cast(pl.Float64).shift(7 * back) for back in range(1, weeks + 1)]),
                higher_is_better=pl.lit(directions[name]),
                _kpi_order=pl.lit(position),
            )
            for position, name in enumerate(kpis)
        ]
    ).filter("shown")
    return (
        _with_band(long, min_history)
        .sort("date", "_kpi_order")
        .select("date", "kpi", "value", "typical", "excellent", history_days="history_size", standing="standing")
    )


def previous_periods(start: date, end: date, count: int = HISTORY_LENGTH) -> list[tuple[date, date]]:
    """The `count` periods of the same length as start..end that end before it, the most
    recent first (each ends the day before the next one starts)."""
    periods = []
    for _ in range(count):
        start, end = previous_period(start, end)
        periods.append((start, end))
    return periods


def period_bands(
    current: Mapping[str, float | int | None],
    history: Sequence[Mapping[str, float | int | None]],
    kpis: Sequence[str],
    *,
    min_history: int = MIN_HISTORY,
    higher_is_better: Mapping[str, bool] | None = None,
) -> pl.DataFrame:
    """A period's KPIs against the same KPIs of the previous same-length periods.

    `current` holds the period's KPI values (e.g. `metrics.periods.period_summary`), and
    `history` one such mapping per earlier period (those of `previous_periods`, default 8);
    a missing or null value is left out of the band. typical, excellent and standing as in
    `daily_bands`.

    Grain: one row per KPI, in the order of `kpis`. Columns: PERIOD_BAND_COLUMNS.
    """
    directions = _directions(kpis, higher_is_better)
    frame = pl.DataFrame(
        {
            "kpi": list(kpis),
            "value": [current.get(name) for name in kpis],
            "history": [[past.get(name) for past in history] for name in kpis],
            "higher_is_better": [directions[name] for name in kpis],
        },
        schema={"kpi": pl.String, "value": pl.Float64, "history": pl.List(pl.Float64), "higher_is_better": pl.Boolean},
    )
    return _with_band(frame, min_history).select(
        "kpi", "value", "typical", "excellent", history_periods="history_size", standing="standing"
    )


def history_start(start: date, weeks: int = HISTORY_LENGTH) -> date:
    """The first day a daily table must hold for `daily_bands` to band the days from `start`."""
    return start - timedelta(weeks=weeks)
