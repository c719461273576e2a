"""One shop from several sources: each canonical table from the source that has it (orders,
items, products and users from the shop's database, events from the tracker's export).

Ids are joined where the tracker carries the shop's customer id (GA4 and Segment `user_id`,
Snowplow `user_id`, PostHog's identified `distinct_id`): the tracker readers give such
events the shop's id and keep an anonymous visitor's own id otherwise, so a visitor who never
signs in stays an anonymous user of the events, counted as a visitor and not as a registered
user. The two sources' ids need not share a type (a database's integer customer ids, a
tracker's text): a shop made of several sources gives every user and product id as text, so
that the same customer or product is the same id in every table.
"""

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

import polars as pl

from connectors.base import Source, SourceError
from connectors.schema import TABLES

SHARED_IDS = ("user_id", "product_id")
"""Ids that tables of different sources share: users, and products (a tracker's item id is
the shop's product id or SKU as text)."""


class CombinedSource:
    """`base` for every table, except the tables of `tables`, each read from its own source."""

    def __init__(self, base: Source, tables: Mapping[str, Source]) -> None:
        unknown = sorted(set(tables) - set(TABLES))
        if unknown:
            raise SourceError(f"[connections.shop.{unknown[0]}] is not a canonical table; the tables are {', '.join(TABLES)}.")
        self.base = base
        self.tables = dict(tables)

    @property
    def description(self) -> str:
        own = "; ".join(f"{name} from {source.description}" for name, source in self.tables.items())
        return f"{self.base.description}; {own}"

    @property
    def refresh_overlap(self) -> timedelta:
        """How far before the newest rows a refresh must read again: the longest of its
        sources' (a tracker's export rewrites its last days; a database needs none)."""
        return max((getattr(source, "refresh_overlap", timedelta(0)) for source in (self.base, *self.tables.values())), default=timedelta(0))

    def source_of(self, name: str) -> Source:
        """The source table `name` is read from."""
        return self.tables.get(name, self.base)

    def table_names(self) -> set[str]:
        names = {name for name in self.base.table_names() if name not in self.tables}
        for name, source in self.tables.items():
            if name in source.table_names():
                names.add(name)
        return names

    def read_table(
        self,
        name: str,
        *,
        columns: Iterable[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> pl.DataFrame:
        frame = self.source_of(name).read_table(name, columns=columns, since=since, until=until)
        # one id space across the sources (see the module docstring)
        return frame.with_columns(
            *(pl.col(column).cast(pl.String) for column in SHARED_IDS if column in frame.columns),
            # labels as categories (connectors.schema LABEL), as the tracker's are
            *(pl.col(column).cast(pl.Categorical) for column in ("channel", "device") if column in frame.columns),
        )

    def read_mapped(
        self,
        name: str,
        *,
        columns: Iterable[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
    ) -> pl.DataFrame:
        """Table `name` as its own source's mapping gives it (what the Data sources page
        previews and checks), or as canonical rows for a source without a mapping step."""
        source = self.source_of(name)
        reader = getattr(source, "read_mapped", None)
        if reader is not None:
            return reader(name, columns=columns, since=since, until=until, limit=limit)
        frame = source.read_table(name, columns=columns, since=since, until=until)
        return frame if limit is None else frame.head(limit)
