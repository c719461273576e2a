"""The HTTP API under concurrent clients (issue 18): 20 clients, each with its own API token and
its own channels (none, one or two of the shop's, drawn once per client, as a team's job asks
for its own), ask `GET /v1/kpis` for 30-day periods of their own (drawn per request), as
fast as answers come back, from a `python cli.py api` serving the sample shop. Target: p95
under 300 ms, no error.

    .venv/bin/python bench/bench_api.py [--db sample_data/shop.db] [--clients 20] [--requests 50]

Without `--db` it uses sample_data/shop.db, else generates the 2,000,000-event sample shop once
into /tmp/shop-api-bench/ (`python cli.py sample`). The server is the deployed one: its own
process, configured by a secrets file (written to a temporary folder) that reads the shop and
lifts [api] requests_per_minute out of the way (the clients ask as fast as they are answered,
far above a person's rate; the limiter still runs on every request). An answer counts as an
error unless it is 200 with the period's 30 daily rows. Times are the clients' wall clock
from sending to the last byte, keep-alive connections, one per client.
"""

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx

from connectors import SAMPLE_SHOP
from connectors.sql import sqlite_url
from shop_analytics.api.tokens import TokenStore

GENERATED = Path("/tmp/shop-api-bench/shop.db")
TARGET_P95_MS = 300
PERIOD_DAYS = 30


def shop_file(db: Path | None) -> Path:
    """The shop to serve: `db`, else sample_data/shop.db, else a generated 2M-event shop."""
    if db is not None:
        return db
    if SAMPLE_SHOP.exists():
        return SAMPLE_SHOP
    if not GENERATED.exists():
        GENERATED.parent.mkdir(parents=True, exist_ok=True)
        print(f"generating the sample shop (2,000,000 events) into {GENERATED} ...", file=sys.stderr)
        subprocess.run([sys.executable, "cli.py", "sample", "--out", str(GENERATED)], cwd=ROOT, check=True)
    return GENERATED


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(secrets: Path, port: int, token: str, log: Path) -> tuple[subprocess.Popen, float, dict]:
    """`cli.py api` on `port`, its request log into the file `log` (a pipe nobody reads while
    the clients run would fill and stop the server); returns the process, the seconds until
    it is ready (the shop loaded and its startup KPI histories computed), and /v1/status."""
    started = time.perf_counter()
    with log.open("w") as log_file:
        server = subprocess.Popen(
            [sys.executable, "cli.py", "api", "--secrets", str(secrets), "--port", str(port)],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log_file, text=True,
        )
    with httpx.Client(timeout=300) as client:
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"cli.py api stopped: {log.read_text()}")
            try:
                answer = client.get(f"http://127.0.0.1:{port}/v1/status", headers={"Authorization": f"Bearer {token}"})
                # loaded, and the whole shop's and each channel's and device's KPI history ready
                if answer.status_code == 200 and "histories of" in log.read_text():
                    return server, time.perf_counter() - started, answer.json()
            except httpx.TransportError:
                pass
            time.sleep(0.2)


def client_run(url: str, token: str, seed: int, requests: int, first: date, last: date, channels: list[str], results: list) -> None:
    """One client: its channels, then `requests` KPI tables of random 30-day periods."""
    rng = random.Random(seed)
    span = (last - first).days - PERIOD_DAYS + 1
    chosen = rng.sample(channels, rng.choice((0, 1, 1, 2)))
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as http:
        for _ in range(requests):
            start = first + timedelta(days=rng.randrange(span))
            params = [("from", str(start)), ("to", str(start + timedelta(days=PERIOD_DAYS - 1)))] + [("channel", channel) for channel in chosen]
            sent = time.perf_counter()
            try:
                answer = http.get("/v1/kpis", params=params)
                ok = answer.status_code == 200 and answer.json()["total"] == PERIOD_DAYS
                status = answer.status_code
            except httpx.HTTPError as error:
                ok, status = False, type(error).__name__
            results.append({"seconds": time.perf_counter() - sent, "ok": ok, "status": status, "segment": tuple(sorted(chosen))})


def cpu_seconds(pid: int) -> float:
    """User and system CPU seconds of process `pid` so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, help="a SQLite shop (default: sample_data/shop.db, else a generated 2M-event shop)")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--requests", type=int, default=50, help="requests per client")
    parser.add_argument("--seed", type=int, default=18)
    arguments = parser.parse_args()

    db = shop_file(arguments.db)
    with tempfile.TemporaryDirectory() as folder:
        secrets = Path(folder) / "secrets.toml"
        secrets.write_text(
            f'[connections.shop]\nurl = "{sqlite_url(db)}"\n'
            f'[api]\ntokens_database = "{Path(folder) / "tokens.db"}"\nrequests_per_minute = 1000000\n'
        )
        store = TokenStore(Path(folder) / "tokens.db")
        tokens = [store.add(f"client-{number}", "viewer") for number in range(arguments.clients)]
        port = free_port()
        load_average = os.getloadavg()[0]  # the machine is shared: say how busy it was
        log = Path(folder) / "api.log"
        server, load_seconds, status = start_server(secrets, port, tokens[0], log)
        try:
            first, last = date.fromisoformat(status["data"]["first_day"]), date.fromisoformat(status["data"]["last_day"])
            channels = status["segments"]["channel"]
            results: list[dict] = []
            threads = [
                threading.Thread(target=client_run, args=(f"http://127.0.0.1:{port}", token, arguments.seed + number, arguments.requests, first, last, channels, results))
                for number, token in enumerate(tokens)
            ]
            began, cpu_before, clients_cpu_before = time.perf_counter(), cpu_seconds(server.pid), time.process_time()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            elapsed, server_cpu = time.perf_counter() - began, cpu_seconds(server.pid) - cpu_before
            clients_cpu = time.process_time() - clients_cpu_before
            load_average_after = os.getloadavg()[0]
        finally:
            server.terminate()
            server.wait(timeout=30)
        logged = sum(1 for line in log.read_text().splitlines() if " GET /v1/kpis?" in line)

    times = [result["seconds"] * 1000 for result in results]
    errors = [result for result in results if not result["ok"]]
    first_of_segment: dict[tuple, float] = {}
    for result in results:
        first_of_segment.setdefault(result["segment"], result["seconds"] * 1000)
    summary = {
        "shop": str(db), "events_first_day": str(first), "events_last_day": str(last),
        "clients": arguments.clients, "requests": len(results), "errors": len(errors),
        "p50_ms": round(statistics.median(times), 1), "p95_ms": round(percentile(times, 0.95), 1),
        "p99_ms": round(percentile(times, 0.99), 1), "max_ms": round(max(times), 1),
        "requests_per_second": round(len(results) / elapsed, 1), "server_ready_seconds": round(load_seconds, 1),
        "segments": len(first_of_segment), "segment_first_request_median_ms": round(statistics.median(first_of_segment.values()), 1),
        "server_cpu_ms_per_request": round(server_cpu * 1000 / len(results), 1),
        "clients_cpu_ms_per_request": round(clients_cpu * 1000 / len(results), 1),
        "load_average_before": round(load_average, 2), "load_average_after": round(load_average_after, 2), "requests_logged": logged,
    }
    for channels in (0, 1, 2):
        own = [result["seconds"] * 1000 for result in results if len(result["segment"]) == channels]
        if own:
            summary[f"p95_ms_with_{channels}_channels"] = round(percentile(own, 0.95), 1)
    print(json.dumps(summary, indent=2))
    verdict = "met" if summary["p95_ms"] < TARGET_P95_MS and not errors else "NOT met"
    print(f"\n| clients | requests | errors | p50 ms | p95 ms | p99 ms | max ms | requests/s |\n| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n"
          f"| {summary['clients']} | {summary['requests']} | {summary['errors']} | {summary['p50_ms']} | {summary['p95_ms']} | {summary['p99_ms']} | {summary['max_ms']} | {summary['requests_per_second']} |\n\n"
          f"target p95 < {TARGET_P95_MS} ms with no error: {verdict}")
    if errors:
        print("errors:", errors[:5], file=sys.stderr)


if __name__ == "__main__":
    main()
