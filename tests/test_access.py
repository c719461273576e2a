"""Access without Streamlit: the role table, password hashes, the [access] settings, the
sign-in limiter, the open mode's "this machine only" and `cli.py user add`."""

import io
import sys
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shop_analytics import cli
from shop_analytics.access import (
    PAGE_ROLES,
    ROLES,
    SignInLimiter,
    access_config,
    hash_password,
    is_local_request,
    may_open,
    may_see_users,
    pages_for,
    sign_in,
    verify_password,
)

ROOT = Path(__file__).resolve().parents[1]
DASHBOARDS = ["overview", "channels", "campaigns", "products", "service", "checkout"]
EXPLORATION = ["funnel", "paths", "cohorts", "segments", "demand", "explore"]


@pytest.fixture(scope="module")
def alice_hash() -> str:
    return hash_password("correct horse")


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def test_each_role_opens_the_pages_of_the_one_before_and_its_own():
    assert pages_for("viewer") == DASHBOARDS
    assert sorted(pages_for("manager")) == sorted([*DASHBOARDS, "reports", "targets"])
    assert sorted(pages_for("analyst")) == sorted([*DASHBOARDS, "reports", "targets", *EXPLORATION])
    assert sorted(pages_for("admin")) == sorted(PAGE_ROLES)
    assert [may_see_users(role) for role in ROLES] == [False, False, True, True]
    assert not may_see_users(None) and not may_see_users("owner")
    assert not may_open("viewer", "data_source") and may_open("admin", "alerts")
    assert not may_open("admin", "a_page_nobody_listed") and not may_open("root", "overview")


def test_every_page_file_has_a_role():
    pages = {path.stem for path in (ROOT / "pages").glob("*.py")}
    assert pages <= set(PAGE_ROLES), f"add to access/roles.py PAGE_ROLES: {sorted(pages - set(PAGE_ROLES))}"


def test_a_password_verifies_against_its_hash_only(alice_hash):
    assert alice_hash.startswith("$argon2id$")
    assert verify_password(alice_hash, "correct horse")
    assert not verify_password(alice_hash, "correct horse ")
    assert not verify_password(None, "correct horse")  # no such user: refused after the same work
    assert not verify_password("$argon2id$broken", "x")
    assert hash_password("correct horse") != alice_hash  # a fresh salt each time


def test_the_access_section_is_read_and_checked(alice_hash):
    config = access_config({
        "idle_minutes": 10,
        "users": {"alice": {"password_hash": alice_hash, "role": "analyst"}},
        "emails": {"Carol@Example.com": "manager"},
    })
    assert config.local_user("alice").role == "analyst" and config.local_user("bob") is None
    assert config.oidc_user("carol@example.COM").role == "manager" and config.oidc_user("dave@example.com") is None
    assert config.idle == timedelta(minutes=10) and config.max_failures == 5 and config.lock == timedelta(minutes=15)
    assert access_config(None) is None
    bad = [
        ({"users": {"alice": {"password_hash": alice_hash, "role": "owner"}}}, "'owner' is not a role"),
        ({"users": {"alice": {"password_hash": "hunter2", "role": "viewer"}}}, "not an argon2 hash: make one with `python cli.py user add"),
        ({"users": {"alice": {"role": "viewer"}}}, "needs exactly password_hash and role"),
        ({"users": {"bad name": {"password_hash": alice_hash, "role": "viewer"}}}, "a user name is 1 to 64"),
        ({"idle_minutes": 30}, "lets nobody in"),
        ({"users": {"alice": {"password_hash": alice_hash, "role": "viewer"}}, "idle_minutes": 0}, "idle_minutes must be a positive number"),
        ({"users": {"alice": {"password_hash": alice_hash, "role": "viewer"}}, "timeout": 5}, "unknown key(s) timeout"),
    ]
    for section, message in bad:
        with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
            access_config(section)


def test_five_wrong_passwords_lock_the_name_for_the_lock_time_even_for_the_right_one(alice_hash):
    config = access_config({"users": {"alice": {"password_hash": alice_hash, "role": "viewer"}}, "lock_minutes": 15})
    clock = Clock()
    limiter = SignInLimiter(lock=config.lock, clock=clock)
    for attempt in range(4):
        result = sign_in(config, limiter, "alice", f"guess {attempt}", "203.0.113.5")
        assert result.user is None and result.locked_until is None
    result = sign_in(config, limiter, "alice", "guess 5", "203.0.113.5")
    assert result.locked_until == clock.now + timedelta(minutes=15)
    clock.now += timedelta(minutes=14)
    assert sign_in(config, limiter, "alice", "correct horse", "198.51.100.7").user is None  # locked from anywhere
    clock.now += timedelta(minutes=1)
    assert sign_in(config, limiter, "alice", "correct horse", "198.51.100.7").user.name == "alice"


def test_a_right_password_forgets_the_failures_before_it(alice_hash):
    config = access_config({"users": {"alice": {"password_hash": alice_hash, "role": "viewer"}}})
    limiter = SignInLimiter(lock=config.lock, clock=Clock())
    for _ in range(4):
        sign_in(config, limiter, "alice", "wrong", "203.0.113.5")
    assert sign_in(config, limiter, "alice", "correct horse", "203.0.113.5").user is not None
    for _ in range(4):
        assert sign_in(config, limiter, "alice", "wrong", "203.0.113.5").locked_until is None


def test_one_client_guessing_many_names_is_locked_after_client_max_failures(alice_hash):
    config = access_config({"users": {"alice": {"password_hash": alice_hash, "role": "viewer"}}, "client_max_failures": 6})
    clock = Clock()
    limiter = SignInLimiter(lock=config.lock, clock=clock)
    for number in range(5):
        assert sign_in(config, limiter, f"user{number}", "x", "203.0.113.5").locked_until is None
    assert sign_in(config, limiter, "user5", "x", "203.0.113.5").locked_until == clock.now + config.lock
    assert sign_in(config, limiter, "alice", "correct horse", "203.0.113.5").user is None
    assert sign_in(config, limiter, "alice", "correct horse", "198.51.100.7").user is not None  # another client


def test_failures_older_than_the_lock_time_are_forgotten():
    clock = Clock()
    limiter = SignInLimiter(lock=timedelta(minutes=15), clock=clock)
    for _ in range(4):
        limiter.admit({"name:alice": 5})
        clock.now += timedelta(minutes=5)
    # failures at 0, 5, 10, 15 min: at 20 min the first two are older than 15 min
    assert limiter.admit({"name:alice": 5}).locked == ()
    assert limiter.locked_until("name:alice") is None
    assert len(limiter._failures["name:alice"]) == 3
    clock.now += timedelta(hours=1)
    assert limiter.locked_until("name:alice") is None and not limiter._failures


@pytest.mark.parametrize(
    ("remote_ip", "headers", "local"),
    [
        ("127.0.0.1", {"Host": "localhost:8501"}, True),
        ("::1", {"Host": "[::1]:8501"}, True),
        ("127.0.0.1", {"Host": "127.0.0.1:8501"}, True),
        ("::ffff:127.0.0.1", {"Host": "127.0.0.1:8501"}, True),  # an IPv4 client of a dual-stack server
        ("::ffff:192.168.1.20", {"Host": "localhost:8501"}, False),
        ("192.168.1.20", {"Host": "localhost:8501"}, False),  # another machine
        ("203.0.113.5", {"Host": "dash.example.com"}, False),
        ("127.0.0.1", {"Host": "dash.example.com"}, False),  # a name of someone else's pointing here
        ("127.0.0.1", {"Host": "localhost", "X-Forwarded-For": "203.0.113.5"}, False),  # a proxy on this machine
        ("127.0.0.1", {"Host": "localhost", "Forwarded": "for=203.0.113.5"}, False),
        ("127.0.0.1", {}, False),
        (None, {"Host": "localhost"}, False),
        ("", {"Host": "localhost"}, False),
    ],
)
def test_only_a_direct_request_from_this_machine_is_local(remote_ip, headers, local):
    assert is_local_request(remote_ip, headers) is local


def test_cli_user_add_prints_lines_that_sign_the_user_in(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO("tr0ub4dor & 3\n"))
    assert cli.main(["user", "add", "alice", "--role", "manager", "--password-stdin", "--print"]) == 0
    printed = capsys.readouterr().out
    assert "tr0ub4dor" not in printed
    config = access_config(tomllib.loads(printed)["access"])
    assert config.local_user("alice").role == "manager"
    assert verify_password(config.password_hashes["alice"], "tr0ub4dor & 3")


SECRETS_WITH_COMMENTS = """# deployment secrets: keep this comment
api_key_of_something = "root-level"   # a root-level key before any table

[connections.shop]
folder = "/srv/shop"  # where the shop is

# who may sign in
[access]
idle_minutes = 10

[access.users."bob"]
password_hash = 'kept-as-it-was'
role = "viewer"

[alerts]
# the alert database
database = ".alerts/alerts.db"
"""


def test_cli_user_add_writes_the_user_and_keeps_every_other_byte(monkeypatch, capsys, tmp_path):
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(SECRETS_WITH_COMMENTS)
    monkeypatch.setattr(sys, "stdin", io.StringIO("tr0ub4dor & 3\n"))
    assert cli.main(["user", "add", "alice", "--role", "analyst", "--password-stdin", "--secrets", str(secrets)]) == 0
    assert capsys.readouterr().out == f"alice (analyst) added to {secrets}; the password itself is kept nowhere\n"
    written = secrets.read_text()
    assert written.startswith(SECRETS_WITH_COMMENTS[: SECRETS_WITH_COMMENTS.index("[alerts]")])
    assert "# the alert database\ndatabase = \".alerts/alerts.db\"" in written
    assert secrets.stat().st_mode & 0o777 == 0o600
    config = access_config(tomllib.loads(written)["access"] | {"users": {"alice": tomllib.loads(written)["access"]["users"]["alice"]}})
    assert verify_password(config.password_hashes["alice"], "tr0ub4dor & 3") and config.local_user("alice").role == "analyst"
    assert tomllib.loads(written)["access"]["users"]["bob"] == {"password_hash": "kept-as-it-was", "role": "viewer"}


def test_cli_user_add_asks_twice_and_refuses_a_mismatch_or_a_bad_name(monkeypatch, capsys):
    answers = iter(["first", "second"])
    monkeypatch.setattr("getpass.getpass", lambda prompt: next(answers))
    with pytest.raises(SystemExit) as stopped:
        cli.main(["user", "add", "alice", "--role", "viewer"])
    assert stopped.value.code == 2 and "the two passwords differ" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["user", "add", "alice", "--role", "owner"])
    assert "invalid choice: 'owner'" in capsys.readouterr().err


def test_the_example_settings_file_shows_a_valid_access_section():
    example = (ROOT / ".streamlit" / "secrets.toml.example").read_text()
    part = example[example.index("# [access]\n"):example.index("# [auth]\n")]
    settings = [line[2:] for line in part.splitlines() if line.startswith("# ") and ("=" in line or line.startswith("# ["))]
    uncommented = "\n".join(settings)
    config = access_config(tomllib.loads(uncommented)["access"])
    assert config.local_user("alice").role == "analyst" and config.oidc_user("carol@example.com").role == "manager"
    assert (config.idle_minutes, config.max_failures, config.client_max_failures, config.lock_minutes) == (30, 5, 20, 15)
