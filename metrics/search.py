"""On-site search: how much it is used, what it finds and where it loses people (SPEC section 3).

SPEC, Search: "searches = `search` events; search conversion = sessions with a search and a
purchase / sessions with a search; exit terms = the search terms of sessions whose last
event is that search."

Every measure here is over the sessions that begin on days start..end ("a session belongs
to the day of its first event"), with all of their events, so searches, conversion and exits
describe the same sessions.
"""

from datetime import date

import polars as pl

from metrics.paths import period_session_events
from metrics.registry import ratio

SUMMARY_COLUMNS = (
    "searches", "searching_sessions", "converted_searching_sessions",
    "searches_per_searching_session", "search_conversion",
)
DEFAULT_TERM_LIMIT = 20


def _search_sessions(events: pl.DataFrame, *, start: date, end: date, tz: str) -> pl.DataFrame:
    """The period's sessions with their events' type and normalised search `term` (null when
    the event has none, or the source no `search_term` column)."""
    term = pl.col("search_term") if "search_term" in events.columns else pl.lit(None, pl.String)
    period = period_session_events(
        events.select("session_id", "event_time", "event_type", term=term),
        start=start,
        end=end,
        tz=tz,
    )
    normalised = pl.col("term").str.strip_chars().str.to_lowercase()
    return period.with_columns(term=pl.when(normalised != "").then(normalised))


def _is_search() -> pl.Expr:
    return pl.col("event_type") == "search"


def _is_purchase() -> pl.Expr:
    return pl.col("event_type") == "purchase"


def search_summary(events: pl.DataFrame, *, start: date, end: date, tz: str) -> pl.DataFrame:
    """One row for the sessions that begin on days start..end.

    SPEC: "searches = `search` events; search conversion = sessions with a search and a
    purchase / sessions with a search". The purchase may come before or after the search.
    Columns: searches, searching_sessions, converted_searching_sessions,
    searches_per_searching_session (searches / searching sessions), search_conversion.
    """
    per_session = (
        _search_sessions(events, start=start, end=end, tz=tz)
        .group_by("session_id")
        .agg(searches=_is_search().sum(), bought=_is_purchase().any())
        .filter(pl.col("searches") > 0)
    )
    return (
        per_session.select(
            searches=pl.col("searches").sum().cast(pl.Int64),
            searching_sessions=pl.len().cast(pl.Int64),
            converted_searching_sessions=pl.col("bought").sum().cast(pl.Int64),
        )
        .with_columns(
            searches_per_searching_session=ratio("searches", "searching_sessions"),
            search_conversion=ratio("converted_searching_sessions", "searching_sessions"),
        )
        .select(SUMMARY_COLUMNS)
    )


def top_search_terms(
    events: pl.DataFrame, *, start: date, end: date, tz: str, limit: int = DEFAULT_TERM_LIMIT
) -> pl.DataFrame:
    """The `limit` most searched terms of the sessions that begin on days start..end.

    Per term: searches (`search` events with the term), sessions (sessions that searched it),
    converted_sessions (of those, sessions with a `purchase` event) and conversion =
    converted_sessions / sessions, the SPEC's search conversion for one term. Terms are
    trimmed and lower-cased, so "Hoodie " and "hoodie" are one term; searches without a term
    are left out. By searches (descending), then term.
    """
    searches = (
        _search_sessions(events, start=start, end=end, tz=tz)
        .with_columns(bought=_is_purchase().any().over("session_id"))
        .filter(_is_search(), pl.col("term").is_not_null())
    )
    converted = pl.col("session_id").filter(pl.col("bought"))
    return (
        searches.group_by("term")
        .agg(
            searches=pl.len().cast(pl.Int64),
            sessions=pl.col("session_id").n_unique().cast(pl.Int64),
            converted_sessions=converted.n_unique().cast(pl.Int64),
        )
        .with_columns(conversion=ratio("converted_sessions", "sessions"))
        .sort(["searches", "term"], descending=[True, False])
        .head(limit)
    )


def exit_terms(
    events: pl.DataFrame, *, start: date, end: date, tz: str, limit: int = DEFAULT_TERM_LIMIT
) -> pl.DataFrame:
    """The terms people searched for last before leaving, for sessions that begin on days
    start..end.

    SPEC: "exit terms = the search terms of sessions whose last event is that search."
    `product_impression` events do not count as later events: they are the results the search
    page showed, not something the user did, and a results page always logs them after the
    search, so without this rule no session would ever end on a search. A session's last
    event is its latest; of events at the same time, the last one given.
    Columns: term (trimmed and lower-cased), exits (sessions that ended on a search for it).
    By exits (descending), then term; at most `limit` terms.
    """
    last_actions = (
        _search_sessions(events, start=start, end=end, tz=tz)
        .filter(pl.col("event_type") != "product_impression")
        .group_by("session_id")
        .agg(pl.col("event_type", "term").last())
    )
    return (
        last_actions.filter(_is_search(), pl.col("term").is_not_null())
        .group_by("term")
        .agg(exits=pl.len().cast(pl.Int64))
        .sort(["exits", "term"], descending=[True, False])
        .head(limit)
    )
