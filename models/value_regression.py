"""A second LTV predictor: gradient boosting on behaviour, against BG/NBD and a naive baseline.

SPEC: "a gradient-boosted model on behaviour features is a second, comparable predictor."
All three predict each customer's GMV in the holdout window (calibration_end, holdout_end]
from what was known at the end of `calibration_end`, and are scored on the same customers:

- gradient_boosting: scikit-learn's HistGradientBoostingRegressor (Poisson loss: the target
  is a non-negative, mostly zero, heavy-tailed amount) on `customer_features`. It learns
  from the window of the same length just before: features as of calibration_end - L and
  the value of the L days after, so it never sees a holdout order;
- bgnbd_gamma_gamma: BG/NBD expected purchases over the holdout times the Gamma-Gamma
  expected value per purchase, fitted on the calibration window;
- naive_last_period: the customer's GMV in the last L days of calibration, repeated.

Errors: MAE, RMSE and the totals. On this kind of target (most customers buy nothing in a
holdout) the MAE of predicting 0 for everyone is also shown (`zero`): MAE rewards the median,
so a model that predicts expected values can lose to 0 on MAE while ranking customers far
better, which the decile table shows.
"""

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import polars as pl

from models.clv import BetaGeoModel, GammaGammaModel
from models.compute import one_thread
from models.features import (
    DAYS_PER_WEEK,
    FeatureMatrix,
    customer_features,
    future_value,
    purchase_summary,
    with_future,
)

TARGET = "future_value"
NOT_FEATURES = ("future_orders", "future_value")
MODELS = ("gradient_boosting", "bgnbd_gamma_gamma", "naive_last_period", "zero")
DECILES = 10


@dataclass
class ValueRegressor:
    """Gradient-boosted regression of future value on `customer_features`.

    `fit(frame)` takes a `customer_features` frame with the target column `future_value`
    (see `features.with_future`); `predict(frame)` takes a features frame and gives one
    non-negative prediction per row.
    """

    max_iter: int = 100
    learning_rate: float = 0.1
    random_state: int = 0

    def fit(self, frame: pl.DataFrame) -> "ValueRegressor":
        from sklearn.ensemble import HistGradientBoostingRegressor

        if TARGET not in frame.columns:
            raise ValueError("the value model needs the target column future_value (features.with_future)")
        if frame.height == 0:
            raise ValueError("the value model needs customers with a valid order before the training window")
        self.features_ = FeatureMatrix().fit(frame, exclude=NOT_FEATURES)
        with one_thread():
            self.model_ = HistGradientBoostingRegressor(
                loss="poisson", max_iter=self.max_iter, learning_rate=self.learning_rate,
                categorical_features=self.features_.categorical_mask, random_state=self.random_state,
            ).fit(self.features_.transform(frame), frame[TARGET].to_numpy())
        return self

    def predict(self, frame: pl.DataFrame) -> np.ndarray:
        with one_thread():
            return self.model_.predict(self.features_.transform(frame))


@dataclass(frozen=True)
class ValueComparison:
    """The three predictors on one holdout.

    `customers`: user_id, actual_value and one column of predicted holdout GMV per model.
    `errors`: model, mae, rmse, predicted_total, actual_total. `deciles`: model, decile (1 =
    lowest predictions, 10 = highest, by that model), customers, predicted_mean, actual_mean.
    The windows: the model learned from features as of `training_as_of` and the value up to
    `calibration_end`; all are scored on (calibration_end, holdout_end].
    """

    customers: pl.DataFrame
    errors: pl.DataFrame
    deciles: pl.DataFrame
    training_as_of: date
    calibration_end: date
    holdout_end: date


def _errors(customers: pl.DataFrame) -> pl.DataFrame:
    actual = customers["actual_value"].to_numpy()
    rows = []
    for model in MODELS:
        predicted = customers[model].to_numpy()
        rows.append({
            "model": model,
            "mae": float(np.mean(np.abs(predicted - actual))),
            "rmse": float(np.sqrt(np.mean((predicted - actual) ** 2))),
            "predicted_total": float(predicted.sum()),
            "actual_total": float(actual.sum()),
        })
    return pl.DataFrame(rows)


def decile_table(customers: pl.DataFrame, models: tuple[str, ...], actual: str) -> pl.DataFrame:
    """Predicted vs actual by decile of each model's prediction: model, decile (1..10, ties
    split by user_id so deciles hold equal numbers), customers, predicted_mean, actual_mean."""
    tables = []
    for model in models:
        ranked = customers.sort(model, "user_id").with_row_index("rank")
        tables.append(
            ranked.group_by(decile=(pl.col("rank") * DECILES // ranked.height + 1).cast(pl.Int64))
            .agg(customers=pl.len().cast(pl.Int64), predicted_mean=pl.col(model).mean(), actual_mean=pl.col(actual).mean())
            .with_columns(model=pl.lit(model))
        )
    return pl.concat(tables).select("model", "decile", "customers", "predicted_mean", "actual_mean").sort("model", "decile")


def compare_value_predictors(
    events: pl.DataFrame,
    sessions: pl.DataFrame,
    orders: pl.DataFrame,
    users: pl.DataFrame,
    order_items: pl.DataFrame | None,
    products: pl.DataFrame | None,
    *,
    calibration_end: date,
    holdout_end: date,
    tz: str,
) -> ValueComparison:
    """Fit the three predictors on what was known at `calibration_end` and score their
    predictions of each customer's GMV in (calibration_end, holdout_end] (business days in
    `tz`); the customers are those with a valid order on or before calibration_end."""
    if holdout_end <= calibration_end:
        raise ValueError(f"the holdout end {holdout_end} must come after the calibration end {calibration_end}")
    length = (holdout_end - calibration_end).days
    training_as_of = calibration_end - timedelta(days=length)
    frames = (events, sessions, orders, users, order_items, products)

    training = with_future(customer_features(*frames, as_of=training_as_of, tz=tz), orders, days=length, as_of=training_as_of, tz=tz)
    holdout = with_future(customer_features(*frames, as_of=calibration_end, tz=tz), orders, days=length, as_of=calibration_end, tz=tz)
    regressor = ValueRegressor().fit(training)

    summary = purchase_summary(orders, calibration_end=calibration_end, holdout_end=holdout_end, tz=tz)
    bgnbd, gamma_gamma = BetaGeoModel().fit(summary), GammaGammaModel().fit(summary)
    bgnbd_value = summary.select(
        "user_id", bgnbd_gamma_gamma=bgnbd.expected_purchases(summary, length / DAYS_PER_WEEK) * gamma_gamma.expected_value(summary)
    )
    naive = future_value(orders, after=training_as_of, until=calibration_end, tz=tz).select(
        "user_id", naive_last_period=pl.col("future_value")
    )
    customers = (
        holdout.select("user_id", actual_value=pl.col(TARGET))
        .with_columns(gradient_boosting=regressor.predict(holdout))
        .join(bgnbd_value, on="user_id", how="left")
        .join(naive, on="user_id", how="left")
        .with_columns(pl.col("naive_last_period").fill_null(0.0), zero=pl.lit(0.0))
    )
    return ValueComparison(
        customers=customers,
        errors=_errors(customers),
        deciles=decile_table(customers, MODELS[:3], "actual_value"),
        training_as_of=training_as_of,
        calibration_end=calibration_end,
        holdout_end=holdout_end,
    )
