"""Issue 23, item 10 (files and the alerts CLI): extracts and alerts.db were readable by every
user of the machine (0644), and `alerts list` refused to run without the SMTP password's
environment variable. Now an extract's folder is 0700 and each file in it 0600 under the
usual umask 022 (also a folder an earlier version left open), alerts.db is 0600, and
`alerts list` needs none of the notification targets' secrets."""

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from connectors import open_source
from connectors.extracts import MANIFEST, ExtractSource

ROOT = Path(__file__).resolve().parents[1]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def usual_umask():
    """The umask most machines run services with, which left the files 0644."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_an_extract_is_its_owners_only(small_shop_db, tmp_path, usual_umask):
    folder = tmp_path / "extracts" / "shop"
    extract = ExtractSource(lambda: open_source(small_shop_db), folder=folder)
    manifest = extract.refresh()
    files = sorted(path.name for path in folder.iterdir())
    assert MANIFEST in files and ".lock" in files
    assert {file for table in manifest.tables.values() for file in table.files} <= set(files)
    assert mode(folder) == 0o700
    assert {name: mode(folder / name) for name in files} == {name: 0o600 for name in files}
    # a second generation (the rename of new files over old names) keeps the modes
    extract.refresh(full=True)
    assert {path.name: mode(path) for path in folder.iterdir()} == {path.name: 0o600 for path in folder.iterdir()}


def test_an_extract_folder_left_open_by_an_earlier_version_is_closed(small_shop_db, tmp_path, usual_umask):
    folder = tmp_path / "shop"
    extract = ExtractSource(lambda: open_source(small_shop_db), folder=folder)
    extract.refresh()
    folder.chmod(0o755)  # as the version before this one left it
    for path in folder.iterdir():
        path.chmod(0o644)
    extract.refresh(full=True)
    assert mode(folder) == 0o700
    assert {path.name: mode(path) for path in folder.iterdir()} == {path.name: 0o600 for path in folder.iterdir()}


def run_alerts(*arguments: str, environ: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "cli.py", "alerts", *arguments], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=300, check=False,
    )


def test_alerts_list_runs_without_the_smtp_password_variable_and_alerts_db_is_0600(tmp_path, small_shop_db):
    database = tmp_path / "alerts" / "alerts.db"
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(
        f'[alerts]\ndatabase = "{database}"\n\n'
        '[alerts.smtp]\nhost = "smtp.example.com"\nuser = "alerts@example.com"\n'
        'password_env = "ALERTS_SMTP_PASSWORD_NOT_SET"\nfrom = "alerts@example.com"\nto = ["ops@example.com"]\n'
    )
    environ = {name: value for name, value in os.environ.items() if name != "ALERTS_SMTP_PASSWORD_NOT_SET"} | {"HOME": str(tmp_path)}
    listed = subprocess.run(
        ["sh", "-c", f"umask 022 && exec {sys.executable} cli.py alerts list --secrets {secrets}"],
        cwd=ROOT, env=environ, capture_output=True, text=True, timeout=300, check=False,
    )
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout == "no open alerts\n" and listed.stderr == ""
    assert mode(database) == 0o600
    # sending does need the password: `alerts check` says which variable is missing, in one line
    checked = run_alerts("check", "--source", str(small_shop_db), "--secrets", str(secrets), environ=environ)
    assert checked.returncode == 2 and len(checked.stderr.splitlines()) == 1
    assert "ALERTS_SMTP_PASSWORD_NOT_SET" in checked.stderr
