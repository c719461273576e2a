"""The stored alerts as a table, as `cli.py alerts list` reads them (alerts/store.py), with
each alert's sentence in the configured language."""

import polars as pl

from shop_analytics.alerts.config import alert_config_of
from shop_analytics.alerts.messages import alert_line, resolved_line
from shop_analytics.alerts.store import OPEN, AlertStore, alerts_frame
from shop_analytics.config import AppConfig


def alert_table(config: AppConfig, *, include_resolved: bool) -> pl.DataFrame:
    """The open alerts (and with `include_resolved` the resolved ones), newest first: the
    store's columns (alerts_frame) and `text`, the alert in words. No alert database yet
    means no alerts (the file is not created here: the API only reads)."""
    settings = alert_config_of(config, with_targets=False)
    alerts = AlertStore(settings.database).alerts(open_only=not include_resolved) if settings.database.exists() else []
    texts = [(alert_line if alert["status"] == OPEN else resolved_line)(alert, settings.language, settings.currency) for alert in alerts]
    return alerts_frame(alerts).with_columns(text=pl.Series(texts, dtype=pl.String))
