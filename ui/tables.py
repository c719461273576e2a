"""Tables as a person reads them: KPI columns labelled and formatted by the registry."""

import polars as pl
import streamlit as st

from metrics.registry import KPIS


def kpi_column_config(frame: pl.DataFrame, currency: str) -> dict:
    """Streamlit column settings for every column of `frame` named after a KPI: its label,
    its description as help, ratios as percentages and money with the currency."""
    formats = {"ratio": "percent", "money": f"{currency}%.2f", "count": "localized"}
    return {
        name: st.column_config.NumberColumn(KPIS[name].label, help=KPIS[name].description, format=formats[KPIS[name].unit])
        for name in frame.columns
        if name in KPIS
    }


def kpi_table(frame: pl.DataFrame, currency: str) -> None:
    """Draw `frame` full width with its KPI columns formatted."""
    st.dataframe(frame, hide_index=True, width="stretch", column_config=kpi_column_config(frame, currency))
