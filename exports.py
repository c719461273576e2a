"""The tables `python cli.py export NAME` prints: each a metric function's frame.

One entry per name: what it is and how to compute it from a loaded shop and the command's
options. The CLI and its tests look the names up here.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

import polars as pl

from loading import Shop
from metrics.kpis import daily_kpis
from metrics.periods import compare_periods
from metrics.review_words import review_words

_WINDOW = re.compile(r"^(\d+)([smhd])$")
_WINDOW_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_window(text: str) -> timedelta:
    """A window such as 30m, 12h or 7d: a whole number with s, m, h or d."""
    match = _WINDOW.match(text.strip())
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"{text!r} is not a window: use a positive whole number with s, m, h or d, like 7d")
    return timedelta(**{_WINDOW_UNITS[match.group(2)]: int(match.group(1))})


@dataclass(frozen=True)
class ExportRequest:
    """What every export gets: the period in the business zone and the command's options."""

    start: date
    end: date
    tz: str
    options: dict


@dataclass(frozen=True)
class Export:
    description: str
    build: Callable[[Shop, ExportRequest], pl.DataFrame]


def _kpis(shop: Shop, request: ExportRequest) -> pl.DataFrame:
    return daily_kpis(shop.events, shop.sessions, shop.orders, shop.users, start=request.start, end=request.end, tz=request.tz)


def _compare(shop: Shop, request: ExportRequest) -> pl.DataFrame:
    return compare_periods(shop.events, shop.sessions, shop.orders, shop.users, start=request.start, end=request.end, tz=request.tz)


def _review_words(shop: Shop, request: ExportRequest) -> pl.DataFrame:
    products = shop.products if shop.has("products") else None
    by = request.options.get("by") or "rating_band"
    return review_words(shop.reviews, start=request.start, end=request.end, tz=request.tz, by=by, products=products)


EXPORTS: dict[str, Export] = {
    "kpis": Export("the daily KPI table", _kpis),
    "compare": Export("period KPIs against the previous period, a week and a year before", _compare),
    "review-words": Export("the most frequent review words per rating band (--by product: per product)", _review_words),
}
