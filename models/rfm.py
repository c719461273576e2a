"""RFM scores and named segments (SPEC section 3, RFM).

SPEC: "as of a date, recency = days since last valid order, frequency = valid orders,
monetary = GMV. Quintile scores 1..5 (5 best); named segments (e.g. champions, loyal, at
risk, hibernating, new)."

A score is 1 + floor(5 x the share of customers with a strictly worse value), so customers
with equal values share a score (a shop where most customers bought once gives all of them
frequency score 1 rather than splitting them at random), and the best fifth scores 5.
Segments follow the common recency x frequency grid, first matching rule wins:

| segment | recency score | frequency score |
| --- | --- | --- |
| champions | 5 | 4-5 |
| loyal | 3-4 | 4-5 |
| potential_loyalist | 4-5 | 2-3 |
| new | 5 | 1 |
| promising | 4 | 1 |
| need_attention | 3 | 3 |
| about_to_sleep | 3 | 1-2 |
| cannot_lose | 1-2 | 5 |
| at_risk | 1-2 | 3-4 |
| hibernating | 1-2 | 1-2 |
"""

from dataclasses import dataclass
from datetime import date

import polars as pl
from polars.expr.whenthen import ChainedThen, Then

from models.features import valid_order_days

SCORES = 5
RFM_COLUMNS = ("user_id", "recency_days", "frequency", "monetary", "r_score", "f_score", "m_score", "rfm_score", "segment")


@dataclass(frozen=True)
class SegmentRule:
    name: str
    recency_scores: tuple[int, int]
    frequency_scores: tuple[int, int]

    def matches(self) -> pl.Expr:
        return pl.col("r_score").is_between(*self.recency_scores) & pl.col("f_score").is_between(*self.frequency_scores)


SEGMENT_RULES = (
    SegmentRule("champions", (5, 5), (4, 5)),
    SegmentRule("loyal", (3, 4), (4, 5)),
    SegmentRule("potential_loyalist", (4, 5), (2, 3)),
    SegmentRule("new", (5, 5), (1, 1)),
    SegmentRule("promising", (4, 4), (1, 1)),
    SegmentRule("need_attention", (3, 3), (3, 3)),
    SegmentRule("about_to_sleep", (3, 3), (1, 2)),
    SegmentRule("cannot_lose", (1, 2), (5, 5)),
    SegmentRule("at_risk", (1, 2), (3, 4)),
    SegmentRule("hibernating", (1, 2), (1, 2)),
)
SEGMENTS = tuple(rule.name for rule in SEGMENT_RULES)


def score(column: str, *, higher_is_better: bool = True) -> pl.Expr:
    """1 + floor(5 x share of customers strictly worse on `column`): 1..5, ties equal."""
    value = pl.col(column) if higher_is_better else -pl.col(column)
    strictly_worse = value.rank("min") - 1
    return (1 + (strictly_worse * SCORES // pl.len())).cast(pl.Int64)


def segment() -> pl.Expr:
    """The name of the first rule of SEGMENT_RULES the r_score and f_score match."""
    expression: Then | ChainedThen = pl.when(SEGMENT_RULES[0].matches()).then(pl.lit(SEGMENT_RULES[0].name))
    for rule in SEGMENT_RULES[1:]:
        expression = expression.when(rule.matches()).then(pl.lit(rule.name))
    return expression.otherwise(pl.lit(None, pl.String))


def rfm_table(orders: pl.DataFrame, *, as_of: date, tz: str) -> pl.DataFrame:
    """One row per customer with a valid order on or before business day `as_of` (zone `tz`):
    user_id, recency_days, frequency, monetary, r_score, f_score, m_score (1..5, 5 best),
    rfm_score (the three digits as text, e.g. "545") and segment."""
    valid = valid_order_days(orders, tz).filter(pl.col("day") <= as_of)
    return (
        valid.group_by("user_id")
        .agg(
            recency_days=(pl.lit(as_of) - pl.col("day").max()).dt.total_days(),
            frequency=pl.len().cast(pl.Int64),
            monetary=pl.col("amount").sum(),
        )
        .with_columns(
            r_score=score("recency_days", higher_is_better=False),
            f_score=score("frequency"),
            m_score=score("monetary"),
        )
        .with_columns(
            rfm_score=pl.concat_str(pl.col("r_score"), pl.col("f_score"), pl.col("m_score")),
            segment=segment(),
        )
        .select(RFM_COLUMNS)
        .sort("user_id")
    )


def segment_summary(rfm: pl.DataFrame) -> pl.DataFrame:
    """Per named segment (in SEGMENTS order, empty ones as 0): customers, customer_share,
    recency_days_mean, frequency_mean, monetary_mean, gmv, gmv_share."""
    totals = rfm.select(customers=pl.len(), gmv=pl.col("monetary").sum())
    total_customers, total_gmv = totals["customers"].item(), totals["gmv"].item()
    grouped = rfm.group_by("segment").agg(
        customers=pl.len().cast(pl.Int64),
        recency_days_mean=pl.col("recency_days").mean(),
        frequency_mean=pl.col("frequency").mean(),
        monetary_mean=pl.col("monetary").mean(),
        gmv=pl.col("monetary").sum(),
    )
    order = pl.DataFrame({"segment": list(SEGMENTS)})
    return (
        order.join(grouped, on="segment", how="left", maintain_order="left")
        .with_columns(pl.col("customers").fill_null(0), pl.col("gmv").fill_null(0.0))
        .with_columns(
            customer_share=pl.col("customers") / total_customers if total_customers else pl.lit(None, pl.Float64),
            gmv_share=pl.col("gmv") / total_gmv if total_gmv else pl.lit(None, pl.Float64),
        )
        .select("segment", "customers", "customer_share", "recency_days_mean", "frequency_mean", "monetary_mean", "gmv", "gmv_share")
    )
