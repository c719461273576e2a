"""What the funnel page's pickers offer, asked where the events are: the event types the
events hold, and the commonest values of a property among one type's events. A database or
Spark answers with a DISTINCT or a GROUP BY ... LIMIT, Polars over Parquet files (or the
events in memory) with a streaming pass, so that no picker reads every event into memory.

`events` is a push-down engine (pushdown.engines) or the events as a LazyFrame.
"""

import polars as pl
import sqlalchemy as sa

from connectors.base import conform
from shop_analytics.pushdown.engines import Pushdown, QueryEngine, StreamingPushdown


def _reader(events: Pushdown | pl.LazyFrame) -> pl.LazyFrame | QueryEngine:
    """The events as a LazyFrame when Polars reads them, the engine when it runs SQL."""
    if isinstance(events, pl.LazyFrame):
        return events
    if isinstance(events, StreamingPushdown):
        return events.scan("events")  # the engine's own scan: labels as categoricals
    if isinstance(events, QueryEngine):
        return events
    raise TypeError(f"no event choices from {type(events).__name__}: give a QueryEngine, a StreamingPushdown or a LazyFrame")


def event_types(events: Pushdown | pl.LazyFrame) -> list[str]:
    """The distinct event types of the events, sorted (nulls left out)."""
    reader = _reader(events)
    if isinstance(reader, QueryEngine):
        table = reader.table("events")
        read = reader.read(sa.select(table.c.event_type).where(table.c.event_type.is_not(None)).distinct())
    else:
        read = reader.select(pl.col("event_type").drop_nulls().unique()).collect(engine="streaming")
    return sorted(str(value) for value in read["event_type"].to_list())


def commonest_values(events: Pushdown | pl.LazyFrame, event_type: str, column: str, limit: int) -> list:
    """The `limit` commonest non-null values of event column `column` among the events of
    type `event_type`, sorted by value; ties at the cut go to the smaller value. Values have
    the canonical dtype's Python type (text for labels, the source's ids as they are)."""
    reader = _reader(events)
    if isinstance(reader, QueryEngine):
        table = reader.table("events")
        value, count = table.c[column], sa.func.count().label("occurrences")
        query = (
            sa.select(value, count)
            .where(table.c.event_type == event_type, value.is_not(None))
            .group_by(value)
            .order_by(count.desc(), value)
            .limit(limit)
        )
        read = conform("events", reader.read(query).select(column), reader.description, [column])
    else:
        # labels are categoricals: grouped and ordered as text
        values = pl.col(column).cast(pl.String) if reader.collect_schema()[column] == pl.Categorical else pl.col(column)
        read = (
            reader.filter(pl.col("event_type").cast(pl.String) == event_type)
            .select(values.drop_nulls())
            .group_by(column)
            .agg(pl.len().alias("occurrences"))
            .collect(engine="streaming")
            .sort(["occurrences", column], descending=[True, False])
            .head(limit)
        )
    labels = read[column].cast(pl.String) if read.schema[column] == pl.Categorical else read[column]
    return sorted(labels.to_list())
