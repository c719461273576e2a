"""The numbers for other programs: a read-only HTTP API (FastAPI, app.py) and an MCP server for
AI assistants (mcp_server.py) over the configured shop, with the CLI's tables and parameters
(exports.py), the dashboard's roles through API tokens (tokens.py, guard.py) and RFC 9457
problem details for every error (problems.py). `python cli.py api`, `python cli.py mcp
[--http]` and `python cli.py token add|list|revoke` serve and manage them (serve.py)."""
