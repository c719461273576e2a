"""Signing in with a user name and password, against the configuration and the limiter."""

from dataclasses import dataclass
from datetime import datetime

from shop_analytics.access.config import AccessConfig, User
from shop_analytics.access.limits import SignInLimiter
from shop_analytics.access.passwords import verify_password


@dataclass(frozen=True)
class SignIn:
    """The outcome of one attempt: the user signed in, or why not (`locked_until` set while
    the name or the client is locked, whatever the password)."""

    user: User | None = None
    locked_until: datetime | None = None


def sign_in(config: AccessConfig, limiter: SignInLimiter, name: str, password: str, client: str) -> SignIn:
    """Check `password` for user `name` from `client` (its address).

    The attempt counts against the name and the client before the password is looked at (the
    limiter admits and counts in one step), so simultaneous attempts cannot outrun the limit;
    a right password takes its count back. A locked name or client is refused without
    looking at the password, so guessing on while locked learns nothing. A wrong password and
    an unknown name are refused alike (same answer, same argon2 work)."""
    name = name.strip()
    keys = {f"name:{name}": config.max_failures, f"client:{client}": config.client_max_failures}
    attempt = limiter.admit(keys)
    if attempt.refused_until is not None:
        return SignIn(locked_until=attempt.refused_until)
    if verify_password(config.password_hashes.get(name), password):
        limiter.succeeded(attempt, f"name:{name}")
        return SignIn(user=config.local_user(name))
    return SignIn(locked_until=limiter.locked_until(*keys))
