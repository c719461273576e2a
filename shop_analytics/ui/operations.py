"""Sections of the pages an operations team reads every day (issue 19, SPEC section 3): the
targets' pace, the GMV decomposition, and new and repeat orders with repurchase. Each draws
cached results (ui/data.py) with the chart functions; the Overview and the Cohorts pages
place them."""

from datetime import date

import polars as pl
import streamlit as st

from metrics.decomposition import FACTORS
from metrics.registry import KPIS, format_value, kpi_help
from metrics.repeat_orders import BUYER_KINDS
from shop_analytics.access import may_open
from shop_analytics.alerts.messages import target_period_words
from shop_analytics.charts.decomposition import gmv_bridge
from shop_analytics.charts.targets import pace_chart
from shop_analytics.config import Settings
from shop_analytics.i18n import format_day
from shop_analytics.loading import Shop
from shop_analytics.targets import DISTINCT_KPIS, Target, TargetStore
from shop_analytics.ui import access, alerts_data, data
from shop_analytics.ui.filters import Filters
from shop_analytics.ui.lang import language, t
from shop_analytics.ui.tables import kpi_table

TARGETS_PER_ROW = 4


def _shown(settings: Settings, name: str, value) -> str:
    return format_value(KPIS[name], value, settings.currency, lang=language())


def _factor_words(parts: pl.DataFrame) -> pl.DataFrame:
    """A decomposition table as a reader reads it: factors by their KPI labels, the reason a
    split is empty in words."""
    lang = language()
    return parts.with_columns(
        pl.col("factor").replace_strict({name: KPIS[name].label_in(lang) for name in (*FACTORS, "gmv")}),
        pl.col("empty_reason").map_elements(_reason_words, return_dtype=pl.String),
    )


def _reason_words(reason: str) -> str:
    """Why a GMV change cannot be split ("visitors_zero_comparison"), in words."""
    factor, period = reason.rsplit("_zero_", 1)
    return t("overview.split_empty", factor=KPIS[factor].label_in(language()), period=t(f"overview.split_{period}"))


def target_store() -> TargetStore:
    """The targets of the configured alert database."""
    return TargetStore(alerts_data.store(str(data.current_config().alerts.database_path)).engine)


def target_label(target: Target) -> str:
    lang = language()
    return t("overview.target_label", kpi=KPIS[target.kpi].label_in(lang), period=target_period_words(target.period_kind, target.period_start, lang))


def pace_day(shop: Shop, chosen: Filters) -> date:
    """The day a target is paced after: the period's last day, or the data's when it ends earlier."""
    span = shop.date_span(chosen.tz)
    return min(chosen.end, span[1]) if span else chosen.end


def draw_target_paces(shop: Shop, settings: Settings, chosen: Filters) -> None:
    """The pace of each target whose month or week holds the period's last day with data, on
    the whole shop: pace (100 % on pace), actual against expected to date, the projected end
    with its interval against the target, and each period's course in a chart."""
    lang = language()
    as_of = pace_day(shop, chosen)
    targets = tuple(target_store().targets(holding=as_of))
    paced = data.target_paces(data.source_key(), chosen.tz, as_of, targets) if targets else None
    st.subheader(t("overview.targets"))
    if paced is None:
        st.caption(t("overview.no_targets", day=format_day(as_of, lang)))
    else:
        st.caption(t("overview.targets_caption", day=format_day(as_of, lang), margin=f"{settings.target_margin:.0%}")
                   + ("" if chosen.segment.is_everything else t("overview.targets_whole_shop")))
        paces = list(paced["paces"].iter_rows(named=True))
        # four targets to a row, so that each card keeps the width of a KPI card
        columns = [column for first in range(0, len(targets), TARGETS_PER_ROW) for column in st.columns(TARGETS_PER_ROW)]
        for column, target, pace in zip(columns, targets, paces):
            kpi = KPIS[target.kpi]

            def shown(value, name=target.kpi) -> str:
                return _shown(settings, name, value)

            column.metric(
                target_label(target),
                "–" if pace["pace"] is None else f"{pace['pace']:.1%}",
                delta=None if pace["pace"] is None else f"{pace['pace'] - 1:+.1%}",
                delta_color="normal" if kpi.higher_is_better else "inverse",
                help=t("overview.pace_help", actual=shown(pace["actual_to_date"]), expected=shown(pace["expected_to_date"]),
                       recent="–" if pace["recent_pace"] is None else f"{pace['recent_pace']:.1%}"),
                border=True,
            )
            column.caption(t(
                "overview.projected", projected=shown(pace["projected_end"]), low=shown(pace["projected_low"]),
                high=shown(pace["projected_high"]), target=shown(pace["target"]),
            ) + (t("overview.behind") if pace["behind"] else ""))
        with st.expander(t("overview.target_course")):
            for target, pace in zip(targets, paces):
                st.markdown(f"**{target_label(target)}**")
                chart = pace_chart(paced["paths"][target.key], pace, KPIS[target.kpi], settings.currency, lang,
                                   daily_actual=target.kpi not in DISTINCT_KPIS)
                st.plotly_chart(chart, width="stretch", key=f"pace_{target.key}")
    if may_open(access.role() or "", "targets"):
        st.page_link("pages/targets.py", label=t("overview.set_targets"), icon=":material/flag:")


def draw_decomposition(shop: Shop, settings: Settings, chosen: Filters, compared_with: str) -> None:
    """GMV = visitors x visitor conversion x orders per buyer x AOV for the period against the
    compared one, each factor's part of the change, UV value, and the split by channel and by
    category (SPEC, GMV decomposition)."""
    lang = language()
    span = f"{chosen.start}_{chosen.end}"
    decomposed = data.gmv_decomposition(data.source_key(), chosen.start, chosen.end, chosen.tz, chosen.segment, compared_with)
    other_start, other_end = decomposed["comparison_period"]
    st.subheader(t("overview.decomposition"))
    st.caption(t("overview.decomposition_caption", start=other_start, end=other_end))
    rows = {row["factor"]: row for row in decomposed["parts"].iter_rows(named=True)}
    current = decomposed["current"].row(0, named=True)
    before = decomposed["comparison"].row(0, named=True)
    for column, name in zip(st.columns(5), (*FACTORS, "uv_value")):
        kpi = KPIS[name]
        value = current[name]
        change = value / before[name] - 1 if value is not None and before[name] else None
        part = rows[name]["part"] if name in rows else None
        column.metric(
            kpi.label_in(lang), _shown(settings, name, value),
            delta=None if change is None else f"{change:+.1%}",
            help=kpi_help(kpi, lang, settings.gmv_basis) + ("" if part is None else " " + t("overview.factor_part", part=_shown(settings, "gmv", part))),
            border=True,
        )
    if rows["gmv"]["empty_reason"] is not None:
        st.info(_reason_words(rows["gmv"]["empty_reason"]))
    st.plotly_chart(gmv_bridge(decomposed["parts"], settings.currency, lang), width="stretch", key="gmv_bridge")
    with st.expander(t("overview.decomposition_table")):
        kpi_table(_factor_words(decomposed["parts"]), settings.currency, name=f"gmv_decomposition_{span}")
    by_channel, by_category = st.tabs([t("overview.by_channel"), t("overview.by_category")])
    with by_channel:
        kpi_table(_factor_words(decomposed["channels"]), settings.currency, name=f"gmv_decomposition_channels_{span}")
    with by_category:
        if decomposed["categories"] is None:
            st.caption(t("overview.no_categories"))
        else:
            kpi_table(_factor_words(decomposed["categories"]), settings.currency, name=f"gmv_decomposition_categories_{span}")


def draw_new_and_repeat(settings: Settings, chosen: Filters) -> None:
    """New-buyer and repeat-buyer orders of the period, and its buyers' repurchase within 30
    and 90 days with the pending buyers said (SPEC, New and repeat orders; Repurchase)."""
    lang = language()
    span = f"{chosen.start}_{chosen.end}"
    repeat = data.repeat_orders(data.source_key(), chosen.start, chosen.end, chosen.tz, chosen.segment)
    st.subheader(t("overview.new_and_repeat"))
    columns = st.columns(4)
    for column, row in zip(columns, repeat["orders"].iter_rows(named=True)):
        kind = row["buyer_kind"]
        kpi = KPIS[f"{kind}_buyer_orders"]
        column.metric(
            kpi.label_in(lang), _shown(settings, "orders", row["orders"]),
            help=kpi_help(kpi, lang, settings.gmv_basis) + " " + t(
                "overview.buyer_kind_help", gmv=_shown(settings, "gmv", row["gmv"]), aov=_shown(settings, "aov", row["aov"]),
                share="–" if row["share_of_gmv"] is None else f"{row['share_of_gmv']:.1%}",
            ),
            border=True,
        )
    for column, row in zip(columns[2:], repeat["repurchase"].iter_rows(named=True)):
        name = f"repurchase_rate_{row['window_days']}"
        column.metric(KPIS[name].label_in(lang), _shown(settings, name, row["repurchase_rate"]),
                      help=kpi_help(KPIS[name], lang, settings.gmv_basis), border=True)
        column.caption(t("overview.pending", eligible=f"{row['eligible_buyers']:,}", pending=f"{row['pending_buyers']:,}"))
    with st.expander(t("overview.new_and_repeat_table")):
        kinds = {kind: t(f"overview.buyer_{kind}") for kind in BUYER_KINDS}
        kpi_table(repeat["orders"].with_columns(pl.col("buyer_kind").replace_strict(kinds)), settings.currency,
                  name=f"new_and_repeat_orders_{span}")
        kpi_table(repeat["repurchase"], settings.currency, name=f"repurchase_{span}")
