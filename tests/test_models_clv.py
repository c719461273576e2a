"""BG/NBD and Gamma-Gamma: the published CDNOW estimates, recovery of simulated parameters,
the closed forms against direct evaluation, and the purchase summary on hand-made orders."""

from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from conftest import utc
from scipy.special import hyp2f1

from models.clv import BetaGeoModel, GammaGammaModel
from models.features import purchase_summary
from models.ltv import ltv_analysis

CDNOW = Path(__file__).parent / "data" / "cdnow_customers_summary_with_transactions.csv"


def significant(value: float, digits: int = 2) -> float:
    return float(f"{value:.{digits - 1}e}")


@pytest.fixture(scope="module")
def cdnow() -> pl.DataFrame:
    """The 2,357 CDNOW customers, 39-week calibration: x, t_x, T (weeks) and mean repeat spend."""
    return pl.read_csv(CDNOW).rename({"x": "frequency", "t_x": "recency", "zbar": "monetary_value"})


def test_bgnbd_matches_fader_hardie_lee_2005_on_cdnow(cdnow):
    model = BetaGeoModel().fit(cdnow)
    assert cdnow.height == 2357
    published = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    assert {name: significant(value) for name, value in model.params_.items()} == {
        name: significant(value) for name, value in published.items()
    }, model.params_
    assert model.loglik_ == pytest.approx(-9582.4, abs=0.1)  # the paper's LL


def test_gamma_gamma_matches_fader_hardie_on_cdnow(cdnow):
    model = GammaGammaModel().fit(cdnow)
    published = {"p": 6.25, "q": 3.74, "gamma": 15.44}
    assert {name: significant(value) for name, value in model.params_.items()} == {
        name: significant(value) for name, value in published.items()
    }, model.params_
    # fitted on the 946 customers with a repeat purchase; the population mean spend p gamma / (q - 1)
    assert cdnow.filter(pl.col("frequency") > 0).height == 946
    assert model.population_mean_value == pytest.approx(6.25 * 15.44 / 2.74, rel=2e-3)


def test_cdnow_conditional_expectation_matches_the_direct_formula(cdnow):
    """E[Y(39) | x, t_x, T] through Euler's transformation equals the paper's equation 10."""
    model = BetaGeoModel().fit(cdnow)
    r, alpha, a, b = (model.params_[name] for name in ("r", "alpha", "a", "b"))
    x, t_x, T = (cdnow[column].to_numpy() for column in ("frequency", "recency", "T"))
    t = 39.0
    direct = (a + b + x - 1) / (a - 1) * (
        1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp2f1(r + x, b + x, a + b + x - 1, t / (alpha + T + t))
    ) / (1 + (x > 0) * a / (b + x - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x))
    np.testing.assert_allclose(model.expected_purchases(cdnow, t), direct, rtol=1e-9)
    # FHL 2005 p. 281: a customer with x = 2, t_x = 30.43, T = 38.86 expects 1.226 purchases in 39 weeks
    one = pl.DataFrame({"frequency": [2], "recency": [30.43], "T": [38.86]})
    assert model.expected_purchases(one, 39.0)[0] == pytest.approx(1.226, abs=1e-3)


def simulate_bgnbd(rng, n: int, params: dict, T: np.ndarray, holdout: float = 0.0) -> pl.DataFrame:
    """Customers from the BG/NBD story: Poisson purchases at rate lambda ~ Gamma(r, alpha) and
    a drop-out chance p ~ Beta(a, b) after each purchase, watched for T weeks after the first
    purchase and then for `holdout` weeks more (holdout_frequency)."""
    rate = rng.gamma(params["r"], 1 / params["alpha"], n)
    dropout = rng.beta(params["a"], params["b"], n)
    now, x, t_x, later = np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n)
    alive = np.ones(n, dtype=bool)
    while alive.any():
        now = np.where(alive, now + rng.exponential(1 / np.maximum(rate, 1e-12)), now)
        in_calibration = alive & (now <= T)
        in_holdout = alive & (now > T) & (now <= T + holdout)
        x += in_calibration
        t_x = np.where(in_calibration, now, t_x)
        later += in_holdout
        alive &= (in_calibration | in_holdout) & (rng.random(n) >= dropout)
    return pl.DataFrame({"frequency": x, "recency": t_x, "T": T, "holdout_frequency": later})


BGNBD_TRUTH = {"r": 0.5, "alpha": 5.0, "a": 0.8, "b": 2.5}


def test_bgnbd_recovers_simulated_parameters_and_predicts_the_holdout():
    rng = np.random.default_rng(11)
    n = 30_000
    customers = simulate_bgnbd(rng, n, BGNBD_TRUTH, T=rng.uniform(20, 60, n), holdout=39.0)
    model = BetaGeoModel().fit(customers)
    for name, truth in BGNBD_TRUTH.items():
        assert model.params_[name] == pytest.approx(truth, rel=0.15), (name, model.params_)
    predicted = model.expected_purchases(customers, 39.0)
    actual = customers["holdout_frequency"].to_numpy()
    assert predicted.sum() == pytest.approx(actual.sum(), rel=0.05)
    # the customers the model calls quiet buy little, those it calls active buy much more
    heavy = customers["frequency"].to_numpy() >= 3
    assert predicted[heavy].mean() == pytest.approx(actual[heavy].mean(), rel=0.1)
    no_purchase = model.probability_no_purchase(customers, 39.0)
    assert no_purchase.mean() == pytest.approx((actual == 0).mean(), abs=0.01)


GAMMA_GAMMA_TRUTH = {"p": 4.0, "q": 3.0, "gamma": 20.0}


def test_gamma_gamma_recovers_simulated_parameters():
    rng = np.random.default_rng(5)
    n = 20_000
    purchases = rng.integers(1, 8, n)
    nu = rng.gamma(GAMMA_GAMMA_TRUTH["q"], 1 / GAMMA_GAMMA_TRUTH["gamma"], n)
    values = [rng.gamma(GAMMA_GAMMA_TRUTH["p"], 1 / scale, count).mean() for scale, count in zip(nu, purchases)]
    customers = pl.DataFrame({"frequency": purchases, "monetary_value": values})
    model = GammaGammaModel().fit(customers)
    for name, truth in GAMMA_GAMMA_TRUTH.items():
        assert model.params_[name] == pytest.approx(truth, rel=0.1), (name, model.params_)


def orders_frame(rows) -> pl.DataFrame:
    """Orders from (order_id, user_id, 'YYYY-MM-DD HH:MM' UTC, amount, status) rows."""
    return pl.DataFrame(
        {
            "order_id": [row[0] for row in rows], "user_id": [row[1] for row in rows],
            "created_at": [utc(row[2]) for row in rows], "amount": [row[3] for row in rows],
            "status": [row[4] for row in rows],
        },
        schema={"order_id": pl.Int64, "user_id": pl.Int64, "created_at": pl.Datetime("us", "UTC"), "amount": pl.Float64, "status": pl.String},
    )


def test_purchase_summary_counts_customer_days_in_the_business_zone():
    orders = orders_frame([
        (1, 1, "2026-01-01 02:00", 100.0, "completed"),  # Jan 1 in Shanghai
        (2, 1, "2026-01-01 03:00", 50.0, "completed"),   # same day: one purchase of 150
        (3, 1, "2026-01-14 17:00", 30.0, "paid"),        # Jan 15 in Shanghai (UTC+8)
        (4, 1, "2026-01-29 01:00", 70.0, "refunded"),    # Jan 29: refunded orders are valid
        (5, 1, "2026-01-30 01:00", 999.0, "cancelled"),  # not valid
        (6, 2, "2026-01-08 01:00", 40.0, "shipped"),     # one purchase only
        (7, 2, "2026-02-05 01:00", 60.0, "completed"),   # holdout
        (8, 2, "2026-02-20 01:00", 25.0, "completed"),   # after the holdout
        (9, 3, "2026-02-02 01:00", 80.0, "completed"),   # first purchase after calibration: not a customer yet
    ])
    summary = purchase_summary(orders, calibration_end=date(2026, 1, 29), holdout_end=date(2026, 2, 11), tz="Asia/Shanghai")
    assert summary.to_dicts() == [
        {"user_id": 1, "first_purchase": date(2026, 1, 1), "frequency": 2, "recency": 4.0, "T": 4.0,
         "monetary_value": 50.0, "calibration_value": 250.0, "holdout_frequency": 0, "holdout_value": 0.0},
        {"user_id": 2, "first_purchase": date(2026, 1, 8), "frequency": 0, "recency": 0.0, "T": 3.0,
         "monetary_value": None, "calibration_value": 40.0, "holdout_frequency": 1, "holdout_value": 60.0},
    ]


def test_ltv_analysis_reports_the_holdout_by_calibration_frequency(small_shop):
    analysis = ltv_analysis(small_shop.orders, calibration_end=date(2026, 8, 1), holdout_end=date(2026, 11, 22), tz="Asia/Shanghai", horizon_days=365)
    summary = purchase_summary(small_shop.orders, calibration_end=date(2026, 8, 1), holdout_end=date(2026, 11, 22), tz="Asia/Shanghai")
    assert analysis.holdout["actual_repeat_purchases"] == summary["holdout_frequency"].sum()
    assert analysis.holdout["customers"] == summary.height == analysis.customers.height
    by_frequency = analysis.holdout_by_frequency
    assert by_frequency["customers"].sum() == summary.height
    # group means add back up to the totals
    assert (by_frequency["customers"] * by_frequency["actual_mean"]).sum() == pytest.approx(analysis.holdout["actual_repeat_purchases"])
    assert (by_frequency["customers"] * by_frequency["predicted_mean"]).sum() == pytest.approx(analysis.holdout["predicted_repeat_purchases"])
    # expected value = expected purchases x Gamma-Gamma spend per purchase; one-time buyers are alive
    customers = analysis.customers
    spend = analysis.gamma_gamma.expected_value(summary)
    np.testing.assert_allclose(customers["expected_value"].to_numpy(), customers["expected_purchases"].to_numpy() * spend)
    assert customers.filter(pl.col("frequency") == 0)["p_alive"].to_list() == [1.0] * (summary["frequency"] == 0).sum()
