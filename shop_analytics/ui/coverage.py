"""What a mapping reads and what it cannot give, for the Data sources page (issue 15): per
canonical table the platform tables it is read from (connectors.mapping.platform_tables_read)
or the mapping's reason for not giving it (preset_coverage), whether the loaded shop has it,
and what it costs to lack it: the pages that cannot open without it (views.VIEW_NEEDS) and
the KPIs that are not available without it (metrics.registry KPIS[...].reads).

A shipped preset's reasons are written in English in its TOML file; their words in other
languages are in locales/data_source.toml under [reasons.<preset>], each with the preset's
English text beside it, so that a reason changed in the preset shows in its own words until
its translation is brought up to date, never under an old translation.
"""

from dataclasses import dataclass
from pathlib import Path

import polars as pl
import streamlit as st

from connectors.mapping import PRESETS, Mapping, platform_tables_read, preset_coverage
from connectors.schema import TABLES
from metrics.registry import KPIS
from shop_analytics.i18n import text, translations
from shop_analytics.ui.lang import language, t
from shop_analytics.views import VIEW_NEEDS

COLUMNS = ("table", "mapped", "reads", "reason", "in_shop", "pages", "kpis")
"""The coverage table's columns, each headed by data_source.coverage_<column>."""
PAGES = tuple(view for view in VIEW_NEEDS if not view.startswith("export:"))
LIST_SEPARATOR = {"en": ", ", "zh": "、"}


@dataclass(frozen=True)
class Coverage:
    """A mapping's coverage in one language: `table` has one row per canonical table with
    headers in that language; `mapped` names the canonical tables the mapping gives; `notes`
    are its words on single columns and on what the model has no table for ("events.user_id",
    "carts")."""

    table: pl.DataFrame
    mapped: tuple[str, ...]
    notes: dict[str, str]


def preset_of(mapping: Mapping) -> str | None:
    """The name of the shipped preset `mapping` was read from (None for a mapping file)."""
    origin = Path(mapping.origin)
    return origin.stem if origin.parent == PRESETS and origin.suffix == ".toml" else None


def reason(mapping: Mapping, key: str, lang: str) -> str:
    """Why `mapping` cannot give `key` (a canonical table, a column like "orders.refunded_at",
    or "carts"), in `lang` where the preset's reason has a translation of its current text."""
    said = mapping.unavailable.get(key)
    if said is None:
        return text("data_source.not_mapped", lang, mapping=mapping.name, table=key)
    preset = preset_of(mapping)
    words = translations().get(f"data_source.reasons.{preset}.{key}") if preset else None
    return words[lang] if words is not None and words["en"] == said else said


def pages_needing(table: str, available: set[str]) -> list[str]:
    """The pages that cannot open without `table` when the shop has the tables `available`:
    those that require it, and those that need one of several tables (ViewNeeds.any_of) of
    which it is the only one available."""
    return [
        page for page in PAGES
        if table in VIEW_NEEDS[page].required
        or (table in VIEW_NEEDS[page].any_of and not (set(VIEW_NEEDS[page].any_of) - {table}) & available)
    ]


def kpis_reading(table: str) -> list[str]:
    """The KPIs whose definition reads `table`: not available without it."""
    return [name for name, kpi in KPIS.items() if table in kpi.reads]


def coverage(mapping: Mapping, lang: str, *, shop_has: set[str] | None = None) -> Coverage:
    """The coverage of `mapping` in `lang`. `shop_has` holds the tables the loaded shop has
    (a column says so, and the costs are those of this shop); without it, for a mapping not in
    use, the costs are those of a shop with every table the mapping reads."""
    said = preset_coverage(mapping)
    read = platform_tables_read(mapping)
    available = shop_has if shop_has is not None else set(mapping.tables)
    yes, no, none = (text(f"data_source.coverage_{word}", lang) for word in ("yes", "no", "none"))
    separator = LIST_SEPARATOR[lang]
    rows = []
    for name in TABLES:
        mapped = said[name] == "mapped"
        rows.append({
            "table": name,
            "mapped": yes if mapped else no,
            "reads": ", ".join(read.get(name, [])),
            "reason": "" if mapped else reason(mapping, name, lang),
            "in_shop": yes if shop_has is not None and name in shop_has else no,
            "pages": separator.join(text(f"nav.{page}", lang) for page in pages_needing(name, available)) or none,
            "kpis": separator.join(KPIS[kpi].label_in(lang) for kpi in kpis_reading(name)) or none,
        })
    columns = [column for column in COLUMNS if shop_has is not None or column != "in_shop"]
    table = pl.DataFrame(rows).select(columns).rename({column: text(f"data_source.coverage_{column}", lang) for column in columns})
    notes = {key: reason(mapping, key, lang) for key in said if key not in TABLES}
    return Coverage(table, tuple(name for name in TABLES if said[name] == "mapped"), notes)


@st.cache_data(show_spinner=False, max_entries=16)
def _cached(mapping_text: str, lang: str, shop_has: frozenset[str] | None, _mapping: Mapping) -> Coverage:
    """coverage, kept per mapping (by its full text: a changed mapping file is a new key),
    language and tables present; parsing a preset's queries takes a quarter of a second."""
    return coverage(_mapping, lang, shop_has=None if shop_has is None else set(shop_has))


def show(mapping: Mapping, label: str, *, shop_has: set[str] | None = None, expanded: bool = True) -> None:
    """The coverage of `mapping` in an expander headed `label`: how many canonical tables it
    gives, the table (st.table, which shows its long reasons and lists whole) and its notes."""
    found = _cached(repr(mapping), language(), None if shop_has is None else frozenset(shop_has), mapping)
    with st.expander(label, expanded=expanded):
        st.caption(t("data_source.coverage_count", mapping=mapping.name, mapped=len(found.mapped), tables=len(TABLES)))
        st.table(found.table, hide_index=True)
        if found.notes:
            st.caption(t("data_source.coverage_notes", mapping=mapping.name))
            notes = {t("data_source.coverage_about"): list(found.notes), t("data_source.coverage_note"): list(found.notes.values())}
            st.table(pl.DataFrame(notes), hide_index=True)
