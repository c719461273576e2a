"""Generate the sample shop (SPEC section 4): the nine canonical tables from a seed.

The same arguments give the same tables: every draw comes from one NumPy generator seeded
with `seed`, in a fixed order, and nothing depends on the clock.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import numpy as np
import polars as pl

from sample_data.campaigns import (
    campaigns_table,
    conversion_lift,
    peak_days,
    plan_campaigns,
    shipping_backlog,
    traffic_lift,
)
from sample_data.catalog import Catalog, build_catalog
from sample_data.commerce import place_orders
from sample_data.funnel import VisitEvents, simulate_funnel
from sample_data.marketing import buy_ads, campaign_budgets
from sample_data.population import generate_population, member_levels
from sample_data.service import open_tickets, write_reviews
from sample_data.shop_calendar import (
    HourlyIntensity,
    ShopCalendar,
    hourly_shares,
    seasonal_traffic,
    utc_column,
)
from sample_data.visits import Visits, plan_visits, separated_visits, within_event_budget
from sample_data.vocabulary import CHANNELS, DEVICES, EVENT_TYPES, PAGES

GENERATION_STEPS = (
    "products and campaigns",
    "users",
    "visits",
    "events",
    "orders",
    "reviews and tickets",
    "ad spend",
)

# Visits are drawn with some to spare and then trimmed to the event target: events per visit
# is only known after the funnel is drawn, and visits too close to each other are dropped.
# When heavy users lose many visits that way, the draw is repeated with more visits.
_EVENTS_PER_VISIT = 7.4
_OVERSAMPLING = 1.08
_MAX_DRAWS = 4
# Shoppers wait up for the opening minute of a festival's last day (the 11-11 midnight rush).
_MIDNIGHT_RUSH = 5.0
# Signups follow traffic, but a campaign brings relatively more visits than new accounts.
_SIGNUP_CAMPAIGN_ELASTICITY = 0.7


@dataclass(frozen=True)
class SimulatedShop:
    """The canonical tables and the number of visits behind the events (each visit is one
    session under the 30-minute inactivity rule)."""

    tables: dict[str, pl.DataFrame]
    session_count: int


def _visit_traffic(calendar: ShopCalendar, daily: np.ndarray, peaks: np.ndarray) -> HourlyIntensity:
    """The visit rate: daily weights over the day's hours, with a rush at midnight of the `peaks` days."""
    hourly = daily[:, None] * hourly_shares(calendar)
    hourly[peaks, 0] *= _MIDNIGHT_RUSH
    return HourlyIntensity.from_hourly(calendar.origin_us, hourly.ravel())


def _nullable_lookup(values: pl.Series, index: np.ndarray) -> pl.Series:
    """values[index], null where index is -1."""
    return values.gather(pl.Series(index, dtype=pl.Int64).set(pl.Series(index < 0), None))


def _events_table(
    events: VisitEvents, event_us: np.ndarray, visits: Visits, catalog: Catalog
) -> pl.DataFrame:
    """The canonical events table in time order (a visit's events keep their order on ties)."""
    by_time = np.argsort(event_us, kind="stable")
    visit = events.visit[by_time]
    return pl.DataFrame(
        [
            pl.Series("user_id", visits.user[visit] + 1, dtype=pl.Int64),
            utc_column("event_time", event_us[by_time]),
            pl.Series(EVENT_TYPES).gather(events.event_type[by_time]).alias("event_type"),
            pl.Series(PAGES).gather(events.page[by_time]).alias("page"),
            _nullable_lookup(pl.Series(catalog.product_ids, dtype=pl.Int64), events.product[by_time]).alias(
                "product_id"
            ),
            pl.Series(CHANNELS).gather(visits.channel[visit]).alias("channel"),
            pl.Series(DEVICES).gather(visits.device[visit]).alias("device"),
            _nullable_lookup(catalog.search_terms, events.search_term[by_time]).alias("search_term"),
        ]
    )


def simulate_shop(
    *,
    users: int = 50_000,
    events: int = 2_000_000,
    seed: int = 7,
    start: date = date(2025, 11, 23),
    end: date = date(2026, 11, 22),
    progress: Callable[[str], None] | None = None,
) -> SimulatedShop:
    """The sample shop with `users` users and about `events` events (within 1 %) over start..end,
    business days in Asia/Shanghai. `progress` is called with each name of GENERATION_STEPS."""
    if users < 1 or events < 1:
        raise ValueError("the sample shop needs at least one user and one event")
    done = progress or (lambda step: None)
    rng = np.random.default_rng(seed)
    calendar = ShopCalendar(start, end)
    plans = plan_campaigns(calendar)
    catalog = build_catalog(rng)
    done(GENERATION_STEPS[0])

    seasonal, lift = seasonal_traffic(calendar), traffic_lift(plans, calendar)
    signup_traffic = seasonal * lift**_SIGNUP_CAMPAIGN_ELASTICITY
    population = generate_population(rng, users, calendar, plans, signup_traffic)
    done(GENERATION_STEPS[1])

    traffic = _visit_traffic(calendar, seasonal * lift, peak_days(plans, calendar))
    conversion = conversion_lift(plans, calendar)
    expected_visits = events * _OVERSAMPLING / _EVENTS_PER_VISIT
    for _ in range(_MAX_DRAWS):
        candidates = plan_visits(rng, population, calendar, traffic, plans, expected_visits)
        candidate_events = simulate_funnel(rng, candidates, catalog, calendar, conversion)
        separated = separated_visits(candidates, candidate_events.durations(len(candidates)), calendar.end_us)
        events_per_visit = candidate_events.per_visit(len(candidates))
        available = events_per_visit[separated].sum()
        if available >= events:
            break
        expected_visits *= _OVERSAMPLING * events / max(available, 1)
    keep = within_event_budget(rng, candidates, events_per_visit, separated, events)
    visits, visit_events = candidates.take(keep), candidate_events.of_visits(keep)
    done(GENERATION_STEPS[2])

    event_us = visit_events.times(visits.start_us)
    events_table = _events_table(visit_events, event_us, visits, catalog)
    done(GENERATION_STEPS[3])

    orders = place_orders(rng, visits, visit_events, event_us, catalog, population, calendar, plans)
    orders_table, items_table = orders.tables(catalog)
    done(GENERATION_STEPS[4])

    reviews = write_reviews(rng, orders, catalog, calendar)
    tickets = open_tickets(rng, orders, visits, calendar, shipping_backlog(plans, calendar))
    done(GENERATION_STEPS[5])

    ad_spend = buy_ads(rng, visits, calendar, plans)
    campaigns = campaigns_table(plans, campaign_budgets(rng, ad_spend, orders_table, len(plans)))
    done(GENERATION_STEPS[6])

    tables = {
        "users": population.table(member_levels(orders.spend_by_user(population.size))),
        "events": events_table,
        "orders": orders_table,
        "order_items": items_table,
        "products": catalog.products,
        "campaigns": campaigns,
        "ad_spend": ad_spend,
        "reviews": reviews,
        "tickets": tickets,
    }
    return SimulatedShop(tables, len(visits))


def generate_shop(
    *,
    users: int = 50_000,
    events: int = 2_000_000,
    seed: int = 7,
    start: date = date(2025, 11, 23),
    end: date = date(2026, 11, 22),
    progress: Callable[[str], None] | None = None,
) -> dict[str, pl.DataFrame]:
    """The nine canonical tables of the sample shop; see `simulate_shop`."""
    return simulate_shop(
        users=users, events=events, seed=seed, start=start, end=end, progress=progress
    ).tables
