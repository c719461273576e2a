"""Data source: where the numbers come from, what each table holds, what is missing."""

import polars as pl
import streamlit as st

from connectors.schema import TABLES
from ui import data
from ui.frame import ensure_app_frame

ensure_app_frame()

TIME_COLUMNS = {"users": "signup_at", "events": "event_time", "orders": "created_at", "reviews": "created_at", "tickets": "created_at"}

settings = data.settings()
shop = data.current_shop()
st.title("Data source")
st.markdown(f"Reading **{shop.description}**, business time zone **{settings.time_zone}**.")

rows = []
for name, table in TABLES.items():
    frame = shop.tables.get(name)
    if frame is None:
        rows.append({"table": name, "rows": None, "first": None, "last": None, "optional columns missing": "table absent"})
        continue
    time_column = TIME_COLUMNS.get(name)
    first = last = None
    if time_column and frame.height:
        local = frame[time_column].dt.convert_time_zone(settings.time_zone)
        first, last = local.min().date(), local.max().date()
    absent = [column for column in table.optional if column not in frame.columns]
    rows.append({"table": name, "rows": frame.height, "first": first, "last": last, "optional columns missing": ", ".join(absent)})
st.dataframe(pl.DataFrame(rows), hide_index=True, width="stretch")

if shop.sessions is not None:
    st.caption(
        f"{shop.sessions.height:,} sessions derived from {shop.events.height:,} events "
        f"(a new session after {settings.session_gap_minutes} minutes without an event)."
    )
if shop.missing:
    st.warning(f"Views that need {', '.join(shop.missing)} will say so until those tables are mapped.")

st.subheader("Connect a shop database")
st.markdown(
    "Put the connection in `.streamlit/secrets.toml` (never committed) and restart:\n\n"
    "```toml\n[connections.shop]\nurl = \"postgresql+psycopg://analyst@db.example.com:5432/shop\"\n\n"
    "[settings]\ntime_zone = \"Asia/Shanghai\"\ncurrency = \"¥\"\n```\n"
    "The database's tables must use the canonical names (`users`, `events`, `orders`, ...) "
    "and columns; a folder of `users.parquet` / `users.csv` files works too (`folder = \"/path\"`)."
)
