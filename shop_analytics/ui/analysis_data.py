"""The cached edge of the User paths, Campaigns & ROI and Explore pages: filter-keyed results
over the loaded shop, as ui/data.py does for the other pages.

Each function takes `source` (`data.source_key()`), which keys the cache on the configured
source, and the filters; the shop itself comes from `data.current_shop()`.
"""

from datetime import date, datetime

import polars as pl
import streamlit as st

from metrics import campaigns as campaign_metric
from metrics import explore, explore_rows, path_tables
from metrics.compare import before_after
from metrics.segments import Segment
from shop_analytics.ui import data

_cached = st.cache_data(ttl=3600, max_entries=64, show_spinner=False)
# The confidence level of a campaign's before/after intervals and tests.
CONFIDENCE = 0.95


@_cached
def step_labels(source: str) -> list[str]:
    """The steps a path can start or end at."""
    return path_tables.step_labels(data.current_shop().events)


@_cached
def path_views(
    source: str, start: date, end: date, tz: str, segment: Segment,
    start_at: str | None, end_at: str | None, depth: int, min_share: float, top_n: int | None,
) -> dict[str, pl.DataFrame]:
    """The Sankey's nodes and links, the top paths and the per-session nodes of the period's
    sessions in the segment (`metrics.path_tables.path_views`)."""
    events = _segment_frames(data.current_shop(), segment)[0]
    return path_tables.path_views(
        events, start=start, end=end, tz=tz, start_at=start_at, end_at=end_at,
        depth=depth, min_share=min_share, top_n=top_n,
    )


def _segment_frames(shop, segment: Segment) -> tuple[pl.DataFrame, ...]:
    """Events, sessions, orders and users in the segment; a source without orders or users
    stands in empty ones (so a region filter there keeps nothing, as the segment says)."""
    empty = pl.DataFrame({"user_id": []}, schema={"user_id": shop.events["user_id"].dtype})
    return segment.apply(shop.events, shop.sessions, shop.tables.get("orders", empty), shop.tables.get("users", empty))


@_cached
def campaign_table(source: str, start: date, end: date, tz: str, segment: Segment) -> pl.DataFrame:
    """Each campaign running in the period with its spend and return
    (`metrics.campaigns.campaign_table`). Orders follow every filter; spend, which has a
    channel but no device or region, follows the channel filter."""
    shop = data.current_shop()
    settings = data.settings()
    orders = data.segment_activity_frames(source, segment)[2]
    ad_spend = shop.tables.get("ad_spend")
    if ad_spend is not None and segment.channels:
        ad_spend = ad_spend.filter(pl.col("channel").is_in(segment.channels))
    return campaign_metric.campaign_table(
        shop.campaigns, orders, ad_spend, shop.tables.get("order_items"), shop.tables.get("products"),
        start=start, end=end, tz=tz, default_margin=settings.default_margin,
        cpc_target=settings.cpc_target, roi_target=settings.roi_target,
    )


def _data_end(shop) -> datetime:
    """The moment the whole shop's data ends, so that a segment's comparison is cut where the
    shop's is, not at the segment's own last event."""
    ends = [shop.activity["event_time"].max(), shop.or_empty("orders")["created_at"].max()]
    return max(end for end in ends if end is not None)


@_cached
def campaign_comparison(
    source: str, window: tuple[date, date], baseline: tuple[date, date], tz: str, segment: Segment
) -> pl.DataFrame:
    """Before/after of a campaign window against its baseline in the segment, with
    CONFIDENCE intervals (`metrics.compare.before_after`). Its active users are counted on
    the activity events, which hold a user's first event of each session day (exact for the
    business days, also with push-down)."""
    frames = data.segment_activity_frames(source, segment)
    return before_after(*frames, before=baseline, after=window, tz=tz, confidence=CONFIDENCE, data_end=_data_end(data.current_shop()))


def _explore_frames(shop, segment: Segment, measure: str) -> dict[str, pl.DataFrame]:
    """The shop's tables with its events, sessions and orders in the segment. Users are the
    segment's only when they are what is counted (new users): as a lookup for an order's
    region or member level, the whole users table is read, since an order is in a channel
    by its own channel and its user may have come by another."""
    tables = {**shop.tables}
    if shop.has("events"):
        tables["sessions"] = shop.sessions
    if shop.has("events", "orders", "users"):
        events, sessions, orders, users = segment.apply(shop.events, shop.sessions, shop.orders, shop.users)
        tables |= {"events": events, "sessions": sessions, "orders": orders}
        if measure == "new_users":
            tables["users"] = users
    return tables


@_cached
def explore_options(source: str) -> dict[str, list[str]]:
    """Each measure the source can pivot, with the dimensions that split it."""
    frames = _explore_frames(data.current_shop(), Segment(), "")
    return {measure: explore_rows.available_dimensions(frames, measure) for measure in explore_rows.available_measures(frames)}


@_cached
def explore_pivot(
    source: str, start: date, end: date, tz: str, segment: Segment, measure: str, rows: str, columns: str | None
) -> tuple[pl.DataFrame, int | float]:
    """The pivot (long form, `metrics.explore.pivot`) and the measure's total for the period."""
    frames = _explore_frames(data.current_shop(), segment, measure)
    return (
        explore.pivot(frames, measure=measure, rows=rows, columns=columns, start=start, end=end, tz=tz),
        explore.measure_total(frames, measure=measure, start=start, end=end, tz=tz),
    )


@_cached
def explore_cell(
    source: str, start: date, end: date, tz: str, segment: Segment,
    measure: str, rows: str, columns: str | None, values: tuple[str, ...],
) -> pl.DataFrame:
    """The rows behind one pivot cell (`metrics.explore_rows.cell_rows`)."""
    frames = _explore_frames(data.current_shop(), segment, measure)
    return explore_rows.cell_rows(frames, measure=measure, rows=rows, columns=columns, values=values, start=start, end=end, tz=tz)
