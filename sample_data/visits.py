"""Visits: when each user comes, through which channel and device, and which visits survive.

Sessions carry no id in the data: the app cuts a user's events into sessions at gaps of more
than 30 minutes, so the visits drawn here are kept at least `MIN_GAP_US` apart.
"""

from dataclasses import dataclass, fields

import numpy as np

from sample_data.campaigns import CampaignPlan
from sample_data.population import Population, choose_by_shares
from sample_data.shop_calendar import US_PER_MINUTE, HourlyIntensity, ShopCalendar
from sample_data.vocabulary import CATEGORY_INTEREST, CHANNEL, DEVICE_SHARES

# The app's inactivity rule is 30 minutes; a minute more keeps visits unambiguous.
MIN_GAP_US = 31 * US_PER_MINUTE
# A returning visit comes through the user's acquisition channel this often, else by the mix below.
_SAME_CHANNEL_SHARE = 0.55
_RETURN_MIX = np.array([0.35, 0.05, 0.05, 0.15, 0.0, 0.40])  # CHANNELS order
# Within a channel campaign's window this share of visits arrive through that channel.
_CAMPAIGN_CHANNEL_PULL = 0.3
_DEVICE_LOYALTY = 0.85
_CATEGORY_LOYALTY = 0.6


@dataclass(frozen=True)
class Visits:
    """One entry per visit: the user's index, its start, channel, device and category of interest."""

    user: np.ndarray
    start_us: np.ndarray
    channel: np.ndarray
    device: np.ndarray
    category: np.ndarray
    is_signup: np.ndarray

    def __len__(self) -> int:
        return len(self.user)

    def take(self, selection: np.ndarray) -> "Visits":
        return Visits(**{field.name: getattr(self, field.name)[selection] for field in fields(self)})


def plan_visits(
    rng: np.random.Generator,
    population: Population,
    calendar: ShopCalendar,
    traffic: HourlyIntensity,
    plans: list[CampaignPlan],
    expected_visits: float,
) -> Visits:
    """Candidate visits: each new user's signup visit, then Poisson-many visits per user.

    A user's visits fall in their active span at the shop's traffic rhythm, in proportion to
    their activity; the rate is scaled so that about `expected_visits` are drawn in all.
    """
    newcomers = np.flatnonzero(population.signed_up_in_range)
    # Later visits start strictly after the signup visit.
    lower = np.where(population.signed_up_in_range, population.signup_us + 1, population.active_from_us)
    upper = np.maximum(population.active_until_us, lower)
    weight = population.activity * (traffic.mass_before(upper) - traffic.mass_before(lower))
    rate = max(expected_visits - len(newcomers), 0.0) / weight.sum() if weight.sum() > 0 else 0.0
    returning = np.repeat(np.arange(population.size), rng.poisson(weight * rate))

    user = np.concatenate([newcomers, returning])
    later_starts = traffic.sample(rng, lower[returning], upper[returning])
    start_us = np.concatenate([population.signup_us[newcomers], later_starts])
    is_signup = np.arange(len(user)) < len(newcomers)

    channel = np.where(
        is_signup | (rng.random(len(user)) < _SAME_CHANNEL_SHARE),
        population.channel[user],
        choose_by_shares(rng, _RETURN_MIX, len(user)),
    )
    day = calendar.day_of(start_us)
    for plan in plans:
        if plan.channel is not None:
            inside = (day >= calendar.day_number(plan.start)) & (day <= calendar.day_number(plan.end))
            pulled = inside & ~is_signup & (rng.random(len(user)) < _CAMPAIGN_CHANNEL_PULL)
            channel = np.where(pulled, CHANNEL[plan.channel], channel)
    device = np.where(
        rng.random(len(user)) < _DEVICE_LOYALTY,
        population.device[user],
        choose_by_shares(rng, DEVICE_SHARES, len(user)),
    )
    category = np.where(
        rng.random(len(user)) < _CATEGORY_LOYALTY,
        population.preferred_category[user],
        choose_by_shares(rng, CATEGORY_INTEREST, len(user)),
    )
    return Visits(user, start_us, channel, device, category, is_signup)


def separated_visits(visits: Visits, duration_us: np.ndarray, end_us: int) -> np.ndarray:
    """Mask of visits to keep so that a user's visits are MIN_GAP_US apart and end before `end_us`.

    A visit starting too soon after the end of the user's previous kept visit is dropped;
    the pass repeats until no pair is too close, since a drop exposes the next pair.
    """
    order = np.lexsort((visits.start_us, visits.user))
    user, start, end = (
        visits.user[order],
        visits.start_us[order],
        visits.start_us[order] + duration_us[order],
    )
    kept = end < end_us
    while True:
        positions = np.flatnonzero(kept)
        too_close = (user[positions[1:]] == user[positions[:-1]]) & (
            start[positions[1:]] < end[positions[:-1]] + MIN_GAP_US
        )
        if not too_close.any():
            break
        kept[positions[1:][too_close]] = False
    keep = np.empty(len(visits), dtype=bool)
    keep[order] = kept
    return keep


def within_event_budget(
    rng: np.random.Generator,
    visits: Visits,
    events_per_visit: np.ndarray,
    eligible: np.ndarray,
    target_events: int,
) -> np.ndarray:
    """Mask of eligible visits, taken in random order (signup visits first) while the total
    number of their events stays within `target_events`.

    When the next visit would overflow, later visits that still fit are taken in the same
    order, so the total ends within a few events of the target.
    """
    priority = rng.random(len(visits)) + np.where(visits.is_signup, 0.0, 1.0)
    in_order = np.flatnonzero(eligible)[np.argsort(priority[eligible], kind="stable")]
    keep = np.zeros(len(visits), dtype=bool)
    room = target_events
    while True:
        fitting = in_order[~keep[in_order] & (events_per_visit[in_order] <= room)]
        taken = fitting[np.cumsum(events_per_visit[fitting]) <= room]
        if len(taken) == 0:
            return keep
        keep[taken] = True
        room -= int(events_per_visit[taken].sum())
