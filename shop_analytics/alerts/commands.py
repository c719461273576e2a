"""`python cli.py alerts check` and `python cli.py alerts list`: the cron entry and a look at
the stored alerts, configured by .streamlit/secrets.toml ([alerts], [settings],
[connections.shop])."""

import sys
from datetime import date
from pathlib import Path
from typing import TextIO

import sqlalchemy as sa
from tqdm import tqdm

from connectors import open_source, source_from_settings
from shop_analytics.alerts.check import run_check
from shop_analytics.alerts.config import AlertConfig, AlertConfigError, alert_config, read_secrets
from shop_analytics.alerts.messages import alert_line, resolved_line
from shop_analytics.alerts.store import OPEN, AlertStore
from shop_analytics.settings import Settings


def _configured(secrets_path: Path) -> tuple[dict, Settings, AlertConfig]:
    secrets = read_secrets(secrets_path)
    try:
        settings = Settings.from_mapping(secrets.get("settings"))
    except (TypeError, ValueError) as error:
        raise AlertConfigError(f"[settings] in {secrets_path}: {error}") from None
    return secrets, settings, alert_config(secrets.get("alerts"), settings)


def _store(config: AlertConfig) -> AlertStore:
    try:
        return AlertStore(config.database)
    except (OSError, sa.exc.SQLAlchemyError) as error:
        raise AlertConfigError(
            f"cannot open the alert database {config.database} ({type(error).__name__}); set database in [alerts] to a writable file"
        ) from None


def check_command(
    *, source: str | None, day: date | None, secrets_path: Path, out: TextIO = sys.stdout, err: TextIO = sys.stderr
) -> None:
    """Run one check and print its summary line ("3 new, 1 resolved, 0 failed"); every
    failed send and skipped rule gets a line on stderr. Bad configuration raises
    AlertConfigError (the CLI prints it on one line and exits 2)."""
    from shop_analytics.loading import LOAD_ORDER, load_shop

    secrets, settings, config = _configured(secrets_path)
    store = _store(config)
    opened = open_source(source) if source else source_from_settings(secrets.get("connections", {}).get("shop"))
    # disable=None: the bar shows on a terminal and stays out of cron's log
    with tqdm(total=len(LOAD_ORDER) + 1, desc="Loading", unit="table", file=err, leave=False, disable=None) as bar:
        shop = load_shop(opened, session_gap=settings.session_gap, progress=lambda _: bar.update())
    result = run_check(shop, store, config, settings, day=day)
    err.writelines(f"skipped: rule {rule.id} ({rule.describe('en', config.currency)}) needs a tickets table, which {shop.description} does not have\n" for rule in result.skipped)
    err.writelines(f"failed: {send.target} after {send.delivery.attempts} attempt(s): {send.delivery.error}; "
            f"kept in {config.database}, the next check tries again\n" for send in result.failed)
    if not config.targets:
        err.write(f"no notification targets in [alerts] of {secrets_path}: alerts are kept in {config.database}, not sent\n")
    out.write(f"{result.day}: {result.summary()}\n")


def list_command(*, secrets_path: Path, include_resolved: bool, out: TextIO = sys.stdout) -> None:
    """Print the stored alerts, newest first: id, state, first and last day seen, when last
    sent, and the alert in words."""
    _, _, config = _configured(secrets_path)
    alerts = _store(config).alerts(open_only=not include_resolved)
    if not alerts:
        out.write("no open alerts\n" if not include_resolved else "no alerts\n")
    for alert in alerts:
        words = (alert_line if alert["status"] == OPEN else resolved_line)(alert, config.language, config.currency)
        sent = f"{alert['last_sent_at']:%Y-%m-%d %H:%M} UTC" if alert["last_sent_at"] else "not sent"
        out.write(f"{alert['id']:>5}  {alert['status']:<8}  {alert['first_seen_day']}..{alert['last_seen_day']}  {sent:<20}  {words}\n")
