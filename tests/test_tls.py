"""HTTPS with Streamlit's own certificate settings (README, HTTPS): a self-signed certificate
made for the test, the app served with it, its page and health read over TLS by a client
that trusts only that certificate; in a browser, a viewer signs in over TLS and a typed URL
of a page outside the role is not shown."""

import http.client
import shutil
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest
from browser import chromium_page, navigation_titles, require_chromium
from test_servers import in_ci

from connectors.sql import sqlite_url
from shop_analytics.access import hash_password, pages_for
from shop_analytics.i18n import text

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    """A self-signed certificate for localhost and 127.0.0.1, and its key."""
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


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def serve_tls(workdir: Path, secrets: str, cert: Path, key: Path):
    """`streamlit run app.py` with the certificate and the secrets given; yields its https URL."""
    (workdir / ".streamlit").mkdir(exist_ok=True)
    (workdir / ".streamlit" / "secrets.toml").write_text(secrets)
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
         "--server.sslCertFile", str(cert), "--server.sslKeyFile", str(key)],
        cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    base = f"https://localhost:{port}"
    trusting = ssl.create_default_context(cafile=str(cert))
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/_stcore/health", timeout=1, context=trusting) as answer:
                    if answer.read() == b"ok":
                        break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError(f"streamlit did not start: {server.stderr.read().decode()[-2000:]}") from None
                time.sleep(0.3)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=20)


def test_the_app_answers_over_tls_with_its_certificate_and_not_in_plain_http(certificate, small_shop_db, tmp_path):
    cert, key = certificate
    secrets = f'[connections.shop]\nurl = "{sqlite_url(small_shop_db)}"\n'
    with serve_tls(tmp_path, secrets, cert, key) as base:
        trusting = ssl.create_default_context(cafile=str(cert))
        with urllib.request.urlopen(f"{base}/_stcore/health", context=trusting, timeout=10) as answer:
            assert (answer.status, answer.read()) == (200, b"ok")
        with urllib.request.urlopen(f"{base}/", context=trusting, timeout=10) as answer:
            page = answer.read().decode()
            assert answer.status == 200 and answer.headers.get_content_type() == "text/html"
            assert '<div id="root">' in page and "<script" in page
        with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
            urllib.request.urlopen(f"{base}/_stcore/health", context=ssl.create_default_context(), timeout=10)
        plain = base.replace("https://", "http://")
        with pytest.raises((urllib.error.URLError, ConnectionError, http.client.HTTPException)):
            urllib.request.urlopen(f"{plain}/_stcore/health", timeout=10)


def test_in_a_browser_over_tls_a_viewer_signs_in_and_a_typed_url_outside_the_role_is_not_shown(certificate, small_shop_db, tmp_path):
    require_chromium()
    cert, key = certificate
    secrets = (
        f'[connections.shop]\nurl = "{sqlite_url(small_shop_db)}"\n\n'
        f'[access.users.vera]\npassword_hash = \'{hash_password("vera-Pa55")}\'\nrole = "viewer"\n'
    )
    with serve_tls(tmp_path, secrets, cert, key) as base, chromium_page() as first_page:
        context = first_page.context.browser.new_context(ignore_https_errors=True, viewport={"width": 1400, "height": 1000})
        page = context.new_page()

        def sign_in(password: str = "vera-Pa55") -> None:
            page.get_by_role("textbox", name="User name").fill("vera")
            page.get_by_role("textbox", name="Password").fill(password)
            page.get_by_role("button", name="Sign in").click()

        page.goto(f"{base}/funnel")  # the first request of a page's URL on a fresh server
        page.get_by_text("Sign in", exact=True).first.wait_for(timeout=90_000)
        assert page.get_by_text("GMV", exact=True).count() == 0
        sign_in("wrong")
        page.get_by_text("Wrong user name or password.").wait_for(timeout=30_000)
        sign_in()
        page.get_by_text("Signed in as vera (viewer).").wait_for(timeout=90_000)
        page.get_by_text("Your role cannot open Funnel. Ask an admin for a role that can.").wait_for(timeout=90_000)
        assert page.locator("h1").filter(has_text="Funnel").count() == 0
        page.get_by_role("button", name="Daily").click()
        page.get_by_text("Overview", exact=True).last.click()
        page.get_by_text("GMV", exact=True).first.wait_for(timeout=90_000)
        assert sorted(navigation_titles(page)) == sorted(text(f"nav.{name}", "en") for name in pages_for("viewer"))
        page.goto(f"{base}/data_source")  # typed by hand: a new session, so a new sign-in
        page.get_by_role("textbox", name="User name").wait_for(timeout=60_000)
        sign_in()
        page.get_by_text("Signed in as vera (viewer).").wait_for(timeout=90_000)
        page.get_by_text("Your role cannot open Data sources. Ask an admin for a role that can.").wait_for(timeout=90_000)
        assert page.locator("h1").filter(has_text="Data sources").count() == 0
        assert page.get_by_text("Test connection").count() == 0
        context.close()
