"""The predictors on the sample shop at a fifth of its default size (10,000 users, 400,000
events, seed 7: the generator's seasonality, campaigns and churn, in a few seconds): the
gradient-boosted value model against the naive baseline and BG/NBD, churn risk against what
happened, and the demand forecast against the seasonal naive forecast in the backtest."""

from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest

from models.churn import churn_risk
from models.features import valid_order_days
from models.forecast import demand_forecast
from models.ltv import ltv_analysis
from models.value_regression import compare_value_predictors

TZ = "Asia/Shanghai"
FIFTH_SHOP = {"users": 10_000, "events": 400_000, "seed": 7}
CALIBRATION_END, HOLDOUT_END = date(2026, 8, 24), date(2026, 11, 22)


@pytest.fixture(scope="module")
def fifth_shop(tmp_path_factory):
    """The sample shop at a fifth of its size, written as a folder of Parquet tables and loaded
    as the app loads a source."""
    from connectors import open_source
    from sample_data.generator import generate_shop
    from shop_analytics.loading import load_shop

    folder = tmp_path_factory.mktemp("fifth_shop")
    for name, table in generate_shop(**FIFTH_SHOP).items():
        table.write_parquet(folder / f"{name}.parquet")
    return load_shop(open_source(folder))


def frames(shop):
    return shop.events, shop.sessions, shop.orders, shop.users, shop.order_items, shop.products


@pytest.fixture(scope="module")
def comparison(fifth_shop):
    return compare_value_predictors(*frames(fifth_shop), calibration_end=CALIBRATION_END, holdout_end=HOLDOUT_END, tz=TZ)


def test_gradient_boosting_beats_the_naive_baseline_on_the_holdout(fifth_shop, comparison):
    errors = {row["model"]: row for row in comparison.errors.to_dicts()}
    report = ", ".join(f"{name} MAE {row['mae']:.1f} RMSE {row['rmse']:.1f}" for name, row in errors.items())
    assert errors["gradient_boosting"]["mae"] < errors["naive_last_period"]["mae"], report
    assert errors["gradient_boosting"]["rmse"] < errors["naive_last_period"]["rmse"], report
    # the actual holdout value is the GMV of the holdout's valid orders by calibration customers
    valid = valid_order_days(fifth_shop.orders, TZ)
    customers = valid.filter(pl.col("day") <= CALIBRATION_END)["user_id"].unique()
    holdout_gmv = valid.filter(pl.col("day") > CALIBRATION_END, pl.col("day") <= HOLDOUT_END, pl.col("user_id").is_in(customers.implode()))["amount"].sum()
    assert errors["zero"]["actual_total"] == pytest.approx(holdout_gmv)
    assert errors["zero"]["mae"] == pytest.approx(holdout_gmv / customers.len())
    # the naive baseline repeats each customer's GMV of the 90 days before the calibration end
    naive_total = valid.filter(pl.col("day") > comparison.training_as_of, pl.col("day") <= CALIBRATION_END)["amount"].sum()
    assert comparison.training_as_of == CALIBRATION_END - timedelta(days=90)
    assert errors["naive_last_period"]["predicted_total"] == pytest.approx(naive_total)


def test_value_deciles_rank_customers_and_bgnbd_predictions_agree_with_the_ltv_model(fifth_shop, comparison):
    deciles = comparison.deciles.filter(pl.col("model") == "gradient_boosting")
    assert deciles["decile"].to_list() == list(range(1, 11))
    assert deciles["customers"].sum() == comparison.customers.height
    assert deciles["customers"].max() - deciles["customers"].min() <= 1
    top, bottom = deciles["actual_mean"][-1], deciles["actual_mean"][0]
    assert top > 10 * bottom, deciles
    analysis = ltv_analysis(fifth_shop.orders, calibration_end=CALIBRATION_END, tz=TZ, horizon_days=(HOLDOUT_END - CALIBRATION_END).days)
    joined = comparison.customers.join(analysis.customers, on="user_id")
    assert joined.height == comparison.customers.height
    np.testing.assert_allclose(joined["bgnbd_gamma_gamma"].to_numpy(), joined["expected_value"].to_numpy(), rtol=1e-9)


def test_churn_risk_is_scored_on_what_happened(fifth_shop):
    risk = churn_risk(*frames(fifth_shop), as_of=HOLDOUT_END, tz=TZ, horizon_days=90)
    validation = risk.validation
    # churned: no valid order in the 90 days after the validation date
    valid = valid_order_days(fifth_shop.orders, TZ)
    bought = valid.filter(pl.col("day") > risk.validation_as_of, pl.col("day") <= HOLDOUT_END)["user_id"].unique()
    assert validation.select(pl.col("churned") == ~pl.col("user_id").is_in(bought.implode())).to_series().all()
    # ROC AUC = the chance a churned customer scores above one who bought (ties half), by brute force
    churned = validation.filter(pl.col("churned"))["churn_probability"].to_numpy()
    stayed = validation.filter(~pl.col("churned"))["churn_probability"].to_numpy()
    brute_force = ((churned[:, None] > stayed[None, :]).mean() + 0.5 * (churned[:, None] == stayed[None, :]).mean())
    scores = {row["model"]: row for row in risk.scores.to_dicts()}
    assert scores["gradient_boosting"]["roc_auc"] == pytest.approx(brute_force)
    report = ", ".join(f"{name} AUC {row['roc_auc']:.3f}" for name, row in scores.items())
    assert scores["gradient_boosting"]["roc_auc"] > 0.7, report
    assert scores["gradient_boosting"]["roc_auc"] > scores["bgnbd_no_purchase"]["roc_auc"], report
    assert scores["gradient_boosting"]["brier"] == pytest.approx(((validation["churn_probability"] - validation["churned"].cast(pl.Float64)) ** 2).mean())
    calibration = risk.calibration
    assert calibration["customers"].sum() == validation.height
    assert (calibration["customers"] * calibration["observed_rate"]).sum() == pytest.approx(validation["churned"].sum())
    # every current customer is scored, with BG/NBD's view beside
    assert risk.customers["churn_probability"].is_between(0, 1).all() and risk.customers["p_alive"].null_count() == 0


def test_forecast_beats_the_seasonal_naive_forecast_in_the_backtest(fifth_shop):
    shop = fifth_shop
    result = demand_forecast(shop.orders, shop.order_items, shop.products, shop.campaigns, tz=TZ, horizon_weeks=8)
    overall = result.errors.row(0, named=True)
    message = (
        f"backtest MASE: model {overall['mase_model']:.3f}, seasonal naive {overall['mase_naive']:.3f}; "
        f"MAPE: model {overall['mape_model']:.1%}, seasonal naive {overall['mape_naive']:.1%}"
    )
    print(message)
    assert overall["category"] == "(all)"
    assert overall["mase_model"] < overall["mase_naive"], message
    assert overall["mape_model"] < overall["mape_naive"], message
    # eight origins, each forecasting eight weeks of every category, the Double 11 weeks among them
    categories = shop.products["category"].n_unique()
    assert result.backtest["origin"].n_unique() == 8 and overall["weeks"] == 8 * 8 * categories
    assert date(2026, 11, 9) in result.backtest["week"].to_list()
    # with less than a year of history the seasonal naive forecast repeats the last whole week
    # before the origin: for the second origin, the units of the first origin's week
    first_origin = result.backtest["origin"].min()
    second = result.backtest.filter(pl.col("origin") == first_origin + timedelta(weeks=1))
    assert second.group_by("category").agg(pl.col("seasonal_naive").n_unique())["seasonal_naive"].to_list() == [1] * categories
    week_before = result.backtest.filter(pl.col("origin") == first_origin, pl.col("week") == first_origin)
    assert dict(second.group_by("category").agg(pl.col("seasonal_naive").first()).iter_rows()) == dict(
        week_before.select("category", "actual").iter_rows()
    )
    # the forecast covers the eight weeks after the last whole week
    assert result.history[1] == date(2026, 11, 16)
    assert result.forecast["week"].unique().sort().to_list() == [date(2026, 11, 23) + timedelta(weeks=k) for k in range(8)]
