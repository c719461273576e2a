"""Per-customer frames the models learn from, built from the canonical tables (pure Polars).

Every model takes one frame built here: `purchase_summary` for BG/NBD and Gamma-Gamma,
`customer_features` for the gradient-boosted value and churn models. A customer is a user
with at least one valid order (SPEC: "Valid order: status in paid, shipped, completed,
refunded"); money is GMV, the order `amount`.
"""

from datetime import date, timedelta

import polars as pl

from metrics.orders import is_valid_order
from metrics.time import as_utc, business_day, utc_bounds

DAYS_PER_WEEK = 7
SUMMARY_COLUMNS = (
    "user_id", "first_purchase", "frequency", "recency", "T", "monetary_value",
    "calibration_value", "holdout_frequency", "holdout_value",
)
# Windows of recent behaviour the feature frame counts, in days before the as-of day.
RECENT_WINDOWS = (30, 90)
CATEGORICAL_FEATURES = ("channel", "device")


def valid_order_days(orders: pl.DataFrame, tz: str) -> pl.DataFrame:
    """Valid orders with the business `day` (zone `tz`) they were created on."""
    return as_utc(orders, "created_at").filter(is_valid_order()).with_columns(day=business_day("created_at", tz))


def purchase_days(orders: pl.DataFrame, tz: str) -> pl.DataFrame:
    """One row per customer-day with a valid order: user_id, day, value (GMV that day), orders.

    The literature counts repeat purchases per customer-day, so two orders on one day are one
    purchase of their summed value.
    """
    return (
        valid_order_days(orders, tz)
        .group_by("user_id", "day")
        .agg(value=pl.col("amount").sum(), orders=pl.len().cast(pl.Int64))
    )


def purchase_summary(
    orders: pl.DataFrame, *, calibration_end: date, tz: str, holdout_end: date | None = None
) -> pl.DataFrame:
    """The BG/NBD and Gamma-Gamma input: one row per customer whose first valid order falls on
    or before `calibration_end` (a business day in zone `tz`).

    Columns, time in weeks as in the literature (Fader, Hardie and Lee 2005):
    - first_purchase: the day of the first valid order;
    - frequency: repeat purchases in calibration, x = purchase days - 1;
    - recency: t_x = weeks from the first to the last purchase day in calibration;
    - T: weeks from the first purchase day to `calibration_end`;
    - monetary_value: mean value of the repeat purchase days (null when x = 0);
    - calibration_value: GMV in calibration, first purchase included;
    - holdout_frequency, holdout_value: purchase days and GMV after `calibration_end` up to
      `holdout_end` inclusive (0 when there is no holdout).
    """
    days = purchase_days(orders, tz)
    calibration = days.filter(pl.col("day") <= calibration_end).sort("user_id", "day")
    summary = calibration.group_by("user_id").agg(
        first_purchase=pl.col("day").first(),
        last_purchase=pl.col("day").last(),
        frequency=(pl.len() - 1).cast(pl.Int64),
        repeat_value=pl.col("value").slice(1).sum(),
        calibration_value=pl.col("value").sum(),
    )
    summary = summary.with_columns(
        recency=(pl.col("last_purchase") - pl.col("first_purchase")).dt.total_days() / DAYS_PER_WEEK,
        T=(pl.lit(calibration_end) - pl.col("first_purchase")).dt.total_days() / DAYS_PER_WEEK,
        monetary_value=pl.when(pl.col("frequency") > 0).then(pl.col("repeat_value") / pl.col("frequency")),
    )
    holdout = (
        days.filter(pl.col("day") > calibration_end, pl.col("day") <= (holdout_end or calibration_end))
        .group_by("user_id")
        .agg(holdout_frequency=pl.len().cast(pl.Int64), holdout_value=pl.col("value").sum())
    )
    return (
        summary.join(holdout, on="user_id", how="left")
        .with_columns(pl.col("holdout_frequency").fill_null(0), pl.col("holdout_value").fill_null(0.0))
        .select(SUMMARY_COLUMNS)
        .sort("user_id")
    )


def future_value(orders: pl.DataFrame, *, after: date, until: date, tz: str) -> pl.DataFrame:
    """Per user with a valid order on days after `after` up to `until`: future_orders, future_value."""
    return (
        valid_order_days(orders, tz)
        .filter(pl.col("day") > after, pl.col("day") <= until)
        .group_by("user_id")
        .agg(future_orders=pl.len().cast(pl.Int64), future_value=pl.col("amount").sum())
    )


def _order_features(orders: pl.DataFrame, as_of: date, tz: str) -> pl.DataFrame:
    valid = valid_order_days(orders, tz).filter(pl.col("day") <= as_of)
    days_before = (pl.lit(as_of) - pl.col("day")).dt.total_days()
    coupon = pl.col("coupon_code").str.strip_chars().fill_null("") != "" if "coupon_code" in valid.columns else pl.lit(False)
    discount = pl.col("discount").fill_null(0.0) if "discount" in valid.columns else pl.lit(0.0)
    recent = {
        f"orders_{window}d": (days_before < window).sum().cast(pl.Int64) for window in RECENT_WINDOWS
    } | {f"gmv_{window}d": pl.col("amount").filter(days_before < window).sum() for window in RECENT_WINDOWS}
    return valid.group_by("user_id").agg(
        recency_days=days_before.min(),
        tenure_days=days_before.max(),
        frequency=pl.len().cast(pl.Int64),
        purchase_days=pl.col("day").n_unique().cast(pl.Int64),
        monetary=pl.col("amount").sum(),
        average_order_value=pl.col("amount").mean(),
        max_order_value=pl.col("amount").max(),
        coupon_share=coupon.mean(),
        discount_total=discount.sum(),
        refund_share=(pl.col("status") == "refunded").mean(),
        **recent,
    )


def _category_features(orders: pl.DataFrame, order_items: pl.DataFrame, products: pl.DataFrame, as_of: date, tz: str) -> pl.DataFrame:
    valid = valid_order_days(orders, tz).filter(pl.col("day") <= as_of).select("order_id", "user_id")
    units = (
        order_items.join(valid, on="order_id")
        .join(products.select("product_id", "category"), on="product_id", how="left")
        .group_by("user_id", "category")
        .agg(units=pl.col("quantity").sum())
    )
    return units.group_by("user_id").agg(
        categories_bought=pl.col("category").n_unique().cast(pl.Int64),
        units_bought=pl.col("units").sum().cast(pl.Int64),
        top_category_share=pl.col("units").max() / pl.col("units").sum(),
    )


def _activity_features(events: pl.DataFrame, sessions: pl.DataFrame, as_of: date, tz: str) -> pl.DataFrame:
    _, day_after = utc_bounds(as_of, as_of, tz)
    started = as_utc(sessions, "started_at").filter(pl.col("started_at") < day_after)
    days_before = (pl.lit(day_after) - pl.col("started_at")).dt.total_days()
    per_session = started.group_by("user_id").agg(
        sessions_total=pl.len().cast(pl.Int64),
        days_since_last_session=days_before.min(),
        purchase_sessions=pl.col("has_purchase").sum().cast(pl.Int64),
        events_per_session=pl.col("event_count").mean(),
        **{f"sessions_{window}d": (days_before < window).sum().cast(pl.Int64) for window in RECENT_WINDOWS},
    )
    window_start = day_after - timedelta(days=RECENT_WINDOWS[0])
    recent_events = (
        as_utc(events, "event_time")
        .filter(pl.col("event_time") >= window_start, pl.col("event_time") < day_after)
        .group_by("user_id")
        .agg(
            **{
                f"{kind}_{RECENT_WINDOWS[0]}d": (pl.col("event_type") == kind).sum().cast(pl.Int64)
                for kind in ("product_view", "add_to_cart", "checkout")
            }
        )
    )
    return per_session.join(recent_events, on="user_id", how="left")


def customer_features(
    events: pl.DataFrame,
    sessions: pl.DataFrame,
    orders: pl.DataFrame,
    users: pl.DataFrame,
    order_items: pl.DataFrame | None,
    products: pl.DataFrame | None,
    *,
    as_of: date,
    tz: str,
) -> pl.DataFrame:
    """Behaviour of every customer (a valid order on or before business day `as_of`) up to the
    end of that day: one row per user_id.

    RFM: recency_days (since the last valid order), frequency (valid orders), purchase_days,
    monetary (GMV), average_order_value, max_order_value, tenure_days (since the first),
    orders_30d/90d and gmv_30d/90d. Coupons: coupon_share (of orders with a coupon code),
    discount_total; refund_share. Sessions: sessions_total, sessions_30d/90d,
    days_since_last_session, purchase_sessions, events_per_session, and product_view_30d,
    add_to_cart_30d, checkout_30d events. Categories (when order_items and products exist):
    categories_bought, units_bought, top_category_share. Profile: days_since_signup and the
    acquisition `channel` and `device` as strings. Counts of nothing are 0; days since
    something that never happened are null.
    """
    frame = _order_features(orders, as_of, tz)
    if order_items is not None and products is not None:
        frame = frame.join(_category_features(orders, order_items, products, as_of, tz), on="user_id", how="left")
    frame = frame.join(_activity_features(events, sessions, as_of, tz), on="user_id", how="left")
    profile = as_utc(users, "signup_at").select(
        "user_id",
        days_since_signup=(pl.lit(as_of) - business_day("signup_at", tz)).dt.total_days(),
        **{name: pl.col(name).cast(pl.String) for name in CATEGORICAL_FEATURES if name in users.columns},
    )
    frame = frame.join(profile, on="user_id", how="left")
    # a customer without sessions or items has counts of 0; days since a thing that never
    # happened stay null (the boosted models take a missing value as its own branch)
    counts = [
        name for name, dtype in frame.schema.items()
        if dtype == pl.Int64 and name != "user_id" and not name.startswith("days_since")
    ]
    return frame.with_columns(pl.col(counts).fill_null(0)).sort("user_id")


def with_future(features: pl.DataFrame, orders: pl.DataFrame, *, days: int, as_of: date, tz: str) -> pl.DataFrame:
    """`features` (as of `as_of`) with each customer's future_orders and future_value in the
    `days` business days after `as_of` (0 when none)."""
    future = future_value(orders, after=as_of, until=as_of + timedelta(days=days), tz=tz)
    return features.join(future, on="user_id", how="left").with_columns(
        pl.col("future_orders").fill_null(0), pl.col("future_value").fill_null(0.0)
    )


class FeatureMatrix:
    """Turns a `customer_features` frame into the numeric matrix a boosted tree model reads.

    `fit` learns the feature columns and the categories of the string columns; `transform`
    gives float columns, categories as their codes (an unseen category is missing), and
    `categorical_mask` says which columns are categorical.
    """

    def fit(self, frame: pl.DataFrame, *, exclude: tuple[str, ...]) -> "FeatureMatrix":
        self.categories_ = {
            name: sorted(frame[name].drop_nulls().unique().to_list())
            for name in CATEGORICAL_FEATURES if name in frame.columns
        }
        self.columns_ = [
            name for name in frame.columns
            if name not in exclude and name != "user_id" and (name in self.categories_ or frame.schema[name].is_numeric())
        ]
        return self

    @property
    def categorical_mask(self) -> list[bool]:
        return [name in self.categories_ for name in self.columns_]

    def transform(self, frame: pl.DataFrame):
        missing = [name for name in self.columns_ if name not in frame.columns]
        if missing:
            raise ValueError(f"the frame lacks the feature columns {', '.join(missing)} the model was fitted on")
        encoded = frame.select(
            pl.col(name).replace_strict(self.categories_[name], list(range(len(self.categories_[name]))), default=None, return_dtype=pl.Float64)
            if name in self.categories_ else pl.col(name).cast(pl.Float64)
            for name in self.columns_
        )
        return encoded.to_numpy()
