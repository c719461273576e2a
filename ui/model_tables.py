"""The tables of the model pages: each column labelled from the page's own translation
namespace (`<namespace>.column.<name>`), formatted by its unit, and downloadable."""

import polars as pl
import streamlit as st

from ui.lang import t
from ui.tables import download_buttons

_FORMATS = {"ratio": "percent", "count": "localized", "number": "%.2f", "score": "%.3f"}


def model_table(frame: pl.DataFrame, *, namespace: str, units: dict[str, str], currency: str, name: str, user_level: bool = False) -> None:
    """Draw `frame` full width with CSV and Excel downloads as `name` (`user_level`: a list of
    users, see ui.tables.download_buttons); a column in `units` is a number of that unit
    (money, ratio, count, number, score), any other is shown as it is."""
    formats = _FORMATS | {"money": f"{currency}%.2f"}
    config = {
        column: st.column_config.NumberColumn(t(f"{namespace}.column.{column}"), format=formats[units[column]])
        if column in units else st.column_config.Column(t(f"{namespace}.column.{column}"))
        for column in frame.columns
    }
    st.dataframe(frame, hide_index=True, width="stretch", column_config=config)
    download_buttons(frame, name, user_level=user_level)
