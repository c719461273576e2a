"""Access on the Streamlit side: the role of this session (app.py builds the navigation from
it), the sign-in (shown at whichever page's URL was asked for, which then opens), and the
checks every page and user-level export make on the server.

The signed-in user is kept in the session's state on the server (the browser never holds
it) as a name, and their role is looked up in `[access]` on every run, so that a changed
role or a removed user takes effect at the next click. A browser reload starts a new
Streamlit session and asks again (st.login's identity cookie signs an identity-provider
user back in).
"""

import math
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import streamlit as st

from shop_analytics.access import (
    AccessConfig,
    SignInLimiter,
    User,
    access_config,
    is_local_request,
    may_open,
    may_see_users,
    sign_in,
)
from shop_analytics.ui.lang import t

USER_KEY = "access_user"
SEEN_KEY = "access_last_seen"
NOTICE_KEY = "access_notice"
FEEDBACK_KEY = "access_feedback"
NAME_KEY, PASSWORD_KEY = "access_name", "access_password"
OPEN_ROLE = "admin"  # no [access]: everything, for this machine only
IDLE_CHECK_SECONDS = 60


def _plain(value):
    return {key: _plain(item) for key, item in value.items()} if isinstance(value, Mapping) else value


def _secrets_section(name: str) -> dict | None:
    try:
        section = st.secrets.get(name)
    except FileNotFoundError:
        return None
    return None if section is None else _plain(section)


def configuration() -> AccessConfig | None:
    """The checked `[access]` of the configuration, None without one (ValueError when it is
    wrong)."""
    from shop_analytics.ui.data import current_config

    section = current_config().access
    return None if section is None else access_config(section.model_dump())


def connection() -> tuple[str | None, dict[str, str]] | None:
    """The browser's address and request headers (st.context), or None when no browser is
    connected because the script runs inside the process (AppTest, a bare `python app.py`):
    a browser's request always carries headers."""
    headers = dict(st.context.headers)
    if not headers:
        return None
    # st.context names a loopback client None, as it does a session without a client
    return st.context.ip_address or "127.0.0.1", headers


def _is_local() -> bool:
    seen = connection()
    return seen is None or is_local_request(*seen)


def _client() -> str:
    seen = connection()
    return "in-process" if seen is None else str(seen[0])


@st.cache_resource(show_spinner=False)
def _limiter(lock_minutes: float) -> SignInLimiter:
    """The server's one limiter: attempts from every session count together."""
    return SignInLimiter(lock=timedelta(minutes=lock_minutes))


def _identity_provider_user() -> dict:
    try:
        return st.user.to_dict()
    except Exception:  # noqa: BLE001 - st.user is unavailable without a session: nobody signed in
        return {}


def current_user(config: AccessConfig) -> User | None:
    """The user this session signed in as, while `[access]` still lists them and they have not
    been idle longer than `idle_minutes`; an identity provider's user (st.login) is signed in
    when `[access.emails]` lists their e-mail. None otherwise."""
    signed = st.session_state.get(USER_KEY)
    provider_user = _identity_provider_user()
    email = provider_user.get("email") if provider_user.get("is_logged_in") else None
    if signed is None and config.oidc_user(email) is not None:
        signed = st.session_state[USER_KEY] = {"name": email, "via": "oidc"}
        st.session_state[SEEN_KEY] = time.monotonic()
    if signed is None:
        return None
    user = config.local_user(signed["name"]) if signed["via"] == "password" else config.oidc_user(email)
    now = time.monotonic()
    if user is None or now - st.session_state.get(SEEN_KEY, now) > config.idle.total_seconds():
        if user is not None:
            st.session_state[NOTICE_KEY] = "access.expired"
        sign_out(signed["via"])
        return None
    st.session_state[SEEN_KEY] = now
    return user


def sign_out(via: str = "password") -> None:
    """Forget this session's user (and the identity provider's cookie for its users)."""
    st.session_state.pop(USER_KEY, None)
    st.session_state.pop(SEEN_KEY, None)
    if via == "oidc":
        st.logout()


def role() -> str | None:
    """The role of this session: its user's, OPEN_ROLE without `[access]` on this machine,
    None when it may see nothing."""
    try:
        config = configuration()
    except ValueError:
        return None
    if config is None:
        return OPEN_ROLE if _is_local() else None
    user = current_user(config)
    return None if user is None else user.role


def providers() -> list[str | None]:
    """The identity providers of `[auth]` (st.login): None for one set directly in `[auth]`,
    else the names of its `[auth.<name>]` sections."""
    auth = _secrets_section("auth") or {}
    named = [name for name, value in auth.items() if isinstance(value, dict)]
    return ([None] if "client_id" in auth else []) + named


def _submitted() -> None:
    """The sign-in form's callback: check the name and password it holds. It runs before the
    script does, so the run that follows already shows the page (or says why not)."""
    config = configuration()
    if config is None:  # the form is drawn only with [access]; its removal since makes the app open
        return
    name, password = st.session_state.get(NAME_KEY, ""), st.session_state.get(PASSWORD_KEY, "")
    result = sign_in(config, _limiter(config.lock_minutes), name, password, _client())
    if result.user is not None:
        st.session_state[USER_KEY] = {"name": result.user.name, "via": "password"}
        st.session_state[SEEN_KEY] = time.monotonic()
    elif result.locked_until is not None:
        minutes = math.ceil((result.locked_until - datetime.now(UTC)) / timedelta(minutes=1))
        st.session_state[FEEDBACK_KEY] = ("access.locked", max(minutes, 1))
    else:
        st.session_state[FEEDBACK_KEY] = ("access.wrong", 0)


def _sign_in_form(config: AccessConfig) -> None:
    st.title(t("access.title"))
    notice = st.session_state.pop(NOTICE_KEY, None)
    if notice:
        st.info(t(notice, minutes=f"{config.idle_minutes:g}"))
    if config.password_hashes:
        with st.form("access_sign_in", clear_on_submit=True):
            st.text_input(t("access.name"), autocomplete="username", key=NAME_KEY)
            st.text_input(t("access.password"), type="password", autocomplete="current-password", key=PASSWORD_KEY)
            st.form_submit_button(t("access.sign_in"), type="primary", key="access_submit", on_click=_submitted)
        feedback = st.session_state.pop(FEEDBACK_KEY, None)
        if feedback is not None:
            key, minutes = feedback
            st.error(t(key, minutes=minutes))
    provider_user = _identity_provider_user()
    if provider_user.get("is_logged_in"):
        st.warning(t("access.email_refused", email=provider_user.get("email", "?")))
        if st.button(t("access.sign_out"), key="access_oidc_sign_out"):
            st.logout()
    elif config.email_roles:
        for provider in providers():
            label = t("access.sign_in_with", provider=provider or t("access.organisation"))
            if st.button(label, key=f"access_login_{provider}", icon=":material/login:"):
                st.login(provider)


@st.fragment(run_every=IDLE_CHECK_SECONDS)
def _idle_watch(deadline: float) -> None:
    """Run the app again once the session has been idle past its deadline, so that it signs
    out and hides the page even when nobody clicks."""
    if time.monotonic() > deadline:
        st.rerun(scope="app")


def gate() -> str | None:
    """The role of this session, with who is signed in in the sidebar; None while nobody is
    signed in (app.py then runs the sign-in at whatever page's URL was asked for: stand_in).
    A session refused outright (wrong settings, or no [access] and a browser elsewhere) gets
    the reason and stops."""
    try:
        config = configuration()
    except ValueError as error:
        st.error(t("access.bad_config", error=error))
        st.stop()
    if config is None:
        if not _is_local():
            st.error(t("access.remote_refused"))
            st.info(t("access.how_to_configure"))
            st.stop()
        st.sidebar.caption(t("access.open"))
        return OPEN_ROLE
    user = current_user(config)
    if user is None:
        return None
    st.sidebar.caption(t("access.signed_in", name=user.name, role=t(f"access.role_{user.role}")))
    if st.sidebar.button(t("access.sign_out"), key="access_sign_out", icon=":material/logout:"):
        sign_out(user.via)
        st.rerun()
    with st.sidebar:
        _idle_watch(st.session_state[SEEN_KEY] + config.idle.total_seconds())
    return user.role


def require_page(name: str) -> None:
    """Stop page `name` unless this session's role may open it: with the sign-in while
    `[access]` is configured and nobody is signed in, else with the reason (a page's URL
    typed by hand reaches its file; this check is what refuses it)."""
    current = role()
    if current is None:
        try:
            config = configuration()
        except ValueError:
            config = None
        if config is not None:
            _sign_in_form(config)
            st.stop()
    if current is None or not may_open(current, name):
        st.error(t("access.page_refused", page=t(f"nav.{name}")))
        st.stop()


def stand_in(name: str) -> st.Page:
    """A hidden navigation entry for page `name`, which this session's role may not open, so
    that its URL still leads to its file: there `open_page` (require_page) signs in first
    while nobody is signed in, after which the same URL opens the page, and otherwise says
    the role cannot open it, before the page shows anything."""
    return st.Page(f"pages/{name}.py", title=t(f"nav.{name}"), visibility="hidden", default=name == "overview")


def session_may_see_users() -> bool:
    """Whether this session may see rows of single users, on screen and in downloads
    (access/roles.py may_see_users: the analyst's and admin's)."""
    return may_see_users(role())
