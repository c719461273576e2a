"""Who may ask, how often, and a line for every request: the ASGI middleware in front of the
HTTP API and the MCP server's HTTP transport.

- A request names its token as `Authorization: Bearer sa_...`; the token's role then applies
  the dashboard's page and user-list rules (each endpoint checks them, `require`).
- With no token configured at all, the API answers this machine only, with every role (as
  the dashboard does without `[access]`); a request from elsewhere gets 403 saying how to
  make a token.
- Each token (or, without one, each client address) may make `[api] requests_per_minute`
  requests in any 60 seconds; past that, 429 with Retry-After.
- Every request is logged (logger `shop_analytics.api`): client, token name and role, method,
  path and query (parameters that look like secrets masked), status and milliseconds. The
  token itself is never logged.
"""

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode

from starlette.types import Message, Receive, Scope, Send

from shop_analytics.access.local import is_local_request
from shop_analytics.access.roles import PAGE_ROLES, may_open, may_see_users
from shop_analytics.api.problems import (
    PROBLEM_MEDIA_TYPE,
    ProblemError,
    forbidden,
    problem_json,
    too_many_requests,
    unauthorized,
)
from shop_analytics.api.tokens import TokenStore

logger = logging.getLogger("shop_analytics.api")

OPEN_ROLE = "admin"  # no token configured: everything, for this machine only
PUBLIC_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})
"""The API's own documentation: no data, open to whoever may connect."""
_SECRET_WORDS = ("token", "key", "secret", "password", "auth")
WINDOW_SECONDS = 60.0


@dataclass(frozen=True)
class Identity:
    """Who is asking: a token's name and role, or this machine (`local`) without tokens."""

    name: str
    role: str
    local: bool = False


def require(identity: Identity, page: str, *, user_level: bool = False, what: str) -> None:
    """ProblemError 403 unless `identity`'s role may open the dashboard page `page` (and, for
    `user_level` rows, download lists of users)."""
    if not may_open(identity.role, page):
        least = PAGE_ROLES.get(page, OPEN_ROLE)
        raise forbidden(
            f"a {identity.role} token cannot read {what}: it needs the {least} role (the dashboard's {page} page); "
            f"an admin can make one with `python cli.py token add NAME --role {least}`"
        )
    if user_level and not may_see_users(identity.role):
        raise forbidden(
            f"{what} lists users, which a {identity.role} token may not read: it needs the analyst role or above "
            "(as the dashboard's downloads of user lists do)"
        )


class RateLimiter:
    """At most `limit()` requests per key in any WINDOW_SECONDS, thread-safe. The memory held is
    the times of each key's requests of the last minute."""

    def __init__(self, limit: Callable[[], int], clock: Callable[[], float] = time.monotonic):
        self.limit = limit
        self._clock = clock
        self._times: dict[str, deque[float]] = {}
        self._mutex = threading.Lock()
        self._calls = 0

    def admit(self, key: str) -> int | None:
        """Count a request of `key`; None when it is admitted, else the whole seconds until it
        would be."""
        now, limit = self._clock(), self.limit()
        with self._mutex:
            self._calls += 1
            if self._calls % 1000 == 0:
                self._forget(now)
            times = self._times.setdefault(key, deque())
            while times and now - times[0] >= WINDOW_SECONDS:
                times.popleft()
            if len(times) >= limit:
                return max(1, math.ceil(WINDOW_SECONDS - (now - times[0])))
            times.append(now)
            return None

    def _forget(self, now: float) -> None:
        for key in [key for key, times in self._times.items() if not times or now - times[-1] >= WINDOW_SECONDS]:
            del self._times[key]


def masked_query(query: str) -> str:
    """The query string with the values of parameters named like secrets replaced by ***."""
    if not query:
        return ""
    pairs = parse_qsl(query, keep_blank_values=True)
    return urlencode([(name, "***" if any(word in name.lower() for word in _SECRET_WORDS) else value) for name, value in pairs])


def _bearer(headers: dict[str, str]) -> str | None:
    value = headers.get("authorization")
    if value is None:
        return None
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else ""


class Guard:
    """ASGI middleware: identify, limit, log. The identity is put in the request's state
    (`scope["state"]["identity"]`) for the endpoints and the MCP tools."""

    def __init__(self, app, *, tokens: Callable[[], TokenStore], requests_per_minute: Callable[[], int]):
        self.app = app
        self._tokens = tokens
        self.limiter = RateLimiter(requests_per_minute)

    def identify(self, scope) -> Identity | None:
        """Who the request comes from; ProblemError when it may not be answered. None for the
        public documentation."""
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope.get("headers", [])}
        client = (scope.get("client") or (None, None))[0]
        token = _bearer(headers)
        store = self._tokens()
        if token:
            holder = store.holder(token)
            if holder is None:
                raise unauthorized("this token is not known (revoked, mistyped, or made for another deployment): ask an admin for a new one")
            return Identity(holder.name, holder.role)
        if token == "":
            raise unauthorized("the Authorization header must read `Bearer TOKEN`")
        if scope["path"] in PUBLIC_PATHS:
            return None
        if store.any():
            raise unauthorized("send your API token as `Authorization: Bearer TOKEN` (made with `python cli.py token add NAME --role ROLE`)")
        if not is_local_request(client, headers):
            raise forbidden(
                "no API tokens are configured, so this API answers this machine only: "
                "make one with `python cli.py token add NAME --role ROLE` and send it as `Authorization: Bearer TOKEN`"
            )
        return Identity("local", OPEN_ROLE, local=True)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        client = (scope.get("client") or ("-", 0))[0]
        status = {"code": 500}
        identity: Identity | None = None

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            identity = self.identify(scope)
            retry_after = self.limiter.admit(identity.name if identity and not identity.local else f"client:{client}")
            if retry_after is not None:
                raise too_many_requests(
                    f"more than {self.limiter.limit()} requests in a minute: try again in {retry_after} s, "
                    "or ask for a higher [api] requests_per_minute", retry_after,
                )
        except ProblemError as problem:
            await _send_problem(problem, scope["path"], sending)
        else:
            scope.setdefault("state", {})["identity"] = identity
            await self.app(scope, receive, sending)
        finally:
            who = f"{identity.name}({identity.role})" if identity else "-"
            query = masked_query(scope.get("query_string", b"").decode("latin-1"))
            logger.info(
                "%s %s %s %s%s %d %.1fms", client, who, scope["method"], scope["path"], f"?{query}" if query else "",
                status["code"], (time.perf_counter() - started) * 1000,
            )


async def _send_problem(problem: ProblemError, path: str, send) -> None:
    body = problem_json(problem, path)
    headers = [(b"content-type", PROBLEM_MEDIA_TYPE.encode()), (b"content-length", str(len(body)).encode())]
    headers += [(name.lower().encode(), value.encode()) for name, value in problem.headers.items()]
    await send({"type": "http.response.start", "status": problem.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
