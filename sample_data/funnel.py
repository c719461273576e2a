"""What happens inside a visit: the path from landing page to purchase, drawn stage by stage.

A visit lands on a page; it bounces there, or it searches, sees a list of products, clicks
some, views them, puts some in the cart, checks out and pays (or the payment fails). Every
stage is drawn for all visits at once; channel and campaign set the odds.
"""

from dataclasses import dataclass, fields

import numpy as np

from sample_data.catalog import Catalog
from sample_data.shop_calendar import US_PER_MINUTE, US_PER_SECOND, ShopCalendar
from sample_data.visits import Visits
from sample_data.vocabulary import CATEGORY_INTEREST, EVENT, PAGE

# Per channel, CHANNELS order: organic, paid_search, social, email, affiliate, direct.
_BOUNCE = np.array([0.35, 0.45, 0.60, 0.25, 0.50, 0.30])
_HOME_LANDING = np.array([0.45, 0.20, 0.35, 0.50, 0.25, 0.70])  # else a category page
_SEARCH = np.array([0.40, 0.60, 0.25, 0.25, 0.30, 0.45])
_CLICK = np.array([0.07, 0.09, 0.05, 0.085, 0.065, 0.085])  # per impression, before product appeal
_ADD_TO_CART = np.array([0.165, 0.21, 0.09, 0.24, 0.15, 0.21])  # per product view
_CHECKOUT = 0.5  # visits with a cart that go to checkout
_PAYMENT_FAILURE = 0.09
_CAMPAIGN_LANDING = 0.45  # visits during a campaign for their channel that land on its page
_OFF_CATEGORY_IMPRESSIONS = 0.15
# A visit that stays sees two products, plus a Poisson number with this mean.
_MEAN_EXTRA_IMPRESSIONS = 6.0
_MAX_IMPRESSIONS = 60
# Mean seconds before an event of each type (EVENT_TYPES order); gaps are exponential.
_MEAN_GAP_SECONDS = np.array([30.0, 15.0, 2.0, 20.0, 3.0, 45.0, 40.0, 50.0])
# Well inside the 30-minute inactivity rule, so one visit is one derived session.
_MAX_GAP_US = 20 * US_PER_MINUTE

# Order of events inside a visit: landing, searches, the impression list, then per clicked
# impression i its click, view and cart; then cart page, checkout, purchase.
_SEARCH_STEP, _IMPRESSION_STEP, _ITEM_STEP, _CHECKOUT_STEP = 1, 10, 1_000, 1_000_000
_STEP_BITS = 21


@dataclass(frozen=True)
class VisitEvents:
    """All events of a set of visits, ordered by visit and then by step; -1 where no product or term."""

    visit: np.ndarray
    event_type: np.ndarray
    page: np.ndarray
    product: np.ndarray
    search_term: np.ndarray
    gap_us: np.ndarray

    def per_visit(self, n_visits: int) -> np.ndarray:
        """Number of events of each visit."""
        return np.bincount(self.visit, minlength=n_visits)

    def durations(self, n_visits: int) -> np.ndarray:
        """Time from each visit's first event to its last."""
        return np.bincount(self.visit, weights=self.gap_us, minlength=n_visits).astype(np.int64)

    def of_visits(self, keep: np.ndarray) -> "VisitEvents":
        """The events of the visits where `keep` holds, with visits renumbered in order."""
        rows = keep[self.visit]
        renumbered = {field.name: getattr(self, field.name)[rows] for field in fields(self)}
        renumbered["visit"] = (np.cumsum(keep) - 1)[renumbered["visit"]]
        return VisitEvents(**renumbered)

    def times(self, start_us: np.ndarray) -> np.ndarray:
        """Event stamps: each visit's start plus the gaps accumulated inside the visit."""
        elapsed = np.cumsum(self.gap_us)
        first_row = np.searchsorted(self.visit, self.visit)
        return start_us[self.visit] + elapsed - elapsed[first_row]


def _repeat_ranked(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For rows repeated `counts` times each: the owner of every copy and its rank among them."""
    owner = np.repeat(np.arange(len(counts)), counts)
    return owner, np.arange(len(owner)) - (np.cumsum(counts) - counts)[owner]


def _block(visit: np.ndarray, step, event_type: int, page, product=None, term=None) -> dict[str, np.ndarray]:
    """The columns of one kind of event, one per entry of `visit`; scalars apply to all."""
    size = len(visit)
    return {
        "visit": visit,
        "step": np.broadcast_to(step, size),
        "event_type": np.full(size, event_type, dtype=np.int8),
        "page": np.broadcast_to(page, size).astype(np.int8),
        "product": np.full(size, -1, dtype=np.int64) if product is None else product,
        "search_term": np.full(size, -1, dtype=np.int64) if term is None else term,
    }


def simulate_funnel(
    rng: np.random.Generator,
    visits: Visits,
    catalog: Catalog,
    calendar: ShopCalendar,
    conversion: np.ndarray,
) -> VisitEvents:
    """The events of every visit; `conversion` is the (day, channel) campaign lift of cart and checkout."""
    n = len(visits)
    channel = visits.channel
    lift = conversion[np.clip(calendar.day_of(visits.start_us), 0, calendar.n_days - 1), channel]
    landing = np.where(rng.random(n) < _HOME_LANDING[channel], PAGE["home"], PAGE["category"])
    landing = np.where((lift > 1) & (rng.random(n) < _CAMPAIGN_LANDING), PAGE["campaign"], landing).astype(
        np.int8
    )
    engaged = rng.random(n) >= _BOUNCE[channel]

    searches = engaged * (rng.random(n) < _SEARCH[channel]) * (1 + (rng.random(n) < 0.3))
    search_visit, search_rank = _repeat_ranked(searches)
    impressions = engaged * np.minimum(2 + rng.poisson(_MEAN_EXTRA_IMPRESSIONS, n), _MAX_IMPRESSIONS)
    seen_visit, seen_rank = _repeat_ranked(impressions)
    seen_category = np.where(
        rng.random(len(seen_visit)) < _OFF_CATEGORY_IMPRESSIONS,
        rng.choice(len(CATEGORY_INTEREST), len(seen_visit), p=CATEGORY_INTEREST),
        visits.category[seen_visit],
    )
    seen_product = catalog.product_sampler.sample(rng, seen_category)
    list_page = np.where(searches > 0, PAGE["search"], landing).astype(np.int8)

    click_odds = (
        _CLICK[channel[seen_visit]]
        * catalog.attractiveness[seen_product]
        * np.where(searches[seen_visit] > 0, 1.3, 1.0)
    )
    clicked = rng.random(len(seen_visit)) < np.minimum(click_odds, 0.9)
    cart_odds = _ADD_TO_CART[channel[seen_visit]] * lift[seen_visit]
    carted = clicked & (rng.random(len(seen_visit)) < np.minimum(cart_odds, 0.9))
    has_cart = np.bincount(seen_visit[carted], minlength=n) > 0
    checkout = has_cart & (rng.random(n) < np.minimum(_CHECKOUT * np.sqrt(lift), 0.95))
    purchase = checkout & (rng.random(n) >= _PAYMENT_FAILURE)

    cart_rows = np.flatnonzero(carted)
    first_cart = cart_rows[np.unique(seen_visit[cart_rows], return_index=True)[1]]
    item_step = _ITEM_STEP + 10 * seen_rank
    buyers = np.flatnonzero(purchase)
    checkouts = np.flatnonzero(checkout)
    blocks = [
        _block(np.arange(n), 0, EVENT["page_view"], landing),
        _block(
            search_visit,
            _SEARCH_STEP + search_rank,
            EVENT["search"],
            PAGE["search"],
            term=catalog.term_sampler.sample(rng, visits.category[search_visit]),
        ),
        _block(
            seen_visit,
            _IMPRESSION_STEP + seen_rank,
            EVENT["product_impression"],
            list_page[seen_visit],
            seen_product,
        ),
        _block(
            seen_visit[clicked],
            item_step[clicked],
            EVENT["product_click"],
            list_page[seen_visit[clicked]],
            seen_product[clicked],
        ),
        _block(
            seen_visit[clicked],
            item_step[clicked] + 1,
            EVENT["product_view"],
            PAGE["product"],
            seen_product[clicked],
        ),
        _block(
            seen_visit[carted],
            item_step[carted] + 2,
            EVENT["add_to_cart"],
            PAGE["product"],
            seen_product[carted],
        ),
        _block(checkouts, _CHECKOUT_STEP, EVENT["page_view"], PAGE["cart"]),
        _block(checkouts, _CHECKOUT_STEP + 1, EVENT["checkout"], PAGE["checkout"]),
        # The purchase event names the order's first item.
        _block(
            buyers,
            _CHECKOUT_STEP + 2,
            EVENT["purchase"],
            PAGE["order_success"],
            seen_product[first_cart[np.searchsorted(seen_visit[first_cart], buyers)]],
        ),
    ]
    columns = {name: np.concatenate([block[name] for block in blocks]) for name in blocks[0]}
    in_visit_order = np.argsort((columns["visit"].astype(np.int64) << _STEP_BITS) + columns["step"])
    visit, event_type = columns["visit"][in_visit_order], columns["event_type"][in_visit_order]
    gap_seconds = rng.exponential(_MEAN_GAP_SECONDS[event_type])
    gap_us = np.minimum((gap_seconds * US_PER_SECOND).astype(np.int64), _MAX_GAP_US)
    gap_us[np.r_[True, visit[1:] != visit[:-1]]] = 0
    return VisitEvents(
        visit,
        event_type,
        columns["page"][in_visit_order],
        columns["product"][in_visit_order],
        columns["search_term"][in_visit_order],
        gap_us,
    )
