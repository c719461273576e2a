"""Shop analytics: the picture frame. Builds the navigation, the language switch, the shared
filters and the data-source status, then runs the chosen page."""

import streamlit as st

from connectors import SourceError
from shop_analytics.access import pages_for
from shop_analytics.config import ConfigError
from shop_analytics.loading import MissingTable
from shop_analytics.pushdown import NeedsEvents
from shop_analytics.ui import access, data, extract_status, filters, warmup
from shop_analytics.ui.frame import say_missing_table, say_needs_events
from shop_analytics.ui.lang import draw_switch, t

# Navigation sections and their pages (file stem = URL path = key of its title in locales/nav.toml).
SECTIONS = {
    "daily": [("overview", ":material/dashboard:")],
    "analysis": [
        ("channels", ":material/campaign:"),
        ("campaigns", ":material/savings:"),
        ("products", ":material/inventory_2:"),
        ("funnel", ":material/filter_alt:"),
        ("paths", ":material/account_tree:"),
        ("cohorts", ":material/grid_on:"),
        ("segments", ":material/groups:"),
        ("demand", ":material/trending_up:"),
        ("checkout", ":material/shopping_cart:"),
        ("service", ":material/support_agent:"),
        ("explore", ":material/pivot_table_chart:"),
    ],
    "management": [("alerts", ":material/notifications:"), ("reports", ":material/description:"), ("targets", ":material/flag:")],
    "settings": [("data_source", ":material/database:")],
}

st.set_page_config(page_title=t("nav.app_title"), page_icon=":material/monitoring:", layout="wide")
draw_switch()
try:
    data.current_config()
except ConfigError as error:
    # one wrong key stops every page alike: a page computed on half a configuration would
    # show numbers that disagree with the CLI, the report and the alerts
    st.error(t("nav.bad_config", error=error))
    st.stop()
role = access.gate()  # None until someone signs in ([access] configured)
allowed = set(pages_for(role)) if role else set()

sections = {
    t(f"nav.{section}"): [
        st.Page(f"pages/{name}.py", title=t(f"nav.{name}"), icon=icon, default=name == "overview")
        for name, icon in pages
        if name in allowed
    ]
    for section, pages in SECTIONS.items()
    if any(name in allowed for name, _ in pages)
} or {"": []}
# The other pages' URLs stay known, hidden: they sign in, or say that the role cannot open them.
next(iter(sections.values())).extend(access.stand_in(name) for pages in SECTIONS.values() for name, _ in pages if name not in allowed)
navigation = st.navigation(sections, position="top")
if role is None:
    navigation.run()  # the page asked for, whose open_page signs in first
    st.stop()

try:
    settings = data.settings()
    shop = data.current_shop()
except (SourceError, ValueError) as error:
    if navigation.url_path == "data_source":
        navigation.run()  # where the source is fixed; it says what is wrong itself
        st.stop()
    st.error(t("nav.cannot_load", error=error))
    st.info(t("nav.cannot_load_help"))
    if "data_source" in allowed:
        st.page_link("pages/data_source.py", label=t("nav.data_source"), icon=":material/database:")
    st.stop()

filters.draw_sidebar(shop, settings.time_zone)
st.sidebar.caption(t("nav.source", description=shop.description))
extract_status.draw()
try:
    navigation.run()
except NeedsEvents as error:
    # a page that needs every event, on a shop read with push-down: say so instead of a traceback
    say_needs_events(navigation.title, error)
except MissingTable as error:
    # a section of a page reads a table the shop lacks: what it drew before stays, and one
    # line says which table and how to map it
    say_missing_table(navigation.title, error)
finally:
    # once the page is drawn (also when it stopped early): the first visitor's page does not
    # share the cores with the warm-up
    warmup.start()
