"""The report's tables as a reader sees them: the same numbers in every format, labelled in
the report's language, each cell with its unit.

The HTML and PDF show each table's `shown` columns with formatted cells (`cell_text`); the
Excel workbook writes every column as a number in its unit's number format. Columns whose
name starts with "_" carry what a cell needs (its unit, which way is good) and are never
shown.
"""

from dataclasses import dataclass

import polars as pl

from metrics.decomposition import FACTORS
from metrics.registry import KPIS, UNITS, kpi_help, unit_of
from metrics.repeat_orders import BUYER_KINDS
from shop_analytics.i18n import format_number, value_labels
from shop_analytics.reports.content import Report
from shop_analytics.reports.wording import change, channel_name, days_span, p_value, words

TEXT, DATE = "text", "date"
HOURS, NUMBER, Z_SCORE, P_VALUE, CHANGE = "hours", "number", "z", "p", "change"
PER_ROW = "per_row"  # the unit is the row's `_unit`


def _registry_units(*names: str) -> dict[str, str]:
    """{column: its unit in metrics.registry}; a column the registry has no unit for is a
    mistake in this module, said when it is imported."""
    units = {name: unit_of(name) for name in names}
    unknown = [name for name, unit in units.items() if unit is None]
    if unknown:
        raise KeyError(f"metrics.registry has no unit for {', '.join(unknown)}")
    return {name: unit for name, unit in units.items() if unit is not None}


@dataclass(frozen=True)
class ReportTable:
    """One table: `name` (its sheet and `reports.tables.<name>` title), the frame, each
    column's unit (or PER_ROW), the columns the document shows, and column labels."""

    name: str
    title: str
    frame: pl.DataFrame
    units: dict[str, str]
    shown: tuple[str, ...]
    labels: dict[str, str]

    @property
    def columns(self) -> list[str]:
        """The columns a reader gets: all but the helper ones."""
        return [name for name in self.frame.columns if not name.startswith("_")]

    def unit(self, row: int, column: str) -> str:
        unit = self.units.get(column, TEXT)
        return self.frame["_unit"][row] if unit == PER_ROW else unit


def cell_text(value, unit: str, lang: str, currency: str) -> str:
    """A cell as the document prints it."""
    if value is None:
        return "–"
    if isinstance(value, float) and value == 0:
        value = 0.0  # -0.0 (a tiny negative share rounded) reads as 0
    if unit in UNITS:
        return format_number(value, unit, lang, currency)
    if unit == CHANGE:
        return change(value)
    if unit == HOURS:
        return words("units.hours", lang, hours=f"{value:.1f}")
    if unit == NUMBER:
        return f"{value:,.2f}"
    if unit == Z_SCORE:
        return f"{value:+.1f}"
    if unit == P_VALUE:
        return p_value(value)
    if isinstance(value, bool):
        return words("units.yes" if value else "units.no", lang)
    return str(value)


def _labels(names, lang: str) -> dict[str, str]:
    return {
        name: KPIS[name].label_in(lang) if name in KPIS else words(f"columns.{name}", lang)
        for name in names if not name.startswith("_")
    }


def _kpis(report: Report) -> ReportTable:
    lang = report.lang
    frame = report.kpis.select(
        kpi=pl.col("kpi").replace_strict({name: KPIS[name].label_in(lang) for name in report.kpis["kpi"]}),
        current="current", previous="previous", change_vs_previous="change_vs_previous",
        year_before="year_before", change_vs_year_before="change_vs_year_before",
        _unit=pl.col("kpi").replace_strict({name: KPIS[name].unit for name in report.kpis["kpi"]}),
        _higher_is_better=pl.col("kpi").replace_strict({name: KPIS[name].higher_is_better for name in report.kpis["kpi"]}),
    )
    units = {"current": PER_ROW, "previous": PER_ROW, "year_before": PER_ROW,
             "change_vs_previous": CHANGE, "change_vs_year_before": CHANGE}
    shown = ("kpi", "current", "previous", "change_vs_previous", "year_before", "change_vs_year_before")
    return ReportTable("kpis", words("tables.kpis", lang), frame, units, shown, _labels(shown, lang))


DAILY_SHOWN = ("date", "gmv", "orders", "buyers", "aov", "dau", "new_users", "conversion_rate", "sessions", "bounce_rate")


def _daily(report: Report) -> ReportTable:
    frame = report.daily.select(DAILY_SHOWN)
    units = {name: KPIS[name].unit for name in DAILY_SHOWN if name in KPIS} | {"date": DATE}
    return ReportTable("daily", words("tables.daily", report.lang), frame, units, DAILY_SHOWN, _labels(DAILY_SHOWN, report.lang))


CHANNEL_UNITS = {
    **_registry_units(
        "sessions", "visitors", "bounce_rate", "session_conversion", "orders", "gmv", "gmv_previous", "gmv_change",
        "share_of_change", "first_time_buyers", "spend", "clicks", "cpc", "cac", "roas", "roi",
    ),
    "cpc_above_target": TEXT, "roi_below_target": TEXT,
}
CHANNEL_SHOWN = ("channel", "sessions", "orders", "gmv", "gmv_change", "share_of_change", "spend", "cpc", "roas", "roi")


def _channels(report: Report) -> ReportTable:
    lang = report.lang
    frame = report.channels.select(
        pl.col("channel").map_elements(lambda name: channel_name(name, lang), return_dtype=pl.String), *CHANNEL_UNITS,
    )
    return ReportTable("channels", words("tables.channels", lang), frame, CHANNEL_UNITS, CHANNEL_SHOWN, _labels(frame.columns, lang))


_MEASURE_UNITS = {"conversion_rate": "ratio", "session_conversion": "ratio", "aov": "money", "gmv_per_day": "money"}
# The change and its interval in one unit, relative to the baseline (ci_low / before to
# ci_high / before), as the Campaigns page says them; the workbook keeps the difference's
# interval in the measure's own unit too.
CAMPAIGN_SHOWN = ("campaign", "measure", "before", "after", "relative_change", "change_ci_low", "change_ci_high", "p_value", "significant")


def _relative(bound: str) -> pl.Expr:
    """A bound of the difference's interval as a change on the baseline (null without one)."""
    return pl.when(pl.col("before") != 0).then(pl.col(bound) / pl.col("before"))


def _campaigns(report: Report) -> ReportTable | None:
    if report.campaigns is None:
        return None
    lang = report.lang
    frame = report.campaigns.select(
        campaign=pl.struct("name", "start_date", "end_date").map_elements(
            lambda row: f"{row['name']} ({days_span(row['start_date'], row['end_date'], lang)})", return_dtype=pl.String
        ),
        channel=pl.col("channel").map_elements(
            lambda name: words("columns.whole_shop", lang) if name is None else channel_name(name, lang),
            return_dtype=pl.String, skip_nulls=False,
        ),
        measure=pl.col("measure").map_elements(lambda name: words(f"measures.{name}", lang), return_dtype=pl.String),
        before="before", after="after", difference="difference", relative_change="relative_change",
        change_ci_low=_relative("ci_low"), change_ci_high=_relative("ci_high"),
        ci_low="ci_low", ci_high="ci_high", p_value="p_value", significant="significant",
        _unit=pl.col("measure").replace_strict(_MEASURE_UNITS),
    )
    units = {"before": PER_ROW, "after": PER_ROW, "difference": PER_ROW, "ci_low": PER_ROW, "ci_high": PER_ROW,
             "relative_change": CHANGE, "change_ci_low": CHANGE, "change_ci_high": CHANGE, "p_value": P_VALUE, "significant": TEXT}
    return ReportTable("campaigns", words("tables.campaigns", lang), frame, units, CAMPAIGN_SHOWN, _labels(frame.columns, lang))


def _retention(report: Report) -> ReportTable:
    frame = report.retention.select("cohort", "offset", "cohort_size", "retained", "rate", "complete")
    units = {"cohort": DATE, "offset": "count", "cohort_size": "count", "retained": "count", "rate": "ratio", "complete": TEXT}
    return ReportTable("retention", words("tables.retention", report.lang), frame, units, (), _labels(frame.columns, report.lang))


def _ltv(report: Report) -> ReportTable:
    frame = report.ltv.select("cohort", "offset", "cohort_size", "revenue", "revenue_per_user", "ltv", "complete")
    units = {"cohort": DATE, "offset": "count", "cohort_size": "count", "revenue": "money", "revenue_per_user": "money",
             "ltv": "money", "complete": TEXT}
    return ReportTable("ltv", words("tables.ltv", report.lang), frame, units, (), _labels(frame.columns, report.lang))


PREDICTED_LTV_UNITS = {
    "calibration_end": DATE, "horizon_days": "count", "customers": "count", "expected_purchases": NUMBER,
    "expected_value": "money", "mean_expected_value": "money", "mean_p_alive": "ratio",
}


def _predicted_ltv(report: Report) -> ReportTable | None:
    if report.predicted_ltv is None:
        return None
    frame = pl.DataFrame([{name: report.predicted_ltv[name] for name in PREDICTED_LTV_UNITS}])
    return ReportTable("predicted_ltv", words("tables.predicted_ltv", report.lang), frame, PREDICTED_LTV_UNITS,
                       tuple(PREDICTED_LTV_UNITS), _labels(PREDICTED_LTV_UNITS, report.lang))


SERVICE_UNITS = {
    **_registry_units(
        "answered_within_promise_share", "first_response_hours_median", "first_response_hours_p90",
        "resolution_hours_median", "orders", "return_rate", "mean_satisfaction",
    ),
    "tickets": "count", "returned_orders": "count",
}


def _service(report: Report) -> ReportTable | None:
    if report.service is None:
        return None
    frame = pl.DataFrame([{name: report.service[name] for name in SERVICE_UNITS}])
    return ReportTable("service", words("tables.service", report.lang), frame, SERVICE_UNITS, tuple(SERVICE_UNITS), _labels(SERVICE_UNITS, report.lang))


def _words(report: Report) -> ReportTable | None:
    if report.words is None:
        return None
    lang = report.lang
    frame = report.words.select(
        group=pl.col("group").map_elements(lambda band: words(f"bands.{band}", lang), return_dtype=pl.String),
        word="word", count="count", share="share",
    )
    units = {"count": "count", "share": "ratio"}
    return ReportTable("words", words("tables.words", lang), frame, units, tuple(frame.columns), _labels(frame.columns, lang))


ALERT_SHOWN = ("date", "kpi", "value", "baseline_median", "robust_z", "direction", "compared_with", "top_channel", "top_channel_share")


def _alerts(report: Report) -> ReportTable:
    lang = report.lang
    kpis = report.alerts["kpi"].unique().to_list()
    frame = report.alerts.select(
        "date",
        kpi=pl.col("kpi").replace_strict({name: KPIS[name].label_in(lang) for name in kpis}, return_dtype=pl.String),
        value="value", baseline_median="baseline_median", robust_z="robust_z",
        direction=pl.col("direction").map_elements(lambda name: words(f"alerts.{name}", lang), return_dtype=pl.String),
        bad="bad",
        compared_with=pl.col("compared_with").map_elements(lambda name: words(f"alerts.{name.replace(' ', '_')}", lang), return_dtype=pl.String),
        top_channel=pl.col("top_channel").map_elements(lambda name: channel_name(name, lang), return_dtype=pl.String),
        top_channel_share="top_channel_share",
        _unit=pl.col("kpi").replace_strict({name: KPIS[name].unit for name in kpis}, return_dtype=pl.String),
    )
    units = {"date": DATE, "value": PER_ROW, "baseline_median": PER_ROW, "robust_z": Z_SCORE, "bad": TEXT, "top_channel_share": "ratio"}
    return ReportTable("alerts", words("tables.alerts", lang), frame, units, ALERT_SHOWN, _labels(frame.columns, lang))


def _factor_units(factors: pl.Expr) -> pl.Expr:
    """The unit of each decomposition row's values: its factor's (GMV's for the gmv row)."""
    return factors.replace_strict({name: KPIS[name].unit for name in (*FACTORS, "gmv")}, return_dtype=pl.String)


DECOMPOSITION_SHOWN = ("factor", "comparison", "current", "relative_change", "part")
DECOMPOSITION_UNITS = {"comparison": PER_ROW, "current": PER_ROW, "relative_change": CHANGE, "part": "money"}


def _decomposition(report: Report) -> list[ReportTable]:
    """The shop's GMV factors against the previous period with each factor's part of the
    change, then the same per channel and per category."""
    if report.decomposition is None:
        return []
    lang = report.lang
    labels = {name: KPIS[name].label_in(lang) for name in (*FACTORS, "gmv")}
    tables = []
    for name, key, keys in (("decomposition", "parts", ()), ("decomposition_channels", "channels", ("channel",)),
                            ("decomposition_categories", "categories", ("category",))):
        parts = report.decomposition[key]
        if parts is None:
            continue
        # channels and categories in the reader's words, as the pages name them
        named = (
            [pl.col("channel").map_elements(lambda channel: channel_name(channel, lang), return_dtype=pl.String)] if keys == ("channel",)
            else [pl.col(key).cast(pl.String).replace_strict(value_labels(key, parts[key].cast(pl.String).to_list(), lang), default=pl.col(key).cast(pl.String)) for key in keys]
        )
        frame = parts.select(
            *named, factor=pl.col("factor").replace_strict(labels), comparison="comparison", current="current",
            relative_change="relative_change", part="part", _unit=_factor_units(pl.col("factor")),
        )
        shown = (*keys, *DECOMPOSITION_SHOWN)
        tables.append(ReportTable(name, words(f"tables.{name}", lang), frame, DECOMPOSITION_UNITS, shown, _labels(shown, lang)))
    return tables


NEW_AND_REPEAT_SHOWN = ("buyer_kind", "orders", "buyers", "gmv", "aov", "share_of_orders", "share_of_gmv")
REPURCHASE_SHOWN = ("window_days", "buyers", "eligible_buyers", "repurchased_buyers", "repurchase_rate", "pending_buyers")


def _repeat_orders(report: Report) -> list[ReportTable]:
    if report.new_and_repeat is None or report.repurchase is None:
        return []
    lang = report.lang
    orders = report.new_and_repeat.with_columns(pl.col("buyer_kind").replace_strict({kind: words(f"buyer_kinds.{kind}", lang) for kind in BUYER_KINDS}))
    order_units = {"orders": "count", "buyers": "count", "gmv": "money", "aov": "money", "share_of_orders": "ratio", "share_of_gmv": "ratio"}
    repurchase_units = {name: "count" for name in REPURCHASE_SHOWN} | {"repurchase_rate": "ratio"}
    return [
        ReportTable("new_and_repeat", words("tables.new_and_repeat", lang), orders.select(NEW_AND_REPEAT_SHOWN), order_units,
                    NEW_AND_REPEAT_SHOWN, _labels(NEW_AND_REPEAT_SHOWN, lang)),
        ReportTable("repurchase", words("tables.repurchase", lang), report.repurchase.select(REPURCHASE_SHOWN), repurchase_units,
                    REPURCHASE_SHOWN, _labels(REPURCHASE_SHOWN, lang)),
    ]


TARGET_SHOWN = ("kpi", "target", "actual_to_date", "expected_to_date", "pace", "projected_end", "projected_low", "projected_high", "behind")


def _targets(report: Report) -> ReportTable | None:
    if report.paces is None:
        return None
    lang = report.lang
    kpis = report.paces["kpi"].unique().to_list()
    frame = report.paces.select(
        kpi=pl.col("kpi").replace_strict({name: KPIS[name].label_in(lang) for name in kpis}, return_dtype=pl.String),
        target="target", actual_to_date="actual_to_date", expected_to_date="expected_to_date", pace="pace",
        projected_end="projected_end", projected_low="projected_low", projected_high="projected_high", behind="behind",
        _unit=pl.col("kpi").replace_strict({name: KPIS[name].unit for name in kpis}, return_dtype=pl.String),
    )
    units = {name: PER_ROW for name in ("target", "actual_to_date", "expected_to_date", "projected_end", "projected_low", "projected_high")}
    units |= {"pace": "ratio", "behind": TEXT}
    return ReportTable("targets", words("tables.targets", lang), frame, units, TARGET_SHOWN, _labels(TARGET_SHOWN, lang))


def report_kpis(report: Report) -> list[str]:
    """Every KPI the report shows, in the order its sections show them: the headline table, the
    daily table, the channels, the decomposition, new and repeat orders and repurchase, the
    targets, service, the alerts."""
    shown = [*report.kpis["kpi"], *DAILY_SHOWN, *CHANNEL_SHOWN]
    if report.decomposition is not None:
        shown += [*FACTORS, "uv_value"]
    if report.new_and_repeat is not None:
        shown += ["new_buyer_orders", "repeat_buyer_orders", "new_buyer_aov", "repeat_buyer_aov", "repurchase_rate_30", "repurchase_rate_90"]
    if report.paces is not None:
        shown += report.paces["kpi"].to_list()
    if report.service is not None:
        shown += list(SERVICE_UNITS)
    shown += report.alerts["kpi"].to_list()
    return list(dict.fromkeys(name for name in shown if name in KPIS))


def _definitions(report: Report) -> ReportTable:
    """The definitions appendix: every KPI the report shows with its definition (SPEC section
    3, from the registry) in the report's language, the GMV basis named for those on orders."""
    lang, basis = report.lang, report.settings.gmv_basis
    names = report_kpis(report)
    frame = pl.DataFrame(
        {"kpi": [KPIS[name].label_in(lang) for name in names], "definition": [kpi_help(KPIS[name], lang, basis) for name in names]},
        schema={"kpi": pl.String, "definition": pl.String},
    )
    shown = ("kpi", "definition")
    return ReportTable("definitions", words("tables.definitions", lang), frame, {}, shown, _labels(shown, lang))


def _highlights(report: Report) -> ReportTable:
    frame = pl.DataFrame({"highlight": list(report.highlights)}, schema={"highlight": pl.String})
    return ReportTable("highlights", words("tables.highlights", report.lang), frame, {}, ("highlight",), _labels(("highlight",), report.lang))


def report_tables(report: Report) -> dict[str, ReportTable]:
    """Every table of the report by name, in the report's order; a table whose source is
    missing (no tickets, no reviews, no campaigns, no targets set) is left out."""
    tables = [_highlights(report), _kpis(report), _targets(report), _daily(report), _channels(report), *_decomposition(report),
              *_repeat_orders(report), _campaigns(report), _retention(report), _ltv(report), _predicted_ltv(report),
              _service(report), _words(report), _alerts(report), _definitions(report)]
    return {table.name: table for table in tables if table is not None}


def period_line(report: Report) -> str:
    """The dates the KPI table compares, in a sentence."""
    lang, period = report.lang, report.period

    def span(name: str) -> str:
        dates = days_span(*period.compared[name], lang)
        return dates if period.covers(name) else words("before_data", lang, span=dates, first=period.data_start)

    return words(
        "period_line", lang, current=days_span(period.start, period.end, lang),
        previous=span("previous"), year_before=span("year_before"),
    )

