"""How long the management report takes on the sample shop: loading, building the numbers,
and writing each file. `python bench/bench_reports.py [--db sample_data/shop.db]
[--period week] [--date YYYY-MM-DD] [--repeat 3]`; the default date is the last day of the
data, so the report is of its last calendar week.

The first PDF of a process includes importing matplotlib and WeasyPrint and finding the CJK
font (reported apart); the later ones reuse them, as a long-running app or the scheduler does.
No browser is involved.
"""

import argparse
import statistics
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from connectors import SAMPLE_SHOP, open_source  # noqa: E402
from shop_analytics.config import Settings  # noqa: E402
from shop_analytics.loading import load_shop  # noqa: E402
from shop_analytics.reports.content import build_report  # noqa: E402
from shop_analytics.reports.render import RENDERERS  # noqa: E402


def timed(work) -> tuple[float, object]:
    started = time.perf_counter()
    result = work()
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", default=str(SAMPLE_SHOP))
    parser.add_argument("--period", choices=["week", "month"], default="week")
    parser.add_argument("--date", type=date.fromisoformat)
    parser.add_argument("--lang", choices=["en", "zh"], default="en")
    parser.add_argument("--repeat", type=int, default=3)
    arguments = parser.parse_args()

    settings = Settings()
    seconds, shop = timed(lambda: load_shop(open_source(arguments.db)))
    print(f"load {arguments.db}: {seconds:.2f} s")
    day = arguments.date or shop.date_span(settings.time_zone)[1]

    def build():
        return build_report(shop, kind=arguments.period, day=day, lang=arguments.lang, settings=settings)

    first_build, report = timed(build)
    builds = [timed(build)[0] for _ in range(arguments.repeat)]
    print(f"build the {arguments.period} {report.period.start}..{report.period.end} ({arguments.lang}): "
          f"first {first_build:.2f} s, then median {statistics.median(builds):.2f} s")
    for name, render in RENDERERS.items():
        first, content = timed(lambda render=render: render(report))
        later = [timed(lambda render=render: render(report))[0] for _ in range(arguments.repeat)]
        print(f"{name}: first {first:.2f} s, then median {statistics.median(later):.2f} s, {len(content) / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
