"""Who may use the dashboard and what each may see: local users with argon2 password hashes
or an identity provider's e-mail (OIDC through Streamlit's st.login), each with a role
(roles.py); sign-in attempts limited (limits.py); the open mode for this machine only
(local.py). Pure: no Streamlit here; ui/access.py draws the sign-in and applies it."""

from access.config import AccessConfig, User, access_config
from access.limits import SignInLimiter
from access.local import is_local_request
from access.passwords import hash_password, verify_password
from access.roles import PAGE_ROLES, ROLES, may_export_users, may_open, pages_for
from access.signin import SignIn, sign_in

__all__ = [
    "PAGE_ROLES",
    "ROLES",
    "AccessConfig",
    "SignIn",
    "SignInLimiter",
    "User",
    "access_config",
    "hash_password",
    "is_local_request",
    "may_export_users",
    "may_open",
    "pages_for",
    "sign_in",
    "verify_password",
]
