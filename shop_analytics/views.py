"""What every surface (the dashboard's cached edge, the CLI's exports, the report, alerts and
the API) decides the same way: the channel table under the configured margin and targets, the
GMV decomposition against a compared period cut as the period is,
the anomaly settings of `[alerts]` that the one anomaly pipeline
(metrics.anomalies.anomaly_verdicts) runs with, the tables each view reads (VIEW_NEEDS), and
which KPIs a partial shop cannot give (mask_unavailable)."""

from dataclasses import dataclass
from datetime import date, datetime

import polars as pl

from connectors import SourceError
from metrics.anomalies import AnomalySettings
from metrics.channels import channel_table
from metrics.decomposition import category_gmv_factors, decompose_gmv, gmv_factors
from metrics.funnel_spec import FunnelSpec
from metrics.orders import is_valid_order
from metrics.periods import comparison_periods, elapsed_part
from metrics.registry import unavailable
from metrics.time import as_utc, utc_bounds
from shop_analytics.config import AppConfig, Settings
from shop_analytics.loading import MissingTable, Shop


def anomaly_settings(config: AppConfig) -> AnomalySettings:
    """The anomaly window, threshold and holidays of `[alerts]`."""
    alerts = config.alerts
    return AnomalySettings(window=alerts.anomaly_window_days, threshold=alerts.anomaly_threshold, holidays=tuple(alerts.holidays))


def configured_channel_table(
    events: pl.DataFrame,
    sessions: pl.DataFrame,
    orders: pl.DataFrame,
    users: pl.DataFrame,
    optional: dict[str, pl.DataFrame | None],
    *,
    start: date,
    end: date,
    settings: Settings,
) -> pl.DataFrame:
    """metrics.channels.channel_table for start..end in the business zone, with the
    configured margin (where products.cost is absent) and the CPC and ROI targets;
    `optional` holds the shop's ad_spend, order_items and products (None when absent)."""
    return channel_table(
        events, sessions, orders, users, optional.get("ad_spend"), optional.get("order_items"), optional.get("products"),
        start=start, end=end, tz=settings.time_zone, default_margin=settings.default_margin,
        cpc_target=settings.cpc_target, roi_target=settings.roi_target,
    )


@dataclass(frozen=True)
class ViewNeeds:
    """The tables a view's SPEC definitions read: every one of `required`, at least one of
    `any_of` (a view of order and activity measures shows those whose tables the shop has),
    and `optional` ones it uses where present."""

    required: tuple[str, ...] = ()
    any_of: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()

    def missing(self, shop: Shop) -> list[str]:
        """What the shop lacks for the view: the required tables it does not have, or the
        `any_of` tables when it has none of them."""
        lacking = [name for name in self.required if not shop.has(name)]
        if self.any_of and not any(shop.has(name) for name in self.any_of):
            lacking.append(" or ".join(self.any_of))
        return lacking


ORDERS_OR_EVENTS = ("events", "orders")
VIEW_NEEDS: dict[str, ViewNeeds] = {
    # pages
    "overview": ViewNeeds(any_of=ORDERS_OR_EVENTS, optional=("users", "campaigns", "order_items", "products")),
    "alerts": ViewNeeds(any_of=ORDERS_OR_EVENTS, optional=("users", "campaigns", "ad_spend", "tickets")),
    "reports": ViewNeeds(any_of=ORDERS_OR_EVENTS, optional=("users", "campaigns", "ad_spend", "order_items", "products", "tickets", "reviews")),
    "channels": ViewNeeds(any_of=ORDERS_OR_EVENTS, optional=("users", "ad_spend", "order_items", "products")),
    "campaigns": ViewNeeds(required=("campaigns",), any_of=ORDERS_OR_EVENTS, optional=("ad_spend", "order_items", "products")),
    "products": ViewNeeds(required=("products",), any_of=ORDERS_OR_EVENTS, optional=("order_items", "reviews")),
    "funnel": ViewNeeds(required=("events",), optional=("users",)),
    "paths": ViewNeeds(required=("events",)),
    "cohorts": ViewNeeds(any_of=ORDERS_OR_EVENTS, optional=("users", "ad_spend")),
    "segments": ViewNeeds(required=("orders",), optional=("events", "users", "order_items", "products")),
    "demand": ViewNeeds(required=("orders", "order_items", "products"), optional=("campaigns",)),
    "checkout": ViewNeeds(any_of=ORDERS_OR_EVENTS, optional=("products",)),
    "service": ViewNeeds(any_of=("orders", "tickets", "reviews"), optional=("products",)),
    "explore": ViewNeeds(any_of=ORDERS_OR_EVENTS, optional=("users", "order_items", "products")),
    "data_source": ViewNeeds(),
    "targets": ViewNeeds(any_of=ORDERS_OR_EVENTS, optional=("users",)),
    # exports of `cli.py export` and the API
    "export:kpis": ViewNeeds(any_of=ORDERS_OR_EVENTS, optional=("users",)),
    "export:periods": ViewNeeds(any_of=ORDERS_OR_EVENTS, optional=("users",)),
    "export:channels": ViewNeeds(any_of=ORDERS_OR_EVENTS, optional=("users", "ad_spend", "order_items", "products")),
    "export:products": ViewNeeds(required=("products",), any_of=ORDERS_OR_EVENTS, optional=("order_items",)),
    "export:funnel": ViewNeeds(required=("events",), optional=("users",)),
    "export:funnel-drop-offs": ViewNeeds(required=("events",), optional=("users",)),
    "export:paths": ViewNeeds(required=("events",)),
    "export:compare": ViewNeeds(any_of=ORDERS_OR_EVENTS, optional=("campaigns",)),
    "export:retention": ViewNeeds(any_of=ORDERS_OR_EVENTS, optional=("users",)),
    "export:lifecycle": ViewNeeds(required=("events",), optional=("users",)),
    "export:anomalies": ViewNeeds(any_of=ORDERS_OR_EVENTS, optional=("campaigns",)),
    "export:search": ViewNeeds(required=("events",)),
    "export:payments": ViewNeeds(required=("orders",)),
    "export:coupons": ViewNeeds(required=("orders",)),
    "export:service": ViewNeeds(required=("tickets",), optional=("orders",)),
    "export:review-words": ViewNeeds(required=("reviews",), optional=("products",)),
    "export:segments": ViewNeeds(required=("orders",)),
    "export:forecast": ViewNeeds(required=("orders", "order_items", "products"), optional=("campaigns",)),
    "export:ltv": ViewNeeds(required=("orders",)),
    "export:decomposition": ViewNeeds(any_of=ORDERS_OR_EVENTS, optional=("users", "order_items", "products")),
    "export:repeat-orders": ViewNeeds(required=("orders",)),
    "export:repurchase": ViewNeeds(required=("orders",)),
    "export:abandonment": ViewNeeds(required=("events",), optional=("products",)),
    "export:abandoning-users": ViewNeeds(required=("events",), optional=("products",)),
    "export:attribution": ViewNeeds(required=("orders",), optional=("events", "users", "ad_spend", "order_items", "products")),
    "export:targets": ViewNeeds(any_of=ORDERS_OR_EVENTS, optional=("users",)),
}
"""Per view, the tables its definitions read, written once: the pages (ui.frame.open_page),
the exports, the report, alerts and the Data sources page all read it."""


def check_view(view: str, shop: Shop) -> None:
    """MissingTable-like SourceError in one line when the shop lacks what `view` reads."""
    lacking = VIEW_NEEDS[view].missing(shop)
    if lacking:
        raise SourceError(
            f"{view.removeprefix('export:')} needs the {', '.join(lacking)} table(s), which {shop.description} does not have; "
            "map them in the data-source settings ([tables.NAME] of the mapping, or the Data sources page)."
        )


def mask_unavailable(table: pl.DataFrame, shop: Shop) -> pl.DataFrame:
    """A KPI table with the KPIs that read a table the shop lacks set to null ("not
    available", never a day of zeros): wide tables by column, long ones (a `kpi` column) by row."""
    if "kpi" in table.columns:
        gone = set(unavailable(table["kpi"].unique().to_list(), shop.missing))
        if not gone:
            return table
        values = [name for name, dtype in table.schema.items() if dtype.is_numeric()]
        return table.with_columns(pl.when(pl.col("kpi").is_in(list(gone))).then(None).otherwise(pl.col(name)).alias(name) for name in values)
    columns = unavailable(table.columns, shop.missing)
    return table.with_columns(pl.lit(None, table.schema[name]).alias(name) for name in columns) if columns else table


def not_available(columns, shop: Shop) -> dict[str, str]:
    """Per KPI among `columns` that the shop cannot give, why: the tables it reads that are
    missing (for the KPI table's and cards' notes)."""
    return {name: ", ".join(tables) for name, tables in unavailable(columns, shop.missing).items()}


def activity_frames(shop: Shop) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """What the activity and order metrics read (the activity events, sessions, orders and
    users), with an empty stand-in for a table the shop lacks."""
    return shop.activity, _sessions(shop), shop.or_empty("orders"), shop.or_empty("users")


def all_frames(shop: Shop) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Events, sessions, orders and users, with an empty stand-in for a table the shop lacks
    (events in memory: NeedsEvents with push-down)."""
    return shop.or_empty("events"), _sessions(shop), shop.or_empty("orders"), shop.or_empty("users")


def funnel_events(shop: Shop, spec: FunnelSpec, *, start: date, end: date, tz: str) -> pl.DataFrame:
    """The events a funnel of `spec` over start..end reads: the shop's events in memory, or,
    with push-down, the ones its engine selects for that funnel (with the session columns
    the channel and device filters read)."""
    if shop.pushed is None:
        return shop.or_empty("events")
    return shop.pushed.funnel_events(spec, start=start, end=end, tz=tz, sessions=_sessions(shop))


def _sessions(shop: Shop) -> pl.DataFrame:
    """The shop's sessions (load_shop always derives them, empty without events)."""
    if shop.sessions is None:
        raise MissingTable("events", shop.description)
    return shop.sessions


def _cut_before(frame: pl.DataFrame, column: str, instant: datetime | None) -> pl.DataFrame:
    return frame if instant is None else as_utc(frame, column).filter(pl.col(column) < instant)


def gmv_decomposition(
    activity: pl.DataFrame,
    sessions: pl.DataFrame,
    orders: pl.DataFrame,
    users: pl.DataFrame,
    *,
    start: date,
    end: date,
    tz: str,
    compared_with: str = "previous",
    events: pl.DataFrame | None = None,
    order_items: pl.DataFrame | None = None,
    products: pl.DataFrame | None = None,
) -> dict:
    """The GMV decomposition of start..end against the period `compared_with` (previous,
    week_before or year_before: metrics.periods.comparison_periods), as every surface shows it.

    While the period is in progress the compared period is cut at the same elapsed point
    (SPEC, Period comparison: never a whole period against part of one). Keys:
    comparison_period (its first and last day), current and comparison (gmv_factors of the
    shop), parts (decompose_gmv of the shop), channels (by channel) and categories (by
    category; None without `events` carrying session_id, `order_items` and `products`).
    """
    other_start, other_end = comparison_periods(start, end)[compared_with]
    elapsed = elapsed_part(activity, orders, start=start, end=end, tz=tz)
    cut = None if elapsed is None else utc_bounds(other_start, other_end, tz)[0] + elapsed
    other_sessions, other_orders = _cut_before(sessions, "started_at", cut), _cut_before(orders, "created_at", cut)
    current = gmv_factors(sessions, orders, start=start, end=end, tz=tz)
    comparison = gmv_factors(other_sessions, other_orders, start=other_start, end=other_end, tz=tz)
    channels_now = gmv_factors(sessions, orders, by="channel", users=users, start=start, end=end, tz=tz)
    channels_then = gmv_factors(other_sessions, other_orders, by="channel", users=users, start=other_start, end=other_end, tz=tz)
    categories = None
    if events is not None and order_items is not None and products is not None:
        categories = decompose_gmv(
            category_gmv_factors(events, sessions, orders, order_items, products, start=start, end=end, tz=tz),
            category_gmv_factors(
                _cut_before(events, "event_time", cut), other_sessions, other_orders, order_items, products,
                start=other_start, end=other_end, tz=tz,
            ),
            keys=["category"],
        )
    return {
        "comparison_period": (other_start, other_end),
        "current": current,
        "comparison": comparison,
        "parts": decompose_gmv(current, comparison),
        "channels": decompose_gmv(channels_now, channels_then, keys=["channel"]),
        "categories": categories,
    }


def buyers_in_events(shop: Shop) -> float | None:
    """The share of valid orders whose buyer is found among the events' users: how well a
    shop made of several sources (orders from the database, events from the tracker) joins
    its ids. None without both tables or without valid orders."""
    if not (shop.has("orders") and shop.has("events")) or shop.pushed is not None:
        return None
    orders = shop.orders.filter(is_valid_order())
    if orders.height == 0:
        return None
    seen = shop.events.select(pl.col("user_id").cast(pl.String)).unique()
    return orders.select(pl.col("user_id").cast(pl.String).is_in(seen["user_id"].implode()).mean()).item()
