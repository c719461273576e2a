"""The pages on a shop read with push-down (AppTest over the small sample shop in SQLite,
`pushdown = "always"`): the Funnel page offers the in-memory page's choices and shows its
numbers; the Data sources page counts the events it does not hold and reads a bounded number
of them; a page that needs every event says so in the session's language, without a
traceback."""

from pathlib import Path

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

import shop_analytics.ui.sources
from connectors import source_from_settings
from connectors.sql import sqlite_url
from metrics.funnel import drop_offs, funnel
from metrics.funnel_spec import FunnelSpec, FunnelStep
from shop_analytics.i18n import text
from shop_analytics.ui.filters import DATES_KEY

TZ = "Asia/Shanghai"
APP = str(Path(__file__).resolve().parents[1] / "app.py")


def opened(db: Path, mode: str, page: str, lang: str | None = None) -> AppTest:
    """The app on the shop in `db` read with `pushdown = mode`, switched to `page`."""
    at = AppTest.from_file(APP, default_timeout=120)
    at.secrets["connections"] = {"shop": {"url": sqlite_url(db), "pushdown": mode}}
    if lang:
        at.query_params["lang"] = lang
    at.run()
    return at.switch_page(f"pages/{page}.py").run()


def shown(at: AppTest) -> dict:
    """What the Funnel page offers and shows: its pickers' choices, its tables, its headers."""
    assert not at.exception and not at.error, at.exception
    return {
        "steps": at.multiselect(key="funnel_steps").options,
        "breakdowns": at.selectbox(key="funnel_breakdown").options,
        "properties": at.selectbox(key="funnel_filter_column_2").options,
        "values": at.multiselect(key="funnel_filter_values_2").options,
        "tables": [frame.value for frame in at.dataframe],
        "subheaders": [header.value for header in at.subheader],
    }


def test_the_funnel_page_with_pushdown_offers_the_same_choices_and_shows_the_in_memory_funnel(small_shop_db, small_shop):
    screens = {}
    for mode in ("never", "always"):
        at = opened(small_shop_db, mode, "funnel")
        start, end = at.session_state[DATES_KEY]
        # step 2 narrowed to two channels, by region, and step 2's drop-offs clicked
        at.selectbox(key="funnel_filter_column_2").set_value("channel").run()
        at.multiselect(key="funnel_filter_values_2").set_value(["paid_search", "email"]).run()
        at.selectbox(key="funnel_breakdown").set_value("region").run()
        at.session_state["funnel_chart"] = {"selection": {"points": [{"customdata": 2}], "point_indices": [1], "box": [], "lasso": []}}
        screens[mode] = shown(at.run())
    pushed, memory = screens["always"], screens["never"]
    assert pushed["steps"] == memory["steps"] and "purchase" in pushed["steps"]
    assert pushed["breakdowns"] == memory["breakdowns"] and pushed["properties"] == memory["properties"]
    # the picker words the codes (format_func): paid_search is offered as "paid search"
    assert pushed["values"] == memory["values"] and {"paid search", "email"} <= set(pushed["values"])
    assert pushed["subheaders"] == memory["subheaders"] and len(pushed["tables"]) == len(memory["tables"]) == 2
    for on_screen, in_memory in zip(pushed["tables"], memory["tables"]):
        assert on_screen.equals(in_memory)

    # and both are the metric's funnel over every event
    spec = FunnelSpec(
        steps=("product_view", FunnelStep("add_to_cart", (("channel", "in", ("paid_search", "email")),)), "checkout", "purchase"),
        breakdown="region",
    )
    expected = funnel(small_shop.events, spec, start=start, end=end, tz=TZ, users=small_shop.users)
    assert pushed["tables"][0]["users"].tolist() == expected["users"].to_list()
    assert expected.filter(pl.col("step") == 1)["users"].sum() > expected.filter(pl.col("step") == 4)["users"].sum() > 0
    dropped = drop_offs(small_shop.events, spec, start=start, end=end, tz=TZ, users=small_shop.users).filter(pl.col("step") == 2)
    assert sorted(pushed["tables"][1]["user_id"]) == sorted(dropped["user_id"].to_list()) and dropped.height > 0


def test_the_data_sources_page_with_pushdown_counts_the_events_and_reads_a_bounded_sample(small_shop_db, monkeypatch):
    monkeypatch.setattr(shop_analytics.ui.sources, "QUALITY_EVENT_ROWS", 1_000)
    shop_analytics.ui.sources.quality.clear()
    pages = {mode: opened(small_shop_db, mode, "data_source") for mode in ("never", "always")}
    for at in pages.values():
        assert not at.exception and not at.error, at.exception
    pushed = pages["always"]
    assert pushed.dataframe[0].value.equals(pages["never"].dataframe[0].value)
    assert pushed.dataframe[0].value.set_index("table").loc["events", "rows"] == 60_000
    assert any("the 60,000 events stay where they are" in info.value for info in pushed.info)

    pushed.selectbox(key="preview_table").set_value("events").run()
    assert pushed.dataframe[1].value.shape[0] == shop_analytics.ui.sources.PREVIEW_ROWS
    assert any(f"reads these {shop_analytics.ui.sources.PREVIEW_ROWS} of the 60,000 events" in caption.value for caption in pushed.caption)

    zoneless = {}
    for mode, at in pages.items():
        at.toggle(key="quality_run").set_value(True).run()
        assert not at.exception and not at.error, at.exception
        report = at.dataframe[-1].value
        # SQLite stores times as text without a zone: every event read is counted
        zoneless[mode] = report[(report["table"] == "events") & (report["check"] == "timestamps without a zone")]["count"].item()
        others = report[report["table"] != "events"]
        zoneless.setdefault("others", []).append(others.reset_index(drop=True))
    assert zoneless["never"] == 60_000 and zoneless["always"] == 1_000
    assert zoneless["others"][0].equals(zoneless["others"][1])
    assert any("reads the first 1,000 of the 60,000 events" in caption.value for caption in pushed.caption)


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("page", ["products", "paths", "checkout"])
def test_a_page_that_needs_every_event_says_so_in_the_sessions_language(small_shop_db, page, lang):
    at = opened(small_shop_db, "always", page, lang)
    assert not at.exception and not at.error, at.exception
    keeper = source_from_settings({"url": sqlite_url(small_shop_db)}).description
    message = text("nav.needs_events", lang, title=text(f"nav.{page}", lang), events="60,000", keeper=keeper)
    assert [warning.value for warning in at.warning] == [message]
    assert ("需要把全部 60,000 条行为数据读入内存" in message) == (lang == "zh")
