"""Take the README's screenshot of the overview page as served by `make run`.

`python docs/screenshot.py [--url http://127.0.0.1:8501] [--out docs/overview.png]`; clicks
the trend's busiest day so the drill-down shows too. Needs Debian's chromium.
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from browser import chromium_page  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default="http://127.0.0.1:8501")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("overview.png"))
    arguments = parser.parse_args()
    with chromium_page(width=1440, height=1500) as page:
        page.goto(arguments.url)
        page.get_by_text("GMV", exact=True).first.wait_for(timeout=120_000)
        points = page.locator(".js-plotly-plot .scatterlayer path.point")
        points.last.wait_for(timeout=60_000)
        box = points.nth(points.count() - 12).bounding_box()
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.get_by_text("Top products").wait_for(timeout=60_000)
        page.wait_for_timeout(1500)
        page.screenshot(path=str(arguments.out), full_page=True)
    print(f"wrote {arguments.out}")


if __name__ == "__main__":
    main()
