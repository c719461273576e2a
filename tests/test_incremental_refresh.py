"""Incremental refresh (issue 20) on a real PostgreSQL: an extract refreshed by its changes,
and the shop loaded again from it by deriving the sessions of the changed users only, equal a
full refresh loaded from scratch; a refresh that fails half-way keeps the last good extract.

The database is one of this module's own on the server at 127.0.0.1:5432 (user postgres,
database `test` to create it from), dropped at the end; the tests skip with the reason when
the server is not running, and fail in CI.
"""

import os
import uuid
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest
import sqlalchemy as sa
from conftest import utc
from polars.testing import assert_frame_equal

from connectors import SourceError
from connectors.extracts import ExtractSource
from connectors.mapping import parse_mapping
from connectors.schema import TABLES
from connectors.sql import SqlSource
from metrics.kpis import daily_kpis
from shop_analytics.cli import main
from shop_analytics.config import config_from_mapping
from shop_analytics.loading import load_shop
from shop_analytics.opening import extract_for, load_configured

ROOT = Path(__file__).resolve().parents[1]
SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
TZ = "UTC"

# The orders carry the platform's own stamp of their last change, which the mapping names.
MAPPING = {
    "name": "Shop with change stamps",
    "tables": {
        "events": {"from": "events"},
        "users": {"from": "users"},
        "orders": {"from": "orders", "updated_at": "changed_at"},
        "tickets": {"from": "tickets"},
    },
}


@pytest.fixture(scope="module")
def server():
    """A database of this module's own on the shared server."""
    admin = sa.create_engine(SERVER, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5})
    try:
        with admin.connect():
            pass
    except sa.exc.OperationalError as error:
        message = f"PostgreSQL is not running on 127.0.0.1:5432 ({str(error).splitlines()[0][:120]}); .ci/run starts it"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    name = f"incremental_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield sa.make_url(SERVER).set(database=name)
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


metadata = sa.MetaData()
EVENTS = sa.Table(
    "events", metadata, sa.Column("user_id", sa.BigInteger), sa.Column("event_time", sa.DateTime(timezone=True)),
    sa.Column("event_type", sa.Text), sa.Column("channel", sa.Text),
)
USERS = sa.Table("users", metadata, sa.Column("user_id", sa.BigInteger, primary_key=True), sa.Column("signup_at", sa.DateTime(timezone=True)))
ORDERS = sa.Table(
    "orders", metadata, sa.Column("order_id", sa.BigInteger, primary_key=True), sa.Column("user_id", sa.BigInteger),
    sa.Column("created_at", sa.DateTime(timezone=True)), sa.Column("amount", sa.Float), sa.Column("status", sa.Text),
    sa.Column("refund_amount", sa.Float), sa.Column("refunded_at", sa.DateTime(timezone=True)),
    sa.Column("changed_at", sa.DateTime(timezone=True)),
)
TICKETS = sa.Table(
    "tickets", metadata, sa.Column("ticket_id", sa.BigInteger, primary_key=True), sa.Column("user_id", sa.BigInteger),
    sa.Column("created_at", sa.DateTime(timezone=True)), sa.Column("category", sa.Text),
    sa.Column("first_response_at", sa.DateTime(timezone=True)),
)


def event(user, time, kind="page_view", channel="ads"):
    return {"user_id": user, "event_time": utc(time), "event_type": kind, "channel": channel}


# Ten days of a small shop; the newest event is 2026-05-10 20:00, so the refresh window of
# three days reaches back to 2026-05-07 20:00.
FIRST_EVENTS = [
    event(1, "2026-05-01 09:00", channel="seo"), event(1, "2026-05-01 09:10"), event(1, "2026-05-01 09:15", "purchase"),
    event(2, "2026-05-02 10:00", channel="email"), event(2, "2026-05-08 11:00", channel="seo"),
    event(3, "2026-05-09 23:50", channel="email"), event(3, "2026-05-10 00:10"),
    event(4, "2026-05-03 08:00"), event(4, "2026-05-10 19:40", channel="seo"), event(4, "2026-05-10 20:00"),
]
USER_ROWS = [{"user_id": user, "signup_at": utc(f"2026-05-0{user} 08:00")} for user in range(1, 6)]
FIRST_ORDERS = [
    # placed ten days before the refresh and refunded after it: only its change stamp says so
    {"order_id": 1, "user_id": 1, "created_at": utc("2026-05-01 09:15"), "amount": 80.0, "status": "completed",
     "refund_amount": None, "refunded_at": None, "changed_at": utc("2026-05-01 09:15")},
    {"order_id": 2, "user_id": 4, "created_at": utc("2026-05-10 19:50"), "amount": 30.0, "status": "pending",
     "refund_amount": None, "refunded_at": None, "changed_at": utc("2026-05-10 19:50")},
]
FIRST_TICKETS = [
    {"ticket_id": 1, "user_id": 2, "created_at": utc("2026-05-09 12:00"), "category": "complaint", "first_response_at": None},
]


def fill(url) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        metadata.drop_all(connection)
        metadata.create_all(connection)
        connection.execute(EVENTS.insert(), FIRST_EVENTS)
        connection.execute(USERS.insert(), USER_ROWS)
        connection.execute(ORDERS.insert(), FIRST_ORDERS)
        connection.execute(TICKETS.insert(), FIRST_TICKETS)
    engine.dispose()


def change(url) -> None:
    """What happens in the shop between two refreshes (the next morning)."""
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(EVENTS.insert(), [
            # user 4's session of 19:40 goes on across the newest instant the extract had
            event(4, "2026-05-10 20:20", "add_to_cart"), event(4, "2026-05-10 20:45", "purchase"),
            # user 3 comes back a day later, and a tracker uploads one of user 2's events late
            event(3, "2026-05-11 09:00", channel="seo"), event(2, "2026-05-08 11:20", "add_to_cart"),
            # a new user
            event(5, "2026-05-11 10:00", channel="email"),
        ])
        connection.execute(ORDERS.update().where(ORDERS.c.order_id == 1).values(
            status="refunded", refund_amount=80.0, refunded_at=utc("2026-05-11 08:00"), changed_at=utc("2026-05-11 08:00"),
        ))
        connection.execute(ORDERS.update().where(ORDERS.c.order_id == 2).values(status="paid", changed_at=utc("2026-05-10 20:45")))
        connection.execute(ORDERS.insert(), [
            {"order_id": 3, "user_id": 5, "created_at": utc("2026-05-11 10:05"), "amount": 55.0, "status": "paid",
             "refund_amount": None, "refunded_at": None, "changed_at": utc("2026-05-11 10:05")},
        ])
        # answered within the window: read again by it (tickets have no change stamp here)
        connection.execute(TICKETS.update().where(TICKETS.c.ticket_id == 1).values(first_response_at=utc("2026-05-11 09:30")))
    engine.dispose()


def shop_config(url, folder, **source):
    """The configuration of the shop at `url` through the mapping, its extract in `folder`."""
    mapping_file = folder.parent / f"{folder.name}-mapping.toml"
    mapping_file.write_text(
        "name = 'Shop with change stamps'\n" + "".join(
            f"[tables.{name}]\n" + "".join(f"{key} = '{value}'\n" for key, value in table.items()) for name, table in MAPPING["tables"].items()
        )
    )
    connection = {"url": url.render_as_string(hide_password=False), "mapping": str(mapping_file), "extract_folder": str(folder), "pushdown": "never"}
    return config_from_mapping({"connections": {"shop": connection | source}, "settings": {"time_zone": TZ}})


def plain(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(pl.col(pl.Categorical).cast(pl.String))


def assert_same_shop(loaded, expected) -> None:
    """Two loads hold the same tables, sessions and activity events, in the same order."""
    assert sorted(loaded.tables) == sorted(expected.tables)
    for name in expected.tables:
        keys = [column for column in ("order_id", "ticket_id", "user_id") if column in expected.tables[name].columns][:1]
        if name == "events":
            assert_frame_equal(plain(loaded.tables[name]), plain(expected.tables[name]))
        else:
            assert_frame_equal(plain(loaded.tables[name]).sort(keys), plain(expected.tables[name]).sort(keys))
    assert_frame_equal(plain(loaded.sessions), plain(expected.sessions))
    assert_frame_equal(plain(loaded.activity), plain(expected.activity))


def test_the_mapping_names_a_change_stamp():
    mapping = parse_mapping(MAPPING, "test")
    assert mapping.tables["orders"].updated_at == "changed_at"
    with pytest.raises(SourceError, match=r"\[tables.products\].updated_at: products is read whole"):
        parse_mapping({"tables": {"products": {"from": "p", "updated_at": "u"}}}, "test")


def test_an_incremental_refresh_loaded_by_its_changes_equals_a_full_refresh(server, tmp_path):
    fill(server)
    config = shop_config(server, tmp_path / "extract")
    extract = extract_for(config)
    first = extract.refresh()
    assert first.tables["events"].newest == utc("2026-05-10 20:00")
    assert first.tables["orders"].updated_newest == utc("2026-05-10 19:50")
    before = load_configured(config, extract)
    assert before.activity.height == 9  # the dashboard's pages have asked for it

    change(server)
    refreshed = extract.refresh()
    events, orders = refreshed.tables["events"], refreshed.tables["orders"]
    assert (events.incremental, events.replaced_after, events.rows) == (True, utc("2026-05-07 20:00"), 15)
    assert (orders.incremental, orders.updated_newest, orders.rows) == (True, utc("2026-05-11 10:05"), 3)
    assert refreshed.replaced_since(first.generation) == utc("2026-05-07 20:00")
    loaded = load_configured(config, extract)
    assert "activity" in loaded.__dict__  # derived again for the changed users only, not over every event

    full_config = shop_config(server, tmp_path / "full")
    full = extract_for(full_config)
    full.refresh(full=True)
    expected = load_shop(full, session_gap=config.settings.session_gap, tz=TZ)
    assert_same_shop(loaded, expected)
    assert_same_shop(load_shop(extract, session_gap=config.settings.session_gap, tz=TZ), expected)

    # what a user sees, worked out by hand
    sessions = plain(loaded.sessions).filter(pl.col("user_id") == 4).sort("started_at")
    assert sessions.select("started_at", "event_count", "has_purchase", "channel").rows() == [
        (utc("2026-05-03 08:00"), 1, False, "ads"),
        (utc("2026-05-10 19:40"), 4, True, "seo"),  # 19:40, 20:00 | 20:20, 20:45 across the cut
    ]
    late = plain(loaded.sessions).filter(pl.col("user_id") == 2).sort("started_at")
    assert late.select("started_at", "event_count").rows() == [(utc("2026-05-02 10:00"), 1), (utc("2026-05-08 11:00"), 2)]
    refunded = loaded.orders.filter(pl.col("order_id") == 1).row(0, named=True)
    assert (str(refunded["status"]), refunded["refund_amount"], refunded["refunded_at"]) == ("refunded", 80.0, utc("2026-05-11 08:00"))
    assert loaded.tickets["first_response_at"].to_list() == [utc("2026-05-11 09:30")]
    days = daily_kpis(loaded.activity, loaded.sessions, loaded.orders, loaded.users, start=utc("2026-05-10 00:00").date(), end=utc("2026-05-11 00:00").date(), tz=TZ)
    assert days.select("date", "dau", "sessions", "orders", "gmv", "refunds").rows() == [
        (utc("2026-05-10 00:00").date(), 2, 1, 1, 30.0, 0.0),  # user 3's 00:10 belongs to the 09 May session
        (utc("2026-05-11 00:00").date(), 2, 2, 1, 55.0, 80.0),
    ]
    assert_frame_equal(
        days, daily_kpis(expected.activity, expected.sessions, expected.orders, expected.users, start=days["date"][0], end=days["date"][-1], tz=TZ),
    )


def test_without_a_change_stamp_a_refund_older_than_the_window_waits_for_the_full_refresh(server, tmp_path):
    """What the window cannot see: an order of 1 May refunded on 11 May, on a mapping that
    names no updated-at column; the full refresh (sidebar, CLI, or once a day) reads it."""
    fill(server)
    extract = ExtractSource(lambda: SqlSource(server), folder=tmp_path / "extract")
    extract.refresh()
    change(server)
    manifest = extract.refresh()
    assert manifest.tables["orders"].incremental and manifest.tables["orders"].updated_newest is None
    assert extract.read_table("orders").filter(pl.col("order_id") == 1)["refund_amount"].to_list() == [None]
    extract.refresh(full=True)
    assert extract.read_table("orders").filter(pl.col("order_id") == 1)["refund_amount"].to_list() == [80.0]


def test_a_refresh_that_loses_a_table_half_way_keeps_the_last_good_extract(server, tmp_path):
    fill(server)
    config = shop_config(server, tmp_path / "extract")
    extract = extract_for(config)
    first = extract.refresh()
    good = {name: extract.read_table(name) for name in first.tables}
    change(server)
    engine = sa.create_engine(server)

    def drop_orders(table: str) -> None:
        if table == "events":  # the users and the events are read, the orders not yet
            with engine.begin() as connection:
                connection.execute(sa.text("DROP TABLE orders"))

    with pytest.raises(SourceError, match="orders"):
        extract.refresh(progress=drop_orders)
    engine.dispose()
    assert extract.manifest().generation == first.generation and extract.stale is not None
    assert not extract.stale.unreachable
    for name, frame in good.items():
        assert_frame_equal(extract.read_table(name), frame)
    assert not [path for path in extract.folder.iterdir() if f".{first.generation + 1}." in path.name]


def test_a_refresh_of_an_unreachable_server_keeps_the_last_good_extract(server, tmp_path):
    """The server goes away between two refreshes (here: its address stops answering)."""
    fill(server)
    folder = tmp_path / "extract"
    reachable = {"url": server}
    extract = ExtractSource(lambda: SqlSource(reachable["url"]), folder=folder)
    first = extract.refresh()
    good = extract.read_table("events")
    reachable["url"] = server.set(port=1)  # nothing listens there
    with pytest.raises(SourceError):
        extract.refresh()
    assert extract.stale.unreachable and extract.manifest().generation == first.generation
    assert_frame_equal(extract.read_table("events"), good)


def test_the_refresh_command_reads_the_changes_or_everything(server, tmp_path, capsys):
    fill(server)
    config = shop_config(server, tmp_path / "extract")
    secrets = tmp_path / "secrets.toml"
    shop = config.source
    secrets.write_text(
        f"[connections.shop]\nurl = '{shop.url}'\nmapping = '{shop.mapping}'\nextract_folder = '{shop.extract_folder}'\n"
        "pushdown = 'never'\nrefresh_window_days = 1\n"
    )
    assert main(["refresh", "--secrets", str(secrets)]) == 0
    change(server)
    assert main(["refresh", "--secrets", str(secrets)]) == 0
    assert main(["refresh", "--full", "--secrets", str(secrets)]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[:4] == ["users: 5 rows (whole)", "events: 10 rows (whole)", "orders: 2 rows (whole)", "tickets: 1 rows (whole)"]
    assert printed[5:9] == [
        "users: 5 rows (changes after 2026-05-04 08:00 UTC)",
        "events: 14 rows (changes after 2026-05-09 20:00 UTC)",  # the late event of 8 May is older than a day
        "orders: 3 rows (changes after 2026-05-09 19:50 UTC)",
        "tickets: 1 rows (changes after 2026-05-08 12:00 UTC)",
    ]
    assert printed[10:14] == ["users: 5 rows (whole)", "events: 15 rows (whole)", "orders: 3 rows (whole)", "tickets: 1 rows (whole)"]
    assert printed[14].startswith("generation 3 at ")


def test_a_shop_read_directly_has_nothing_to_refresh(small_shop_db, tmp_path, capsys):
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(f"[connections.shop]\nurl = 'sqlite:///{small_shop_db}'\n")
    with pytest.raises(SystemExit) as stopped:
        main(["refresh", "--secrets", str(secrets)])
    assert stopped.value.code == 2
    assert "read directly, not through an extract" in capsys.readouterr().err


def test_every_canonical_table_has_a_key_or_no_time():
    """A table refreshed by its changes replaces rows by key, or is append-only (events)."""
    from connectors.extracts import KEYS
    from connectors.schema import TIME_COLUMN

    assert set(TIME_COLUMN) - set(KEYS) == {"events"}
    for name, keys in KEYS.items():
        assert set(keys) <= set(TABLES[name].columns)


def test_a_loaded_shop_two_refreshes_old_catches_up_by_both_changes(server, tmp_path):
    fill(server)
    config = shop_config(server, tmp_path / "extract")
    extract = extract_for(config)
    extract.refresh()
    before = load_configured(config, extract)
    assert before.activity.height == 9
    change(server)
    engine = sa.create_engine(server)
    with engine.begin() as connection:
        connection.execute(EVENTS.insert(), [event(5, "2026-05-11 10:20", "purchase")])
    engine.dispose()
    extract.refresh()
    latest = extract.refresh()
    assert latest.replaced_since(latest.generation - 2) is not None
    loaded = load_configured(config, extract)
    assert "activity" in loaded.__dict__  # brought up to date from the first load, not derived over every event
    assert_same_shop(loaded, load_shop(extract, session_gap=config.settings.session_gap, tz=TZ))


def test_the_sidebar_refreshes_by_changes_or_in_full(server, small_shop_db, small_shop, tmp_path):
    """The dashboard on the small shop in PostgreSQL: Refresh data reads a new order of
    today; an order of last week whose amount is corrected is read by Full refresh only (the
    canonical orders name no updated-at column, and it is older than the window)."""
    from streamlit.testing.v1 import AppTest

    from connectors import open_source
    from metrics.periods import period_summary
    from metrics.registry import KPIS, format_value
    from sample_data.server_store import write_server
    from shop_analytics.ui.extract_status import FULL_REFRESH_KEY, REFRESH_KEY
    from shop_analytics.ui.filters import DATES_KEY

    source = open_source(small_shop_db)
    write_server({name: source.read_table(name) for name in TABLES if name in source.table_names()}, server)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    at.secrets["connections"] = {"shop": {"url": server.render_as_string(hide_password=False), "extract_folder": str(tmp_path / "extract")}}
    at.run()
    assert not at.exception and not at.error
    start, end = at.session_state[DATES_KEY]
    shown_tz = "Asia/Shanghai"

    def gmv(extra: float) -> str:
        frames = (small_shop.events, small_shop.sessions, small_shop.orders, small_shop.users)
        return format_value(KPIS["gmv"], period_summary(*frames, start=start, end=end, tz=shown_tz)["gmv"] + extra, compact=True)

    def card() -> str:
        return next(metric.value for metric in at.metric if metric.label == "GMV")

    assert card() == gmv(0)
    assert len({gmv(0), gmv(250), gmv(1250)}) == 3  # the card tells the three apart
    valid = small_shop.orders.filter(pl.col("status").cast(pl.String).is_in(["paid", "shipped", "completed"]))
    last = small_shop.orders["created_at"].max()
    old = valid.filter(pl.col("created_at") < last - timedelta(days=5), pl.col("created_at") > utc(f"{start} 00:00") + timedelta(days=1)).row(0, named=True)
    engine = sa.create_engine(server)
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE orders SET amount = amount + 1000 WHERE order_id = :id"), {"id": old["order_id"]})
        connection.execute(
            sa.text("INSERT INTO orders (order_id, user_id, created_at, amount, status) VALUES (:id, :user, :at, 250, 'paid')"),
            {"id": int(small_shop.orders["order_id"].max()) + 1, "user": int(small_shop.users["user_id"][0]), "at": last},
        )
    engine.dispose()
    at.sidebar.button(key=REFRESH_KEY).click().run()
    assert not at.exception and not at.error
    assert card() == gmv(250)  # the new order; the corrected one is older than the window
    at.sidebar.button(key=FULL_REFRESH_KEY).click().run()
    assert not at.exception and not at.error
    assert card() == gmv(1250)
