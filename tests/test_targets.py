"""Targets (issue 19): kept in the alert database with who set them and when, refused in one
line when they are no target, paced with the metric functions (metrics.pacing, the period's
own distinct counts for buyers and conversion), and a target behind pace mailed once to a
real SMTP server on loopback by `alerts check`."""

import stat
from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest
from alert_servers import SmtpSink

from metrics.kpis import daily_kpis
from metrics.pacing import pace_against_target
from metrics.periods import period_summary
from metrics.registry import KPIS, format_value
from shop_analytics.alerts.check import run_check
from shop_analytics.alerts.config import alert_config
from shop_analytics.alerts.evaluate import TARGET, target_findings
from shop_analytics.alerts.store import AlertStore
from shop_analytics.config import Settings
from shop_analytics.i18n import format_day, format_number
from shop_analytics.targets import (
    Target,
    TargetError,
    TargetStore,
    checked_target,
    distinct_actuals,
    pacing_daily,
    stored_targets,
    target_paces,
    target_period,
)
from shop_analytics.views import activity_frames

TZ = "Asia/Shanghai"
SETTINGS = Settings()


def test_a_target_is_for_the_month_or_the_week_holding_its_day():
    assert target_period("month", date(2026, 2, 17)) == (date(2026, 2, 1), date(2026, 2, 28))
    assert target_period("week", date(2026, 11, 22)) == (date(2026, 11, 16), date(2026, 11, 22))  # a Sunday
    target = checked_target("gmv", "month", date(2026, 12, 31), 120_000)
    assert (target.period_start, target.period_end, target.value) == (date(2026, 12, 1), date(2026, 12, 31), 120_000.0)
    assert target.key == "target:gmv:month:2026-12-01"


@pytest.mark.parametrize(
    "kpi, kind, value, message",
    [
        ("dau", "month", 100.0, "targets are set on gmv, net_revenue, orders, buyers, aov, conversion_rate, new_users, sessions, not 'dau'"),
        ("gmv", "quarter", 100.0, "a target is for a month or a week, not 'quarter'"),
        ("gmv", "week", 0.0, "a target is a number above 0, not 0.0"),
        ("gmv", "week", float("nan"), "a target is a number above 0, not nan"),
        ("conversion_rate", "week", 5.0, "conversion_rate is a ratio: give its level as a share from 0 to 1 (0.05 for 5 %), not 5.0"),
    ],
)
def test_what_is_no_target_is_refused_in_one_line(kpi, kind, value, message):
    with pytest.raises(TargetError) as refused:
        checked_target(kpi, kind, date(2026, 11, 20), value)
    assert str(refused.value) == message


def test_targets_are_kept_replaced_and_deleted_with_who_and_when(tmp_path):
    path = tmp_path / "alerts.db"
    assert stored_targets(path) == [] and not path.exists()  # reading creates nothing
    store = TargetStore(AlertStore(path).engine)
    first = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
    month = store.set(checked_target("gmv", "month", date(2026, 11, 3), 100_000), set_by="lead", now=first)
    week = store.set(checked_target("orders", "week", date(2026, 11, 18), 400), set_by="lead", now=first)
    again = store.set(checked_target("gmv", "month", date(2026, 11, 30), 90_000), set_by="boss", now=first + timedelta(hours=1))
    assert again == month
    kept = {target.kpi: target for target in store.targets()}
    assert kept["gmv"] == Target("gmv", "month", date(2026, 11, 1), 90_000.0, "boss", first + timedelta(hours=1), month)
    assert kept["orders"] == Target("orders", "week", date(2026, 11, 16), 400.0, "lead", first, week)
    assert [target.kpi for target in store.targets(holding=date(2026, 11, 23))] == ["gmv"]  # the week ended on the 22nd
    assert [target.kpi for target in store.targets(holding=date(2026, 12, 1))] == []
    assert stored_targets(path) == store.targets()
    store.delete(week)
    assert [target.kpi for target in store.targets()] == ["gmv"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def _daily_from_literal() -> pl.DataFrame:
    """Eleven weeks of days: GMV 100 on weekdays and 300 at weekends, 2 orders a day, 10 active
    users and 1 buyer a day."""
    days = pl.date_range(date(2026, 9, 7), date(2026, 11, 22), eager=True)
    weekend = days.dt.weekday() >= 6
    return pl.DataFrame({
        "date": days, "gmv": pl.Series([300.0 if end else 100.0 for end in weekend]), "orders": [2] * len(days),
        "dau": [10] * len(days), "buyers": [1] * len(days),
    })


def test_paces_are_the_pacing_functions_on_the_daily_table():
    daily = pacing_daily(_daily_from_literal())
    targets = [checked_target("gmv", "month", date(2026, 11, 1), 6_000.0), checked_target("aov", "week", date(2026, 11, 16), 60.0)]
    paces = target_paces(daily, targets, as_of=date(2026, 11, 18), margin=0.1)
    for target, row in zip(targets, paces.iter_rows(named=True)):
        expected = pace_against_target(daily, kpi=target.kpi, target=target.value, start=target.period_start, end=target.period_end,
                                       as_of=date(2026, 11, 18), margin=0.1).row(0, named=True)
        assert row == {"period_kind": target.period_kind, **expected}
    # by hand: November 2026 (the 1st a Sunday) has 21 weekdays and 9 weekend days, a usual
    # total of 21 x 100 + 9 x 300 = 4,800, of which the 18 days to the 18th hold 13 x 100 +
    # 5 x 300 = 2,800: expected 6,000 x 2,800 / 4,800 = 3,500, actual 2,800, pace 0.8 < 0.9
    gmv = paces.row(0, named=True)
    assert gmv["expected_to_date"] == pytest.approx(3_500.0)
    assert gmv["actual_to_date"] == 2_800.0 and gmv["pace"] == pytest.approx(0.8) and gmv["behind"]
    # AOV is a level: GMV / orders pooled over the week's three days (Mon-Wed: 300 / 6)
    assert paces.row(1, named=True)["actual_to_date"] == pytest.approx(50.0)
    assert target_paces(daily, [], as_of=date(2026, 11, 18), margin=0.1).columns == ["period_kind", *pace_against_target(
        daily, kpi="gmv", target=1.0, start=date(2026, 11, 1), end=date(2026, 11, 30), as_of=date(2026, 11, 18)).columns]


def test_distinct_counts_pace_on_the_periods_own_value(small_shop):
    day = small_shop.date_span(TZ)[1] - timedelta(days=3)
    frames = activity_frames(small_shop)
    targets = [checked_target("buyers", "month", day, 60.0), checked_target("conversion_rate", "week", day, 0.2)]
    actuals = distinct_actuals(frames, targets, as_of=day, tz=TZ)
    for target in targets:
        summary = period_summary(*frames, start=target.period_start, end=day, tz=TZ)
        assert actuals[target.key] == summary[target.kpi]
    # distinct buyers of the month to date are fewer than the sum of each day's buyers
    first = target_period("month", day)[0]
    daily = daily_kpis(*frames, start=first, end=day, tz=TZ)
    assert actuals[targets[0].key] < daily["buyers"].sum()


def test_a_target_finding_carries_the_pace_and_the_projection():
    daily = pacing_daily(_daily_from_literal())
    behind, on_pace = checked_target("gmv", "month", date(2026, 11, 1), 6_000.0), checked_target("orders", "month", date(2026, 11, 1), 60.0)
    findings, values = target_findings(daily, [behind, on_pace], day=date(2026, 11, 18), margin=0.1)
    paces = target_paces(daily, [behind, on_pace], as_of=date(2026, 11, 18), margin=0.1)
    assert values == {behind.key: paces["pace"][0], on_pace.key: paces["pace"][1]}
    [finding] = findings
    assert (finding.key, finding.kind, finding.metric, finding.value, finding.reference) == (behind.key, TARGET, "gmv", paces["pace"][0], 0.9)
    assert finding.details["projected_end"] == paces["projected_end"][0] and finding.details["period_end"] == "2026-11-30"


def test_a_target_behind_pace_reaches_the_smtp_server_once(tmp_path, small_shop):
    first_day, last_day = small_shop.date_span(TZ)
    day = last_day - timedelta(days=2)
    start, end = target_period("month", day)
    daily = pacing_daily(daily_kpis(*activity_frames(small_shop), start=first_day, end=day, tz=TZ))
    gmv_so_far = daily.filter(pl.col("date") >= start)["gmv"].sum()
    behind = checked_target("gmv", "month", day, gmv_so_far * 50)  # far above what the month can reach
    on_pace = checked_target("orders", "month", day, 1.0)
    with SmtpSink() as sink:
        smtp = {"host": "127.0.0.1", "port": sink.port, "tls": "none", "from": "alerts@shop.example", "to": "lead@shop.example"}
        config = alert_config({"database": str(tmp_path / "alerts.db"), "smtp": smtp, "retry_seconds": 0}, SETTINGS)
        store = AlertStore(config.database)
        for target in (behind, on_pace):
            TargetStore(store.engine).set(target, set_by="lead")
        first = run_check(small_shop, store, config, SETTINGS, day=day)
        second = run_check(small_shop, store, config, SETTINGS, day=day)
        later = run_check(small_shop, store, config, SETTINGS, day=day + timedelta(days=1))
    target_alerts = [alert for alert in store.alerts() if alert["kind"] == TARGET]
    assert [alert["key"] for alert in target_alerts] == [behind.key]  # the orders target is on pace
    assert target_alerts[0]["id"] in first.new and not second.new and target_alerts[0]["id"] not in later.new
    mails = [mail for mail in sink.messages if "GMV target" in mail.get_content()]
    assert len(mails) == 1  # sent once, though it held on three checks
    pace = pace_against_target(daily, kpi="gmv", target=behind.value, start=start, end=end, as_of=day, margin=SETTINGS.target_margin).row(0, named=True)
    assert pace["behind"]

    def money(value: float) -> str:
        return format_value(KPIS["gmv"], value)

    line = (
        f"GMV target for {start:%Y-%m}: pace {format_number(pace['pace'], 'ratio', 'en')} after {format_day(day, 'en')}, "
        f"{money(pace['actual_to_date'])} against {money(pace['expected_to_date'])} expected by then; projected end "
        f"{money(pace['projected_end'])} ({money(pace['projected_low'])} – {money(pace['projected_high'])}) against the target {money(behind.value)}"
    )
    assert line in mails[0].get_content()
