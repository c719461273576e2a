"""Command line (`python cli.py ...` or `shop-analytics ...`): `sample` generates the sample
shop; `export NAME` prints a metric table (kpis, compare, ...) for scripts; `report` writes the
management report; `alerts` checks and lists alerts; `user add` makes a dashboard user.

Every command reads the one configuration (.streamlit/secrets.toml, or `--secrets FILE`, or
$SHOP_ANALYTICS_SECRETS) and opens the configured shop as the dashboard does; `--source`,
`--mapping`, `--preset`, `--tz` and `--lang` override it for one run."""

import argparse
import json
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path

from tqdm import tqdm

from connectors import SAMPLE_SHOP, SourceError
from connectors.mapping import preset_names
from shop_analytics.access.roles import ROLES
from shop_analytics.config import AppConfig, check_time_zone, load_config, secrets_path
from shop_analytics.exports import (
    DOCUMENTS,
    EXPORTS,
    DocumentRequest,
    ExportRequest,
    Option,
    build_export,
    check_options,
    check_period,
    parse_day,
    parse_positive,
)

EXIT_BAD_ARGUMENTS = 2
DOCUMENT_OPTIONS = ("calibration_end", "holdout_end", "horizon_days")


def export_flags() -> dict[str, Option]:
    """One flag per option any export reads (exports.py): the union of the tables' choices,
    and each table's help."""
    flags: dict[str, Option] = {}
    for entry in EXPORTS.values():
        for option in entry.options:
            seen = flags.get(option.name)
            if seen is None:
                flags[option.name] = option
            else:
                choices = seen.choices + tuple(choice for choice in option.choices if choice not in seen.choices)
                helps = seen.help if option.help in seen.help.split("; ") else f"{seen.help}; {option.help}"
                flags[option.name] = Option(option.name, helps, choices if seen.choices and option.choices else (), option.many)
    return flags


EXPORT_OPTIONS = tuple(export_flags())


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on stderr and exit status 2."""

    def error(self, message: str):
        self.exit(EXIT_BAD_ARGUMENTS, f"{self.prog}: error: {message}\n")


def _positive(text: str) -> int:
    try:
        return parse_positive(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _day(text: str) -> date:
    try:
        return parse_day(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _port(text: str) -> int:
    port = _positive(text)
    if port > 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port: use 1 to 65535")
    return port


def _time_zone(text: str) -> str:
    try:
        return check_time_zone(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def build_parser() -> OneLineParser:
    parser = OneLineParser(prog="cli.py", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)

    sample = commands.add_parser("sample", help="generate the sample shop into a SQLite file")
    sample.add_argument("--users", type=_positive, default=50_000)
    sample.add_argument("--events", type=_positive, default=2_000_000)
    sample.add_argument("--seed", type=int, default=7)
    sample.add_argument("--out", type=Path, default=SAMPLE_SHOP)

    alerts = commands.add_parser("alerts", help="check and list anomaly and rule alerts (for cron)")
    alert_commands = alerts.add_subparsers(dest="alerts_command", required=True, parser_class=OneLineParser)
    check = alert_commands.add_parser("check", help="evaluate a day's alerts and notify the targets in [alerts]")
    check.add_argument("--date", dest="day", type=_day, metavar="YYYY-MM-DD", help="the day to check (default: yesterday, or the last day of data)")
    listing = alert_commands.add_parser("list", help="print the open alerts")
    listing.add_argument("--all", dest="include_resolved", action="store_true", help="resolved alerts too")

    export = commands.add_parser("export", help="print a table for scripts")
    described = [*((name, entry.description) for name, entry in EXPORTS.items()), *((name, entry.description) for name, entry in DOCUMENTS.items())]
    export.add_argument("table", choices=[*EXPORTS, *DOCUMENTS], help="; ".join(f"{name}: {description}" for name, description in described))
    export.add_argument("--from", dest="start", type=_day, metavar="YYYY-MM-DD", help="first day of the period (every table but ltv)")
    export.add_argument("--to", dest="end", type=_day, metavar="YYYY-MM-DD", help="last day of the period (every table but ltv)")
    export.add_argument("--format", choices=["csv", "json", "parquet"], default="csv")
    for option in export_flags().values():
        export.add_argument(f"--{option.name.replace('_', '-')}", choices=option.choices or None, help=option.help)
    export.add_argument("--calibration-end", type=_day, metavar="YYYY-MM-DD", help="ltv: the last day the models learn from")
    export.add_argument("--holdout-end", type=_day, metavar="YYYY-MM-DD", help="ltv: the last day of the holdout check (default: the data's last day)")
    export.add_argument("--horizon-days", type=_positive, help="ltv: days of predicted purchases and value (default 365)")

    user = commands.add_parser("user", help="dashboard users: print the [access] lines of a new one")
    user_commands = user.add_subparsers(dest="user_command", required=True, parser_class=OneLineParser)
    add_user = user_commands.add_parser("add", help="ask for a password and add the user to the configuration (.streamlit/secrets.toml, or --secrets)")
    add_user.add_argument("name", help="the user name to sign in with (letters, digits, _ . @ -)")
    add_user.add_argument("--role", required=True, choices=ROLES, help="viewer: dashboards; manager: + reports; analyst: + exploration and user lists; admin: + data sources and alerts")
    add_user.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin (for scripts)")
    add_user.add_argument("--print", dest="print_only", action="store_true", help="print the user's lines instead of writing them into the file")

    token = commands.add_parser("token", help="API tokens for the HTTP API and the MCP server (only their hashes are kept)")
    token_commands = token.add_subparsers(dest="token_command", required=True, parser_class=OneLineParser)
    add_token = token_commands.add_parser("add", help="make a token and print it, once")
    add_token.add_argument("name", help="who or what the token is for (letters, digits, _ . @ -)")
    add_token.add_argument("--role", required=True, choices=ROLES, help="the dashboard's roles: viewer: dashboards; manager: + reports; analyst: + exploration and user lists; admin: + alerts")
    list_tokens = token_commands.add_parser("list", help="print each token's name, role and creation time")
    revoke_token = token_commands.add_parser("revoke", help="delete a token: requests with it get 401")
    revoke_token.add_argument("name")
    api = commands.add_parser("api", help="serve the read-only HTTP API (and the MCP endpoint /mcp) on [api] host and port")
    api.add_argument("--port", type=_port, help="the port (default: [api] port, 8502)")
    mcp = commands.add_parser("mcp", help="serve the MCP server for AI assistants over stdio, or --http")
    mcp.add_argument("--http", action="store_true", help="streamable HTTP at /mcp on [api] host and mcp_port, with API tokens")
    mcp.add_argument("--port", type=_port, help="with --http: the port (default: [api] mcp_port, 8503)")
    mcp.add_argument("--role", choices=ROLES, default="admin", help="over stdio: the role the assistant reads with (default admin, the command line's own reach)")

    refresh = commands.add_parser("refresh", help="refresh the local extract of a database server now: what changed since the last refresh (cron, or after a bulk load)")
    refresh.add_argument("--full", action="store_true", help="read every table whole again (after edits older than refresh_window_days)")

    report = commands.add_parser("report", help="write the weekly or monthly management report")
    report.add_argument("--period", choices=["week", "month"], default="week", help="the week (Monday to Sunday) or calendar month to report")
    report.add_argument("--date", dest="day", type=_day, required=True, metavar="YYYY-MM-DD", help="a day inside the period")
    report.add_argument("--lang", choices=["en", "zh"], help="the report's language (default: [settings] language)")
    report.add_argument("--format", choices=["html", "pdf", "xlsx"], default="html")
    report.add_argument("--out", type=Path, default=Path("."), metavar="DIR", help="folder to write the report into")
    for command in (check, export, report):
        command.add_argument("--source", help="SQLAlchemy URL, SQLite file or folder of tables (default: [connections.shop], else the sample shop)")
        command.add_argument("--mapping", type=Path, metavar="FILE", help="a TOML schema mapping of the source's own tables")
        command.add_argument("--preset", choices=list(preset_names()), help="a platform's layout (instead of --mapping)")
        command.add_argument("--tz", type=_time_zone, help="business time zone (default: [settings] time_zone)")
    serve = commands.add_parser(
        "serve", help="serve the dashboard with the shop loaded before the first visitor (what `make run` starts)",
        description="Streamlit's server on app.py; its other options come from .streamlit/config.toml or STREAMLIT_* variables.",
    )
    serve.add_argument("--port", type=_port, default=8501, help="the dashboard's port (default 8501)")
    serve.add_argument("--headless", action="store_true", help="do not open a browser window")
    schedule = commands.add_parser("schedule", help="send report subscriptions when due and run the daily alerts check ([scheduler]); a service, or --once for cron")
    schedule.add_argument("--once", action="store_true", help="one round (due reports, retries, the daily check), then exit")
    for command in (sample, check, listing, export, user, add_user, report, add_token, list_tokens, revoke_token, api, mcp, schedule, refresh):
        command.add_argument("--secrets", type=Path, metavar="FILE", help="the configuration (default: $SHOP_ANALYTICS_SECRETS, else .streamlit/secrets.toml)")
    return parser


def step_of(bar: tqdm, prefix: str = "") -> Callable[[str], None]:
    """A progress callback that names the step on the bar and advances it."""
    def step(name: str) -> None:
        bar.set_postfix_str(f"{prefix}{name}")
        bar.update()
    return step


def configured(arguments: argparse.Namespace) -> AppConfig:
    """The configuration of `--secrets` (else the default file), with this run's flags in
    place of its values."""
    config = load_config(arguments.secrets)
    if getattr(arguments, "mapping", None) and getattr(arguments, "preset", None):
        raise ValueError("give --mapping or --preset, not both")
    return config.overridden(
        source=getattr(arguments, "source", None),
        mapping=getattr(arguments, "mapping", None),
        preset=getattr(arguments, "preset", None),
        time_zone=getattr(arguments, "tz", None),
        language=getattr(arguments, "lang", None),
    )


def load_with_progress(config: AppConfig, bar: tqdm | None = None, scope=None):
    """The configured shop, opened as the dashboard opens it, with a progress bar on stderr;
    with a `scope` (bounds.Scope), only what that view reads."""
    from shop_analytics.loading import LOAD_ORDER
    from shop_analytics.opening import open_shop

    if bar is not None:
        return open_shop(config, progress=step_of(bar, "loading "), scope=scope)
    with tqdm(total=len(LOAD_ORDER) + 1, desc="Loading", unit="table", file=sys.stderr, leave=False) as own:
        return open_shop(config, progress=lambda _: own.update(), scope=scope)


def generate_sample(users: int, events: int, seed: int, out: Path) -> None:
    """Generate the sample shop and write it to `out`, with a progress bar on stderr."""
    from sample_data.generator import GENERATION_STEPS, generate_shop
    from sample_data.sqlite_store import write_sqlite

    with tqdm(total=len(GENERATION_STEPS), desc="Generating the sample shop", unit="step") as bar:
        tables = generate_shop(users=users, events=events, seed=seed, progress=step_of(bar))
    with tqdm(total=len(tables), desc=f"Writing {out}", unit="table") as bar:
        write_sqlite(tables, out, progress=step_of(bar))


def run_alerts(arguments: argparse.Namespace, config: AppConfig) -> None:
    """`alerts check` or `alerts list` (alerts/commands.py); bad settings raise ValueError."""
    from shop_analytics.alerts.commands import check_command, list_command

    if arguments.alerts_command == "check":
        check_command(config=config, day=arguments.day)
    else:
        list_command(config=config, include_resolved=arguments.include_resolved)


def export_table(name: str, config: AppConfig, request: ExportRequest, output_format: str) -> None:
    """Print the table `name` of the configured shop for the request's period."""
    from shop_analytics.bounds import Scope

    table = build_export(name, load_with_progress(config, scope=Scope(f"export:{name}", request.start, request.end, request.options)), request)
    if output_format == "csv":
        sys.stdout.write(table.write_csv())
    elif output_format == "json":
        sys.stdout.write(table.write_json() + "\n")
    else:
        table.write_parquet(sys.stdout.buffer)


def export_document(name: str, config: AppConfig, request: DocumentRequest) -> None:
    """Print the JSON object `name` (ltv) of the configured shop."""
    from shop_analytics.bounds import Scope

    shop = load_with_progress(config, scope=Scope(f"export:{name}"))
    sys.stdout.write(json.dumps(DOCUMENTS[name].build(shop, request), allow_nan=False) + "\n")


def write_report(config: AppConfig, kind: str, day: date, output_format: str, out: Path) -> Path:
    """Load the configured shop, build the report of the `kind` (week or month) holding `day`
    in the configured language and write it into `out`, with one progress bar on stderr for
    loading, building and rendering."""
    from shop_analytics.bounds import Scope
    from shop_analytics.loading import LOAD_ORDER
    from shop_analytics.reports.content import BUILD_STEPS, build_report, report_period
    from shop_analytics.reports.render import write_report as write_file
    from shop_analytics.targets import stored_targets
    from shop_analytics.views import anomaly_settings

    with tqdm(total=len(LOAD_ORDER) + 1 + len(BUILD_STEPS) + 1, desc="Building the report", unit="step", file=sys.stderr) as bar:
        shop = load_with_progress(config, bar, scope=Scope("reports", *report_period(kind, day), {"kind": kind}))
        report = build_report(shop, kind=kind, day=day, lang=config.settings.language, settings=config.settings,
                              anomaly=anomaly_settings(config), progress=step_of(bar),
                              targets=stored_targets(config.alerts.database_path))
        bar.set_postfix_str(f"writing {output_format}")
        path = write_file(report, output_format, out)
        bar.update()
    return path


def refresh_extract_now(config: AppConfig, *, full: bool) -> None:
    """`refresh [--full]`: refresh the configured extract with a progress bar on stderr and
    print one line per table: its rows and whether it was read whole or by its changes."""
    from connectors.schema import TABLES
    from shop_analytics.opening import refresh_extract

    with tqdm(total=len(TABLES), desc="Refreshing", unit="table", file=sys.stderr, leave=False) as bar:
        manifest = refresh_extract(config, full=full, progress=step_of(bar))
    for name, table in manifest.tables.items():
        how = "whole" if table.replaced_after is None else f"changes after {table.replaced_after:%Y-%m-%d %H:%M} UTC"
        print(f"{name}: {table.rows:,} rows ({how})")
    print(f"generation {manifest.generation} at {manifest.refreshed_at:%Y-%m-%d %H:%M:%S} UTC")


def new_user(name: str, role: str, password_stdin: bool) -> dict[str, str]:
    """A new user's `[access.users.NAME]` keys, the password asked twice on the terminal (or
    read once from stdin) and kept only as its argon2 hash."""
    from getpass import getpass

    from shop_analytics.access.config import USER_NAME
    from shop_analytics.access.passwords import hash_password

    if not USER_NAME.fullmatch(name):
        raise ValueError(f"{name!r} is not a user name: use 1 to 64 letters, digits or _ . @ -")
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass(f"Password for {name}: ")
        if getpass("Again: ") != password:
            raise ValueError("the two passwords differ")
    return {"password_hash": hash_password(password), "role": role}


def user_lines(name: str, user: dict[str, str]) -> str:
    """The user as TOML lines to paste into the configuration."""
    import tomlkit

    document = tomlkit.document()
    document.add("access", tomlkit.table(is_super_table=True))
    document["access"].add("users", tomlkit.table(is_super_table=True))
    document["access"]["users"].add(name, user)
    return tomlkit.dumps(document)


def write_user(path: Path, name: str, user: dict[str, str]) -> None:
    """Add (or replace) `[access.users.NAME]` in the secrets file with tomlkit, keeping every
    other line, comment and section as it was; the file stays readable by its owner only."""
    import tomlkit

    document = tomlkit.parse(path.read_text(encoding="utf-8")) if path.exists() else tomlkit.document()
    access = document.setdefault("access", tomlkit.table())
    users = access.setdefault("users", tomlkit.table(is_super_table=True))
    table = tomlkit.table()
    table.update(user)
    table.add(tomlkit.nl())
    users[name] = table
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(tomlkit.dumps(document), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    arguments = parser.parse_args(argv)
    try:
        if arguments.command == "serve":
            from shop_analytics.ui.serve import serve

            serve(["--server.port", str(arguments.port), *(["--server.headless", "true"] if arguments.headless else [])])
        elif arguments.command == "sample":
            generate_sample(arguments.users, arguments.events, arguments.seed, arguments.out)
        elif arguments.command == "alerts":
            run_alerts(arguments, configured(arguments))
        elif arguments.command == "user":
            user = new_user(arguments.name, arguments.role, arguments.password_stdin)
            if arguments.print_only:
                print(f"# Add to .streamlit/secrets.toml (the password itself is kept nowhere):\n{user_lines(arguments.name, user)}", end="")
            else:
                path = secrets_path(arguments.secrets)
                write_user(path, arguments.name, user)
                print(f"{arguments.name} ({arguments.role}) added to {path}; the password itself is kept nowhere")
        elif arguments.command == "export" and arguments.table in DOCUMENTS:
            if arguments.format != "json":
                parser.error(f"export {arguments.table} prints one JSON object: use --format json")
            options = {name: getattr(arguments, name) for name in DOCUMENT_OPTIONS}
            config = configured(arguments)
            export_document(arguments.table, config, DocumentRequest(config.settings.time_zone, options))
        elif arguments.command == "export":
            if arguments.start is None or arguments.end is None:
                parser.error(f"export {arguments.table} needs --from and --to")
            check_period(arguments.start, arguments.end, ("--from", "--to"))
            options = check_options(arguments.table, {name: getattr(arguments, name) for name in EXPORT_OPTIONS})
            config = configured(arguments)
            request = ExportRequest(arguments.start, arguments.end, config.settings.time_zone, options, config)
            export_table(arguments.table, config, request, arguments.format)
        elif arguments.command == "token":
            from shop_analytics.api.serve import add_token, list_tokens, revoke_token

            config = configured(arguments)
            if arguments.token_command == "add":
                sys.stdout.write(add_token(config, arguments.name, arguments.role))
            else:
                sys.stdout.write(list_tokens(config) if arguments.token_command == "list" else revoke_token(config, arguments.name))
        elif arguments.command == "api":
            from shop_analytics.api.serve import run_api

            run_api(arguments.secrets, configured(arguments), arguments.port)
        elif arguments.command == "mcp":
            from shop_analytics.api.serve import run_mcp

            run_mcp(arguments.secrets, configured(arguments), http=arguments.http, port=arguments.port, role=arguments.role)
        elif arguments.command == "report":
            print(write_report(configured(arguments), arguments.period, arguments.day, arguments.format, arguments.out))
        elif arguments.command == "refresh":
            refresh_extract_now(configured(arguments), full=arguments.full)
        elif arguments.command == "schedule":
            from shop_analytics.scheduler.command import schedule_command

            config = configured(arguments)
            schedule_command(config, once=arguments.once, settings=config.scheduler.runner_settings())
    except (SourceError, ValueError) as error:
        parser.exit(EXIT_BAD_ARGUMENTS, f"{parser.prog}: error: {error}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
