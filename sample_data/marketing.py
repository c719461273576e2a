"""Paid traffic: daily ad spend per paid channel, and the campaign budgets it was spent from."""

import numpy as np
import polars as pl

from sample_data.campaigns import CampaignPlan, campaign_of, traffic_lift
from sample_data.shop_calendar import ShopCalendar
from sample_data.visits import Visits
from sample_data.vocabulary import CHANNEL, CHANNELS, PAID_CHANNELS

# Per paid channel (PAID_CHANNELS order: paid_search, social, affiliate, email). Paid search
# sits above the 1-yuan CPC target so the CPC alert has something to show.
_COST_PER_CLICK = np.array([1.18, 0.74, 0.62, 0.12])
_CLICK_THROUGH = np.array([0.032, 0.012, 0.018, 0.038])
# Paid clicks per visit that arrives: some clicks never load the page.
_CLICKS_PER_VISIT = np.array([1.2, 1.3, 1.15, 1.05])


def buy_ads(
    rng: np.random.Generator, visits: Visits, calendar: ShopCalendar, plans: list[CampaignPlan]
) -> pl.DataFrame:
    """The canonical ad_spend table: one row per day and paid channel.

    Clicks follow the visits each channel brought that day; cost per click rises with the
    auction competition of festival days, and rows inside a campaign window carry its id.
    """
    day = calendar.day_of(visits.start_us)
    visits_by_day = np.bincount(
        day * len(CHANNELS) + visits.channel, minlength=calendar.n_days * len(CHANNELS)
    ).reshape(calendar.n_days, len(CHANNELS))
    paid_codes = np.array([CHANNEL[name] for name in PAID_CHANNELS])
    shape = (calendar.n_days, len(PAID_CHANNELS))

    clicks = rng.poisson(visits_by_day[:, paid_codes] * _CLICKS_PER_VISIT + 0.5)
    competition = traffic_lift(plans, calendar)[:, None] ** 0.15
    cost_per_click = _COST_PER_CLICK * competition * np.exp(0.08 * rng.standard_normal(shape))
    impressions = np.round(clicks / (_CLICK_THROUGH * np.exp(0.1 * rng.standard_normal(shape))))
    days = np.repeat(np.arange(calendar.n_days), len(PAID_CHANNELS))
    channels = np.tile(paid_codes, calendar.n_days)
    campaign = campaign_of(plans, calendar, days, channels)
    return pl.DataFrame(
        [
            calendar.dates.gather(days).alias("date"),
            pl.Series(CHANNELS).gather(channels).alias("channel"),
            pl.Series("spend", np.round(clicks * cost_per_click, 2).ravel()),
            pl.Series("campaign_id", campaign, dtype=pl.Int64).set(pl.Series(campaign == 0), None),
            pl.Series("impressions", impressions.ravel(), dtype=pl.Int64),
            pl.Series("clicks", clicks.ravel(), dtype=pl.Int64),
        ]
    )


def campaign_budgets(
    rng: np.random.Generator, ad_spend: pl.DataFrame, orders: pl.DataFrame, n_campaigns: int
) -> np.ndarray:
    """Each campaign's budget: the ad spend and coupon discounts booked under it plus an
    unspent reserve, rounded to hundreds of CNY."""
    costs = pl.concat(
        [
            ad_spend.select("campaign_id", cost=pl.col("spend")),
            orders.select("campaign_id", cost=pl.col("discount")),
        ]
    )
    spent = costs.drop_nulls("campaign_id").group_by("campaign_id").agg(pl.col("cost").sum())
    by_campaign = np.zeros(n_campaigns + 1)
    by_campaign[spent["campaign_id"].to_numpy()] = spent["cost"].to_numpy()
    reserve = rng.uniform(1.05, 1.3, n_campaigns)
    return np.maximum(np.round(by_campaign[1:] * reserve, -2), 100.0)
