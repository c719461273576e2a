"""A shop read with push-down (`pushdown = "always"`: the events stay in the database) gets
the weekly report and the alert check a shop in memory gets: the same KPIs, trends, channel
table, campaign before/after, alerts with their contributing channels and rule breaches,
numbers for numbers: each reads the activity events (a user's first and last event of each
session day), which the push-down engine gives."""

from datetime import date, timedelta

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from connectors import open_source
from metrics.anomalies import AnomalySettings
from shop_analytics.alerts.evaluate import evaluate_shop
from shop_analytics.alerts.rules import AlertRule
from shop_analytics.config import Settings
from shop_analytics.loading import load_shop
from shop_analytics.reports.content import build_report

TZ = "Asia/Shanghai"
WEEK_DAY = date(2026, 11, 18)


@pytest.fixture(scope="module")
def pushed_shop(small_shop_db):
    shop = load_shop(open_source(small_shop_db), pushdown="always", tz=TZ)
    assert shop.pushed is not None and "events" not in shop.tables
    return shop


def test_the_weekly_report_with_pushdown_has_the_in_memory_numbers(small_shop, pushed_shop):
    # every move in the bad direction alerts at threshold 0: the alerts' top channels are compared
    settings, anomaly = Settings(), AnomalySettings(threshold=0.0)
    pushed = build_report(pushed_shop, kind="week", day=WEEK_DAY, lang="en", settings=settings, anomaly=anomaly)
    memory = build_report(small_shop, kind="week", day=WEEK_DAY, lang="en", settings=settings, anomaly=anomaly)
    for part in ("kpis", "daily", "channels", "campaigns", "alerts", "retention", "ltv"):
        assert_frame_equal(getattr(pushed, part), getattr(memory, part), check_exact=False, rel_tol=1e-9)
    assert memory.kpis.filter(pl.col("kpi") == "active_users")["current"].item() > 0
    assert memory.channels["sessions"].sum() > 0 and memory.campaigns.height > 0
    assert memory.alerts["top_channel"].drop_nulls().len() > 0
    assert pushed.decomposition["channels"].equals(memory.decomposition["channels"])


def test_the_alert_check_with_pushdown_finds_the_in_memory_alerts(small_shop, pushed_shop):
    _, last = small_shop.date_span(TZ)
    rules = [AlertRule("sessions", "<", 10_000, id=1), AlertRule("gmv", ">", 0, channels=("email",), id=2)]
    # every move in the bad direction alerts at threshold 0: contributors on every additive KPI
    anomaly = AnomalySettings(threshold=0.0)
    found = {
        name: [finding for day in (last - timedelta(days=back) for back in range(4))
               for finding in evaluate_shop(shop, rules, day=day, settings=Settings(), anomaly=anomaly).findings]
        for name, shop in (("pushed", pushed_shop), ("memory", small_shop))
    }
    assert [finding.key for finding in found["pushed"]] == [finding.key for finding in found["memory"]]
    assert any(finding.key.startswith("rule:1") for finding in found["memory"])
    assert any(finding.details.get("contributors") for finding in found["memory"] if finding.kind == "anomaly")
    for pushed, memory in zip(found["pushed"], found["memory"]):
        assert pushed.value == pytest.approx(memory.value)
        # sums taken in another order differ in the last bit: numbers compared to 1e-12
        contributors = memory.details.pop("contributors", [])
        assert pushed.details.pop("contributors", []) == [pytest.approx(leader) for leader in contributors]
        assert pushed.details == memory.details


@pytest.mark.parametrize("name", ["funnel", "funnel-drop-offs"])
def test_the_funnel_exports_with_pushdown_are_the_in_memory_ones(small_shop, pushed_shop, name):
    """`export funnel` and `export funnel-drop-offs` read the events the engine selects for the
    funnel (views.funnel_events), as the Funnel page does, instead of asking for every event."""
    from shop_analytics.exports import ExportRequest, build_export

    _, last = small_shop.date_span(TZ)
    request = ExportRequest(last - timedelta(days=29), last, TZ, {"steps": "product_view,add_to_cart,checkout,purchase"})
    pushed, memory = build_export(name, pushed_shop, request), build_export(name, small_shop, request)
    assert_frame_equal(pushed, memory)
    assert memory.height > 0
