"""Real shops are partial (issue 14): the small shop with each of the nine tables dropped in
turn. Every export computes what it can (equal to the full shop's numbers for every measure
that does not read the dropped table, the others null: not available, never zero) or says in
one line which table it needs; the pages open without an exception box; the weekly report and
`alerts check` work on an orders-only and an events-only shop."""

import shutil
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from streamlit.testing.v1 import AppTest

from connectors import FolderSource, SourceError, open_source
from connectors.schema import TABLES
from metrics.registry import KPIS
from shop_analytics.exports import EXPORTS, ExportRequest, build_export
from shop_analytics.loading import load_shop
from shop_analytics.views import VIEW_NEEDS

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
TZ = "Asia/Shanghai"
PAGES = ("overview", "channels", "campaigns", "products", "funnel", "paths", "cohorts", "segments", "demand", "checkout",
         "service", "explore", "alerts", "reports", "data_source")
EXPORT_OPTIONS = {"retention": {"period": "week"}, "funnel": {}, "lifecycle": {"period": "day"}}
KPI_EXPORTS = ("kpis", "periods")


@pytest.fixture(scope="module")
def full_folder(small_shop_db, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("full")
    source = open_source(small_shop_db)
    for name in source.table_names():
        source.read_table(name).write_parquet(folder / f"{name}.parquet")
    return folder


def without(full_folder: Path, dropped: tuple[str, ...], tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("without_" + "_".join(dropped))
    for path in full_folder.glob("*.parquet"):
        if path.stem not in dropped:
            shutil.copy(path, folder / path.name)
    return folder


@pytest.fixture(scope="module")
def full_shop(full_folder):
    return load_shop(FolderSource(full_folder), tz=TZ)


def period(shop):
    """Thirty days that ended a week before the data did: a finished period, so no table's
    last row decides where a comparison is cut."""
    _, last = shop.date_span(TZ)
    return last - timedelta(days=36), last - timedelta(days=7)


def test_every_view_is_written_down_with_what_it_reads():
    assert {f"export:{name}" for name in EXPORTS} <= set(VIEW_NEEDS)
    assert set(PAGES) <= set(VIEW_NEEDS)
    for needs in VIEW_NEEDS.values():
        assert set(needs.required + needs.any_of + needs.optional) <= set(TABLES)


@pytest.mark.parametrize("dropped", list(TABLES))
def test_each_export_computes_what_it_can_or_names_what_it_lacks(dropped, full_folder, full_shop, tmp_path_factory):
    shop = load_shop(FolderSource(without(full_folder, (dropped,), tmp_path_factory)), tz=TZ)
    assert dropped in shop.missing
    start, end = period(full_shop)
    for name in EXPORTS:
        request = ExportRequest(start, end, TZ, {"to": end, **EXPORT_OPTIONS.get(name, {})})
        needs = VIEW_NEEDS[f"export:{name}"]
        refused = dropped in needs.required
        try:
            table = build_export(name, shop, request)
        except SourceError as error:
            assert refused, f"export {name} refused for a table it does not need ({dropped}): {error}"
            assert "\n" not in str(error) and dropped in str(error) and "map" in str(error)
            continue
        assert not refused, f"export {name} ran without {dropped}, which it needs"
        if name in KPI_EXPORTS:
            full = build_export(name, full_shop, request)
            _assert_same_where_available(name, table, full, dropped)


def _assert_same_where_available(name: str, partial: pl.DataFrame, full: pl.DataFrame, dropped: str) -> None:
    """The partial shop's KPI table: the full shop's values where the KPI does not read the
    dropped table, null (not available) where it does."""
    if "kpi" in partial.columns:  # long: one row per KPI
        reads = partial["kpi"].map_elements(lambda kpi: dropped in KPIS[kpi].reads, return_dtype=pl.Boolean)
        kept = partial.filter(~reads)
        assert_frame_equal(kept, full.filter(pl.col("kpi").is_in(kept["kpi"].implode())), check_exact=False)
        assert partial.filter(reads).drop("kpi").select(pl.all().is_null().all()).row(0) == tuple(
            True for _ in partial.columns if _ != "kpi"
        ) or partial.filter(reads).height == 0
        return
    for column in partial.columns:
        if column in KPIS and dropped in KPIS[column].reads:
            assert partial[column].null_count() == partial.height, f"{name}.{column} reads {dropped}: not available, not zero"
        else:
            assert partial[column].equals(full[column]) or partial[column].to_list() == pytest.approx(full[column].to_list()), f"{name}.{column}"


@pytest.mark.parametrize("dropped", [("events",), ("orders",), ("users",), ("orders", "order_items", "users", "reviews", "tickets", "campaigns", "ad_spend")])
def test_every_page_opens_without_an_exception_box(dropped, full_folder, tmp_path_factory):
    folder = without(full_folder, dropped, tmp_path_factory)
    at = AppTest.from_file(APP, default_timeout=120)
    at.secrets["connections"] = {"shop": {"folder": str(folder)}}
    at.run()
    assert not at.exception, at.exception
    for page in PAGES:
        at.switch_page(f"pages/{page}.py").run()
        assert not at.exception, (page, [exception.value for exception in at.exception])
        warnings = [warning.value for warning in at.warning]
        if VIEW_NEEDS[page].missing(load_shop(FolderSource(folder), tz=TZ)):
            assert any("needs the" in warning for warning in warnings), (page, warnings)


def test_an_orders_only_overview_shows_order_kpis_and_marks_activity_not_available(full_folder, full_shop, tmp_path_factory):
    folder = without(full_folder, ("events",), tmp_path_factory)
    at = AppTest.from_file(APP, default_timeout=120)
    at.secrets["connections"] = {"shop": {"folder": str(folder)}}
    at.run()
    assert not at.exception and not at.error
    cards = {metric.label: metric.value for metric in at.metric}
    assert cards["Sessions"] == "–" and cards["Active users"] == "–"
    assert cards["GMV"] != "–" and cards["Orders"] != "0"
    daily = at.dataframe[0].value
    assert daily["dau"].isna().all() and daily["gmv"].sum() > 0


CDNOW = Path(__file__).parent / "data" / "cdnow"


def test_an_orders_only_shop_from_real_public_data_equals_hand_written_sql():
    """The CDNOW sample (real purchases of a real shop, tests/data/cdnow/cdnow.toml) through a
    mapping file: every order measure of the daily KPI table equals DuckDB SQL over the same
    CSV; the activity measures are not available."""
    import duckdb

    from connectors.mapping import load_mapping

    shop = load_shop(FolderSource(CDNOW, mapping=load_mapping(CDNOW / "cdnow.toml")), tz="UTC")
    assert shop.missing == tuple(name for name in TABLES if name not in ("orders",)) and shop.users_derived
    request = ExportRequest(date(1997, 1, 1), date(1997, 3, 31), "UTC", {})
    table = build_export("kpis", shop, request)
    expected = pl.from_arrow(duckdb.sql(f"""
        WITH days AS (SELECT CAST(range AS DATE) AS date FROM range(DATE '1997-01-01', DATE '1997-04-01', INTERVAL 1 DAY)),
        sales AS (
            SELECT CAST(date AS DATE) AS date, count(*) AS orders, count(DISTINCT customer_id) AS buyers, sum(dollars) AS gmv
            FROM read_csv('{CDNOW / "cdnow_sample.csv"}') GROUP BY 1)
        SELECT d.date, coalesce(orders, 0) AS orders, coalesce(buyers, 0) AS buyers, coalesce(gmv, 0) AS gmv,
               CASE WHEN orders > 0 THEN gmv / orders END AS aov
        FROM days d LEFT JOIN sales USING (date) ORDER BY d.date
    """).arrow())
    assert table["date"].to_list() == expected["date"].to_list()
    assert table["orders"].to_list() == expected["orders"].to_list()
    assert table["buyers"].to_list() == expected["buyers"].to_list()
    assert table["gmv"].to_list() == pytest.approx(expected["gmv"].to_list())
    assert table["aov"].to_list() == pytest.approx(expected["aov"].to_list(), nan_ok=True)
    assert table["gmv"].sum() > 0 and table["net_revenue"].to_list() == pytest.approx(table["gmv"].to_list())
    for activity in ("dau", "wau", "mau", "sessions", "bounce_rate", "conversion_rate", "new_users"):
        assert table[activity].null_count() == table.height, f"{activity}: not available, not zero"


EVENTS_ONLY = ("orders", "order_items", "users", "reviews", "tickets", "ad_spend")


def test_an_events_only_shop_read_with_pushdown_gives_the_in_memory_numbers(full_folder, tmp_path_factory):
    """Issue 14, "the same with push-down": the events stay in the Parquet files (Polars'
    streaming engine), and the KPI exports, the weekly report, the alert check and the
    Overview's cards are those of the same shop in memory: activity measures computed,
    order measures not available."""
    from metrics.anomalies import AnomalySettings
    from shop_analytics.alerts.evaluate import evaluate_shop
    from shop_analytics.config import Settings
    from shop_analytics.reports.content import build_report

    folder = without(full_folder, EVENTS_ONLY, tmp_path_factory)
    pushed = load_shop(FolderSource(folder), pushdown="always", tz=TZ)
    memory = load_shop(FolderSource(folder), tz=TZ)
    assert pushed.pushed is not None and "events" not in pushed.tables and memory.pushed is None
    start, end = period(memory)
    for name in KPI_EXPORTS:
        request = ExportRequest(start, end, TZ, {})
        assert_frame_equal(build_export(name, pushed, request), build_export(name, memory, request), check_exact=False)
    kpis = build_export("kpis", pushed, ExportRequest(start, end, TZ, {}))
    assert kpis["dau"].min() > 0 and kpis["gmv"].null_count() == kpis.height

    report = {name: build_report(shop, kind="week", day=end, lang="en", settings=Settings()) for name, shop in (("pushed", pushed), ("memory", memory))}
    assert_frame_equal(report["pushed"].kpis, report["memory"].kpis, check_exact=False)
    headline = report["pushed"].kpis.filter(pl.col("kpi").is_in(["active_users", "gmv"]))
    assert headline.filter(pl.col("kpi") == "active_users")["current"].item() > 0
    assert headline.filter(pl.col("kpi") == "gmv")["current"].is_null().all()

    anomaly = AnomalySettings(threshold=0.0)
    findings = {name: evaluate_shop(shop, [], day=end, settings=Settings(), anomaly=anomaly).findings for name, shop in (("pushed", pushed), ("memory", memory))}
    assert [(finding.key, finding.value) for finding in findings["pushed"]] == [(finding.key, finding.value) for finding in findings["memory"]]
    assert findings["memory"] and all(finding.metric not in ("gmv", "orders") for finding in findings["memory"])

    cards = {}
    for mode in ("always", "never"):
        at = AppTest.from_file(APP, default_timeout=120)
        at.secrets["connections"] = {"shop": {"folder": str(folder), "pushdown": mode}}
        at.run()
        assert not at.exception and not at.error, at.exception
        cards[mode] = {metric.label: metric.value for metric in at.metric}
    assert cards["always"] == cards["never"] and cards["always"]["GMV"] == "–" and cards["always"]["Active users"] not in ("–", "0")
