"""PostHog's events export read as canonical events.

PostHog's batch exports write each event's `uuid`, `event`, `distinct_id`, `person_id`,
`timestamp` and `properties` (a JSON object) to files or a database
(PostHog/posthog posthog/batch_exports/sql/events_s3.sql, events_postgres.sql; the event
model: posthog.com/docs/data-model). Read from `properties` (posthog-js's and the mobile
SDKs' own properties, and PostHog's e-commerce spec, posthog.com/docs/data/event-spec/
ecommerce-events, which uses Segment's names and properties):

- `$session_id` (the session), `$current_url` (the page; `$screen_name` in apps),
  `$device_type` (Desktop, Mobile, Tablet), `$lib` (web, or posthog-ios, posthog-android,
  posthog-react-native, posthog-flutter for the native app);
- `utm_source` / `utm_medium` and `gclid` (the landing URL's campaign), `$referring_domain`
  ("$direct" when none) for a visit without one;
- `$is_identified`: true once the site has called identify(customer id), after which
  `distinct_id` is that customer id; before, `distinct_id` is the SDK's anonymous id.
  The `$identify` event names the anonymous id it merges in `$anon_distinct_id`, and
  `$create_alias` in `alias`, as PostHog's own ingestion reads them (PostHog/posthog
  plugin-server/src/worker/ingestion/person-state.ts); events of one `person_id` are one
  person;
- `product_id`, `query`, `order_id`, `products` (a list of {product_id}).

Each export file of a folder is read (a sub-folder of part files is one table); the table is
the files whose name starts with `events` or the folder's data files when it has no other.
"""

from datetime import datetime, timedelta

import polars as pl

from connectors.base import SourceError
from connectors.trackers.common import (
    EventTypes,
    channel_of,
    device_of,
    external_host,
    field_of,
    text_of,
    url_host,
    url_path,
    utc_time,
)
from connectors.trackers.source import EventPart
from connectors.trackers.store import ROW, DatabaseStore, FolderStore, RawTable, RawWindow

PROPERTIES = pl.Struct({
    "$session_id": pl.String,
    "$current_url": pl.String,
    "$screen_name": pl.String,
    "$device_type": pl.String,
    "$lib": pl.String,
    "$referring_domain": pl.String,
    "$is_identified": pl.String,
    "$anon_distinct_id": pl.String,
    "alias": pl.String,
    "utm_source": pl.String,
    "utm_medium": pl.String,
    "gclid": pl.String,
    "product_id": pl.String,
    "query": pl.String,
    "order_id": pl.String,
    "products": pl.List(pl.Struct({"product_id": pl.String})),
})
REQUIRED = ("event", "distinct_id", "timestamp", "properties")
_APP_LIBRARIES = ("posthog-ios", "posthog-android", "posthog-react-native", "posthog-flutter")


class PostHogExport:
    """The reader of PostHog's events export (a folder of its files, or the database a
    batch export writes to)."""

    title = "PostHog"
    has_sessions = True
    users_table = None
    refresh_overlap = timedelta(hours=1)

    def __init__(self, event_types: EventTypes) -> None:
        self.event_types = event_types

    def event_tables(self, store: FolderStore | DatabaseStore) -> list[str]:
        names = list(store.tables())
        events = [name for name in names if name.startswith("events")]
        return events or (names if isinstance(store, FolderStore) else [])

    def event_parts(
        self, store: FolderStore | DatabaseStore, since: datetime | None, until: datetime | None
    ) -> list[EventPart]:
        window = RawWindow("timestamp", since, until)
        return [_part(table) for name in self.event_tables(store) for table in store.read(name, window=window)]

    def sign_ins(self, store: FolderStore | DatabaseStore) -> pl.DataFrame:
        """(anonymous_id, user_id, at): the anonymous id each $identify (or $create_alias)
        merged into a customer id; and every distinct id of a person (`person_id`) with the
        person's identified distinct id."""
        frames = []
        for part in self.event_parts(store, None, None):
            frame = part.events.filter(pl.col("identified_as").is_not_null() | pl.col("person_id").is_not_null())
            frames.append(frame.select("anonymous_id", "customer_id", "identified_as", "person_id", "event_time"))
        events = pl.concat(frames, how="vertical_relaxed").collect(engine="streaming")
        identify = events.filter(pl.col("identified_as").is_not_null()).select(
            pl.col("identified_as").alias("anonymous_id"), pl.col("anonymous_id").alias("user_id"), at="event_time"
        )
        persons = events.filter(pl.col("person_id").is_not_null())
        identified = (
            persons.filter(pl.col("customer_id").is_not_null())
            .sort("event_time")
            .group_by("person_id")
            .agg(user_id=pl.col("customer_id").last(), at=pl.col("event_time").last())
        )
        merged = persons.select("person_id", "anonymous_id").unique().join(identified, on="person_id").select("anonymous_id", "user_id", "at")
        return pl.concat([identify, merged], how="vertical_relaxed")

    def users(self, store: FolderStore | DatabaseStore) -> None:
        return None


def _part(table: RawTable) -> EventPart:
    schema = table.schema
    missing = [column for column in REQUIRED if column not in schema]
    if missing:
        raise SourceError(
            f"{table.origin}: lacks the column(s) {', '.join(missing)} of PostHog's events export; "
            f"it has {', '.join(name for name in schema if name != ROW)}. Nothing was loaded."
        )
    frame = table.frame
    json_columns = {}
    if schema["properties"] == pl.String:
        json_columns["properties"] = "object"
        frame = frame.with_columns(pl.col("properties").str.json_decode(PROPERTIES))
    present = frame.collect_schema()

    def prop(name: str) -> pl.Expr:
        value = field_of(present, "properties", name).str.strip_chars()
        return pl.when(value != "").then(value)

    distinct_id = text_of(present, "distinct_id")
    identified = prop("$is_identified").str.to_lowercase() == "true"
    current_url = prop("$current_url")
    properties = present["properties"]
    if not isinstance(properties, pl.Struct):
        raise SourceError(
            f"{table.origin}: properties is {properties}, neither JSON text nor a record of PostHog's event "
            f"properties; export the events again with properties as JSON. Nothing was loaded."
        )
    products = pl.col("properties").struct.field("products") if "products" in {f.name for f in properties.fields} else None
    product_ids = pl.concat_list(prop("product_id"))
    if products is not None:
        product_ids = pl.when(prop("product_id").is_not_null()).then(product_ids).otherwise(
            products.list.eval(pl.element().struct.field("product_id"))
        )
    referring = prop("$referring_domain").str.to_lowercase()
    events = frame.select(
        ROW,
        event_id=text_of(present, "uuid"),
        anonymous_id=distinct_id,
        customer_id=pl.when(identified).then(distinct_id),
        event_time=utc_time(pl.col("timestamp"), present["timestamp"]),
        event_name=text_of(present, "event"),
        session_key=prop("$session_id"),
        page=pl.coalesce(url_path(current_url), prop("$screen_name")),
        product_ids=product_ids,
        search_term=prop("query"),
        device=device_of(prop("$device_type"), app=prop("$lib").is_in(_APP_LIBRARIES)),
        transaction_id=prop("order_id"),
        attributed_channel=channel_of(
            prop("utm_source"),
            prop("utm_medium"),
            click_id=prop("gclid").is_not_null() & prop("utm_medium").is_null(),
            referrer_host=external_host(pl.when(referring != "$direct").then(referring), url_host(current_url)),
        ),
        identified_as=pl.when(text_of(present, "event") == "$identify").then(prop("$anon_distinct_id"))
        .when(text_of(present, "event") == "$create_alias").then(prop("alias")),
        person_id=text_of(present, "person_id"),
    )
    return EventPart(table, events, "timestamp", "an ISO 8601 timestamp such as 2026-03-01T10:00:00.000000+00:00", json_columns)
