"""No secret leaks through an error (issue 23, item 2): every notifier (generic, WeCom,
DingTalk, Slack and Feishu webhooks, e-mail) is fed a receiver that echoes what it was sent
(an HTTP server on loopback answering with an HTML page that quotes the whole URL, an SMTP
server quoting the login in its refusal), and the webhook keys, signing secrets and the SMTP
password are looked for everywhere the failure is told: the Alerts page, the log, the alert
database file, the history CSV and the command line's stderr."""

import logging
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from alert_servers import HookServer, SmtpSink
from streamlit.testing.v1 import AppTest

from connectors.sql import sqlite_url
from shop_analytics.alerts.check import run_check
from shop_analytics.alerts.config import alert_config
from shop_analytics.alerts.notify import redact, url_secrets
from shop_analytics.alerts.rules import AlertRule
from shop_analytics.alerts.store import AlertStore
from shop_analytics.config import Settings

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
DAY = date(2026, 11, 20)
KEYS = {
    "generic": "GENERIC-k3y-0123456789",
    "wecom": "WECOM-k3y-0123456789",
    "dingtalk": "DINGTALK-t0ken-0123456789",
    "slack": "SLACKSECRETk3y0123456789",
    "feishu": "feishu-hook-0b1c2d3e-4f5a-6b7c-8d9e",
}
SIGNING = {"dingtalk": "SEC-dingtalk-signing-0123", "feishu": "feishu-signing-secret-0123"}
PASSWORD = "smtp-pa55word-0123456789"
SECRETS = (*KEYS.values(), *SIGNING.values(), PASSWORD)


def _urls(echo_ok: HookServer, echo_error: HookServer) -> dict[str, str]:
    """Each kind's webhook URL, its key where that service puts it: WeCom and DingTalk in the
    query, Slack and Feishu in the path; the generic one in the query too."""
    return {
        "generic": f"{echo_error.url}/hook?token={KEYS['generic']}",
        "wecom": f"{echo_ok.url}/cgi-bin/webhook/send?key={KEYS['wecom']}",
        "dingtalk": f"{echo_ok.url}/robot/send?access_token={KEYS['dingtalk']}",
        "slack": f"{echo_error.url}/services/T0001/B0002/{KEYS['slack']}",
        "feishu": f"{echo_ok.url}/open-apis/bot/v2/hook/{KEYS['feishu']}",
    }


def _alerts_section(database: Path, urls: dict[str, str], smtp_port: int) -> dict:
    webhooks = [{"name": f"{kind}-robot", "kind": kind, "url": url, **({"secret": SIGNING[kind]} if kind in SIGNING else {})}
                for kind, url in urls.items()]
    return {
        "database": str(database), "send_attempts": 2, "retry_seconds": 0, "timeout_seconds": 5,
        "webhooks": webhooks,
        "smtp": {"host": "127.0.0.1", "port": smtp_port, "tls": "none", "user": "alerts", "password": PASSWORD,
                 "from": "alerts@shop.example", "to": ["ops@shop.example"]},
    }


def _leaks(words: str) -> list[str]:
    return [secret for secret in SECRETS if secret in words]


def test_redact_covers_the_forms_an_echo_takes():
    url = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=ab-12&x=y"
    page = "<p>POST https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=ab-12&amp;x=y failed; key%3Dab-12</p>"
    assert "ab-12" not in redact(page, url_secrets(url))
    slack = "https://hooks.slack.com/services/T0001AB/B0002CD/abcdefghijklmnopqrstuvwx"
    assert redact("bad hook abcdefghijklmnopqrstuvwx", url_secrets(slack)) == "bad hook ***"
    assert "services" in redact(slack, url_secrets(slack)[1:])  # short plain words are kept


@pytest.fixture(scope="module")
def echoed(small_shop, small_shop_db, tmp_path_factory):
    """A check of the small shop whose every send met an echoing receiver (a rule that holds
    every day makes one alert to send), once in the process (its log kept) and once by the
    command line (its stderr kept)."""
    folder = tmp_path_factory.mktemp("echo")
    echo_ok, echo_error = HookServer(echo=True).start(), HookServer(echo=True, statuses=[502] * 50).start()
    urls = _urls(echo_ok, echo_error)
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record)

    keeper = Keep(level=logging.DEBUG)
    root = logging.getLogger()
    previous = root.level
    root.addHandler(keeper)
    root.setLevel(logging.DEBUG)
    try:
        with SmtpSink(echo_login=True) as sink:
            section = _alerts_section(folder / "alerts.db", urls, sink.port)
            store = AlertStore(section["database"])
            store.add_rule(AlertRule("gmv", ">=", 0))
            result = run_check(small_shop, store, alert_config(section, Settings(), environ={}), Settings(), day=DAY)
            # The command line, with its own alert database and the same receivers.
            cli_section = {**section, "database": str(folder / "cli.db")}
            AlertStore(cli_section["database"]).add_rule(AlertRule("gmv", ">=", 0))
            secrets_file = folder / "secrets.toml"
            secrets_file.write_text(_toml({"connections": {"shop": {"url": sqlite_url(small_shop_db)}}, "alerts": cli_section}))
            cli = subprocess.run([sys.executable, "cli.py", "alerts", "check", "--secrets", str(secrets_file), "--date", str(DAY)],
                                 cwd=ROOT, capture_output=True, timeout=300, check=False)
    finally:
        root.removeHandler(keeper)
        root.setLevel(previous)
        echo_ok.stop()
        echo_error.stop()
    return {"result": result, "records": records, "section": section, "cli": cli, "cli_section": cli_section,
            "posts": echo_ok.posts + echo_error.posts, "logins": sink.logins}


def _toml(values: dict) -> str:
    """A small TOML writer for the test's secrets file (tables, strings, numbers, lists)."""
    lines: list[str] = []

    def value(item) -> str:
        if isinstance(item, str):
            return '"' + item.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(item, list):
            return "[" + ", ".join(value(part) for part in item) + "]"
        return str(item)

    def table(name: str, items: dict) -> None:
        plain = {key: item for key, item in items.items() if not isinstance(item, dict) and not (isinstance(item, list) and item and isinstance(item[0], dict))}
        lines.append(f"[{name}]")
        lines.extend(f"{key} = {value(item)}" for key, item in plain.items())
        for key, item in items.items():
            if isinstance(item, dict):
                table(f"{name}.{key}", item)
            elif isinstance(item, list) and item and isinstance(item[0], dict):
                for entry in item:
                    lines.append(f"[[{name}.{key}]]")
                    lines.extend(f"{field} = {value(part)}" for field, part in entry.items())

    for name, items in values.items():
        table(name, items)
    return "\n".join(lines) + "\n"


def test_every_notifier_met_the_echo_and_failed(echoed):
    """The receivers did echo the keys back: what follows is tested against real echoes."""
    result = echoed["result"]
    assert {send.target for send in result.sends} == {"email", *(f"{kind}-robot" for kind in KEYS)}
    assert not any(send.delivery.delivered for send in result.sends)
    assert any(login[1] == PASSWORD for login in echoed["logins"])
    errors = {send.target: send.delivery.error for send in result.sends}
    assert errors["wecom-robot"].startswith("wecom answered something that is not JSON: '<html>")
    assert "***" in errors["wecom-robot"] and "***" in errors["feishu-robot"]
    assert errors["email"].startswith("SMTP 535")
    for send in result.sends:
        assert not _leaks(send.delivery.error), send.target


def test_no_secret_in_the_database_file_or_the_history_csv(echoed):
    store = AlertStore(echoed["section"]["database"])
    csv = store.sends().write_csv()
    assert "not JSON" in csv and not _leaks(csv)
    for database in (echoed["section"]["database"], echoed["cli_section"]["database"]):
        raw = Path(database).read_bytes().decode("utf-8", errors="replace")
        assert not _leaks(raw), database


def test_no_secret_in_the_log(echoed):
    # Every logger of the process but the receiving SMTP server's own (aiosmtpd's mail.log,
    # the far side, which logs what it receives).
    logged = "\n".join(f"{record.name} {record.getMessage()} {record.exc_text or ''}" for record in echoed["records"]
                       if not record.name.startswith("mail.log"))
    assert not _leaks(logged)


def test_no_secret_on_the_command_lines_stderr(echoed):
    cli = echoed["cli"]
    stderr, stdout = cli.stderr.decode(), cli.stdout.decode()
    assert cli.returncode == 0, stderr
    assert "failed: wecom-robot" in stderr and "not JSON" in stderr and "failed: email" in stderr
    assert not _leaks(stderr) and not _leaks(stdout)


def test_no_secret_on_the_alerts_page(echoed, small_shop_db):
    at = AppTest.from_file(APP, default_timeout=120)
    at.secrets["connections"] = {"shop": {"url": sqlite_url(small_shop_db)}}
    at.secrets["alerts"] = echoed["section"]
    at.run()
    at.switch_page("pages/alerts.py").run()
    assert not at.exception
    shown = [element.value for kind in ("markdown", "caption", "error", "warning", "info", "success") for element in at.get(kind)]
    tables = [element.value.to_csv() for element in at.dataframe]
    page = "\n".join(str(words) for words in [*shown, *tables])
    assert "not JSON" in page  # the history shows the failures
    assert not _leaks(page)
