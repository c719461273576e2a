"""Management reports: the numbers of a report on the small shop are the metric functions'
numbers, in the HTML, the PDF and the Excel workbook read back; highlights name the change and
the channel that made it on shops where both are known; the command line's exit codes."""

import io
import re
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import openpyxl
import polars as pl
import pytest
from pdf_text import pdf_pages_text
from polars.testing import assert_frame_equal
from pypdf import PdfReader

from connectors import open_source
from metrics.anomalies import detect_anomalies, special_days
from metrics.channels import channel_table
from metrics.compare import campaign_effect
from metrics.kpis import daily_kpis
from metrics.periods import compare_periods, period_summary
from metrics.registry import KPIS
from metrics.service import service_summary
from models.ltv import ltv_analysis
from shop_analytics.config import Settings
from shop_analytics.i18n import format_number
from shop_analytics.loading import Shop, load_shop
from shop_analytics.reports.content import HEADLINE_KPIS, build_report, campaigns_of, report_period
from shop_analytics.reports.render import render_html, render_pdf, render_xlsx, write_report
from shop_analytics.reports.tables import report_tables

ROOT = Path(__file__).resolve().parents[1]
TZ = "Asia/Shanghai"
WEEK_DAY = date(2026, 11, 18)  # the small shop's last week: Monday 2026-11-16 to Sunday 11-22


@pytest.fixture(scope="module")
def reports(small_shop):
    """The small shop's weekly report of WEEK_DAY in English and in Chinese."""
    return {lang: build_report(small_shop, kind="week", day=WEEK_DAY, lang=lang, settings=Settings()) for lang in ("en", "zh")}


@pytest.fixture(scope="module")
def files(reports):
    """Each report rendered in each format, once."""
    return {(lang, name): render(report) for lang, report in reports.items()
            for name, render in (("html", render_html), ("pdf", render_pdf), ("xlsx", render_xlsx))}


@pytest.mark.parametrize(
    ("kind", "day", "period"),
    [
        ("week", date(2026, 11, 18), (date(2026, 11, 16), date(2026, 11, 22))),
        ("week", date(2026, 11, 22), (date(2026, 11, 16), date(2026, 11, 22))),
        ("week", date(2026, 12, 31), (date(2026, 12, 28), date(2027, 1, 3))),
        ("month", date(2026, 2, 10), (date(2026, 2, 1), date(2026, 2, 28))),
        ("month", date(2024, 2, 29), (date(2024, 2, 1), date(2024, 2, 29))),
        ("month", date(2026, 12, 31), (date(2026, 12, 1), date(2026, 12, 31))),
    ],
)
def test_the_period_is_the_monday_to_sunday_week_or_the_calendar_month(kind, day, period):
    assert report_period(kind, day) == period


def test_headline_kpis_are_the_period_comparison(small_shop, reports):
    report = reports["en"]
    start, end = date(2026, 11, 16), date(2026, 11, 22)
    assert (report.period.start, report.period.end) == (start, end)
    frames = (small_shop.events, small_shop.sessions, small_shop.orders, small_shop.users)
    expected = compare_periods(*frames, start=start, end=end, tz=TZ)
    got = report.kpis.join(expected, on="kpi", suffix="_metric", maintain_order="left")
    assert got["kpi"].to_list() == list(HEADLINE_KPIS)
    for column in ("current", "previous", "change_vs_previous"):
        assert got[column].to_list() == got[f"{column}_metric"].to_list()
    # The data starts 2025-11-23, after the year-before week began: no numbers, not zeros.
    assert report.period.data_start == date(2025, 11, 23) and not report.period.covers("year_before")
    assert got["year_before"].null_count() == got.height and got["year_before_metric"].to_list()[0] == 0
    # The sample data ends moments before Sunday's end, so the week counts as in progress.
    last_event = small_shop.events["event_time"].max()
    assert report.period.cut == (last_event + timedelta(microseconds=1)).astimezone(report.period.cut.tzinfo)
    assert report.kpi["gmv"]["current"] == period_summary(*frames, start=start, end=end, tz=TZ)["gmv"] > 0


def test_daily_trend_alerts_service_and_campaign_are_the_metric_tables(small_shop, reports):
    report = reports["en"]
    frames = (small_shop.events, small_shop.sessions, small_shop.orders, small_shop.users)
    first_day, _ = small_shop.date_span(TZ)
    history = daily_kpis(*frames, start=first_day, end=date(2026, 11, 22), tz=TZ)
    assert_frame_equal(report.daily, history.filter(pl.col("date") >= date(2026, 11, 16)))
    verdicts = detect_anomalies(history, special_days=special_days(small_shop.campaigns))
    in_week = verdicts.filter(pl.col("is_alert") & (pl.col("date") >= date(2026, 11, 16)))
    # the report raises what the overview and alerts check raise: a KPI moving its bad way;
    # the week's good-direction spikes (more buyers than usual) are not problems to report
    assert_frame_equal(report.alerts.drop("top_channel", "top_channel_share"), in_week.filter(pl.col("bad")).sort("date", "kpi"))
    assert in_week.filter(~pl.col("bad")).height > 0
    service = service_summary(small_shop.tickets, small_shop.orders, start=date(2026, 11, 16), end=date(2026, 11, 22), tz=TZ)
    assert report.service == service.row(0, named=True)
    # No campaign ran that week: the report shows the latest before it, Double 11.
    chosen, in_period = campaigns_of(small_shop.campaigns, date(2026, 11, 16), date(2026, 11, 22))
    assert not in_period and chosen["campaign_id"].to_list() == [11]
    effect = campaign_effect(*frames, campaigns=small_shop.campaigns, campaign_id=11, tz=TZ)
    assert_frame_equal(report.campaigns.drop("campaign_id", "name", "start_date", "end_date", "channel"), effect)


def test_predicted_ltv_is_the_fitted_models_sum_over_customers(small_shop, reports):
    analysis = ltv_analysis(small_shop.orders, calibration_end=date(2026, 11, 22), tz=TZ)
    predicted = reports["en"].predicted_ltv
    assert predicted["customers"] == analysis.customers.height > 0
    assert predicted["expected_value"] == pytest.approx(analysis.customers["expected_value"].sum())
    assert predicted["mean_expected_value"] == pytest.approx(analysis.customers["expected_value"].mean())
    assert predicted["horizon_days"] == 365 and predicted["calibration_end"] == date(2026, 11, 22)


def test_channel_changes_add_up_to_the_gmv_change_cut_at_the_same_point(small_shop, reports):
    report = reports["en"]
    start, end = date(2026, 11, 16), date(2026, 11, 22)
    current = channel_table(small_shop.events, small_shop.sessions, small_shop.orders, small_shop.users, small_shop.ad_spend,
                            small_shop.order_items, small_shop.products, start=start, end=end, tz=TZ)
    assert_frame_equal(report.channels.select(current.columns).sort("channel"), current.sort("channel"))
    gmv = report.kpi["gmv"]
    assert report.channels["gmv"].sum() == pytest.approx(gmv["current"])
    assert report.channels["gmv_previous"].sum() == pytest.approx(gmv["previous"])
    assert report.channels["gmv_change"].sum() == pytest.approx(gmv["current"] - gmv["previous"])
    assert report.channels["share_of_change"].sum() == pytest.approx(1.0)


class _Cells(HTMLParser):
    """Table rows (cell texts), script tags' attributes and stylesheet links of an HTML page."""

    def __init__(self):
        super().__init__()
        self.rows, self.scripts, self.links, self._row, self._cell = [], [], [], None, None

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
        elif tag == "script":
            self.scripts.append(dict(attrs))
        elif tag == "link":
            self.links.append(dict(attrs))

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row.append("".join(self._cell))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.rows.append(self._row)
            self._row = None


def _money(value, lang="en"):
    return format_number(value, "money", lang, "¥")


def test_html_is_self_contained_and_shows_the_metric_numbers(reports, files):
    report = reports["en"]
    html = files[("en", "html")].decode("utf-8")
    page = _Cells()
    page.feed(html)
    assert all("src" not in script for script in page.scripts) and not page.links
    assert not re.search(r"""<(?:script|link|img)[^>]+(?:src|href)=["']https?:""", html)
    assert html.count('class="plotly-graph-div"') == 5 and "Plotly.newPlot" in html
    gmv = report.kpi["gmv"]
    assert ["GMV", _money(gmv["current"]), _money(gmv["previous"]), f"{gmv['change_vs_previous']:+.1%}", "–", "–"] in page.rows
    orders = report.kpi["orders"]
    assert ["Orders", f"{orders['current']:,.0f}", f"{orders['previous']:,.0f}", f"{orders['change_vs_previous']:+.1%}", "–", "–"] in page.rows
    paid_search = report.channels.filter(pl.col("channel") == "paid_search").row(0, named=True)
    assert ["paid search", f"{paid_search['sessions']:,}", f"{paid_search['orders']:,}", _money(paid_search["gmv"]),
            _money(paid_search["gmv_change"])] == next(row[:5] for row in page.rows if row[0] == "paid search")
    for sentence in report.highlights:
        assert sentence.replace("&", "&amp;") in html


def test_html_in_chinese(reports, files):
    html = files[("zh", "html")].decode("utf-8")
    assert '<html lang="zh-CN">' in html and "管理周报（2026年11月16日 – 11月22日）" in html
    assert "核心指标" in html and "付费搜索" in html
    assert reports["zh"].highlights[0].startswith("GMV环比上周")


def _pdf_text(content: bytes) -> tuple[int, str]:
    pages = pdf_pages_text(content)
    return len(pages), "\n".join(pages)


def test_pdf_pages_hold_the_text_and_the_numbers(reports, files):
    pages, text = _pdf_text(files[("en", "pdf")])
    assert 3 <= pages <= 8 and f"{pages} / {pages}" in text and "1 / " in text
    flat = " ".join(text.split())
    assert "Weekly management report, 2026-11-16 – 2026-11-22" in flat and "Headline KPIs" in flat
    gmv = reports["en"].kpi["gmv"]
    assert _money(gmv["current"]) in flat and _money(gmv["previous"]) in flat and f"{gmv['change_vs_previous']:+.1%}" in flat
    assert "paid search" in flat and "Double 11" in flat


def test_pdf_in_chinese_holds_chinese_text(reports, files):
    pages, text = _pdf_text(files[("zh", "pdf")])
    flat = "".join(text.split())
    assert pages >= 3
    for words in ("管理周报", "核心指标", "每日趋势", "付费搜索", "活动效果", "留存与LTV", "异常预警", "环比上周"):
        assert words in flat, words
    assert _money(reports["zh"].kpi["gmv"]["current"], "zh") in flat


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_pdf_shows_its_charts_as_images_and_reads_cleanly(lang, reports, files):
    """Issue 21's PDF: five chart images; the campaign change and its interval in one unit
    (relative to the baseline, as the Campaigns page says it); thousands separators; no
    "None" in a cell; no table with the same header twice."""
    reader = PdfReader(io.BytesIO(files[(lang, "pdf")]))
    assert len({image.name for page in reader.pages for image in page.images}) == 5
    text = " ".join(pdf_pages_text(files[(lang, "pdf")]))
    assert "None" not in text
    unseparated = re.findall(r"(?:^|[\s¥(（])(\d{4,})(?:\.\d+)?(?=[\s%)）]|$)", text)
    assert not unseparated
    report = reports[lang]
    conversion = report.campaigns.filter(pl.col("measure") == "conversion_rate").row(0, named=True)
    flat = " ".join(text.split())
    relative = [f"{conversion['relative_change']:+.1%}", f"{conversion['ci_low'] / conversion['before']:+.1%}",
                f"{conversion['ci_high'] / conversion['before']:+.1%}"]
    assert " ".join(relative) in flat
    for table in report_tables(report).values():
        labels = [table.labels[column] for column in table.shown]
        assert len(set(labels)) == len(labels), table.name


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_excel_has_a_sheet_per_table_with_the_numbers(lang, reports, files):
    report = reports[lang]
    workbook = openpyxl.load_workbook(io.BytesIO(files[(lang, "xlsx")]))
    tables = report_tables(report)
    assert workbook.sheetnames == [table.title for table in tables.values()]
    assert len(workbook.sheetnames) == 17  # issue 19 added the decomposition (shop, channels, categories), new and repeat orders, repurchase and the definitions
    kpis = list(workbook[tables["kpis"].title].iter_rows(values_only=True))
    assert kpis[0] == tuple(tables["kpis"].labels[column] for column in tables["kpis"].columns)
    gmv_row = next(row for row in kpis if row[0] == KPIS["gmv"].label_in(lang))
    gmv = report.kpi["gmv"]
    # Excel keeps 15 significant digits.
    assert gmv_row[1:4] == pytest.approx((gmv["current"], gmv["previous"], gmv["change_vs_previous"]), rel=1e-14)
    assert gmv_row[4] is None
    channels = list(workbook[tables["channels"].title].iter_rows(values_only=True))
    gmv_column = channels[0].index(KPIS["gmv"].label_in(lang))
    assert sum(row[gmv_column] for row in channels[1:]) == pytest.approx(gmv["current"])
    highlights = [row[0] for row in workbook[tables["highlights"].title].iter_rows(min_row=2, values_only=True)]
    assert highlights == list(report.highlights)
    daily = list(workbook[tables["daily"].title].iter_rows(min_row=2, values_only=True))
    assert [row[0].date() for row in daily] == report.daily["date"].to_list()
    assert [row[1] for row in daily] == pytest.approx(report.daily["gmv"].to_list(), rel=1e-14)


# A hand-made shop in UTC: four users, page views every day of two weeks and the Monday after
# (so the week of 2026-11-16 is complete), and the orders each test gives.
HAND_MADE_WEEK = date(2026, 11, 18)
_USERS = {1: "paid_search", 2: "email", 3: "organic", 4: "paid_search"}


def _hand_made_shop(folder: Path, orders: list[tuple[int, str, str, float]]):
    """Orders are (user_id, channel, 'YYYY-MM-DD', amount), each paid at noon UTC."""
    utc = pl.Datetime("us", "UTC")
    days = [date(2026, 11, 9) + timedelta(days=offset) for offset in range(15)]
    pl.DataFrame(
        {"user_id": list(_USERS), "signup_at": [datetime(2026, 10, 1, tzinfo=UTC)] * len(_USERS), "channel": list(_USERS.values())},
        schema={"user_id": pl.Int64, "signup_at": utc, "channel": pl.String},
    ).write_parquet(folder / "users.parquet")
    pl.DataFrame(
        {
            "user_id": [user for _ in days for user in _USERS],
            "event_time": [datetime(day.year, day.month, day.day, 9, tzinfo=UTC) for day in days for _ in _USERS],
            "event_type": ["page_view"] * (len(days) * len(_USERS)),
            "channel": [channel for _ in days for channel in _USERS.values()],
        },
        schema={"user_id": pl.Int64, "event_time": utc, "event_type": pl.String, "channel": pl.String},
    ).write_parquet(folder / "events.parquet")
    pl.DataFrame(
        {
            "order_id": list(range(1, len(orders) + 1)),
            "user_id": [order[0] for order in orders],
            "created_at": [datetime.fromisoformat(order[2]).replace(hour=12, tzinfo=UTC) for order in orders],
            "amount": [order[3] for order in orders],
            "status": ["paid"] * len(orders),
            "channel": [order[1] for order in orders],
        },
        schema={"order_id": pl.Int64, "user_id": pl.Int64, "created_at": utc, "amount": pl.Float64, "status": pl.String, "channel": pl.String},
    ).write_parquet(folder / "orders.parquet")
    return load_shop(open_source(folder))


def test_highlight_names_the_rise_and_the_channel_that_made_most_of_it(tmp_path):
    shop = _hand_made_shop(tmp_path, [
        (1, "paid_search", "2026-11-10", 100.0), (2, "email", "2026-11-11", 100.0),
        (1, "paid_search", "2026-11-17", 150.0), (4, "paid_search", "2026-11-18", 150.0), (2, "email", "2026-11-19", 120.0),
    ])
    settings = Settings(time_zone="UTC")
    english = build_report(shop, kind="week", day=HAND_MADE_WEEK, lang="en", settings=settings)
    assert english.period.cut is None
    # 420 against 200 is +110 %; paid search added 200 of the 220, 90.91 %.
    assert english.highlights[0] == "GMV rose 110.0% week on week to ¥420.00 (from ¥200.00); most of the change came from paid search (90.91%)."
    assert english.highlights[1] == (
        "Week on week: Orders rose 50.0% to 3 (from 2); AOV (客单价) rose 40.0% to ¥140.00 (from ¥100.00); "
        "Active users held at 4; Conversion rate rose 50.0% to 75.00% (from 50.00%)."
    )
    chinese = build_report(shop, kind="week", day=HAND_MADE_WEEK, lang="zh", settings=settings)
    assert chinese.highlights[0] == "GMV环比上周上升 110.0%，达到 ¥420.00（上期 ¥200.00），其中大部分变化来自付费搜索（90.91%）。"
    # No tickets, reviews, campaigns or ad spend in this shop: those sections say so, no sentence invents them.
    assert english.service is None and english.words is None and english.campaigns is None
    # Tuesday's ¥150 against eight days of history, six of them without orders: GMV and net
    # revenue jump, in their good direction, which the report (like the overview and alerts
    # check) does not count as a problem
    assert english.alerts.height == 0
    assert english.highlights[-1] == "No anomaly alerts in this period."
    html = render_html(english).decode("utf-8")
    assert "This source has no tickets table" in html and "This source has no campaigns table." in html


def test_highlight_of_a_fall_spread_over_channels_names_the_largest_part(tmp_path):
    shop = _hand_made_shop(tmp_path, [
        (1, "paid_search", "2026-11-10", 100.0), (2, "email", "2026-11-11", 100.0), (3, "organic", "2026-11-12", 100.0),
        (1, "paid_search", "2026-11-17", 60.0), (2, "email", "2026-11-18", 70.0), (3, "organic", "2026-11-19", 70.0),
    ])
    report = build_report(shop, kind="week", day=HAND_MADE_WEEK, lang="en", settings=Settings(time_zone="UTC"))
    # 200 against 300 is -33.3 %; paid search lost 40 of the 100, the largest part but not most.
    assert report.highlights[0] == "GMV fell 33.3% week on week to ¥200.00 (from ¥300.00); the largest part of the change came from paid search (40.00%)."
    chinese = build_report(shop, kind="week", day=HAND_MADE_WEEK, lang="zh", settings=Settings(time_zone="UTC"))
    assert chinese.highlights[0] == "GMV环比上周下降 33.3%，为 ¥200.00（上期 ¥300.00），其中最大的一部分变化来自付费搜索（40.00%）。"


def test_a_week_in_progress_is_compared_up_to_the_same_point(tmp_path):
    """Data ending Wednesday noon: the previous week is cut at its Wednesday noon too."""
    shop = _hand_made_shop(tmp_path, [
        (1, "paid_search", "2026-11-10", 100.0), (2, "email", "2026-11-13", 500.0),
        (1, "paid_search", "2026-11-17", 150.0), (2, "email", "2026-11-18", 10.0),
    ])
    cut = datetime(2026, 11, 18, 12, tzinfo=UTC)
    tables = {name: table for name, table in shop.tables.items()}
    tables["events"] = tables["events"].filter(pl.col("event_time") <= cut)
    ended = Shop(tables=tables, sessions=shop.sessions.filter(pl.col("started_at") <= cut), description=shop.description)
    report = build_report(ended, kind="week", day=HAND_MADE_WEEK, lang="en", settings=Settings(time_zone="UTC"))
    assert report.period.cut == cut + timedelta(microseconds=1)
    # Up to Wednesday noon: 160 this week against 100 the week before (its Friday order is later).
    assert report.kpi["gmv"]["current"] == 160.0 and report.kpi["gmv"]["previous"] == 100.0
    assert report.highlights[0] == "GMV rose 60.0% week on week to ¥160.00 (from ¥100.00); most of the change came from paid search (83.33%)."
    assert report.daily["date"].max() == date(2026, 11, 18)
    assert report.channels["gmv_previous"].sum() == 100.0


def run_cli(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "cli.py", *arguments], cwd=ROOT, capture_output=True, timeout=300, check=False)


def test_cli_writes_the_report_and_prints_its_path(small_shop_db, tmp_path, reports):
    result = run_cli("report", "--period", "week", "--date", str(WEEK_DAY), "--lang", "en", "--format", "xlsx",
                     "--out", str(tmp_path / "out"), "--source", str(small_shop_db))
    assert result.returncode == 0, result.stderr.decode()
    path = Path(result.stdout.decode().strip())
    assert path == tmp_path / "out" / "report_week_2026-11-16_en.xlsx"
    workbook = openpyxl.load_workbook(path)
    highlights = [row[0] for row in workbook["Highlights"].iter_rows(min_row=2, values_only=True)]
    assert highlights == list(reports["en"].highlights)
    assert "Building the report" in result.stderr.decode()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (("--date", "2026-02-30"), "'2026-02-30' is not a date in the form YYYY-MM-DD"),
        (("--date", "2024-01-03"), "the week of 2024-01-03 (2024-01-01 to 2024-01-07) has no data: the data runs from 2025-11-23 to 2026-11-22"),
        (("--date", "2026-11-18", "--format", "docx"), "invalid choice: 'docx'"),
        (("--date", "2026-11-18", "--period", "quarter"), "invalid choice: 'quarter'"),
        (("--date", "2026-11-18", "--lang", "fr"), "invalid choice: 'fr'"),
        (("--date", "2026-11-18", "--out", "/proc/no/such/folder"), "cannot write the report into /proc/no/such/folder"),
    ],
)
def test_cli_bad_input_gets_one_line_and_status_2(arguments, message, small_shop_db):
    result = run_cli("report", "--source", str(small_shop_db), *arguments)
    assert result.returncode == 2
    error = result.stderr.decode().splitlines()[-1]
    assert message in error and "Traceback" not in result.stderr.decode()


def test_the_html_is_escaped_and_the_file_private(tmp_path):
    """The report's HTML comes from a Jinja2 template with autoescape: a hostile source name
    is text, not markup; the written file is its owner's only."""
    folder = tmp_path / "shop<img src=x onerror=alert(1)>"
    folder.mkdir()
    shop = _hand_made_shop(folder, [(1, "paid_search", "2026-11-17", 150.0), (2, "email", "2026-11-18", 120.0)])
    report = build_report(shop, kind="week", day=HAND_MADE_WEEK, lang="en", settings=Settings(time_zone="UTC"))
    html = render_html(report).decode("utf-8")
    assert "<img src=x" not in html and "shop&lt;img src=x onerror=alert(1)&gt;" in html
    assert html.count('<div class="chart">') >= 3 and "Plotly.newPlot" in html
    written = write_report(report, "html", tmp_path / "out")
    assert written.stat().st_mode & 0o777 == 0o600


def test_the_chinese_report_names_channels_and_categories_as_the_pages_do(reports):
    """Issue 21: a value a reader sees is in the reader's words, in the report's tables as on
    the pages (付费搜索, 数码电子), never the code."""
    from shop_analytics.i18n import label

    tables = report_tables(reports["zh"])
    categories = reports["zh"].decomposition["categories"]["category"].cast(pl.String).unique().to_list()
    assert categories and sorted(tables["decomposition_categories"].frame["category"].unique().to_list()) == sorted(
        label("category", code, "zh") for code in categories
    )
    assert "数码电子" in tables["decomposition_categories"].frame["category"].to_list()
    channels = reports["zh"].decomposition["channels"]["channel"].cast(pl.String).unique().to_list()
    assert sorted(tables["decomposition_channels"].frame["channel"].unique().to_list()) == sorted(
        label("channel", code, "zh") for code in channels
    )
