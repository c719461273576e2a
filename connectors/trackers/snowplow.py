"""Snowplow's atomic events read as canonical events.

The columns are those of the atomic events table as Snowplow's dbt packages test them
(snowplow/dbt-snowplow-web integration_tests/data/source/snowplow_web_events.csv,
snowplow/dbt-snowplow-ecommerce integration_tests/data/source/snowplow_ecommerce_events.csv):

- `event_id` (an event loaded twice is read once), `event_name`, `platform` (web, or mob /
  app for the native app);
- `derived_tstamp` (the event's time corrected for the device's clock; else
  `collector_tstamp`), UTC;
- `domain_userid` (the first-party cookie: the visitor; else `network_userid`),
  `user_id` (the customer id the site sets), `domain_sessionid` (the session);
- `page_urlpath` (else `page_url`), `page_urlhost`;
- `mkt_source` / `mkt_medium` / `mkt_clickid` (the landing URL's campaign), else the
  referrer as Snowplow's referer parser classified it (`refr_medium`: search, social,
  email, paid, unknown, internal; `refr_source`, `refr_urlhost`);
- `dvce_type` / `dvce_ismobile` (else the YAUAA context's deviceClass);
- e-commerce (iglu:com.snowplowanalytics.snowplow.ecommerce): the action's `type` in
  `unstruct_event_..._snowplow_ecommerce_action_1` (product_view, list_view, list_click,
  add_to_cart, remove_from_cart, checkout_step, transaction, ...), which names the event;
  its products' `id` in `contexts_..._ecommerce_product_1`; `transaction_id` in
  `contexts_..._ecommerce_transaction_1` (the legacy transaction event's `tr_orderid`);
- site search (iglu:com.snowplowanalytics.snowplow/site_search/jsonschema/1-0-0): `terms`.

Self-describing events and entities are columns in BigQuery, Snowflake and Databricks
(JSON text in files, nested in Parquet from BigQuery), named with the schema's version
(`..._1_0_0` or `..._1`); in Redshift and PostgreSQL they are tables of their own
(`com_snowplowanalytics_snowplow_ecommerce_snowplow_ecommerce_action_1`, ...) joined on
`root_id` = `event_id`. Both are read.
"""

from datetime import datetime, timedelta

import polars as pl

from connectors.base import SourceError
from connectors.trackers.common import EventTypes, channel_of, device_of, external_host, text_of, url_path, utc_time
from connectors.trackers.source import EventPart
from connectors.trackers.store import ROW, DatabaseStore, FolderStore, RawTable, RawWindow

ACTION = "com_snowplowanalytics_snowplow_ecommerce_snowplow_ecommerce_action_1"
PRODUCT = "com_snowplowanalytics_snowplow_ecommerce_product_1"
TRANSACTION = "com_snowplowanalytics_snowplow_ecommerce_transaction_1"
SITE_SEARCH = "com_snowplowanalytics_snowplow_site_search_1"
YAUAA = "nl_basjes_yauaa_context_1"
# Each entity: its column's prefix in the wide layout, the dtype read, the JSON kind.
ENTITIES = {
    ACTION: ("unstruct_event_" + ACTION, pl.Struct({"type": pl.String, "name": pl.String}), "object"),
    PRODUCT: ("contexts_" + PRODUCT, pl.List(pl.Struct({"id": pl.String})), "array"),
    TRANSACTION: ("contexts_" + TRANSACTION, pl.List(pl.Struct({"transaction_id": pl.String})), "array"),
    SITE_SEARCH: ("unstruct_event_" + SITE_SEARCH, pl.Struct({"terms": pl.List(pl.String)}), "object"),
    YAUAA: ("contexts_" + YAUAA, pl.List(pl.Struct({"deviceClass": pl.String})), "array"),
}
REQUIRED = ("event_id", "event_name", "domain_userid", "domain_sessionid", "derived_tstamp")
# Snowplow's referer parser classes (refr_medium) as the medium channel_of reads.
REFERRER_MEDIA = {"search": "organic", "social": "social", "email": "email", "paid": "cpc", "unknown": "referral"}


class SnowplowEvents:
    """The reader of Snowplow's atomic events (a folder holding `events` as files, or the
    database the loader writes to)."""

    title = "Snowplow"
    has_sessions = True
    users_table = None
    refresh_overlap = timedelta(hours=1)

    def __init__(self, event_types: EventTypes) -> None:
        self.event_types = event_types

    def event_tables(self, store: FolderStore | DatabaseStore) -> list[str]:
        """Tables named `events` or ending in `_events` (atomic.events, a dbt seed's
        snowplow_web_events)."""
        return [name for name in store.tables() if name == "events" or name.endswith("_events")]

    def event_parts(
        self, store: FolderStore | DatabaseStore, since: datetime | None, until: datetime | None
    ) -> list[EventPart]:
        window = RawWindow("derived_tstamp", since, until)
        shredded = {name: _shredded(store, name) for name in ENTITIES if name in store.tables()}
        return [
            _part(table, shredded)
            for name in self.event_tables(store)
            for table in store.read(name, window=window)
        ]

    def sign_ins(self, store: FolderStore | DatabaseStore) -> None:
        return None

    def users(self, store: FolderStore | DatabaseStore) -> None:
        return None


def _shredded(store: FolderStore | DatabaseStore, name: str) -> pl.LazyFrame:
    """A shredded entity table as (root_id, the entity's value in the wide layout's dtype)."""
    frames = [table.frame for table in store.read(name)]
    table = pl.concat(frames, how="diagonal_relaxed")
    if name == ACTION:
        return table.select("root_id", pl.struct(type=pl.col("type"), name=pl.col("name")).alias(name))
    if name == SITE_SEARCH:
        # a shredded array is JSON text in its column
        return table.select("root_id", pl.struct(terms=pl.col("terms").cast(pl.String).str.json_decode(pl.List(pl.String))).alias(name))
    field = {PRODUCT: "id", TRANSACTION: "transaction_id", YAUAA: "deviceClass"}[name]
    return table.group_by("root_id", maintain_order=True).agg(pl.struct(pl.col(field).cast(pl.String)).alias(name))


def _part(table: RawTable, shredded: dict[str, pl.LazyFrame]) -> EventPart:
    schema = table.schema
    missing = [column for column in REQUIRED if column not in schema]
    if missing:
        raise SourceError(
            f"{table.origin}: lacks the column(s) {', '.join(missing)} of Snowplow's atomic events; "
            f"it has {', '.join(name for name in schema if name != ROW)}. Nothing was loaded."
        )
    frame = table.frame
    json_columns = {}
    for name, (prefix, dtype, kind) in ENTITIES.items():
        wide = sorted(column for column in schema if column.startswith(prefix))
        if wide:
            column = wide[-1]
            if schema[column] == pl.String:
                json_columns[column] = kind
                frame = frame.with_columns(pl.col(column).str.json_decode(dtype).alias(name))
            else:
                frame = frame.with_columns(pl.col(column).alias(name))
        elif name in shredded:
            frame = frame.join(shredded[name], left_on="event_id", right_on="root_id", how="left", maintain_order="left")
        else:
            frame = frame.with_columns(pl.lit(None, dtype).alias(name))
    present = frame.collect_schema()

    def text(column: str) -> pl.Expr:
        return text_of(present, column)

    def when_time(column: str) -> pl.Expr:
        return utc_time(pl.col(column), present[column]) if column in present else pl.lit(None, pl.Datetime("us", "UTC"))

    action = pl.col(ACTION).struct.field("type")
    referrer_medium = text("refr_medium").str.to_lowercase()
    medium = pl.coalesce(text("mkt_medium"), referrer_medium.replace_strict(REFERRER_MEDIA, default=None))
    source = pl.coalesce(text("mkt_source"), pl.when(referrer_medium != "internal").then(text("refr_source")))
    referrer_host = pl.when(referrer_medium.is_null()).then(external_host(text("refr_urlhost"), text("page_urlhost")))
    mobile = text("dvce_ismobile").str.to_lowercase()
    category = pl.coalesce(
        text("dvce_type"),
        pl.when(mobile.is_in(("true", "1", "t"))).then(pl.lit("mobile")).when(mobile.is_in(("false", "0", "f"))).then(pl.lit("desktop")),
        pl.col(YAUAA).list.first().struct.field("deviceClass"),
    )
    events = frame.select(
        ROW,
        event_id=text("event_id"),
        anonymous_id=pl.coalesce(text("domain_userid"), text("network_userid")),
        customer_id=text("user_id"),
        event_time=pl.coalesce(when_time("derived_tstamp"), when_time("collector_tstamp")),
        event_name=pl.when(text("event_name") == "snowplow_ecommerce_action").then(pl.coalesce(action, text("event_name"))).otherwise(text("event_name")),
        session_key=text("domain_sessionid"),
        page=pl.coalesce(text("page_urlpath"), url_path(text("page_url"))),
        product_ids=pl.col(PRODUCT).list.eval(pl.element().struct.field("id")),
        search_term=pl.col(SITE_SEARCH).struct.field("terms").list.join(" "),
        device=device_of(category, app=text("platform").str.to_lowercase().is_in(("mob", "app"))),
        transaction_id=pl.coalesce(pl.col(TRANSACTION).list.first().struct.field("transaction_id"), text("tr_orderid")),
        attributed_channel=channel_of(
            source, medium, click_id=text("mkt_clickid").is_not_null() & text("mkt_medium").is_null(), referrer_host=referrer_host
        ),
    )
    return EventPart(table, events, "derived_tstamp", "a UTC timestamp such as 2022-12-22 13:25:47.677", json_columns)
