"""Access in the app (AppTest): without [access] it is open on this machine only; with it
nothing shows before signing in, each role's navigation holds its pages, a page outside the
role is refused on the server however it is reached, user lists download for analysts and
admins only, failed sign-ins lock, idle sessions sign out, identity-provider users get the
role of their e-mail."""

import ast
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from connectors.sql import sqlite_url
from shop_analytics.access import PAGE_ROLES, ROLES, hash_password, may_open
from shop_analytics.i18n import text
from shop_analytics.ui import access as ui_access

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
PASSWORDS = {role: f"{role}-Pa55word" for role in ROLES}
# A page each role may open beyond the overview, rendered after signing in.
ONE_OF_ITS_OWN = {"viewer": "channels", "manager": "reports", "analyst": "funnel", "admin": "data_source"}


def navigation_pages() -> list[str]:
    """The pages app.py's SECTIONS puts in the navigation (read from its source)."""
    tree = ast.parse(Path(APP).read_text())
    sections = next(
        node.value for node in tree.body
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "SECTIONS"
    )
    return [name for name, _ in (item for pages in ast.literal_eval(sections).values() for item in pages)]


@pytest.fixture(scope="module")
def users() -> dict:
    return {role: {"password_hash": hash_password(PASSWORDS[role]), "role": role} for role in ROLES}


@pytest.fixture(autouse=True)
def fresh_limiter():
    """Each test starts with no failed sign-ins counted (the limiter is the server's)."""
    ui_access._limiter.clear()
    yield
    ui_access._limiter.clear()


def new_app(small_shop_db, access: dict | None, script: str = APP) -> AppTest:
    at = AppTest.from_file(script, default_timeout=120)
    at.secrets["connections"] = {"shop": {"url": sqlite_url(small_shop_db)}}
    if access is not None:
        at.secrets["access"] = access
    return at


def typed_url(small_shop_db, access: dict, page: str) -> AppTest:
    """The page's file run as the main script, as Streamlit runs it for a URL typed on a fresh
    server (through runpy, so that pages/ does not shadow the project's packages on sys.path
    as it would under AppTest.from_file)."""
    at = AppTest.from_string(f"import runpy\nrunpy.run_path({str(ROOT / 'pages' / f'{page}.py')!r}, run_name='__main__')", default_timeout=120)
    at.secrets["connections"] = {"shop": {"url": sqlite_url(small_shop_db)}}
    at.secrets["access"] = access
    return at


def submit(at: AppTest, name: str, password: str) -> AppTest:
    at.text_input[0].input(name)
    at.text_input[1].input(password)
    return at.button[0].click().run()


def signed_in(small_shop_db, users, role) -> AppTest:
    at = new_app(small_shop_db, {"users": users}).run()
    submit(at, role, PASSWORDS[role])
    assert not at.exception and [title.value for title in at.title] == ["Overview"], [e.value for e in at.error]
    return at


def test_without_access_the_app_is_open_on_this_machine_and_says_so(small_shop_db):
    at = new_app(small_shop_db, None).run()
    assert not at.exception and not at.error
    assert text("access.open", "en") in [caption.value for caption in at.sidebar.caption]
    at.switch_page("pages/data_source.py").run()
    assert not at.exception and at.title[0].value == "Data sources"


@pytest.mark.parametrize(
    "seen",
    [("203.0.113.5", {"Host": "dash.example.com"}), ("127.0.0.1", {"Host": "localhost:8501", "X-Forwarded-For": "203.0.113.5"})],
    ids=["another machine", "through a proxy on this machine"],
)
def test_without_access_a_browser_elsewhere_is_refused_and_told_how_to_configure(small_shop_db, monkeypatch, seen):
    monkeypatch.setattr(ui_access, "connection", lambda: seen)
    at = new_app(small_shop_db, None).run()
    assert not at.exception
    assert [error.value for error in at.error] == [text("access.remote_refused", "en")]
    assert "python cli.py user add NAME --role ROLE" in at.info[0].value
    assert not at.title and not at.metric and not at.dataframe


def test_with_access_nothing_shows_before_signing_in_and_a_wrong_password_is_refused(small_shop_db, users):
    at = new_app(small_shop_db, {"users": users}).run()
    assert [title.value for title in at.title] == ["Sign in"]
    assert not at.metric and not at.dataframe
    submit(at, "admin", "admin-pa55word")
    assert [error.value for error in at.error] == ["Wrong user name or password."]
    submit(at, "nobody", "admin-Pa55word")
    assert [error.value for error in at.error] == ["Wrong user name or password."]
    assert not at.metric
    submit(at, "admin", PASSWORDS["admin"])
    assert [title.value for title in at.title] == ["Overview"] and at.metric
    assert "Signed in as admin (admin)." in [caption.value for caption in at.sidebar.caption]


@pytest.mark.parametrize("role", ROLES)
def test_each_role_gets_its_pages_and_every_other_page_is_refused_on_the_server(small_shop_db, users, role):
    at = signed_in(small_shop_db, users, role)
    own = ONE_OF_ITS_OWN[role]
    at.switch_page(f"pages/{own}.py").run()
    assert not at.exception and at.title[0].value == text(f"nav.{own}", "en") and not at.error
    # Every other page stays at its URL (hidden from the menus) and says why it does not open.
    for page in (page for page in navigation_pages() if not may_open(role, page)):
        at.switch_page(f"pages/{page}.py").run()
        assert not at.exception, page
        assert [error.value for error in at.error] == [text("access.page_refused", "en", page=text(f"nav.{page}", "en"))], page
        assert not at.title and not at.dataframe and not at.metric and not at.get("download_button"), page
    # A page's URL typed by hand runs its file (Streamlit's first request on a fresh server):
    # the page itself refuses, before showing anything.
    for page in (page for page in PAGE_ROLES if (ROOT / "pages" / f"{page}.py").exists() and not may_open(role, page)):
        direct = typed_url(small_shop_db, {"users": users}, page)
        direct.session_state[ui_access.USER_KEY] = {"name": role, "via": "password"}
        direct.run()
        assert not direct.exception, page
        assert [error.value for error in direct.error] == [text("access.page_refused", "en", page=text(f"nav.{page}", "en"))], page
        assert not direct.dataframe and not direct.metric and not direct.get("download_button"), page


EXPORT_SCRIPT = """
import polars as pl
from shop_analytics.ui.tables import download_buttons
download_buttons(pl.DataFrame({"user_id": [7, 9]}), "audience", user_level=True)
download_buttons(pl.DataFrame({"channel": ["ads"], "gmv": [10.0]}), "totals")
"""


@pytest.mark.parametrize("role", ROLES)
def test_user_lists_download_for_analysts_and_admins_only(users, role, tmp_path):
    script = tmp_path / "exports.py"
    script.write_text(f"import sys\nsys.path.insert(0, {str(ROOT)!r})\n{EXPORT_SCRIPT}")
    at = AppTest.from_file(str(script), default_timeout=60)
    at.secrets["access"] = {"users": users}
    at.session_state[ui_access.USER_KEY] = {"name": role, "via": "password"}
    at.run()
    keys = sorted(button.key for button in at.get("download_button"))
    if role in ("analyst", "admin"):
        assert keys == ["csv_audience", "csv_totals", "xlsx_audience", "xlsx_totals"]
    else:
        assert keys == ["csv_totals", "xlsx_totals"]
        assert text("access.user_rows_refused", "en") in [caption.value for caption in at.caption]


def test_an_analyst_downloads_who_dropped_off_a_funnel_step(small_shop_db, users):
    at = signed_in(small_shop_db, users, "analyst")
    at.switch_page("pages/funnel.py").run()
    at.session_state["funnel_chart"] = {"selection": {"points": [{"customdata": 2}], "point_indices": [1], "box": [], "lasso": []}}
    at.run()
    assert not at.exception
    keys = [button.key for button in at.get("download_button")]
    assert any(key.startswith("csv_funnel_drop_offs_step_2_") for key in keys)
    assert any(key.startswith("xlsx_funnel_drop_offs_step_2_") for key in keys)


def test_a_session_idle_past_idle_minutes_is_signed_out(small_shop_db, users):
    at = new_app(small_shop_db, {"users": users, "idle_minutes": 20}).run()
    submit(at, "viewer", PASSWORDS["viewer"])
    at.session_state[ui_access.SEEN_KEY] = time.monotonic() - 19 * 60
    at.run()
    assert [title.value for title in at.title] == ["Overview"]
    at.session_state[ui_access.SEEN_KEY] = time.monotonic() - 21 * 60
    at.run()
    assert [title.value for title in at.title] == ["Sign in"] and not at.metric
    assert [info.value for info in at.info] == ["You were signed out after 20 min without activity. Sign in again."]


def test_a_user_removed_from_access_is_signed_out_at_the_next_click(small_shop_db, users):
    at = signed_in(small_shop_db, users, "manager")
    at.secrets["access"] = {"users": {role: user for role, user in users.items() if role != "manager"}}
    at.run()
    assert [title.value for title in at.title] == ["Sign in"] and not at.metric


def test_five_wrong_passwords_lock_the_name_in_every_session(small_shop_db, users):
    first = new_app(small_shop_db, {"users": users, "lock_minutes": 10}).run()
    for attempt in range(4):
        submit(first, "analyst", f"guess-{attempt}")
        assert [error.value for error in first.error] == ["Wrong user name or password."]
    submit(first, "analyst", "guess-5")
    assert [error.value for error in first.error] == ["Too many failed sign-ins: try again in 10 min."]
    second = new_app(small_shop_db, {"users": users, "lock_minutes": 10}).run()
    submit(second, "analyst", PASSWORDS["analyst"])
    assert [error.value for error in second.error] == ["Too many failed sign-ins: try again in 10 min."]
    assert not second.metric
    submit(second, "viewer", PASSWORDS["viewer"])
    assert [title.value for title in second.title] == ["Overview"]


def test_an_identity_provider_user_gets_the_role_of_their_email(small_shop_db, users):
    emails = {"carol@example.com": "manager"}
    at = new_app(small_shop_db, {"emails": emails})
    at.secrets["auth"] = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "x", "google": {"client_id": "id"}}
    at.user = {"is_logged_in": False}
    at.run()
    assert [title.value for title in at.title] == ["Sign in"] and not at.text_input
    assert [button.label for button in at.button] == ["Sign in with google"]
    at.user = {"is_logged_in": True, "email": "Carol@Example.com"}
    at.run()
    assert [title.value for title in at.title] == ["Overview"]
    assert "Signed in as carol@example.com (manager)." in [caption.value for caption in at.sidebar.caption]
    at.switch_page("pages/reports.py").run()
    assert at.title[0].value == "Reports"
    at.switch_page("pages/funnel.py").run()
    assert [error.value for error in at.error] == [text("access.page_refused", "en", page="Funnel")]
    stranger = new_app(small_shop_db, {"emails": emails})
    stranger.user = {"is_logged_in": True, "email": "dave@example.com"}
    stranger.run()
    assert not stranger.metric
    assert [warning.value for warning in stranger.warning] == [text("access.email_refused", "en", email="dave@example.com")]


def test_the_sign_in_speaks_chinese(small_shop_db, users):
    at = new_app(small_shop_db, {"users": users})
    at.session_state["language"] = "zh"
    at.run()
    assert [title.value for title in at.title] == ["登录"]
    assert [field.label for field in at.text_input] == ["用户名", "密码"]


def test_wrong_access_settings_stop_the_app_with_the_reason(small_shop_db):
    at = new_app(small_shop_db, {"users": {"alice": {"password_hash": "hunter2", "role": "viewer"}}}).run()
    assert not at.metric and not at.title
    assert at.error[0].value.startswith("The access settings cannot be read: [access.users.alice] password_hash is not an argon2 hash")
