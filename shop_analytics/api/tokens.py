"""API tokens: made with `python cli.py token add NAME --role ROLE` (the token is printed once),
kept as a SHA-256 digest in a SQLite file ([api] tokens_database) with their name and role,
listed and revoked by name. SQLAlchemy Core, bound parameters only.

A token is 256 random bits (`secrets.token_urlsafe(32)`) behind the prefix `sa_`. Only its
digest is stored, as only a password's hash is; unlike a password, a token is not chosen
by a person and cannot be guessed from a dictionary, so a plain SHA-256 cannot be reversed by
trying candidates, and it can be looked up by its digest on every request. (An argon2 hash,
right for passwords, would cost every request some 50 ms of CPU and needs the name to find.)
"""

import hashlib
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from shop_analytics.access.config import USER_NAME
from shop_analytics.access.roles import check_role

TOKEN_PREFIX = "sa_"
METADATA = sa.MetaData()
TOKENS = sa.Table(
    "api_tokens", METADATA,
    sa.Column("name", sa.String, primary_key=True),
    sa.Column("role", sa.String, nullable=False),
    sa.Column("digest", sa.String, nullable=False, unique=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
)
SQLITE_BUSY_TIMEOUT = 5  # seconds a request waits while `token add` writes the file


@dataclass(frozen=True)
class TokenHolder:
    """Who a token belongs to: its name and role."""

    name: str
    role: str


def digest(token: str) -> str:
    """The SHA-256 of a token, as stored."""
    return hashlib.sha256(token.encode()).hexdigest()


class TokenStore:
    """The tokens in the SQLite file `path`. Reading a file that does not exist finds no
    tokens (and creates nothing); adding a token creates the file and its folder.

    Every request asks whose token it carries: the answers come from the tokens as last read,
    read again whenever the file changed (a `token add` or `token revoke` by another process
    writes it), so a revoked token is refused at its next request at the cost of a stat."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._engine: sa.Engine | None = None
        self._holders: dict[str, TokenHolder] = {}
        self._stamp: tuple | None = None
        self._mutex = threading.Lock()

    def _connect(self, *, create: bool) -> sa.Engine | None:
        """The file's engine; None when the file does not exist and `create` is false."""
        if self._engine is None:
            if not self.path.exists():
                if not create:
                    return None
                self.path.parent.mkdir(parents=True, exist_ok=True)
            url = sa.URL.create("sqlite", database=str(self.path))
            self._engine = sa.create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT})
            METADATA.create_all(self._engine)
            self.path.chmod(0o600)
        return self._engine

    def _writable(self) -> sa.Engine:
        engine = self._connect(create=True)
        if engine is None:
            raise OSError(f"cannot create the tokens file {self.path}")
        return engine

    def add(self, name: str, role: str, *, now: datetime | None = None) -> str:
        """Make a token for `name` with `role` and return it (the only time it is seen).
        ValueError when the name is taken or not a name, or the role is not one."""
        if not USER_NAME.fullmatch(name):
            raise ValueError(f"{name!r} is not a token name: use 1 to 64 letters, digits or _ . @ -")
        check_role(role)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self._writable().begin() as connection:
            if connection.execute(sa.select(TOKENS.c.name).where(TOKENS.c.name == name)).first() is not None:
                raise ValueError(f"there is already a token named {name}: revoke it first (`python cli.py token revoke {name}`) or choose another name")
            connection.execute(sa.insert(TOKENS).values(
                name=name, role=role, digest=digest(token), created_at=(now or datetime.now(UTC)).replace(tzinfo=None),
            ))
        return token

    def revoke(self, name: str) -> bool:
        """Delete the token called `name`; whether there was one."""
        engine = self._connect(create=False)
        if engine is None:
            return False
        with engine.begin() as connection:
            return connection.execute(sa.delete(TOKENS).where(TOKENS.c.name == name)).rowcount > 0

    def tokens(self) -> list[dict]:
        """Name, role and creation time (UTC) of every token, by name."""
        engine = self._connect(create=False)
        if engine is None:
            return []
        with engine.connect() as connection:
            rows = connection.execute(sa.select(TOKENS.c.name, TOKENS.c.role, TOKENS.c.created_at).order_by(TOKENS.c.name))
            return [{"name": row.name, "role": row.role, "created_at": row.created_at.replace(tzinfo=UTC)} for row in rows]

    def _current(self) -> dict[str, TokenHolder]:
        """Every token's holder by digest, as the file holds them now."""
        try:
            stat = self.path.stat()
            stamp: tuple | None = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        except FileNotFoundError:
            stamp = None
        with self._mutex:
            if stamp != self._stamp:
                engine = self._connect(create=False) if stamp is not None else None
                holders = {}
                if engine is not None:
                    with engine.connect() as connection:
                        holders = {row.digest: TokenHolder(row.name, row.role) for row in connection.execute(sa.select(TOKENS.c.digest, TOKENS.c.name, TOKENS.c.role))}
                self._holders, self._stamp = holders, stamp
            return self._holders

    def any(self) -> bool:
        """Whether any token exists (without tokens the API answers this machine only)."""
        return bool(self._current())

    def holder(self, token: str) -> TokenHolder | None:
        """Whose `token` is, None when no stored token has its digest."""
        return self._current().get(digest(token))
