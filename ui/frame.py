"""Keeping every page inside app.py's frame (navigation, filters, data-source status)."""

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager


def ensure_app_frame() -> None:
    """Rerun through app.py when Streamlit ran this page on its own.

    Streamlit treats a `pages/` folder as a legacy multipage app until `st.navigation` has
    run once in the process, so the first request for a page's URL on a fresh server (or any
    page switch under AppTest) runs the page file alone: no filters, no frame. Turning that
    mode off and rerunning lets app.py build the navigation and run the page inside it.
    Every page calls this first.
    """
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()
