"""The MCP server, as an assistant meets it: the SDK's client spawns `python cli.py mcp` and talks
over stdio, lists the tools (each described by its metric's definition and units) and calls
the KPI and funnel tools, whose rows equal `cli.py export`'s; over streamable HTTP (/mcp of the
served API) the API tokens' roles hold, and a request without one gets 401."""

import asyncio
import json
import sys
from datetime import date
from pathlib import Path

import httpx
import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from test_api import START, approx_rows, cli, new_token, serve_app, write_secrets

from metrics.kpis import daily_kpis
from shop_analytics.api.app import calendar, create_app
from shop_analytics.api.catalog import TABLES

ROOT = Path(__file__).resolve().parents[1]
END = "2026-10-31"


@pytest.fixture(scope="module")
def secrets(small_shop_db, tmp_path_factory) -> Path:
    return write_secrets(tmp_path_factory.mktemp("mcp"), f"sqlite:///{small_shop_db}", api="requests_per_minute = 100000")


def export_rows(secrets: Path, name: str, *flags: str) -> list[dict]:
    return json.loads(cli("export", name, "--from", START, "--to", END, *flags, "--format", "json", "--secrets", str(secrets)))


def test_an_assistant_over_stdio_lists_the_tools_and_reads_the_kpis_and_the_funnel(secrets):
    async def session():
        server = StdioServerParameters(command=sys.executable, args=["cli.py", "mcp", "--secrets", str(secrets)], cwd=str(ROOT))
        async with Client(server, read_timeout_seconds=120) as client:
            tools = {tool.name: tool for tool in (await client.list_tools()).tools}
            kpis = await client.call_tool("kpis", {"start": START, "end": END, "channel": ["email", "social"]})
            funnel = await client.call_tool("funnel", {"start": START, "end": END, "steps": "product_view,add_to_cart,purchase", "mode": "strict"})
            refused = await client.call_tool("funnel", {"start": START, "end": END, "window": "0d"})
            status = await client.call_tool("shop_status", {})
            return tools, kpis, funnel, refused, status

    tools, kpis, funnel, refused, status = asyncio.run(session())
    assert set(tools) == {table.tool_name for table in TABLES.values()} | {"shop_status", "open_alerts"}
    assert all(tool.annotations.read_only_hint for tool in tools.values())
    assert tools["kpis"].input_schema["required"] == ["start", "end"]
    mode = tools["funnel"].input_schema["properties"]["mode"]
    assert [choice.get("enum") for choice in mode["anyOf"]] == [["ordered", "strict", "unordered"], None]
    definition = daily_kpis.__doc__.split("\n\n")[1].split("\n")[0].strip()
    assert definition in tools["kpis"].description and "gmv: money (¥); sum of the amount of valid orders" in tools["kpis"].description

    assert not kpis.is_error and kpis.structured_content["total"] == 31
    assert kpis.structured_content["rows"] == approx_rows(export_rows(secrets, "kpis", "--channel", "email,social"))
    assert not funnel.is_error
    assert funnel.structured_content["rows"] == approx_rows(export_rows(secrets, "funnel", "--steps", "product_view,add_to_cart,purchase", "--mode", "strict"))
    assert refused.is_error and "window" in refused.content[0].text and "is not a window" in refused.content[0].text
    assert status.structured_content["you"]["role"] == "admin" and status.structured_content["data"]["last_day"] == "2026-11-22"


def test_over_http_the_tokens_roles_hold(secrets):
    viewer, analyst = new_token(secrets, "assistant-viewer", "viewer"), new_token(secrets, "assistant-analyst", "analyst")

    async def call(url: str, token: str, tool: str, arguments: dict):
        async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=120) as http:
            async with Client(streamable_http_client(f"{url}/mcp", http_client=http)) as client:
                return await client.call_tool(tool, arguments)

    with serve_app(create_app(secrets)) as url:
        period = {"start": START, "end": END}
        refused = asyncio.run(call(url, viewer, "funnel_drop_offs", period))
        assert refused.is_error and "analyst" in refused.content[0].text
        drop_offs = asyncio.run(call(url, analyst, "funnel_drop_offs", period | {"limit": 1000}))
        assert not drop_offs.is_error and drop_offs.structured_content["rows"] == export_rows(secrets, "funnel-drop-offs")[:1000]
        payments = asyncio.run(call(url, viewer, "payments", period))
        assert payments.structured_content["rows"] == approx_rows(export_rows(secrets, "payments"))
        anonymous = httpx.post(f"{url}/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, headers={"Accept": "application/json, text/event-stream"})
        assert anonymous.status_code == 401 and anonymous.headers["content-type"] == "application/problem+json"


def test_the_calendar_names_the_weeks_and_months_an_assistant_is_asked_about():
    named = calendar(date(2026, 11, 18))  # a Wednesday
    assert named["last_week"] == {"from": "2026-11-09", "to": "2026-11-15"}
    assert named["week_before_last"] == {"from": "2026-11-02", "to": "2026-11-08"}
    assert named["this_week"] == {"from": "2026-11-16", "to": "2026-11-18"}
    assert named["last_month"] == {"from": "2026-10-01", "to": "2026-10-31"}
    assert named["month_before_last"] == {"from": "2026-09-01", "to": "2026-09-30"}
    assert named["last_7_days"] == {"from": "2026-11-11", "to": "2026-11-17"}


def test_cli_mcp_http_serves_the_tools_alone_with_tokens(secrets):
    import subprocess
    import time

    from test_api import free_port

    token = new_token(secrets, "assistant-http", "manager")
    port = free_port()
    server = subprocess.Popen([sys.executable, "cli.py", "mcp", "--http", "--port", str(port), "--secrets", str(secrets)],
                              cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    async def call():
        async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=120) as http:
            async with Client(streamable_http_client(f"http://127.0.0.1:{port}/mcp", http_client=http)) as client:
                return await client.call_tool("coupons", {"start": START, "end": END}), await client.call_tool("paths", {"start": START, "end": END})

    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                refused = httpx.post(f"http://127.0.0.1:{port}/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
                break
            except httpx.TransportError:
                assert server.poll() is None and time.monotonic() < deadline, "cli.py mcp --http did not start"
                time.sleep(0.2)
        assert refused.status_code == 401
        coupons, paths = asyncio.run(call())
        assert coupons.structured_content["rows"] == approx_rows(export_rows(secrets, "coupons"))
        assert paths.is_error and "analyst" in paths.content[0].text  # the Paths page is an analyst's
    finally:
        server.terminate()
        _, log = server.communicate(timeout=30)
    assert "assistant-http(manager) POST /mcp" in log and token not in log
