"""Model fit times on a shop: what the Segments & LTV page computes, each fit timed.

`python bench/bench_models.py [--db PATH] [--repeat 3] [--holdout-days 90]`

The shop is loaded once, as the app loads it. The data's last day is the as-of day; the LTV
and value models calibrate up to `--holdout-days` before it and are checked on the days
after. Each step runs `--repeat` times and its median wall time is reported, then the whole
set in one pass (median of `--repeat` passes), which is what a page pays on a cold cache. The
first pass also pays scikit-learn's import, so it is reported apart. Beside the times, the
holdout errors each model reports, so a speed-up that breaks a model shows.
"""

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from connectors import open_source
from models.basket import association_rules, baskets
from models.churn import churn_risk
from models.clusters import RfmClusters
from models.forecast import demand_forecast
from models.ltv import ltv_analysis
from models.rfm import rfm_table, segment_summary
from models.tags import tag_counts, user_tags
from models.value_regression import compare_value_predictors
from shop_analytics.loading import load_shop

TZ = "Asia/Shanghai"
BASKET_MIN_SUPPORT = 0.001
DEFAULT_DB = Path(__file__).resolve().parents[1] / "sample_data" / "shop.db"


def model_steps(shop, *, holdout_days: int) -> dict[str, Callable[[], object]]:
    """The fits of the Segments & LTV page, by name, each a closure over the loaded shop."""
    _, last_day = shop.date_span(TZ)
    calibration_end = last_day - timedelta(days=holdout_days)
    frames = (shop.events, shop.sessions, shop.orders, shop.users, shop.order_items, shop.products)

    def segments():
        rfm = rfm_table(shop.orders, as_of=last_day, tz=TZ)
        clusters = RfmClusters().fit(rfm)
        return segment_summary(rfm), clusters.clusters(rfm)

    return {
        "rfm segments + k-means (k by silhouette)": segments,
        "user tags": lambda: tag_counts(user_tags(shop.events, shop.orders, shop.users, shop.order_items, shop.products, as_of=last_day, tz=TZ)),
        "BG/NBD + Gamma-Gamma with holdout": lambda: ltv_analysis(shop.orders, calibration_end=calibration_end, holdout_end=last_day, tz=TZ),
        "gradient boosting vs BG/NBD vs naive": lambda: compare_value_predictors(*frames, calibration_end=calibration_end, holdout_end=last_day, tz=TZ),
        "churn classifier (validated) + scores": lambda: churn_risk(*frames, as_of=last_day, tz=TZ, horizon_days=holdout_days),
        "association rules (category)": lambda: association_rules(
            baskets(shop.orders, shop.order_items, shop.products, tz=TZ, level="category"), min_support=BASKET_MIN_SUPPORT
        ),
        "demand forecast + 8-origin backtest": lambda: demand_forecast(shop.orders, shop.order_items, shop.products, shop.campaigns, tz=TZ, end=last_day),
    }


def timed(step: Callable[[], object]) -> tuple[float, object]:
    started = time.perf_counter()
    result = step()
    return time.perf_counter() - started, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=str(DEFAULT_DB), help="SQLite file, SQLAlchemy URL or folder of tables")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--holdout-days", type=int, default=90)
    arguments = parser.parse_args()

    load_seconds, shop = timed(lambda: load_shop(open_source(arguments.db)))
    print(f"load {arguments.db}: {load_seconds:.2f} s ({shop.events.height:,} events, {shop.orders.height:,} orders)")
    steps = model_steps(shop, holdout_days=arguments.holdout_days)

    cold_seconds, _ = timed(lambda: [step() for step in steps.values()])
    print(f"first pass, with scikit-learn's import: {cold_seconds:.2f} s")

    results = {}
    print(f"\n{'step':<42} {'median s':>9}   (of {arguments.repeat})")
    for name, step in steps.items():
        runs = [timed(step) for _ in range(arguments.repeat)]
        results[name] = runs[-1][1]
        print(f"{name:<42} {statistics.median(seconds for seconds, _ in runs):>9.3f}")
    passes = [timed(lambda: [step() for step in steps.values()])[0] for _ in range(arguments.repeat)]
    print(f"{'all models, one pass':<42} {statistics.median(passes):>9.3f}")

    ltv = results["BG/NBD + Gamma-Gamma with holdout"]
    value = results["gradient boosting vs BG/NBD vs naive"]
    churn = results["churn classifier (validated) + scores"]
    forecast = results["demand forecast + 8-origin backtest"]
    print("\nholdout checks")
    print(f"BG/NBD {ltv.bgnbd.params_} repeat purchases predicted {ltv.holdout['predicted_repeat_purchases']:.0f}, actual {ltv.holdout['actual_repeat_purchases']}")
    for row in value.errors.iter_rows(named=True):
        print(f"value {row['model']:<18} MAE {row['mae']:8.2f}  RMSE {row['rmse']:8.2f}  predicted {row['predicted_total']:12.0f}  actual {row['actual_total']:12.0f}")
    for row in churn.scores.iter_rows(named=True):
        print(f"churn {row['model']:<22} AUC {row['roc_auc']:.3f}  Brier {row['brier'] if row['brier'] is None else round(row['brier'], 3)}  base rate {row['base_rate']:.3f}")
    overall = forecast.errors.row(0, named=True)
    print(f"forecast MASE model {overall['mase_model']:.3f} vs seasonal naive {overall['mase_naive']:.3f}; MAPE {overall['mape_model']:.1%} vs {overall['mape_naive']:.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
