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

from datetime import timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa

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
    first = pl.col("first_in_session") & (pl.col("session_channel") != "direct")
    if attribution == "collected":
        columns["collected_traffic_source"] = pl.struct(
            manual_source=pl.when(first).then(source), manual_medium=pl.when(first).then(medium), gclid=pl.lit(None, pl.String)
        )
    if attribution == "last_click" and not intraday:
        columns["session_traffic_source_last_click"] = pl.struct(
            manual_campaign=pl.struct(source=source, medium=medium, campaign_name=pl.lit(None, pl.String))
        )
    table = events.select(**columns).with_columns(event_params, items)
    return table.select("event_date", "event_timestamp", "event_name", "event_params", *[c for c in table.columns if c not in ("event_date", "event_timestamp", "event_name", "event_params")])
