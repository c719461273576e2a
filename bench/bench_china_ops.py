"""Micro-benchmark of issue 19's metric functions: decomposition, new and repeat orders,
repurchase, abandonment, attribution, pacing, own-history bands and the GMV basis.

`python bench/bench_china_ops.py [--db PATH] [--repeat 3] [--days 30] [--events N]`

The shop is `--db` (default the sample shop, sample_data/shop.db: 2,000,000 events); when that
file does not exist, a sample shop of `--events` events (default 500,000, with users in the
sample's proportion) is generated into a temporary folder first. It is loaded as the app loads
it (`load_shop(open_source(PATH))`); the load is timed once. Each function then runs on the
last `--days` days of the data (compared with the `--days` before them where it compares)
`--repeat` times, and the median wall time is printed beside the budget: the overview's first
render must stay under 1 s with the new parts (issue 19), so each function should take well
under 0.3 s. The daily KPI table the bands and pacing read is computed once, outside the
timings, as the overview keeps it cached for the whole history; the eight `period_summary`
calls a period band needs are timed as their own line.
"""

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from connectors import SAMPLE_SHOP, open_source
from metrics.abandonment import abandoning_users, abandonment
from metrics.attribution import attributed_channel_table, compare_attribution_models
from metrics.bands import daily_bands, period_bands, previous_periods
from metrics.decomposition import category_gmv_factors, decompose_gmv, gmv_factors
from metrics.gmv_basis import GmvBasis, apply_gmv_basis
from metrics.kpis import daily_kpis
from metrics.pacing import expected_path, pace_against_target
from metrics.periods import PERIOD_COLUMNS, period_summary
from metrics.repeat_orders import new_and_repeat_orders, repurchase_rates
from shop_analytics.loading import load_shop

TZ = "Asia/Shanghai"
BUDGET_SECONDS = 0.3
SAMPLE_USERS_PER_EVENT = 50_000 / 2_000_000
BAND_KPIS = ("dau", "new_users", "orders", "buyers", "gmv", "refunds", "conversion_rate", "aov", "sessions",
             "bounce_rate", "session_conversion")


def median_seconds(run: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        run()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def shop_path(arguments: argparse.Namespace, scratch: Path) -> Path:
    if arguments.db.exists():
        return arguments.db
    from sample_data.generator import generate_shop
    from sample_data.sqlite_store import write_sqlite

    path = scratch / "shop.db"
    users = max(100, round(arguments.events * SAMPLE_USERS_PER_EVENT))
    print(f"{arguments.db} does not exist: generating a shop of {arguments.events:,} events, {users:,} users", flush=True)
    began = time.perf_counter()
    write_sqlite(generate_shop(users=users, events=arguments.events, seed=7), path)
    print(f"generated in {time.perf_counter() - began:.1f} s", flush=True)
    return path


def month_start(day: date) -> date:
    return day.replace(day=1)


def month_end(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


def cases(shop, *, start: date, end: date, days: int) -> dict[str, Callable[[], object]]:
    """The functions to time, each a call as a page would make it."""
    events, sessions, orders, users = shop.events, shop.sessions, shop.orders, shop.users
    period = {"start": start, "end": end, "tz": TZ}
    before = {"start": start - timedelta(days=days), "end": start - timedelta(days=1), "tz": TZ}
    first_day, _ = shop.date_span(TZ)
    daily = daily_kpis(events, sessions, orders, users, start=first_day, end=end, tz=TZ)
    month = {"start": month_start(end), "end": month_end(end), "as_of": end}
    gmv_target = float(daily.filter(daily["date"] >= month["start"])["gmv"].sum()) * 1.2 + 1.0
    current_summary = period_summary(events, sessions, orders, users, **period)
    history_periods = previous_periods(start, end)

    def decomposition():
        return decompose_gmv(gmv_factors(sessions, orders, **period), gmv_factors(sessions, orders, **before))

    def decomposition_by_channel():
        return decompose_gmv(
            gmv_factors(sessions, orders, by="channel", **period), gmv_factors(sessions, orders, by="channel", **before),
            keys=["channel"],
        )

    def decomposition_by_category():
        factors = [
            category_gmv_factors(events, sessions, orders, shop.order_items, shop.products, **dates)
            for dates in (period, before)
        ]
        return decompose_gmv(*factors, keys=["category"])

    def eight_period_summaries():
        return [period_summary(events, sessions, orders, users, start=first, end=last, tz=TZ) for first, last in history_periods]

    past_summaries = eight_period_summaries()
    return {
        "decomposition (shop, 2 periods)": decomposition,
        "decomposition by channel": decomposition_by_channel,
        "decomposition by category": decomposition_by_category,
        "new and repeat orders": lambda: new_and_repeat_orders(orders, **period),
        "repurchase within 30/90 days": lambda: repurchase_rates(orders, **period),
        "repurchase by month, whole span": lambda: repurchase_rates(orders, start=first_day, end=end, tz=TZ, period="month"),
        "abandonment by channel and device": lambda: abandonment(events, sessions, shop.products, by=["channel", "device"], **period),
        "abandoning users (cart)": lambda: abandoning_users(events, sessions, shop.products, **period),
        "attribution, default model": lambda: attributed_channel_table(
            sessions, orders, shop.ad_spend, shop.order_items, shop.products, **period
        ),
        "attribution, 5 models side by side": lambda: compare_attribution_models(
            sessions, orders, shop.ad_spend, shop.order_items, shop.products, **period
        ),
        "pace: GMV this month": lambda: pace_against_target(daily, kpi="gmv", target=gmv_target, **month),
        "pace: AOV this month": lambda: pace_against_target(daily, kpi="aov", target=100.0, **month),
        "expected path: GMV this month": lambda: expected_path(daily, kpi="gmv", target=gmv_target, **month),
        f"daily bands, {len(BAND_KPIS)} KPIs, whole span": lambda: daily_bands(daily, BAND_KPIS),
        "period bands (given 8 summaries)": lambda: period_bands(current_summary, past_summaries, PERIOD_COLUMNS),
        "8 period summaries for a period band": eight_period_summaries,
        "GMV basis applied (cancelled, net of discounts)": lambda: apply_gmv_basis(
            orders, GmvBasis(include_cancelled=True, net_of_discounts=True)
        ),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", type=Path, default=SAMPLE_SHOP)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--events", type=int, default=500_000)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        path = shop_path(arguments, Path(scratch))
        began = time.perf_counter()
        shop = load_shop(open_source(path))
        print(f"loaded {path} in {time.perf_counter() - began:.1f} s: {shop.events.height:,} events, "
              f"{shop.sessions.height:,} sessions, {shop.orders.height:,} orders", flush=True)
        _, end = shop.date_span(TZ)
        start = end - timedelta(days=arguments.days - 1)
        timed = cases(shop, start=start, end=end, days=arguments.days)
        print(f"\nperiod {start}..{end}, median of {arguments.repeat} runs, budget {BUDGET_SECONDS} s a function\n")
        width = max(len(name) for name in timed)
        over = []
        for name, run in timed.items():
            seconds = median_seconds(run, arguments.repeat)
            within = seconds < BUDGET_SECONDS
            over += [] if within else [name]
            print(f"{name:<{width}}  {seconds:7.3f} s  {'ok' if within else 'OVER'}", flush=True)
    if over:
        print(f"\nover {BUDGET_SECONDS} s: {', '.join(over)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
