"""`python cli.py schedule`: the scheduler as a service (`make run` starts it beside the
dashboard), or one round for cron (`--once`). Stops cleanly on SIGTERM and Ctrl-C."""

import logging
import signal
import sys
import threading
from datetime import UTC, datetime, time
from typing import TextIO

from shop_analytics.alerts.store import AlertStore
from shop_analytics.config import AppConfig
from shop_analytics.opening import extract_for, open_shop
from shop_analytics.scheduler.runner import Scheduler, SchedulerSettings, run_scheduler
from shop_analytics.scheduler.state import ScheduleStore


def parse_check_time(text: str) -> time:
    """"07:30" as a time of day; ValueError in one line otherwise."""
    try:
        return time.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a time of day like 07:30") from None


def schedule_command(config: AppConfig, *, once: bool, settings: SchedulerSettings | None = None,
                     err: TextIO = sys.stderr) -> None:
    """Run the scheduler on the configured shop: one tick (`once`, for cron: prints what it
    did), else until SIGTERM or Ctrl-C, logging each round that did something on `err`."""
    logging.basicConfig(level=logging.INFO, stream=err, format="%(asctime)s %(levelname)s %(message)s")
    settings = settings or SchedulerSettings()
    if once:
        scheduler = Scheduler(config, ScheduleStore(AlertStore(config.alerts.database_path)), open_shop=lambda: open_shop(config),
                              settings=settings, open_extract=lambda: extract_for(config))
        err.write(f"{scheduler.tick(datetime.now(UTC)).summary()}\n")
        return
    stop = threading.Event()
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signal_number, lambda *_: stop.set())
    run_scheduler(config, open_shop=lambda: open_shop(config), settings=settings, stop=stop)
