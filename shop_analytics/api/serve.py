"""Serving the API and the MCP server: `python cli.py api`, `python cli.py mcp [--http]`, and
`python cli.py token add|list|revoke` for their tokens.

TLS takes the dashboard's certificate: Streamlit's `server.sslCertFile` and
`server.sslKeyFile`, from $STREAMLIT_SERVER_SSL_CERT_FILE / $STREAMLIT_SERVER_SSL_KEY_FILE,
else `[server]` of .streamlit/config.toml (the project's, then the user's), as Streamlit
reads them, so one certificate serves the dashboard, the API and the MCP endpoint.
"""

import logging
import os
import sys
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

from shop_analytics.config import PROJECT, AppConfig

STREAMLIT_CONFIGS = (PROJECT / ".streamlit" / "config.toml", Path.home() / ".streamlit" / "config.toml")
GRACEFUL_SHUTDOWN_SECONDS = 5


def tls_files(environ: Mapping[str, str] = os.environ, configs: tuple[Path, ...] = STREAMLIT_CONFIGS) -> tuple[str, str] | None:
    """The dashboard's certificate and key files, None when it is served without TLS.
    ValueError when only one is set or a file is missing."""
    cert, key = environ.get("STREAMLIT_SERVER_SSL_CERT_FILE"), environ.get("STREAMLIT_SERVER_SSL_KEY_FILE")
    where = "$STREAMLIT_SERVER_SSL_CERT_FILE / $STREAMLIT_SERVER_SSL_KEY_FILE"
    if cert is None and key is None:
        for path in configs:
            if path.exists():
                try:
                    server = tomllib.loads(path.read_text()).get("server", {})
                except tomllib.TOMLDecodeError as error:
                    raise ValueError(f"{path} is not valid TOML: {error}") from None
                cert, key, where = server.get("sslCertFile"), server.get("sslKeyFile"), f"[server] of {path}"
                if cert is not None or key is not None:
                    break
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise ValueError(f"{where} sets only one of sslCertFile and sslKeyFile: set both, or neither to serve without TLS")
    for name, file in (("sslCertFile", cert), ("sslKeyFile", key)):
        if not Path(file).is_file():
            raise ValueError(f"{where}: {name} {file} does not exist")
    return cert, key


def log_requests(stream: TextIO = sys.stderr) -> None:
    """The API's request log (logger shop_analytics.api) as lines on `stream`."""
    logger = logging.getLogger("shop_analytics.api")
    if not logger.handlers:
        handler = logging.StreamHandler(stream)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


def serve(app, *, host: str, port: int) -> None:
    """Serve the ASGI `app` with uvicorn until Ctrl-C (or SIGTERM), over TLS when the
    dashboard has a certificate."""
    import uvicorn

    tls = tls_files()
    log_requests()
    scheme = "https" if tls else "http"
    logging.getLogger("shop_analytics.api").info("serving on %s://%s:%d", scheme, host, port)
    uvicorn.run(
        app, host=host, port=port, access_log=False, timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        ssl_certfile=tls[0] if tls else None, ssl_keyfile=tls[1] if tls else None,
    )


def run_api(secrets: Path | None, config: AppConfig, port: int | None) -> None:
    """`python cli.py api`: the HTTP API (and the MCP endpoint at /mcp) on [api] host and
    port (or `port`)."""
    from shop_analytics.api.app import create_app

    serve(create_app(secrets), host=config.api.host, port=port or config.api.port)


def run_mcp(secrets: Path | None, config: AppConfig, *, http: bool, port: int | None, role: str) -> None:
    """`python cli.py mcp`: the MCP server over stdio with `role`, or with `http` over
    streamable HTTP at /mcp on [api] host and mcp_port (or `port`), each request with its
    token's role."""
    from shop_analytics.api.mcp_server import build_mcp_server, http_app
    from shop_analytics.api.state import ShopState

    state = ShopState(secrets)
    if http:
        serve(_loading(http_app(state), state), host=config.api.host, port=port or config.api.mcp_port)
        return
    log_requests()
    state.start_loading()
    build_mcp_server(state, stdio_role=role).run("stdio")


def _loading(app, state):
    """`app` that starts loading the shop when the server starts, and runs the MCP session
    manager's lifespan."""
    async def wrapped(scope, receive, send):
        if scope["type"] == "lifespan":
            state.start_loading()
        await app(scope, receive, send)

    return wrapped


def add_token(config: AppConfig, name: str, role: str) -> str:
    """`token add`: the lines that hand the new token over (the token only here, once)."""
    from shop_analytics.api.tokens import TokenStore

    token = TokenStore(config.api.tokens_database_path).add(name, role)
    return (
        f"{token}\n"
        f"# the API token {name} ({role}): shown this once, kept only as its hash in {config.api.tokens_database_path}.\n"
        f"# Send it as `Authorization: Bearer TOKEN`; revoke it with `python cli.py token revoke {name}`.\n"
    )



def list_tokens(config: AppConfig) -> str:
    """`token list`: name, role and creation time of each token (never the token)."""
    from shop_analytics.api.tokens import TokenStore

    tokens = TokenStore(config.api.tokens_database_path).tokens()
    if not tokens:
        return f"no API tokens in {config.api.tokens_database_path}: the API answers this machine only\n"
    return "".join(f"{token['name']:<24} {token['role']:<8} created {token['created_at']:%Y-%m-%d %H:%M} UTC\n" for token in tokens)


def revoke_token(config: AppConfig, name: str) -> str:
    """`token revoke`: delete the token; ValueError when there is none of that name."""
    from shop_analytics.api.tokens import TokenStore

    if not TokenStore(config.api.tokens_database_path).revoke(name):
        raise ValueError(f"there is no API token named {name}: `python cli.py token list` lists them")
    return f"revoked {name}: requests with it now get 401\n"
