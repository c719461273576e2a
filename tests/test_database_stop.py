"""The database stops while the app is in use, and comes back (a PostgreSQL instance of this
test's own, so that the machine's shared server keeps serving everyone else's tests): the
page shows a banner and the last extract's numbers while it is down, and "Refresh data"
reads it again once it is back, without restarting the app."""

import glob
import json
import os
import shutil
import socket
import subprocess
import tempfile
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest
import sqlalchemy as sa
from conftest import age_manifest
from streamlit.testing.v1 import AppTest

from connectors import open_source
from connectors.extracts import MANIFEST
from connectors.schema import TABLES
from metrics.periods import period_summary
from metrics.registry import KPIS, format_value
from sample_data.server_store import write_server
from shop_analytics.ui.extract_status import REFRESH_KEY
from shop_analytics.ui.filters import DATES_KEY

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
TZ = "Asia/Shanghai"
DB_PASSWORD = "pg-Secret-7f3a9"  # the instance's postgres password: must show nowhere


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("true", "1")


def _postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def _as_postgres(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(["runuser", "-u", "postgres", "--", *command], check=True, capture_output=True, text=True, timeout=120)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Instance:
    """A PostgreSQL server in a folder of its own, on a port of its own, with password
    authentication: started and stopped like a database going away and coming back."""

    def __init__(self, bin_dir: Path, folder: Path) -> None:
        self.bin_dir, self.folder, self.port = bin_dir, folder, _free_port()
        self.data, self.sockets = folder / "data", folder / "sockets"
        for path in (self.data, self.sockets):
            path.mkdir(parents=True)
        password_file = folder / "password"
        password_file.write_text(DB_PASSWORD)
        shutil.chown(folder, "postgres")
        for path in (self.data, self.sockets, password_file):
            shutil.chown(path, "postgres")
        _as_postgres(str(bin_dir / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=scram-sha-256", f"--pwfile={password_file}")
        password_file.unlink()

    @property
    def url(self) -> sa.URL:
        return sa.URL.create("postgresql+psycopg", username="postgres", password=DB_PASSWORD, host="127.0.0.1", port=self.port, database="shop")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1"
        _as_postgres(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.folder / "server.log"), "-w", "start")

    def stop(self) -> None:
        _as_postgres(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def log(self) -> str:
        path = self.folder / "server.log"
        return path.read_text() if path.exists() else ""


@contextmanager
def running_instance(small_shop_db):
    """Our own PostgreSQL holding the small shop; skipped (failed in CI) without initdb."""
    bin_dir = _postgres_bin()
    if bin_dir is None or shutil.which("runuser") is None:
        message = "PostgreSQL's initdb (/usr/lib/postgresql/*/bin) or runuser is missing: apt-get install postgresql"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    # pytest's own temporary folders are root's alone; the server runs as the postgres user
    folder = Path(tempfile.mkdtemp(prefix="shop-postgres-"))
    folder.chmod(0o755)
    instance = Instance(bin_dir, folder / "instance")
    instance.start()
    try:
        admin = sa.create_engine(instance.url.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(sa.text("CREATE DATABASE shop"))
        admin.dispose()
        source = open_source(small_shop_db)
        write_server({name: source.read_table(name) for name in TABLES if name in source.table_names()}, instance.url)
        yield instance
    finally:
        subprocess.run(["runuser", "-u", "postgres", "--", str(bin_dir / "pg_ctl"), "-D", str(instance.data), "-m", "immediate", "stop"], check=False, capture_output=True)  # already stopped: fine
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def instance(small_shop_db):
    with running_instance(small_shop_db) as running:
        yield running


def card(at: AppTest, label: str):
    return next(metric for metric in at.metric if metric.label == label)


def gmv_shown(small_shop, at: AppTest, extra: float = 0.0) -> str:
    start, end = at.session_state[DATES_KEY]
    frames = (small_shop.events, small_shop.sessions, small_shop.orders, small_shop.users)
    return format_value(KPIS["gmv"], period_summary(*frames, start=start, end=end, tz=TZ)["gmv"] + extra, compact=True)


def new_order_at_the_end(instance: Instance, small_shop, amount: float) -> None:
    """A paid order on the period's last day, written while the database is back."""
    last = small_shop.orders["created_at"].max()
    engine = sa.create_engine(instance.url)
    with engine.begin() as connection:
        connection.execute(
            sa.text("INSERT INTO orders (order_id, user_id, created_at, amount, status) VALUES (:id, :user, :at, :amount, 'paid')"),
            {"id": int(small_shop.orders["order_id"].max()) + 1, "user": int(small_shop.users["user_id"][0]), "at": last, "amount": amount},
        )
    engine.dispose()


def run_through_a_stop(instance: Instance, small_shop, extract_folder: Path, access: dict | None = None, look=lambda at: None) -> AppTest:
    """The whole story on one app session: numbers, stop, banner, start, refresh; `look(at)`
    after every run (to read what each showed). `access`: {"section": [access], "name": ...,
    "password": ...} to sign in with first."""
    at = AppTest.from_file(APP, default_timeout=180)
    at.secrets["connections"] = {"shop": {"url": instance.url.render_as_string(hide_password=False), "extract_folder": str(extract_folder)}}
    if access is not None:
        at.secrets["access"] = access["section"]
    at.run()
    look(at)
    if access is not None:
        at.text_input[0].input(access["name"])
        at.text_input[1].input(access["password"])
        at.button[0].click().run()
        look(at)
    assert not at.exception and not at.error and not at.warning
    before = gmv_shown(small_shop, at)
    assert card(at, "GMV").value == before

    instance.stop()
    age_manifest(extract_folder, timedelta(hours=3))  # past the extract's hour to live: the next run refreshes
    at.run()
    look(at)
    assert not at.exception and not at.error
    [banner] = at.warning
    assert banner.value.startswith("Showing the extract from 3 h ago: the database cannot be reached (")
    assert card(at, "GMV").value == before
    at.sidebar.button(key=REFRESH_KEY).click().run()  # asking again while it is still down
    look(at)
    [banner] = at.warning
    assert banner.value.startswith("Showing the extract from 3 h ago: the database cannot be reached (")
    assert card(at, "GMV").value == before

    instance.start()
    new_order_at_the_end(instance, small_shop, amount=1234.5)
    at.sidebar.button(key=REFRESH_KEY).click().run()
    look(at)
    assert not at.exception and not at.error and not at.warning, [warning.value for warning in at.warning]
    assert card(at, "GMV").value == gmv_shown(small_shop, at, extra=1234.5)
    assert "Data extracted less than a minute ago; refreshed every 1 h." in [caption.value for caption in at.sidebar.caption]
    return at


def test_the_app_serves_the_last_extract_while_the_database_is_down_and_refreshes_when_it_is_back(instance, small_shop, tmp_path):
    run_through_a_stop(instance, small_shop, tmp_path / "extract")
    manifest = json.loads((tmp_path / "extract" / MANIFEST).read_text())
    assert manifest["tables"]["orders"]["rows"] == small_shop.orders.height + 1
    assert pl.read_parquet([tmp_path / "extract" / file for file in manifest["tables"]["orders"]["files"]])["amount"].sum() == pytest.approx(small_shop.orders["amount"].sum() + 1234.5)
