"""Sessions derived again for the changed users only (loading.rederive_sessions) equal
sessions derived over every event: random shops refreshed by random batches, with events
that arrive late within the window, continue a session across the cut, share an instant,
or come from new users."""

import tempfile
from datetime import timedelta
from pathlib import Path

import polars as pl
from conftest import utc
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from connectors import FolderSource
from connectors.extracts import ExtractSource
from shop_analytics.loading import PreviousLoad, load_shop

T0 = utc("2026-03-29 22:00")  # the week, the month and the business day change within the data
GAP = timedelta(minutes=30)
WINDOW = timedelta(hours=3)
TZ = "Asia/Shanghai"
SCHEMA = {"user_id": pl.Int64, "event_time": pl.Datetime("us", "UTC"), "event_type": pl.String, "channel": pl.String, "device": pl.String}

kinds = st.sampled_from(["page_view", "product_view", "add_to_cart", "purchase"])
channels = st.sampled_from(["ads", "seo", "email", None])
first_rows = st.lists(st.tuples(st.integers(1, 6), st.integers(0, 48 * 60), kinds, channels), min_size=1, max_size=60)
# minutes around the newest event of the time: negative ones arrive late (within the window)
batch_rows = st.lists(st.tuples(st.integers(1, 8), st.integers(-170, 240), kinds, channels), max_size=15)


def plain(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(pl.col(pl.Categorical).cast(pl.String))


@settings(max_examples=50, deadline=None)
@given(first=first_rows, batches=st.lists(batch_rows, min_size=1, max_size=3), ask_activity=st.booleans(), ask_events=st.booleans())
def test_loading_the_changes_equals_loading_everything(first, batches, ask_activity, ask_events):
    with tempfile.TemporaryDirectory() as directory:
        folder, extract_folder = Path(directory) / "shop", Path(directory) / "extract"
        folder.mkdir()
        rows = [(user, T0 + timedelta(minutes=minute), kind, channel, "mobile" if user % 2 else "desktop") for user, minute, kind, channel in first]

        def write() -> None:
            pl.DataFrame(rows, schema=SCHEMA, orient="row").write_parquet(folder / "events.parquet")

        write()
        # with a users table of its own (a shop without one takes its users from the events)
        users = pl.DataFrame({"user_id": range(1, 9), "signup_at": [T0 - timedelta(days=1)] * 8})
        users.with_columns(pl.col("signup_at").dt.replace_time_zone("UTC")).write_parquet(folder / "users.parquet")
        extract = ExtractSource(lambda: FolderSource(folder), folder=extract_folder, window=WINDOW)
        generation = extract.current().generation
        shop = load_shop(extract, session_gap=GAP, tz=TZ)
        for number, batch in enumerate(batches, 1):
            if ask_activity:
                assert shop.activity.height > 0
            newest = max(row[1] for row in rows)
            rows.extend((user, newest + timedelta(minutes=minute), kind, channel, "tablet") for user, minute, kind, channel in batch)
            write()
            extract.refresh()
            loaded = load_shop(extract, session_gap=GAP, tz=TZ, previous=PreviousLoad(shop, generation, GAP))
            again = load_shop(extract, session_gap=GAP, tz=TZ)
            # the activity events come derived for the changed users when the shop before had them
            assert ("activity" in loaded.__dict__) == ("activity" in shop.__dict__)
            # the events are made when first asked for; the dates span is known before
            assert loaded.tables.placed("events") is not None and "events" in loaded.tables
            assert loaded.date_span(TZ) == again.date_span(TZ)
            assert_frame_equal(plain(loaded.sessions), plain(again.sessions))
            assert_frame_equal(plain(loaded.activity), plain(again.activity))
            # the next refresh may start from a shop whose events were never made
            if ask_events or number == len(batches):
                assert_frame_equal(plain(loaded.events), plain(again.events))
                assert loaded.tables.placed("events") is None
            shop, generation = loaded, extract.generation


def test_a_session_continued_across_the_cut_is_one_session(tmp_path):
    """Literal: user 1 browses at 10:00 and 10:20; the refresh brings 10:40 (within 30
    minutes of 10:20) and a late 09:50; user 2's 08:00 session is untouched."""
    folder = tmp_path / "shop"
    folder.mkdir()
    rows = [(1, utc("2026-05-10 10:00"), "page_view", "seo", "mobile"), (1, utc("2026-05-10 10:20"), "add_to_cart", "ads", "mobile"),
            (2, utc("2026-05-10 08:00"), "page_view", "email", "desktop")]
    pl.DataFrame(rows, schema=SCHEMA, orient="row").write_parquet(folder / "events.parquet")
    extract = ExtractSource(lambda: FolderSource(folder), folder=tmp_path / "extract", window=WINDOW)
    shop = load_shop(extract, session_gap=GAP, tz="UTC")
    generation = extract.generation
    rows += [(1, utc("2026-05-10 10:40"), "purchase", "ads", "mobile"), (1, utc("2026-05-10 09:50"), "page_view", "email", "mobile")]
    pl.DataFrame(rows, schema=SCHEMA, orient="row").write_parquet(folder / "events.parquet")
    extract.refresh()
    loaded = load_shop(extract, session_gap=GAP, tz="UTC", previous=PreviousLoad(shop, generation, GAP))
    assert plain(loaded.sessions).rows() == [
        (1, 1, utc("2026-05-10 09:50"), 4, True, "email", "mobile"),
        (2, 2, utc("2026-05-10 08:00"), 1, False, "email", "desktop"),
    ]
    assert plain(loaded.events).select("user_id", "session_id", "session_channel").rows() == [
        (1, 1, "email"), (1, 1, "email"), (1, 1, "email"), (1, 1, "email"), (2, 2, "email"),
    ]


values = st.one_of(st.none(), st.sampled_from(["a", "b", "c"]))


@given(
    old_rows=st.lists(st.tuples(st.integers(0, 9), values), max_size=30),
    new_rows=st.lists(st.tuples(st.integers(0, 9), values), max_size=10),
    kept=st.lists(st.booleans(), max_size=30),
    new_first=st.lists(st.booleans(), max_size=40),
    untyped_new=st.booleans(),
)
def test_interleaving_places_every_row_where_it_was_asked(old_rows, new_rows, kept, new_first, untyped_new):
    """loading._interleaved against placing the rows one by one: kept rows of an old frame
    (numbers, text and categories, with nulls) and new rows merged at random places; also
    when the new rows' text column was read without values (its type Null)."""
    import numpy as np

    from shop_analytics.loading import _interleaved

    schema = {"number": pl.Int64, "label": pl.String}
    old = pl.DataFrame(old_rows, schema=schema, orient="row").with_columns(category=pl.col("label").cast(pl.Categorical))
    new = pl.DataFrame(new_rows, schema=schema, orient="row").with_columns(category=pl.col("label").cast(pl.Categorical))
    if untyped_new:
        new = new.with_columns(label=pl.lit(None))
    rows = np.array([row for row, keep in zip(range(old.height), kept + [True] * old.height) if keep], np.int64)
    # a random merge of the kept and the new rows, each side in its own order
    order, taken_old, taken_new = [], 0, 0
    for new_next in new_first + [False] * rows.size + [True] * new.height:
        if new_next and taken_new < new.height:
            order.append(("new", taken_new))
            taken_new += 1
        elif not new_next and taken_old < rows.size:
            order.append(("old", int(rows[taken_old])))
            taken_old += 1
    source_rows = np.array([row if side == "old" else 0 for side, row in order], np.int64)
    new_at = np.array([place for place, (side, _) in enumerate(order) if side == "new"], np.int64)
    expected = [old.row(row) if side == "old" else new.row(row) for side, row in order]
    assert _interleaved(old, new, source_rows, new_at).with_columns(pl.col("category").cast(pl.String)).rows() == expected


def test_placed_events_are_made_once_for_threads_that_ask_together():
    """Tables with placed events: asking whether they are there makes nothing; their
    sessions' rows and last times are read without making them; pages asking for them at
    once get the one frame, made once, with each session's rows where they were placed and
    session ids 1..n; tables made from these with other tables share the same events."""
    import threading

    import numpy as np

    from shop_analytics.loading import PlacedEvents, Tables

    base = pl.DataFrame({"user_id": [1, 1, 2], "event_time": [10, 20, 5], "session_id": [1, 1, 2], "page": ["a", "b", "c"]})
    new = pl.DataFrame({"user_id": [1], "event_time": [15], "page": ["n"]})
    # user 1's session of "a" and "b" is now three: "a", the new "n", "b"; user 2's stays
    placed = PlacedEvents(base, new, np.array([False, True, False, False]), np.array([0, 0, 1, 2]), np.array([1, 1, 1, 1]))
    tables = Tables({"users": pl.DataFrame({"user_id": [1]})}, {"events": placed})
    assert "events" in tables and sorted(tables) == ["events", "users"] and len(tables) == 2 and not placed.is_made
    assert placed.last_times().to_list() == [10, 15, 20, 5]
    assert placed.rows_of(np.array([1, 3]), ["user_id", "page"]).rows() == [(1, "n"), (2, "c")]
    updated = tables.updated({"users": pl.DataFrame({"user_id": [2]})})
    got = []
    threads = [threading.Thread(target=lambda: got.append(tables["events"])) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(frame is got[0] for frame in got) and updated["events"] is got[0]
    assert got[0].rows() == [(1, 10, 1, "a"), (1, 15, 2, "n"), (1, 20, 3, "b"), (2, 5, 4, "c")]
    assert tables.placed("events") is None and updated["users"]["user_id"].to_list() == [2]


def test_events_placed_on_placed_events_are_the_placement_of_the_made_ones():
    """PlacedEvents.placed (a load by changes on one whose events were never made) gives
    the rows that placing on the made events gives, the new rows of the kept sessions
    carried over and those of the sessions not kept dropped."""
    import numpy as np

    from shop_analytics.loading import PlacedEvents

    base = pl.DataFrame({"user_id": [1, 2, 3], "event_time": [1, 2, 3], "session_id": [1, 2, 3], "page": ["a", "b", "c"]})
    new = pl.DataFrame({"user_id": [1, 2], "event_time": [4, 5], "page": ["n", "o"]})
    # sessions: a | n | b | o | c (the new ones after each user's own)
    first = PlacedEvents(base, new, np.array([False, True, False, True, False]), np.array([0, 0, 1, 1, 2]), np.array([1, 1, 1, 1, 1]))
    # the next load keeps sessions 0, 1, 3 and 4 (drops "b"), and adds "m" and "p" as one session after "o"
    kept, kept_places, new_places = np.array([0, 1, 3, 4]), np.array([0, 1, 2, 4]), np.array([3])
    later = pl.DataFrame({"user_id": [2, 2], "event_time": [6, 7], "page": ["m", "p"]})
    on_placed = first.placed(kept, kept_places, new_places, later, np.array([2]))
    on_made = PlacedEvents.whole(first.made(), 5).placed(kept, kept_places, new_places, later, np.array([2]))
    expected = [(1, 1, 1, "a"), (1, 4, 2, "n"), (2, 5, 3, "o"), (2, 6, 4, "m"), (2, 7, 4, "p"), (3, 3, 5, "c")]
    assert on_placed.made().rows() == on_made.made().rows() == expected
