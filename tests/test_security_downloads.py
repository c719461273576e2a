"""Issue 23, item 6: an analyst's drop-off CSV at /media/<id>.csv was fetched with curl, with
no session, for about 85 s after the tab closed. Reproduced as it happened, on a served app
(`streamlit run` on a free port) with no browser: a websocket client speaks Streamlit's
protocol as the browser does (runs a page, asks for a download button's file the way a click
does), and plain HTTP requests without any session fetch the file's URL.

Now the file leaves its URL EXPIRY_SECONDS after it is made, whether the tab stays open or
closes; a closed tab's buttons make no file for anyone; and a user whose role was lowered in
`[access]` after the page was drawn gets no list of users from a button still on screen."""

import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from websockets.sync.client import connect

from connectors.sql import sqlite_url
from shop_analytics.access import hash_password
from shop_analytics.ui.downloads import EXPIRY_SECONDS
from shop_analytics.ui.tables import CSV_BOM

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "analyst-Pa55word"
# The RFM tab of Segments opens by default with the Champions' members as a CSV: a list of users.
MEMBERS = re.compile(r"csv_rfm_champions_")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def served(workdir: Path, secrets: str):
    """`streamlit run app.py` in `workdir` with the project's .streamlit/config.toml (as
    deployed: no file watcher) and `secrets` as its secrets.toml; yields (base URL, secrets path)."""
    (workdir / ".streamlit").mkdir(exist_ok=True)
    (workdir / ".streamlit" / "config.toml").write_text((ROOT / ".streamlit" / "config.toml").read_text())
    secrets_path = workdir / ".streamlit" / "secrets.toml"
    secrets_path.write_text(secrets)
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.headless", "true",
         "--server.port", str(port), "--browser.gatherUsageStats", "false"],
        cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/_stcore/health", timeout=1) as answer:
                    if answer.read() == b"ok":
                        break
            except OSError as error:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError(f"streamlit did not start: {server.stderr.read().decode()[-2000:]}") from error
                time.sleep(0.3)
        yield base, secrets_path
    finally:
        server.terminate()
        server.wait(timeout=20)


class Tab:
    """One browser tab, as Streamlit's frontend speaks to the server over its websocket."""

    def __init__(self, base: str) -> None:
        self.base = base
        self._connection = connect(base.replace("http", "ws") + "/_stcore/stream", subprotocols=["streamlit"], max_size=None)
        self.session_id = None
        self.elements: dict[str, object] = {}  # widget or download id -> its proto

    def __enter__(self) -> "Tab":
        self.socket = self._connection.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._connection.__exit__(*exc)

    def run(self, page: str, widgets: list | None = None) -> dict:
        """Run `page` (with the widget values `widgets`, a list of WidgetState kwargs) and
        collect the elements it draws, until the run finishes."""
        message = BackMsg()
        message.rerun_script.page_name = page
        for widget in widgets or []:
            message.rerun_script.widget_states.widgets.add(**widget)
        self.socket.send(message.SerializeToString())
        self.elements = {}
        for answer in self._answers(lambda answer: answer.WhichOneof("type") == "script_finished"
                                    and answer.script_finished == ForwardMsg.FINISHED_SUCCESSFULLY):
            if answer.WhichOneof("type") == "new_session":
                self.session_id = answer.new_session.initialize.session_id
            if answer.WhichOneof("type") == "delta" and answer.delta.WhichOneof("type") == "new_element":
                element = answer.delta.new_element
                kind = element.WhichOneof("type")
                proto = getattr(element, kind)
                if hasattr(proto, "id") and proto.id:
                    self.elements[proto.id] = proto
        return self.elements

    def widget(self, kind: str, label: str) -> str:
        return next(key for key, proto in self.elements.items() if type(proto).__name__ == kind and proto.label == label)

    def download(self, pattern: re.Pattern) -> str:
        """The deferred file id of the download button whose id matches `pattern`."""
        return next(proto.deferred_file_id for key, proto in self.elements.items() if pattern.search(key) and hasattr(proto, "deferred_file_id"))

    def click_download(self, file_id: str) -> tuple[str, str]:
        """Ask for a download button's file, as the browser does when the button is clicked:
        (its URL, "") or ("", the server's error)."""
        message = BackMsg()
        request = message.backend_operation_request
        request.request_id, request.session_id = uuid.uuid4().hex, self.session_id
        request.deferred_file.file_id = file_id
        self.socket.send(message.SerializeToString())
        for answer in self._answers(lambda answer: answer.WhichOneof("type") == "backend_operation_response"):
            if answer.WhichOneof("type") == "backend_operation_response":
                response = answer.backend_operation_response
                return response.deferred_file.url, response.error_msg
        raise AssertionError("no answer to the download request")

    def _answers(self, last, timeout: float = 180):
        deadline = time.monotonic() + timeout
        while True:
            answer = ForwardMsg()
            answer.ParseFromString(self.socket.recv(timeout=max(deadline - time.monotonic(), 0.1)))
            yield answer
            if last(answer):
                return


def fetch(url: str) -> tuple[int, bytes]:
    """GET `url` as curl does: no cookie, no session."""
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, b""


def seconds_until_gone(url: str, since: float, limit: float) -> float:
    """Seconds from `since` until `url` answers 404 (polled every 0.25 s), at most `limit`."""
    while time.monotonic() - since < limit:
        if fetch(url)[0] == 404:
            return time.monotonic() - since
        time.sleep(0.25)
    return float("inf")


@pytest.fixture(scope="module")
def open_app(small_shop_db, tmp_path_factory):
    """The app without [access]: open, as admin, to a browser on this machine."""
    with served(tmp_path_factory.mktemp("served"), f'[connections.shop]\nurl = "{sqlite_url(small_shop_db)}"\n') as (base, _):
        yield base


def test_a_list_of_users_leaves_its_url_seconds_after_it_is_made_tab_open_or_closed(open_app):
    with Tab(open_app) as tab:
        tab.run("segments")
        members = tab.download(MEMBERS)
        url, error = tab.click_download(members)
        made = time.monotonic()
        assert error == "" and url.startswith("/media/") and url.endswith(".csv")
        status, body = fetch(open_app + url)
        assert status == 200 and body.startswith(CSV_BOM + b"User id,")  # the browser's own request, at once
        # The tab stays open: the URL still stops serving the list after EXPIRY_SECONDS.
        gone = seconds_until_gone(open_app + url, made, EXPIRY_SECONDS + 30)
        assert EXPIRY_SECONDS - 1 <= gone <= EXPIRY_SECONDS + 3
        # Clicked again, then the tab closes (as in the issue): the new file goes as quickly.
        url, error = tab.click_download(members)
        made = time.monotonic()
        assert error == "" and fetch(open_app + url)[0] == 200
    gone = seconds_until_gone(open_app + url, made, EXPIRY_SECONDS + 30)
    assert gone <= EXPIRY_SECONDS + 3, "the list was still served without a session"


def test_a_closed_tabs_download_makes_no_file_for_another_session(open_app):
    with Tab(open_app) as tab:
        tab.run("segments")
        members = tab.download(MEMBERS)
    time.sleep(1)  # the server notices the closed websocket; the session lingers for 120 s
    with Tab(open_app) as other:
        other.run("overview")
        url, error = other.click_download(members)
    assert url == "" and error == "Failed to generate file for download"


def test_a_role_lowered_after_the_page_was_drawn_gets_no_list_from_the_button_on_screen(small_shop_db, tmp_path):
    analyst_hash = hash_password(PASSWORD)
    secrets = (
        f'[connections.shop]\nurl = "{sqlite_url(small_shop_db)}"\n\n'
        f'[access.users.ann]\npassword_hash = "{analyst_hash}"\nrole = "analyst"\n'
    )
    with served(tmp_path, secrets) as (base, secrets_path), Tab(base) as tab:
        tab.run("segments")  # the sign-in, at the page's URL
        name, password = tab.widget("TextInput", "User name"), tab.widget("TextInput", "Password")
        submit = tab.widget("Button", "Sign in")
        tab.run("segments", [
            {"id": name, "string_value": "ann"}, {"id": password, "string_value": PASSWORD}, {"id": submit, "trigger_value": True},
        ])
        members = tab.download(MEMBERS)
        url, error = tab.click_download(members)
        assert error == "" and fetch(base + url)[1].startswith(CSV_BOM + b"User id,")  # an analyst's list
        # The admin makes ann a viewer; her tab still shows the button.
        secrets_path.write_text(secrets.replace('role = "analyst"', 'role = "viewer"'))
        deadline = time.monotonic() + 30
        while True:
            url, error = tab.click_download(members)
            if error or time.monotonic() > deadline:
                break
            time.sleep(0.5)  # until Streamlit's file watcher has read the changed secrets
        assert url == "" and error == "Failed to generate file for download"
