"""The page's language: picked in the sidebar, kept in the URL (?lang=zh), default from the
settings; `t` gives a page its words in it from the one translation table (i18n.py)."""

import streamlit as st

from shop_analytics.i18n import LANGUAGES, text

LANGUAGE_KEY = "language"
_SWITCH_KEY = "language_switch"


def language() -> str:
    """The language this session reads: the sidebar's choice, else the link's, else the
    deployment's default."""
    chosen = st.session_state.get(LANGUAGE_KEY) or st.query_params.get("lang")
    if chosen in LANGUAGES:
        return chosen
    from shop_analytics.config import ConfigError
    from shop_analytics.i18n import DEFAULT_LANGUAGE
    from shop_analytics.ui.data import settings

    try:
        return settings().language
    except ConfigError:
        return DEFAULT_LANGUAGE  # the page says what is wrong with the configuration, in words it can read


def t(key: str, **values) -> str:
    """The words for `key` in this session's language."""
    return text(key, language(), **values)


def _switched() -> None:
    st.session_state[LANGUAGE_KEY] = st.session_state[_SWITCH_KEY]


def draw_switch() -> None:
    """The language switch at the top of the sidebar; the choice is kept in the session (and,
    by ui.filters, in the URL) apart from the widget, which Streamlit forgets on page changes."""
    st.session_state[LANGUAGE_KEY] = language()
    st.session_state[_SWITCH_KEY] = st.session_state[LANGUAGE_KEY]
    st.sidebar.radio(
        "Language / 语言",
        list(LANGUAGES),
        format_func=LANGUAGES.get,
        horizontal=True,
        key=_SWITCH_KEY,
        on_change=_switched,
        label_visibility="collapsed",
    )
