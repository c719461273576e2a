"""The cached edge of the Funnel page's pickers: the event types, the event columns a step
or a breakdown can use, and a property's commonest values, from the events in memory or,
for a shop read with push-down, from its engine (pushdown.choices), never every event.

Each function takes `source` (`data.source_key()`), which keys the cache on the configured
source; the shop itself comes from `data.current_shop()`.
"""

import polars as pl
import streamlit as st

from shop_analytics.pushdown import Pushdown, choices
from shop_analytics.ui import data

_cached = st.cache_data(ttl=3600, max_entries=64, show_spinner=False)


def _events() -> Pushdown | pl.LazyFrame:
    shop = data.current_shop()
    return shop.pushed.engine if shop.pushed is not None else shop.events.lazy()


@_cached
def event_types(source: str) -> list[str]:
    """The event types the shop's events hold, sorted."""
    return choices.event_types(_events())


@_cached
def event_columns(source: str, names: tuple[str, ...]) -> list[str]:
    """Those of the canonical event columns `names` that the shop's events have, in order."""
    shop = data.current_shop()
    if shop.pushed is not None:
        return [name for name in names if shop.pushed.engine.has_event_column(name)]
    return [name for name in names if name in shop.events.columns]


@_cached
def property_values(source: str, event_type: str, column: str, limit: int) -> list:
    """The `limit` commonest values of `column` among the events of type `event_type`, sorted."""
    return choices.commonest_values(_events(), event_type, column, limit)
