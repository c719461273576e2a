"""`python cli.py alerts check` and `python cli.py alerts list`: the cron entry and a look at
the stored alerts, configured by .streamlit/secrets.toml ([alerts], [settings],
[connections.shop])."""

import sys
from datetime import date
from typing import TextIO

import sqlalchemy as sa
from tqdm import tqdm

from shop_analytics.alerts.check import run_check
from shop_analytics.alerts.config import AlertConfig, AlertConfigError, alert_config_of
from shop_analytics.alerts.messages import alert_line, resolved_line
from shop_analytics.alerts.store import OPEN, AlertStore
from shop_analytics.bounds import Scope
from shop_analytics.config import AppConfig
from shop_analytics.opening import open_shop


def _store(config: AlertConfig) -> AlertStore:
    try:
        return AlertStore(config.database)
    except (OSError, sa.exc.SQLAlchemyError) as error:
        raise AlertConfigError(
            f"cannot open the alert database {config.database} ({type(error).__name__}); set database in [alerts] to a writable file"
        ) from None


def check_command(*, config: AppConfig, day: date | None, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> None:
    """Run one check of the configured shop and print its summary line ("3 new, 1 resolved,
    0 failed"); every failed or unknown send and skipped rule gets a line on stderr; a check
    of another process still running after CHECK_LOCK_WAIT_SECONDS is Busy (one line). Bad configuration
    raises AlertConfigError (the CLI prints it on one line and exits 2)."""
    from shop_analytics.loading import LOAD_ORDER

    alerts = alert_config_of(config)
    store = _store(alerts)
    # disable=None: the bar shows on a terminal and stays out of cron's log
    with tqdm(total=len(LOAD_ORDER) + 1, desc="Loading", unit="table", file=err, leave=False, disable=None) as bar:
        # only what the check of `day` reads (shop_analytics/bounds.py)
        shop = open_shop(config, progress=lambda _: bar.update(), scope=Scope("alerts", day, day))
    settings = config.settings
    result = run_check(shop, store, alerts, settings, day=day)
    err.writelines(f"skipped: rule {rule.id} ({rule.describe('en', alerts.currency)}) needs a tickets table, which {shop.description} does not have\n" for rule in result.skipped)
    err.writelines(f"failed: {send.target} after {send.delivery.attempts} attempt(s): {send.delivery.error}; "
            f"kept in {alerts.database}, the next check tries again\n" for send in result.failed)
    err.writelines(f"unknown: {send.target}: {send.delivery.error}; kept as unknown in {alerts.database} and not sent again, "
            "so that it does not arrive twice: check the receiver\n" for send in result.unknown)
    if not alerts.targets:
        err.write(f"no notification targets in [alerts] of {config.origin}: alerts are kept in {alerts.database}, not sent\n")
    out.write(f"{result.day}: {result.summary()}\n")


def list_command(*, config: AppConfig, include_resolved: bool, out: TextIO = sys.stdout) -> None:
    """Print the stored alerts, newest first: id, state, first and last day seen, when last
    sent, and the alert in words. Needs no notification target's secrets."""
    settings = alert_config_of(config, with_targets=False)
    alerts = _store(settings).alerts(open_only=not include_resolved)
    if not alerts:
        out.write("no open alerts\n" if not include_resolved else "no alerts\n")
    for alert in alerts:
        words = (alert_line if alert["status"] == OPEN else resolved_line)(alert, settings.language, settings.currency)
        sent = f"{alert['last_sent_at']:%Y-%m-%d %H:%M} UTC" if alert["last_sent_at"] else "not sent"
        out.write(f"{alert['id']:>5}  {alert['status']:<8}  {alert['first_seen_day']}..{alert['last_seen_day']}  {sent:<20}  {words}\n")
