"""The report's written highlights: sentences in the report's language, each made from the
numbers the metric functions computed for it (none typed in).

"GMV rose 12.3% week on week to ¥1,385.00 (from ¥1,233.30); most of the change came from
paid search (64.0%)": the size and direction from `compare_periods`, the channel and its part
from the channel breakdown of the same change (`Report.channels`).
"""

import polars as pl

from metrics.registry import KPIS
from metrics.service import DEFAULT_PROMISE_HOURS
from shop_analytics.reports.wording import (
    channel_name,
    day,
    days_span,
    kpi_value,
    money,
    p_value_phrase,
    share,
    size_of_change,
    words,
)

# The KPIs the second highlight walks through, after GMV.
MOVES_KPIS = ("orders", "aov", "active_users", "conversion_rate")
# A channel that made at least this part of a change made "most of it".
MOST_OF_THE_CHANGE = 0.5


def _direction(value: float) -> str:
    return "rose" if value > 0 else "fell" if value < 0 else "held"


def _compared(report) -> str:
    return words(f"highlights.compared_{report.period.kind}", report.lang, days=report.period.days)


def _gmv(report) -> str | None:
    """GMV's change on the previous period and the channel that made most of it."""
    lang, currency = report.lang, report.settings.currency
    row = report.kpi["gmv"]
    if not row["previous"]:
        return words("highlights.gmv_no_previous", lang, kpi=KPIS["gmv"].label_in(lang), value=money(row["current"], lang, currency))
    change = row["change_vs_previous"]
    sentence = words(
        f"highlights.gmv_{_direction(change)}", lang, kpi=KPIS["gmv"].label_in(lang), change=size_of_change(change),
        compared=_compared(report),
        value=money(row["current"], lang, currency), previous=money(row["previous"], lang, currency),
    )
    total = row["current"] - row["previous"]
    movers = report.channels.filter((pl.col("gmv_change") * total) > 0).sort(pl.col("gmv_change").abs(), descending=True)
    if total != 0 and movers.height:
        main = movers.row(0, named=True)
        part = "most_from" if main["share_of_change"] >= MOST_OF_THE_CHANGE else "largest_from"
        sentence += words(
            f"highlights.{part}", lang, channel=channel_name(main["channel"], lang), share=share(main["share_of_change"], lang)
        )
    return sentence + words("highlights.full_stop", lang)


def _moves(report) -> str | None:
    """Orders, AOV, active users and conversion against the previous period."""
    lang, currency = report.lang, report.settings.currency
    parts = []
    for name in MOVES_KPIS:
        row = report.kpi[name]
        if row["change_vs_previous"] is None:
            continue
        parts.append(words(
            f"highlights.kpi_{_direction(row['change_vs_previous'])}", lang, kpi=KPIS[name].label_in(lang),
            change=size_of_change(row["change_vs_previous"]), value=kpi_value(name, row["current"], lang, currency),
            previous=kpi_value(name, row["previous"], lang, currency),
        ))
    if not parts:
        return None
    return words(f"highlights.moves_{report.period.kind}", lang, days=report.period.days, moves=words("highlights.separator", lang).join(parts))


def _year_on_year(report) -> str | None:
    lang, currency = report.lang, report.settings.currency
    row = report.kpi["gmv"]
    if not row["year_before"]:
        return None
    start, end = report.period.compared["year_before"]
    change = row["change_vs_year_before"]
    return words(
        f"highlights.year_{_direction(change)}", lang, kpi=KPIS["gmv"].label_in(lang), span=days_span(start, end, lang),
        change=size_of_change(change),
        value=money(row["current"], lang, currency), previous=money(row["year_before"], lang, currency),
    )


def _targets(report) -> str | None:
    """The channels that miss the ROI target (above 5 %) or the CPC target (at most 1 yuan)."""
    if not report.has_ad_spend:
        return None
    lang, settings = report.lang, report.settings
    roi_target, cpc_target = share(settings.roi_target, lang), money(settings.cpc_target, lang, settings.currency)
    separator = words("list_separator", lang)
    misses = []
    below = report.channels.filter(pl.col("roi_below_target").fill_null(False))
    if below.height:
        listed = separator.join(
            words("named_value", lang, name=channel_name(row["channel"], lang), value=share(row["roi"], lang))
            for row in below.iter_rows(named=True)
        )
        misses.append(words("highlights.roi_below", lang, target=roi_target, channels=listed))
    above = report.channels.filter(pl.col("cpc_above_target").fill_null(False))
    if above.height:
        listed = separator.join(
            words("named_value", lang, name=channel_name(row["channel"], lang), value=money(row["cpc"], lang, settings.currency))
            for row in above.iter_rows(named=True)
        )
        misses.append(words("highlights.cpc_above", lang, target=cpc_target, channels=listed))
    if not misses:
        return words("highlights.targets_met", lang, roi=roi_target, cpc=cpc_target)
    return words("highlights.sentence_separator", lang).join(misses) + words("highlights.full_stop", lang)


def _campaigns(report) -> list[str]:
    """Each campaign's GMV per day against the days before it, with the interval and test."""
    if report.campaigns is None:
        return []
    lang, currency = report.lang, report.settings.currency
    sentences = []
    for row in report.campaigns.filter(pl.col("measure") == "gmv_per_day").iter_rows(named=True):
        if row["after"] is None or row["before"] is None:
            continue
        lead = "campaign_in_period" if report.campaigns_in_period else "campaign_latest"
        if row["p_value"] is None:
            verdict = words("highlights.no_test", lang)
        else:
            verdict = words(
                "highlights.significant" if row["significant"] else "highlights.not_significant", lang,
                low=money(row["ci_low"], lang, currency), high=money(row["ci_high"], lang, currency),
                confidence=f"{report.confidence:.0%}",
                p=p_value_phrase(row["p_value"]),
            )
        sentences.append(words(
            f"highlights.{lead}", lang, name=row["name"], span=days_span(row["start_date"], row["end_date"], lang),
            after=money(row["after"], lang, currency), before=money(row["before"], lang, currency),
            days=(row["end_date"] - row["start_date"]).days + 1,
            change="–" if row["relative_change"] is None else f"{row['relative_change']:+.1%}",
        ) + verdict)
    return sentences


def _service(report) -> str | None:
    service, lang = report.service, report.lang
    if service is None or not service["tickets"]:
        return None
    parts = []
    if service["answered_within_promise_share"] is not None:
        parts.append(words("highlights.answered", lang, share=share(service["answered_within_promise_share"], lang), hours=DEFAULT_PROMISE_HOURS))
    if service["return_rate"] is not None:
        parts.append(words("highlights.return_rate", lang, rate=share(service["return_rate"], lang)))
    if service["mean_satisfaction"] is not None:
        parts.append(words("highlights.satisfaction", lang, score=f"{service['mean_satisfaction']:.2f}"))
    if not parts:
        return None
    return words("highlights.service", lang, tickets=f"{service['tickets']:,}", parts=words("highlights.separator", lang).join(parts))


def _retention(report) -> str | None:
    """The newest cohort whose next period is over: how many came back, and the cohort before."""
    returned = report.retention.filter((pl.col("offset") == 1) & pl.col("complete") & (pl.col("cohort_size") > 0))
    if returned.is_empty():
        return None
    lang = report.lang
    newest = returned.row(-1, named=True)
    cohort = words(f"highlights.cohort_{report.period.kind}", lang, start=newest["cohort"], month=f"{newest['cohort']:%Y-%m}")
    sentence = words(f"highlights.retention_{report.period.kind}", lang, cohort=cohort, rate=share(newest["rate"], lang), size=f"{newest['cohort_size']:,}")
    if returned.height > 1:
        sentence += words("highlights.cohort_before", lang, rate=share(returned.row(-2, named=True)["rate"], lang))
    return sentence + words("highlights.full_stop", lang)


def _alerts(report) -> str:
    lang, currency = report.lang, report.settings.currency
    if report.alerts.is_empty():
        return words("highlights.no_alerts", lang)
    largest = report.alerts.sort(pl.col("robust_z").abs(), descending=True, maintain_order=True).row(0, named=True)
    return words(
        "highlights.alerts", lang, count=report.alerts.height, bad=int(report.alerts["bad"].sum()),
        kpi=KPIS[largest["kpi"]].label_in(lang), direction=words(f"alerts.{largest['direction']}", lang),
        day=day(largest["date"], lang), value=kpi_value(largest["kpi"], largest["value"], lang, currency),
        usual=kpi_value(largest["kpi"], largest["baseline_median"], lang, currency),
    )


def write_highlights(report) -> tuple[str, ...]:
    """The highlights of a `reports.content.Report`, in its language, most important first."""
    sentences = [_gmv(report), _moves(report), _year_on_year(report), _targets(report), *_campaigns(report),
                 _service(report), _retention(report), _alerts(report)]
    return tuple(sentence for sentence in sentences if sentence)
