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

    A locked name or client is refused without looking at the password, so guessing on while
    locked learns nothing. A wrong password and an unknown name are refused alike (same
    answer, same argon2 work) and both count against the name and the client."""
    name = name.strip()
    keys = {f"name:{name}": config.max_failures, f"client:{client}": config.client_max_failures}
    locked = limiter.locked_until(*keys)
    if locked is not None:
        return SignIn(locked_until=locked)
    if verify_password(config.password_hashes.get(name), password):
        limiter.succeeded(f"name:{name}")
        return SignIn(user=config.local_user(name))
    limiter.failed(keys)
    return SignIn(locked_until=limiter.locked_until(*keys))
