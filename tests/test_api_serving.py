"""The API as it is deployed: `python cli.py api` serves over TLS with the dashboard's
certificate settings and logs every request without its token; a PostgreSQL shop is read
through its extract, and when a refresh fails the extract is served saying how old it is and
why (never as if it were current)."""

import os
import shutil
import signal
import ssl
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from test_api import END, START, free_port, new_token, serve_app, write_secrets
from test_servers import in_ci, reachable

from sample_data.generator import generate_shop
from sample_data.server_store import write_server
from shop_analytics.api.app import create_app
from shop_analytics.api.serve import tls_files

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key."""
    if shutil.which("openssl") is None:
        message = "openssl is missing: apt-get install openssl"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    return cert, key


def test_the_certificate_is_the_dashboards(tmp_path, certificate):
    cert, key = certificate
    config = tmp_path / "config.toml"
    config.write_text(f'[server]\nheadless = true\nsslCertFile = "{cert}"\nsslKeyFile = "{key}"\n')
    assert tls_files({}, (config,)) == (str(cert), str(key))
    assert tls_files({"STREAMLIT_SERVER_SSL_CERT_FILE": str(key), "STREAMLIT_SERVER_SSL_KEY_FILE": str(cert)}, (config,)) == (str(key), str(cert))
    assert tls_files({}, (tmp_path / "absent.toml",)) is None
    config.write_text(f'[server]\nsslCertFile = "{cert}"\n')
    with pytest.raises(ValueError, match="sets only one of sslCertFile and sslKeyFile"):
        tls_files({}, (config,))
    config.write_text(f'[server]\nsslCertFile = "{cert}"\nsslKeyFile = "{tmp_path / "gone.key"}"\n')
    with pytest.raises(ValueError, match="gone.key does not exist"):
        tls_files({}, (config,))


def test_cli_api_serves_over_tls_and_logs_requests_without_tokens(small_shop_db, tmp_path, certificate):
    cert, key = certificate
    secrets = write_secrets(tmp_path, f"sqlite:///{small_shop_db}")
    token = new_token(secrets, "wecom-bot", "viewer")
    port = free_port()
    environment = os.environ | {"STREAMLIT_SERVER_SSL_CERT_FILE": str(cert), "STREAMLIT_SERVER_SSL_KEY_FILE": str(key)}
    server = subprocess.Popen(
        [sys.executable, "cli.py", "api", "--secrets", str(secrets), "--port", str(port)],
        cwd=ROOT, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    trusted = ssl.create_default_context(cafile=str(cert))
    try:
        with httpx.Client(verify=trusted, timeout=60) as client:
            deadline = time.monotonic() + 90
            while True:
                try:
                    client.get(f"https://127.0.0.1:{port}/openapi.json")
                    break
                except httpx.TransportError:
                    assert server.poll() is None and time.monotonic() < deadline, "cli.py api did not start"
                    time.sleep(0.2)
            answer = client.get(f"https://127.0.0.1:{port}/v1/payments", params={"from": START, "to": END}, headers={"Authorization": f"Bearer {token}"})
            assert answer.status_code == 200 and answer.json()["total"] > 0
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{port}/v1/payments", timeout=10)
    finally:
        server.send_signal(signal.SIGINT)
        _, log = server.communicate(timeout=30)
    assert f"serving on https://127.0.0.1:{port}" in log
    assert "wecom-bot(viewer) GET /v1/payments?from=2026-10-01&to=2026-10-14 200" in log
    assert token not in log


def test_a_failed_refresh_serves_the_extract_with_its_age_and_reason(tmp_path):
    admin = reachable("postgresql")
    database = f"api_stale_{uuid.uuid4().hex[:8]}"
    away = f"{database}_away"
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{database}"'))
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{database}"

    def disconnect(name: str) -> None:
        with admin.connect() as connection:
            connection.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name"), {"name": name})

    try:
        write_server(generate_shop(users=300, events=8000, seed=5), url)
        extra = f'extract_folder = "{tmp_path / "extract"}"\nextract_ttl_minutes = 0.02'
        secrets = write_secrets(tmp_path, url, extra=extra)
        with serve_app(create_app(secrets)) as api:
            fresh = httpx.get(f"{api}/v1/kpis", params={"from": START, "to": END}, timeout=120)
            assert fresh.status_code == 200 and fresh.json()["data"]["stale"] is None and fresh.json()["data"]["refreshed_at"]
            disconnect(database)
            with admin.connect() as connection:
                connection.execute(sa.text(f'ALTER DATABASE "{database}" RENAME TO "{away}"'))
            time.sleep(1.5)  # past the extract's time-to-live
            stale = httpx.get(f"{api}/v1/kpis", params={"from": START, "to": END}, timeout=120)
            assert stale.status_code == 200
            said = stale.json()["data"]
            assert said["refreshed_at"] == fresh.json()["data"]["refreshed_at"]
            assert "the last refresh failed" in said["stale"] and database in said["stale"]
            assert stale.headers["x-data-stale"].startswith("the last refresh failed")
            assert stale.json()["rows"] == fresh.json()["rows"]
    finally:
        for name in (database, away):
            disconnect(name)
            with admin.connect() as connection:
                connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()
