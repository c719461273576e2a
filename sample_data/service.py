"""After the sale: product reviews and customer-service tickets."""

import numpy as np
import polars as pl

from sample_data.catalog import Catalog
from sample_data.commerce import Orders
from sample_data.shop_calendar import (
    NOT_YET,
    US_PER_DAY,
    US_PER_HOUR,
    US_PER_MINUTE,
    ShopCalendar,
    utc_column,
)
from sample_data.visits import Visits
from sample_data.vocabulary import STATUS

# Review text: an opener and a closer per language and mood (positive, neutral, negative,
# and a complaint about slow shipping), joined by a comma.
_PHRASES = {
    "zh": {
        "positive": (
            ["质量很好", "物流很快", "包装很用心", "性价比很高", "和图片一样", "尺码合适",
             "做工精细", "味道不错", "宝宝很喜欢", "客服态度很好", "颜色很正"],
            ["会回购的。", "推荐购买！", "非常满意。", "五星好评！", "下次还来。", "值得入手。"],
        ),
        "neutral": (
            ["质量一般", "和描述差不多", "价格偏贵", "包装有点简陋", "用了几天再看"],
            ["凑合用吧。", "还可以。", "希望改进。", "中规中矩。"],
        ),
        "negative": (
            ["质量很差", "有色差", "包装破损", "客服不回复", "尺码不准", "和描述不符", "用了两天就坏了"],
            ["不推荐。", "已申请退货。", "很失望。", "差评！"],
        ),
        "late": (
            ["发货太慢了", "物流太慢", "等了好久才发货", "快递一直不更新"],
            ["很失望。", "体验很差。", "下次不会再买了。", "希望改进。"],
        ),
    },
    "en": {
        "positive": (
            ["Great quality", "Fast delivery", "Well packaged", "Good value for money",
             "Exactly as described", "Fits perfectly", "Lovely colour"],
            ["will buy again.", "highly recommend!", "very satisfied.", "five stars!"],
        ),
        "neutral": (
            ["Quality is okay", "Average product", "A bit pricey", "Packaging could be better"],
            ["it's fine.", "could be better.", "does the job."],
        ),
        "negative": (
            ["Poor quality", "Colour differs from the photos", "Package arrived damaged", "Wrong size",
             "Broke after two days"],
            ["not recommended.", "returned it.", "very disappointed."],
        ),
        "late": (
            ["Shipping took forever", "Took too long to ship", "Tracking never updated"],
            ["very disappointed.", "not ordering again.", "please improve."],
        ),
    },
}  # fmt: skip
_LANGUAGES, _MOODS = ("zh", "en"), ("positive", "neutral", "negative", "late")
_SEPARATOR = {"zh": "，", "en": ", "}
_ENGLISH_SHARE = 0.2
_REVIEW_ODDS_COMPLETED, _REVIEW_ODDS_REFUNDED = 0.2, 0.35
# Ratings 1..5 of delivered orders: on time, shipped late, refunded.
_RATING_SHARES = np.array([
    [0.03, 0.03, 0.09, 0.25, 0.60],
    [0.10, 0.12, 0.23, 0.30, 0.25],
    [0.30, 0.25, 0.20, 0.15, 0.10],
])  # fmt: skip

TICKET_CHANNELS = ("chat", "phone", "email")
_TICKET_CHANNEL_SHARES = np.array([0.4, 0.2, 0.4])
# Chance that the first response misses the 24-hour promise, per ticket channel; weekends and
# the festival backlog raise it.
_BREACH = np.array([0.05, 0.08, 0.14])
# Satisfaction 1..5: answered in time, late answer, complaint answered in time.
_SATISFACTION_SHARES = np.array([
    [0.03, 0.05, 0.12, 0.35, 0.45],
    [0.15, 0.20, 0.30, 0.20, 0.15],
    [0.10, 0.15, 0.25, 0.30, 0.20],
])  # fmt: skip
_SATISFACTION_ANSWERED = 0.65
_CATEGORY_CODES = {"inquiry": 0, "complaint": 1, "return": 2, "other": 3}


def _draw_rows(rng: np.random.Generator, shares: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """One draw per entry of `rows` from the distribution in that row of `shares`: values 1..k."""
    cumulative = np.cumsum(shares, axis=1)[rows]
    return np.minimum((rng.random(len(rows))[:, None] > cumulative).sum(axis=1), shares.shape[1] - 1) + 1


def _phrase_table(part: int) -> tuple[pl.Series, np.ndarray, np.ndarray]:
    """All openers (part 0) or closers (part 1) in one series, with the first index and count
    of each (language, mood)."""
    groups = [_PHRASES[language][mood][part] for language in _LANGUAGES for mood in _MOODS]
    counts = np.array([len(group) for group in groups]).reshape(len(_LANGUAGES), len(_MOODS))
    first = (np.cumsum(counts) - counts.ravel()).reshape(counts.shape)
    return pl.Series([phrase for group in groups for phrase in group]), first, counts


def _review_texts(rng: np.random.Generator, rating: np.ndarray, late: np.ndarray) -> pl.Series:
    """A text per review: an opener and a closer in the mood of its rating, mostly in Chinese;
    middling and low ratings of late parcels complain about the shipping."""
    size = len(rating)
    language = (rng.random(size) < _ENGLISH_SHARE).astype(np.int64)
    mood = np.select(
        [late & (rating <= 3), rating >= 4, rating == 3],
        [_MOODS.index("late"), _MOODS.index("positive"), _MOODS.index("neutral")],
        _MOODS.index("negative"),
    )
    parts = []
    for part in (0, 1):
        phrases, first, counts = _phrase_table(part)
        pick = first[language, mood] + (rng.random(size) * counts[language, mood]).astype(np.int64)
        parts.append(phrases.gather(pick))
    separator = pl.Series([_SEPARATOR[name] for name in _LANGUAGES]).gather(language)
    return pl.select(pl.concat_str(parts[0], separator, parts[1])).to_series().alias("text")


def write_reviews(
    rng: np.random.Generator, orders: Orders, catalog: Catalog, calendar: ShopCalendar
) -> pl.DataFrame:
    """Reviews of a share of delivered orders, a few days after delivery, on one of the order's items."""
    delivered = orders.delivered_us != NOT_YET
    completed = orders.status == STATUS["completed"]
    refunded = (orders.status == STATUS["refunded"]) & delivered
    odds = np.where(completed, _REVIEW_ODDS_COMPLETED, np.where(refunded, _REVIEW_ODDS_REFUNDED, 0.0))
    order = np.flatnonzero(rng.random(len(odds)) < odds)
    created = (
        orders.delivered_us[order]
        + US_PER_HOUR
        + rng.exponential(60 * US_PER_HOUR, len(order)).astype(np.int64)
    )
    in_time = created < calendar.end_us
    order, created = order[in_time], created[in_time]
    by_time = np.argsort(created, kind="stable")
    order, created = order[by_time], created[by_time]

    late = orders.late_shipment[order]
    kind = np.where(refunded[order], 2, np.where(late, 1, 0))
    rating = _draw_rows(rng, _RATING_SHARES, kind)
    first_item = np.searchsorted(orders.item_order, order)
    n_items = np.searchsorted(orders.item_order, order, side="right") - first_item
    item = first_item + (rng.random(len(order)) * n_items).astype(np.int64)
    return pl.DataFrame(
        [
            pl.Series("review_id", np.arange(1, len(order) + 1, dtype=np.int64)),
            pl.Series("product_id", catalog.product_ids[orders.item_product[item]], dtype=pl.Int64),
            utc_column("created_at", created),
            pl.Series("rating", rating, dtype=pl.Int32),
            pl.Series("user_id", orders.user[order] + 1, dtype=pl.Int64),
            pl.Series("order_id", order + 1, dtype=pl.Int64),
            _review_texts(rng, rating, late),
        ]
    )


def _waits(rng: np.random.Generator, mean_us: float, size: int) -> np.ndarray:
    return rng.exponential(mean_us, size).astype(np.int64)


def _ticket_sources(rng: np.random.Generator, orders: Orders, visits: Visits) -> tuple[np.ndarray, ...]:
    """Why tickets are opened: (created stamp, category code, order index or -1, user index) per ticket.

    Every refund request is a return ticket; some other delivered orders ask for a return too;
    late shipments draw complaints; some buyers ask about their order; some visitors ask
    before buying or about something else.
    """
    n = len(orders.user)
    paid = orders.paid_us != NOT_YET
    delivered = orders.delivered_us != NOT_YET
    refund = np.flatnonzero(orders.refund_requested_us != NOT_YET)
    other_return = np.flatnonzero(
        delivered & (orders.refund_requested_us == NOT_YET) & (rng.random(n) < 0.015)
    )
    complaint = np.flatnonzero(paid & (rng.random(n) < np.where(orders.late_shipment, 0.10, 0.02)))
    inquiry = np.flatnonzero(paid & (rng.random(n) < 0.05))
    asking = np.flatnonzero(rng.random(len(visits)) < 0.012)

    # A late parcel draws its complaint once the 48-hour shipping promise has passed.
    since_sale = np.where(delivered[complaint], orders.delivered_us[complaint], orders.paid_us[complaint])
    complaint_after = np.where(
        orders.late_shipment[complaint], orders.paid_us[complaint] + 48 * US_PER_HOUR, since_sale
    )
    created = np.concatenate([
        orders.refund_requested_us[refund],
        orders.delivered_us[other_return] + _waits(rng, 3 * US_PER_DAY, len(other_return)),
        complaint_after + _waits(rng, 24 * US_PER_HOUR, len(complaint)),
        orders.created_us[inquiry] + _waits(rng, 24 * US_PER_HOUR, len(inquiry)),
        visits.start_us[asking] + _waits(rng, 5 * US_PER_MINUTE, len(asking)),
    ])  # fmt: skip
    category = np.concatenate([
        np.full(len(refund) + len(other_return), _CATEGORY_CODES["return"]),
        np.full(len(complaint), _CATEGORY_CODES["complaint"]),
        np.full(len(inquiry), _CATEGORY_CODES["inquiry"]),
        np.where(rng.random(len(asking)) < 0.7, _CATEGORY_CODES["inquiry"], _CATEGORY_CODES["other"]),
    ])  # fmt: skip
    with_order = np.concatenate([refund, other_return, complaint, inquiry])
    order = np.concatenate([with_order, np.full(len(asking), -1)])
    user = np.concatenate([orders.user[with_order], visits.user[asking]])
    return created, category, order, user


def _first_response_hours(
    rng: np.random.Generator, channel: np.ndarray, breach_odds: np.ndarray
) -> np.ndarray:
    """Hours to the first answer: chat within hours, phone and e-mail queues mostly just inside
    the 24-hour promise, and a tail of breaches."""
    size = len(channel)
    chat = channel == TICKET_CHANNELS.index("chat")
    in_time = np.where(chat, 0.5 + 10 * rng.beta(1.5, 2.0, size), 2 + 20 * rng.beta(2.0, 1.3, size))
    breached = 24 + 1 / 60 + rng.exponential(14, size)
    return np.where(rng.random(size) < breach_odds, breached, in_time)


def open_tickets(
    rng: np.random.Generator,
    orders: Orders,
    visits: Visits,
    calendar: ShopCalendar,
    festival_backlog: np.ndarray,
) -> pl.DataFrame:
    """Customer-service tickets with first response, resolution and satisfaction.

    `festival_backlog` (per day, above 1 around the biggest festivals) slows the team down.
    """
    created, category, order, user = _ticket_sources(rng, orders, visits)
    by_time = np.argsort(created, kind="stable")
    by_time = by_time[created[by_time] < calendar.end_us]
    created, category, order, user = created[by_time], category[by_time], order[by_time], user[by_time]
    size = len(created)

    channel = rng.choice(len(TICKET_CHANNELS), size, p=_TICKET_CHANNEL_SHARES)
    day = np.clip(calendar.day_of(created), 0, calendar.n_days - 1)
    breach_odds = (
        _BREACH[channel]
        * np.where(calendar.weekdays[day] >= 5, 1.3, 1.0)
        * np.where(festival_backlog[day] > 1, 2.0, 1.0)
    )
    hours = _first_response_hours(rng, channel, breach_odds)
    first_response = created + (hours * US_PER_HOUR).astype(np.int64)
    resolved = first_response + (20 * US_PER_HOUR * np.exp(0.9 * rng.standard_normal(size))).astype(np.int64)
    # A return ticket for a refund closes when the money is back (order -1 picks the NOT_YET).
    requested = np.append(orders.refund_requested_us, NOT_YET)[order]
    refunded = np.append(orders.refunded_us, NOT_YET)[order]
    money_back = np.where(
        refunded != NOT_YET, np.maximum(refunded, first_response + 10 * US_PER_MINUTE), NOT_YET
    )
    resolved = np.where(
        (category == _CATEGORY_CODES["return"]) & (requested != NOT_YET), money_back, resolved
    )
    first_response = np.where(first_response < calendar.end_us, first_response, NOT_YET)
    resolved = np.where(
        (resolved != NOT_YET) & (resolved < calendar.end_us) & (first_response != NOT_YET), resolved, NOT_YET
    )

    mood = np.where(hours > 24, 1, np.where(category == _CATEGORY_CODES["complaint"], 2, 0))
    satisfaction = pl.Series("satisfaction", _draw_rows(rng, _SATISFACTION_SHARES, mood), dtype=pl.Int32)
    unanswered = (resolved == NOT_YET) | (rng.random(size) >= _SATISFACTION_ANSWERED)
    return pl.DataFrame(
        [
            pl.Series("ticket_id", np.arange(1, size + 1, dtype=np.int64)),
            utc_column("created_at", created),
            pl.Series(list(_CATEGORY_CODES)).gather(category).alias("category"),
            pl.Series("user_id", user + 1, dtype=pl.Int64),
            pl.Series("order_id", order + 1, dtype=pl.Int64).set(pl.Series(order < 0), None),
            utc_column("first_response_at", first_response),
            utc_column("resolved_at", resolved),
            pl.Series(TICKET_CHANNELS).gather(channel).alias("channel"),
            satisfaction.set(pl.Series(unanswered), None),
        ]
    )
