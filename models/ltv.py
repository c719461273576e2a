"""Predicted LTV of every customer, with its holdout check (SPEC section 3, Predicted LTV).

`ltv_analysis` fits BG/NBD and Gamma-Gamma on the calibration window (valid orders up to
`calibration_end`), predicts each customer's purchases, probability alive and value over the
horizon after it, and, when a holdout is given, compares predicted and actual repeat
purchases in (calibration_end, holdout_end], in total and by calibration frequency as in
Fader, Hardie and Lee (2005, figure 4). Time is in weeks; purchases count per customer-day.
"""

from dataclasses import dataclass
from datetime import date

import numpy as np
import polars as pl

from models.clv import BetaGeoModel, GammaGammaModel
from models.features import DAYS_PER_WEEK, purchase_summary

DEFAULT_HORIZON_DAYS = 365
# Calibration frequencies from this one up are one group, as in the literature's "7+".
FREQUENCY_GROUP_CAP = 7
CUSTOMER_COLUMNS = ("user_id", "frequency", "recency", "T", "expected_purchases", "p_alive", "expected_value")


@dataclass(frozen=True)
class LtvAnalysis:
    """A fitted LTV model and what it says.

    `customers`: user_id, frequency, recency, T (weeks), expected_purchases and
    expected_value over `horizon_days` after calibration_end, p_alive at calibration_end.
    `holdout` (None without a holdout window): weeks, customers, predicted and actual repeat
    purchases, mean absolute error per customer. `holdout_by_frequency`: frequency (the last
    row is FREQUENCY_GROUP_CAP and more), customers, predicted_mean, actual_mean.
    """

    bgnbd: BetaGeoModel
    gamma_gamma: GammaGammaModel
    customers: pl.DataFrame
    holdout: dict | None
    holdout_by_frequency: pl.DataFrame | None
    calibration_end: date
    holdout_end: date | None
    horizon_days: int

    def to_document(self) -> dict:
        """The JSON object `cli.py export ltv` prints."""
        by_frequency = None if self.holdout_by_frequency is None else self.holdout_by_frequency.to_dicts()
        return {
            "calibration_end": self.calibration_end.isoformat(),
            "holdout_end": None if self.holdout_end is None else self.holdout_end.isoformat(),
            "horizon_days": self.horizon_days,
            "time_unit": "week",
            "bgnbd": {**self.bgnbd.params_, "loglik": self.bgnbd.loglik_},
            "gamma_gamma": {**self.gamma_gamma.params_, "loglik": self.gamma_gamma.loglik_},
            "holdout": None if self.holdout is None else {**self.holdout, "by_frequency": by_frequency},
            "customers": self.customers.select(CUSTOMER_COLUMNS).to_dicts(),
        }


def _holdout(summary: pl.DataFrame, bgnbd: BetaGeoModel, weeks: float) -> tuple[dict, pl.DataFrame]:
    predicted = bgnbd.expected_purchases(summary, weeks)
    actual = summary["holdout_frequency"].to_numpy()
    checked = summary.select(
        frequency=pl.col("frequency").clip(upper_bound=FREQUENCY_GROUP_CAP), actual="holdout_frequency"
    ).with_columns(predicted=predicted)
    by_frequency = (
        checked.group_by("frequency")
        .agg(customers=pl.len().cast(pl.Int64), predicted_mean=pl.col("predicted").mean(), actual_mean=pl.col("actual").mean())
        .sort("frequency")
    )
    totals = {
        "weeks": weeks,
        "customers": summary.height,
        "predicted_repeat_purchases": float(predicted.sum()),
        "actual_repeat_purchases": int(actual.sum()),
        "mean_absolute_error": float(np.mean(np.abs(predicted - actual))),
    }
    return totals, by_frequency


def ltv_analysis(
    orders: pl.DataFrame,
    *,
    calibration_end: date,
    tz: str,
    holdout_end: date | None = None,
    horizon_days: int = DEFAULT_HORIZON_DAYS,
) -> LtvAnalysis:
    """Fit BG/NBD and Gamma-Gamma on valid orders up to `calibration_end` (business days in
    `tz`) and predict over `horizon_days`; check against (calibration_end, holdout_end].

    Expected value = expected purchases over the horizon x Gamma-Gamma expected value per
    purchase, undiscounted GMV.
    """
    if horizon_days <= 0:
        raise ValueError(f"the LTV horizon must be a positive number of days, not {horizon_days}")
    if holdout_end is not None and holdout_end <= calibration_end:
        raise ValueError(f"the holdout end {holdout_end} must come after the calibration end {calibration_end}")
    summary = purchase_summary(orders, calibration_end=calibration_end, holdout_end=holdout_end, tz=tz)
    if summary.height == 0:
        raise ValueError(f"no customer has a valid order on or before the calibration end {calibration_end}")
    bgnbd = BetaGeoModel().fit(summary)
    gamma_gamma = GammaGammaModel().fit(summary)
    horizon_weeks = horizon_days / DAYS_PER_WEEK
    expected_purchases = bgnbd.expected_purchases(summary, horizon_weeks)
    customers = summary.select("user_id", "frequency", "recency", "T", "monetary_value").with_columns(
        expected_purchases=expected_purchases,
        p_alive=bgnbd.probability_alive(summary),
        expected_value=expected_purchases * gamma_gamma.expected_value(summary),
    )
    holdout = by_frequency = None
    if holdout_end is not None:
        holdout, by_frequency = _holdout(summary, bgnbd, (holdout_end - calibration_end).days / DAYS_PER_WEEK)
    return LtvAnalysis(
        bgnbd=bgnbd, gamma_gamma=gamma_gamma, customers=customers, holdout=holdout,
        holdout_by_frequency=by_frequency, calibration_end=calibration_end,
        holdout_end=holdout_end, horizon_days=horizon_days,
    )
