"""The MCP server (the `mcp` Python SDK): every table of `cli.py export` as a read-only tool
with typed parameters and a description that quotes the metric's SPEC definition and each
column's unit, `shop_status` (today, named weeks and months, the data's days, the segment
values) and `open_alerts`. Over stdio (`python cli.py mcp`) it answers with the role given
on the command line (the CLI's own reach by default: whoever runs it has the server's
secrets); over streamable HTTP (`python cli.py mcp --http`, and /mcp of the HTTP API) with
the role of the request's API token, checked by the same Guard as the API.
"""

import inspect
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import Field
from pydantic.config import JsonDict

from shop_analytics.api.alerts import alert_table
from shop_analytics.api.catalog import TABLES, Param, Table
from shop_analytics.api.guard import Guard, Identity, require
from shop_analytics.api.problems import ProblemError
from shop_analytics.api.serving import (
    build_document,
    build_table,
    columns_of,
    read_document_query,
    read_table_query,
    rows_of,
)
from shop_analytics.api.state import ShopState

TOOL_ROWS = 100
"""Rows a tool returns unless asked for more: an assistant reads every one of them."""
READ_ONLY = ToolAnnotations(readOnlyHint=True, destructiveHint=False, idempotentHint=True, openWorldHint=False)

INSTRUCTIONS = """The numbers of one e-commerce shop, read-only, with the definitions of its analytics
dashboard. Call shop_status first: it gives today's date in the shop's time zone and named
periods (last_week, week_before_last, last_month, ...), the first and last day with data, the
currency, and the channel, device and region values the segment filters take.

Every table tool takes a period: start and end are business days (YYYY-MM-DD, both inclusive).
A week runs Monday to Sunday. To compare two periods, call the tool once for each (for "GMV last
week by channel against the week before": channels with last_week's dates, then with
week_before_last's, and compare the gmv columns); `periods` compares a period's KPIs with the
previous period of the same length, the same period a week and a year before in one call.
`kpis` gives the daily KPIs; filter any table by channel, device or region where it offers them.
Money is in the shop's currency; ratios are shares from 0 to 1 (0.25 = 25 %). Each answer says
how many rows there are (total); ask for more with limit and offset."""


def _annotation(param: Param, *, tool_rows: int):
    """The typed parameter of a tool: dates as text in YYYY-MM-DD (checked by the CLI's parser,
    whose message a wrong one gets), choices as literals, lists of segment values."""
    description = param.description if param.name != "limit" else f"rows to return (default {tool_rows}); total says how many there are"
    if param.kind == "choice":
        kind: Any = Literal[param.choices]
    elif param.kind == "list":
        kind = list[str]
    elif param.kind == "count":
        kind = int
    else:
        kind = str
    extra: JsonDict | None = {"format": "date"} if param.kind == "day" else None
    field = Field(description=description, json_schema_extra=extra, ge=(0 if param.name == "offset" else 1) if param.kind == "count" else None)
    return Annotated[kind if param.required else kind | None, field]


def _keyword(param: Param) -> inspect.Parameter:
    return inspect.Parameter(param.keyword, inspect.Parameter.KEYWORD_ONLY, annotation=_annotation(param, tool_rows=TOOL_ROWS),
                             default=inspect.Parameter.empty if param.required else None)


def identity_of(context: Context, stdio: Identity | None) -> Identity:
    """Who calls the tool: the API token's holder over HTTP (the Guard put it in the request),
    else the stdio server's identity."""
    request = context.request_context.request
    if request is None:
        if stdio is None:
            raise ToolError("this server answers over HTTP only, with an API token")
        return stdio
    identity = getattr(request, "scope", {}).get("state", {}).get("identity")
    if identity is None:
        raise ToolError("no identity for this request: send an API token as `Authorization: Bearer TOKEN`")
    return identity


def _tool_error(problem: ProblemError) -> ToolError:
    where = f" (parameter {problem.errors[0].parameter})" if problem.errors else ""
    return ToolError(f"{problem.title}{where}: {problem.detail}")


def _table_tool(state: ShopState, table: Table, stdio: Identity | None):
    def tool(context: Context, **values) -> dict[str, Any]:
        try:
            require(identity_of(context, stdio), table.page, user_level=table.user_level, what=f"the {table.name} table")
            config = state.config()
            if table.document:
                document_query = read_document_query(table, values, config.settings.time_zone)
                served = state.current()
                document = build_document(state, served, document_query)
                return {"document": table.name, "parameters": document_query.echo(), "data": served.freshness, "result": document}
            values = {"limit": TOOL_ROWS} | {key: value for key, value in values.items() if value is not None}
            query = read_table_query(table, values, config.settings.time_zone)
            served = state.current()
            frame = build_table(state, served, query)
        except ProblemError as problem:
            raise _tool_error(problem) from None
        page = frame.slice(query.offset, query.limit)
        return {
            "table": table.name, "parameters": query.echo(), "data": served.freshness, "total": frame.height,
            "offset": query.offset, "limit": query.limit, "columns": columns_of(frame), "rows": rows_of(page),
        }

    parameters = [inspect.Parameter("context", inspect.Parameter.KEYWORD_ONLY, annotation=Context)] + [_keyword(param) for param in table.params]
    tool.__signature__ = inspect.Signature(parameters, return_annotation=dict[str, Any])  # type: ignore[attr-defined]
    tool.__annotations__ = {parameter.name: parameter.annotation for parameter in parameters} | {"return": dict[str, Any]}
    tool.__name__ = table.tool_name
    return tool


def build_mcp_server(state: ShopState, *, stdio_role: str | None = None) -> MCPServer:
    """The MCP server over the shop of `state`; `stdio_role` is the role of a stdio session
    (None: HTTP only, each request with its token's role)."""
    stdio = Identity("stdio", stdio_role, local=True) if stdio_role else None
    config = state.config()
    currency = config.settings.currency
    server: MCPServer = MCPServer("shop-analytics", instructions=INSTRUCTIONS, version="1")
    for table in TABLES.values():
        server.add_tool(_table_tool(state, table, stdio), name=table.tool_name, title=table.summary, description=table.description(currency), annotations=READ_ONLY)

    def shop_status(context: Context) -> dict[str, Any]:
        """Today and named periods in the shop's time zone (this_week, last_week,
        week_before_last, this_month, last_month, month_before_last, last_7_days,
        last_30_days), the first and last day with data and its freshness, the currency and
        zone, the values the channel, device and region filters take, and the tables your
        role may read. Call it first to turn "last week" into dates."""
        from shop_analytics.api.app import status_of

        try:
            identity = identity_of(context, stdio)
            return status_of(state.current(), identity)
        except ProblemError as problem:
            raise _tool_error(problem) from None

    def open_alerts(context: Context) -> dict[str, Any]:
        """The open alerts: anomalies (a daily KPI's robust z against its 28 days before,
        |z| > 3.5) and broken rules (fixed thresholds set on the Alerts page), each with
        when it was first and last seen, its value, its reference and a sentence."""
        try:
            require(identity_of(context, stdio), "overview", what="the open alerts")
            frame = alert_table(state.config(), include_resolved=False)
        except ProblemError as problem:
            raise _tool_error(problem) from None
        return {"total": frame.height, "rows": rows_of(frame)}

    server.add_tool(shop_status, annotations=READ_ONLY)
    server.add_tool(open_alerts, annotations=READ_ONLY)
    return server


def http_app(state: ShopState):
    """The MCP server alone over streamable HTTP at /mcp, behind the API's Guard."""
    from shop_analytics.api.app import token_store

    server = build_mcp_server(state)
    app = server.streamable_http_app(streamable_http_path="/mcp", stateless_http=True, json_response=True, host=state.config().api.host)
    return Guard(app, tokens=lambda: token_store(state.config().api.tokens_database_path), requests_per_minute=lambda: state.config().api.requests_per_minute)
