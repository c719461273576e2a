"""Frequently bought together: association rules between pairs of items over orders.

Each valid order (SPEC definition) is a basket: the set of products (or of their categories,
with `level="category"`) on its order lines, whatever the quantities. For items A and B:

- support(A, B) = baskets holding both / baskets;
- confidence(A -> B) = baskets holding both / baskets holding A;
- lift(A -> B) = confidence(A -> B) / support(B): above 1, A's buyers take B more often than
  buyers in general.

Rules are kept when their pair's support is at least `min_support` (set by the analyst) and
their confidence at least `min_confidence`. Rules are between single items (the case behind
cross-selling and two-item bundles), both directions of each pair.
"""

from datetime import date

import polars as pl

from models.features import valid_order_days

LEVELS = ("product", "category")
RULE_COLUMNS = ("antecedent", "consequent", "baskets_together", "support", "confidence", "lift", "antecedent_support", "consequent_support")


def baskets(
    orders: pl.DataFrame,
    order_items: pl.DataFrame,
    products: pl.DataFrame | None,
    *,
    tz: str,
    level: str = "product",
    start: date | None = None,
    end: date | None = None,
) -> pl.DataFrame:
    """Distinct (order_id, item) pairs of valid orders created on business days start..end
    (open ends take everything); item is the product_id as text, or its category."""
    if level not in LEVELS:
        raise ValueError(f"level must be one of {', '.join(LEVELS)}, not {level!r}")
    valid = valid_order_days(orders, tz)
    if start is not None:
        valid = valid.filter(pl.col("day") >= start)
    if end is not None:
        valid = valid.filter(pl.col("day") <= end)
    lines = order_items.join(valid.select("order_id"), on="order_id")
    if level == "category":
        if products is None:
            raise ValueError("rules between categories need the products table")
        lines = lines.join(products.select("product_id", item=pl.col("category").cast(pl.String)), on="product_id")
    else:
        lines = lines.with_columns(item=pl.col("product_id").cast(pl.String))
    return lines.select("order_id", "item").unique().drop_nulls()


def association_rules(basket_items: pl.DataFrame, *, min_support: float, min_confidence: float = 0.0) -> pl.DataFrame:
    """Pair rules A -> B over `baskets` output: antecedent, consequent, baskets_together,
    support, confidence, lift, antecedent_support, consequent_support; by lift, then
    support (both descending), then antecedent and consequent."""
    if not 0 < min_support <= 1:
        raise ValueError(f"the minimum support is a share of baskets, above 0 and at most 1, not {min_support}")
    if not 0 <= min_confidence <= 1:
        raise ValueError(f"the minimum confidence is a share, from 0 to 1, not {min_confidence}")
    total = basket_items["order_id"].n_unique()
    item_support = basket_items.group_by("item").agg(support=pl.len() / total)
    # an item below the minimum support cannot be in a pair above it (the Apriori property)
    frequent = basket_items.join(item_support.filter(pl.col("support") >= min_support), on="item", how="semi")
    pairs = (
        frequent.join(frequent, on="order_id", suffix="_other")
        .filter(pl.col("item") != pl.col("item_other"))
        .group_by(antecedent="item", consequent="item_other")
        .agg(baskets_together=pl.len().cast(pl.Int64))
        .with_columns(support=pl.col("baskets_together") / total)
        .filter(pl.col("support") >= min_support)
    )
    return (
        pairs.join(item_support.rename({"item": "antecedent", "support": "antecedent_support"}), on="antecedent")
        .join(item_support.rename({"item": "consequent", "support": "consequent_support"}), on="consequent")
        .with_columns(confidence=pl.col("support") / pl.col("antecedent_support"))
        .with_columns(lift=pl.col("confidence") / pl.col("consequent_support"))
        .filter(pl.col("confidence") >= min_confidence)
        .select(RULE_COLUMNS)
        .sort(["lift", "support", "antecedent", "consequent"], descending=[True, True, False, False])
    )
