"""The shop's campaign calendar: shopping festivals and channel promotions, and their effects."""

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import polars as pl

from sample_data.shop_calendar import ShopCalendar, spring_festival
from sample_data.vocabulary import CHANNEL, CHANNELS


@dataclass(frozen=True)
class CampaignPlan:
    """A campaign window and how strongly it moves traffic and conversion.

    `builds_to_peak` festivals start mild and climb to their full traffic lift on the last
    day (the 18th of June, the 11th of November), with a midnight rush when that day opens.
    """

    name: str
    start: date
    end: date
    channel: str | None
    kind: str
    traffic_lift: float
    conversion_lift: float
    builds_to_peak: bool
    coupon_code: str


# The yearly campaigns on fixed dates: name, first and last (month, day), channel (None for
# all channels), kind, traffic lift, conversion lift, builds to a peak, coupon code.
_FIXED_DATE_CAMPAIGNS = (
    ("Queen's Day 女王节", (3, 1), (3, 8), None, "festival", 1.6, 1.2, True, "QUEEN38"),
    ("Spring New-User Gift 春季拉新", (4, 8), (4, 28), "affiliate", "new_user", 1.1, 1.3, False, "HELLO15"),
    ("520 Love Week 520心动季", (5, 14), (5, 20), "social", "coupon", 1.15, 1.3, False, "LOVE520"),
    ("618 Mid-Year Festival 618年中大促", (6, 1), (6, 18), None, "festival", 3.2, 1.4, True, "618MAN300"),
    ("Summer Flash Sale 夏日闪购", (7, 16), (7, 18), "email", "flash_sale", 1.25, 1.6, False, "FLASH50"),
    ("Back to School 开学季", (8, 20), (8, 31), "paid_search", "coupon", 1.15, 1.3, False, "SCHOOL20"),
    ("99 Brand Day 99品牌日", (9, 7), (9, 9), None, "flash_sale", 1.6, 1.25, True, "BRAND99"),
    ("Golden Week Sale 国庆黄金周", (10, 1), (10, 7), None, "festival", 1.2, 1.1, False, "GOLDEN10"),
    ("Double 11 双十一", (11, 1), (11, 11), None, "festival", 4.5, 1.45, True, "D11MAN300"),
    ("Double 12 双十二", (12, 10), (12, 12), None, "festival", 1.9, 1.25, True, "D12MAN200"),
)


def _plans_for_year(year: int) -> list[CampaignPlan]:
    """The year's campaigns: the New Year goods festival, which follows the lunar calendar,
    and those on fixed dates."""
    new_year = spring_festival(year)
    goods_festival = CampaignPlan(
        "New Year Goods Festival 年货节", new_year - timedelta(days=24), new_year - timedelta(days=8),
        None, "festival", 1.3, 1.15, False, "NIANHUO30",
    )  # fmt: skip
    fixed = [
        CampaignPlan(name, date(year, *first), date(year, *last), *effects)
        for name, first, last, *effects in _FIXED_DATE_CAMPAIGNS
    ]
    return [goods_festival, *fixed]


def plan_campaigns(calendar: ShopCalendar) -> list[CampaignPlan]:
    """The campaigns whose windows overlap the calendar, by start date; campaign_id = position + 1."""
    plans = [plan for year in calendar.years() for plan in _plans_for_year(year)]
    return sorted(
        (plan for plan in plans if plan.end >= calendar.start and plan.start <= calendar.end),
        key=lambda plan: plan.start,
    )


def _ramp(plan: CampaignPlan, calendar: ShopCalendar) -> np.ndarray:
    """Per day: 0 outside the window, rising from 0.15 to 1 across a peak-building window, else 1."""
    inside = calendar.days_between(plan.start, plan.end)
    if not plan.builds_to_peak:
        return inside.astype(float)
    length = (plan.end - plan.start).days
    progress = (np.arange(calendar.n_days) - calendar.day_number(plan.start)) / max(length, 1)
    return np.where(inside, 0.15 + 0.85 * np.clip(progress, 0, 1) ** 3, 0.0)


def traffic_lift(plans: list[CampaignPlan], calendar: ShopCalendar) -> np.ndarray:
    """Daily multiplier of the shop's traffic from the campaigns running that day."""
    lift = np.ones(calendar.n_days)
    for plan in plans:
        lift *= 1 + (plan.traffic_lift - 1) * _ramp(plan, calendar)
    return lift


def conversion_lift(plans: list[CampaignPlan], calendar: ShopCalendar) -> np.ndarray:
    """(day, channel) multiplier of add-to-cart and checkout rates; festivals lift every channel."""
    lift = np.ones((calendar.n_days, len(CHANNELS)))
    for plan in plans:
        inside = calendar.days_between(plan.start, plan.end)
        factor = np.where(inside, plan.conversion_lift, 1.0)
        if plan.builds_to_peak:
            factor *= np.where(np.arange(calendar.n_days) == calendar.day_number(plan.end), 1.1, 1.0)
        if plan.channel is None:
            lift *= factor[:, None]
        else:
            lift[:, CHANNEL[plan.channel]] *= factor
    return lift


def peak_days(plans: list[CampaignPlan], calendar: ShopCalendar) -> np.ndarray:
    """Day numbers (inside the calendar) on which a peak-building festival culminates."""
    days = np.array([calendar.day_number(plan.end) for plan in plans if plan.builds_to_peak], dtype=np.int64)
    return days[(days >= 0) & (days < calendar.n_days)]


def shipping_backlog(plans: list[CampaignPlan], calendar: ShopCalendar) -> np.ndarray:
    """Daily multiplier of order-to-ship time: warehouses fall behind around the biggest festivals."""
    backlog = np.ones(calendar.n_days)
    for plan in plans:
        if plan.builds_to_peak and plan.traffic_lift >= 3:
            backlog[calendar.days_between(plan.end - timedelta(days=2), plan.end + timedelta(days=3))] = 1.8
    return backlog


def campaign_of(
    plans: list[CampaignPlan], calendar: ShopCalendar, days: np.ndarray, channels: np.ndarray
) -> np.ndarray:
    """The campaign_id (0 for none) of activity on each day and channel.

    A campaign aimed at the activity's channel takes precedence over an all-channel festival.
    """
    campaign = np.zeros(len(days), dtype=np.int64)
    by_precedence = sorted(range(len(plans)), key=lambda index: plans[index].channel is None)
    for index in by_precedence:
        plan = plans[index]
        inside = (days >= calendar.day_number(plan.start)) & (days <= calendar.day_number(plan.end))
        if plan.channel is not None:
            inside &= channels == CHANNEL[plan.channel]
        campaign = np.where((campaign == 0) & inside, index + 1, campaign)
    return campaign


def campaigns_table(plans: list[CampaignPlan], budgets: np.ndarray) -> pl.DataFrame:
    """The canonical campaigns table."""
    return pl.DataFrame(
        {
            "campaign_id": np.arange(1, len(plans) + 1, dtype=np.int64),
            "name": [plan.name for plan in plans],
            "start_date": [plan.start for plan in plans],
            "end_date": [plan.end for plan in plans],
            "channel": [plan.channel for plan in plans],
            "kind": [plan.kind for plan in plans],
            "budget": budgets.astype(np.float64),
        },
        schema={
            "campaign_id": pl.Int64,
            "name": pl.String,
            "start_date": pl.Date,
            "end_date": pl.Date,
            "channel": pl.String,
            "kind": pl.String,
            "budget": pl.Float64,
        },
    )
