"""Whether the database user a SQL source connects as can do more than read, by the server's
own account of its privileges, and the statements that make a user who only reads.

The app's own connections are read-only sessions (connectors/sql.py), but a session's
read-only mode binds that session only: a function that opens a connection of its own (such as
PostgreSQL's dblink) writes with the user's privileges (issue 23). A user that can only read
is what keeps the shop's data safe from the dashboard, so the Data sources page checks it:

- PostgreSQL: a superuser can do anything; otherwise every table, view and foreign table
  outside the system schemas on which `has_table_privilege` grants INSERT, UPDATE, DELETE or
  TRUNCATE (directly, through a role, or through pg_write_all_data).
- MySQL and MariaDB: each line of `SHOW GRANTS` (the user's and its active role's) that grants
  anything beyond reading (READING_PRIVILEGES), on any object.
"""

import re
from dataclasses import dataclass

import sqlalchemy as sa

from connectors.base import SourceError
from connectors.sql import SqlSource

READING_PRIVILEGES = frozenset({"USAGE", "SELECT", "SHOW VIEW", "SHOW DATABASES"})
"""MySQL privileges that only read; a grant of any other lets the user change something."""

READER = "shop_reader"
"""The name the suggested statements give the read-only user."""

_POSTGRES_WRITABLE = sa.text(
    "SELECT n.nspname AS schema_name, c.relname AS table_name"
    " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
    " WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')"
    " AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'"
    " AND has_table_privilege(c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE')"
    " ORDER BY 1, 2"
)
_GRANT = re.compile(r"^GRANT (?P<privileges>.+?) ON (?P<object>.+?) TO ", re.DOTALL)
# MariaDB's SHOW GRANTS quotes the password hash (IDENTIFIED BY PASSWORD '*...'), never shown
_IDENTIFIED = re.compile(r" IDENTIFIED (?:BY|VIA|WITH) .*?(?= WITH GRANT OPTION$|$)", re.DOTALL)


@dataclass(frozen=True)
class WriteAccess:
    """What `user` may do beyond reading (`beyond_reading`: "superuser", a table it may
    change, or a GRANT line; empty when it only reads), and the statements that make a user
    who only reads the same data (`reader_grants`)."""

    user: str
    beyond_reading: tuple[str, ...]
    reader_grants: tuple[str, ...]

    @property
    def read_only(self) -> bool:
        return not self.beyond_reading


def write_access(source: SqlSource) -> WriteAccess | None:
    """The write access of the user `source` connects as; None for SQLite, whose file the
    source opens read-only (mode=ro). SourceError when the server cannot be asked."""
    backend = source.url.get_backend_name()
    if backend == "sqlite":
        return None
    quote = source.engine.dialect.identifier_preparer.quote_identifier
    try:
        with source.engine.connect() as connection:
            if backend == "postgresql":
                return _postgres(connection, quote)
            if backend == "mysql":
                return _mysql(connection, quote)
    except sa.exc.SQLAlchemyError as error:
        message = str(getattr(error, "orig", None) or error).splitlines()[0]
        raise SourceError(f"cannot ask {source.description} what its user may do: {message}") from None
    raise SourceError(f"cannot check the privileges of a {backend} database: only PostgreSQL, MySQL and MariaDB are known")


def _postgres(connection: sa.Connection, quote) -> WriteAccess:
    user, superuser, database, schema = connection.execute(sa.text(
        "SELECT current_user, rolsuper, current_database(), current_schema() FROM pg_roles WHERE rolname = current_user"
    )).one()
    beyond: tuple[str, ...]
    if superuser:
        beyond = ("superuser",)
    else:
        beyond = tuple(f"INSERT, UPDATE, DELETE or TRUNCATE on {quote(row.schema_name)}.{quote(row.table_name)}"
                       for row in connection.execute(_POSTGRES_WRITABLE))
    schema = quote(schema or "public")
    grants = (
        f"CREATE ROLE {READER} LOGIN PASSWORD '…';",
        f"GRANT CONNECT ON DATABASE {quote(database)} TO {READER};",
        f"GRANT USAGE ON SCHEMA {schema} TO {READER};",
        f"GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {READER};",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT SELECT ON TABLES TO {READER};",
    )
    return WriteAccess(user, beyond, grants)


def grant_beyond_reading(line: str) -> bool:
    """Whether a `SHOW GRANTS` line grants a privilege outside READING_PRIVILEGES (a line
    granting a role, which has no ON, grants no privilege itself)."""
    match = _GRANT.match(line.strip())
    if match is None:
        return False
    # column lists, as in SELECT (a, b), hold commas of their own
    privileges = re.sub(r"\([^)]*\)", "", match["privileges"])
    named = {" ".join(privilege.split()).upper() for privilege in privileges.split(",")}
    return bool(named - READING_PRIVILEGES) or " WITH GRANT OPTION" in line.upper()


def _mysql(connection: sa.Connection, quote) -> WriteAccess:
    user, database = connection.execute(sa.text("SELECT CURRENT_USER(), DATABASE()")).one()
    lines = [row[0] for row in connection.exec_driver_sql("SHOW GRANTS")]
    grants = (
        f"CREATE USER '{READER}'@'%' IDENTIFIED BY '…';",
        f"GRANT SELECT, SHOW VIEW ON {quote(database or 'shop')}.* TO '{READER}'@'%';",
    )
    beyond = tuple(_IDENTIFIED.sub("", line) for line in lines if grant_beyond_reading(line))
    return WriteAccess(user, beyond, grants)
