"""The user tag system: rule-based tags an analyst combines into an audience and exports.

SPEC section 1 asks for "a user tag system". Each tag is a named rule over a user's history
up to the end of business day `as_of`; the thresholds are fields of `TagRules`, so a page can
show and change them:

| tag | rule |
| --- | --- |
| high_value | GMV of valid orders in the top fifth of customers (RFM monetary score 5) |
| new | signed up in the `new_days` days up to as_of |
| dormant | had an event once, but none in the `dormant_days` days up to as_of |
| churn_risk | at least two valid orders, and the days since the last one exceed `churn_gap_factor` times the customer's mean days between orders |
| coupon_driven | at least `coupon_min_orders` valid orders, and at least `coupon_share` of them with a coupon code |
| category:NAME | at least `affinity_min_units` units bought, at least `affinity_share` of them in category NAME |

Tags come as a long frame (user_id, tag), one row per user and tag, which `audience` combines.
"""

from dataclasses import dataclass
from datetime import date, timedelta

import polars as pl

from metrics.time import as_utc, business_day, utc_bounds
from models.features import valid_order_days
from models.rfm import SCORES, rfm_table

BASE_TAGS = ("high_value", "new", "dormant", "churn_risk", "coupon_driven")
CATEGORY_TAG_PREFIX = "category:"


@dataclass(frozen=True)
class TagRules:
    """The thresholds of the tag rules (see the module docstring)."""

    new_days: int = 30
    dormant_days: int = 60
    churn_gap_factor: float = 2.0
    coupon_min_orders: int = 2
    coupon_share: float = 0.5
    affinity_min_units: int = 2
    affinity_share: float = 0.5

    def __post_init__(self) -> None:
        for name in ("new_days", "dormant_days", "coupon_min_orders", "affinity_min_units"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, not {getattr(self, name)}")
        for name in ("coupon_share", "affinity_share"):
            if not 0 < getattr(self, name) <= 1:
                raise ValueError(f"{name} is a share: between 0 (exclusive) and 1, not {getattr(self, name)}")
        if self.churn_gap_factor <= 0:
            raise ValueError(f"churn_gap_factor must be above 0, not {self.churn_gap_factor}")


def _tagged(frame: pl.DataFrame, tag: str | pl.Expr) -> pl.DataFrame:
    return frame.select("user_id", tag=tag if isinstance(tag, pl.Expr) else pl.lit(tag))


def user_tags(
    events: pl.DataFrame,
    orders: pl.DataFrame,
    users: pl.DataFrame,
    order_items: pl.DataFrame | None,
    products: pl.DataFrame | None,
    *,
    as_of: date,
    tz: str,
    rules: TagRules = TagRules(),
) -> pl.DataFrame:
    """Every tag of every user as of the end of business day `as_of` (zone `tz`): user_id, tag.

    Category tags need order_items and products; without them there are none.
    """
    _, day_after = utc_bounds(as_of, as_of, tz)
    valid = valid_order_days(orders, tz).filter(pl.col("day") <= as_of)
    tags = [_tagged(rfm_table(orders, as_of=as_of, tz=tz).filter(pl.col("m_score") == SCORES), "high_value")]

    signup_day = business_day("signup_at", tz)
    tags.append(_tagged(
        as_utc(users, "signup_at").filter(signup_day <= as_of, signup_day > as_of - timedelta(days=rules.new_days)), "new"
    ))

    last_event = as_utc(events, "event_time").filter(pl.col("event_time") < day_after).group_by("user_id").agg(
        last=pl.col("event_time").max()
    )
    tags.append(_tagged(last_event.filter(pl.col("last") < day_after - timedelta(days=rules.dormant_days)), "dormant"))

    gaps = valid.group_by("user_id").agg(
        orders=pl.len(),
        span_days=(pl.col("day").max() - pl.col("day").min()).dt.total_days(),
        since_last=(pl.lit(as_of) - pl.col("day").max()).dt.total_days(),
    )
    tags.append(_tagged(
        gaps.filter(pl.col("orders") >= 2, pl.col("since_last") > rules.churn_gap_factor * pl.col("span_days") / (pl.col("orders") - 1)),
        "churn_risk",
    ))

    has_coupon = (pl.col("coupon_code").str.strip_chars().fill_null("") != "") if "coupon_code" in valid.columns else pl.lit(False)
    coupons = valid.group_by("user_id").agg(orders=pl.len(), coupon_share=has_coupon.mean())
    tags.append(_tagged(
        coupons.filter(pl.col("orders") >= rules.coupon_min_orders, pl.col("coupon_share") >= rules.coupon_share), "coupon_driven"
    ))

    if order_items is not None and products is not None:
        units = (
            order_items.join(valid.select("order_id", "user_id"), on="order_id")
            .join(products.select("product_id", pl.col("category").cast(pl.String)), on="product_id")
            .group_by("user_id", "category")
            .agg(units=pl.col("quantity").sum())
            .with_columns(total=pl.col("units").sum().over("user_id"))
        )
        tags.append(_tagged(
            units.filter(pl.col("total") >= rules.affinity_min_units, pl.col("units") >= rules.affinity_share * pl.col("total")),
            pl.lit(CATEGORY_TAG_PREFIX) + pl.col("category"),
        ))
    return pl.concat([frame.with_columns(pl.col("tag").cast(pl.String)) for frame in tags]).unique().sort("user_id", "tag")


def tag_counts(tags: pl.DataFrame) -> pl.DataFrame:
    """Users per tag: tag, users (base tags first, then category tags, each by name)."""
    return (
        tags.group_by("tag").agg(users=pl.len().cast(pl.Int64))
        .with_columns(is_category=pl.col("tag").str.starts_with(CATEGORY_TAG_PREFIX))
        .sort("is_category", "tag")
        .drop("is_category")
    )


def audience(
    tags: pl.DataFrame,
    *,
    all_of: tuple[str, ...] = (),
    any_of: tuple[str, ...] = (),
    none_of: tuple[str, ...] = (),
) -> pl.DataFrame:
    """The users (user_id, sorted) who have every tag of `all_of`, at least one of `any_of`
    (when given) and none of `none_of`, with their tags joined by ", " in `tags`."""
    if not (all_of or any_of):
        raise ValueError("an audience needs at least one tag to have (all_of or any_of)")
    per_user = tags.group_by("user_id").agg(pl.col("tag").sort())
    keep = pl.lit(True)
    for tag in all_of:
        keep &= pl.col("tag").list.contains(tag)
    if any_of:
        keep &= pl.any_horizontal(pl.col("tag").list.contains(tag) for tag in any_of)
    for tag in none_of:
        keep &= ~pl.col("tag").list.contains(tag)
    return per_user.filter(keep).select("user_id", tags=pl.col("tag").list.join(", ")).sort("user_id")
