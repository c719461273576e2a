"""Tables that read the configuration besides the frames, computed one way for every surface
(the dashboard's cached edge, the CLI's exports, the report, alerts and the API): the
channel table under the configured margin and targets, and the anomaly settings of
`[alerts]` that the one anomaly pipeline (metrics.anomalies.anomaly_verdicts) runs with."""

from datetime import date

import polars as pl

from metrics.anomalies import AnomalySettings
from metrics.channels import channel_table
from shop_analytics.config import AppConfig, Settings


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
