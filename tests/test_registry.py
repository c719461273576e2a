"""KPI formatting as a person reads it on a card and in a table."""

import pytest

from metrics.registry import KPIS, format_value


@pytest.mark.parametrize(
    "name, value, compact, shown",
    [
        ("gmv", 535_957.123, True, "¥535.96K"),
        ("gmv", 535_957.123, False, "¥535,957.12"),
        ("gmv", 99_999.5, True, "¥100.00K"),
        ("gmv", 9_999.5, True, "¥9,999.50"),
        ("gmv", 12_345_678.0, True, "¥12.35M"),
        ("refunds", -150_000.0, True, "-¥150.00K"),
        ("net_revenue", -20.0, False, "-¥20.00"),
        ("orders", 2235, True, "2,235"),
        ("bounce_rate", 0.38341, True, "38.34%"),
        ("aov", None, True, "–"),
    ],
)
def test_values_are_formatted_by_unit(name, value, compact, shown):
    assert format_value(KPIS[name], value, compact=compact) == shown


def test_every_ratio_names_measures_that_exist():
    for kpi in KPIS.values():
        if kpi.is_ratio:
            assert kpi.numerator in KPIS and kpi.denominator in KPIS
