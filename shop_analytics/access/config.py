"""The `[access]` section of .streamlit/secrets.toml: who may sign in, with which role, and
the sign-in limits.

    [access]
    idle_minutes = 30            # a session unused this long signs out
    max_failures = 5             # wrong passwords for one user name before it is locked ...
    client_max_failures = 20     # ... and from one client address
    lock_minutes = 15            # how long a lock lasts

    [access.users.alice]         # a local user: `python cli.py user add alice --role analyst`
    password_hash = "$argon2id$v=19$m=65536,t=3,p=4$..."
    role = "analyst"

    [access.emails]              # users of the identity provider (st.login, [auth]): e-mail = role
    "carol@example.com" = "manager"

No `[access]` section means no access control: the dashboard then answers this machine only.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from shop_analytics.access.passwords import check_hash
from shop_analytics.access.roles import check_role

USER_NAME = re.compile(r"[A-Za-z0-9_.@-]{1,64}")
_KEYS = {"idle_minutes", "max_failures", "client_max_failures", "lock_minutes", "users", "emails"}
_USER_KEYS = {"password_hash", "role"}


@dataclass(frozen=True)
class User:
    """A person who may sign in: a local user name or an identity provider's e-mail, and the
    role the configuration gives them."""

    name: str
    role: str
    via: str  # "password" or "oidc"


@dataclass(frozen=True)
class AccessConfig:
    """The checked `[access]` section (see the module docstring)."""

    password_hashes: dict[str, str] = field(default_factory=dict)
    user_roles: dict[str, str] = field(default_factory=dict)
    email_roles: dict[str, str] = field(default_factory=dict)
    idle_minutes: float = 30
    max_failures: int = 5
    client_max_failures: int = 20
    lock_minutes: float = 15

    @property
    def idle(self) -> timedelta:
        return timedelta(minutes=self.idle_minutes)

    @property
    def lock(self) -> timedelta:
        return timedelta(minutes=self.lock_minutes)

    def local_user(self, name: str) -> User | None:
        """The local user called `name`, None when there is none."""
        role = self.user_roles.get(name)
        return None if role is None else User(name, role, "password")

    def oidc_user(self, email: str | None) -> User | None:
        """The identity provider's user with e-mail `email` (compared in lower case), None when
        `[access.emails]` does not list it."""
        if not email:
            return None
        role = self.email_roles.get(email.strip().lower())
        return None if role is None else User(email.strip().lower(), role, "oidc")


def _positive(section: dict, key: str, default: float, *, whole: bool = False) -> float:
    value = section.get(key, default)
    kind = int if whole else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind) or value <= 0:
        noun = "a positive whole number" if whole else "a positive number"
        raise ValueError(f"[access] {key} must be {noun}, not {value!r}.")
    return value


def access_config(section: dict | None) -> AccessConfig | None:
    """The access settings in `section` (the `[access]` table), None when there is none.

    ValueError names what is wrong: an unknown key, a user without a hash or role, a role that
    does not exist, or an `[access]` that lets nobody in (no users and no e-mails)."""
    if section is None:
        return None
    section = dict(section)
    unknown = sorted(set(section) - _KEYS)
    if unknown:
        raise ValueError(f"unknown key(s) {', '.join(unknown)} in [access]; the keys are {', '.join(sorted(_KEYS))}.")
    hashes, roles = {}, {}
    for name, user in dict(section.get("users", {})).items():
        where = f"[access.users.{name}]"
        if not USER_NAME.fullmatch(name):
            raise ValueError(f"{where}: a user name is 1 to 64 letters, digits or _ . @ -.")
        user = dict(user) if isinstance(user, Mapping) else {}
        missing = sorted(_USER_KEYS - set(user))
        if missing or set(user) - _USER_KEYS:
            raise ValueError(f"{where} needs exactly password_hash and role; make it with `python cli.py user add {name} --role ROLE`.")
        hashes[name] = check_hash(user["password_hash"], f"{where} password_hash")
        roles[name] = check_role(user["role"], f"{where} role")
    emails = {
        str(email).strip().lower(): check_role(role, f"[access.emails] {email!r}:")
        for email, role in dict(section.get("emails", {})).items()
    }
    if not roles and not emails:
        raise ValueError(
            "[access] lets nobody in: add a user with `python cli.py user add NAME --role ROLE`, "
            "or e-mails of the identity provider under [access.emails]."
        )
    return AccessConfig(
        password_hashes=hashes,
        user_roles=roles,
        email_roles=emails,
        idle_minutes=_positive(section, "idle_minutes", 30),
        max_failures=int(_positive(section, "max_failures", 5, whole=True)),
        client_max_failures=int(_positive(section, "client_max_failures", 20, whole=True)),
        lock_minutes=_positive(section, "lock_minutes", 15),
    )
