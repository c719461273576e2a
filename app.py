"""Shop analytics: the picture frame. Builds the navigation, the shared filters and the
data-source status, then runs the chosen page."""

import streamlit as st

from connectors import SourceError
from ui import data, filters

st.set_page_config(page_title="Shop analytics", page_icon=":material/monitoring:", layout="wide")

navigation = st.navigation(
    {
        "Daily": [
            st.Page("pages/overview.py", title="Overview", icon=":material/dashboard:", default=True),
        ],
        "Analysis": [
            st.Page("pages/channels.py", title="Traffic & channels", icon=":material/campaign:"),
            st.Page("pages/products.py", title="Products", icon=":material/inventory_2:"),
            st.Page("pages/funnel.py", title="Funnel", icon=":material/filter_alt:"),
            st.Page("pages/cohorts.py", title="Cohorts", icon=":material/grid_on:"),
            st.Page("pages/checkout.py", title="Search & checkout", icon=":material/shopping_cart:"),
            st.Page("pages/service.py", title="Service & reviews", icon=":material/support_agent:"),
        ],
        "Settings": [
            st.Page("pages/data_source.py", title="Data source", icon=":material/database:"),
        ],
    }
)

try:
    settings = data.settings()
    shop = data.current_shop()
except (SourceError, ValueError) as error:
    st.error(f"The shop's data cannot be loaded: {error}")
    st.info(
        "Point the dashboard at a database in `.streamlit/secrets.toml` under "
        "`[connections.shop]` (see `.streamlit/secrets.toml.example`), or remove that section "
        "to use the sample shop."
    )
    st.stop()

filters.draw_sidebar(shop, settings.time_zone)
st.sidebar.caption(f"Source: {shop.description}")
navigation.run()
