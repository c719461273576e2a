"""The management report's issue 19 parts: the pace of the targets set for its period, the GMV
decomposition against the previous period and new and repeat orders, each the metric
functions' numbers, and the definitions appendix listing every KPI in the report with its
SPEC definition in the report's language and the GMV basis (口径) named."""

import io
import re
from datetime import date

import openpyxl
import pytest

from metrics.decomposition import decompose_gmv, gmv_factors
from metrics.kpis import daily_kpis
from metrics.pacing import pace_against_target
from metrics.registry import KPIS
from metrics.repeat_orders import new_and_repeat_orders
from shop_analytics.config import Settings
from shop_analytics.reports.content import build_report
from shop_analytics.reports.render import render_html, render_xlsx
from shop_analytics.reports.tables import report_kpis, report_tables
from shop_analytics.targets import checked_target
from shop_analytics.views import activity_frames

TZ = "Asia/Shanghai"
WEEK_DAY = date(2026, 11, 11)  # the week 2026-11-09 to 11-15, complete in the small shop
WEEK = (date(2026, 11, 9), date(2026, 11, 15))
PREVIOUS = (date(2026, 11, 2), date(2026, 11, 8))


@pytest.fixture(scope="module")
def reports(small_shop):
    targets = [checked_target("gmv", "week", WEEK_DAY, 5_000.0), checked_target("orders", "month", WEEK_DAY, 100.0)]
    settings = Settings(gmv_basis="exclude_refunded")
    return {lang: build_report(small_shop, kind="week", day=WEEK_DAY, lang=lang, settings=settings, targets=targets) for lang in ("en", "zh")}


def test_the_weeks_own_target_is_paced_with_the_pacing_function(reports, small_shop):
    report = reports["en"]
    assert report.paces["kpi"].to_list() == ["gmv"]  # the month's target is not the week report's
    daily = daily_kpis(*activity_frames(small_shop), start=small_shop.date_span(TZ)[0], end=WEEK[1], tz=TZ)
    pace = pace_against_target(daily, kpi="gmv", target=5_000.0, start=WEEK[0], end=WEEK[1], as_of=WEEK[1]).row(0, named=True)
    shown = report.paces.row(0, named=True)
    for name in ("actual_to_date", "expected_to_date", "pace", "projected_end", "behind"):
        assert shown[name] == pytest.approx(pace[name])


def test_the_decomposition_and_new_and_repeat_orders_are_the_metric_functions(reports, small_shop):
    report = reports["en"]
    _, sessions, orders, _ = activity_frames(small_shop)
    parts = decompose_gmv(gmv_factors(sessions, orders, start=WEEK[0], end=WEEK[1], tz=TZ),
                          gmv_factors(sessions, orders, start=PREVIOUS[0], end=PREVIOUS[1], tz=TZ))
    assert report.decomposition["comparison_period"] == PREVIOUS
    assert report.decomposition["parts"]["part"].to_list() == pytest.approx(parts["part"].to_list())
    assert report.new_and_repeat.equals(new_and_repeat_orders(small_shop.orders, start=WEEK[0], end=WEEK[1], tz=TZ))
    sheet = openpyxl.load_workbook(io.BytesIO(render_xlsx(report)))[report_tables(report)["decomposition"].title]
    rows = list(sheet.iter_rows(min_row=2, values_only=True))
    assert [row[0] for row in rows] == [KPIS[name].label_in("en") for name in ("visitors", "visitor_conversion", "orders_per_buyer", "aov", "gmv")]
    assert [row[4] for row in rows] == pytest.approx(parts["part"].to_list(), rel=1e-14)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_definitions_appendix_lists_every_kpi_of_the_report_in_its_language(reports, lang):
    report = reports[lang]
    names = report_kpis(report)
    assert {"gmv", "conversion_rate", "visitors", "uv_value", "repurchase_rate_30", "cpc", "roi"} <= set(names)
    definitions = report_tables(report)["definitions"].frame
    assert definitions["kpi"].to_list() == [KPIS[name].label_in(lang) for name in names]
    by_label = dict(zip(definitions["kpi"], definitions["definition"]))
    basis = {"en": "GMV basis (口径): refunded orders excluded.", "zh": "GMV 口径：不含已退款订单。"}[lang]
    assert by_label[KPIS["gmv"].label_in(lang)] == {"en": f"sum of the amount of valid orders. {basis}", "zh": f"有效订单金额之和。{basis}"}[lang]
    assert by_label[KPIS["bounce_rate"].label_in(lang)] == KPIS["bounce_rate"].description_in(lang) + {"en": ".", "zh": "。"}[lang]
    html = render_html(report).decode()
    appendix = html[html.index('id="definitions"'):]
    assert {"en": "Appendix: definitions (口径)", "zh": "附录：指标口径"}[lang] in appendix
    assert re.sub(r"<[^>]+>", "", basis) in appendix
    note = {"en": "Numbers on orders are counted under a non-default basis. ", "zh": "订单相关数字按非默认口径统计。"}[lang] + basis
    assert note in html[html.index('id="kpis"'):html.index('id="definitions"')]  # labelled above the numbers
