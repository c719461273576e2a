"""Churn risk: the chance that a customer makes no valid order in the next N days.

A gradient-boosted classifier (scikit-learn's HistGradientBoostingClassifier) on
`customer_features`, validated on a holdout and shown beside BG/NBD's probability alive.
With `as_of` the day the risk is wanted for and N the horizon:

- validation: the classifier learns from features as of as_of - 2N labelled by the N days
  after, and is scored on features as of as_of - N labelled by the N days up to as_of, so
  every label it is scored on was fully observed. BG/NBD, fitted on orders up to as_of - N,
  scores the same customers with its P(no purchase in N days) and with 1 - P(alive). Shown: ROC AUC, Brier score and a
  calibration table (predicted vs observed churn in ten bands of predicted probability);
- current risk: the classifier learns again from as_of - N with labels up to as_of and
  scores every customer as of as_of, beside BG/NBD's P(alive) fitted on orders up to as_of.

"Churned" = no valid order (SPEC definition) on the N business days after the as-of day.
"""

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import polars as pl

from models.clv import BetaGeoModel
from models.compute import one_thread
from models.features import DAYS_PER_WEEK, FeatureMatrix, customer_features, purchase_summary, with_future

DEFAULT_HORIZON_DAYS = 90
NOT_FEATURES = ("future_orders", "future_value", "churned")
CALIBRATION_BANDS = 10


@dataclass
class ChurnClassifier:
    """Gradient-boosted classifier of `churned` (no valid order in the next N days).

    `fit(frame)` takes a `customer_features` frame with a boolean `churned` column;
    `predict_proba(frame)` gives P(churned) per row.
    """

    max_iter: int = 100
    learning_rate: float = 0.1
    random_state: int = 0

    def fit(self, frame: pl.DataFrame) -> "ChurnClassifier":
        from sklearn.ensemble import HistGradientBoostingClassifier

        if "churned" not in frame.columns:
            raise ValueError("the churn model needs the label column churned (see churn.labelled)")
        if frame["churned"].n_unique() < 2:
            raise ValueError(
                "the churn model needs both customers who bought again and customers who did not "
                "in its training window: choose a later date or a longer horizon"
            )
        self.features_ = FeatureMatrix().fit(frame, exclude=NOT_FEATURES)
        with one_thread():
            self.model_ = HistGradientBoostingClassifier(
                max_iter=self.max_iter, learning_rate=self.learning_rate,
                categorical_features=self.features_.categorical_mask, random_state=self.random_state,
            ).fit(self.features_.transform(frame), frame["churned"].to_numpy())
        return self

    def predict_proba(self, frame: pl.DataFrame) -> np.ndarray:
        churned_column = list(self.model_.classes_).index(True)
        with one_thread():
            return self.model_.predict_proba(self.features_.transform(frame))[:, churned_column]


def labelled(frames: tuple, *, as_of: date, days: int, tz: str) -> pl.DataFrame:
    """`customer_features` as of `as_of` with `churned`: no valid order in the `days` after."""
    features = customer_features(*frames, as_of=as_of, tz=tz)
    return with_future(features, frames[2], days=days, as_of=as_of, tz=tz).with_columns(
        churned=pl.col("future_orders") == 0
    )


def calibration_table(predicted: np.ndarray, churned: np.ndarray) -> pl.DataFrame:
    """Ten equal-width bands of predicted probability: band_low, band_high, customers,
    predicted_mean, observed_rate (empty bands left out)."""
    band = np.minimum((predicted * CALIBRATION_BANDS).astype(int), CALIBRATION_BANDS - 1)
    return (
        pl.DataFrame({"band": band, "predicted": predicted, "churned": churned.astype(float)})
        .group_by("band")
        .agg(customers=pl.len().cast(pl.Int64), predicted_mean=pl.col("predicted").mean(), observed_rate=pl.col("churned").mean())
        .sort("band")
        .select(
            band_low=pl.col("band") / CALIBRATION_BANDS, band_high=(pl.col("band") + 1) / CALIBRATION_BANDS,
            customers="customers", predicted_mean="predicted_mean", observed_rate="observed_rate",
        )
    )


@dataclass(frozen=True)
class ChurnRisk:
    """Churn risk as of `as_of` over `horizon_days`, with its validation.

    `customers`: user_id, churn_probability (classifier), bgnbd_no_purchase (BG/NBD's
    P(no purchase in N days)), p_alive (BG/NBD), recency_days, frequency, monetary.
    `scores`: model ("gradient_boosting", "bgnbd_no_purchase", "bgnbd_1_minus_p_alive"),
    roc_auc, brier, base_rate on the validation holdout. 1 - P(alive) is not the chance of
    no order in N days (a live customer may not buy either, and BG/NBD holds every customer
    without a repeat purchase alive), so its brier is null and only its ranking compares. `calibration`: the classifier's
    calibration table on that holdout. `validation`: the holdout itself, user_id, churned
    (what happened), churn_probability, bgnbd_no_purchase, p_alive (for an ROC curve).
    `validation_as_of`: the holdout's features date.
    """

    customers: pl.DataFrame
    scores: pl.DataFrame
    validation: pl.DataFrame
    calibration: pl.DataFrame
    as_of: date
    horizon_days: int
    validation_as_of: date


def churn_risk(
    events: pl.DataFrame,
    sessions: pl.DataFrame,
    orders: pl.DataFrame,
    users: pl.DataFrame,
    order_items: pl.DataFrame | None,
    products: pl.DataFrame | None,
    *,
    as_of: date,
    tz: str,
    horizon_days: int = DEFAULT_HORIZON_DAYS,
) -> ChurnRisk:
    """Fit, validate and score the churn classifier (see the module docstring)."""
    from sklearn.metrics import brier_score_loss, roc_auc_score

    if horizon_days <= 0:
        raise ValueError(f"the churn horizon must be a positive number of days, not {horizon_days}")
    frames = (events, sessions, orders, users, order_items, products)
    validation_as_of = as_of - timedelta(days=horizon_days)
    training = labelled(frames, as_of=validation_as_of - timedelta(days=horizon_days), days=horizon_days, tz=tz)
    holdout = labelled(frames, as_of=validation_as_of, days=horizon_days, tz=tz)
    if holdout["churned"].n_unique() < 2:
        raise ValueError(
            f"the churn holdout ({validation_as_of} + {horizon_days} days) has only one outcome: "
            "choose a later date or a longer horizon"
        )
    predicted = ChurnClassifier().fit(training).predict_proba(holdout)
    churned = holdout["churned"].to_numpy()
    past = purchase_summary(orders, calibration_end=validation_as_of, tz=tz)
    past_model = BetaGeoModel().fit(past)
    bgnbd = holdout.select("user_id").join(
        past.select(
            "user_id",
            quiet=past_model.probability_no_purchase(past, horizon_days / DAYS_PER_WEEK),
            dead=1 - past_model.probability_alive(past),
        ),
        on="user_id", how="left",
    )
    validation = holdout.select("user_id", "churned").with_columns(
        churn_probability=predicted, bgnbd_no_purchase=bgnbd["quiet"], p_alive=1 - bgnbd["dead"]
    )
    base_rate = float(churned.mean())
    scores = pl.DataFrame(
        [
            {"model": name, "roc_auc": float(roc_auc_score(churned, score)),
             "brier": float(brier_score_loss(churned, score)) if is_probability else None, "base_rate": base_rate}
            for name, score, is_probability in (
                ("gradient_boosting", predicted, True),
                ("bgnbd_no_purchase", bgnbd["quiet"].to_numpy(), True),
                ("bgnbd_1_minus_p_alive", bgnbd["dead"].to_numpy(), False),
            )
        ],
        schema={"model": pl.String, "roc_auc": pl.Float64, "brier": pl.Float64, "base_rate": pl.Float64},
    )

    current = customer_features(*frames, as_of=as_of, tz=tz)
    classifier = ChurnClassifier().fit(holdout)
    summary = purchase_summary(orders, calibration_end=as_of, tz=tz)
    model = BetaGeoModel().fit(summary)
    alive = summary.select(
        "user_id",
        bgnbd_no_purchase=model.probability_no_purchase(summary, horizon_days / DAYS_PER_WEEK),
        p_alive=model.probability_alive(summary),
    )
    customers = (
        current.select("user_id", "recency_days", "frequency", "monetary")
        .with_columns(churn_probability=classifier.predict_proba(current))
        .join(alive, on="user_id", how="left")
        .select("user_id", "churn_probability", "bgnbd_no_purchase", "p_alive", "recency_days", "frequency", "monetary")
    )
    return ChurnRisk(
        customers=customers,
        scores=scores,
        validation=validation,
        calibration=calibration_table(predicted, churned),
        as_of=as_of,
        horizon_days=horizon_days,
        validation_as_of=validation_as_of,
    )
