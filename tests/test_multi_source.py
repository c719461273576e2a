"""One shop from two sources (issue 16): orders, items, products and users from a Magento 2
database (its preset, on tables built from Magento's own schema) and events from a GA4
BigQuery export folder (the tracker preset), configured once in `[connections.shop]` with
`[connections.shop.events]`. The overview, funnel and channels (AppTest) and `export kpis`
(CLI) show the numbers of the metric functions over the joined shop."""

import io
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
import sqlalchemy as sa
from fixtures.magento2_shop import generated_shop, metadata
from platform_db import write_declared
from streamlit.testing.v1 import AppTest

from connectors import CombinedSource
from metrics.kpis import daily_kpis
from shop_analytics.config import config_from_mapping
from shop_analytics.opening import configured_source, extract_for, open_shop
from shop_analytics.ui.filters import DATES_KEY
from shop_analytics.views import buyers_in_events

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
GA4 = ROOT / "tests" / "fixtures" / "ga4"


@pytest.fixture(scope="module")
def secrets(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("magento")
    engine = sa.create_engine(f"sqlite:///{folder / 'magento.db'}")
    write_declared(engine, metadata, generated_shop())
    engine.dispose()
    return {
        "connections": {"shop": {
            "url": f"sqlite:///{folder / 'magento.db'}", "preset": "magento2",
            "events": {"folder": str(GA4), "preset": "ga4"}, "extract_folder": str(folder / "extract"),
        }},
        "settings": {"time_zone": "UTC"},
    }


def test_each_table_comes_from_its_own_source_with_one_id_space(secrets):
    config = config_from_mapping(secrets)
    source = configured_source(config)
    assert isinstance(source, CombinedSource)
    assert source.source_of("events").description != source.source_of("orders").description
    # the tracker's export is converted once, into the shop's extract, which the loads read
    extract = extract_for(config)
    assert extract is not None and extract.folder == Path(secrets["connections"]["shop"]["extract_folder"])
    shop = open_shop(config)
    assert extract.manifest().tables["events"].rows == shop.events.height
    assert extract.manifest().tables["orders"].rows == shop.orders.height
    assert {"events", "orders", "order_items", "products", "users"} <= set(shop.tables)
    assert shop.events["user_id"].dtype == shop.orders["user_id"].dtype == pl.String
    # the GA4 export's visitors are anonymous users of the events, not registered users
    assert shop.users.filter(pl.col("user_id").is_in(shop.events["user_id"].implode())).height == 0
    share = buyers_in_events(shop)
    assert share is not None and 0 <= share <= 1
    assert "events from" in shop.description


def test_the_overview_funnel_and_channels_of_the_joined_shop(secrets, tmp_path):
    config = config_from_mapping(secrets)
    shop = open_shop(config)
    first, last = shop.date_span("UTC")
    expected = daily_kpis(shop.activity, shop.sessions, shop.orders, shop.users, start=first, end=last, tz="UTC")
    at = AppTest.from_file(APP, default_timeout=120)
    at.secrets.update(secrets)
    at.run()
    at.date_input(key=DATES_KEY).set_value((first, last)).run()
    assert not at.exception and not at.error
    shown = pl.from_pandas(at.dataframe[0].value)
    assert shown["sessions"].to_list() == expected["sessions"].to_list()
    assert shown["gmv"].to_list() == pytest.approx(expected["gmv"].to_list())
    assert shown["dau"].to_list() == expected["dau"].to_list()
    for page in ("funnel", "channels", "data_source"):
        at.switch_page(f"pages/{page}.py").run()
        assert not at.exception, (page, [exception.value for exception in at.exception])
    assert any("of the valid orders have a buyer found in the events" in caption.value for caption in at.caption)

    path = tmp_path / "secrets.toml"
    path.write_text(
        f'[connections.shop]\nurl = "{secrets["connections"]["shop"]["url"]}"\npreset = "magento2"\n'
        f'extract_folder = "{secrets["connections"]["shop"]["extract_folder"]}"\n'
        f'[connections.shop.events]\nfolder = "{GA4}"\npreset = "ga4"\n[settings]\ntime_zone = "UTC"\n'
    )
    result = subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), "export", "kpis", "--from", str(first), "--to", str(last), "--format", "parquet", "--secrets", str(path)],
        check=False, capture_output=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr.decode()
    exported = pl.read_parquet(io.BytesIO(result.stdout))
    assert exported["sessions"].to_list() == expected["sessions"].to_list()
    assert exported["gmv"].to_list() == pytest.approx(expected["gmv"].to_list())


def test_the_data_sources_page_shows_the_extracted_events_without_reading_the_export_again(secrets, tmp_path):
    """The events' preview and the quality report read the loaded shop's canonical events:
    once the export is extracted, a file of it that stopped being JSON (a copy cut short)
    does not reach the page, which a new conversion of the whole export would have raised."""
    export = tmp_path / "ga4"
    shutil.copytree(GA4, export)
    own = {**secrets["connections"]["shop"], "events": {"folder": str(export), "preset": "ga4"}, "extract_folder": str(tmp_path / "extract")}
    deployment = {**secrets, "connections": {"shop": own}}
    shop = open_shop(config_from_mapping(deployment))
    with (export / "events_20260301.jsonl").open("a") as file:
        file.write('{"event_name": "page_view", "event_params": [{"key"\n')
    at = AppTest.from_file(APP, default_timeout=120)
    at.secrets.update(deployment)
    at.run()
    at.switch_page("pages/data_source.py").run()
    at.selectbox(key="preview_table").set_value("events").run()
    at.toggle(key="quality_run").set_value(True).run()
    assert not at.exception and not at.error, [element.value for element in (*at.exception, *at.error)]
    shown = next(frame for frame in (pl.from_pandas(element.value) for element in at.dataframe) if "event_type" in frame.columns)
    expected = shop.events.head(len(shown))
    assert len(shown) == 20
    assert shown["event_type"].to_list() == expected["event_type"].cast(pl.String).to_list()
    assert shown["user_id"].to_list() == expected["user_id"].to_list()
