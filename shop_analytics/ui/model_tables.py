"""The tables of the model pages: each column labelled from the page's own translation
namespace (`<namespace>.column.<name>`), formatted by its unit, and downloadable."""

import polars as pl
import streamlit as st

from shop_analytics.ui.lang import t
from shop_analytics.ui.tables import download_buttons, shown

_FORMATS = {"ratio": "percent", "count": "localized", "number": "%.2f", "score": "%.3f"}


def model_table(frame: pl.DataFrame, *, namespace: str, units: dict[str, str], currency: str, name: str, user_level: bool = False) -> None:
    """Draw `frame` full width with CSV and Excel downloads as `name` (`user_level`: a list of
    users, see ui.tables.download_buttons); a column in `units` is a number of that unit
    (money, ratio, count, number, score), a date as YYYY-MM-DD, any other as it is."""
    formats = _FORMATS | {"money": f"{currency}%.2f"}
    config = {}
    for column, dtype in frame.schema.items():
        label = t(f"{namespace}.column.{column}")
        if column in units:
            config[column] = st.column_config.NumberColumn(label, format=formats[units[column]])
        elif dtype == pl.Date:
            config[column] = st.column_config.DateColumn(label, format="YYYY-MM-DD")
        else:
            config[column] = st.column_config.Column(label)
    st.dataframe(shown(frame), hide_index=True, width="stretch", column_config=config)
    download_buttons(frame, name, user_level=user_level, column_config=config, units=units)
