"""The shop's users: when and how they arrive, who they are, how active they are and when they leave."""

from dataclasses import dataclass

import numpy as np
import polars as pl

from sample_data.campaigns import CampaignPlan
from sample_data.shop_calendar import US_PER_DAY, HourlyIntensity, ShopCalendar, utc_column
from sample_data.vocabulary import CATEGORY_INTEREST, CHANNEL, CHANNELS, DEVICE_SHARES, DEVICES

# Users who signed up in the year before the data starts: the shop's existing base.
EXISTING_SHARE = 0.15
# Acquisition mix (CHANNELS order) and how readily users of each channel come back.
_ACQUISITION_MIX = np.array([0.28, 0.20, 0.22, 0.05, 0.10, 0.15])
_CHANNEL_ENGAGEMENT = np.array([1.0, 0.9, 0.75, 1.3, 0.85, 1.25])
# Signups grow by this factor over the year.
_YEARLY_GROWTH = 1.6
# During a new-user campaign its channel's share of signups is multiplied by this.
_NEW_USER_CAMPAIGN_PULL = 2.5

_REGIONS = {
    "Guangdong": 13, "Zhejiang": 9, "Jiangsu": 9, "Shanghai": 6, "Beijing": 6, "Shandong": 6,
    "Sichuan": 5, "Fujian": 5, "Henan": 5, "Hubei": 4, "Hunan": 4, "Anhui": 3, "Hebei": 3,
    "Chongqing": 3, "Shaanxi": 3, "Liaoning": 3, "Tianjin": 2, "Yunnan": 2, "Guangxi": 2,
    "Jiangxi": 2, "Heilongjiang": 1.5, "Jilin": 1, "Shanxi": 1.5, "Guizhou": 1.5, "Gansu": 1,
    "Inner Mongolia": 1, "Xinjiang": 1, "Hainan": 0.7, "Ningxia": 0.4, "Qinghai": 0.3, "Tibet": 0.1,
}  # fmt: skip
REGIONS = tuple(_REGIONS)
# Couriers take longer to reach these.
REMOTE_REGIONS = ("Xinjiang", "Tibet", "Qinghai", "Ningxia", "Gansu", "Inner Mongolia")


@dataclass(frozen=True)
class Population:
    """One entry per user (index i is user_id i + 1), ordered by signup."""

    signup_us: np.ndarray
    channel: np.ndarray
    device: np.ndarray
    region: np.ndarray
    gender: pl.Series
    birth_year: pl.Series
    preferred_category: np.ndarray
    active_from_us: np.ndarray
    active_until_us: np.ndarray
    activity: np.ndarray
    signed_up_in_range: np.ndarray

    @property
    def size(self) -> int:
        return len(self.signup_us)

    def table(self, member_level: pl.Series) -> pl.DataFrame:
        """The canonical users table."""
        return pl.DataFrame(
            [
                pl.Series("user_id", np.arange(1, self.size + 1, dtype=np.int64)),
                utc_column("signup_at", self.signup_us),
                pl.Series(CHANNELS).gather(self.channel).alias("channel"),
                pl.Series(DEVICES).gather(self.device).alias("device"),
                pl.Series(REGIONS).gather(self.region).alias("region"),
                self.gender.alias("gender"),
                self.birth_year.alias("birth_year"),
                member_level.alias("member_level"),
            ]
        )


def choose_by_shares(rng: np.random.Generator, shares, size: int) -> np.ndarray:
    """`size` indexes drawn with probabilities proportional to `shares`."""
    shares = np.asarray(shares, dtype=float)
    return rng.choice(len(shares), size, p=shares / shares.sum())


def _signup_channels(
    rng: np.random.Generator, days: np.ndarray, calendar: ShopCalendar, plans: list[CampaignPlan]
) -> np.ndarray:
    """Acquisition channel of each signup, pulled towards a new-user campaign's channel in its window."""
    mix = np.tile(_ACQUISITION_MIX, (calendar.n_days, 1))
    for plan in plans:
        if plan.kind == "new_user" and plan.channel is not None:
            mix[calendar.days_between(plan.start, plan.end), CHANNEL[plan.channel]] *= _NEW_USER_CAMPAIGN_PULL
    # Row 0 is the plain mix, for the existing base that signed up before the calendar.
    mix = np.vstack([_ACQUISITION_MIX, mix])
    cumulative = np.cumsum(mix / mix.sum(axis=1, keepdims=True), axis=1)
    rows = np.where(days < 0, 0, days + 1)
    return np.minimum((rng.random(len(days))[:, None] > cumulative[rows]).sum(axis=1), len(CHANNELS) - 1)


def _lifetimes_days(rng: np.random.Generator, existing: np.ndarray) -> np.ndarray:
    """Days a user stays active: many churn within weeks, a core stays all year (infinite).

    Existing users have already survived their first weeks, so fewer of them churn fast.
    """
    size = len(existing)
    kind = np.where(
        existing,
        choose_by_shares(rng, [0.25, 0.45, 0.30], size),
        choose_by_shares(rng, [0.45, 0.35, 0.20], size),
    )
    short = rng.exponential(np.where(existing, 30.0, 12.0))
    medium = rng.exponential(np.where(existing, 150.0, 100.0))
    return np.select([kind == 0, kind == 1], [short, medium], np.inf)


def generate_population(
    rng: np.random.Generator,
    n_users: int,
    calendar: ShopCalendar,
    plans: list[CampaignPlan],
    signup_traffic: np.ndarray,
) -> Population:
    """`n_users` users; those signing up in range follow growth and `signup_traffic` (daily weights)."""
    n_existing = int(round(EXISTING_SHARE * n_users))
    growth = _YEARLY_GROWTH ** (np.arange(calendar.n_days) / calendar.n_days)
    new_signups = HourlyIntensity.from_days(calendar, growth * signup_traffic)
    # The existing base signed up evenly over the weeks before the start, with the same hourly
    # rhythm: drawn over the calendar's whole weeks and moved back by as many weeks.
    whole_weeks_us = 7 * max(calendar.n_days // 7, 1) * US_PER_DAY
    steady = HourlyIntensity.from_days(calendar, np.ones(calendar.n_days))
    existing_signup = (
        steady.sample(
            rng,
            np.full(n_existing, calendar.origin_us),
            np.full(n_existing, calendar.origin_us + whole_weeks_us),
        )
        - whole_weeks_us
    )
    new_signup = new_signups.sample(
        rng, np.full(n_users - n_existing, calendar.origin_us), np.full(n_users - n_existing, calendar.end_us)
    )
    signup_us = np.sort(np.concatenate([existing_signup, new_signup]))
    existing = signup_us < calendar.origin_us

    channel = _signup_channels(rng, calendar.day_of(signup_us), calendar, plans)
    active_from = np.maximum(signup_us, calendar.origin_us)
    lifetime_days = _lifetimes_days(rng, existing)
    loyal = np.isinf(lifetime_days)
    lifetime_us = (np.minimum(lifetime_days, calendar.n_days) * US_PER_DAY).astype(np.int64)
    active_until = np.minimum(active_from + lifetime_us, calendar.end_us)
    activity = rng.gamma(0.7, 1.0, n_users) * _CHANNEL_ENGAGEMENT[channel] * np.where(loyal, 1.5, 1.0)

    gender_code = choose_by_shares(rng, [0.58, 0.38, 0.04], n_users)
    gender = pl.Series(["female", "male", None]).gather(gender_code)
    age = np.clip(np.round(rng.normal(31, 8, n_users)), 16, 65).astype(np.int32)
    birth_year = pl.Series(calendar.end.year - age, dtype=pl.Int32)
    birth_year = birth_year.set(pl.Series(rng.random(n_users) < 0.08), None)
    return Population(
        signup_us=signup_us,
        channel=channel,
        device=choose_by_shares(rng, DEVICE_SHARES, n_users),
        region=choose_by_shares(rng, list(_REGIONS.values()), n_users),
        gender=gender,
        birth_year=birth_year,
        preferred_category=choose_by_shares(rng, CATEGORY_INTEREST, n_users),
        active_from_us=active_from,
        active_until_us=active_until,
        activity=activity,
        signed_up_in_range=~existing,
    )


def member_levels(spend: np.ndarray) -> pl.Series:
    """Membership tier from a user's spend over the year (CNY)."""
    tier = np.searchsorted(np.array([300.0, 1_200.0, 3_000.0]), spend, side="right")
    return pl.Series(["regular", "silver", "gold", "platinum"]).gather(tier)
