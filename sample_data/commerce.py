"""Orders and their items from the purchases of the visits, with payment, shipping and refunds."""

from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import polars as pl

from sample_data.campaigns import CampaignPlan, campaign_of, shipping_backlog
from sample_data.catalog import Catalog
from sample_data.funnel import VisitEvents
from sample_data.population import REGIONS, REMOTE_REGIONS, Population
from sample_data.shop_calendar import (
    NOT_YET,
    US_PER_DAY,
    US_PER_HOUR,
    US_PER_MINUTE,
    US_PER_SECOND,
    ShopCalendar,
    spring_festival,
    utc_column,
)
from sample_data.visits import Visits
from sample_data.vocabulary import CHANNELS, EVENT, ORDER_STATUSES, STATUS

MAX_ITEMS = 4
_QUANTITY_SHARES = np.array([0.78, 0.14, 0.05, 0.02, 0.01])  # 1..5 pieces
PAYMENT_METHODS = ("alipay", "wechat_pay", "huabei", "card", "unionpay")
# Payment method shares by device (DEVICES order: app, mobile_web, desktop).
_PAYMENT_SHARES = np.array([
    [0.46, 0.40, 0.08, 0.04, 0.02],
    [0.48, 0.38, 0.04, 0.08, 0.02],
    [0.50, 0.12, 0.04, 0.22, 0.12],
])  # fmt: skip
_CANCELLED = 0.03
_CANCELLED_BEFORE_PAYMENT = 0.6
# Orders of the last two days still awaiting payment confirmation this often.
_PENDING_WINDOW_US = 48 * US_PER_HOUR
_PENDING = 0.6
_REFUND, _REFUND_IF_LATE = 0.045, 0.125
_REFUND_BEFORE_SHIPPING = 0.2
_FULL_REFUND = 0.7
LATE_SHIPMENT_US = 48 * US_PER_HOUR
# Codes used outside campaigns: a new user's first order, then everyday coupons, with their
# face values in CNY.
_EVERYDAY_CODES = ("NEWUSER20", "SAVE10", "VIP30", "FREESHIP")
_EVERYDAY_VALUES = np.array([20.0, 10.0, 30.0, 8.0])


@dataclass(frozen=True)
class Orders:
    """Orders (index i is order_id i + 1, in creation order) and their items; stamps NOT_YET when
    the moment has not come by the end of the data."""

    user: np.ndarray
    created_us: np.ndarray
    paid_us: np.ndarray
    shipped_us: np.ndarray
    delivered_us: np.ndarray
    refund_requested_us: np.ndarray
    refunded_us: np.ndarray
    status: np.ndarray
    amount: np.ndarray
    discount: np.ndarray
    refund_amount: np.ndarray
    coupon_code: pl.Series
    channel: np.ndarray
    campaign: np.ndarray
    payment_method: np.ndarray
    late_shipment: np.ndarray
    item_order: np.ndarray
    item_product: np.ndarray
    item_quantity: np.ndarray
    item_unit_price: np.ndarray

    @property
    def valid(self) -> np.ndarray:
        return np.isin(self.status, [STATUS[name] for name in ("paid", "shipped", "completed", "refunded")])

    def spend_by_user(self, n_users: int) -> np.ndarray:
        return np.bincount(self.user[self.valid], weights=self.amount[self.valid], minlength=n_users)

    def tables(self, catalog: Catalog) -> tuple[pl.DataFrame, pl.DataFrame]:
        """The canonical orders and order_items tables."""
        refunded = self.status == STATUS["refunded"]
        orders = pl.DataFrame(
            [
                pl.Series("order_id", np.arange(1, len(self.user) + 1, dtype=np.int64)),
                pl.Series("user_id", self.user + 1, dtype=pl.Int64),
                utc_column("created_at", self.created_us),
                pl.Series("amount", self.amount),
                pl.Series(ORDER_STATUSES).gather(self.status).alias("status"),
                utc_column("paid_at", self.paid_us),
                pl.Series("discount", self.discount),
                self.coupon_code.alias("coupon_code"),
                pl.Series(CHANNELS).gather(self.channel).alias("channel"),
                pl.Series("campaign_id", self.campaign, dtype=pl.Int64).set(
                    pl.Series(self.campaign == 0), None
                ),
                pl.Series(PAYMENT_METHODS).gather(self.payment_method).alias("payment_method"),
                utc_column("shipped_at", self.shipped_us),
                utc_column("delivered_at", self.delivered_us),
                pl.Series("refund_amount", self.refund_amount).set(pl.Series(~refunded), None),
                utc_column("refunded_at", np.where(refunded, self.refunded_us, NOT_YET)),
            ]
        )
        items = pl.DataFrame(
            {
                "order_id": self.item_order + 1,
                "product_id": catalog.product_ids[self.item_product].astype(np.int64),
                "quantity": self.item_quantity.astype(np.int64),
                "unit_price": self.item_unit_price,
            }
        )
        return orders, items


def _lognormal_us(rng: np.random.Generator, median_us: float, sigma: float, size: int) -> np.ndarray:
    return (median_us * np.exp(sigma * rng.standard_normal(size))).astype(np.int64)


def _by_now(stamps_us: np.ndarray, possible: np.ndarray, now_us: int) -> np.ndarray:
    """The stamps of moments that can happen and have happened by `now_us`, else NOT_YET."""
    return np.where(possible & (stamps_us <= now_us), stamps_us, NOT_YET)


def _courier_resumption(calendar: ShopCalendar) -> np.ndarray:
    """Per day of payment: the stamp from which couriers ship again after the Spring Festival
    pause (9:00 on the seventh day of the new year), or 0 when they are working."""
    resume = np.zeros(calendar.n_days, dtype=np.int64)
    for year in calendar.years():
        festival = spring_festival(year)
        paused = calendar.days_between(festival - timedelta(days=4), festival + timedelta(days=6))
        resume[paused] = (
            calendar.origin_us
            + calendar.day_number(festival + timedelta(days=7)) * US_PER_DAY
            + 9 * US_PER_HOUR
        )
    return resume


def _items(
    rng, events: VisitEvents, order_of_visit: np.ndarray, catalog: Catalog, in_campaign: np.ndarray
) -> tuple[np.ndarray, ...]:
    """The first MAX_ITEMS cart additions of each purchasing visit become the order's items."""
    rows = np.flatnonzero((events.event_type == EVENT["add_to_cart"]) & (order_of_visit[events.visit] >= 0))
    visit = events.visit[rows]
    rank = np.arange(len(rows)) - np.searchsorted(visit, visit)
    rows, visit = rows[rank < MAX_ITEMS], visit[rank < MAX_ITEMS]
    order = order_of_visit[visit]
    by_order = np.argsort(order, kind="stable")
    order, product = order[by_order], events.product[rows][by_order]
    quantity = rng.choice(len(_QUANTITY_SHARES), len(order), p=_QUANTITY_SHARES) + 1
    markdown = np.where(
        in_campaign[order], rng.uniform(0.80, 0.95, len(order)), rng.uniform(0.93, 1.0, len(order))
    )
    unit_price = np.round(catalog.price[product] * markdown, 2)
    return order, product, quantity, unit_price


def place_orders(
    rng: np.random.Generator,
    visits: Visits,
    events: VisitEvents,
    event_us: np.ndarray,
    catalog: Catalog,
    population: Population,
    calendar: ShopCalendar,
    plans: list[CampaignPlan],
) -> Orders:
    """One order per purchase event, at its time, by its visit's user and channel."""
    purchase_rows = np.flatnonzero(events.event_type == EVENT["purchase"])
    purchase_rows = purchase_rows[np.argsort(event_us[purchase_rows], kind="stable")]
    visit = events.visit[purchase_rows]
    n = len(visit)
    order_of_visit = np.full(len(visits), -1, dtype=np.int64)
    order_of_visit[visit] = np.arange(n)
    user, channel, created = visits.user[visit], visits.channel[visit], event_us[purchase_rows]
    day = calendar.day_of(created)
    campaign = campaign_of(plans, calendar, day, channel)
    item_order, item_product, quantity, unit_price = _items(
        rng, events, order_of_visit, catalog, campaign > 0
    )
    subtotal = np.bincount(item_order, weights=quantity * unit_price, minlength=n)

    first_of_user = np.zeros(n, dtype=bool)
    first_of_user[np.unique(user, return_index=True)[1]] = True
    coupon_odds = np.where(campaign > 0, 0.45, np.where(first_of_user, 0.35, 0.08))
    has_coupon = rng.random(n) < coupon_odds
    everyday = np.where(first_of_user, 0, rng.integers(1, len(_EVERYDAY_CODES), n))
    # Campaign codes are full-reduction offers: 50 off every 300 spent, at least 10.
    campaign_discount = np.maximum(np.floor(subtotal / 300) * 50, 10)
    discount = np.where(
        has_coupon, np.where(campaign > 0, campaign_discount, _EVERYDAY_VALUES[everyday]), 0.0
    )
    discount = np.round(np.minimum(discount, 0.5 * subtotal), 2)
    code_index = np.where(
        ~has_coupon, 0, np.where(campaign > 0, len(_EVERYDAY_CODES) + campaign, 1 + everyday)
    )
    coupon_code = pl.Series([None, *_EVERYDAY_CODES, *(plan.coupon_code for plan in plans)]).gather(
        code_index
    )
    amount = np.round(subtotal - discount, 2)

    device = visits.device[visit]
    payment_cumulative = np.cumsum(_PAYMENT_SHARES, axis=1)[device]
    payment_method = np.minimum(
        (rng.random(n)[:, None] > payment_cumulative).sum(axis=1), len(PAYMENT_METHODS) - 1
    )

    paid = (
        created
        + 20 * US_PER_SECOND
        + np.minimum(_lognormal_us(rng, 50 * US_PER_SECOND, 1.0, n), 15 * US_PER_MINUTE)
    )
    day_in_range = np.clip(day, 0, calendar.n_days - 1)
    ship_wait = (
        _lognormal_us(rng, 16 * US_PER_HOUR, 0.65, n) * shipping_backlog(plans, calendar)[day_in_range]
    )
    shipped = np.maximum(
        paid + ship_wait.astype(np.int64),
        _courier_resumption(calendar)[day_in_range] + _lognormal_us(rng, 6 * US_PER_HOUR, 0.5, n),
    )
    remote = np.isin(population.region[user], [REGIONS.index(region) for region in REMOTE_REGIONS])
    transit = _lognormal_us(rng, 46 * US_PER_HOUR, 0.45, n) * np.where(remote, 1.6, 1.0)
    delivered = shipped + transit.astype(np.int64)
    slow_to_ship = shipped - paid > LATE_SHIPMENT_US

    cancelled = rng.random(n) < _CANCELLED
    unpaid_cancel = cancelled & (rng.random(n) < _CANCELLED_BEFORE_PAYMENT)
    pending = (created >= calendar.end_us - _PENDING_WINDOW_US) & (rng.random(n) < _PENDING) & ~cancelled
    wants_refund = ~cancelled & ~pending & (rng.random(n) < np.where(slow_to_ship, _REFUND_IF_LATE, _REFUND))
    before_shipping = wants_refund & (rng.random(n) < _REFUND_BEFORE_SHIPPING)
    requested = np.where(
        before_shipping,
        paid + rng.exponential(5 * US_PER_HOUR, n).astype(np.int64),
        delivered + 6 * US_PER_HOUR + rng.exponential(60 * US_PER_HOUR, n).astype(np.int64),
    )
    refunded = requested + _lognormal_us(rng, 30 * US_PER_HOUR, 0.6, n)
    full_refund = rng.random(n) < _FULL_REFUND
    refund_amount = np.round(amount * np.where(full_refund, 1.0, rng.uniform(0.2, 0.8, n)), 2)
    late = slow_to_ship & ~cancelled & ~pending & ~before_shipping

    now = calendar.end_us
    paid = _by_now(paid, ~pending & ~unpaid_cancel, now)
    shipped = _by_now(shipped, (paid != NOT_YET) & ~cancelled & ~before_shipping, now)
    delivered = _by_now(delivered, shipped != NOT_YET, now)
    requested = _by_now(requested, wants_refund & (paid != NOT_YET), now)
    refunded = _by_now(refunded, requested != NOT_YET, now)
    status = np.select(
        [
            pending | ((paid == NOT_YET) & ~cancelled),
            cancelled,
            refunded != NOT_YET,
            delivered != NOT_YET,
            shipped != NOT_YET,
        ],
        [STATUS["pending"], STATUS["cancelled"], STATUS["refunded"], STATUS["completed"], STATUS["shipped"]],
        STATUS["paid"],
    )
    return Orders(
        user=user, created_us=created, paid_us=paid, shipped_us=shipped, delivered_us=delivered,
        refund_requested_us=requested, refunded_us=refunded, status=status, amount=amount, discount=discount,
        refund_amount=refund_amount, coupon_code=coupon_code, channel=channel, campaign=campaign,
        payment_method=payment_method, late_shipment=late, item_order=item_order, item_product=item_product,
        item_quantity=quantity, item_unit_price=unit_price,
    )  # fmt: skip
