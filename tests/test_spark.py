"""Spark SQL in local mode runs the same push-down queries (compiled for PostgreSQL by
SQLAlchemy, transpiled for Spark by sqlglot) over the small sample shop as Parquet, and every
metric computed from its rows equals the in-memory one.

Needs pyspark, sqlglot and a Java runtime: without them the tests skip with the reason, and
with CI=true that is a failure instead (requirements.txt installs pyspark and sqlglot; the
machine has Java 17).
"""

import importlib.util
import os
import shutil

import polars as pl
import pytest
from test_pushdown_sql import (
    EDGE_EVENTS,
    EDGE_USERS,
    EDGE_ZONES,
    FUNNEL_IDS,
    FUNNELS,
    SEGMENT_IDS,
    SEGMENTS,
    TZ,
    check_activity_metrics,
    check_choices,
    check_daily_active_users,
    check_funnel,
    check_order_days,
    check_pushed_load,
    check_session_edges,
)

from connectors import FolderSource, open_source, source_from_settings
from connectors.schema import TABLES
from shop_analytics.loading import load_shop
from shop_analytics.pushdown import engine_for, pushdown_options

# pyspark checks pandas' version when it hands results to Arrow; pandas is not used here
pytestmark = pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning")


def missing_spark() -> str | None:
    """Why Spark cannot run here, or None."""
    absent = [name for name in ("pyspark", "sqlglot") if importlib.util.find_spec(name) is None]
    if absent:
        return f"{' and '.join(absent)} not installed (pip install -r requirements.txt)"
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        return "no Java runtime (apt-get install openjdk-17-jre-headless)"
    return None


@pytest.fixture(scope="module")
def spark():
    reason = missing_spark()
    if reason:
        if os.environ.get("CI", "").lower() in ("true", "1"):
            pytest.fail(f"Spark cannot run: {reason}")
        pytest.skip(f"Spark cannot run: {reason}")
    from shop_analytics.pushdown.spark import spark_session

    session = spark_session("local[2]")
    yield session
    session.stop()


def parquet_folder(tables: dict[str, pl.DataFrame], folder):
    for name, frame in tables.items():
        frame.write_parquet(folder / f"{name}.parquet")
    return folder


@pytest.fixture(scope="module")
def shop_folder(small_shop_db, tmp_path_factory):
    """The small sample shop as canonical Parquet files."""
    source = open_source(small_shop_db)
    return parquet_folder({name: source.read_table(name) for name in TABLES if name in source.table_names()}, tmp_path_factory.mktemp("spark-shop"))


@pytest.fixture(scope="module")
def spark_shop(spark, shop_folder):
    from shop_analytics.pushdown.spark import SparkPushdown

    return load_shop(FolderSource(shop_folder), pushdown=SparkPushdown(spark, shop_folder), tz=TZ)


def test_spark_keeps_the_events_and_gives_the_derived_sessions(spark_shop, small_shop):
    assert spark_shop.pushed.engine.description.startswith("Spark SQL (local[2]) over ")
    check_pushed_load(spark_shop, small_shop)


@pytest.mark.parametrize("segment", SEGMENTS, ids=SEGMENT_IDS)
def test_every_activity_metric_from_spark_equals_the_in_memory_one(spark_shop, small_shop, segment):
    check_activity_metrics(spark_shop, small_shop, segment)


@pytest.mark.parametrize("spec", FUNNELS, ids=FUNNEL_IDS)
def test_a_funnel_from_spark_equals_the_funnel_from_every_event(spark_shop, small_shop, spec):
    check_funnel(spark_shop, small_shop, spec)


def test_spark_daily_active_users_and_order_days(spark_shop, small_shop):
    check_daily_active_users(spark_shop.pushed.engine, small_shop)
    check_order_days(spark_shop.pushed.engine, small_shop)


def test_the_funnel_pickers_from_spark_are_the_in_memory_ones(spark_shop, small_shop):
    check_choices(spark_shop.pushed.engine, small_shop)


def test_the_connection_settings_load_a_shop_pushed_down_to_spark(spark, shop_folder, small_shop):
    from shop_analytics.pushdown.spark import SparkPushdown

    connection = {"folder": str(shop_folder), "pushdown": "always", "pushdown_engine": "spark", "spark_master": "local[2]"}
    options = pushdown_options(connection)
    shop = load_shop(source_from_settings(connection), tz=TZ, **options)
    assert isinstance(shop.pushed.engine, SparkPushdown) and shop.pushed.engine.folder == shop_folder
    assert shop.pushed.engine.description == f"Spark SQL (local[2]) over {shop_folder}"
    check_pushed_load(shop, small_shop)
    check_funnel(shop, small_shop, FUNNELS[1])


def test_auto_with_spark_set_keeps_a_shop_under_the_threshold_in_memory(shop_folder):
    # counted from the Parquet metadata before any Spark session is asked for: 60,000 is not above 60,000
    assert engine_for(FolderSource(shop_folder), "auto", 60_000, engine="spark") is None


@pytest.mark.parametrize("tz", EDGE_ZONES)
def test_spark_session_edges_and_business_days(spark, tmp_path, tz):
    from shop_analytics.pushdown.spark import SparkPushdown

    check_session_edges(SparkPushdown(spark, parquet_folder({"users": EDGE_USERS, "events": EDGE_EVENTS}, tmp_path)), tz)


def test_the_spark_sql_is_the_postgresql_sql_transpiled(spark, tmp_path):
    from datetime import timedelta

    from shop_analytics.pushdown import queries
    from shop_analytics.pushdown.spark import SparkPushdown, spark_sql

    engine = SparkPushdown(spark, parquet_folder({"events": EDGE_EVENTS}, tmp_path))
    sql = spark_sql(queries.session_days(engine.table("events"), queries.Dialect("postgresql", TZ), gap=timedelta(minutes=30)))
    assert "CAST((FROM_UTC_TIMESTAMP(numbered.event_time, 'Asia/Shanghai')) AS DATE)" in sql
    assert "+ 1800 * INTERVAL '1' SECOND" in sql


def test_the_app_configured_for_spark_shows_the_in_memory_numbers(spark, shop_folder, small_shop):
    """[connections.shop] with pushdown_engine = "spark" reaches the app: the overview's cards
    and tables and the Funnel page's tables are the in-memory shop's."""
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    def opened(connection: dict, page: str) -> AppTest:
        at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "app.py"), default_timeout=180)
        at.secrets["connections"] = {"shop": connection}
        at.run()
        return at if page == "overview" else at.switch_page(f"pages/{page}.py").run()

    folder = {"folder": str(shop_folder)}
    spark_settings = folder | {"pushdown": "always", "pushdown_engine": "spark", "spark_master": "local[2]"}
    for page in ("overview", "funnel"):
        pushed, memory = opened(spark_settings, page), opened(folder | {"pushdown": "never"}, page)
        assert not pushed.exception and not memory.exception, (pushed.exception, memory.exception)
        assert [(card.label, card.value) for card in pushed.metric] == [(card.label, card.value) for card in memory.metric]
        in_memory = [frame.value for frame in memory.dataframe]
        if page == "overview":
            # GMV by category reads every event's product: with push-down the section says so
            assert any("By category needs" in caption.value for caption in pushed.caption)
            in_memory = [frame for frame in in_memory if list(frame.columns[:2]) != ["category", "factor"]]
        assert len(pushed.dataframe) == len(in_memory) > 0
        assert all(shown.value.equals(expected) for shown, expected in zip(pushed.dataframe, in_memory))
    assert len(memory.dataframe) and memory.dataframe[0].value["users"].iloc[0] > 0
    # and the events stayed with Spark: the Data sources page says who keeps them
    data_source = opened(spark_settings, "data_source")
    assert any(f"Spark SQL (local[2]) over {shop_folder}" in info.value for info in data_source.info)
