"""Segment's and RudderStack's warehouse tables read as canonical events.

Segment's "Warehouse Schemas" (segmentio/segment-docs src/connections/storage/warehouses/
schema.md) and RudderStack's, which follows it (rudderstack.com/docs/destinations/
warehouse-destinations/warehouse-schema):

- `pages` and `screens`: one row per page or screen call; `tracks`: one per track call,
  with `event` (the name's slug) and `event_text` (the name); one table per event, named by
  the slug (`product_viewed`, `order_completed`), with `tracks`' columns and the event's
  properties as columns; `identifies`: one row per identify call, traits as columns.
  The e-commerce events of the preset are read from their own tables (for `product_id`,
  `query`, `order_id` and `products`, a JSON array as the warehouse stringifies it), the
  other track calls from `tracks`.
- `id` (the message id: a call loaded twice is read once), `anonymous_id`, `user_id`
  (the customer id), `timestamp` (the event's time, UTC; `received_at` is when it
  arrived and is not the time of the event).
- `context_*`: the call's context flattened: `context_page_path`, `context_page_url`,
  `context_page_referrer`, `context_campaign_source` / `_medium` (the page's UTM),
  `context_user_agent`, `context_device_type` and `context_library_name` (native apps).
- Segment has no session id: the loading edge derives sessions by the 30-minute rule.
  RudderStack's SDKs send one (rudderstack.com/docs/sources/event-streams/sdks/
  session-tracking): `context_session_id`, the session's start in milliseconds, unique
  per visitor only ("pair it with anonymousId"), so a session is (anonymous_id, it).
"""

import re
from datetime import datetime, timedelta

import polars as pl

from connectors.base import SourceError
from connectors.trackers.common import (
    EventTypes,
    channel_of,
    device_of,
    external_host,
    text_of,
    url_host,
    url_path,
    user_agent_category,
    utc_time,
)
from connectors.trackers.source import EventPart
from connectors.trackers.store import ROW, DatabaseStore, FolderStore, RawTable, RawWindow

CALL_TABLES = ("pages", "screens", "tracks")
OTHER_TABLES = ("identifies", "users", "aliases", "groups", "accounts")
PRODUCTS = pl.List(pl.Struct({"product_id": pl.String}))
_APP_LIBRARIES = r"(?i)ios|android|react-native|flutter"


def slug(name: str) -> str:
    """An event name as Segment names its table ("Order Completed" -> "order_completed")."""
    return re.sub(r"[^a-z0-9]+", "_", re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()).strip("_")


class SegmentWarehouse:
    """The reader of Segment's warehouse tables (a folder of them as files, or the
    warehouse itself)."""

    title = "Segment"
    has_sessions = False
    refresh_overlap = timedelta(hours=1)
    users_table = "identifies"

    def __init__(self, event_types: EventTypes) -> None:
        self.event_types = event_types

    def event_tables(self, store: FolderStore | DatabaseStore) -> list[str]:
        """pages, screens, tracks and the e-commerce events' own tables present."""
        names = store.tables()
        return [name for name in CALL_TABLES if name in names] + self._event_own_tables(names)

    def _event_own_tables(self, names) -> list[str]:
        slugs = {slug(name) for name in self.event_types.kept()}
        return sorted(name for name in names if name in slugs and name not in CALL_TABLES)

    def event_parts(
        self, store: FolderStore | DatabaseStore, since: datetime | None, until: datetime | None
    ) -> list[EventPart]:
        window = RawWindow("timestamp", since, until)
        own_tables = self._event_own_tables(store.tables())
        parts = []
        for name in self.event_tables(store):
            for table in store.read(name, window=window):
                parts.append(self._part(table, name, own_tables))
        return parts

    def _part(self, table: RawTable, name: str, own_tables: list[str]) -> EventPart:
        schema = table.schema
        missing = [column for column in ("timestamp",) if column not in schema]
        if "anonymous_id" not in schema and "user_id" not in schema:
            missing.append("anonymous_id or user_id")
        if name == "tracks" and "event" not in schema and "event_text" not in schema:
            missing.append("event_text or event")
        if missing:
            raise SourceError(
                f"{table.origin}: lacks the column(s) {', '.join(missing)} of a Segment warehouse table; "
                f"it has {', '.join(column for column in schema if column != ROW)}. Nothing was loaded."
            )
        frame = table.frame
        json_columns = {}
        if "products" in schema and schema["products"] == pl.String:
            json_columns["products"] = "array"
            frame = frame.with_columns(pl.col("products").str.json_decode(PRODUCTS))
        if name == "tracks" and own_tables:
            # these calls are read from their own tables, which hold their properties
            frame = frame.filter(~pl.col("event").cast(pl.String).is_in(own_tables).fill_null(False) if "event" in schema
                                 else pl.lit(True))
        present = frame.collect_schema()

        def text(column: str) -> pl.Expr:
            return text_of(present, column)

        if name == "pages":
            event_name = pl.lit("Page Viewed")
            page = pl.coalesce(text("context_page_path"), text("path"), url_path(pl.coalesce(text("context_page_url"), text("url"))))
        elif name == "screens":
            event_name = pl.lit("Screen Viewed")
            page = text("name")
        else:
            event_name = pl.coalesce(text("event_text"), text("event"))
            page = pl.coalesce(text("context_page_path"), url_path(text("context_page_url")))
        page_url = pl.coalesce(text("context_page_url"), text("url"))
        referrer = pl.coalesce(text("context_page_referrer"), text("referrer"))
        products = pl.col("products").list.eval(pl.element().struct.field("product_id")) if "products" in present else None
        product_ids = pl.concat_list(text("product_id")) if "product_id" in present else pl.lit(None, pl.List(pl.String))
        if products is not None:
            product_ids = pl.when(text("product_id").is_not_null()).then(product_ids).otherwise(products) if "product_id" in present else products
        library = text("context_library_name")
        app = text("context_device_type").str.to_lowercase().is_in(("ios", "android", "ipados")) | library.str.contains(_APP_LIBRARIES)
        columns = dict(
            event_id=text("id"),
            anonymous_id=pl.coalesce(text("anonymous_id"), text("user_id")),
            customer_id=text("user_id"),
            event_time=utc_time(pl.col("timestamp"), present["timestamp"]),
            event_name=event_name,
            page=page,
            product_ids=product_ids,
            search_term=text("query"),
            device=device_of(user_agent_category(text("context_user_agent")), app=app),
            transaction_id=text("order_id"),
            attributed_channel=channel_of(
                text("context_campaign_source"),
                text("context_campaign_medium"),
                click_id=page_url.str.contains(r"[?&](gclid|msclkid)=").fill_null(False) & text("context_campaign_medium").is_null(),
                referrer_host=external_host(url_host(referrer), url_host(page_url)),
            ),
        )
        if self.has_sessions:
            columns["session_key"] = text("context_session_id")
        events = frame.select(ROW, **columns)
        return EventPart(table, events, "timestamp", "an ISO 8601 timestamp such as 2026-03-01T10:00:00.000Z", json_columns)

    def sign_ins(self, store: FolderStore | DatabaseStore) -> pl.DataFrame | None:
        """(anonymous_id, user_id, at) of the identify calls that name both."""
        identifies = self._identifies(store)
        if identifies is None:
            return None
        return identifies.filter(pl.col("anonymous_id").is_not_null() & pl.col("user_id").is_not_null()).select(
            "anonymous_id", "user_id", "at"
        )

    def users(self, store: FolderStore | DatabaseStore) -> pl.DataFrame | None:
        """The identified users: user_id and signup_at, the `created_at` trait (Segment's
        spec trait for when the account was created) where the site sends it, else the
        first identify call's time."""
        identifies = self._identifies(store)
        if identifies is None:
            return None
        return (
            identifies.filter(pl.col("user_id").is_not_null())
            .group_by("user_id")
            .agg(signup_at=pl.coalesce(pl.col("created_at").min(), pl.col("at").min()))
            .sort("user_id")
        )

    def _identifies(self, store: FolderStore | DatabaseStore) -> pl.DataFrame | None:
        if "identifies" not in store.tables():
            return None
        frames = []
        for table in store.read("identifies"):
            schema = table.schema
            if "timestamp" not in schema or "user_id" not in schema:
                raise SourceError(f"{table.origin}: an identifies table needs the columns timestamp and user_id. Nothing was loaded.")

            created = utc_time(pl.col("created_at"), schema["created_at"]) if "created_at" in schema else pl.lit(None, pl.Datetime("us", "UTC"))
            frames.append(table.frame.select(
                anonymous_id=text_of(schema, "anonymous_id"), user_id=text_of(schema, "user_id"),
                at=utc_time(pl.col("timestamp"), schema["timestamp"]), created_at=created,
            ))
        return pl.concat(frames, how="vertical_relaxed").collect()


class RudderStackWarehouse(SegmentWarehouse):
    """RudderStack's warehouse tables: Segment's, with the SDK's session id."""

    title = "RudderStack"
    has_sessions = True
