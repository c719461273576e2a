"""Page controls kept in the URL, so that a shared link opens the same view: the overview's
comparison and trend KPI, the funnel's steps, window and mode, the cohorts' grain, and so on.

A page calls `linked` just before drawing a control (a widget with a key, drawn without its
own default): on the session's first draw of that control its value comes from the link the
session was opened with (when it names one of the control's values), else it keeps what the
session holds, else `default`; and the value is written to the URL (left out while it is the
default). The sidebar rewrites the whole URL at the start of every run (ui/filters.py), so the
link a session was opened with is kept by `remember_link` before that happens, and each page
writes its own controls again after it: another page's parameters do not linger.
"""

from collections.abc import Callable, Sequence
from typing import Any

import streamlit as st

from shop_analytics.ui.lang import t

OPENED_WITH_KEY = "link_opened_with"
_TAKEN_KEY = "link_controls_taken"


def remember_link() -> None:
    """Keep the URL's parameters as the session's first run finds them."""
    if OPENED_WITH_KEY not in st.session_state:
        st.session_state[OPENED_WITH_KEY] = {name: st.query_params.get_all(name) for name in st.query_params}


def _from_link(param: str, choices: Sequence | None, parse: Callable[[str], Any] | None, many: bool) -> tuple[Any, list[str]]:
    """The value the opening link gives `param` (None when it gives none) and the link's
    values that are not one of the control's."""
    given = st.session_state.get(OPENED_WITH_KEY, {}).get(param) or []
    values, ignored = [], []
    for text in given if many else given[:1]:
        if choices is not None:
            match = [choice for choice in choices if str(choice) == text]
            if match:
                values.append(match[0])
            else:
                ignored.append(text)
            continue
        try:
            values.append(parse(text) if parse is not None else text)
        except ValueError:
            ignored.append(text)
    if not values:
        return None, ignored
    return (values if many else values[0]), ignored


def _written(value: Any) -> str | list[str]:
    if isinstance(value, list | tuple):
        return [str(item) for item in value]
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def linked(
    key: str, param: str, default: Any = None, *, choices: Sequence | None = None,
    parse: Callable[[str], Any] | None = None, many: bool = False,
) -> Any:
    """Before drawing the control `key`: its value from the opening link's `param` on the
    session's first draw (one of `choices`, or read by `parse`; a list with `many`), else the
    session's, else `default`; the value written to the URL as `param` unless it is the
    default. A link value the control cannot take is named in a warning and left out.
    Returns the value the control will show."""
    state = st.session_state
    taken = state.setdefault(_TAKEN_KEY, set())
    if key not in taken:
        taken.add(key)
        value, ignored = _from_link(param, choices, parse, many)
        if value is not None:
            state[key] = value
        if ignored:
            st.warning(t("links.ignored", param=param, values=", ".join(ignored)), icon=":material/link_off:")
    if key not in state:
        state[key] = list(default) if many and default is not None else default
    value = state[key]
    if value is None or value == default or (many and not value and not default):
        if param in st.query_params:
            del st.query_params[param]
    else:
        st.query_params[param] = _written(value)
    return value


def number_between(low: float, high: float, kind: type = int) -> Callable[[str], Any]:
    """A link's reader of a number of `kind` from `low` to `high` (ValueError outside)."""

    def read(text: str):
        number = kind(text)
        if not low <= number <= high:
            raise ValueError(text)
        return number

    return read
