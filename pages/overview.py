"""Overview: the period's KPI cards against the previous period and their own history, the
pace of this month's and week's targets, daily trends in their own-history band, a drill-down
into any day the user clicks (its orders one by one for the roles that may see users' rows, by
status for the others), the GMV decomposition (visitors x conversion x orders per buyer x AOV)
and new and repeat orders with repurchase."""

from datetime import date, datetime

import polars as pl
import streamlit as st

from metrics.anomalies import PAST_CAMPAIGN_DAYS
from metrics.orders import is_valid_order
from metrics.registry import KPIS, basis_words, format_value, kpi_help
from shop_analytics.alerts.evaluate import RULE
from shop_analytics.alerts.messages import alert_line, explaining_view
from shop_analytics.charts.trends import channel_bars, daily_trend
from shop_analytics.i18n import count_text, format_day, text
from shop_analytics.ui import alerts_data, data, operations
from shop_analytics.ui.frame import open_page
from shop_analytics.ui.lang import language, t
from shop_analytics.ui.links import linked
from shop_analytics.ui.overview_data import CARD_KPIS, COMPARED_WITH, TREND_KPIS
from shop_analytics.ui.tables import kpi_table, may_show_users

CHART_KEY = "overview_trend"
CHANNEL_EXPLAINED = {"dau", "sessions", "bounce_rate", "session_conversion", "orders", "buyers", "gmv", "conversion_rate", "new_users"}

alerts_data.follow_pending_view()
settings, shop, chosen = open_page("overview")
lang = language()


def shown(kpi, value, *, compact: bool = False) -> str:
    return format_value(kpi, value, settings.currency, compact=compact, lang=lang)


args = (data.source_key(), chosen.start, chosen.end, chosen.tz, chosen.segment)
alerts = data.recent_alerts(args[0], chosen.end, chosen.tz, chosen.segment)
broken_rules = [alert for alert in alerts_data.open_alerts() if alert["kind"] == RULE]
if alerts.height or broken_rules:
    with st.container(border=True):
        st.markdown(t("overview.alerts_title", end=chosen.end))
        for alert in alerts.iter_rows(named=True):
            kpi = KPIS[alert["kpi"]]
            against = "against_special" if alert["compared_with"] == PAST_CAMPAIGN_DAYS else "against_ordinary"
            st.markdown(
                t(
                    "overview.alert_line",
                    day=format_day(alert["date"], lang),
                    kpi=kpi.label_in(lang),
                    value=shown(kpi, alert["value"]),
                    direction=t(f"overview.{alert['direction']}"),
                    usual=shown(kpi, alert["baseline_median"]),
                    z=f"{alert['robust_z']:+.1f}",
                    against=t(f"overview.{against}"),
                )
            )
        if set(alerts["kpi"]) & CHANNEL_EXPLAINED:
            st.page_link("pages/channels.py", label=t("overview.see_channels"), icon=":material/campaign:")
        for alert in broken_rules:
            view = explaining_view(alert)
            left, right = st.columns([4, 1], vertical_alignment="center")
            left.markdown(f":orange-badge[{t('overview.rule')}] {alert_line(alert, lang, settings.currency)}")
            right.button(
                t("alerts.open_view", page=t(f"nav.{view.page}")), key=f"overview_rule_{alert['id']}", icon=":material/open_in_new:",
                on_click=alerts_data.open_view, args=(view, shop.date_span(chosen.tz)),
            )
else:
    st.success(t("overview.no_alerts", end=chosen.end), icon=":material/check_circle:")

linked("overview_compare", "compare", COMPARED_WITH[0], choices=COMPARED_WITH)  # kept in the URL: a shared link compares alike
compared_with = st.segmented_control(
    t("overview.compare_with"), COMPARED_WITH, format_func=lambda name: text(f"overview.{name}", lang), key="overview_compare"
) or COMPARED_WITH[0]
cut_at = data.period_cut(*args[:4])
st.caption(
    t(
        "overview.period_caption", start=chosen.start, end=chosen.end, days=count_text("filters.days", chosen.days, lang), tz=chosen.tz,
        compared=t(f"overview.{compared_with}"),
    )
    # the data may end before the period does: "in progress" only while the period's last day has not passed
    + ("" if cut_at is None else t(
        "overview.in_progress" if cut_at.date() >= datetime.now(cut_at.tzinfo).date() else "overview.data_ends", cut=f"{cut_at:%Y-%m-%d %H:%M}",
    ))
)
if not settings.basis.is_default:
    st.caption(t("definitions.non_default", basis=basis_words(settings.gmv_basis, lang)))


def band_words(kpi, band: dict) -> str:
    """The card's own-history band: typical and excellent of the previous same-length periods."""
    if band["typical"] is None:
        return t("overview.band_too_short", periods=band["history_periods"])
    return t(
        "overview.band_help", typical=shown(kpi, band["typical"]), excellent=shown(kpi, band["excellent"]),
        periods=band["history_periods"], standing=t(f"overview.standing_{band['standing']}") if band["standing"] else "–",
    )


comparison = {row["kpi"]: row for row in data.period_comparison(*args).iter_rows(named=True)}
card_bands = {row["kpi"]: row for row in data.card_bands(*args, CARD_KPIS).iter_rows(named=True)}
for card_row in (CARD_KPIS[:5], CARD_KPIS[5:]):
    for column, name in zip(st.columns(5), card_row):
        kpi, row = KPIS[name], comparison[name]
        change = row[f"change_vs_{compared_with}"]
        others = "; ".join(f"{t(f'overview.{other}')}: {shown(kpi, row[other])}" for other in COMPARED_WITH)
        column.metric(
            kpi.label_in(lang),
            shown(kpi, row["current"], compact=True),
            delta=None if change is None else f"{change:+.1%}",
            delta_color="normal" if kpi.higher_is_better else "inverse",
            help=" ".join((
                kpi_help(kpi, lang, settings.gmv_basis), t("overview.card_values", value=shown(kpi, row["current"]), others=others),
                band_words(kpi, card_bands[name]),
            )),
            border=True,
        )

operations.draw_target_paces(shop, settings, chosen)

daily = data.daily_kpis(*args)
linked("overview_metric", "kpi", TREND_KPIS[0], choices=TREND_KPIS)
picked = st.selectbox(
    t("overview.trend"), TREND_KPIS, format_func=lambda name: KPIS[name].label_in(lang), key="overview_metric"
)
band = data.trend_band(args[0], chosen.start, chosen.end, chosen.tz, chosen.segment, picked)
event = st.plotly_chart(
    daily_trend(daily, KPIS[picked], settings.currency, lang, band=band),
    on_select="rerun",
    selection_mode=("points",),
    key=CHART_KEY,
    width="stretch",
)
st.caption(t("overview.band_caption"))
points = event.get("selection", {}).get("points", []) if event else []
clicked = date.fromisoformat(str(points[0]["x"])[:10]) if points else None

with st.expander(t("overview.daily_table")):
    kpi_table(daily, settings.currency, name=f"daily_kpis_{chosen.start}_{chosen.end}")

if clicked is None or not chosen.start <= clicked <= chosen.end:
    st.caption(t("overview.click_a_day"))
else:
    st.subheader(format_day(clicked, lang, with_year=True))
    detail = data.day_detail(args[0], clicked, chosen.tz, chosen.segment)
    left, right = st.columns(2)
    with left:
        st.markdown(f"**{t('overview.channels')}**")
        kpi_table(detail["channels"], settings.currency, name=f"channels_{clicked}")
    with right:
        st.plotly_chart(channel_bars(detail["channels"], "gmv", f"{KPIS['gmv'].label_in(lang)} ({settings.currency})", lang), width="stretch")
    if "products" in detail:
        st.markdown(f"**{t('overview.top_products')}**")
        kpi_table(detail["products"], settings.currency, name=f"top_products_{clicked}")
    orders = detail["orders"]
    st.markdown(f"**{t('overview.orders', count=orders.height)}**")
    # the list holds every order of the day; the channel rows above count valid orders only
    valid_orders = orders.filter(is_valid_order()).height
    if valid_orders != orders.height:
        st.caption(t("overview.orders_not_all_valid", valid=f"{valid_orders:,}", other=f"{orders.height - valid_orders:,}"))
    if may_show_users():
        kpi_table(
            orders,
            settings.currency,
            name=f"orders_{clicked}",
            column_config={
                "created_at_local": st.column_config.DatetimeColumn(t("overview.created", tz=chosen.tz), format="YYYY-MM-DD HH:mm:ss"),
                "amount": st.column_config.NumberColumn(t("overview.amount"), format=f"{settings.currency}%.2f"),
            },
        )
    else:
        # The roles that may not see single orders get the day's orders by status (and payment
        # method): how many, and their amount.
        by = [name for name in ("status", "payment_method") if name in orders.columns]
        kpi_table(
            orders.group_by(by).agg(pl.len().alias("orders"), pl.col("amount").sum()).sort(by),
            settings.currency,
            name=f"orders_by_status_{clicked}",
            column_config={"amount": st.column_config.NumberColumn(t("overview.amount"), format=f"{settings.currency}%.2f")},
        )

operations.draw_decomposition(shop, settings, chosen, compared_with)
operations.draw_new_and_repeat(settings, chosen)
