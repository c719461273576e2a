"""The User paths page, headless (AppTest): the paths shown are the metric's for the same
filters, a clicked step's page lists the paths through it, and re-anchoring and Back work."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from connectors.sql import sqlite_url
from metrics.path_tables import path_strings, path_views, top_paths
from metrics.paths import DEFAULT_MIN_SHARE, EXIT
from metrics.segments import Segment
from shop_analytics.i18n import translations
from shop_analytics.ui.filters import CHANNELS_KEY, DATES_KEY

TZ = "Asia/Shanghai"
APP = str(Path(__file__).resolve().parents[1] / "app.py")
EVERYONE = Segment()
NAMES = {"exit": "exit", "entrance": "entrance", "other": "other"}


@pytest.fixture
def app(small_shop_db):
    at = AppTest.from_file(APP, default_timeout=120)
    at.secrets["connections"] = {"shop": {"url": sqlite_url(small_shop_db)}}
    at.run()
    return at.switch_page("pages/paths.py").run()


def expected(shop, period, segment=EVERYONE, **options):
    events = segment.apply(shop.events, shop.sessions, shop.orders, shop.users)[0]
    return path_views(events, start=period[0], end=period[1], tz=TZ, **({"min_share": DEFAULT_MIN_SHARE} | options))


def shown_paths(at, index=-1):
    table = at.dataframe[index].value
    return list(zip(table["path"], table["sessions"]))


def as_text(paths, names=NAMES, lang="en"):
    """The paths as the page writes them: pages in words (locales/values.toml), the special
    nodes by `names`."""
    pages = {key.split(".")[2]: words[lang] for key, words in translations().items() if key.startswith("values.page.")}
    table = path_strings(paths, pages | names)
    return list(zip(table["path"], table["sessions"]))


def test_the_top_paths_are_the_metrics_from_where_sessions_land(app, small_shop):
    assert not app.exception
    period = app.session_state[DATES_KEY]
    views = expected(small_shop, period)
    assert shown_paths(app) == as_text(views["paths"])
    assert f"{views['grouped'].height:,} sessions that began between {period[0]} and {period[1]}" in app.caption[0].value
    first_step = views["nodes"].filter(views["nodes"]["step"] == 1)
    assert app.pills(key="paths_node_1").options == [f"{label} ({sessions:,})" for label, sessions in first_step.select("label", "sessions").iter_rows()]


def test_clicking_a_steps_page_lists_the_paths_through_it_and_back_leaves_it(app, small_shop):
    period = app.session_state[DATES_KEY]
    views = expected(small_shop, period)
    step_two = views["nodes"].filter((views["nodes"]["step"] == 2) & (views["nodes"]["label"] != EXIT)).row(0, named=True)
    app.pills(key="paths_node_2").set_value(step_two["label"]).run()
    assert not app.exception
    assert app.subheader[0].value == f"Paths through step 2: {step_two['label']} ({step_two['sessions']:,} sessions)"
    assert shown_paths(app, 0) == as_text(top_paths(views["grouped"], through=(2, step_two["label"])))
    # a click in another step replaces the first
    app.pills(key="paths_node_1").set_value(views["nodes"]["label"][0]).run()
    assert app.pills(key="paths_node_2").value is None
    assert app.subheader[0].value.startswith("Paths through step 1:")
    app.button(key="paths_back").click().run()
    assert [header.value for header in app.subheader] == ["Top paths"]


def test_starting_the_paths_at_a_clicked_page_and_going_back(app, small_shop):
    period = app.session_state[DATES_KEY]
    app.pills(key="paths_node_2").set_value("product").run()
    app.button(key="paths_start_here").click().run()
    assert not app.exception
    assert app.session_state["paths_direction"] == "from_step" and app.session_state["paths_anchor"] == "product"
    assert shown_paths(app) == as_text(expected(small_shop, period, start_at="product")["paths"])
    assert all(path.startswith("product") for path, _ in shown_paths(app))
    app.button(key="paths_back").click().run()
    assert app.session_state["paths_direction"] == "landing"
    assert shown_paths(app) == as_text(expected(small_shop, period)["paths"])


def test_paths_to_a_chosen_end_with_the_top_branches_only(app, small_shop):
    period = app.session_state[DATES_KEY]
    app.segmented_control(key="paths_direction").set_value("to_step").run()
    app.selectbox(key="paths_anchor").set_value("order_success").run()
    app.segmented_control(key="paths_grouping").set_value("top_n").run()
    app.number_input(key="paths_top_n").set_value(2).run()
    app.slider(key="paths_depth").set_value(4).run()
    assert not app.exception
    views = expected(small_shop, period, end_at="order_success", depth=4, min_share=0.0, top_n=2)
    assert shown_paths(app) == as_text(views["paths"])
    assert all(path.endswith("order success") for path, _ in shown_paths(app))


def test_the_channel_filter_changes_the_paths(app, small_shop):
    period = app.session_state[DATES_KEY]
    everyone = shown_paths(app)
    app.multiselect(key=CHANNELS_KEY).set_value(["email"]).run()
    email = expected(small_shop, period, Segment(channels=("email",)))
    assert shown_paths(app) == as_text(email["paths"]) != everyone


def test_in_chinese(app, small_shop):
    app.session_state["language"] = "zh"
    app.run()
    assert not app.exception
    assert app.title[0].value == "用户路径"
    assert app.subheader[0].value == "最常见路径"
    period = app.session_state[DATES_KEY]
    chinese = {"exit": "离开", "entrance": "进入", "other": "其他"}
    assert shown_paths(app) == as_text(expected(small_shop, period)["paths"], chinese, "zh")
    assert any("商品详情页" in path for path, _ in shown_paths(app))
    assert any(option.startswith("离开（") for option in app.pills(key="paths_node_2").options)


def test_without_events_the_page_says_which_table_it_needs(tmp_path, small_shop):
    for name, table in small_shop.tables.items():
        if name != "events":
            table.drop([column for column in ("device",) if name == "orders" and column in table.columns]).write_parquet(tmp_path / f"{name}.parquet")
    at = AppTest.from_file(APP, default_timeout=120)
    at.secrets["connections"] = {"shop": {"folder": str(tmp_path)}}
    at.run()
    at.switch_page("pages/paths.py").run()
    assert not at.exception
    assert [warning.value for warning in at.warning] == [
        f"User paths needs the events table(s), which {tmp_path} does not have; map them on the Data sources page."
    ]
