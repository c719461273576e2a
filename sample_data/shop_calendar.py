"""Business days in Asia/Shanghai, the shop's daily and hourly rhythm, and time conversions.

Times are int64 microseconds since the Unix epoch (UTC) throughout the generator; -1 marks
a moment that has not happened by the end of the data.
"""

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import polars as pl

US_PER_SECOND = 1_000_000
US_PER_MINUTE = 60 * US_PER_SECOND
US_PER_HOUR = 60 * US_PER_MINUTE
US_PER_DAY = 24 * US_PER_HOUR
NOT_YET = -1
# Asia/Shanghai has kept UTC+8 without daylight saving since 1991, so a fixed offset is exact.
BUSINESS_UTC_OFFSET_US = 8 * US_PER_HOUR
_EPOCH = date(1970, 1, 1)

# Lunar New Year's Day: traffic dips around it and couriers pause.
_SPRING_FESTIVAL = {
    2020: date(2020, 1, 25), 2021: date(2021, 2, 12), 2022: date(2022, 2, 1),
    2023: date(2023, 1, 22), 2024: date(2024, 2, 10), 2025: date(2025, 1, 29),
    2026: date(2026, 2, 17), 2027: date(2027, 2, 6), 2028: date(2028, 1, 26),
    2029: date(2029, 2, 13), 2030: date(2030, 2, 3), 2031: date(2031, 1, 23),
    2032: date(2032, 2, 11), 2033: date(2033, 1, 31), 2034: date(2034, 2, 19),
    2035: date(2035, 2, 8),
}  # fmt: skip

# Relative traffic by hour in Shanghai: quiet at night, a lunch peak, the evening peak at
# 20:00-22:00; weekends wake later and stay busier through the afternoon.
WEEKDAY_HOURS = np.array([
    0.35, 0.18, 0.10, 0.07, 0.06, 0.08, 0.18, 0.40, 0.65, 0.80, 0.90, 1.00,
    1.25, 1.15, 0.90, 0.88, 0.90, 0.92, 0.95, 1.15, 1.45, 1.55, 1.30, 0.80,
])  # fmt: skip
WEEKEND_HOURS = np.array([
    0.50, 0.30, 0.16, 0.10, 0.07, 0.07, 0.10, 0.22, 0.42, 0.70, 0.95, 1.10,
    1.20, 1.20, 1.15, 1.10, 1.05, 1.00, 1.00, 1.15, 1.40, 1.50, 1.30, 0.90,
])  # fmt: skip
# Monday to Sunday: weekends browse more.
WEEKDAY_TRAFFIC = np.array([0.97, 0.94, 0.95, 0.97, 1.02, 1.13, 1.11])


def spring_festival(year: int) -> date:
    """Lunar New Year's Day of `year` (early February when the year is outside the table)."""
    return _SPRING_FESTIVAL.get(year, date(year, 2, 5))


@dataclass(frozen=True)
class ShopCalendar:
    """The business days start..end (inclusive) in Asia/Shanghai; day 0 is `start`."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"the shop's end {self.end} is before its start {self.start}")

    @property
    def n_days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def origin_us(self) -> int:
        """The UTC stamp of midnight in Shanghai at the start of day 0."""
        return (self.start - _EPOCH).days * US_PER_DAY - BUSINESS_UTC_OFFSET_US

    @property
    def end_us(self) -> int:
        """The end of the last day: the moment the data is taken, the shop's 'now'."""
        return self.origin_us + self.n_days * US_PER_DAY

    @property
    def weekdays(self) -> np.ndarray:
        """Weekday of each day, 0 = Monday."""
        return (self.start.weekday() + np.arange(self.n_days)) % 7

    @property
    def dates(self) -> pl.Series:
        return pl.date_range(self.start, self.end, "1d", eager=True)

    def day_of(self, stamps_us: np.ndarray) -> np.ndarray:
        """Index of the Shanghai day each stamp falls on (may be outside 0..n_days-1)."""
        return (stamps_us - self.origin_us) // US_PER_DAY

    def day_number(self, day: date) -> int:
        return (day - self.start).days

    def days_between(self, first: date, last: date) -> np.ndarray:
        """Mask over the days of the calendar that lie in first..last."""
        numbers = np.arange(self.n_days)
        return (numbers >= self.day_number(first)) & (numbers <= self.day_number(last))

    def years(self) -> range:
        return range(self.start.year, self.end.year + 1)

    def spring_festival_days(self, before: int, after: int) -> np.ndarray:
        """Mask of the days from `before` days ahead of a Lunar New Year to `after` days past it."""
        mask = np.zeros(self.n_days, dtype=bool)
        for year in self.years():
            festival = spring_festival(year)
            mask |= self.days_between(festival - timedelta(days=before), festival + timedelta(days=after))
        return mask


def seasonal_traffic(calendar: ShopCalendar) -> np.ndarray:
    """Daily traffic factor from the season, the weekday and the Spring Festival holiday."""
    days = np.datetime64(calendar.start, "D") + np.arange(calendar.n_days)
    day_of_year = (days - days.astype("datetime64[Y]")).astype(np.int64) + 1
    winter_high = 1 + 0.08 * np.cos(2 * np.pi * (day_of_year - 355) / 365.25)
    holiday = np.where(calendar.spring_festival_days(3, 6), 0.65, 1.0)
    holiday[calendar.spring_festival_days(1, 0)] = 0.5
    return winter_high * WEEKDAY_TRAFFIC[calendar.weekdays] * holiday


def hourly_shares(calendar: ShopCalendar) -> np.ndarray:
    """(day, hour) share of each day's traffic falling in each Shanghai hour."""
    weekend = calendar.weekdays[:, None] >= 5
    return np.where(weekend, WEEKEND_HOURS / WEEKEND_HOURS.sum(), WEEKDAY_HOURS / WEEKDAY_HOURS.sum())


@dataclass(frozen=True)
class HourlyIntensity:
    """A rate that is constant within each hour from `origin_us`; one unit of mass is an average day."""

    origin_us: int
    cumulative: np.ndarray

    @classmethod
    def from_hourly(cls, origin_us: int, hourly: np.ndarray) -> "HourlyIntensity":
        """The intensity with relative weights `hourly` (all positive) for consecutive hours."""
        per_average_day = hourly / hourly.mean() / 24
        return cls(origin_us, np.concatenate([[0.0], np.cumsum(per_average_day)]))

    @classmethod
    def from_days(cls, calendar: ShopCalendar, daily: np.ndarray) -> "HourlyIntensity":
        """Daily weights spread over the hours by the weekday or weekend profile."""
        return cls.from_hourly(calendar.origin_us, (daily[:, None] * hourly_shares(calendar)).ravel())

    @property
    def n_hours(self) -> int:
        return len(self.cumulative) - 1

    def mass_before(self, stamps_us: np.ndarray) -> np.ndarray:
        """Integrated rate from the origin up to each stamp, in average days."""
        hours = (stamps_us - self.origin_us) / US_PER_HOUR
        return np.interp(hours, np.arange(self.n_hours + 1), self.cumulative)

    def sample(self, rng: np.random.Generator, lower_us: np.ndarray, upper_us: np.ndarray) -> np.ndarray:
        """One stamp per pair drawn from the rate restricted to [lower, upper), by inversion."""
        low, high = self.mass_before(lower_us), self.mass_before(upper_us)
        mass = low + rng.random(len(low)) * (high - low)
        hours = np.interp(mass, self.cumulative, np.arange(self.n_hours + 1))
        return self.origin_us + (hours * US_PER_HOUR).astype(np.int64)


def utc_column(name: str, stamps_us: np.ndarray) -> pl.Series:
    """UTC datetimes from microsecond stamps, null where the stamp is NOT_YET."""
    series = pl.Series(name, stamps_us, dtype=pl.Int64)
    if (stamps_us == NOT_YET).any():
        series = series.set(pl.Series(stamps_us == NOT_YET), None)
    return series.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
