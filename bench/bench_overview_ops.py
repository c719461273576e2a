"""The Overview's issue 19 parts at size: its first render after a period change (AppTest, as
bench_pages.py times it) with two targets set, and what each new part costs on a cache miss.

The parts: the cards' own-history bands (8 earlier periods' summaries), the trend's
same-weekday band, the targets' pace (a month's GMV and a week's conversion rate, the latter
on the period's own distinct buyers and active users), the GMV decomposition (shop, channel,
category) and new and repeat orders with repurchase. Each is timed alone through the page's
cached functions, cleared first, on the same period.

    .venv/bin/python bench/bench_overview_ops.py [--db sample_data/shop.db] [--repeat 3]
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from streamlit.testing.v1 import AppTest  # noqa: E402

from connectors import SAMPLE_SHOP  # noqa: E402
from connectors.sql import sqlite_url  # noqa: E402
from shop_analytics.alerts.store import AlertStore  # noqa: E402
from shop_analytics.targets import TargetStore, checked_target  # noqa: E402
from shop_analytics.ui.filters import DATES_KEY  # noqa: E402

TARGET_SECONDS = 1.0
PERIOD_DAYS = 30


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", type=Path, default=SAMPLE_SHOP)
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args()
    print(f"{options.db}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as folder:
        database = Path(folder) / "alerts.db"
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
        at.secrets["connections"] = {"shop": {"url": sqlite_url(options.db)}}
        at.secrets["alerts"] = {"database": str(database)}
        started = time.perf_counter()
        at.run()
        print(f"first run with the shop's load {time.perf_counter() - started:.2f} s")
        _, last = at.session_state[DATES_KEY]
        store = TargetStore(AlertStore(database).engine)
        timings = []
        for shift in range(1, options.repeat + 1):
            end = last - timedelta(days=7 * shift)
            for target in (checked_target("gmv", "month", end, 1_000_000.0), checked_target("conversion_rate", "week", end, 0.05)):
                store.set(target, set_by="bench")
            at.session_state[DATES_KEY] = (end - timedelta(days=PERIOD_DAYS - 1), end)
            started = time.perf_counter()
            at.run()
            timings.append(time.perf_counter() - started)
            if at.exception:
                raise SystemExit(at.exception[0].value)
            paced = [metric.label for metric in at.metric if "target" in metric.label]
            assert len(paced) == 2, paced
        print(f"overview first render after a period change: median {statistics.median(timings):.2f} s, worst {max(timings):.2f} s "
              f"(target {TARGET_SECONDS:g} s): {', '.join(f'{value:.2f}' for value in timings)}")
        parts(at, last, options.repeat)


def parts(at: AppTest, last, repeat: int) -> None:
    """Each new part alone, its cache cleared, on a period the page has not computed."""
    from metrics.segments import Segment
    from shop_analytics.targets import Target
    from shop_analytics.ui import data

    print("part | median s")
    print("--- | ---:")
    end = last - timedelta(days=3)
    start = end - timedelta(days=PERIOD_DAYS - 1)
    segment = Segment()
    tz = "Asia/Shanghai"
    # the page's cache key (ui/data.source_key) of the configuration AppTest ran with
    config = next(iter(data._CONFIGS.values()))
    source = json.dumps({"config": config.fingerprint, "shop": config.shop_fingerprint, "extract": None})
    targets = (Target("gmv", "month", end.replace(day=1), 1_000_000.0), Target("conversion_rate", "week", end - timedelta(days=end.weekday()), 0.05))
    calls = {
        "card bands (8 earlier periods)": lambda: data.card_bands(source, start, end, tz, segment, ("gmv", "orders", "conversion_rate")),
        "trend band": lambda: data.trend_band(source, start, end, tz, segment, "gmv"),
        "targets' pace (2 targets)": lambda: data.target_paces(source, tz, end, targets),
        "GMV decomposition (shop, channel, category)": lambda: data.gmv_decomposition(source, start, end, tz, segment, "previous"),
        "new and repeat orders, repurchase": lambda: data.repeat_orders(source, start, end, tz, segment),
    }
    for name, call in calls.items():
        times = []
        for _ in range(repeat):
            for function in (data.card_bands, data.trend_band, data.target_paces, data.gmv_decomposition, data.repeat_orders,
                             data.period_comparison):
                function.clear()
            started = time.perf_counter()
            call()
            times.append(time.perf_counter() - started)
        print(f"{name} | {statistics.median(times):.3f}")


if __name__ == "__main__":
    main()
