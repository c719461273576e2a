"""Reading the sample shop's 2,000,000 events from PostgreSQL into Polars through the
connector, beside PostgreSQL's own `COPY (SELECT ...) TO STDOUT` of the same rows in the same
run; MariaDB's read through the connector for reference.

    python bench/bench_postgres.py [--db sample_data/shop.db] [--repeat 3] [--keep]

The events are loaded into a database of the benchmark's own (`shop_bench`, dropped at the
end unless --keep) on each server. Every repeat runs each measurement once, in turn, so all of
them see the same machine; the figure is the median.

- connector: `SqlSource(url).read_table("events")` as an extract's refresh calls it: a new
  source (reflection included), connectorx into Arrow, then `conform` (canonical dtypes,
  labels categorical).
- connectorx alone: the same SELECT through `pl.read_database_uri`, without reflection and
  conform, to show where the connector's time goes.
- COPY text / binary: the connector's SELECT (compiled by SQLAlchemy, the very statement it
  sends) inside `COPY (...) TO STDOUT`, read by psycopg and thrown away. COPY does not parse
  the rows into columns, so it is a floor rather than a peer doing the same work.

Each read must give as many rows as the events table has, or the script exits with status 1.
"""

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import polars as pl
import psycopg
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from connectors import SAMPLE_SHOP, SqlSource, open_source
from connectors.base import wanted_columns
from connectors.mapping import canonical_select
from sample_data.server_store import write_server

DATABASE = "shop_bench"
SERVERS = {
    "postgresql": "postgresql+psycopg://postgres@127.0.0.1:5432/test",
    "mariadb": "mysql+pymysql://root@127.0.0.1:3306/test?charset=utf8mb4",
}
TARGET_RATIO = 2.0  # the connector within 2x of COPY (issue 3)


def recreate_database(server: str) -> sa.URL:
    """An empty `shop_bench` database on `server`, and its URL."""
    admin = sa.create_engine(SERVERS[server], isolation_level="AUTOCOMMIT")
    quoted = admin.dialect.identifier_preparer.quote(DATABASE)
    with admin.connect() as connection:
        connection.execute(sa.text(f"DROP DATABASE IF EXISTS {quoted}" + (" WITH (FORCE)" if server == "postgresql" else "")))
        connection.execute(sa.text(f"CREATE DATABASE {quoted}"))
    admin.dispose()
    return sa.make_url(SERVERS[server]).set(database=DATABASE)


def drop_database(server: str) -> None:
    admin = sa.create_engine(SERVERS[server], isolation_level="AUTOCOMMIT")
    quoted = admin.dialect.identifier_preparer.quote(DATABASE)
    with admin.connect() as connection:
        connection.execute(sa.text(f"DROP DATABASE IF EXISTS {quoted}" + (" WITH (FORCE)" if server == "postgresql" else "")))
    admin.dispose()


def connector_sql(url: sa.URL) -> str:
    """The SELECT the connector sends for the whole events table, as SQLAlchemy compiles it."""
    source = SqlSource(url)
    engine = sa.create_engine(url)
    base = sa.Table("events", sa.MetaData(), autoload_with=engine)
    query, _ = canonical_select(source.mapping.tables["events"], base, wanted_columns("events", None), source.mapping.origin)
    sql = str(query.compile(engine, compile_kwargs={"literal_binds": True}))
    engine.dispose()
    return sql


def copy_rows(url: sa.URL, sql: str, binary: bool) -> int:
    """COPY (sql) TO STDOUT read whole and thrown away; the rows it sent (its command tag)."""
    conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo) as connection, connection.cursor() as cursor:
        with cursor.copy(f"COPY ({sql}) TO STDOUT" + (" (FORMAT binary)" if binary else "")) as copy:
            for _block in copy:
                pass
        return cursor.rowcount


def timed(runs: dict[str, list[float]], name: str, work: Callable[[], int], rows: int) -> None:
    """Time `work` once into runs[name]; it must return `rows`."""
    started = time.perf_counter()
    got = work()
    runs.setdefault(name, []).append(time.perf_counter() - started)
    if got != rows:
        print(f"{name} gave {got:,} rows, not {rows:,}: the comparison is void", file=sys.stderr)
        sys.exit(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=str(SAMPLE_SHOP), help="where the events come from (open_source)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help=f"keep the {DATABASE} databases")
    options = parser.parse_args()

    events = open_source(options.db).read_table("events")
    rows = events.height
    print(f"{rows:,} events from {options.db}; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    urls = {}
    for server in SERVERS:
        started = time.perf_counter()
        urls[server] = recreate_database(server)
        write_server({"events": events}, urls[server])
        print(f"loaded into {server} in {time.perf_counter() - started:.1f} s")
    del events

    sql = connector_sql(urls["postgresql"])
    cx_uri = urls["postgresql"].set(drivername="postgresql").render_as_string(hide_password=False)
    runs: dict[str, list[float]] = {}
    try:
        for _ in range(options.repeat):
            timed(runs, "PostgreSQL COPY text", lambda: copy_rows(urls["postgresql"], sql, binary=False), rows)
            timed(runs, "PostgreSQL COPY binary", lambda: copy_rows(urls["postgresql"], sql, binary=True), rows)
            timed(runs, "PostgreSQL connector", lambda: SqlSource(urls["postgresql"]).read_table("events").height, rows)
            timed(runs, "PostgreSQL connectorx alone", lambda: pl.read_database_uri(sql, cx_uri, engine="connectorx").height, rows)
            timed(runs, "MariaDB connector", lambda: SqlSource(urls["mariadb"]).read_table("events").height, rows)
    finally:
        if not options.keep:
            for server in SERVERS:
                drop_database(server)

    copy = statistics.median(runs["PostgreSQL COPY text"])
    print(f"\n{'read of ' + format(rows, ',') + ' events':<32} {'median s':>9} {'runs':>5} {'M rows/s':>9} {'/ COPY':>7}")
    for name, seconds in runs.items():
        median = statistics.median(seconds)
        print(f"{name:<32} {median:>9.2f} {len(seconds):>5} {rows / median / 1e6:>9.2f} {median / copy:>6.2f}x")
    print()
    connector = statistics.median(runs["PostgreSQL connector"])
    for copy_format in ("text", "binary"):
        ratio = connector / statistics.median(runs[f"PostgreSQL COPY {copy_format}"])
        verdict = "within" if ratio <= TARGET_RATIO else "over"
        print(f"connector / COPY {copy_format} = {ratio:.2f}x: {verdict} the {TARGET_RATIO:g}x target")


if __name__ == "__main__":
    main()
