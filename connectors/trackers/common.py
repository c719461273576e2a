"""What the four tracker readers share: the traffic channel of a visit, the device, the page,
and the steps that turn a tracker's events (each reader's `RAW_COLUMNS`) into canonical ones.

A reader hands `canonical_events` a frame of its events in one shape, whatever the tracker:

| column | what it holds |
| --- | --- |
| anonymous_id | the tracker's visitor id (GA4 user_pseudo_id, Snowplow domain_userid, Segment anonymous_id, PostHog distinct_id before identify) |
| customer_id | the shop's own customer id where the event carries one (GA4 user_id, Snowplow user_id, Segment user_id, PostHog's identified distinct_id), else null |
| event_time | UTC |
| event_name | the tracker's own name, read through the preset's `event_types` |
| session_key | the tracker's session id (GA4 ga_session_id, Snowplow domain_sessionid, RudderStack context_session_id, PostHog $session_id); absent for Segment |
| page | the URL path (or the app's screen name) |
| product_ids | the products of the event, in the tracker's order |
| search_term, device, transaction_id | as named |
| attributed_channel | `channel_of` the event's own source / medium / click id / referrer; null when the event says nothing about where the visit came from |
| event_id | the tracker's id of the event where it has one (Snowplow event_id, Segment id, PostHog uuid): an event loaded twice is read once |

The canonical `user_id` is the customer id where the tracker knows it, else the visitor's
anonymous id (`stitched_user_ids`); the pairs are kept (`identity_pairs`) so that the shop's
orders can be joined to the visitors who signed in.
"""

from dataclasses import dataclass, field
from datetime import timedelta

import polars as pl
from polars.datatypes import DataTypeClass
from polars.expr.whenthen import ChainedThen, Then

from connectors.schema import UTC_DATETIME

# -- traffic channels ----------------------------------------------------------------------

# The channel values are the sample shop's (sample_data/vocabulary.py CHANNELS), plus
# referral; a medium none of these rules knows is kept as its own channel (lower case).
# The rules follow Google's default channel group (support.google.com/analytics/answer/9756891):
# direct is source "(direct)" with medium "(none)" / "(not set)"; a cost-per-click medium or
# an ad click id is paid search unless the source is a social site; "organic" is organic
# search; email, affiliate and referral media are their channels.
PAID_SEARCH_MEDIA = ("cpc", "ppc", "paidsearch", "paid_search", "paid-search", "paid search", "sem", "retargeting")
SOCIAL_MEDIA = ("social", "social-network", "social-media", "social_network", "social_media", "social network",
                "social media", "sm", "paid_social", "paidsocial", "paid-social", "organic_social")
EMAIL_MEDIA = ("email", "e-mail", "e_mail", "e mail", "newsletter")
AFFILIATE_MEDIA = ("affiliate", "affiliates")
NO_MEDIUM = ("", "(none)", "(not set)", "none")
NO_SOURCE = ("", "(direct)", "(not set)", "direct", "$direct")
# Sites whose name in a source or a referrer's host makes the visit social or organic search.
SOCIAL_SITES = ("facebook", "instagram", "fb", "ig", "twitter", "t.co", "x.com", "linkedin", "pinterest", "reddit",
                "tiktok", "youtube", "weibo", "douyin", "xiaohongshu", "zhihu", "weixin", "wechat", "vk.com", "line.me")
SEARCH_ENGINES = ("google", "bing", "baidu", "yahoo", "duckduckgo", "yandex", "sogou", "so.com", "sm.cn", "naver",
                  "ecosia", "seznam")


def _names_site(text: pl.Expr, sites: tuple[str, ...]) -> pl.Expr:
    """Whether `text` (a source or a host, lower case) is one of `sites` or a host of one:
    "facebook", "m.facebook.com" and "l.facebook.com" all name facebook."""
    pattern = r"(^|\.)(" + "|".join(site.replace(".", r"\.") for site in sites) + r")(\.|$)"
    return text.str.contains(pattern)


def channel_of(
    source: pl.Expr,
    medium: pl.Expr,
    *,
    click_id: pl.Expr | None = None,
    referrer_host: pl.Expr | None = None,
) -> pl.Expr:
    """The traffic channel an event's attribution names, or null when it names none.

    In order: an ad click id (gclid and the like) -> paid_search; a social medium or a
    social site as source -> social; a cost-per-click medium -> paid_search; "organic" ->
    organic; an email medium or source -> email; "affiliate" -> affiliate; "referral" ->
    referral; any other medium -> itself, lower case. Without a campaign medium: another
    source -> referral; source "(direct)" -> direct; else an external referrer's host: a
    search engine -> organic, a social site -> social, any other -> referral; nothing at
    all -> null (the visit's other events, or `session_channels`, decide).
    `referrer_host` must already be empty for the shop's own pages (`external_host`).

    The rules run once per distinct (source, medium, click id, referrer): a shop's events
    come from a few hundred of them, and the rules over every event took 1.1 s of CPU for
    1.16 million events.
    """
    inputs = pl.struct(
        source=source.cast(pl.String),
        medium=medium.cast(pl.String),
        click_id=pl.lit(False) if click_id is None else click_id.fill_null(False),
        referrer_host=pl.lit(None, pl.String) if referrer_host is None else referrer_host.cast(pl.String),
    )
    return inputs.map_batches(_channels, return_dtype=pl.String)


def _channels(inputs: pl.Series) -> pl.Series:
    attribution = inputs.struct.unnest()
    distinct = attribution.unique().with_columns(
        channel=_channel_rules(pl.col("source"), pl.col("medium"), pl.col("click_id"), pl.col("referrer_host"))
    )
    return attribution.join(
        distinct, on=list(attribution.columns), how="left", nulls_equal=True, maintain_order="left"
    ).get_column("channel")


def _channel_rules(source: pl.Expr, medium: pl.Expr, click_id: pl.Expr, referrer_host: pl.Expr) -> pl.Expr:
    source = source.str.strip_chars().str.to_lowercase()
    medium = medium.str.strip_chars().str.to_lowercase()
    has_medium = medium.is_not_null() & ~medium.is_in(NO_MEDIUM)
    has_source = source.is_not_null() & ~source.is_in(NO_SOURCE)
    host = referrer_host.str.to_lowercase()
    external = host.is_not_null() & (host != "")
    return first_match([
        (click_id, "paid_search"),
        (medium.is_in(SOCIAL_MEDIA) | (has_source & _names_site(source, SOCIAL_SITES)), "social"),
        (medium.is_in(PAID_SEARCH_MEDIA), "paid_search"),
        (medium == "organic", "organic"),
        (medium.is_in(EMAIL_MEDIA) | source.is_in(EMAIL_MEDIA), "email"),
        (medium.is_in(AFFILIATE_MEDIA), "affiliate"),
        (has_medium, medium),
        (has_source, "referral"),
        (source.is_in(("(direct)", "direct", "$direct")), "direct"),
        (external & _names_site(host, SEARCH_ENGINES), "organic"),
        (external & _names_site(host, SOCIAL_SITES), "social"),
        (external, "referral"),
    ])


def first_match(rules: list[tuple[pl.Expr, str | pl.Expr]]) -> pl.Expr:
    """The value of the first rule whose condition holds, else null."""
    (condition, value), *others = rules
    chosen: Then | ChainedThen = pl.when(condition).then(_value(value))
    for condition, value in others:
        chosen = chosen.when(condition).then(_value(value))
    return chosen.otherwise(None)


def _value(value: str | pl.Expr) -> pl.Expr:
    return pl.lit(value, pl.String) if isinstance(value, str) else value


def url_host(url: pl.Expr) -> pl.Expr:
    """The host of a URL ("https://www.shop.cn:443/p?x" -> "www.shop.cn"), lower case."""
    return url.str.extract(r"^[A-Za-z][A-Za-z0-9+.-]*://([^/?#:]*)", 1).str.to_lowercase()


def external_host(referrer_host: pl.Expr, page_host: pl.Expr) -> pl.Expr:
    """The referrer's host, or null when the visitor came from the shop's own pages (the
    same host), whose referrer says nothing about where the visit came from."""
    return pl.when(referrer_host != page_host.fill_null("")).then(referrer_host)


def url_path(url: pl.Expr) -> pl.Expr:
    """The page of a URL: its path without scheme, host, query or fragment ("/" for none).

    The canonical `page` is a label the path views group by; the query string would make
    every search or campaign landing a page of its own. Worked out once per distinct URL
    (a shop's events visit a few thousand pages): the regular expressions per event took
    0.9 s for 1.16 million events."""
    return url.map_batches(_paths, return_dtype=pl.String)


def _paths(urls: pl.Series) -> pl.Series:
    distinct = urls.drop_nulls().unique().to_frame("url")
    path = pl.col("url").str.replace(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*", "").str.replace(r"[?#].*$", "")
    return looked_up(urls, distinct.with_columns(path=pl.when(path == "").then(pl.lit("/")).otherwise(path)))


# -- devices -------------------------------------------------------------------------------

# The sample shop's device values (sample_data/vocabulary.py DEVICES): the native app, the
# shop's site on a phone or tablet, and on a computer.
_MOBILE = ("mobile", "tablet", "smartphone", "phone", "phablet", "feature phone")
_DESKTOP = ("desktop", "computer", "pc", "laptop")


def device_of(category: pl.Expr, *, app: pl.Expr | None = None) -> pl.Expr:
    """The canonical device: "app" for the shop's native app (`app` true), else the
    tracker's device category as "mobile_web" (mobile, tablet) or "desktop"; another
    category is kept, lower case; none -> null. Worked out once per distinct pair."""
    inputs = pl.struct(category=category.cast(pl.String), app=pl.lit(False) if app is None else app.fill_null(False))
    return inputs.map_batches(_devices, return_dtype=pl.String)


def _devices(inputs: pl.Series) -> pl.Series:
    pairs = inputs.struct.unnest()
    category = pl.col("category").str.strip_chars().str.to_lowercase()
    distinct = pairs.unique().with_columns(
        device=first_match([
            (pl.col("app"), "app"),
            (category.is_in(_MOBILE), "mobile_web"),
            (category.is_in(_DESKTOP), "desktop"),
            (category != "", category),
        ])
    )
    return pairs.join(distinct, on=["category", "app"], how="left", nulls_equal=True, maintain_order="left").get_column("device")


def user_agent_category(user_agent: pl.Expr) -> pl.Expr:
    """"mobile" or "desktop" from a browser's user agent (trackers that keep only that)."""
    return (
        pl.when(user_agent.is_null()).then(None)
        .when(user_agent.str.contains(r"Mobi|Android|iPhone|iPad|iPod|Tablet|HarmonyOS")).then(pl.lit("mobile"))
        .otherwise(pl.lit("desktop"))
    )


# -- event names ---------------------------------------------------------------------------

ITEM_EVENT_TYPES = ("product_impression", "product_click", "product_view", "add_to_cart")
"""Canonical events that name one product each: a tracker event listing several products
(a product list seen, a cart add of three items) becomes one such event per product. Other
events (checkout, purchase) stay one event and name their first product, as the sample
shop's purchase event names the order's first item."""


@dataclass(frozen=True)
class EventTypes:
    """A preset's reading of a tracker's event names: `names` maps a tracker name to a
    canonical event type, or to "" for events left out (bookkeeping such as GA4's
    session_start, which repeats the page_view beside it). A name not listed is kept as
    its own event type when `unknown` is "keep", refused when it is "refuse"."""

    names: dict[str, str]
    unknown: str = "keep"
    dropped: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "dropped", tuple(name for name, target in self.names.items() if target == ""))

    def kept(self) -> dict[str, str]:
        return {name: target for name, target in self.names.items() if target != ""}

    def event_type(self, name: pl.Expr) -> pl.Expr:
        """The canonical type of the tracker event `name` (unknown names kept as they are)."""
        return name.replace(self.kept())


# -- from a tracker's events to canonical ones ---------------------------------------------

RAW_COLUMNS = {
    "anonymous_id": pl.String,
    "customer_id": pl.String,
    "event_time": UTC_DATETIME,
    "event_name": pl.String,
    "page": pl.String,
    "product_ids": pl.List(pl.String),
    "search_term": pl.String,
    "device": pl.String,
    "transaction_id": pl.String,
    "attributed_channel": pl.String,
}
SESSION_KEY = "session_key"
_GAP_SEED = 7  # hash seed of the sessions derived for events without a tracker session id


def typed_events(events: pl.LazyFrame, event_types: EventTypes) -> pl.LazyFrame:
    """The tracker's events with their canonical `event_type`, the left-out names dropped
    (before anything else, so that GA4's bookkeeping, a third of its rows, is never held),
    one row per product for ITEM_EVENT_TYPES (the first product for other events)."""
    # an event without a name stays, for the source's checks to name
    typed = events.filter(~pl.col("event_name").is_in(event_types.dropped).fill_null(False)).with_columns(
        event_type=event_types.event_type(pl.col("event_name"))
    )
    per_product = pl.col("event_type").is_in(ITEM_EVENT_TYPES)
    labels = [name for name in LABELS if name in events.collect_schema()]
    typed = typed.with_columns(
        listed=pl.col("event_name").is_in(list(event_types.names)),
        product_id=pl.when(per_product).then(pl.col("product_ids")).otherwise(pl.col("product_ids").list.head(1)),
    ).with_columns(pl.col(name).cast(pl.Categorical) for name in labels).drop("event_name", "product_ids")
    return typed.explode("product_id", empty_as_null=True, keep_nulls=True)


# Columns of few distinct values, held as categoricals: at 10 million events a tenth of the memory of text.
LABELS = ("event_type", "page", "device", "attributed_channel")


def utc_time(value: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """A tracker's timestamp column (of dtype `dtype`) as a UTC datetime: text in ISO 8601
    (with an offset, converted; without one, UTC, as trackers write it), or a datetime
    (without a zone: UTC). Anything else, and text that is not a time, is null, which the
    source's checks report with the file and rows."""
    if dtype == pl.String:
        # one format for all the ways trackers write a time (2026-03-01T10:00:00Z,
        # 2026-03-01 10:00:00.123+08:00, 2026-03-01 10:00:00.123456 UTC, no zone at all),
        # so that a column mixing them is read row by row, not by its first value's format
        text = (
            value.str.strip_chars().str.replace("T", " ", literal=True)
            .str.replace(r"(Z| UTC)$", "+00:00").str.replace(r"([+-]\d\d)(\d\d)$", "${1}:${2}")
        )
        text = pl.when(text.str.contains(r"[+-]\d\d:\d\d$")).then(text).otherwise(text + "+00:00")
        return text.str.to_datetime("%Y-%m-%d %H:%M:%S%.f%:z", time_unit="us", time_zone="UTC", strict=False)
    if isinstance(dtype, pl.Datetime):
        value = value.dt.cast_time_unit("us")
        return value.dt.replace_time_zone("UTC") if dtype.time_zone is None else value.dt.convert_time_zone("UTC")
    return pl.lit(None, UTC_DATETIME)


def field_of(schema: pl.Schema, column: str, *path: str) -> pl.Expr:
    """A field of a record column as text, null where the file's schema lacks the column or
    the field: trackers add fields over the years (GA4 added collected_traffic_source in
    2023), and a file written before has none."""
    dtype: pl.DataType | DataTypeClass | None = schema.get(column)
    if dtype is None:
        return pl.lit(None, pl.String)
    value = pl.col(column)
    for name in path:
        fields = {field.name: field.dtype for field in dtype.fields} if isinstance(dtype, pl.Struct) else {}
        if name not in fields:
            return pl.lit(None, pl.String)
        dtype = fields[name]
        value = value.struct.field(name)
    return value.cast(pl.String)


def text_of(schema: pl.Schema, column: str) -> pl.Expr:
    """A column as text, empty text as null; null where the file lacks the column."""
    if column not in schema:
        return pl.lit(None, pl.String)
    value = pl.col(column).cast(pl.String)
    return pl.when(value != "").then(value)


def once_each(events: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """`events` with each tracker event id read once (its earliest), and how many rows
    repeated one: loaders retry, and Snowplow's dbt models drop such duplicates too."""
    if "event_id" not in events.columns:
        return events, 0
    with_id = pl.col("event_id").is_not_null()
    kept = (
        events.filter(with_id)
        .sort("event_time", maintain_order=True)
        .unique(["event_id", "product_id"], keep="first", maintain_order=True)
    )
    repeated = events.filter(with_id).height - kept.height
    return pl.concat([events.filter(~with_id), kept], how="vertical").drop("event_id"), repeated


def first_purchases(events: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """`events` with every purchase whose transaction id an earlier purchase has left out,
    and how many were left out. Trackers send a purchase again when the thank-you page is
    reloaded or reopened; the order is one. Purchases without a transaction id are kept."""
    repeated = (
        (pl.col("event_type") == "purchase")
        & pl.col("transaction_id").is_not_null()
        & ~pl.col("transaction_id").is_in(("", "(not set)"))
    )
    numbered = events.select(pl.int_range(pl.len(), dtype=pl.UInt32).alias("number"), "event_time", "transaction_id", repeated=repeated)
    purchases = numbered.filter("repeated").sort("event_time", maintain_order=True)
    again = purchases.filter(~pl.col("transaction_id").is_first_distinct())["number"]
    if again.is_empty():
        return events, 0
    # one filter over the events (a concatenation of the rest and the first purchases
    # would copy every column twice)
    return events.filter(~pl.int_range(pl.len(), dtype=pl.UInt32).is_in(again.implode())), again.len()


def identity_pairs(events: pl.DataFrame, extra: pl.DataFrame | None = None) -> pl.DataFrame:
    """(anonymous_id, user_id): the customer each visitor id signed in as, the latest one
    where it signed in as several (as Snowplow's dbt user mapping does); `extra` adds pairs
    the tracker records apart from events (Segment's identifies, PostHog's $identify)."""
    pairs = events.filter(pl.col("customer_id").is_not_null()).select(
        "anonymous_id", user_id="customer_id", at="event_time"
    )
    if extra is not None:
        pairs = pl.concat([pairs, extra.select("anonymous_id", "user_id", "at")], how="vertical_relaxed")
    return (
        pairs.filter(pl.col("anonymous_id") != pl.col("user_id"))
        .sort("at", maintain_order=True)
        .group_by("anonymous_id")
        .agg(pl.col("user_id").last())
        .sort("anonymous_id")
    )


def stitched_user_ids(events: pl.DataFrame, pairs: pl.DataFrame) -> pl.DataFrame:
    """`events` with `user_id`: the event's own customer id, else the customer its visitor
    id signed in as (before or after this event), else the visitor id. A visitor who never
    signs in stays an anonymous user of the events."""
    signed_in_as = looked_up(events["anonymous_id"], pairs.rename({"user_id": "signed_in_as"}))
    return events.with_columns(user_id=pl.coalesce(pl.col("customer_id"), signed_in_as, pl.col("anonymous_id")))


def looked_up(keys: pl.Series, table: pl.DataFrame) -> pl.Series:
    """The value (`table`'s second column) of each of `keys` (matched with its first),
    null for keys it lacks: a join of one column, not of the events' every column."""
    key = table.columns[0]
    return keys.rename(key).to_frame().join(table, on=key, how="left", maintain_order="left").to_series(1)


def session_ids(events: pl.DataFrame, gap: timedelta) -> pl.DataFrame:
    """`events` (with their stitched `user_id`) with `session_id`: a hash of the user and
    the tracker's session id. GA4's ga_session_id and RudderStack's session id are the
    session's start, unique per visitor only; the user, not the visitor id, is hashed
    because PostHog's distinct_id changes from the anonymous id to the customer id inside
    the session in which the visitor signs in. Events the tracker gave no session id
    (server-side calls) get sessions of their own by the SPEC's rule: a new one at the
    user's first such event and after every gap of more than `gap`."""
    tracked = pl.struct("user_id", SESSION_KEY).hash().reinterpret(signed=True)
    if events[SESSION_KEY].null_count() == 0:
        return events.with_columns(session_id=tracked).drop(SESSION_KEY)
    keyed = pl.col(SESSION_KEY).is_not_null()
    loose = events.filter(~keyed).sort("user_id", "event_time", maintain_order=True)
    starts = (pl.col("user_id") != pl.col("user_id").shift(1)).fill_null(True) | (
        pl.col("event_time") - pl.col("event_time").shift(1) > gap
    ).fill_null(True)
    loose = loose.with_columns(session_number=starts.cum_sum()).with_columns(
        session_id=pl.struct("user_id", "session_number").hash(seed=_GAP_SEED).reinterpret(signed=True)
    ).drop("session_number")
    return pl.concat([events.filter(keyed).with_columns(session_id=tracked), loose], how="vertical").drop(SESSION_KEY)


def session_channels(events: pl.DataFrame) -> pl.DataFrame:
    """`events` with `channel`: their session's, which is the attribution of the session's
    earliest event that has one (a landing page's campaign or referrer, GA4's session
    source on every event), else direct. Every event of a session carries it, so the
    session's first event, which the loading edge reads it from, has it whatever the order
    of events stamped at the same instant."""
    # the three columns read, before the sort: sorting every column of the events made the
    # steps after reading 10 million GA4 events take 2.5 s of CPU, 1.6 s so
    first_attribution = (
        events.select("session_id", "event_time", "attributed_channel")
        .filter(pl.col("attributed_channel").is_not_null())
        .sort("event_time", maintain_order=True)
        .group_by("session_id")
        .agg(session_channel=pl.col("attributed_channel").first())
    )
    channel = looked_up(events["session_id"], first_attribution).fill_null("direct")
    return events.with_columns(channel=channel).drop("attributed_channel")


def visit_channels(events: pl.DataFrame) -> pl.DataFrame:
    """`events` with `channel` for a tracker without session ids (Segment): the event's own
    attribution, else direct. Segment's libraries stamp the campaign and referrer of the
    page on every call made from it, so a visit's first event, from which the loading edge
    takes the session's channel, carries the landing page's."""
    return events.with_columns(channel=pl.col("attributed_channel").fill_null("direct")).drop("attributed_channel")


def unknown_names_note(events: pl.DataFrame, known: set[str]) -> str | None:
    """A line naming the event types outside `known` kept as their own types, with counts."""
    counts = (
        events.filter(~pl.col("event_type").is_in(sorted(known)))
        .group_by("event_type")
        .len()
        .sort(["len", "event_type"], descending=[True, False])
    )
    if counts.is_empty():
        return None
    shown = ", ".join(f"{name} ({count:,})" for name, count in counts.head(8).iter_rows())
    more = f" and {counts.height - 8} more" if counts.height > 8 else ""
    return f"kept {counts.height} event name(s) the preset does not map as their own event types: {shown}{more}"
