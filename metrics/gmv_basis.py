"""The GMV basis (口径): which orders and which money GMV counts (SPEC section 3, Definitions).

SPEC: "GMV counts valid orders (above) by default; a deployment may name another basis
(include cancelled; exclude refunded; include shipping; net of discounts) as a setting, shown
in every KPI's help and in the report's definitions appendix. Numbers under a non-default
basis are labelled with it."

Every metric reads valid orders through `metrics.orders.is_valid_order` and money from
`amount`, so a basis is applied once to the orders frame (`apply_gmv_basis`) and every KPI
built on orders (GMV, orders, buyers, AOV, refunds, channels, decomposition, ...) follows it.
"""

from dataclasses import dataclass, fields

import polars as pl

from metrics.orders import VALID_ORDER_STATUSES

DEFAULT_CODE = "valid_orders"
COUNTED_CANCELLED_STATUS = "paid"
EXCLUDED_STATUS = "excluded_by_gmv_basis"
SHIPPING_COLUMN = "shipping"


@dataclass(frozen=True)
class GmvBasis:
    """A GMV basis: the default (valid orders, `amount` as recorded) with any of four changes.

    - include_cancelled: cancelled orders count as orders and in GMV (pending ones never do).
    - exclude_refunded: orders whose status is `refunded` count neither in GMV nor in
      refunds (a partial refund recorded on a completed order stays in both, as it stays an
      order).
    - net_of_discounts: GMV is `amount` - `discount` (a missing discount is 0); needs the
      orders' `discount` column.
    - include_shipping: GMV is `amount` + `shipping`; needs a `shipping` column on orders,
      which the canonical model (SPEC section 2) does not have, so only a source that adds
      one can use it.
    """

    include_cancelled: bool = False
    exclude_refunded: bool = False
    net_of_discounts: bool = False
    include_shipping: bool = False

    @property
    def is_default(self) -> bool:
        return self == GmvBasis()

    @property
    def code(self) -> str:
        """The basis' name for settings, labels and translations: "valid_orders", or the
        changes it makes joined by "+" (e.g. "include_cancelled+net_of_discounts")."""
        changes = [field.name for field in fields(self) if getattr(self, field.name)]
        return "+".join(changes) or DEFAULT_CODE

    @classmethod
    def from_code(cls, code: str) -> "GmvBasis":
        """The basis a setting names (see `code`); a one-line error for an unknown change."""
        if code == DEFAULT_CODE:
            return cls()
        names = [name.strip() for name in code.split("+")]
        known = [field.name for field in fields(cls)]
        unknown = [name for name in names if name not in known]
        if unknown:
            raise ValueError(
                f"unknown GMV basis {', '.join(unknown)!r}: use {DEFAULT_CODE} or any of {', '.join(known)} joined by '+'"
            )
        return cls(**{name: True for name in names})

    @property
    def counted_statuses(self) -> tuple[str, ...]:
        """The order statuses this basis counts."""
        statuses = [status for status in VALID_ORDER_STATUSES if not (self.exclude_refunded and status == "refunded")]
        if self.include_cancelled:
            statuses.append("cancelled")
        return tuple(statuses)


def apply_gmv_basis(orders: pl.DataFrame, basis: GmvBasis) -> pl.DataFrame:
    """The orders as every metric reads them under `basis`.

    `amount` becomes the basis' money (less `discount`, plus `shipping`, as the basis says);
    `status` is rewritten so that `metrics.orders.is_valid_order` counts exactly the
    basis' orders: a counted cancelled order reads "paid", an excluded refunded order
    reads "excluded_by_gmv_basis"; `recorded_status` keeps the source's status. The
    default basis returns `orders` unchanged. A basis that needs a column the orders lack
    raises ValueError saying which.
    """
    if basis.is_default:
        return orders
    needed = {"discount": basis.net_of_discounts, SHIPPING_COLUMN: basis.include_shipping}
    missing = [name for name, needs in needed.items() if needs and name not in orders.columns]
    if missing:
        raise ValueError(
            f"the GMV basis {basis.code} needs the orders' {' and '.join(missing)} column, which this source "
            "does not have: map it in the data-source settings or choose another basis"
        )
    amount = pl.col("amount").cast(pl.Float64)
    if basis.net_of_discounts:
        amount = amount - pl.col("discount").fill_null(0.0)
    if basis.include_shipping:
        amount = amount + pl.col(SHIPPING_COLUMN).fill_null(0.0)
    counted = pl.col("status").is_in(basis.counted_statuses)
    status = (
        pl.when(counted & ~pl.col("status").is_in(VALID_ORDER_STATUSES)).then(pl.lit(COUNTED_CANCELLED_STATUS))
        .when(~counted & pl.col("status").is_in(VALID_ORDER_STATUSES)).then(pl.lit(EXCLUDED_STATUS))
        .otherwise(pl.col("status"))
    )
    return orders.with_columns(amount=amount, status=status, recorded_status=pl.col("status"))
