"""Load: concurrent users against the served app on the default sample shop.

`--users` people (default 20, at most 50) open the app at once, and each loads the overview
and two other pages with a period and a channel of its own (in the URL, as a shared link
carries them), so that each computes its own filter-keyed results (`--shared-filters`: all
the same, so that the results cached for the first serve the others). Two kinds of client:

- `--client websocket` (default): each user is a Streamlit websocket session speaking the
  app's protocol as the browser does: the first run with the URL's query string, then two
  clicks in the navigation. Time to content: from the request until the run has finished
  with the page's title sent. This is the server's side alone: a user's browser draws on
  the user's machine.
- `--client browser`: each user is a browser context of its own in one Chromium, loading
  the three URLs (three sessions). Time to content: until the run has finished with the
  title on screen. On one small machine the 20 browsers compete with the server for the
  same cores, so this measures the machine more than the app.

The server runs on 127.0.0.1 only; the whole run is bounded by `--timeout` seconds.

Reported: the shop's first load (once, before the users come), the median and 95th
percentile time to content over every page load, the loads that failed (an exception on the
page, or no content within 120 s), the server's CPU seconds from the users' arrival to the
last load's end (its work, whatever else the machine runs), and the server's resident memory
before the users and at its peak while they worked, sampled every 0.1 s from /proc.

    .venv/bin/python bench/bench_load.py [--db sample_data/shop.db] [--users 20] [--timeout 600] [--client websocket|browser]
"""

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from browser import CHROMIUM, CHROMIUM_ARGS, _free_port
from playwright.async_api import async_playwright

from connectors import SAMPLE_SHOP, open_source
from connectors.sql import sqlite_url
from shop_analytics.i18n import text
from shop_analytics.loading import load_shop

TARGET_SECONDS = 2.0
MAX_USERS = 50
OTHER_PAGES = ("channels", "products", "campaigns", "checkout", "service", "cohorts", "funnel")
TZ = "Asia/Shanghai"


def resident_mb(pid: int) -> float:
    """The process's resident memory (VmRSS) in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    """The process's CPU time so far (user + system, all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class UsersPhase:
    """The server's CPU seconds and the wall seconds from the users' arrival (`start`, called
    once the shop is loaded) to `stop`: the work the 3 x users page loads cost the server."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def start(self) -> None:
        self.cpu, self.wall = cpu_seconds(self.pid), time.perf_counter()

    def stop(self) -> tuple[float, float]:
        return cpu_seconds(self.pid) - self.cpu, time.perf_counter() - self.wall


class PeakMemory:
    """Samples a process's resident memory every 0.1 s in a thread; `peak` is the highest."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._running = pid, 0.0, True
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while self._running:
            self.peak = max(self.peak, resident_mb(self.pid))
            time.sleep(0.1)

    def stop(self) -> float:
        self._running = False
        self._thread.join()
        return self.peak


def plans(users: int, last: date, channels: list[str], shared: bool = False) -> list[list[str]]:
    """Per user, the three URLs it loads: the overview and two other pages, each with the
    user's own 30-day period (ending 0 to 19 weeks before the data's last day) and channel;
    with `shared`, every user has the first user's period and channel and pages."""
    result = []
    for user in range(users):
        user = 0 if shared else user
        end = last - timedelta(days=7 * (user % 20))
        query = f"?from={end - timedelta(days=29)}&to={end}&channel={channels[user % len(channels)]}"
        others = [OTHER_PAGES[(user + step) % len(OTHER_PAGES)] for step in (0, 3)]
        result.append([f"/{query}", *(f"/{page}{query}" for page in others)])
    return result


async def load(context, base: str, path: str) -> tuple[float | None, str]:
    """Open `path` in a new page of `context`; the seconds until its run has finished with
    content on screen, or None and why not."""
    page = await context.new_page()
    name = path.split("?")[0].strip("/") or "overview"
    started = time.perf_counter()
    try:
        await page.goto(base + path)
        await page.locator("h1").filter(has_text=text(f"nav.{name}", "en")).first.wait_for(timeout=120_000)
        await page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=120_000)
        elapsed = time.perf_counter() - started
        if await page.locator('[data-testid="stException"]').count():
            return None, f"{name}: exception on the page"
        return elapsed, name
    except Exception as error:  # noqa: BLE001 - a failed load is counted, not fatal
        return None, f"{name}: {type(error).__name__}: {str(error).splitlines()[0][:120]}"
    finally:
        await page.close()


async def user(browser, base: str, urls: list[str]) -> list[tuple[float | None, str]]:
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        return [await load(context, base, path) for path in urls]
    finally:
        await context.close()


async def run_users(base: str, user_plans: list[list[str]], phase: UsersPhase) -> list[tuple[float | None, str]]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            warm = await browser.new_context()
            started = time.perf_counter()
            result, _ = await load(warm, base, "/")  # the server loads the shop once, before the users
            print(f"first load of the shop and the overview: {time.perf_counter() - started:.1f} s" + ("" if result else " (failed)"))
            await warm.close()
            phase.start()
            outcomes = await asyncio.gather(*(user(browser, base, urls) for urls in user_plans))
        finally:
            await browser.close()
    return [outcome for per_user in outcomes for outcome in per_user]


def cache_sizes(base: str) -> dict[str, float]:
    """The server's caches by function with the MB they hold, from /_stcore/metrics
    (OpenMetrics `cache_memory_bytes`, one line per cached function and type). A cache is
    the server's, shared by every session: one `ui.data._load` line is one shop in memory
    however many people look at it."""
    with urllib.request.urlopen(f"{base}/_stcore/metrics", timeout=30) as answer:
        lines = answer.read().decode().splitlines()
    sizes: dict[str, float] = {}
    for line in lines:
        if line.startswith("cache_memory_bytes{"):
            labels = dict(part.split("=", 1) for part in line[line.index("{") + 1:line.index("}")].split(","))
            name = " ".join(labels.get(key, "?").strip('"') for key in ("cache_type", "cache"))
            sizes[name] = sizes.get(name, 0.0) + float(line.rsplit(" ", 1)[1]) / 2**20
    return sizes


async def websocket_user(base: str, urls: list[str]) -> list[tuple[float | None, str]]:
    """One user as a Streamlit websocket session: the first URL's run, then the other pages
    opened from the navigation (their page hashes from the navigation message)."""
    import websockets
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    host = base.split("://", 1)[1]
    outcomes = []
    async with websockets.connect(f"ws://{host}/_stcore/stream", subprotocols=["streamlit"], max_size=None, open_timeout=60) as socket:
        pages: dict[str, str] = {}
        for index, path in enumerate(urls):
            name = path.split("?")[0].strip("/") or "overview"
            message = BackMsg()
            message.rerun_script.query_string = path.split("?", 1)[1] if "?" in path else ""
            if index == 0:
                message.rerun_script.page_name = "" if name == "overview" else name
            else:
                message.rerun_script.page_script_hash = pages[name]
            started = time.perf_counter()
            await socket.send(message.SerializeToString())
            titled = failed = False
            try:
                while True:
                    forward = ForwardMsg()
                    forward.ParseFromString(await asyncio.wait_for(socket.recv(), timeout=120))
                    kind = forward.WhichOneof("type")
                    if kind == "navigation":
                        pages = {page.url_pathname or "overview": page.page_script_hash for page in forward.navigation.app_pages}
                    elif kind == "delta" and forward.delta.WhichOneof("type") == "new_element":
                        element = forward.delta.new_element
                        titled |= element.WhichOneof("type") == "heading" and element.heading.body == text(f"nav.{name}", "en")
                        failed |= element.WhichOneof("type") == "exception"
                    elif kind == "script_finished" and forward.script_finished != ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                        break
            except TimeoutError:
                outcomes.append((None, f"{name}: no end of the run within 120 s"))
                continue
            elapsed = time.perf_counter() - started
            if failed or not titled:
                outcomes.append((None, f"{name}: {'an exception on the page' if failed else 'no title'}"))
            else:
                outcomes.append((elapsed, name))
    return outcomes


async def run_websocket_users(base: str, user_plans: list[list[str]], phase: UsersPhase) -> list[tuple[float | None, str]]:
    started = time.perf_counter()
    [(first, _)] = await websocket_user(base, ["/"])  # the server loads the shop once, before the users
    print(f"first load of the shop and the overview: {time.perf_counter() - started:.1f} s" + ("" if first else " (failed)"))
    phase.start()
    outcomes = await asyncio.gather(*(websocket_user(base, urls) for urls in user_plans))
    return [outcome for per_user in outcomes for outcome in per_user]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", type=Path, default=SAMPLE_SHOP)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=600, help="seconds the users may take in all")
    parser.add_argument("--client", choices=["websocket", "browser"], default="websocket")
    parser.add_argument("--shared-filters", action="store_true", help="every user the same period, channel and pages (cached results shared)")
    options = parser.parse_args()
    if not 1 <= options.users <= MAX_USERS:
        parser.error(f"--users is 1 to {MAX_USERS}")
    shop = load_shop(open_source(options.db))
    _, last = shop.date_span(TZ)
    channels = sorted(shop.sessions["channel"].drop_nulls().unique().to_list())
    user_plans = plans(options.users, last, channels, options.shared_filters)
    del shop
    filters = "the same filters" if options.shared_filters else "filters of their own"
    print(f"{options.db}, {options.users} users x 3 pages ({options.client}, {filters}), {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")

    port = _free_port()
    with tempfile.TemporaryDirectory() as workdir:
        (Path(workdir) / ".streamlit").mkdir()
        (Path(workdir) / ".streamlit" / "secrets.toml").write_text(f'[connections.shop]\nurl = "{sqlite_url(options.db)}"\n')
        server = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.headless", "true",
             "--server.address", "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false"],
            cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        base = f"http://localhost:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    with urllib.request.urlopen(f"{base}/_stcore/health", timeout=1):
                        break
                except OSError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise SystemExit("streamlit did not start") from None
                    time.sleep(0.3)
            idle = resident_mb(server.pid)
            memory, phase = PeakMemory(server.pid), UsersPhase(server.pid)
            users = run_websocket_users if options.client == "websocket" else run_users
            outcomes = asyncio.run(asyncio.wait_for(users(base, user_plans, phase), timeout=options.timeout))
            server_cpu, users_wall = phase.stop()
            peak = memory.stop()
            after = resident_mb(server.pid)
            caches = cache_sizes(base)
        finally:
            server.terminate()
            server.wait(timeout=30)

    times = [seconds for seconds, _ in outcomes if seconds is not None]
    failures = [why for seconds, why in outcomes if seconds is None]
    print(f"\n| loads | failed | median | 95th percentile | worst | target ({TARGET_SECONDS:g} s) at the 95th |")
    print("| ---: | ---: | ---: | ---: | ---: | --- |")
    if times:
        p95 = percentile(times, 0.95)
        print(f"| {len(outcomes)} | {len(failures)} | {statistics.median(times):.2f} s | {p95:.2f} s | {max(times):.2f} s | {'met' if p95 <= TARGET_SECONDS and not failures else 'NOT met'} |")
    by_page: dict[str, list[float]] = {}
    for seconds, name in outcomes:
        if seconds is not None:
            by_page.setdefault(name, []).append(seconds)
    print("\n| page | loads | median |\n| --- | ---: | ---: |")
    for name, values in sorted(by_page.items()):
        print(f"| {name} | {len(values)} | {statistics.median(values):.2f} s |")
    print(
        f"\nserver CPU while the users worked: {server_cpu:.1f} s in {users_wall:.1f} s "
        f"({server_cpu / len(outcomes) * 1000:.0f} ms a page load; the machine has {os.cpu_count()} cores)"
    )
    print(f"server memory: {idle:.0f} MB started, {peak:.0f} MB at the peak, {after:.0f} MB after")
    print("server caches (shared by every session), MB held:")
    for name, size in sorted(caches.items()):
        print(f"  {name}: {size:.1f}")
    for why in failures:
        print(f"failed: {why}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
