"""Google Analytics 4's BigQuery export read as canonical events.

Google's "[GA4] BigQuery Export schema" (support.google.com/analytics/answer/7029846,
developers.google.com/analytics/bigquery/event-schema) and "Traffic attribution data"
(developers.google.com/analytics/bigquery/traffic-attribution-data) say what is read:

- one table a day, `events_YYYYMMDD`, and while the day runs `events_intraday_YYYYMMDD`,
  deleted once the day's table is complete. A day's table is rewritten with events arriving
  up to three days late, stamped with their own time. A day with both tables is read from
  the daily one only, so no event counts twice; a refresh reads the last three days again
  (`refresh_overlap`). Tables of other names starting with `events` (the part files of an
  `EXPORT DATA` to storage) are read as they are.
- `event_timestamp`: microseconds since 1970, UTC. `event_date` is the day in the
  property's time zone and is not read: the business day comes from the timestamp.
- `event_params`: repeated (key, value) with the value in `string_value`, `int_value`,
  `float_value` or `double_value`; read: ga_session_id, page_location, search_term, source,
  medium, gclid, transaction_id, firebase_screen.
- `items`: repeated records with `item_id` (else `item_name`); a product event lists them.
- `user_pseudo_id`: the visitor (the anonymous id; empty for cookieless pings, which are
  left out); `user_id`: the customer id the site sets on signed-in visitors.
- sessions: (`user_pseudo_id`, ga_session_id).
- `device.category` (desktop, mobile, tablet) and `platform` (WEB, IOS, ANDROID: an app).
- the session's source and medium: `session_traffic_source_last_click.manual_campaign`
  (session-scoped, on every event of daily tables), else `collected_traffic_source`
  (`manual_source`, `manual_medium`, `gclid`: the event's own campaign, also in intraday
  tables), else the event's `source` / `medium` / `gclid` parameters. `traffic_source` is
  the user's first acquisition and is not read.
- `ecommerce.transaction_id` (else the transaction_id parameter): purchases are counted
  once per transaction.

Parquet exports hold these as nested columns; JSON lines exports (BigQuery writes INT64 as
JSON strings) and database copies hold the nested ones as JSON, which is decoded.
"""

import re
from datetime import datetime, timedelta

import numpy as np
import polars as pl

from connectors.base import SourceError
from connectors.trackers.common import EventTypes, channel_of, device_of, field_of, text_of, url_path
from connectors.trackers.source import EventPart
from connectors.trackers.store import ROW, DatabaseStore, FolderStore, RawTable, RawWindow

_DAY_TABLE = re.compile(r"events_(intraday_)?(\d{8})")
# float_value and double_value are not read: no parameter read holds a fraction, and a
# Parquet file is read for the fields asked for only
_VALUE = pl.Struct({"string_value": pl.String, "int_value": pl.String})
# The columns read, with the dtypes a JSON lines file or a database's JSON text is read as.
COLUMNS: dict[str, pl.DataType] = {
    "event_timestamp": pl.String(),
    "event_name": pl.String(),
    "user_pseudo_id": pl.String(),
    "user_id": pl.String(),
    "platform": pl.String(),
    "event_params": pl.List(pl.Struct({"key": pl.String, "value": _VALUE})),
    "items": pl.List(pl.Struct({"item_id": pl.String, "item_name": pl.String})),
    "device": pl.Struct({"category": pl.String}),
    "ecommerce": pl.Struct({"transaction_id": pl.String}),
    "collected_traffic_source": pl.Struct(
        {"manual_source": pl.String, "manual_medium": pl.String, "gclid": pl.String}
    ),
    "session_traffic_source_last_click": pl.Struct(
        {"manual_campaign": pl.Struct({"source": pl.String, "medium": pl.String})}
    ),
}
# The same columns as a Parquet export holds them: a year of daily tables whose columns fit
# these is read in one scan.
_PARQUET_VALUE = pl.Struct({"string_value": pl.String, "int_value": pl.Int64})
PARQUET_COLUMNS: dict[str, pl.DataType] = {
    **COLUMNS,
    "event_timestamp": pl.Int64(),
    "event_params": pl.List(pl.Struct({"key": pl.String, "value": _PARQUET_VALUE})),
}
REQUIRED = ("event_timestamp", "event_name", "user_pseudo_id", "event_params")
NESTED = {"event_params": "array", "items": "array", "device": "object", "ecommerce": "object",
          "collected_traffic_source": "object", "session_traffic_source_last_click": "object"}
# A day's table holds events stamped within a day of the date in its name (the property's
# zone is at most 14 hours from UTC), so a window skips tables further away than this.
_TABLE_DAY_MARGIN = timedelta(days=1)


class GA4Export:
    """The reader of a GA4 BigQuery export (a folder of its tables as Parquet or JSON lines
    files, or a database holding them)."""

    title = "Google Analytics 4"
    has_sessions = True
    users_table = None
    refresh_overlap = timedelta(days=3)

    def __init__(self, event_types: EventTypes) -> None:
        self.event_types = event_types

    def event_tables(self, store: FolderStore | DatabaseStore) -> list[str]:
        """The daily tables, the intraday ones of days without a daily table, and other
        `events*` tables, in name order."""
        names = [name for name in store.tables() if name == "events" or name.startswith("events_")]
        daily = {match[2] for name in names if (match := _DAY_TABLE.fullmatch(name)) and not match[1]}
        return [
            name for name in names
            if not ((match := _DAY_TABLE.fullmatch(name)) and match[1] and match[2] in daily)
        ]

    def event_parts(
        self, store: FolderStore | DatabaseStore, since: datetime | None, until: datetime | None
    ) -> list[EventPart]:
        window = RawWindow(
            "event_timestamp",
            None if since is None else _micros(since),
            None if until is None else _micros(until),
        )
        names = [name for name in self.event_tables(store) if _day_in_window(name, since, until)]
        if not names:
            return []
        return [_part(table) for table in store.read(names, schema=COLUMNS, parquet_schema=PARQUET_COLUMNS, window=window)]

    def sign_ins(self, store: FolderStore | DatabaseStore) -> None:
        return None

    def users(self, store: FolderStore | DatabaseStore) -> None:
        return None


def _micros(moment: datetime) -> int:
    return int(moment.timestamp()) * 1_000_000 + moment.microsecond


def _day_in_window(name: str, since: datetime | None, until: datetime | None) -> bool:
    match = _DAY_TABLE.fullmatch(name)
    if match is None:
        return True
    day = datetime.strptime(match[2], "%Y%m%d").date()
    if since is not None and day < (since - _TABLE_DAY_MARGIN).date():
        return False
    return until is None or day <= (until + _TABLE_DAY_MARGIN).date()


def _part(table: RawTable) -> EventPart:
    schema = table.schema
    missing = [column for column in REQUIRED if column not in schema]
    if missing:
        raise SourceError(
            f"{table.origin}: lacks the column(s) {', '.join(missing)} of GA4's BigQuery export schema; "
            f"it has {', '.join(name for name in schema if name != ROW)}. Nothing was loaded."
        )
    json_columns = {name: kind for name, kind in NESTED.items() if schema.get(name) == pl.String}
    frame = table.frame.with_columns(
        pl.col(name).str.json_decode(COLUMNS[name]) for name in json_columns
    ).with_columns(
        # over a batch of files at once (the store cuts them into batches): called per file,
        # its fixed cost made reading a year of small daily tables slower than the work
        params=pl.col("event_params").map_batches(event_params, return_dtype=pl.Struct(PARAMS))
    )
    present = frame.collect_schema()

    def nested(column: str, *path: str) -> pl.Expr:
        return field_of(present, column, *path)

    def text(column: str) -> pl.Expr:
        return text_of(present, column)

    last_click_source = nested("session_traffic_source_last_click", "manual_campaign", "source")
    last_click_medium = nested("session_traffic_source_last_click", "manual_campaign", "medium")
    collected_source = nested("collected_traffic_source", "manual_source")
    collected_medium = nested("collected_traffic_source", "manual_medium")
    gclid = pl.coalesce(nested("collected_traffic_source", "gclid"), _param("gclid"))
    has_last_click = last_click_source.is_not_null() | last_click_medium.is_not_null()
    has_collected = collected_source.is_not_null() | collected_medium.is_not_null()
    source = pl.when(has_last_click).then(last_click_source).when(has_collected).then(collected_source).otherwise(_param("source"))
    medium = pl.when(has_last_click).then(last_click_medium).when(has_collected).then(collected_medium).otherwise(_param("medium"))
    items = present.get("items")
    item_fields = {field.name for field in items.inner.fields} if isinstance(items, pl.List) and isinstance(items.inner, pl.Struct) else set()
    item = pl.coalesce([pl.element().struct.field(name).cast(pl.String) for name in ("item_id", "item_name") if name in item_fields] or [pl.lit(None, pl.String)])
    events = frame.select(
        ROW,
        anonymous_id=text("user_pseudo_id"),
        customer_id=text("user_id"),
        event_time=pl.from_epoch(pl.col("event_timestamp").cast(pl.Int64, strict=False), time_unit="us").dt.replace_time_zone("UTC"),
        event_name=text("event_name"),
        session_key=_param("ga_session_id"),
        page=pl.coalesce(url_path(_param("page_location")), _param("firebase_screen")),
        product_ids=pl.col("items").list.eval(item) if item_fields else pl.lit(None, pl.List(pl.String)),
        search_term=_param("search_term"),
        device=device_of(nested("device", "category"), app=text("platform").str.to_uppercase().is_in(("IOS", "ANDROID"))),
        transaction_id=pl.coalesce(nested("ecommerce", "transaction_id"), _param("transaction_id")),
        attributed_channel=channel_of(source, medium, click_id=pl.when(has_last_click).then(False).otherwise(gclid.is_not_null())),
    )
    return EventPart(table, events, "event_timestamp", "microseconds since 1970, UTC", json_columns)


PARAMS = {
    "ga_session_id": pl.Int64,
    "page_location": pl.String,
    "firebase_screen": pl.String,
    "search_term": pl.String,
    "source": pl.String,
    "medium": pl.String,
    "gclid": pl.String,
    "transaction_id": pl.String,
}


def event_params(params: pl.Series) -> pl.Series:
    """The parameters read (PARAMS) of each event's `event_params`, as a record per event,
    null where an event lacks one. A text parameter is its string_value, else its
    int_value (GA4 puts a numeric-looking value, a search for "2024" say, there); the
    session id is its int_value. The first of a repeated key counts.

    One pass over the flattened parameters for all keys: a list.eval per key took 4.9 s
    for 1.16 million events (8 keys), this 0.4 s."""
    rows = params.len()
    lengths = params.list.len().fill_null(0).to_numpy()
    flat = params.explode(empty_as_null=False, keep_nulls=False)
    owner = np.repeat(np.arange(rows, dtype=np.int64), lengths)
    keys = flat.struct.field("key")
    value = flat.struct.field("value")
    text, whole = value.struct.field("string_value"), value.struct.field("int_value")
    fields = []
    for key, dtype in PARAMS.items():
        matches = (keys == key).arg_true().to_numpy()
        # owners ascend, so an event's first match is where its owner changes
        owners = owner[matches]
        first = np.flatnonzero(np.r_[True, owners[1:] != owners[:-1]]) if len(owners) else owners
        events, chosen = owners[first], pl.Series(matches[first])
        if dtype == pl.Int64:
            values = whole.gather(chosen).cast(pl.Int64, strict=False).fill_null(text.gather(chosen).cast(pl.Int64, strict=False))
        else:
            values = text.gather(chosen).fill_null(whole.gather(chosen).cast(pl.String))
        fields.append(pl.repeat(None, rows, dtype=dtype, eager=True).scatter(events, values).alias(key))
    return pl.DataFrame(fields, schema=PARAMS).to_struct(params.name)


def _param(key: str) -> pl.Expr:
    """The event parameter `key` (PARAMS) of the frame's `params` record."""
    return pl.col("params").struct.field(key)
