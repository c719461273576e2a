"""The canonical data model of SPEC section 2: tables, their columns and dtypes.

Connectors map a platform's own tables onto these and hand out nothing else. Times are
UTC-aware datetimes, calendar dates are dates, money is Float64. Ids may be integers or
strings in a shop's database; they keep the dtype they arrive with.
"""

from dataclasses import dataclass
from typing import TypeAlias

import polars as pl

# A canonical dtype as the tables below write it: a Polars dtype class (pl.Int64) or an
# instance with parameters (pl.Datetime("us", "UTC")); Polars takes both wherever a dtype goes.
DType: TypeAlias = pl.DataType | type[pl.DataType]

UTC_DATETIME = pl.Datetime("us", "UTC")
# Low-cardinality labels are categorical: a tenth of the memory of strings at 10M events.
LABEL = pl.Categorical
ID = None  # ids keep the dtype the source gives them (integers or strings)


@dataclass(frozen=True)
class CanonicalTable:
    """One table of the canonical model: required and optional columns with their dtypes."""

    name: str
    required: dict[str, DType | None]
    optional: dict[str, DType | None]

    @property
    def columns(self) -> dict[str, DType | None]:
        return {**self.required, **self.optional}


TABLES: dict[str, CanonicalTable] = {
    table.name: table
    for table in (
        CanonicalTable(
            "users",
            required={"user_id": ID, "signup_at": UTC_DATETIME},
            optional={
                "channel": LABEL,
                "device": LABEL,
                "region": LABEL,
                "gender": LABEL,
                "birth_year": pl.Int32,
                "member_level": LABEL,
            },
        ),
        CanonicalTable(
            "events",
            required={"user_id": ID, "event_time": UTC_DATETIME, "event_type": LABEL},
            optional={
                "session_id": ID,
                "page": LABEL,
                "product_id": ID,
                "channel": LABEL,
                "device": LABEL,
                "search_term": pl.String,
            },
        ),
        CanonicalTable(
            "orders",
            required={
                "order_id": ID,
                "user_id": ID,
                "created_at": UTC_DATETIME,
                "amount": pl.Float64,
                "status": LABEL,
            },
            optional={
                "paid_at": UTC_DATETIME,
                "discount": pl.Float64,
                "coupon_code": pl.String,
                "channel": LABEL,
                "campaign_id": ID,
                "payment_method": LABEL,
                "shipped_at": UTC_DATETIME,
                "delivered_at": UTC_DATETIME,
                "refund_amount": pl.Float64,
                "refunded_at": UTC_DATETIME,
            },
        ),
        CanonicalTable(
            "order_items",
            required={
                "order_id": ID,
                "product_id": ID,
                "quantity": pl.Int64,
                "unit_price": pl.Float64,
            },
            optional={},
        ),
        CanonicalTable(
            "products",
            required={"product_id": ID, "name": pl.String, "category": pl.String},
            optional={"brand": pl.String, "price": pl.Float64, "cost": pl.Float64},
        ),
        CanonicalTable(
            "campaigns",
            required={
                "campaign_id": ID,
                "name": pl.String,
                "start_date": pl.Date,
                "end_date": pl.Date,
            },
            optional={"channel": LABEL, "kind": LABEL, "budget": pl.Float64},
        ),
        CanonicalTable(
            "ad_spend",
            required={"date": pl.Date, "channel": LABEL, "spend": pl.Float64},
            optional={"campaign_id": ID, "impressions": pl.Int64, "clicks": pl.Int64},
        ),
        CanonicalTable(
            "reviews",
            required={
                "review_id": ID,
                "product_id": ID,
                "created_at": UTC_DATETIME,
                "rating": pl.Int32,
            },
            optional={"user_id": ID, "order_id": ID, "text": pl.String},
        ),
        CanonicalTable(
            "tickets",
            required={"ticket_id": ID, "created_at": UTC_DATETIME, "category": pl.String},
            optional={
                "user_id": ID,
                "order_id": ID,
                "first_response_at": UTC_DATETIME,
                "resolved_at": UTC_DATETIME,
                "channel": LABEL,
                "satisfaction": pl.Int32,
            },
        ),
    )
}

EVENT_TYPES = (
    "page_view",
    "search",
    "product_impression",
    "product_click",
    "product_view",
    "add_to_cart",
    "checkout",
    "purchase",
)

# The column that places each append-only table's rows in time: `read_table(since=, until=)`
# filters on it, and an extract refreshes a table by its newest value.
TIME_COLUMN = {
    "events": "event_time",
    "orders": "created_at",
    "users": "signup_at",
    "reviews": "created_at",
    "tickets": "created_at",
    "ad_spend": "date",
}

# SPEC section 2: the order statuses and ticket categories the views understand.
ORDER_STATUSES = ("paid", "shipped", "completed", "refunded", "cancelled", "pending")
TICKET_CATEGORIES = ("inquiry", "complaint", "return", "other")
