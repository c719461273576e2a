"""Real servers on loopback for the alert and report tests: an SMTP server (aiosmtpd) that
keeps what it receives, and an HTTP server that keeps every webhook post and answers as told
(late, refusing, or echoing the URL in an HTML page)."""

import json
import socket
import ssl
import subprocess
import threading
import time
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
    """An HTTP server on 127.0.0.1 that records each POST (path, query, content type, the
    body: parsed when JSON, else the raw bytes) and answers the first ones with `statuses`
    (then 200), every answer with the body `reply`.

    `echo`: every answer is an HTML page quoting the request's whole URL (as a proxy's
    error page does), not JSON. `late`: the first that many requests are answered only after
    `late_seconds`, the request accepted all the same. A WeCom file upload (.../upload_media)
    is answered with a media_id. Created with a port and not started, it refuses
    connections until `start()`."""

    def __init__(self, *, statuses=(), reply: bytes = WECOM_OK, port: int | None = None, echo: bool = False,
                 late: int = 0, late_seconds: float = 0.0):
        self.port = port or free_port()
        self.statuses = list(statuses)
        self.reply = reply
        self.echo = echo
        self.late, self.late_seconds = late, late_seconds
        self.posts: list[dict] = []
        self._server = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def accepted(self) -> list[dict]:
        """The posts answered 200."""
        return [post for post in self.posts if post["status"] == 200]

    def start(self) -> "HookServer":
        if self._server is not None:
            return self
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers["Content-Length"])
                target = urlsplit(self.path)
                raw = self.rfile.read(length)
                content_type = self.headers["Content-Type"] or ""
                with owner._lock:
                    status = owner.statuses.pop(0) if owner.statuses else 200
                    late = owner.late > 0
                    owner.late -= 1 if late else 0
                    owner.posts.append({
                        "path": target.path, "query": parse_qs(target.query), "content_type": content_type,
                        "headers": dict(self.headers), "status": status,
                        "body": json.loads(raw) if content_type.startswith("application/json") else raw,
                    })
                if late:
                    time.sleep(owner.late_seconds)
                if owner.echo:
                    body, kind = f"<html><body><h1>{status} upstream error</h1><p>POST http://{self.headers['Host']}{self.path} failed</p></body></html>".encode(), "text/html"
                elif target.path.endswith("/upload_media"):
                    body, kind = b'{"errcode": 0, "errmsg": "ok", "type": "file", "media_id": "MEDIA-1", "created_at": "1380000000"}', "application/json"
                else:
                    body, kind = owner.reply, "application/json"
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", kind)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client stopped waiting (a late answer)

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
    them) or, with `implicit_tls`, TLS from the first byte (SMTPS). With `echo_login` it takes
    logins without TLS and refuses each quoting the name and password it was given."""

    def __init__(self, *, fail_first: int = 0, tls: tuple[Path, Path] | None = None, implicit_tls: bool = False,
                 password: str = "s3cret-pass", echo_login: bool = False):
        self.fail_first = fail_first
        self.echo_login = echo_login
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
        elif echo_login:
            # Logins over the plain connection, refused with what was sent quoted back
            options = {"authenticator": self._authenticate, "auth_require_tls": False, "auth_exclude_mechanism": ["LOGIN"]}
        self.controller = Controller(self, hostname=LOOPBACK, port=self.port, **options)

    def _authenticate(self, server, session, envelope, mechanism, auth_data):
        self.logins.append((auth_data.login.decode(), auth_data.password.decode()))
        if self.echo_login:
            # A server that quotes what it was sent in its refusal
            return AuthResult(success=False, handled=False, message=f"535 5.7.8 bad login {auth_data.login.decode()}:{auth_data.password.decode()}")
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
