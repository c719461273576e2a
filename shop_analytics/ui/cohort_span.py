"""Where the cohort views start: cohorts by month on the default 30 days are one cohort drawn
as single dots, so a period too short for its grain gives way to a span where it makes sense."""

from datetime import date, timedelta

MIN_COHORTS = {"week": 4, "month": 3}
"""Fewer weeks or months than this beginning inside the period: the span is widened."""
WIDER_SPANS = {"week": 12, "month": 6}
"""The widened span: this many weeks or months, ending at the period's end."""


def grain_start(period: str, day: date) -> date:
    """The first day of the week (Monday) or month holding `day`."""
    return day - timedelta(days=day.weekday()) if period == "week" else day.replace(day=1)


def cohort_start(period: str, start: date, end: date, first: date) -> date:
    """The cohort views' first day: the period's `start` when at least MIN_COHORTS weeks or
    months (`period`) begin inside start..end, else the first day of the WIDER_SPANS weeks or
    months ending with `end`, not before the data's first day `first`."""
    starts, day = 0, grain_start(period, end)
    while day >= start:
        starts += 1
        day = grain_start(period, day - timedelta(days=1))
    if starts >= MIN_COHORTS[period]:
        return start
    wider = grain_start(period, end)
    for _ in range(WIDER_SPANS[period] - 1):
        wider = grain_start(period, wider - timedelta(days=1))
    return max(min(wider, start), first)
