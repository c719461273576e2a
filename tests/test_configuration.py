"""One configuration, one way in: a deployment configured once in secrets.toml (a folder shop,
another zone, a 20-minute session gap, "$", margin 0.4, CPC target 2, anomaly threshold 2.5
over 14 days, a holiday) gets the same numbers and the same alert verdicts for the same days
from the overview, `export kpis`, `export channels`, `export anomalies`, the weekly report
and `alerts check`, with no flag repeating the configuration."""

import io
import json
import subprocess
import sys
import tomllib
from datetime import date, timedelta
from pathlib import Path

import openpyxl
import polars as pl
import pytest
from polars.testing import assert_frame_equal
from streamlit.testing.v1 import AppTest

from connectors import FolderSource, open_source
from metrics.anomalies import AnomalySettings, alerts_of, anomaly_verdicts
from metrics.channels import channel_table
from metrics.kpis import daily_kpis
from shop_analytics.alerts.store import AlertStore
from shop_analytics.config import AppConfig, ConfigError, config_from_mapping, load_config
from shop_analytics.loading import load_shop
from shop_analytics.ui.filters import DATES_KEY

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
ZONE = "America/New_York"
GAP = timedelta(minutes=20)
ANOMALY = dict(window=14, threshold=2.5)


def configured_secrets(folder: Path, alerts_db: Path, holiday: date) -> str:
    return f"""# a deployment's secrets, written by hand
[connections.shop]
folder = "{folder}"

[settings]
time_zone = "{ZONE}"
session_gap_minutes = 20
currency = "$"
default_margin = 0.4
cpc_target = 2.0

[alerts]
database = "{alerts_db}"
anomaly_window_days = 14
anomaly_threshold = 2.5
holidays = ["{holiday}"]
"""


@pytest.fixture(scope="module")
def deployment(small_shop_db, tmp_path_factory):
    """The small shop as a folder of Parquet tables, configured once; the expected tables
    computed by the metric functions with the same settings."""
    root = tmp_path_factory.mktemp("deployment")
    folder = root / "shop"
    folder.mkdir()
    database = open_source(small_shop_db)
    for name in database.table_names():
        database.read_table(name).write_parquet(folder / f"{name}.parquet")
    shop = load_shop(FolderSource(folder), session_gap=GAP, tz=ZONE)
    first, last = shop.date_span(ZONE)
    daily = daily_kpis(shop.events, shop.sessions, shop.orders, shop.users, start=first, end=last, tz=ZONE)
    probe = anomaly_verdicts(daily, shop.tables.get("campaigns"), AnomalySettings(**ANOMALY))
    bad_days = alerts_of(probe).filter(pl.col("date") < last)["date"]
    assert bad_days.len() > 0, "the small shop has alerts under threshold 2.5"
    day = bad_days.max()
    holiday = day - timedelta(days=2)
    settings = AnomalySettings(**ANOMALY, holidays=(holiday,))
    verdicts = anomaly_verdicts(daily, shop.tables.get("campaigns"), settings)
    secrets = root / "secrets.toml"
    secrets.write_text(configured_secrets(folder, root / "alerts.db", holiday))
    return {"root": root, "secrets": secrets, "shop": shop, "daily": daily, "verdicts": verdicts, "day": day, "holiday": holiday, "first": first}


def cli(*arguments: str, cwd: Path) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, str(ROOT / "cli.py"), *arguments], check=False, cwd=cwd, capture_output=True, timeout=300)
    assert result.returncode == 0, result.stderr.decode()
    return result


def test_the_configuration_reaches_every_entry_point_with_the_same_numbers(deployment):
    shop, day, root = deployment["shop"], deployment["day"], deployment["root"]
    start, end = day - timedelta(days=6), day
    secrets = ("--secrets", str(deployment["secrets"]))
    period = ("--from", str(start), "--to", str(end))

    # export kpis: the daily table in New York days with 20-minute sessions
    exported = pl.read_json(io.BytesIO(cli("export", "kpis", *period, "--format", "json", *secrets, cwd=root).stdout))
    expected = deployment["daily"].filter(pl.col("date").is_between(start, end))
    assert_frame_equal(exported.with_columns(pl.col("date").str.to_date()), expected, check_dtypes=False)

    # export channels: margin 0.4 and the CPC target 2 of [settings]
    channels = pl.read_parquet(io.BytesIO(cli("export", "channels", *period, "--format", "parquet", *secrets, cwd=root).stdout))
    optional = {name: shop.tables.get(name) for name in ("ad_spend", "order_items", "products")}
    expected_channels = channel_table(
        shop.events, shop.sessions, shop.orders, shop.users, optional["ad_spend"], optional["order_items"], optional["products"],
        start=start, end=end, tz=ZONE, default_margin=0.4, cpc_target=2.0, roi_target=0.05,
    )
    assert_frame_equal(channels, expected_channels)
    default_margin = channel_table(
        shop.events, shop.sessions, shop.orders, shop.users, optional["ad_spend"], optional["order_items"], optional["products"],
        start=start, end=end, tz=ZONE,
    )
    assert not channels["cpc_above_target"].equals(default_margin["cpc_above_target"]) or not channels["roi"].equals(default_margin["roi"])

    # export anomalies: window 14, threshold 2.5, the holiday compared with campaign days
    anomalies = pl.read_parquet(io.BytesIO(cli("export", "anomalies", *period, "--format", "parquet", *secrets, cwd=root).stdout))
    assert_frame_equal(anomalies, deployment["verdicts"].filter(pl.col("date").is_between(start, end)))
    holiday_rows = anomalies.filter(pl.col("date") == deployment["holiday"])
    assert set(holiday_rows["compared_with"].drop_nulls()) <= {"past campaign days"} and holiday_rows.height

    # the weekly report: its daily KPIs and its alerts, read back from the workbook
    path = Path(cli("report", "--date", str(day), "--format", "xlsx", "--out", str(root / "reports"), *secrets, cwd=root).stdout.decode().strip())
    workbook = openpyxl.load_workbook(path)
    week_start = day - timedelta(days=day.weekday())
    expected_alerts = alerts_of(deployment["verdicts"]).filter(pl.col("date").is_between(week_start, week_start + timedelta(days=6)))
    alert_rows = list(workbook["Alerts"].iter_rows(min_row=2, values_only=True)) if "Alerts" in workbook.sheetnames else []
    assert len(alert_rows) == expected_alerts.height
    daily_sheet = workbook["Daily KPIs"]
    headers = [cell.value for cell in daily_sheet[1]]
    gmv_column = headers.index("GMV")
    report_gmv = {row[0].date() if hasattr(row[0], "date") else row[0]: row[gmv_column] for row in daily_sheet.iter_rows(min_row=2, values_only=True)}
    week = deployment["daily"].filter(pl.col("date").is_between(week_start, min(week_start + timedelta(days=6), deployment["daily"]["date"].max())))
    assert report_gmv == pytest.approx(dict(zip(week["date"], week["gmv"])))

    # alerts check: the day's anomaly alerts are the pipeline's
    cli("alerts", "check", "--date", str(day), *secrets, cwd=root)
    store = AlertStore(root / "alerts.db")
    stored = {alert["metric"] for alert in store.alerts(open_only=True) if alert["kind"] == "anomaly" and alert["last_seen_day"] == day}
    assert stored == set(alerts_of(deployment["verdicts"]).filter(pl.col("date") == day)["kpi"])


def test_the_overview_shows_the_same_numbers_and_alerts(deployment):
    day = deployment["day"]
    at = AppTest.from_file(APP, default_timeout=120)
    at.secrets.update(tomllib.loads(deployment["secrets"].read_text()))
    at.run()
    at.date_input(key=DATES_KEY).set_value((day - timedelta(days=29), day)).run()
    assert not at.exception and not at.error
    shown = pl.from_pandas(at.dataframe[0].value)
    expected = deployment["daily"].filter(pl.col("date").is_between(day - timedelta(days=29), day))
    assert shown["gmv"].to_list() == pytest.approx(expected["gmv"].to_list())
    assert shown["sessions"].to_list() == expected["sessions"].to_list()
    recent = alerts_of(deployment["verdicts"]).filter(pl.col("date") > day - timedelta(days=7))
    lines = [block.value for block in at.markdown if "robust z" in block.value]
    assert len(lines) == recent.height
    assert any(metric.value.startswith("$") for metric in at.metric)


def test_a_wrong_key_is_named_with_its_value_and_fix(tmp_path):
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('[settings]\nsession_gap_minutes = -5\ntime_zone = "Mars/Olympus"\n[connections.shop]\nfoldr = "/srv"\n')
    with pytest.raises(ConfigError) as problem:
        load_config(secrets)
    message = str(problem.value)
    assert "[settings] time_zone = 'Mars/Olympus': unknown time zone 'Mars/Olympus': use an IANA name like Asia/Shanghai" in message
    assert "[settings] session_gap_minutes = -5: Input should be greater than 0" in message
    assert "[connections.shop] foldr is not a key of this table" in message
    result = subprocess.run([sys.executable, str(ROOT / "cli.py"), "export", "kpis", "--from", "2026-01-01", "--to", "2026-01-02", "--secrets", str(secrets)],
                            check=False, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1 and "foldr" in result.stderr


def test_secrets_never_reach_the_configuration_repr_or_its_errors():
    config = config_from_mapping({"connections": {"shop": {"url": "postgresql+psycopg://u@h/db", "password": "hunter2-secret"}},
                                  "alerts": {"webhooks": [{"kind": "wecom", "url": "https://qyapi.example/send?key=KEY-SECRET"}]}})
    assert "hunter2" not in repr(config) and "KEY-SECRET" not in repr(config)
    with pytest.raises(ConfigError) as problem:
        config_from_mapping({"alerts": {"webhooks": [{"kind": "slack", "url": "ftp://KEY-SECRET"}]}})
    assert "KEY-SECRET" not in str(problem.value)


SETTING_CHANGES = {
    ("settings", "time_zone"): "Europe/Berlin",
    ("settings", "currency"): "€",
    ("settings", "session_gap_minutes"): 45,
    ("settings", "cpc_target"): 3.0,
    ("settings", "roi_target"): 0.2,
    ("settings", "default_margin"): 0.5,
    ("settings", "language"): "zh",
    ("settings", "ltv_horizon_days"): 180,
    ("settings", "attribution_lookback_days"): 7,
    ("settings", "target_margin"): 0.2,
    ("settings", "gmv_basis"): "exclude_refunded",
    ("alerts", "anomaly_window_days"): 21,
    ("alerts", "anomaly_threshold"): 4.0,
    ("alerts", "holidays"): ["2026-10-01"],
    ("connections.shop", "extract_ttl_minutes"): 5,
}


@pytest.mark.parametrize(("where", "value"), list(SETTING_CHANGES.items()), ids=[".".join(key) for key in SETTING_CHANGES])
def test_every_setting_is_part_of_the_cache_key(where, value):
    """Every cached result of the dashboard is keyed by the configuration's fingerprint
    (shop_analytics.ui.data.source_key), so changing any one setting is a new key; the loaded
    shop's own key moves only with what the load reads (source, gap, zone, GMV basis)."""
    section, key = where
    base = {"connections": {"shop": {"folder": "/srv/shop"}}}
    changed = json.loads(json.dumps(base))
    target = changed["connections"]["shop"] if section == "connections.shop" else changed.setdefault(section, {})
    target[key] = value
    before, after = config_from_mapping(base), config_from_mapping(changed)
    assert before.fingerprint != after.fingerprint
    assert hash(before) != hash(after)
    reloads = key in ("time_zone", "session_gap_minutes", "extract_ttl_minutes", "gmv_basis")
    assert (before.shop_fingerprint != after.shop_fingerprint) == reloads


def test_every_cached_result_takes_the_configuration_key_first():
    """A cached function of the dashboard's edge that did not take the key would serve a
    result computed under another configuration for the cache's hour."""
    import inspect

    from shop_analytics.ui import analysis_data, data, funnel_choices, model_data, report_data

    cached = [
        (module.__name__, name, function)
        for module in (data, analysis_data, model_data, funnel_choices, report_data)
        for name, function in vars(module).items()
        # results (st.cache_data); the resources (st.cache_resource) are keyed by what they hold
        if type(getattr(function, "_info", None)).__name__ == "CachedDataFuncInfo"
    ]
    assert len(cached) > 20
    for module, name, function in cached:
        first = next(iter(inspect.signature(function.__wrapped__ if hasattr(function, "__wrapped__") else function).parameters))
        assert first in ("key", "source", "shop_fingerprint"), f"{module}.{name} is cached without the configuration key"


def test_a_changed_target_and_gap_change_the_pages_on_the_next_run(small_shop_db):
    """The same session, the secrets edited between two runs: the channel table's CPC flags
    follow the new target and the overview's sessions the new gap, without a restart."""
    from connectors.sql import sqlite_url

    at = AppTest.from_file(APP, default_timeout=120)
    at.secrets["connections"] = {"shop": {"url": sqlite_url(small_shop_db)}}
    at.secrets["settings"] = {"cpc_target": 0.01}
    at.switch_page("pages/channels.py").run()
    strict = pl.from_pandas(at.dataframe[0].value)
    at.secrets["settings"] = {"cpc_target": 1000.0}
    at.run()
    lenient = pl.from_pandas(at.dataframe[0].value)
    paid = strict["cpc"].is_not_null()
    assert paid.any() and strict.filter(paid)["cpc_above_target"].all()
    assert not lenient.filter(paid)["cpc_above_target"].any()

    at.switch_page("pages/overview.py").run()
    sessions_30 = pl.from_pandas(at.dataframe[0].value)["sessions"].sum()
    at.secrets["settings"] = {"cpc_target": 1000.0, "session_gap_minutes": 5}
    at.run()
    sessions_5 = pl.from_pandas(at.dataframe[0].value)["sessions"].sum()
    assert sessions_5 > sessions_30


def test_the_example_configuration_is_valid():
    example = tomllib.loads((ROOT / ".streamlit" / "secrets.toml.example").read_text())
    config = config_from_mapping(example)
    assert isinstance(config, AppConfig) and config.settings.time_zone == "Asia/Shanghai"


def test_saving_a_connection_on_the_data_sources_page_keeps_every_other_byte(deployment, tmp_path, monkeypatch):
    """The Data sources page writes `[connections.shop]` into a secrets.toml that holds
    root-level keys, comments and other sections: every byte outside that table is kept."""
    import shop_analytics.ui.sources

    before_shop = '# root-level secrets come first\nserver_token = "root-level"  # kept at the root\n\n'
    after_shop = (
        '# the deployment\'s settings\n[settings]\ntime_zone = "UTC"   # trailing comment\n\n'
        '[alerts]\n# where alerts live\ndatabase = "alerts.db"\n\n[[alerts.webhooks]]\nkind = "slack"\nurl = "https://hooks.example/T"\n'
    )
    old_shop = '[connections.shop]\n# the old source\nurl = "sqlite:///old.db"\n\n'
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(before_shop + old_shop + after_shop)
    monkeypatch.setattr(shop_analytics.ui.sources, "SECRETS_PATH", secrets)
    at = AppTest.from_file(APP, default_timeout=120)
    at.secrets.update(tomllib.loads(deployment["secrets"].read_text()))
    at.run()
    at.switch_page("pages/data_source.py").run()
    at.radio(key="source_kind").set_value("folder").run()
    folder = deployment["root"] / "shop"
    at.text_input(key="source_path").input(str(folder))
    at.button(key="source_save").click().run()
    assert not at.exception
    written = secrets.read_text()
    assert written.startswith(before_shop) and written.endswith(after_shop)
    assert tomllib.loads(written)["connections"]["shop"] == {"folder": str(folder)}
    assert secrets.stat().st_mode & 0o777 == 0o600
