"""The Reports page's edge: reports built in the background and the schedule's store.

A report takes seconds to build (its PDF more); it is built in a worker thread of the server,
so that the page shows the progress while it waits and can be left: the work goes on, and
the page finds the finished report when it comes back (kept for `KEEP`, at most `KEPT`
reports). The same request while one builds joins it instead of starting another.
"""

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import streamlit as st

from shop_analytics.alerts.store import AlertStore
from shop_analytics.config import AppConfig
from shop_analytics.loading import Shop
from shop_analytics.reports.content import BUILD_STEPS, Report, build_report
from shop_analytics.reports.render import RENDERERS
from shop_analytics.scheduler.runner import Scheduler
from shop_analytics.scheduler.state import ScheduleStore
from shop_analytics.targets import stored_targets
from shop_analytics.views import anomaly_settings

KEEP = timedelta(hours=1)
KEPT = 16
WORKERS = 2  # reports built at once in one server; more wait their turn


@dataclass
class ReportJob:
    """A report being built: the steps done so far (build steps, then one per file) and the
    report with its files (format: bytes) when done."""

    total: int
    started: datetime
    steps: list[str] = field(default_factory=list)
    future: Future | None = None

    @property
    def fraction(self) -> float:
        return min(len(self.steps) / self.total, 1.0)

    @property
    def step(self) -> str:
        return self.steps[-1] if self.steps else ""


@st.cache_resource(show_spinner=False)
def _workers() -> tuple[ThreadPoolExecutor, dict[tuple, ReportJob], threading.Lock]:
    return ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="report"), {}, threading.Lock()


def _build(job: ReportJob, shop: Shop, config: AppConfig, kind: str, day: date, lang: str, formats: tuple[str, ...]) -> tuple[Report, dict[str, bytes]]:
    report = build_report(shop, kind=kind, day=day, lang=lang, settings=config.settings, anomaly=anomaly_settings(config),
                          progress=job.steps.append, targets=stored_targets(config.alerts.database_path))
    files = {}
    for name in formats:
        files[name] = RENDERERS[name](report)
        job.steps.append(name)
    return report, files


def report_job(key: str, shop: Shop, config: AppConfig, kind: str, day: date, lang: str, formats: tuple[str, ...]) -> ReportJob:
    """The job building this report and these files for the source `key`: a running or
    finished one of the last KEEP, else a new one (a failed one is started again)."""
    executor, jobs, lock = _workers()
    request = (key, kind, day, lang, formats)
    now = datetime.now(UTC)
    with lock:
        for old in [old for old, job in jobs.items() if now - job.started > KEEP and job.future and job.future.done()]:
            del jobs[old]
        job = jobs.get(request)
        if job is not None and job.future is not None and not (job.future.done() and job.future.exception() is not None):
            return job
        while len(jobs) >= KEPT and any(existing.future and existing.future.done() for existing in jobs.values()):
            oldest = min((item for item in jobs.items() if item[1].future and item[1].future.done()), key=lambda item: item[1].started)
            del jobs[oldest[0]]
        job = ReportJob(total=len(BUILD_STEPS) + len(formats), started=now)
        job.future = executor.submit(_build, job, shop, config, kind, day, lang, formats)
        jobs[request] = job
    return job


@st.cache_resource(show_spinner=False)
def schedule_store(path: str) -> ScheduleStore:
    """The subscriptions and their history in the alert database at `path`, opened once."""
    return ScheduleStore(AlertStore(path))


def send_now(config: AppConfig, store: ScheduleStore, subscription_id: int, shop: Shop) -> int:
    """Start sending the subscription's last complete period (within the data) now, in the
    background (the scheduler's claims keep it from being sent twice); the run's id."""
    scheduler = Scheduler(config, store, open_shop=lambda: shop)
    now = datetime.now(UTC)
    span = shop.date_span(config.settings.time_zone)
    run_id = scheduler.send_now(subscription_id, now, data_end=None if span is None else span[1])
    executor, _, _ = _workers()
    executor.submit(scheduler.work, now)
    return run_id
