"""Demand forecast for the supply chain: weekly units per category, with a backtest.

Units are the `quantity` of order lines of valid orders (SPEC definition), by the business
week (Monday to Sunday, zone `tz`) the order was created in and the product's category.
Only whole weeks count: from the first Monday on or after the first order's day to the last
Sunday on or before `end`.

The model: demand = the category's level x the week's campaign lift.
- Campaign lift: campaigns are planned ahead, so the campaigns table says which future weeks
  hold one. Per week: the share of its days inside an all-channel campaign, inside a
  channel campaign, and the campaigns' budget per day (relative to the median campaign's)
  weighted by their share of the week. A Poisson regression of the shop's weekly units on
  these and a linear trend gives the lift exp(beta . x) of each week; the trend only keeps
  growth from being read as campaign effect.
- Level: the exponentially weighted mean (half-life `halflife_weeks`) of the category's past
  units divided by their weeks' lifts.
Without a campaigns table the lift is 1 and the forecast is the weighted level. Campaigns not
yet in the table are unknown to it.

The baseline is the seasonal naive forecast: each week gets the units of the same week one
season earlier. The season is a year (52 weeks) when the history holds one; with less than
a year of weekly data no yearly season can be repeated, and the seasonal naive forecast is
the last whole week's units.

Backtest: at each of the last `origins` weeks that leave a full horizon, both forecasts are
made from the weeks before it only and compared with what happened. Errors: MASE (mean
absolute error over the in-sample mean absolute error of the seasonal naive one-season-ahead
forecast, per category; below 1 beats it in sample) and MAPE (over weeks with units).
"""

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import polars as pl

from metrics.time import day_span
from models.features import valid_order_days

SEASON_WEEKS = 52
DEFAULT_HORIZON_WEEKS = 8
DEFAULT_BACKTEST_ORIGINS = 8
MIN_HISTORY_WEEKS = 8
UNKNOWN_CATEGORY = "(unknown)"
CAMPAIGN_FEATURES = ("all_channel_share", "channel_share", "budget_intensity")
ALL_CATEGORIES = "(all)"


def weekly_units(
    orders: pl.DataFrame, order_items: pl.DataFrame, products: pl.DataFrame, *, tz: str, end: date | None = None
) -> pl.DataFrame:
    """Units per whole business week and category: week (Monday), category, units; every
    week x category present (0 when nothing sold), by week then category."""
    valid = valid_order_days(orders, tz)
    if end is not None:
        valid = valid.filter(pl.col("day") <= end)
    if valid.height == 0:
        raise ValueError("the demand forecast needs valid orders; there are none up to the chosen end")
    first_day, last_order_day = day_span(valid["day"])
    last_day = end or last_order_day
    first_week = first_day + timedelta(days=(7 - first_day.weekday()) % 7)
    last_week = last_day - timedelta(days=last_day.weekday() + (0 if last_day.weekday() == 6 else 7))
    if last_week < first_week:
        raise ValueError(f"the orders from {first_day} to {last_day} hold no whole week (Monday to Sunday)")
    lines = (
        order_items.join(valid.select("order_id", "day"), on="order_id")
        .join(products.select("product_id", category=pl.col("category").cast(pl.String)), on="product_id", how="left")
        .with_columns(week=pl.col("day").dt.truncate("1w"), category=pl.col("category").fill_null(UNKNOWN_CATEGORY))
        .filter(pl.col("week") >= first_week, pl.col("week") <= last_week)
    )
    grid = pl.DataFrame({"week": pl.date_range(first_week, last_week, "1w", eager=True)}).join(
        lines.select("category").unique(), how="cross"
    )
    units = lines.group_by("week", "category").agg(units=pl.col("quantity").sum().cast(pl.Float64))
    return (
        grid.join(units, on=["week", "category"], how="left")
        .with_columns(pl.col("units").fill_null(0.0))
        .sort("week", "category")
    )


def campaign_weeks(campaigns: pl.DataFrame | None, weeks: list[date]) -> pl.DataFrame:
    """Per week (Monday): all_channel_share and channel_share (the share of its 7 days inside
    an all-channel or a channel campaign; overlapping campaigns add up) and budget_intensity
    (sum over campaigns of their share of the week x budget per day / the median campaign's
    budget per day; 0 without budgets)."""
    frame = pl.DataFrame({"week": weeks}, schema={"week": pl.Date})
    if campaigns is None or campaigns.height == 0:
        return frame.with_columns(pl.lit(0.0).alias(name) for name in CAMPAIGN_FEATURES)
    has_budget = "budget" in campaigns.columns
    plans = campaigns.select(
        "start_date", "end_date",
        all_channels=pl.col("channel").is_null() if "channel" in campaigns.columns else pl.lit(True),
        per_day=(pl.col("budget").fill_null(0.0) if has_budget else pl.lit(0.0))
        / ((pl.col("end_date") - pl.col("start_date")).dt.total_days() + 1),
    )
    median = plans["per_day"].median()
    median_per_day = median if isinstance(median, float) else 0.0  # no budgets: no median
    overlap = (
        frame.join(plans, how="cross")
        .with_columns(
            days=(
                pl.min_horizontal(pl.col("end_date"), pl.col("week") + timedelta(days=6))
                - pl.max_horizontal(pl.col("start_date"), pl.col("week"))
            ).dt.total_days().clip(lower_bound=-1) + 1
        )
        .with_columns(share=pl.col("days") / 7)
    )
    features = overlap.group_by("week").agg(
        all_channel_share=(pl.col("share") * pl.col("all_channels")).sum(),
        channel_share=(pl.col("share") * ~pl.col("all_channels")).sum(),
        budget_intensity=(pl.col("share") * pl.col("per_day")).sum() / median_per_day if median_per_day > 0 else pl.lit(0.0),
    )
    return frame.join(features, on="week", how="left").sort("week")


def poisson_regression(features: np.ndarray, counts: np.ndarray, *, iterations: int = 100) -> np.ndarray:
    """Maximum-likelihood coefficients (intercept first) of log E[count] = b0 + features . b,
    by Newton's method (iteratively reweighted least squares); a dozen weekly rows and four
    columns take microseconds, where a general solver pays its threading overhead."""
    design = np.hstack([np.ones((len(features), 1)), features])
    coefficients = np.zeros(design.shape[1])
    coefficients[0] = np.log(max(counts.mean(), 1e-9))
    for _ in range(iterations):
        mean = np.exp(design @ coefficients)
        step = np.linalg.lstsq(design.T @ (design * mean[:, None]), design.T @ (counts - mean), rcond=None)[0]
        coefficients += step
        if np.max(np.abs(step)) < 1e-10:
            break
    return coefficients


@dataclass
class WeeklyDemandForecaster:
    """Level x campaign lift (see the module docstring).

    `fit(units, campaign_features)` takes `weekly_units` output and the `campaign_weeks` of
    its weeks; `predict(campaign_features)` takes the `campaign_weeks` of the weeks to
    forecast and gives week, category, forecast. Learns `beta_` (per campaign feature),
    `levels_` (category -> units in an ordinary week) and `categories_`.
    """

    halflife_weeks: float = 4.0

    def fit(self, units: pl.DataFrame, campaign_features: pl.DataFrame) -> "WeeklyDemandForecaster":
        table = units.pivot(on="category", index="week", values="units").sort("week")
        self.categories_ = [name for name in table.columns if name != "week"]
        history = table.select(self.categories_).to_numpy()
        features = table.select("week").join(campaign_features, on="week", how="left").select(CAMPAIGN_FEATURES).fill_null(0.0).to_numpy()
        weeks = len(history)
        if weeks < 2:
            raise ValueError("the demand forecast needs at least two whole weeks of orders")
        self.beta_ = np.zeros(len(CAMPAIGN_FEATURES))
        varying = features.std(axis=0) > 0
        if varying.any():
            trend = np.arange(weeks)[:, None] / SEASON_WEEKS
            coefficients = poisson_regression(np.hstack([trend, features[:, varying]]), history.sum(axis=1))
            self.beta_[varying] = coefficients[2:]
        lift = np.exp(features @ self.beta_)
        weights = 0.5 ** (np.arange(weeks)[::-1] / self.halflife_weeks)
        self.levels_ = dict(zip(self.categories_, (weights @ (history / lift[:, None])) / weights.sum()))
        return self

    def lift(self, campaign_features: pl.DataFrame) -> np.ndarray:
        return np.exp(campaign_features.select(CAMPAIGN_FEATURES).fill_null(0.0).to_numpy() @ self.beta_)

    def predict(self, campaign_features: pl.DataFrame) -> pl.DataFrame:
        lift = self.lift(campaign_features)
        return pl.DataFrame({
            "week": np.repeat(campaign_features["week"].to_numpy(), len(self.categories_)),
            "category": self.categories_ * campaign_features.height,
            "forecast": np.outer(lift, [self.levels_[name] for name in self.categories_]).ravel(),
        }).with_columns(pl.col("week").cast(pl.Date))


def season_length(weeks: int) -> int:
    """The season of a weekly history of `weeks` weeks: a year once more than a year is
    known, else one week (see the module docstring)."""
    return SEASON_WEEKS if weeks > SEASON_WEEKS else 1


def seasonal_naive(units: pl.DataFrame, weeks_ahead: list[date]) -> pl.DataFrame:
    """The seasonal naive forecast of `weeks_ahead` from `units` (weekly_units output):
    week, category, seasonal_naive (see the module docstring for the season)."""
    table = units.pivot(on="category", index="week", values="units").sort("week")
    history_weeks = table.height
    _, last_week = day_span(table["week"])
    rows = []
    for week in weeks_ahead:
        ahead = (week - last_week).days // 7
        season = season_length(history_weeks)
        back = history_weeks - season + (ahead - 1) % season
        rows.append(table.row(back, named=True) | {"week": week})
    return pl.DataFrame(rows).unpivot(index="week", variable_name="category", value_name="seasonal_naive").with_columns(
        pl.col("week").cast(pl.Date), pl.col("seasonal_naive").cast(pl.Float64)
    )


def naive_scale(units: pl.DataFrame) -> pl.DataFrame:
    """MASE's denominator per category: the mean absolute change over one season of the
    history (the in-sample error of the seasonal naive forecast); null when it is 0."""
    season = season_length(units["week"].n_unique())
    return (
        units.sort("week")
        .group_by("category")
        .agg(scale=(pl.col("units") - pl.col("units").shift(season)).abs().mean())
        .with_columns(pl.when(pl.col("scale") > 0).then(pl.col("scale")).alias("scale"))
    )


@dataclass(frozen=True)
class DemandForecast:
    """The forecast and its backtest.

    `forecast`: week, category, forecast, seasonal_naive, campaign_lift for the next
    `horizon_weeks` weeks. `backtest`: origin, week, category, actual, forecast,
    seasonal_naive, scale for every origin and week. `errors`: category (and "(all)"),
    mase_model, mase_naive, mape_model, mape_naive, weeks. `history`: the first and last
    week learned from.
    """

    forecast: pl.DataFrame
    backtest: pl.DataFrame
    errors: pl.DataFrame
    history: tuple[date, date]
    horizon_weeks: int


def _future_weeks(last_week: date, horizon: int) -> list[date]:
    return [last_week + timedelta(weeks=ahead) for ahead in range(1, horizon + 1)]


def _errors(backtest: pl.DataFrame) -> pl.DataFrame:
    def summarise(frame: pl.DataFrame) -> pl.DataFrame:
        with_units = pl.col("actual") > 0
        return frame.select(
            mase_model=((pl.col("forecast") - pl.col("actual")).abs() / pl.col("scale")).mean(),
            mase_naive=((pl.col("seasonal_naive") - pl.col("actual")).abs() / pl.col("scale")).mean(),
            mape_model=((pl.col("forecast") - pl.col("actual")).abs() / pl.col("actual")).filter(with_units).mean(),
            mape_naive=((pl.col("seasonal_naive") - pl.col("actual")).abs() / pl.col("actual")).filter(with_units).mean(),
            weeks=pl.len().cast(pl.Int64),
        )
    per_category = [summarise(group).with_columns(category=pl.lit(name)) for (name,), group in backtest.group_by("category")]
    overall = summarise(backtest).with_columns(category=pl.lit(ALL_CATEGORIES))
    columns = ("category", "mase_model", "mase_naive", "mape_model", "mape_naive", "weeks")
    return pl.concat([overall.select(columns), pl.concat(per_category).select(columns).sort("category")])


def demand_forecast(
    orders: pl.DataFrame,
    order_items: pl.DataFrame,
    products: pl.DataFrame,
    campaigns: pl.DataFrame | None,
    *,
    tz: str,
    end: date | None = None,
    horizon_weeks: int = DEFAULT_HORIZON_WEEKS,
    origins: int = DEFAULT_BACKTEST_ORIGINS,
    halflife_weeks: float = 4.0,
) -> DemandForecast:
    """Forecast weekly units per category for the `horizon_weeks` after the last whole week
    on or before `end` (default: the last order's day), and backtest the model against the
    seasonal naive forecast at the last `origins` origins (see the module docstring)."""
    if not 1 <= horizon_weeks <= SEASON_WEEKS:
        raise ValueError(f"the forecast horizon is 1 to {SEASON_WEEKS} weeks, not {horizon_weeks}")
    units = weekly_units(orders, order_items, products, tz=tz, end=end)
    weeks = units["week"].unique().sort().to_list()
    features = campaign_weeks(campaigns, weeks + _future_weeks(weeks[-1], horizon_weeks))

    model = WeeklyDemandForecaster(halflife_weeks).fit(units, features)
    ahead = features.filter(pl.col("week") > weeks[-1])
    forecast = (
        model.predict(ahead)
        .join(seasonal_naive(units, ahead["week"].to_list()), on=["week", "category"])
        .join(ahead.select("week", campaign_lift=model.lift(ahead)), on="week")
        .sort("week", "category")
    )

    first_origin = max(MIN_HISTORY_WEEKS, len(weeks) - horizon_weeks - origins + 1)
    runs = []
    for origin in range(first_origin, len(weeks) - horizon_weeks + 1):
        past = units.filter(pl.col("week") < weeks[origin])
        targets = weeks[origin:origin + horizon_weeks]
        target_features = features.filter(pl.col("week").is_in(targets))
        runs.append(
            WeeklyDemandForecaster(halflife_weeks).fit(past, features).predict(target_features)
            .join(seasonal_naive(past, targets), on=["week", "category"])
            .join(units.rename({"units": "actual"}), on=["week", "category"])
            .join(naive_scale(past), on="category")
            .with_columns(origin=pl.lit(weeks[origin]))
        )
    if not runs:
        raise ValueError(
            f"a backtest needs {MIN_HISTORY_WEEKS} whole weeks of history plus the {horizon_weeks}-week horizon; "
            f"there are {len(weeks)} weeks: choose a shorter horizon or a later end"
        )
    backtest = pl.concat(runs).select("origin", "week", "category", "actual", "forecast", "seasonal_naive", "scale").sort("origin", "week", "category")
    return DemandForecast(
        forecast=forecast.select("week", "category", "forecast", "seasonal_naive", "campaign_lift"),
        backtest=backtest,
        errors=_errors(backtest.drop_nulls("scale")),
        history=(weeks[0], weeks[-1]),
        horizon_weeks=horizon_weeks,
    )
