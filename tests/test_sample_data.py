"""The sample shop: reproducible, complete, shaped like a real shop, and stored readably in SQLite."""

import re
import sqlite3
from datetime import date, timedelta

import polars as pl
import pytest
from hypothesis import given, settings, strategies
from polars.testing import assert_frame_equal

from connectors.schema import TABLES
from sample_data.generator import GENERATION_STEPS, generate_shop, simulate_shop
from sample_data.sqlite_store import write_sqlite

USERS, EVENTS = 3_000, 120_000
TZ = "Asia/Shanghai"
VALID = ("paid", "shipped", "completed", "refunded")


@pytest.fixture(scope="module")
def shop():
    return simulate_shop(users=USERS, events=EVENTS, seed=7)


@pytest.fixture(scope="module")
def tables(shop):
    return shop.tables


def derive_sessions(events: pl.DataFrame) -> pl.DataFrame:
    """Sessions derived from the events alone: a new one at a user's first event and after
    every gap of more than 30 minutes."""
    return (
        events.sort("user_id", "event_time", maintain_order=True)
        .with_columns(
            starts=(pl.col("event_time").diff().over("user_id") > pl.duration(minutes=30)).fill_null(True)
        )
        .with_columns(session=pl.col("starts").cum_sum())
        .group_by("session", maintain_order=True)
        .agg(
            pl.col("user_id").first(),
            pl.col("channel").first(),
            pl.col("event_type").first().alias("first_type"),
            pl.len().alias("events"),
            (pl.col("event_type") == "purchase").any().alias("purchased"),
            (pl.col("event_type") == "checkout").any().alias("checked_out"),
            pl.col("channel").n_unique().alias("channels"),
        )
    )


@pytest.fixture(scope="module")
def sessions(tables):
    return derive_sessions(tables["events"])


def valid_orders(tables) -> pl.DataFrame:
    return tables["orders"].filter(pl.col("status").is_in(VALID))


def daily(frame: pl.DataFrame, column: str, value: pl.Expr) -> pl.DataFrame:
    """`value` per Shanghai day of `column`, every day of the shop's year present (0 when empty)."""
    days = pl.DataFrame({"day": pl.date_range(date(2025, 11, 23), date(2026, 11, 22), eager=True)})
    totals = frame.group_by(pl.col(column).dt.convert_time_zone(TZ).dt.date().alias("day")).agg(
        value.alias("value")
    )
    return days.join(totals, on="day", how="left").with_columns(pl.col("value").fill_null(0))


def test_the_same_seed_gives_identical_tables_and_another_seed_different_ones(tables):
    again = generate_shop(users=USERS, events=EVENTS, seed=7)
    assert list(again) == list(tables)
    for name, frame in tables.items():
        assert_frame_equal(again[name], frame)
    other = generate_shop(users=USERS, events=EVENTS, seed=8)
    assert not other["events"].equals(tables["events"])


@pytest.mark.parametrize(("users", "events"), [(USERS, EVENTS), (500, 100_000), (20_000, 60_000)])
def test_users_are_exact_and_events_within_one_percent_of_the_target(users, events):
    tables = generate_shop(users=users, events=events, seed=3)
    assert tables["users"].height == users
    assert 0.99 * events <= tables["events"].height <= events


@settings(max_examples=12, deadline=None)
@given(
    users=strategies.integers(10, 3_000),
    events_per_user=strategies.integers(1, 200),
    seed=strategies.integers(0, 2**32 - 1),
)
def test_any_scale_meets_the_event_target_with_sessions_kept_apart(users, events_per_user, seed):
    events = max(users * events_per_user, 1_000)
    shop = simulate_shop(users=users, events=events, seed=seed)
    assert shop.tables["users"].height == users
    assert 0.99 * events <= shop.tables["events"].height <= events
    assert derive_sessions(shop.tables["events"]).height == shop.session_count


def test_progress_is_reported_after_each_generation_step_in_order():
    steps = []
    generate_shop(users=50, events=2_000, progress=steps.append)
    assert steps == list(GENERATION_STEPS)


def test_every_canonical_table_and_column_is_there_with_its_dtype(tables):
    assert set(tables) == set(TABLES)
    for name, table in TABLES.items():
        expected = {
            column: dtype
            for column, dtype in table.columns.items()
            if (name, column) != ("events", "session_id")
        }
        schema = tables[name].schema
        assert set(schema) == set(expected), name
        for column, dtype in expected.items():
            if dtype is None:
                assert schema[column].is_integer(), (name, column)
            else:
                # labels are written as text; sources hand them out categorical
                assert schema[column] == (pl.String if dtype == pl.Categorical else dtype), (name, column)
    assert "session_id" not in tables["events"].columns


def test_the_catalogue_and_campaigns_have_realistic_sizes(tables):
    products = tables["products"]
    assert 1_500 <= products.height <= 3_000
    assert products["category"].n_unique() == 8
    assert (
        (products["cost"] >= 0.5 * products["price"] - 0.01) & (products["cost"] <= 0.8 * products["price"])
    ).all()
    campaigns = tables["campaigns"]
    assert 8 <= campaigns.height <= 12
    names = " ".join(campaigns["name"])
    assert "618" in names and "Double 11" in names
    double_11 = campaigns.filter(pl.col("name").str.contains("Double 11")).row(0, named=True)
    assert (double_11["start_date"], double_11["end_date"]) == (date(2026, 11, 1), date(2026, 11, 11))


def test_events_fit_their_users_pages_and_products(tables):
    events = tables["events"]
    first_seen = (
        events.group_by("user_id").agg(pl.col("event_time").min()).join(tables["users"], on="user_id")
    )
    assert (first_seen["event_time"] >= first_seen["signup_at"]).all()
    pages = events.group_by("event_type").agg(pl.col("page").unique().sort())
    assert dict(pages.iter_rows()) == {
        "page_view": ["campaign", "cart", "category", "home"],
        "search": ["search"],
        "product_impression": ["campaign", "category", "home", "search"],
        "product_click": ["campaign", "category", "home", "search"],
        "product_view": ["product"],
        "add_to_cart": ["product"],
        "checkout": ["checkout"],
        "purchase": ["order_success"],
    }
    with_product = events.select(
        expected=~pl.col("event_type").is_in(["page_view", "search", "checkout"]),
        actual=pl.col("product_id").is_not_null(),
    )
    assert (with_product["expected"] == with_product["actual"]).all()
    assert events["product_id"].drop_nulls().is_in(tables["products"]["product_id"].implode()).all()
    searches = events.filter(pl.col("event_type") == "search")["search_term"]
    assert searches.null_count() == 0
    assert searches.str.contains(r"[\u4e00-\u9fff]").any() and searches.str.contains(r"^[a-z ]+$").any()
    assert events.filter(pl.col("event_type") != "search")["search_term"].is_null().all()


def test_derived_sessions_are_exactly_the_generated_visits(shop, sessions):
    assert sessions.height == shop.session_count
    assert sessions["first_type"].unique().to_list() == ["page_view"]
    assert sessions["channels"].max() == 1


def test_channels_differ_in_bounce_rate(sessions):
    by_channel = sessions.group_by("channel").agg(bounce=(pl.col("events") == 1).mean(), n=pl.len())
    assert by_channel.height >= 5
    assert by_channel["bounce"].max() - by_channel["bounce"].min() >= 0.15
    bounce = dict(by_channel.select("channel", "bounce").iter_rows())
    assert bounce["email"] < bounce["organic"] < bounce["social"]


def test_some_checkouts_fail_to_pay(sessions):
    failed = sessions.filter(pl.col("checked_out") & ~pl.col("purchased")).height
    assert 0.03 <= failed / sessions.filter(pl.col("checked_out")).height <= 0.2


def test_each_order_is_a_purchase_event_of_its_user(tables):
    purchases = tables["events"].filter(pl.col("event_type") == "purchase")
    orders = tables["orders"]
    matched = orders.join(purchases, left_on=["user_id", "created_at"], right_on=["user_id", "event_time"])
    assert orders.height == purchases.height == matched.height
    assert (matched["channel"] == matched["channel_right"]).all()


def test_order_amounts_are_their_items_less_the_discount(tables):
    items = tables["order_items"]
    assert items["quantity"].min() >= 1
    assert items.group_by("order_id").len()["len"].max() <= 4
    totals = items.group_by("order_id").agg(subtotal=(pl.col("quantity") * pl.col("unit_price")).sum())
    orders = tables["orders"].join(totals, on="order_id")
    assert orders.height == tables["orders"].height
    assert ((orders["subtotal"] - orders["discount"] - orders["amount"]).abs() < 0.011).all()
    assert orders.filter(pl.col("coupon_code").is_null())["discount"].max() == 0
    priced = items.join(tables["products"], on="product_id")
    assert (priced["unit_price"] / priced["price"]).is_between(0.79, 1.0).all()
    amounts = valid_orders(tables)["amount"]
    assert amounts.quantile(0.99) > 4 * amounts.median()


def test_order_statuses_and_their_timestamps(tables):
    orders = tables["orders"]
    valid = valid_orders(tables)
    refunded_share = (valid["status"] == "refunded").mean()
    assert 0.03 <= refunded_share <= 0.07
    # About 3 % are cancelled; a few hundred orders leave a sampling error of about 0.7 %.
    cancelled_share = (orders["status"] == "cancelled").mean()
    assert 0.01 <= cancelled_share <= 0.05
    data_end = pl.datetime(2026, 11, 23, time_zone=TZ).dt.convert_time_zone("UTC")
    pending = orders.filter(pl.col("status") == "pending")
    assert pending.height > 0
    assert pending.select((data_end - pl.col("created_at")).max()).item() <= timedelta(days=2)
    assert pending["paid_at"].null_count() == pending.height
    refund_columns = orders.select(
        refunded=pl.col("status") == "refunded",
        has_refund=pl.col("refund_amount").is_not_null() & pl.col("refunded_at").is_not_null(),
    )
    assert (refund_columns["refunded"] == refund_columns["has_refund"]).all()
    refunds = orders.filter(pl.col("status") == "refunded")
    assert (refunds["refund_amount"] <= refunds["amount"]).all()
    assert (refunds["refund_amount"] < refunds["amount"]).any()
    paid = valid.select(wait=pl.col("paid_at") - pl.col("created_at"))["wait"]
    assert paid.min() > timedelta(0) and paid.max() <= timedelta(minutes=16)
    to_ship = valid.drop_nulls("shipped_at").select(
        hours=(pl.col("shipped_at") - pl.col("paid_at")).dt.total_hours()
    )
    assert 0.03 <= (to_ship["hours"] > 48).mean() <= 0.15
    delivered = valid.drop_nulls("delivered_at")
    assert (delivered["delivered_at"] > delivered["shipped_at"]).all()


def test_the_double_11_festival_lifts_daily_gmv(tables):
    gmv = daily(valid_orders(tables), "created_at", pl.col("amount").sum())
    window = gmv.filter(pl.col("day").is_between(date(2026, 11, 1), date(2026, 11, 11)))["value"].mean()
    before = gmv.filter(pl.col("day").is_between(date(2026, 10, 4), date(2026, 10, 31)))["value"].mean()
    assert window >= 1.3 * before


def test_traffic_has_a_weekly_and_a_daily_rhythm(tables):
    events = daily(tables["events"], "event_time", pl.len())
    by_weekday = events.group_by(pl.col("day").dt.weekday()).agg(pl.col("value").mean())["value"]
    assert by_weekday.max() >= 1.05 * by_weekday.min()
    hours = (
        tables["events"].group_by(pl.col("event_time").dt.convert_time_zone(TZ).dt.hour().alias("hour")).len()
    )
    per_hour = dict(hours.iter_rows())
    assert per_hour[21] > 5 * per_hour[4]
    assert per_hour[12] > per_hour[16]


def test_ad_spend_has_channel_costs_around_one_yuan_per_click(tables):
    ad_spend = tables["ad_spend"]
    assert ad_spend.height == 365 * ad_spend["channel"].n_unique()
    by_channel = ad_spend.group_by("channel").agg(
        cpc=pl.col("spend").sum() / pl.col("clicks").sum(),
        ctr=pl.col("clicks").sum() / pl.col("impressions").sum(),
    )
    cpc = dict(by_channel.select("channel", "cpc").iter_rows())
    assert max(cpc.values()) > 1.0
    assert all(0.6 <= cpc[channel] <= 1.5 for channel in ("paid_search", "social", "affiliate"))
    assert by_channel["ctr"].is_between(0.01, 0.04).all()
    in_campaign = ad_spend.filter(pl.col("campaign_id").is_not_null())
    assert in_campaign["spend"].mean() > ad_spend.filter(pl.col("campaign_id").is_null())["spend"].mean()


def test_reviews_come_in_chinese_and_english_and_rate_mostly_high(tables):
    reviews = tables["reviews"]
    texts = reviews["text"].to_list()
    assert any(re.search(r"[\u4e00-\u9fff]", text) for text in texts)
    assert any(re.fullmatch(r"[A-Za-z ,.!']+", text) for text in texts)
    assert reviews["rating"].mean() >= 3.8
    completed = tables["orders"].filter(pl.col("status") == "completed").height
    assert 0.15 <= reviews.height / completed <= 0.3
    after_delivery = reviews.join(tables["orders"], on="order_id").select(
        (pl.col("created_at") > pl.col("delivered_at")).all()
    )
    assert after_delivery.item()


def test_tickets_are_mostly_answered_within_a_day(tables):
    tickets = tables["tickets"]
    assert set(tickets["category"]) == {"inquiry", "complaint", "return", "other"}
    answered = tickets.drop_nulls("first_response_at").select(
        hours=(pl.col("first_response_at") - pl.col("created_at")).dt.total_seconds() / 3600
    )["hours"]
    assert 0.80 <= (answered <= 24).mean() <= 0.95
    assert 6 <= answered.median() <= 22
    refunded = tables["orders"].filter(pl.col("status") == "refunded")["order_id"]
    returns = tickets.filter(pl.col("category") == "return")["order_id"]
    assert refunded.is_in(returns.implode()).all()
    assert tickets["order_id"].null_count() > 0
    satisfaction = tickets.drop_nulls("satisfaction").with_columns(
        late=(pl.col("first_response_at") - pl.col("created_at")) > pl.duration(hours=24)
    )
    by_lateness = dict(satisfaction.group_by("late").agg(pl.col("satisfaction").mean()).iter_rows())
    assert by_lateness[True] < by_lateness[False] - 0.3


def test_write_sqlite_round_trips_with_typed_columns(tables, tmp_path):
    path = tmp_path / "nested" / "shop.db"
    written = []
    write_sqlite(tables, path, progress=written.append)
    assert written == list(tables)
    assert [entry.name for entry in path.parent.iterdir()] == ["shop.db"]
    events = pl.read_database_uri("SELECT * FROM events", f"sqlite:///{path}")
    assert events.height == tables["events"].height
    assert isinstance(events.schema["event_time"], pl.Datetime)
    first = tables["events"].sort("event_time").row(0, named=True)["event_time"]
    assert events["event_time"].min() == first.replace(tzinfo=None)
    campaigns = pl.read_database_uri("SELECT start_date FROM campaigns", f"sqlite:///{path}")
    assert campaigns.schema["start_date"] == pl.Date
    with sqlite3.connect(path) as connection:
        indexes = {
            row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'index'")
        }
    assert {"ix_events_event_time", "ix_events_user_id_event_time", "ix_orders_created_at"} <= indexes


def test_an_interrupted_write_leaves_the_previous_database_in_place(tables, tmp_path):
    path = tmp_path / "shop.db"
    small = {"products": tables["products"]}
    write_sqlite(small, path)

    def interrupt(table):
        if table == "events":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_sqlite(tables, path, progress=interrupt)
    assert [entry.name for entry in tmp_path.iterdir()] == ["shop.db"]
    products = pl.read_database_uri("SELECT * FROM products", f"sqlite:///{path}")
    assert products.height == tables["products"].height
