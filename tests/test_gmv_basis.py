"""The GMV basis (口径, SPEC section 3 Definitions): the orders each basis counts and the money
it counts, by hand, and GMV and orders under every basis against DuckDB on the sample shop."""

from datetime import timedelta

import duckdb
import polars as pl
import pytest
from conftest import UTC_TIME, utc
from polars.testing import assert_frame_equal

from metrics.gmv_basis import GmvBasis, apply_gmv_basis
from metrics.periods import period_summary

ORDERS = pl.DataFrame(
    [(1, "paid", 100.0, 10.0, 8.0), (2, "refunded", 50.0, None, 5.0), (3, "cancelled", 30.0, 3.0, None),
     (4, "pending", 20.0, None, None), (5, "completed", 40.0, 0.0, 6.0)],
    schema={"order_id": pl.Int64, "status": pl.String, "amount": pl.Float64, "discount": pl.Float64, "shipping": pl.Float64},
    orient="row",
)


def test_the_default_basis_leaves_the_orders_alone():
    assert apply_gmv_basis(ORDERS, GmvBasis()) is ORDERS
    assert GmvBasis().code == "valid_orders" and GmvBasis().is_default


def test_each_basis_by_hand():
    both = apply_gmv_basis(ORDERS, GmvBasis(include_cancelled=True, exclude_refunded=True))
    expected = ORDERS.with_columns(
        status=pl.Series(["paid", "excluded_by_gmv_basis", "paid", "pending", "completed"]),
        recorded_status=ORDERS["status"],
    )
    assert_frame_equal(both, expected)
    money = apply_gmv_basis(ORDERS, GmvBasis(net_of_discounts=True, include_shipping=True))
    # amount - discount + shipping, a missing one 0
    assert money["amount"].to_list() == [98.0, 55.0, 27.0, 20.0, 46.0]
    assert money["status"].to_list() == ORDERS["status"].to_list()


def test_codes_name_a_basis_and_unknown_ones_are_refused():
    basis = GmvBasis(include_cancelled=True, net_of_discounts=True)
    assert basis.code == "include_cancelled+net_of_discounts"
    assert GmvBasis.from_code(basis.code) == basis and GmvBasis.from_code("valid_orders") == GmvBasis()
    with pytest.raises(ValueError, match="unknown GMV basis"):
        GmvBasis.from_code("include_taxes")


def test_a_basis_needing_an_absent_column_says_which():
    with pytest.raises(ValueError, match="shipping column"):
        apply_gmv_basis(ORDERS.drop("shipping"), GmvBasis(include_shipping=True))


ORACLE_SQL = """
SELECT COUNT(*) FILTER (WHERE status IN ('paid', 'shipped', 'completed', 'refunded')) AS valid_orders,
       SUM(amount) FILTER (WHERE status IN ('paid', 'shipped', 'completed', 'refunded')) AS valid_gmv,
       COUNT(*) FILTER (WHERE status IN ('paid', 'shipped', 'completed', 'refunded', 'cancelled')) AS with_cancelled_orders,
       SUM(amount) FILTER (WHERE status IN ('paid', 'shipped', 'completed', 'refunded', 'cancelled')) AS with_cancelled_gmv,
       COUNT(*) FILTER (WHERE status IN ('paid', 'shipped', 'completed')) AS without_refunded_orders,
       SUM(amount) FILTER (WHERE status IN ('paid', 'shipped', 'completed')) AS without_refunded_gmv,
       SUM(amount - COALESCE(discount, 0)) FILTER (WHERE status IN ('paid', 'shipped', 'completed', 'refunded')) AS net_gmv,
       (SELECT COALESCE(SUM(refund_amount), 0) FROM orders
        WHERE status IN ('paid', 'shipped', 'completed')
          AND COALESCE(refunded_at, created_at) >= $lower AND COALESCE(refunded_at, created_at) < $upper) AS kept_refunds
FROM orders WHERE created_at >= $lower AND created_at < $upper
"""


def test_sample_shop_gmv_under_each_basis_equals_hand_written_sql(small_shop):
    tz = "Asia/Shanghai"
    _, last_day = small_shop.date_span(tz)
    start = last_day - timedelta(days=179)
    # SQL over the same instants: the business days start..last_day in Shanghai (UTC+8)
    lower, upper = utc(f"{start - timedelta(days=1)} 16:00"), utc(f"{last_day} 16:00")
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    connection.register("orders", small_shop.orders.to_arrow())
    sql = connection.sql(ORACLE_SQL, params={"lower": lower, "upper": upper}).pl().row(0, named=True)

    def summary(basis: GmvBasis) -> dict:
        orders = apply_gmv_basis(small_shop.orders, basis)
        return period_summary(small_shop.events, small_shop.sessions, orders, small_shop.users, start=start, end=last_day, tz=tz)

    assert small_shop.orders.schema["created_at"] == UTC_TIME
    default = summary(GmvBasis())
    assert (default["orders"], default["gmv"]) == (sql["valid_orders"], pytest.approx(sql["valid_gmv"]))
    with_cancelled = summary(GmvBasis(include_cancelled=True))
    assert (with_cancelled["orders"], with_cancelled["gmv"]) == (sql["with_cancelled_orders"], pytest.approx(sql["with_cancelled_gmv"]))
    without_refunded = summary(GmvBasis(exclude_refunded=True))
    assert (without_refunded["orders"], without_refunded["gmv"]) == (
        sql["without_refunded_orders"], pytest.approx(sql["without_refunded_gmv"])
    )
    assert without_refunded["refunds"] == pytest.approx(sql["kept_refunds"]) and default["refunds"] > 0
    assert summary(GmvBasis(net_of_discounts=True))["gmv"] == pytest.approx(sql["net_gmv"])
    assert sql["with_cancelled_orders"] > sql["valid_orders"] > sql["without_refunded_orders"]
