"""Predicted LTV (SPEC section 3): the BG/NBD purchase model and the Gamma-Gamma spend model.

SPEC: "BG/NBD for purchase counts with Gamma-Gamma for spend, fitted by maximum likelihood on
a calibration window, validated on a holdout window (predicted vs actual repeat purchases by
customer group)."

BG/NBD (Fader, Hardie and Lee 2005, "Counting your customers the easy way"): while alive a
customer buys at Poisson rate lambda, lambda ~ Gamma(r, alpha) across customers; after each
purchase the customer drops out with probability p, p ~ Beta(a, b). A customer is summarised by
`frequency` x (repeat purchases), `recency` t_x (time of the last purchase since the first)
and `T` (time since the first purchase to the end of calibration). Gamma-Gamma (Fader, Hardie
and Berger 2005): a customer's purchase values are Gamma(p, nu), nu ~ Gamma(q, gamma); it is fitted
on customers with at least one repeat purchase, from their mean repeat purchase value.

Why the likelihoods are written here rather than taken from pymc-marketing: its `clv` module
has the same two models (`BetaGeoModel`, `GammaGammaModel`) and a point fit
(`fit(method="map")`, maximum likelihood under flat priors), but it brings PyMC and PyTensor,
which compile C code on first use, hundreds of megabytes and seconds of import for what is a
four-parameter closed-form likelihood. SciPy's optimiser on the published likelihoods is a
few dozen lines, fits the sample shop in well under a second and is checked against the
published CDNOW estimates (tests/test_models_clv.py). lifetimes, the older library, is
unmaintained since 2020.
"""

from dataclasses import dataclass

import numpy as np
import polars as pl
from scipy.optimize import minimize
from scipy.special import betaln, gammaln, hyp2f1

BGNBD_COLUMNS = ("frequency", "recency", "T")
GAMMA_GAMMA_COLUMNS = ("frequency", "monetary_value")
# Starting point of the optimiser, in the models' natural units (each is fitted on its log).
_BGNBD_START = {"r": 1.0, "alpha": 1.0, "a": 1.0, "b": 1.0}
_GAMMA_GAMMA_START = {"p": 1.0, "q": 2.0, "gamma": 1.0}


def _require(frame: pl.DataFrame, columns: tuple[str, ...], model: str) -> None:
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise ValueError(
            f"{model} needs the columns {', '.join(columns)}; missing {', '.join(missing)} "
            "(build the frame with models.features.purchase_summary)"
        )


def _maximise(negative_loglik, start: dict[str, float], data: tuple) -> tuple[dict[str, float], float]:
    """Maximum likelihood over positive parameters: the optimiser works on their logs."""
    names = list(start)
    result = minimize(
        negative_loglik, np.log(list(start.values())), args=data, method="L-BFGS-B",
        options={"maxiter": 2000, "ftol": 1e-15, "gtol": 1e-9},
    )
    if not np.isfinite(result.fun):
        raise ValueError(f"the likelihood could not be maximised: {result.message}")
    return dict(zip(names, np.exp(result.x).tolist())), -float(result.fun)


def _grouped(frame: pl.DataFrame, columns: tuple[str, ...]) -> tuple[np.ndarray, ...]:
    """Distinct rows of `columns` and how often each occurs: the likelihood is a weighted sum."""
    # sorted, so that the sum runs in one order and the same data always gives the same fit
    grouped = frame.group_by(columns).agg(weight=pl.len()).sort(columns)
    return tuple(grouped[column].to_numpy().astype(float) for column in (*columns, "weight"))


def _bgnbd_negative_loglik(log_params, x, t_x, T, weight) -> float:
    r, alpha, a, b = np.exp(log_params)
    common = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + betaln(a, b + x) - betaln(a, b)
    still_alive = -(r + x) * np.log(alpha + T)
    # dropped out right after the last purchase: only possible when there was a repeat purchase
    repeat = x > 0
    dropped = np.full_like(x, -np.inf)
    dropped[repeat] = (
        np.log(a) - np.log(b + x[repeat] - 1) - (r + x[repeat]) * np.log(alpha + t_x[repeat])
    )
    loglik = common + np.logaddexp(still_alive, dropped)
    return -float(np.sum(weight * loglik))


@dataclass
class BetaGeoModel:
    """The BG/NBD model, fitted by maximum likelihood.

    `fit(summary)` takes one row per customer with `frequency` (repeat purchases, counted per
    customer-day), `recency` and `T` (in one time unit, weeks in this project as in the
    literature). Learns `params_` (r, alpha, a, b) and `loglik_`.
    """

    def fit(self, summary: pl.DataFrame) -> "BetaGeoModel":
        _require(summary, BGNBD_COLUMNS, "the BG/NBD model")
        if summary.height == 0:
            raise ValueError("the BG/NBD model needs at least one customer with a purchase in the calibration window")
        self.params_, self.loglik_ = _maximise(
            _bgnbd_negative_loglik, _BGNBD_START, _grouped(summary, BGNBD_COLUMNS)
        )
        return self

    def _arrays(self, summary: pl.DataFrame):
        _require(summary, BGNBD_COLUMNS, "the BG/NBD model")
        return tuple(summary[column].to_numpy().astype(float) for column in BGNBD_COLUMNS)

    def _dropout_odds(self, x, t_x, T) -> np.ndarray:
        """P(dropped out) / P(alive) given the history; 0 without a repeat purchase."""
        r, alpha, a, b = (self.params_[name] for name in ("r", "alpha", "a", "b"))
        odds = np.zeros_like(x)
        repeat = x > 0
        odds[repeat] = (
            a / (b + x[repeat] - 1)
            * np.exp((r + x[repeat]) * (np.log(alpha + T[repeat]) - np.log(alpha + t_x[repeat])))
        )
        return odds

    def probability_alive(self, summary: pl.DataFrame) -> np.ndarray:
        """P(alive at the end of calibration | x, t_x, T) = 1 / (1 + [x > 0] a / (b + x - 1)
        ((alpha + T) / (alpha + t_x))^(r + x)) (Fader, Hardie and Lee 2005, eq. 11 note)."""
        return 1.0 / (1.0 + self._dropout_odds(*self._arrays(summary)))

    def probability_no_purchase(self, summary: pl.DataFrame, t: float) -> np.ndarray:
        """P(no purchase in the next `t` time units | x, t_x, T) = 1 - P(alive) + P(alive)
        ((alpha + T) / (alpha + T + t))^(r + x): a live customer's rate is Gamma(r + x,
        alpha + T) given the history, and drop-out happens only at a purchase."""
        x, t_x, T = self._arrays(summary)
        r, alpha = self.params_["r"], self.params_["alpha"]
        alive = 1.0 / (1.0 + self._dropout_odds(x, t_x, T))
        quiet_while_alive = np.exp((r + x) * (np.log(alpha + T) - np.log(alpha + T + t)))
        return 1.0 - alive + alive * quiet_while_alive

    def expected_purchases(self, summary: pl.DataFrame, t: float) -> np.ndarray:
        """E[Y(t) | x, t_x, T]: expected purchases in the `t` time units after calibration (eq. 10).

        The hypergeometric term ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; z) with
        z = t/(alpha+T+t) is evaluated through Euler's transformation as
        (1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z), which stays finite for heavy buyers.
        """
        x, t_x, T = self._arrays(summary)
        r, alpha, a, b = (self.params_[name] for name in ("r", "alpha", "a", "b"))
        z = t / (alpha + T + t)
        decay = np.exp((a - 1) * np.log1p(-z)) * hyp2f1(a + b - 1 - r, a - 1, a + b + x - 1, z)
        alive_share = 1.0 + self._dropout_odds(x, t_x, T)
        return (a + b + x - 1) / (a - 1) * (1 - decay) / alive_share

    def population_expected_purchases(self, t: np.ndarray | float) -> np.ndarray:
        """E[X(t)]: expected purchases of a new customer in `t` time units after the first (eq. 9)."""
        r, alpha, a, b = (self.params_[name] for name in ("r", "alpha", "a", "b"))
        t = np.asarray(t, dtype=float)
        z = t / (alpha + t)
        decay = np.exp((a - 1) * np.log1p(-z)) * hyp2f1(a + b - 1 - r, a - 1, a + b - 1, z)
        return (a + b - 1) / (a - 1) * (1 - decay)


def _gamma_gamma_negative_loglik(log_params, x, mean_value, weight) -> float:
    p, q, gamma = np.exp(log_params)
    loglik = (
        gammaln(p * x + q) - gammaln(p * x) - gammaln(q) + q * np.log(gamma)
        + (p * x - 1) * np.log(mean_value) + p * x * np.log(x) - (p * x + q) * np.log(gamma + x * mean_value)
    )
    return -float(np.sum(weight * loglik))


@dataclass
class GammaGammaModel:
    """The Gamma-Gamma model of spend per purchase, fitted by maximum likelihood.

    `fit(summary)` takes one row per customer with `frequency` (repeat purchases) and
    `monetary_value` (their mean repeat purchase value); only customers with frequency > 0
    enter the fit. Learns `params_` (p, q, gamma) and `loglik_`.
    """

    def fit(self, summary: pl.DataFrame) -> "GammaGammaModel":
        _require(summary, GAMMA_GAMMA_COLUMNS, "the Gamma-Gamma model")
        repeaters = summary.filter(pl.col("frequency") > 0, pl.col("monetary_value") > 0)
        if repeaters.height < 2:
            raise ValueError(
                "the Gamma-Gamma model needs customers with repeat purchases; "
                f"the calibration window has {repeaters.height}: choose a later calibration end"
            )
        self.params_, self.loglik_ = _maximise(
            _gamma_gamma_negative_loglik, _GAMMA_GAMMA_START, _grouped(repeaters, GAMMA_GAMMA_COLUMNS)
        )
        return self

    @property
    def population_mean_value(self) -> float:
        """E[Z] = p gamma / (q - 1): the mean purchase value of a customer with no repeat purchase."""
        p, q, gamma = (self.params_[name] for name in ("p", "q", "gamma"))
        return p * gamma / (q - 1) if q > 1 else float("nan")

    def expected_value(self, summary: pl.DataFrame) -> np.ndarray:
        """E[Z | x, mean value] = (gamma + x m_x) p / (p x + q - 1): a weighted mean of the
        population mean and the customer's own mean repeat purchase value."""
        _require(summary, GAMMA_GAMMA_COLUMNS, "the Gamma-Gamma model")
        p, q, gamma = (self.params_[name] for name in ("p", "q", "gamma"))
        x = summary["frequency"].to_numpy().astype(float)
        mean_value = summary["monetary_value"].fill_null(0.0).to_numpy().astype(float)
        return (gamma + x * mean_value) * p / (p * x + q - 1)
