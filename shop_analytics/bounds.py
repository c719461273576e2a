"""What a one-off command reads (issue 20): the tables its view reads (views.VIEW_NEEDS) and
the events of its period with each definition's look-back, so that `cli.py export`, `report`
and `alerts check` read a slice of a long history and give the numbers of a whole read.

A definition's look-back is the first business day whose events it reads for the period
start..end:

- daily KPIs (SPEC: MAU(D) = users active in the 30 days ending on D): 29 days before the
  period; a period summary (stickiness reads MAU at its last day) likewise, for every period
  it is compared with (the previous one, a week and a year before);
- the funnel: entries in the period, later steps up to the window after its end (the events
  are read to the data's end); unordered: the window before its start too;
- cohort retention: the cohort period holding the start, plus whether each user was seen
  before it (a user's cohort is the period of their first event ever);
- lifecycle: the interval before the first one;
- anomalies (SPEC: a day against the 28 days before it; a campaign or holiday day against the
  last 28 campaign days before it, however far back): the earliest baseline day of any day in
  the period, then the daily KPIs' own 29 days. The verdicts of the period's days read no day
  before that, so they equal those over the whole history (its first day stays the data's);
- the alerts check of a day: the anomalies of that day, the rules' day before, the targets'
  eight weeks before their month or week and their weekly pace errors (`metrics.pacing`);
- the report: its period, the previous one and the year before, its retention and LTV cohorts,
  the anomalies of its days and the baselines of the campaigns it compares.

Sessions are read from a day and a session gap before that first day (loading.EventBounds),
so each session the period sees is the one a read of every event gives. The events are read
to the data's end: the funnel's entries still in progress, the cohorts' incomplete cells and
a period still running are told by where the data ends. The other tables are read whole:
they are small beside the events, and their definitions reach back without a bound (a refund
of an older order, a buyer's first order ever, the users registered by a day).
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import polars as pl

from metrics.anomalies import AnomalySettings, special_days
from metrics.periods import comparison_periods
from metrics.time import previous_period, utc_bounds
from shop_analytics.views import VIEW_NEEDS

ROLLING_LOOK_BACK = timedelta(days=29)
"""MAU(D) reads the 30 days ending on D: the 29 before it."""
PACING_WEEKS = 8
"""metrics.pacing: the usual shares from the 8 weeks before a target's period, and the pace
errors of the 8 seven-day blocks before the one ending on the day (9 blocks in all)."""


@dataclass(frozen=True)
class Scope:
    """What a one-off command shows: a view (a key of views.VIEW_NEEDS), its period and its
    options (an export's `ExportRequest.options`; a report's `kind`)."""

    view: str
    start: date | None = None
    end: date | None = None
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Reads:
    """The tables a scope reads (None: every one), the first business day of events its
    definitions read (None: every event) and whether it asks who was seen before that day."""

    tables: tuple[str, ...] | None
    first_day: date | None = None
    first_seen: bool = False

    def first_instant(self, tz: str) -> datetime | None:
        return None if self.first_day is None else utc_bounds(self.first_day, self.first_day, tz)[0]


def period_start(day: date, period: str) -> date:
    """The first day of the calendar day, week (Monday) or month holding `day`."""
    if period == "week":
        return day - timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    return day


def view_tables(view: str) -> tuple[str, ...]:
    """The tables view `view` reads: those VIEW_NEEDS names, with users beside events or
    orders (loading attributes orders to their users' channels, and new users and cohorts by
    signup read it)."""
    needs = VIEW_NEEDS[view]
    names = {*needs.required, *needs.any_of, *needs.optional}
    if names & {"events", "orders"}:
        names.add("users")
    return tuple(sorted(names))


@dataclass(frozen=True)
class History:
    """What the look-backs of the anomaly baselines need to know before the load: the
    configured anomaly settings, the campaigns (their days are compared with past campaign
    days) and the data's first day."""

    anomaly: AnomalySettings
    campaigns: pl.DataFrame | None
    data_first: Callable[[], date | None]
    """The data's first day, asked only when a period holds campaign or holiday days."""


def anomaly_look_back(start: date, end: date, history: History) -> date | None:
    """The earliest day the verdicts of start..end compare with (metrics.anomalies.baseline_days):
    the window before `start` for ordinary days; with a campaign or holiday day in the period,
    the window-th special day before `start` too (the data's first day when there are fewer;
    None, every day, when that is not known)."""
    window = history.anomaly.window
    earliest = start - timedelta(days=window)
    special = special_days(history.campaigns, history.anomaly.holidays)
    if any(start <= day <= end for day in special):
        data_first = history.data_first()
        past = sorted(day for day in special if day < start and (data_first is None or day >= data_first))
        if len(past) >= window:
            earliest = min(earliest, past[-window])
        elif data_first is not None:
            earliest = min(earliest, data_first)
        else:
            return None
    return earliest


def _kpis(start: date, end: date, options: Mapping, history: History) -> tuple[date | None, bool]:
    return start - ROLLING_LOOK_BACK, False


def _periods(start: date, end: date, options: Mapping, history: History) -> tuple[date | None, bool]:
    firsts = [start, *(first for first, _ in comparison_periods(start, end).values())]
    return min(firsts) - ROLLING_LOOK_BACK, False


def _compare(start: date, end: date, options: Mapping, history: History) -> tuple[date | None, bool]:
    if options.get("campaign") is not None:
        return None, False  # a campaign's own window and baseline, wherever they lie
    return previous_period(start, end)[0] - ROLLING_LOOK_BACK, False


def _in_period(start: date, end: date, options: Mapping, history: History) -> tuple[date | None, bool]:
    return start, False


def _channels(start: date, end: date, options: Mapping, history: History) -> tuple[date | None, bool]:
    # an attribution model credits each order's sessions of [settings] attribution_lookback_days
    # before it, which the options do not carry: every event (issue 19)
    return (None, False) if options.get("attribution") else (start, False)


def _funnel(start: date, end: date, options: Mapping, history: History) -> tuple[date | None, bool]:
    from shop_analytics.exports import funnel_spec

    spec = funnel_spec(dict(options))
    reach_back = spec.window if spec.mode == "unordered" else timedelta(0)
    return start - timedelta(days=-(-reach_back // timedelta(days=1))), False


def _retention(start: date, end: date, options: Mapping, history: History) -> tuple[date | None, bool]:
    period = options.get("period") or "week"
    return period_start(start, period), (options.get("cohort") or "activity") == "activity"


def _lifecycle(start: date, end: date, options: Mapping, history: History) -> tuple[date | None, bool]:
    period = options.get("period") or "day"
    if period == "day":
        return start - timedelta(days=1), False
    return period_start(period_start(start, period) - timedelta(days=1), period), False


def _anomalies(start: date, end: date, options: Mapping, history: History) -> tuple[date | None, bool]:
    return _earliest([anomaly_look_back(start, end, history)]), False


def _alerts(start: date, end: date, options: Mapping, history: History) -> tuple[date | None, bool]:
    day = end
    target_periods = min(period_start(day, "week"), period_start(day, "month"))
    firsts: list[date | None] = [
        anomaly_look_back(day, day, history),
        day - timedelta(days=1),
        target_periods - timedelta(weeks=PACING_WEEKS),
        day - timedelta(days=7 * (PACING_WEEKS + 1) - 1),
    ]
    return _earliest(firsts), False


def _report(start: date, end: date, options: Mapping, history: History) -> tuple[date | None, bool]:
    from shop_analytics.reports.content import LTV_COHORTS, RETENTION_COHORTS, _periods_back

    kind = options.get("kind") or "week"
    firsts: list[date | None] = [first for first, _ in comparison_periods(start, end).values()]
    firsts += [_periods_back(start, kind, RETENTION_COHORTS[kind]), _periods_back(end, "month", LTV_COHORTS)]
    firsts.append(anomaly_look_back(start, end, history))
    campaigns = history.campaigns
    if campaigns is not None and campaigns.height:
        # a campaign of the period against the baseline of its own length before it
        shown = campaigns.filter(pl.col("start_date").cast(pl.Date) <= end, pl.col("end_date").cast(pl.Date) >= start)
        for first, last in shown.select(pl.col("start_date").cast(pl.Date), pl.col("end_date").cast(pl.Date)).iter_rows():
            firsts.append(previous_period(first, last)[0])
    return _earliest(firsts), True


def _earliest(firsts: list[date | None]) -> date | None:
    """The first day whose events the daily KPIs of the days `firsts` read (ROLLING_LOOK_BACK
    before the earliest); None when one of them is every day."""
    known = [first for first in firsts if first is not None]
    return min(known) - ROLLING_LOOK_BACK if len(known) == len(firsts) else None


LOOK_BACKS: dict[str, Callable[[date, date, Mapping, History], tuple[date | None, bool]]] = {
    "export:kpis": _kpis,
    "export:periods": _periods,
    "export:channels": _channels,
    "export:products": _in_period,
    "export:funnel": _funnel,
    "export:funnel-drop-offs": _funnel,
    "export:paths": _in_period,
    "export:search": _in_period,
    "export:compare": _compare,
    "export:retention": _retention,
    "export:lifecycle": _lifecycle,
    "export:anomalies": _anomalies,
    "alerts": _alerts,
    "reports": _report,
}
"""Per view that reads events, the first day of events its definitions read (module
docstring) and whether it asks who was seen before; a view not listed reads every event."""


SEGMENT_OPTIONS = ("channel", "device", "region")
WHOLE_SEGMENT = ("export:anomalies", "export:retention")
"""Views whose definitions read a segment's whole history: its first day (the anomaly
history starts there) or each user's first event in it (a cohort of first activity), which
only the segment's sessions, derived over every event, tell. With a segment they read every
event."""


def reads_for(scope: Scope, history: History) -> Reads:
    """The tables and events `scope` reads (every table and event of a view VIEW_NEEDS does
    not know)."""
    if scope.view not in VIEW_NEEDS:
        return Reads(None)
    tables = view_tables(scope.view)
    look_back = LOOK_BACKS.get(scope.view)
    segmented = any(scope.options.get(name) for name in SEGMENT_OPTIONS)
    if "events" not in tables or look_back is None or scope.start is None or scope.end is None or (segmented and scope.view in WHOLE_SEGMENT):
        return Reads(tables)
    first_day, first_seen = look_back(scope.start, scope.end, scope.options, history)
    return Reads(tables, first_day, first_seen and first_day is not None)
