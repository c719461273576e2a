"""Before/after comparisons with their uncertainty: did the change, or the promotion, work?

SPEC section 1 lists "before/after comparison of strategies" and "promotion effect" among the
analyst's needs; section 3, Period comparison: "when the current period is still in
progress, it is compared with the same elapsed part of the other period, never with a whole
one."
"""

from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl
from scipy import stats

from metrics.kpis import utc_frames
from metrics.orders import is_valid_order
from metrics.periods import elapsed_part
from metrics.time import business_day, calendar, previous_period, utc_bounds

MEASURES = ("conversion_rate", "session_conversion", "aov", "gmv_per_day")
COMPARISON_SCHEMA = {
    "measure": pl.String,
    "before": pl.Float64,
    "after": pl.Float64,
    "difference": pl.Float64,
    "relative_change": pl.Float64,
    "ci_low": pl.Float64,
    "ci_high": pl.Float64,
    "p_value": pl.Float64,
    "test": pl.String,
    "significant": pl.Boolean,
}
TWO_PROPORTION_TEST = "two-proportion z-test, Newcombe CI"
WELCH_TEST = "Welch t-test"
WELCH_TEST_BOOTSTRAP_CI = "Welch t-test, bootstrap CI"
# Bound on the resampled values held in memory at once (8 bytes each), so a long period's
# orders are bootstrapped in chunks of rows instead of one samples x orders matrix.
_BOOTSTRAP_CHUNK_VALUES = 4_000_000


@dataclass(frozen=True)
class Comparison:
    """One measure before and after: the difference after - before, a confidence interval
    for it, the p-value of the test of no difference and the test's name. Fields that cannot
    be computed are None."""

    before: float | None
    after: float | None
    difference: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None
    test: str | None = None


def _wilson_interval(successes: int, trials: int, z: float) -> tuple[float, float]:
    centre = successes + z * z / 2
    half_width = z * np.sqrt(successes * (trials - successes) / trials + z * z / 4)
    return (centre - half_width) / (trials + z * z), (centre + half_width) / (trials + z * z)


def proportion_difference(
    before: tuple[int, int], after: tuple[int, int], *, confidence: float = 0.95
) -> Comparison:
    """Difference of two proportions, each given as (successes, trials).

    p-value: the two-proportion z-test with the pooled standard error,
    z = (p2 - p1) / sqrt(p (1 - p) (1/n1 + 1/n2)), p = (x1 + x2) / (n1 + n2).
    Interval: Newcombe's hybrid score interval (method 10 of Newcombe 1998) built from the
    two Wilson intervals, rather than the unpooled Wald interval, because daily and campaign
    conversion rates are small proportions over modest counts, where the Wald interval
    undercovers and can leave [-1, 1]; it is asymmetric around the difference.

    A side with no trials has no proportion, and then nothing else is computed. With more
    successes than trials (buyers who were not active users) the ratio is not a proportion:
    the values are given, the test is not. When neither side varies (no successes at all, or
    all successes) the z statistic is 0 / 0 and the p-value is None.
    """
    (successes_before, trials_before), (successes_after, trials_after) = before, after
    rate_before = successes_before / trials_before if trials_before else None
    rate_after = successes_after / trials_after if trials_after else None
    if rate_before is None or rate_after is None:
        return Comparison(rate_before, rate_after)
    difference = rate_after - rate_before
    if successes_before > trials_before or successes_after > trials_after:
        return Comparison(rate_before, rate_after, difference)
    z = stats.norm.ppf(0.5 + confidence / 2)
    low_before, high_before = _wilson_interval(successes_before, trials_before, z)
    low_after, high_after = _wilson_interval(successes_after, trials_after, z)
    ci_low = difference - np.hypot(rate_after - low_after, high_before - rate_before)
    ci_high = difference + np.hypot(high_after - rate_after, rate_before - low_before)
    pooled = (successes_before + successes_after) / (trials_before + trials_after)
    pooled_error = np.sqrt(pooled * (1 - pooled) * (1 / trials_before + 1 / trials_after))
    p_value = 2 * stats.norm.sf(abs(difference) / pooled_error) if pooled_error > 0 else None
    return Comparison(
        rate_before, rate_after, difference, float(ci_low), float(ci_high),
        None if p_value is None else float(p_value), TWO_PROPORTION_TEST,
    )


def _bootstrap_means(values: np.ndarray, samples: int, rng: np.random.Generator) -> np.ndarray:
    rows_per_chunk = max(1, _BOOTSTRAP_CHUNK_VALUES // values.size)
    return np.concatenate([
        values[rng.integers(0, values.size, size=(min(rows_per_chunk, samples - done), values.size))].mean(axis=1)
        for done in range(0, samples, rows_per_chunk)
    ])


def mean_difference(
    before: np.ndarray,
    after: np.ndarray,
    *,
    confidence: float = 0.95,
    bootstrap_samples: int = 0,
    seed: int = 0,
) -> Comparison:
    """Difference of two means, mean(after) - mean(before).

    p-value: Welch's t-test (unequal variances, scipy.stats.ttest_ind(equal_var=False)).
    Interval: with `bootstrap_samples` = 0, Welch's interval, difference ± t x SE with
    SE = sqrt(s1²/n1 + s2²/n2) and the Welch–Satterthwaite degrees of freedom; with
    `bootstrap_samples` > 0, the percentile interval of the difference of the means of that
    many resamples of each side (numpy Generator seeded with `seed`, so reproducible), which
    suits heavy-tailed order values. The test's name says which interval is reported; a
    bootstrap interval and the Welch p-value may then disagree near the threshold.

    A side without values has no mean; with fewer than two values on a side, or no spread on
    either, there is no test.
    """
    before, after = np.asarray(before, dtype=float), np.asarray(after, dtype=float)
    mean_before = float(before.mean()) if before.size else None
    mean_after = float(after.mean()) if after.size else None
    if mean_before is None or mean_after is None:
        return Comparison(mean_before, mean_after)
    difference = mean_after - mean_before
    if min(before.size, after.size) < 2 or (before.var() == 0 and after.var() == 0):
        return Comparison(mean_before, mean_after, difference)
    welch = stats.ttest_ind(after, before, equal_var=False)
    if bootstrap_samples > 0:
        rng = np.random.default_rng(seed)
        differences = _bootstrap_means(after, bootstrap_samples, rng) - _bootstrap_means(before, bootstrap_samples, rng)
        tail = (1 - confidence) / 2
        ci_low, ci_high = np.quantile(differences, [tail, 1 - tail])
        test = WELCH_TEST_BOOTSTRAP_CI
    else:
        ci_low, ci_high = welch.confidence_interval(confidence_level=confidence)
        test = WELCH_TEST
    return Comparison(
        mean_before, mean_after, difference, float(ci_low), float(ci_high), float(welch.pvalue), test
    )


@dataclass(frozen=True)
class _PeriodSample:
    """What the measures of one period are computed from."""

    active_users: int
    buyers: int
    sessions: int
    converted_sessions: int
    order_amounts: np.ndarray
    daily_gmv: np.ndarray


def _days_begun(start: date, lower: datetime, upper: datetime, tz: str) -> pl.DataFrame:
    """The business days from `start` on that have begun before the instant `upper`."""
    if upper <= lower:
        return pl.DataFrame(schema={"date": pl.Date})
    last_moment = (upper - timedelta(microseconds=1)).astimezone(ZoneInfo(tz))
    return calendar(start, last_moment.date())


def _period_sample(
    events: pl.DataFrame,
    sessions: pl.DataFrame,
    orders: pl.DataFrame,
    *,
    start: date,
    end: date,
    tz: str,
    until: datetime | None,
) -> _PeriodSample:
    """The period start..end, cut at the instant `until` when given; its days run to the day
    of the cut, the last one partial (as is the other period's, cut at the same point).

    A period without a single event or valid order has no days with GMV either: it lies
    outside the data, and a GMV of 0 a day there would be an invented comparison.
    """
    lower, upper = utc_bounds(start, end, tz)
    if until is not None:
        upper = max(lower, min(upper, until))

    def inside(frame: pl.DataFrame, column: str) -> pl.DataFrame:
        return frame.filter(pl.col(column) >= lower, pl.col(column) < upper)

    period_events = inside(events, "event_time")
    period_sessions = inside(sessions, "started_at")
    valid = inside(orders.filter(is_valid_order()), "created_at").with_columns(date=business_day("created_at", tz))
    daily_gmv = (
        _days_begun(start, lower, upper, tz)
        .join(valid.group_by("date").agg(gmv=pl.col("amount").sum()), on="date", how="left")
        .select(pl.col("gmv").fill_null(0.0).cast(pl.Float64))
    )
    has_data = period_events.height > 0 or valid.height > 0
    return _PeriodSample(
        active_users=period_events["user_id"].n_unique(),
        buyers=valid["user_id"].n_unique(),
        sessions=period_sessions.height,
        converted_sessions=int(period_sessions["has_purchase"].sum()),
        order_amounts=valid["amount"].cast(pl.Float64).to_numpy(),
        daily_gmv=daily_gmv["gmv"].to_numpy() if has_data else np.empty(0),
    )


def _check_period(name: str, period: tuple[date, date]) -> None:
    start, end = period
    if start > end:
        raise ValueError(f"the {name} period ends ({end}) before it starts ({start})")


def before_after(
    events: pl.DataFrame,
    sessions: pl.DataFrame,
    orders: pl.DataFrame,
    users: pl.DataFrame,
    *,
    before: tuple[date, date],
    after: tuple[date, date],
    tz: str,
    confidence: float = 0.95,
    bootstrap_samples: int = 2000,
    seed: int = 0,
    data_end: datetime | None = None,
) -> pl.DataFrame:
    """Each measure in the `before` and `after` periods (first and last business day, both
    inclusive), the difference after - before with its confidence interval, and a test.

    Measures, with SPEC section 3's definitions: conversion_rate = buyers / active users in
    each period ("Conversion rate(period) = buyers / active users"), two-proportion test;
    session_conversion = "sessions with a `purchase` event / sessions", two-proportion test;
    aov = GMV / orders ("AOV (客单价, per order) = GMV / orders"), as the mean of the valid
    orders' amounts, Welch's test with a bootstrap interval (`bootstrap_samples` = 0 gives
    Welch's interval); gmv_per_day = mean GMV of the period's days, days without orders
    counting 0, Welch's test and interval over the days. `proportion_difference` and
    `mean_difference` say how each test and interval is computed.

    SPEC, Period comparison: "when the current period is still in progress, it is compared
    with the same elapsed part of the other period, never with a whole one." The `after`
    period is in progress when the data end (`data_end`, default the latest event or order)
    comes before its end; then both periods are cut at their start plus the elapsed time.

    Empty periods give nulls, never exceptions: a period without events or valid orders has
    no measures, and a measure without a sample (no active users, sessions or orders) is
    null, as are the difference, interval and test that need it. `relative_change` =
    after / before - 1 (null when before is 0); `significant` = p_value < 1 - confidence.
    `users` is taken, unread, so that every period metric is called with the same frames.
    Columns: COMPARISON_SCHEMA, one row per measure in MEASURES.
    """
    _check_period("before", before)
    _check_period("after", after)
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie between 0 and 1, got {confidence}")
    events, sessions, orders, _ = utc_frames(events, sessions, orders, users)
    elapsed = elapsed_part(events, orders, start=after[0], end=after[1], tz=tz, data_end=data_end)
    samples = []
    for start, end in (before, after):
        until = None if elapsed is None else utc_bounds(start, end, tz)[0] + elapsed
        samples.append(_period_sample(events, sessions, orders, start=start, end=end, tz=tz, until=until))
    before_sample, after_sample = samples
    comparisons = {
        "conversion_rate": proportion_difference(
            (before_sample.buyers, before_sample.active_users),
            (after_sample.buyers, after_sample.active_users),
            confidence=confidence,
        ),
        "session_conversion": proportion_difference(
            (before_sample.converted_sessions, before_sample.sessions),
            (after_sample.converted_sessions, after_sample.sessions),
            confidence=confidence,
        ),
        "aov": mean_difference(
            before_sample.order_amounts, after_sample.order_amounts,
            confidence=confidence, bootstrap_samples=bootstrap_samples, seed=seed,
        ),
        "gmv_per_day": mean_difference(before_sample.daily_gmv, after_sample.daily_gmv, confidence=confidence),
    }
    table = pl.DataFrame(
        [{"measure": measure, **asdict(comparison)} for measure, comparison in comparisons.items()],
        schema={name: dtype for name, dtype in COMPARISON_SCHEMA.items() if name not in ("relative_change", "significant")},
    )
    return table.with_columns(
        relative_change=pl.when(pl.col("before") != 0).then(pl.col("after") / pl.col("before") - 1),
        significant=pl.col("p_value") < 1 - confidence,
    ).select(*COMPARISON_SCHEMA)


def campaign_periods(campaigns: pl.DataFrame, campaign_id: int | str) -> tuple[tuple[date, date], tuple[date, date]]:
    """(baseline, window) of a campaign: its window start_date..end_date and the baseline of
    the same length that ends the day before it starts."""
    campaign = campaigns.filter(pl.col("campaign_id") == campaign_id)
    if campaign.is_empty():
        raise ValueError(f"there is no campaign with campaign_id {campaign_id!r}")
    start, end = campaign.select(pl.col("start_date", "end_date").cast(pl.Date)).row(0)
    return previous_period(start, end), (start, end)


def campaign_effect(
    events: pl.DataFrame,
    sessions: pl.DataFrame,
    orders: pl.DataFrame,
    users: pl.DataFrame,
    *,
    campaigns: pl.DataFrame,
    campaign_id: int | str,
    tz: str,
    confidence: float = 0.95,
    bootstrap_samples: int = 2000,
    seed: int = 0,
    data_end: datetime | None = None,
) -> pl.DataFrame:
    """`before_after` of a campaign: its window against the same-length baseline immediately
    before it (`campaign_periods`). The baseline is taken as it is, even where it overlaps
    an earlier campaign; a channel's campaign is measured on that channel by passing frames
    restricted with `metrics.segments.Segment`."""
    baseline, window = campaign_periods(campaigns, campaign_id)
    return before_after(
        events, sessions, orders, users, before=baseline, after=window, tz=tz,
        confidence=confidence, bootstrap_samples=bootstrap_samples, seed=seed, data_end=data_end,
    )
