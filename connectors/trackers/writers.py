"""Canonical events written out as a tracker's export, in the layout its reader reads.

What for: a demo or test deployment whose events come from a tracker (the sample shop's
events as a GA4 export folder beside its orders in a database), the property tests (any
canonical events, written out and read back, give the same numbers) and the benchmark
(10 million events as a GA4 export beside the same events as canonical Parquet).

Input: canonical events (user_id, event_time, event_type; optional session_id, page,
product_id, channel, device, search_term), and optionally `anonymous_id`: then that is the
tracker's visitor id and `user_id` the customer id it signed in as, set on every event
(a tracker sets it once the visitor signs in; stitching makes it the same). Without
`anonymous_id` every visitor is anonymous and its id is `user_id` as text.

Sessions are the events' session_id where given, else the SPEC's 30-minute rule; a
session's channel is its first event's, written where the tracker writes attribution.
Pages are written as https://shop.example.com/<page>, which reads back as "/<page>".
"""

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
from polars.datatypes import DataTypeClass

SITE = "https://shop.example.com"
SESSION_GAP = timedelta(minutes=30)

# A channel as the (source, medium) a tracker would record for it; read back by
# common.channel_of. Another channel is written as its own medium.
CHANNEL_CAMPAIGNS = {
    "organic": ("google", "organic"),
    "paid_search": ("google", "cpc"),
    "social": ("facebook", "social"),
    "email": ("newsletter", "email"),
    "affiliate": ("partner", "affiliate"),
    "referral": ("blog.example.org", "referral"),
    "direct": ("(direct)", "(none)"),
}
# The device as GA4's platform and device.category.
GA4_DEVICES = {"app": ("ANDROID", "mobile"), "mobile_web": ("WEB", "mobile"), "desktop": ("WEB", "desktop")}
GA4_NAMES = {
    "page_view": "page_view",
    "product_impression": "view_item_list",
    "product_click": "select_item",
    "product_view": "view_item",
    "add_to_cart": "add_to_cart",
    "checkout": "begin_checkout",
    "purchase": "purchase",
    "search": "search",
}


def with_sessions(events: pl.DataFrame, gap: timedelta = SESSION_GAP) -> pl.DataFrame:
    """`events` sorted by visitor and time, with `visitor` (the tracker's visitor id),
    `session` (numbered from 1 over the export), `session_start`, `first_in_session`,
    `first_of_visitor` and the session's `session_channel` and `session_device`."""
    visitor = pl.col("anonymous_id") if "anonymous_id" in events.columns else pl.col("user_id")
    events = events.with_columns(visitor=visitor.cast(pl.String)).sort("visitor", "event_time", maintain_order=True)
    new_visitor = (pl.col("visitor") != pl.col("visitor").shift(1)).fill_null(True)
    if "session_id" in events.columns:
        starts = new_visitor | (pl.col("session_id") != pl.col("session_id").shift(1)).fill_null(True)
        events = events.sort("visitor", "session_id", "event_time", maintain_order=True)
    else:
        starts = new_visitor | (pl.col("event_time") - pl.col("event_time").shift(1) > gap).fill_null(True)
    events = events.with_columns(first_in_session=starts, first_of_visitor=new_visitor).with_columns(
        session=pl.col("first_in_session").cum_sum()
    )
    first = {"session_start": pl.col("event_time").first()}
    for column, name in (("channel", "session_channel"), ("device", "session_device")):
        if column in events.columns:
            first[name] = pl.col(column).cast(pl.String).first()
    return events.with_columns(**{name: value.over("session") for name, value in first.items()})


def _campaign(channel: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """The (source, medium) recorded for a channel (CHANNEL_CAMPAIGNS; another channel as
    its own medium, from source "other")."""
    known = list(CHANNEL_CAMPAIGNS)
    source = pl.when(channel.is_in(known)).then(channel.replace({k: v[0] for k, v in CHANNEL_CAMPAIGNS.items()})).otherwise(pl.lit("other"))
    medium = pl.when(channel.is_in(known)).then(channel.replace({k: v[1] for k, v in CHANNEL_CAMPAIGNS.items()})).otherwise(channel)
    return pl.when(channel.is_not_null()).then(source), pl.when(channel.is_not_null()).then(medium)


def _page_url(page: pl.Expr) -> pl.Expr:
    return pl.lit(SITE + "/") + page.cast(pl.String).str.strip_chars_start("/")


def _lists(rows: int, owner: np.ndarray, values: pa.Array) -> pa.ListArray:
    """A list per row 0..rows-1 holding the `values` whose `owner` is that row (owners
    sorted ascending)."""
    counts = np.bincount(owner, minlength=rows) if len(owner) else np.zeros(rows, dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return pa.LargeListArray.from_arrays(pa.array(offsets, pa.int64()), values)


def _days(frame: pl.DataFrame, zone: str) -> list[tuple[str, pl.DataFrame]]:
    """`frame` (sorted by event_time) cut into its days in `zone`, as YYYYMMDD."""
    day = frame["event_time"].dt.convert_time_zone(zone).dt.strftime("%Y%m%d")
    frame = frame.with_columns(day=day)
    return [(key[0], part.drop("day")) for key, part in frame.group_by("day", maintain_order=True)]


# -- GA4 -----------------------------------------------------------------------------------


def write_ga4(
    events: pl.DataFrame,
    folder: str | Path,
    *,
    file_format: str = "parquet",
    zone: str = "UTC",
    attribution: str = "last_click",
    intraday_days: tuple[str, ...] = (),
) -> list[Path]:
    """Write `events` as GA4's BigQuery export: one `events_YYYYMMDD` file a day of `zone`
    (the property's zone), `events_intraday_YYYYMMDD` for the days in `intraday_days`;
    Parquet, or JSON lines with INT64 as strings as BigQuery writes them (`file_format`
    "jsonl"). Each session starts with GA4's session_start (and a visitor's first with
    first_visit); `ga_session_id` is the session's start in Unix seconds. The session's
    channel is written as `attribution` says: "last_click" on every event's
    session_traffic_source_last_click (daily tables), "collected" in the first event's
    collected_traffic_source, "params" in its source / medium parameters (intraday tables
    always get "collected")."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    events = with_sessions(events)
    session_seconds = pl.col("session_start").dt.epoch("s")
    if events.select(pl.struct("visitor", session_seconds).n_unique()).item() != events["session"].n_unique():
        raise ValueError("two sessions of one visitor start in the same second: GA4's ga_session_id cannot tell them apart")
    bookkeeping = pl.concat([
        events.filter("first_of_visitor").with_columns(ga4_name=pl.lit("first_visit")),
        events.filter("first_in_session").with_columns(ga4_name=pl.lit("session_start")),
    ])
    known = list(GA4_NAMES)
    events = events.with_columns(
        ga4_name=pl.when(pl.col("event_type").is_in(known)).then(pl.col("event_type").cast(pl.String).replace(GA4_NAMES)).otherwise(pl.col("event_type").cast(pl.String))
    )
    events = pl.concat([bookkeeping, events], how="vertical").sort("event_time", maintain_order=True)
    purchase = pl.col("ga4_name") == "purchase"
    events = events.with_columns(
        transaction_id=pl.when(purchase).then(pl.format("T{}", pl.int_range(pl.len()).cast(pl.String)))
    )
    written = []
    for day, part in _days(events, zone):
        intraday = day in intraday_days
        table = _ga4_table(part, "collected" if intraday and attribution == "last_click" else attribution, intraday, file_format)
        name = f"events_intraday_{day}" if intraday else f"events_{day}"
        path = folder / f"{name}.{'parquet' if file_format == 'parquet' else 'jsonl'}"
        if file_format == "parquet":
            table.write_parquet(path)
        else:
            table.write_ndjson(path)
        written.append(path)
    return written


def _ga4_table(events: pl.DataFrame, attribution: str, intraday: bool, file_format: str) -> pl.DataFrame:
    """One day's GA4 rows from `events` (with_sessions, ga4_name, transaction_id)."""
    rows = events.height
    events = events.with_row_index("event_row")
    source, medium = _campaign(pl.col("session_channel")) if "session_channel" in events.columns else (pl.lit(None), pl.lit(None))
    whole = pl.String if file_format == "jsonl" else pl.Int64  # BigQuery's JSON writes INT64 as text
    def rows_of(frame: pl.DataFrame, key: str, *, text: pl.Expr | None = None, number: pl.Expr | None = None) -> pl.DataFrame:
        return frame.select(
            "event_row",
            key=pl.lit(key),
            string_value=pl.lit(None, pl.String) if text is None else text.cast(pl.String),
            int_value=pl.lit(None, pl.Int64) if number is None else number.cast(pl.Int64),
        )

    params = [
        rows_of(events, "ga_session_id", number=pl.col("session_start").dt.epoch("s")),
        rows_of(events, "engagement_time_msec", number=pl.lit(100)),
    ]
    if "page" in events.columns:
        params.append(rows_of(events.filter(pl.col("page").is_not_null()), "page_location", text=_page_url(pl.col("page"))))
    if "search_term" in events.columns:
        params.append(rows_of(events.filter(pl.col("search_term").is_not_null()), "search_term", text=pl.col("search_term")))
    if attribution == "params":
        first = events.filter(pl.col("first_in_session") & pl.col("session_channel").is_not_null() & (pl.col("session_channel") != "direct"))
        params += [rows_of(first, "source", text=source), rows_of(first, "medium", text=medium)]
    long = pl.concat(params).sort("event_row", maintain_order=True).with_columns(
        pl.col("int_value").cast(whole), float_value=pl.lit(None, pl.Float64), double_value=pl.lit(None, pl.Float64)
    )
    value = pa.StructArray.from_arrays(
        [long[name].to_arrow() for name in ("string_value", "int_value", "float_value", "double_value")],
        names=["string_value", "int_value", "float_value", "double_value"],
    )
    param = pa.StructArray.from_arrays([long["key"].to_arrow(), value], names=["key", "value"])
    event_params = pl.Series("event_params", _lists(rows, long["event_row"].to_numpy(), param))
    with_item = events.filter(pl.col("product_id").is_not_null()) if "product_id" in events.columns else events.clear()
    item = pa.StructArray.from_arrays(
        [with_item["product_id"].cast(pl.String).to_arrow() if with_item.height else pa.array([], pa.large_string()),
         pa.array(np.ones(with_item.height, dtype=np.int64))],
        names=["item_id", "quantity"],
    )
    items = pl.Series("items", _lists(rows, with_item["event_row"].to_numpy(), item))
    platform, category = (
        (pl.col("session_device").replace({k: v[0] for k, v in GA4_DEVICES.items()}), pl.col("session_device").replace({k: v[1] for k, v in GA4_DEVICES.items()}))
        if "session_device" in events.columns else (pl.lit("WEB"), pl.lit(None, pl.String))
    )
    anonymous = "anonymous_id" in events.columns
    columns = {
        "event_date": pl.col("event_time").dt.strftime("%Y%m%d"),
        "event_timestamp": pl.col("event_time").dt.epoch("us").cast(whole),
        "event_name": pl.col("ga4_name"),
        "user_pseudo_id": pl.col("visitor"),
        "user_id": pl.col("user_id").cast(pl.String) if anonymous else pl.lit(None, pl.String),
        "platform": platform,
        "device": pl.struct(category=category, operating_system=pl.lit(None, pl.String)),
        "ecommerce": pl.struct(transaction_id=pl.col("transaction_id")),
        # the user's first acquisition: read by nobody, written so that a reader using it
        # instead of the session's source would be caught by the tests
        "traffic_source": pl.struct(source=pl.lit("(direct)"), medium=pl.lit("(none)"), name=pl.lit("(direct)")),
    }
    first_non_direct = pl.col("first_in_session") & (pl.col("session_channel") != "direct")
    if attribution == "collected":
        columns["collected_traffic_source"] = pl.struct(
            manual_source=pl.when(first_non_direct).then(source), manual_medium=pl.when(first_non_direct).then(medium), gclid=pl.lit(None, pl.String)
        )
    if attribution == "last_click" and not intraday:
        columns["session_traffic_source_last_click"] = pl.struct(
            manual_campaign=pl.struct(source=source, medium=medium, campaign_name=pl.lit(None, pl.String))
        )
    table = events.select(**columns).with_columns(event_params, items)
    return table.select("event_date", "event_timestamp", "event_name", "event_params", *[c for c in table.columns if c not in ("event_date", "event_timestamp", "event_name", "event_params")])


# -- shared by the writers below -----------------------------------------------------------

_USER_AGENTS = {
    "desktop": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
    "mobile_web": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
}
REFERRERS = {"organic": "https://www.google.com/", "social": "https://m.facebook.com/"}


def _prepared(events: pl.DataFrame) -> pl.DataFrame:
    """`events` with_sessions, sorted by time, each with a unique `event_number`, its
    visit's landing attribution (`source`, `medium` for channels written as a campaign,
    `landing_referrer` for the others, on the events at the session's start) and a
    uuid-like `session_uuid`."""
    events = with_sessions(events).sort("event_time", maintain_order=True).with_row_index("event_number")
    channel = pl.col("session_channel") if "session_channel" in events.columns else pl.lit(None, pl.String)
    source, medium = _campaign(channel)
    # the calls made on the landing page (all those stamped with the session's start) carry
    # its campaign and referrer, as Segment's and PostHog's libraries stamp them
    landing = pl.col("event_time") == pl.col("session_start")
    as_campaign = landing & channel.is_not_null() & ~channel.is_in(["direct", *REFERRERS])
    referrer = pl.when(landing).then(channel.replace_strict(REFERRERS, default=None))
    return events.with_columns(
        source=pl.when(as_campaign).then(source),
        medium=pl.when(as_campaign).then(medium),
        landing_referrer=referrer,
        session_uuid=pl.format("00000000-0000-4000-8000-{}", pl.col("session").cast(pl.String).str.zfill(12)),
        event_uuid=pl.format("10000000-0000-4000-8000-{}", pl.col("event_number").cast(pl.String).str.zfill(12)),
        page_url=_page_url(pl.col("page")) if "page" in events.columns else pl.lit(SITE + "/"),
        type=pl.col("event_type").cast(pl.String),
    )


def _optional(events: pl.DataFrame, column: str, dtype: pl.DataType | DataTypeClass = pl.String) -> pl.Expr:
    return pl.col(column).cast(dtype) if column in events.columns else pl.lit(None, dtype)


def _iso(column: str) -> pl.Expr:
    return pl.col(column).dt.strftime("%Y-%m-%dT%H:%M:%S%.6fZ")


def _write(frame: pl.DataFrame, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    writers: dict[str, Callable[[Path], object]] = {".parquet": frame.write_parquet, ".csv": frame.write_csv, ".jsonl": frame.write_ndjson}
    writers[path.suffix](path)
    return path


# -- Snowplow ------------------------------------------------------------------------------

SNOWPLOW_ACTIONS = {
    "product_view": "product_view",
    "product_impression": "list_view",
    "product_click": "list_click",
    "add_to_cart": "add_to_cart",
    "checkout": "checkout_step",
    "purchase": "transaction",
}
_SNOWPLOW_ECOMMERCE = "com_snowplowanalytics_snowplow_ecommerce_"


def write_snowplow(events: pl.DataFrame, folder: str | Path, *, file_format: str = "csv") -> Path:
    """Write `events` as Snowplow's atomic events in the wide layout of BigQuery, Snowflake
    and Databricks (entities as JSON columns, as in snowplow/dbt-snowplow-ecommerce's
    integration test data): `events.csv` or `events.parquet`. Page pings follow each page
    view (read as left out); organic visits arrive with a search engine's referrer and
    other channels with the landing URL's campaign (mkt_*)."""
    events = _prepared(events)
    pings = events.filter(pl.col("type") == "page_view").with_columns(
        pl.col("event_time") + timedelta(seconds=1), type=pl.lit("page_ping"), first_in_session=pl.lit(False),
        event_uuid=pl.col("event_uuid").str.replace("^1", "2"),
    )
    events = pl.concat([events, pings], how="vertical").sort("event_time", "event_uuid")
    action = pl.col("type").replace_strict(SNOWPLOW_ACTIONS, default=None)
    is_search = pl.col("type") == "search"
    event_name = pl.when(action.is_not_null()).then(pl.lit("snowplow_ecommerce_action")).otherwise(pl.col("type"))
    product = _optional(events, "product_id")
    quoted_product = pl.format('[{{"id": "{}", "category": "shop", "price": 1.0, "currency": "CNY"}}]', product)
    device = _optional(events, "session_device")
    stamp = pl.col("event_time") if file_format == "parquet" else pl.col("event_time").dt.strftime("%Y-%m-%d %H:%M:%S%.3f")
    referrer = pl.col("landing_referrer")
    table = events.select(
        app_id=pl.lit("shop"),
        platform=pl.when(device == "app").then(pl.lit("mob")).otherwise(pl.lit("web")),
        collector_tstamp=stamp,
        derived_tstamp=stamp,
        event=pl.when(pl.col("type").is_in(["page_view", "page_ping"])).then(pl.col("type")).otherwise(pl.lit("unstruct")),
        event_id=pl.col("event_uuid"),
        user_id=pl.col("user_id").cast(pl.String) if "anonymous_id" in events.columns else pl.lit(None, pl.String),
        domain_userid=pl.col("visitor"),
        domain_sessionidx=pl.col("session").cast(pl.String),
        network_userid=pl.col("visitor"),
        page_url=pl.col("page_url"),
        page_urlhost=pl.lit("shop.example.com"),
        page_urlpath=pl.col("page_url").str.replace(f"^{SITE}", ""),
        refr_urlhost=pl.when(referrer.is_not_null()).then(referrer.str.extract(r"://([^/]+)", 1))
        .when(~pl.col("first_in_session")).then(pl.lit("shop.example.com")),
        refr_medium=pl.when(referrer.is_not_null()).then(pl.when(referrer.str.contains("google")).then(pl.lit("search")).otherwise(pl.lit("social")))
        .when(~pl.col("first_in_session")).then(pl.lit("internal")),
        refr_source=pl.when(referrer.is_not_null()).then(pl.when(referrer.str.contains("google")).then(pl.lit("Google")).otherwise(pl.lit("Facebook"))),
        mkt_medium=pl.col("medium"),
        mkt_source=pl.col("source"),
        useragent=pl.when(device == "desktop").then(pl.lit(_USER_AGENTS["desktop"])).otherwise(pl.lit(_USER_AGENTS["mobile_web"])),
        dvce_type=pl.lit(None, pl.String),
        dvce_ismobile=pl.when(device.is_null()).then(None).when(device == "desktop").then(pl.lit("false")).otherwise(pl.lit("true")),
        domain_sessionid=pl.col("session_uuid"),
        event_vendor=pl.when(action.is_not_null()).then(pl.lit("com.snowplowanalytics.snowplow.ecommerce"))
        .when(is_search).then(pl.lit("com.snowplowanalytics.snowplow")).otherwise(pl.lit("com.snowplowanalytics.snowplow")),
        event_name=pl.when(is_search).then(pl.lit("site_search")).otherwise(event_name),
        **{
            f"unstruct_event_{_SNOWPLOW_ECOMMERCE}snowplow_ecommerce_action_1_0_2": pl.when(action.is_not_null()).then(
                pl.format('{{"type": "{}", "name": null}}', action)
            ),
            f"contexts_{_SNOWPLOW_ECOMMERCE}product_1_0_0": pl.when(action.is_not_null() & product.is_not_null()).then(quoted_product).otherwise(pl.lit("[]")),
            f"contexts_{_SNOWPLOW_ECOMMERCE}transaction_1_0_0": pl.when(action == "transaction").then(
                pl.format('[{{"transaction_id": "T{}", "revenue": 1.0, "currency": "CNY", "payment_method": "card", "total_quantity": 1}}]', pl.col("event_number"))
            ).otherwise(pl.lit("[]")),
            f"contexts_{_SNOWPLOW_ECOMMERCE}checkout_step_1_0_0": pl.when(action == "checkout_step").then(pl.lit('[{"step": 1}]')).otherwise(pl.lit("[]")),
            "unstruct_event_com_snowplowanalytics_snowplow_site_search_1_0_0": pl.when(is_search).then(
                pl.struct(terms=pl.concat_list(_optional(events, "search_term"))).struct.json_encode()
            ),
        },
    )
    return _write(table, Path(folder) / f"events.{file_format}")


# -- Segment and RudderStack ---------------------------------------------------------------

SEGMENT_NAMES = {
    "product_impression": "Product List Viewed",
    "product_click": "Product Clicked",
    "product_view": "Product Viewed",
    "add_to_cart": "Product Added",
    "checkout": "Checkout Started",
    "purchase": "Order Completed",
    "search": "Products Searched",
}


def write_segment(events: pl.DataFrame, folder: str | Path, *, file_format: str = "csv", rudderstack: bool = False) -> list[Path]:
    """Write `events` as Segment's warehouse tables (RudderStack's with `rudderstack`, which
    adds context_session_id, the session's start in milliseconds): page views in `pages`,
    other events in `tracks` and, for the e-commerce spec's events, their own tables with
    their properties (`products` stringified, as warehouses store arrays); `identifies`
    when visitors sign in (`anonymous_id` given). A visit's landing events carry the
    campaign (context_campaign_*) or an external referrer; later ones the shop's own page."""
    from connectors.trackers.segment import slug

    folder = Path(folder)
    events = _prepared(events)
    device = _optional(events, "session_device")
    product = _optional(events, "product_id")
    signed_in = "anonymous_id" in events.columns
    name = pl.col("type").replace_strict(SEGMENT_NAMES, default=pl.col("type"))
    common = {
        "id": pl.col("event_uuid"),
        "anonymous_id": pl.col("visitor"),
        "user_id": pl.col("user_id").cast(pl.String) if signed_in else pl.lit(None, pl.String),
        "timestamp": pl.col("event_time") if file_format == "parquet" else _iso("event_time"),
        "received_at": (pl.col("event_time") + timedelta(seconds=2)) if file_format == "parquet" else _iso("event_time"),
        "context_page_path": pl.col("page_url").str.replace(f"^{SITE}", ""),
        "context_page_url": pl.col("page_url"),
        "context_page_referrer": pl.coalesce(pl.col("landing_referrer"), pl.when(~pl.col("first_in_session")).then(pl.lit(SITE + "/"))),
        "context_campaign_source": pl.col("source"),
        "context_campaign_medium": pl.col("medium"),
        "context_user_agent": pl.when(device == "app").then(None).when(device == "desktop").then(pl.lit(_USER_AGENTS["desktop"])).otherwise(pl.lit(_USER_AGENTS["mobile_web"])),
        "context_library_name": pl.when(device == "app").then(pl.lit("analytics-android")).otherwise(pl.lit("analytics.js")),
        "context_device_type": pl.when(device == "app").then(pl.lit("android")),
    }
    if rudderstack:
        common["context_session_id"] = pl.col("session_start").dt.epoch("ms").cast(pl.String)
    written = [_write(events.filter(pl.col("type") == "page_view").select(**common, path=pl.col("page_url").str.replace(f"^{SITE}", "")),
                      folder / f"pages.{file_format}")]
    tracks = events.filter(pl.col("type") != "page_view").with_columns(event_text=name)
    event_slug = (
        pl.col("event_text").str.replace_all(r"([a-z0-9])([A-Z])", "${1}_${2}").str.to_lowercase()
        .str.replace_all(r"[^a-z0-9]+", "_").str.strip_chars("_")
    )  # segment.slug, for every row at once
    written.append(_write(tracks.select(**common, event=event_slug, event_text=pl.col("event_text")),
                          folder / f"tracks.{file_format}"))
    for canonical, text in SEGMENT_NAMES.items():
        own = tracks.filter(pl.col("type") == canonical)
        if own.is_empty():
            continue
        properties = {}
        if canonical in ("product_click", "product_view", "add_to_cart"):
            properties["product_id"] = product
        if canonical in ("product_impression", "checkout", "purchase"):
            properties["products"] = pl.when(product.is_not_null()).then(pl.format('[{{"product_id":"{}","price":1.0}}]', product)).otherwise(pl.lit("[]"))
        if canonical in ("checkout", "purchase"):
            properties["order_id"] = pl.format("T{}", pl.col("event_number"))
        if canonical == "search":
            properties["query"] = _optional(events, "search_term")
        table = own.select(**common, event=pl.lit(slug(text)), event_text=pl.lit(text), **properties)
        written.append(_write(table, folder / f"{slug(text)}.{file_format}"))
    if signed_in:
        identifies = events.filter("first_of_visitor").select(
            id=pl.format("identify-{}", pl.col("event_number")),
            anonymous_id=pl.col("visitor"),
            user_id=pl.col("user_id").cast(pl.String),
            timestamp=pl.col("event_time") if file_format == "parquet" else _iso("event_time"),
        )
        written.append(_write(identifies, folder / f"identifies.{file_format}"))
    return written


# -- PostHog -------------------------------------------------------------------------------


def write_posthog(events: pl.DataFrame, folder: str | Path, *, file_format: str = "jsonl") -> Path:
    """Write `events` as PostHog's events export (uuid, event, distinct_id, person_id,
    timestamp, properties as JSON text): `events.<file_format>`. With `anonymous_id`, a
    visitor's first event is anonymous, then identify() is called ($identify naming the
    anonymous id in $anon_distinct_id) and its later events carry the customer id as
    distinct_id with $is_identified. $pageleave closes each page view (read as left out)."""
    events = _prepared(events)
    device = _optional(events, "session_device")
    product = _optional(events, "product_id")
    signed_in = "anonymous_id" in events.columns
    names = {**SEGMENT_NAMES, "page_view": "$pageview"}
    identified = ~pl.col("first_of_visitor") if signed_in else pl.lit(False)
    identify = events.filter("first_of_visitor").with_columns(
        type=pl.lit("$identify"), event_time=pl.col("event_time") + timedelta(milliseconds=1),
        event_uuid=pl.col("event_uuid").str.replace("^1", "3"),
    ) if signed_in else events.clear()
    leave = events.filter(pl.col("type") == "page_view").with_columns(
        type=pl.lit("$pageleave"), event_time=pl.col("event_time") + timedelta(milliseconds=500),
        event_uuid=pl.col("event_uuid").str.replace("^1", "4"), source=None, medium=None, landing_referrer=None,
    )
    is_identify = pl.col("type") == "$identify"
    events = pl.concat([events.with_columns(identified=identified), identify.with_columns(identified=pl.lit(True)),
                        leave.with_columns(identified=identified)], how="vertical").sort("event_time", "event_uuid")
    customer = pl.col("user_id").cast(pl.String) if signed_in else pl.col("visitor")
    referrer = pl.col("landing_referrer").str.extract(r"://([^/]+)", 1)
    properties = pl.struct(
        *(value.alias(name) for name, value in {
            "$session_id": pl.col("session_uuid"),
            "$current_url": pl.col("page_url"),
            "$host": pl.lit("shop.example.com"),
            "$device_type": device.replace_strict({"desktop": "Desktop", "mobile_web": "Mobile", "app": "Mobile"}, default=None),
            "$lib": pl.when(device == "app").then(pl.lit("posthog-android")).otherwise(pl.lit("web")),
            "$referring_domain": pl.when(pl.col("first_in_session")).then(pl.coalesce(referrer, pl.lit("$direct"))).otherwise(pl.lit("shop.example.com")),
            "$is_identified": pl.col("identified"),
            "$anon_distinct_id": pl.when(is_identify).then(pl.col("visitor")),
            "utm_source": pl.col("source"),
            "utm_medium": pl.col("medium"),
            "product_id": pl.when(pl.col("type").is_in(["product_click", "product_view", "add_to_cart"])).then(product),
            "products": pl.when(pl.col("type").is_in(["product_impression", "checkout", "purchase"]) & product.is_not_null())
            .then(pl.concat_list(pl.struct(product_id=product, price=pl.lit(1.0)))),
            "query": pl.when(pl.col("type") == "search").then(_optional(events, "search_term")),
            "order_id": pl.when(pl.col("type") == "purchase").then(pl.format("T{}", pl.col("event_number"))),
        }.items())
    ).struct.json_encode()
    table = events.select(
        uuid=pl.col("event_uuid"),
        event=pl.col("type").replace_strict(names, default=pl.col("type")),
        distinct_id=pl.when(pl.col("identified")).then(customer).otherwise(pl.col("visitor")),
        person_id=pl.format("person-{}", customer),
        timestamp=pl.col("event_time").dt.strftime("%Y-%m-%dT%H:%M:%S%.6f+00:00"),
        properties=properties,
    )
    return _write(table, Path(folder) / f"events.{file_format}")
