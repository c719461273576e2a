"""Shared test helpers: UTC timestamps and canonical frames from literal rows."""

import sys
from datetime import datetime, timezone
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def utc(text: str) -> datetime:
    """A UTC-aware datetime from 'YYYY-MM-DD HH:MM[:SS]'."""
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


def frame(rows: list[dict], schema: dict | None = None) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=schema, orient="row") if schema else pl.DataFrame(rows)
