"""Who may use the dashboard and what each may see: local users with argon2 password hashes
or an identity provider's e-mail (OIDC through Streamlit's st.login), each with a role
(roles.py); sign-in attempts limited (limits.py); the open mode for this machine only
(local.py). Pure: no Streamlit here; ui/access.py draws the sign-in and applies it."""

from shop_analytics.access.config import AccessConfig, User, access_config
from shop_analytics.access.limits import SignInLimiter
from shop_analytics.access.local import is_local_request
from shop_analytics.access.passwords import hash_password, verify_password
from shop_analytics.access.roles import PAGE_ROLES, ROLES, may_open, may_see_users, pages_for
from shop_analytics.access.signin import SignIn, sign_in

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
    "may_open",
    "may_see_users",
    "pages_for",
    "sign_in",
    "verify_password",
]
