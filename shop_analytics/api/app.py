"""The read-only HTTP API: every table of `cli.py export` at /v1/NAME with the CLI's
parameters, the report files at /v1/reports/{week|month}, the open alerts at /v1/alerts, the
served data's status at /v1/status, the MCP server's streamable HTTP transport at /mcp, and
the OpenAPI document at /openapi.json (read at /docs), each table described by its metric's
SPEC definition and its columns' units.

JSON by default; `Accept: text/csv` or `Accept: application/vnd.apache.parquet` for the rows
as `cli.py export` writes them. Rows come in pages (`limit`, `offset`; `total` in the JSON,
X-Total-Count and a Link to the next page in the headers). Errors are RFC 9457 problems
(problems.py); access, limits and the request log are the Guard's (guard.py).
"""

import contextlib
import inspect
import json
import logging
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from shop_analytics.access.roles import pages_for
from shop_analytics.api.alerts import alert_table
from shop_analytics.api.catalog import DEFAULT_LIMIT, MAX_LIMIT, TABLES, Param, Table
from shop_analytics.api.guard import Guard, Identity, require
from shop_analytics.api.problems import (
    PROBLEM_MEDIA_TYPE,
    PROBLEM_RESPONSES,
    ParameterProblem,
    ProblemError,
    bad_parameter,
    bad_parameters,
    problem_json,
)
from shop_analytics.api.serving import (
    FORMATS,
    MAX_OFFSET,
    build_document,
    build_table,
    negotiate,
    parse_limit,
    parse_offset,
    parse_served_day,
    read_document_query,
    read_table_query,
    table_bytes,
    table_json,
)
from shop_analytics.api.state import ShopState
from shop_analytics.api.tokens import TokenStore

logger = logging.getLogger("shop_analytics.api")

REPORT_FORMATS = {
    "html": "text/html; charset=utf-8",
    "pdf": "application/pdf",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


class Column(BaseModel):
    name: str
    type: str = Field(description="the Polars type of the column")
    unit: str | None = Field(description="count, money, ratio (0-1), hours, score or multiple, from metrics/registry.py; null for labels and dates")


class TableAnswer(BaseModel):
    """A page of a table with what it was asked with and where its data comes from."""

    table: str
    parameters: dict[str, Any] = Field(description="the parameters the table was built with, defaults filled in")
    data: dict[str, Any] = Field(description="source, loaded_at, refreshed_at (a server database's extract) and stale (why the extract is older than its time-to-live, else null)")
    total: int = Field(description="rows in the whole table")
    offset: int
    limit: int
    columns: list[Column]
    rows: list[dict[str, Any]] = Field(description="the page's rows, as `cli.py export NAME --format json` prints them")


def _annotation(param: Param):
    # Plain types, an absent parameter being None: a query string has no null to offer.
    return list[str] if param.kind == "list" else str


def _schema(param: Param) -> dict:
    """The OpenAPI schema of a parameter (every value arrives as text and is checked by the
    CLI's parsers, so a bad one gets the CLI's message)."""
    if param.kind == "day":
        return {"type": "string", "format": "date"}
    if param.kind == "choice":
        return {"type": "string", "enum": list(param.choices)}
    if param.kind == "count":
        return {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET} if param.name == "offset" else {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}
    if param.kind == "list":
        return {"type": "array", "items": {"type": "string"}}
    return {"type": "string"}


def _signature(params: tuple[Param, ...]) -> inspect.Signature:
    parameters = [inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Request)]
    for param in params:
        default = Query(
            ... if param.required else None, alias=param.name, description=param.description,
            json_schema_extra=_schema(param) | ({"default": param.default} if param.default is not None else {}),
        )
        parameters.append(inspect.Parameter(param.keyword, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=_annotation(param)))
    return inspect.Signature(parameters)


def _identity(request: Request) -> Identity:
    return request.scope["state"]["identity"]


def _refuse_unknown(request: Request, known: set[str]) -> None:
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        raise bad_parameters([
            ParameterProblem(parameter=name, detail=f"is not a parameter of {request.url.path}: its parameters are {', '.join(sorted(known))}")
            for name in unknown
        ])


def _header_value(text: str) -> str:
    """`text` as a header value: ASCII on one line."""
    return " ".join(text.encode("ascii", "replace").decode().split())


def _data_headers(freshness: dict) -> dict[str, str]:
    """When the data was loaded and, for a server database's extract, refreshed; X-Data-Stale
    with the reason when its last refresh failed."""
    headers = {"X-Data-Loaded-At": freshness["loaded_at"]}
    if freshness["refreshed_at"]:
        headers["X-Data-Refreshed-At"] = freshness["refreshed_at"]
    if freshness["stale"]:
        headers["X-Data-Stale"] = _header_value(freshness["stale"])
    return headers


def _page_headers(request: Request, total: int, offset: int, limit: int) -> dict[str, str]:
    headers = {"X-Total-Count": str(total)}
    if offset + limit < total:
        query = dict(request.query_params) | {"offset": str(offset + limit), "limit": str(limit)}
        headers["Link"] = f'<{request.url.path}?{urlencode(query)}>; rel="next"'
    return headers


def create_app(secrets: Path | None = None, *, state: ShopState | None = None, with_mcp: bool = True) -> FastAPI:
    """The API over the configuration in `secrets` (default: $SHOP_ANALYTICS_SECRETS, else
    .streamlit/secrets.toml), wrapped in the Guard; with `with_mcp`, the MCP server at /mcp."""
    state = state or ShopState(secrets)
    mcp_server = None
    if with_mcp:
        from shop_analytics.api.mcp_server import build_mcp_server

        mcp_server = build_mcp_server(state)
        mcp_app = mcp_server.streamable_http_app(
            streamable_http_path="/mcp", stateless_http=True, json_response=True, host=state.config().api.host,
        )

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI):
        state.start_loading()
        if mcp_server is None:
            yield
        else:
            async with mcp_server.session_manager.run():
                yield

    config = state.config()
    app = FastAPI(
        title="Shop analytics API",
        version="1",
        description=(
            "The numbers of the configured shop, read-only, with the dashboard's definitions and access rules. "
            "Send an API token as `Authorization: Bearer TOKEN` (made with `python cli.py token add NAME --role ROLE`); "
            "without any token configured the API answers only this machine. Periods are business days "
            f"in the shop's zone ({config.settings.time_zone} unless `tz` says otherwise). JSON by default; "
            "`Accept: text/csv` or `Accept: application/vnd.apache.parquet` for the rows as `cli.py export` writes them. "
            "Errors are RFC 9457 problem details naming the parameter and the fix."
        ),
        lifespan=lifespan,
        openapi_tags=[{"name": page, "description": f"tables of the dashboard's {page} page"} for page in dict.fromkeys(table.page for table in TABLES.values())],
    )
    app.state.shop_state = state

    for table in TABLES.values():
        _add_table_route(app, state, table, config.settings.currency)
    _add_report_route(app, state)
    _add_alerts_route(app, state)
    _add_status_route(app, state)
    if mcp_server is not None:
        app.router.routes.extend(route for route in mcp_app.routes if getattr(route, "path", None) == "/mcp")

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/docs")

    _add_problem_handlers(app)
    _add_security_scheme(app)
    app.add_middleware(Guard, tokens=lambda: token_store(state.config().api.tokens_database_path), requests_per_minute=lambda: state.config().api.requests_per_minute)
    return app


_TOKEN_STORES: dict[Path, TokenStore] = {}


def token_store(path: Path) -> TokenStore:
    """One store per tokens file for the process (its engine is opened once)."""
    if path not in _TOKEN_STORES:
        _TOKEN_STORES[path] = TokenStore(path)
    return _TOKEN_STORES[path]


def _add_table_route(app: FastAPI, state: ShopState, table: Table, currency: str) -> None:
    known = {param.name for param in table.params}

    def endpoint(request: Request, **values) -> Response:
        _refuse_unknown(request, known)
        require(_identity(request), table.page, user_level=table.user_level, what=f"the {table.name} table")
        config = state.config()
        if table.document:
            negotiate(request.headers.get("accept"), ("json",))
            document_query = read_document_query(table, values, config.settings.time_zone)
            served = state.current()
            document = build_document(state, served, document_query)
            body = {"document": table.name, "parameters": document_query.echo(), "data": served.freshness, "result": document}
            return Response(json.dumps(body, allow_nan=False, ensure_ascii=False), media_type=FORMATS["json"], headers=_data_headers(served.freshness))
        output = negotiate(request.headers.get("accept"), ("json", "csv", "parquet"))
        query = read_table_query(table, values, config.settings.time_zone)
        served = state.current()
        frame = build_table(state, served, query)
        headers = _data_headers(served.freshness) | _page_headers(request, frame.height, query.offset, query.limit)
        if output == "json":
            return Response(table_json(table.name, query, served, frame), media_type=FORMATS["json"], headers=headers)
        file_name = f"{table.name}_{query.start}_{query.end}.{output}"
        headers["Content-Disposition"] = f'attachment; filename="{file_name}"'
        return Response(table_bytes(frame.slice(query.offset, query.limit), output), media_type=FORMATS[output], headers=headers)

    endpoint.__signature__ = _signature(table.params)  # type: ignore[attr-defined]
    endpoint.__name__ = f"table_{table.tool_name}"
    content = {FORMATS["json"]: {}, "text/csv": {"schema": {"type": "string"}}, FORMATS["parquet"]: {"schema": {"type": "string", "format": "binary"}}}
    if table.document:
        content = {FORMATS["json"]: {}}
    app.add_api_route(
        table.path, endpoint, methods=["GET"], summary=table.summary, description=table.description(currency),
        tags=[table.page], response_class=Response, operation_id=table.tool_name,
        responses={200: {"model": None if table.document else TableAnswer, "description": "the table", "content": content}, **PROBLEM_RESPONSES},
    )


def _add_report_route(app: FastAPI, state: ShopState) -> None:
    @app.get(
        "/v1/reports/{period}", tags=["reports"], response_class=Response, operation_id="report",
        summary="the weekly or monthly management report as a file (HTML, PDF or Excel), as `cli.py report` writes it",
        responses={200: {"description": "the report file", "content": {media: {} for media in REPORT_FORMATS.values()}}, **PROBLEM_RESPONSES},
    )
    def report(
        request: Request,
        period: str = PathParam(description="week (Monday to Sunday) or month (the calendar month)", json_schema_extra={"enum": ["week", "month"]}),
        day: str = Query(..., alias="date", description="a day inside the period, YYYY-MM-DD", json_schema_extra={"format": "date"}),
        lang: str = Query(None, description="the report's language, en or zh (default: [settings] language)", json_schema_extra={"enum": ["en", "zh"]}),
        file_format: str = Query(None, alias="format", description="html (default), pdf or xlsx", json_schema_extra={"enum": list(REPORT_FORMATS)}),
    ) -> Response:
        """Built for the period that holds `date`, in `lang`, with the report's KPIs, trends,
        channels, campaigns, cohorts, service, alerts and written highlights."""
        _refuse_unknown(request, {"date", "lang", "format"})
        require(_identity(request), "reports", what="the reports")
        problems = []
        if period not in ("week", "month"):
            problems.append(ParameterProblem(parameter="period", detail=f"{period!r} is not a report period: use /v1/reports/week or /v1/reports/month"))
        try:
            chosen_day = parse_served_day(day.strip())
        except ValueError as error:
            problems.append(ParameterProblem(parameter="date", detail=str(error)))
        if lang is not None and lang not in ("en", "zh"):
            problems.append(ParameterProblem(parameter="lang", detail=f"lang must be one of en, zh, not {lang!r}"))
        output = file_format or "html"
        if output not in REPORT_FORMATS:
            problems.append(ParameterProblem(parameter="format", detail=f"format must be one of {', '.join(REPORT_FORMATS)}, not {output!r}"))
        if problems:
            raise bad_parameters(problems)
        served = state.current()
        language = lang or served.config.settings.language
        key = (served.key, "report", period, chosen_day, language, output)
        content, name = state.results.get(key, lambda: _render_report(served, period, chosen_day, language, output))
        headers = _data_headers(served.freshness) | {"Content-Disposition": f'attachment; filename="{name}"'}
        return Response(content, media_type=REPORT_FORMATS[output], headers=headers)


def _render_report(served, kind: str, day, language: str, output: str) -> tuple[bytes, str]:
    """The report file as `cli.py report` writes it, and its file name."""
    from connectors import SourceError
    from shop_analytics.reports.content import build_report
    from shop_analytics.reports.render import file_name, render_html, render_pdf, render_xlsx
    from shop_analytics.targets import stored_targets
    from shop_analytics.views import anomaly_settings

    settings = served.config.settings.model_copy(update={"language": language})
    try:
        report = build_report(served.shop, kind=kind, day=day, lang=language, settings=settings, anomaly=anomaly_settings(served.config),
                              targets=stored_targets(served.config.alerts.database_path))
    except SourceError as error:
        raise ProblemError(409, "missing-table", "The shop lacks what this report needs", str(error)) from None
    except ValueError as error:
        raise bad_parameter("date", str(error)) from None
    renderer = {"html": render_html, "pdf": render_pdf, "xlsx": render_xlsx}[output]
    return renderer(report), file_name(report, output)


def _add_alerts_route(app: FastAPI, state: ShopState) -> None:
    @app.get(
        "/v1/alerts", tags=["alerts"], response_class=Response, operation_id="alerts",
        summary="the open alerts (anomalies and broken rules) as `cli.py alerts list` prints them; status=all adds the resolved ones",
        responses={200: {"description": "the alerts", "content": {FORMATS["json"]: {}, "text/csv": {}, FORMATS["parquet"]: {}}}, **PROBLEM_RESPONSES},
    )
    def alerts(
        request: Request,
        status: str = Query(None, description="open (default: the overview's) or all (open and resolved: the Alerts page's, an admin's)", json_schema_extra={"enum": ["open", "all"]}),
        limit: str = Query(None, description="rows to return (default 1000)", json_schema_extra={"type": "integer", "minimum": 1}),
        offset: str = Query(None, description="rows to skip", json_schema_extra={"type": "integer", "minimum": 0}),
    ) -> Response:
        """Each alert with its state, the days it was first and last seen, its value and
        reference, and its sentence in the configured language."""
        _refuse_unknown(request, {"status", "limit", "offset"})
        chosen = status or "open"
        if chosen not in ("open", "all"):
            raise bad_parameter("status", f"status must be one of open, all, not {chosen!r}")
        require(_identity(request), "overview" if chosen == "open" else "alerts", what="the open alerts" if chosen == "open" else "resolved alerts")
        output = negotiate(request.headers.get("accept"), ("json", "csv", "parquet"))
        try:
            rows_limit = parse_limit(limit) if limit not in (None, "") else DEFAULT_LIMIT
        except ValueError as error:
            raise bad_parameter("limit", str(error)) from None
        try:
            rows_offset = parse_offset(offset) if offset not in (None, "") else 0
        except ValueError as error:
            raise bad_parameter("offset", str(error)) from None
        frame = alert_table(state.config(), include_resolved=chosen == "all")
        headers = _page_headers(request, frame.height, rows_offset, rows_limit)
        page = frame.slice(rows_offset, rows_limit)
        if output == "json":
            body = {"table": "alerts", "parameters": {"status": chosen}, "total": frame.height, "offset": rows_offset, "limit": rows_limit}
            head = json.dumps(body)
            return Response(f'{head[:-1]},"rows":{page.write_json()}}}', media_type=FORMATS["json"], headers=headers)
        return Response(table_bytes(page, output), media_type=FORMATS[output], headers=headers)


def _add_status_route(app: FastAPI, state: ShopState) -> None:
    @app.get("/v1/status", tags=["overview"], operation_id="status", summary="who you are, what data is served and the business calendar", responses=PROBLEM_RESPONSES)
    def status(request: Request) -> dict:
        """Your token's name, role and the tables it may read; the data's source, freshness
        and first and last day; the shop's channels, devices and regions (the values of the
        segment filters); today and the recent weeks and months in the business zone."""
        _refuse_unknown(request, set())
        identity = _identity(request)
        served = state.current()
        return status_of(served, identity)


def status_of(served, identity: Identity) -> dict:
    """The status document of /v1/status and the MCP tool shop_status."""
    from shop_analytics.access.roles import may_open, may_see_users

    config, shop = served.config, served.shop
    tz = config.settings.time_zone
    span = shop.date_span(tz)
    today = datetime.now(ZoneInfo(tz)).date()
    return {
        "you": {"name": identity.name, "role": identity.role, "pages": pages_for(identity.role)},
        "tables": [table.name for table in TABLES.values() if may_open(identity.role, table.page) and (not table.user_level or may_see_users(identity.role))],
        "data": served.freshness | {
            "first_day": span[0].isoformat() if span else None,
            "last_day": span[1].isoformat() if span else None,
            "missing_tables": list(shop.missing),
        },
        "settings": {"time_zone": tz, "currency": config.settings.currency, "language": config.settings.language},
        "segments": {name: shop.labels(name) for name in ("channel", "device", "region")},
        "calendar": calendar(today),
    }


def calendar(today) -> dict:
    """Named periods around `today` (weeks run Monday to Sunday), so that "last week" or "the
    month before" become dates."""
    monday = today - timedelta(days=today.weekday())
    first_of_month = today.replace(day=1)
    last_month_end = first_of_month - timedelta(days=1)
    month_before_end = last_month_end.replace(day=1) - timedelta(days=1)

    def span(start, end) -> dict:
        return {"from": start.isoformat(), "to": end.isoformat()}

    return {
        "today": today.isoformat(),
        "this_week": span(monday, today),
        "last_week": span(monday - timedelta(days=7), monday - timedelta(days=1)),
        "week_before_last": span(monday - timedelta(days=14), monday - timedelta(days=8)),
        "this_month": span(first_of_month, today),
        "last_month": span(last_month_end.replace(day=1), last_month_end),
        "month_before_last": span(month_before_end.replace(day=1), month_before_end),
        "last_7_days": span(today - timedelta(days=7), today - timedelta(days=1)),
        "last_30_days": span(today - timedelta(days=30), today - timedelta(days=1)),
    }


def _problem_response(problem: ProblemError, request: Request) -> Response:
    return Response(problem_json(problem, request.url.path), status_code=problem.status, media_type=PROBLEM_MEDIA_TYPE, headers=problem.headers)


def _validation_problem(request: Request, error: RequestValidationError) -> ProblemError:
    """FastAPI's own checks (a required parameter missing, a path that names no table)."""
    table = next((table for table in TABLES.values() if table.path == request.url.path), None)
    descriptions = {param.name: param.description for param in table.params} if table else {}
    problems = []
    for item in error.errors():
        name = str(item["loc"][-1]) if item.get("loc") else "request"
        if item.get("type") == "missing":
            hint = descriptions.get(name)
            problems.append(ParameterProblem(parameter=name, detail=f"is required{': give ' + hint if hint else ''}"))
        else:
            problems.append(ParameterProblem(parameter=name, detail=str(item.get("msg", "is not valid"))))
    return bad_parameters(problems)


def _add_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(ProblemError)
    async def problem(request: Request, error: ProblemError) -> Response:
        return _problem_response(error, request)

    @app.exception_handler(RequestValidationError)
    async def validation(request: Request, error: RequestValidationError) -> Response:
        return _problem_response(_validation_problem(request, error), request)

    @app.exception_handler(StarletteHTTPException)
    async def http(request: Request, error: StarletteHTTPException) -> Response:
        if error.status_code == 404:
            detail = f"there is nothing at {request.url.path}: the tables are at {', '.join(table.path for table in TABLES.values())}; the reports at /v1/reports/week|month, the alerts at /v1/alerts; /docs lists them all"
            return _problem_response(ProblemError(404, "not-found", "Not found", detail), request)
        if error.status_code == 405:
            problem = ProblemError(405, "method-not-allowed", "Read-only", f"{request.method} is not allowed: this API is read-only, use GET", headers={"Allow": "GET"})
            return _problem_response(problem, request)
        return _problem_response(ProblemError(error.status_code, "http", str(error.detail), str(error.detail)), request)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> Response:
        incident = uuid.uuid4().hex[:12]
        logger.error("incident %s on %s %s", incident, request.method, request.url.path, exc_info=error)
        detail = f"an unexpected error, logged on the server as incident {incident}: tell the operator, and try other parameters meanwhile"
        return _problem_response(ProblemError(500, "internal", "Internal error", detail), request)


def _add_security_scheme(app: FastAPI) -> None:
    """The bearer token in the OpenAPI document, so that /docs can send it."""
    def openapi() -> dict:
        if app.openapi_schema is None:
            from fastapi.openapi.utils import get_openapi

            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes, tags=app.openapi_tags)
            schema.setdefault("components", {})["securitySchemes"] = {"token": {"type": "http", "scheme": "bearer", "description": "an API token from `python cli.py token add NAME --role ROLE`"}}
            schema["security"] = [{"token": []}]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
