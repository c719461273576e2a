"""Real servers on loopback for the alert tests: an SMTP server (aiosmtpd) that keeps what it
receives, and an HTTP server that keeps every webhook post and answers as told."""

import json
import socket
import ssl
import subprocess
import threading
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

LOOPBACK = "127.0.0.1"
WECOM_OK = b'{"errcode": 0, "errmsg": "ok"}'


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return probe.getsockname()[1]


class HookServer:
    """An HTTP server on 127.0.0.1 that records each POST (path, query, JSON body) and answers
    the first ones with `statuses` (then 200), every answer with the body `reply`.
    Created with a port and not started, it refuses connections until `start()`."""

    def __init__(self, *, statuses=(), reply: bytes = WECOM_OK, port: int | None = None):
        self.port = port or free_port()
        self.statuses = list(statuses)
        self.reply = reply
        self.posts: list[dict] = []
        self._server = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self) -> "HookServer":
        if self._server is not None:
            return self
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers["Content-Length"])
                target = urlsplit(self.path)
                owner.posts.append({
                    "path": target.path, "query": parse_qs(target.query),
                    "content_type": self.headers["Content-Type"], "body": json.loads(self.rfile.read(length)),
                })
                status = owner.statuses.pop(0) if owner.statuses else 200
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(owner.reply)

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer((LOOPBACK, self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


class SmtpSink:
    """An SMTP server on 127.0.0.1 (aiosmtpd) that keeps every message it accepts, parsed.

    `fail_first` DATA commands get "451 try again later" first. With `tls` (a
    (certificate, key) pair) it speaks STARTTLS and requires it and a login (`logins` keeps
    them) or, with `implicit_tls`, TLS from the first byte (SMTPS)."""

    def __init__(self, *, fail_first: int = 0, tls: tuple[Path, Path] | None = None, implicit_tls: bool = False,
                 password: str = "s3cret-pass"):
        self.fail_first = fail_first
        self.messages = []
        self.logins = []
        self.password = password
        self.port = free_port()
        options = {}
        if tls is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*tls)
            # PLAIN only: smtplib then gets the server's verdict on the first try
            login = {"auth_required": True, "authenticator": self._authenticate, "auth_exclude_mechanism": ["LOGIN"]}
            if implicit_tls:
                # the session is TLS from its first byte, which aiosmtpd's require-TLS check does not see
                options = {"ssl_context": context, "auth_require_tls": False, **login}
            else:
                options = {"tls_context": context, "require_starttls": True, **login}
        self.controller = Controller(self, hostname=LOOPBACK, port=self.port, **options)

    def _authenticate(self, server, session, envelope, mechanism, auth_data):
        self.logins.append((auth_data.login.decode(), auth_data.password.decode()))
        return AuthResult(success=auth_data.password.decode() == self.password, handled=False)

    async def handle_DATA(self, server, session, envelope):
        if self.fail_first:
            self.fail_first -= 1
            return "451 4.3.0 try again later"
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"

    def __enter__(self) -> "SmtpSink":
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, made by openssl; the certificate is its own CA."""
    certificate, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(certificate),
         "-days", "1", "-subj", f"/CN={LOOPBACK}", "-addext", f"subjectAltName=IP:{LOOPBACK}"],
        check=True, capture_output=True,
    )
    return certificate, key
