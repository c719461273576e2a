"""[settings] gmv_basis (口径, issue 19): refused in one line when unknown, applied once to the
orders as the configured shop is opened, so every KPI on orders counts under it, and named in
the KPIs' help."""

from datetime import timedelta

import polars as pl
import pytest

from connectors.sql import sqlite_url
from metrics.kpis import daily_kpis
from metrics.registry import KPIS, kpi_help
from shop_analytics.config import ConfigError, config_from_mapping
from shop_analytics.opening import open_shop
from shop_analytics.views import activity_frames

TZ = "Asia/Shanghai"


def test_an_unknown_basis_is_refused_in_one_line():
    with pytest.raises(ConfigError) as refused:
        config_from_mapping({"settings": {"gmv_basis": "valid_orders+gross"}})
    assert str(refused.value) == (
        "[settings] gmv_basis = 'valid_orders+gross': unknown GMV basis 'valid_orders, gross': use valid_orders or any of "
        "include_cancelled, exclude_refunded, net_of_discounts, include_shipping joined by '+'"
    )
    assert config_from_mapping({"settings": {"gmv_basis": "net_of_discounts+exclude_refunded"}}).settings.gmv_basis == "exclude_refunded+net_of_discounts"


def test_the_configured_basis_is_what_every_kpi_on_orders_counts(small_shop_db, small_shop):
    config = config_from_mapping({"connections": {"shop": {"url": sqlite_url(small_shop_db)}}, "settings": {"gmv_basis": "exclude_refunded"}})
    shop = open_shop(config)
    _, last = shop.date_span(TZ)
    start = last - timedelta(days=60)
    counted = daily_kpis(*activity_frames(shop), start=start, end=last, tz=TZ)
    whole = daily_kpis(*activity_frames(small_shop), start=start, end=last, tz=TZ)
    refunded = small_shop.orders.filter(pl.col("status") == "refunded")
    assert refunded.height > 0
    lower = pl.lit(start).cast(pl.Date)
    refunded_gmv = refunded.filter(pl.col("created_at").dt.convert_time_zone(TZ).dt.date().is_between(lower, last))["amount"].sum()
    assert counted["gmv"].sum() == pytest.approx(whole["gmv"].sum() - refunded_gmv)
    assert counted["dau"].to_list() == whole["dau"].to_list()  # events are not orders: untouched
    assert kpi_help(KPIS["gmv"], "en", config.settings.gmv_basis) == "sum of the amount of valid orders. GMV basis (口径): refunded orders excluded."
    assert kpi_help(KPIS["dau"], "zh", config.settings.gmv_basis) == "当天至少有一次行为的用户数。"
