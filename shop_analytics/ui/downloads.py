"""Files the browser downloads (CSV, Excel): written at the click, only for the session that
drew the button while it may still have them, and gone from Streamlit's /media URL soon after.

Streamlit serves a download's file at /media/<id> to whoever asks for it, with or without a
session, and drops it only when two later script runs (of any session) find it unused, or
when the session that made it ends, 120 s after its tab closes
(server.disconnectedSessionTTL): an analyst's list of users was fetched with curl, without a
session, 85 s after the tab had closed (issue 23). Here each file is made by a callable
(st.download_button's deferred data) that checks at the click that the session which drew
the button is still connected, still signed in as the same user, not idle past
`idle_minutes`, and that the user's role in the current `[access]` may have the file; and
EXPIRY_SECONDS after the file is made, Streamlit's own clean-up of unused media runs twice,
which deletes it (a made file is referenced by no session: the first pass marks it, the
second deletes it).

What stays open inside Streamlit: for those EXPIRY_SECONDS the URL serves the file to anyone
who has it, session or not; and Streamlit runs a download's callable for any session that
sends its id (a random 128-bit id that only the drawing session's browser is sent).
"""

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import streamlit as st
from streamlit import runtime
from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

from shop_analytics.access import may_see_users
from shop_analytics.ui import access

EXPIRY_SECONDS = 10.0
"""How long a made file stays at its URL: the browser asks for it as soon as it has the URL,
so this only has to cover the network between the answer and that request."""


class DownloadRefused(PermissionError):
    """A download asked for when its session may no longer have it (Streamlit logs it and
    the browser says the file could not be made)."""


@dataclass(frozen=True)
class Drawer:
    """The session that drew a download button, and who was signed in there then
    ({"name", "via"}, None in the open mode without `[access]`)."""

    session_id: str
    signed: dict | None


def _signed_in(state) -> tuple[dict | None, float | None]:
    """The signed-in user and last-seen time a session's state holds now."""
    signed = state[access.USER_KEY] if access.USER_KEY in state else None
    seen = state[access.SEEN_KEY] if access.SEEN_KEY in state else None
    return signed, seen


def refusal(drawer: Drawer, user_level: bool) -> str | None:
    """Why the session that drew a button may not have its file now (None when it may), on
    whatever thread Streamlit makes the file: the tab is closed, another user or nobody is
    signed in there, the user is idle past idle_minutes or gone from `[access]`, or (for a
    list of users, `user_level`) their role no longer may see users (access/roles.py)."""
    server = runtime.get_instance()
    if server.get_client(drawer.session_id) is None:
        return "the session that drew the button is closed"
    session = server.get_app_session(drawer.session_id)
    signed, seen = _signed_in(session.session_state) if session is not None else (None, None)
    if signed != drawer.signed:
        return "the session is no longer signed in as the user it drew the button for"
    try:
        config = access.configuration()
    except ValueError as error:
        return f"the access settings cannot be read: {error}"
    if config is None:
        # Open mode: the session was this machine's when it drew the button.
        return None if signed is None else "the access settings changed"
    if signed is None:
        return "nobody is signed in"
    user = config.local_user(signed["name"]) if signed["via"] == "password" else config.oidc_user(signed["name"])
    if user is None:
        return "the user is no longer in [access]"
    if seen is None or time.monotonic() - seen > config.idle.total_seconds():
        return "the session has been idle past idle_minutes"
    if user_level and not may_see_users(user.role):
        return f"the role {user.role} may not download lists of users"
    return None


def _forget_unused_media() -> None:
    """Streamlit's clean-up of media no session uses, twice: a made download is used by no
    session, so the first pass marks it and the second deletes it. Files a session shows are
    untouched, and this is the clean-up Streamlit runs after every script run anyway."""
    if runtime.exists():
        manager = runtime.get_instance().media_file_mgr
        manager.remove_orphaned_files()
        manager.remove_orphaned_files()


def guarded(make: Callable[[], bytes | str], *, user_level: bool) -> Callable[[], bytes | str]:
    """A download button's data: `make` run at the click when the drawing session may still
    have the file (DownloadRefused otherwise), the file deleted EXPIRY_SECONDS after."""
    context = get_script_run_ctx()
    drawer = None if context is None else Drawer(context.session_id, st.session_state.get(access.USER_KEY))

    def file() -> bytes | str:
        if drawer is not None and runtime.exists():
            reason = refusal(drawer, user_level)
            if reason is not None:
                raise DownloadRefused(f"download refused: {reason}")
        data = make()
        expiry = threading.Timer(EXPIRY_SECONDS, _forget_unused_media)
        expiry.daemon = True
        expiry.start()
        return data

    return file
