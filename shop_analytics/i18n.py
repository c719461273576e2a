"""Words and number formats in English and Chinese: one translation table.

The table is read from `locales/*.toml`. Each file is a namespace and each entry gives the
words in every language, so `locales/nav.toml` holding

    overview = { en = "Overview", zh = "概览" }

is looked up as `text("nav.overview", lang)`. Entries may nest (`[cards] gmv = {...}` is
`cards.gmv`) and take `str.format` fields (`"{days} days"`). A missing entry or language is
an error when the table is read, not a blank label at run time (tests/test_i18n.py).
"""

import tomllib
from datetime import date
from functools import cache
from pathlib import Path

import polars as pl

LANGUAGES = {"en": "English", "zh": "中文"}
DEFAULT_LANGUAGE = "en"
LOCALES = Path(__file__).resolve().parent / "locales"

# Chinese reads large numbers in 万 (10^4) and 亿 (10^8); English in K, M and B.
_COMPACT_STEPS = {
    "en": ((1e9, "B"), (1e6, "M"), (1e3, "K")),
    "zh": ((1e8, "亿"), (1e4, "万")),
}
_WEEKDAYS = {
    "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
    "zh": ("周一", "周二", "周三", "周四", "周五", "周六", "周日"),
}


@cache
def translations() -> dict[str, dict[str, str]]:
    """Every entry of locales/*.toml, keyed `namespace.entry`, each with all LANGUAGES."""
    table: dict[str, dict[str, str]] = {}
    for path in sorted(LOCALES.glob("*.toml")):
        with path.open("rb") as file:
            _collect(tomllib.load(file), path.stem, path.name, table)
    return table


def _collect(node: dict, prefix: str, origin: str, table: dict[str, dict[str, str]]) -> None:
    for name, value in node.items():
        key = f"{prefix}.{name}"
        if not isinstance(value, dict):
            raise ValueError(f"{origin}: {key} must be a table of languages like {{ en = \"...\", zh = \"...\" }}")
        if set(value) & set(LANGUAGES):
            missing = [language for language in LANGUAGES if not isinstance(value.get(language), str)]
            if missing or set(value) - set(LANGUAGES):
                raise ValueError(f"{origin}: {key} needs exactly the languages {', '.join(LANGUAGES)} as text")
            table[key] = value
        else:
            _collect(value, key, origin, table)


def check_language(lang: str) -> str:
    """`lang` if the dashboard speaks it, else ValueError saying which it does."""
    if lang not in LANGUAGES:
        raise ValueError(f"unknown language {lang!r}: use one of {', '.join(LANGUAGES)}")
    return lang


def text(key: str, lang: str, **values) -> str:
    """The words for `key` in `lang`, with `values` filled into their fields."""
    try:
        words = translations()[key][lang]
    except KeyError:
        raise KeyError(f"no translation for {key!r} in {lang!r}: add it to locales/{key.split('.')[0]}.toml") from None
    return words.format(**values) if values else words


# Which kind of value (a section of locales/values.toml) each column of a table holds.
VALUE_KINDS = {
    "channel": "channel", "top_channel": "channel", "acquisition_channel": "channel",
    "device": "device", "region": "region", "category": "category", "event": "event", "event_type": "event",
    "page": "page", "status": "status", "payment_method": "payment_method", "gender": "gender",
    "member_level": "member_level", "table": "table", "check": "quality_check", "kind": "campaign_kind",
    "buyer_group": "buyer_group",
}
CODE_SUFFIX = "_code"
"""A download keeps the raw value of each translated column beside it, in `<column>_code`."""


def label(kind: str, value, lang: str) -> str:
    """A value of `kind` (channel, device, region, category, event, page, status,
    payment_method, ...: the sections of locales/values.toml) as a reader of `lang` says it:
    paid_search is "paid search" and 付费搜索, add_to_cart 加入购物车. A value without an entry
    is shown as it is; null is "–"."""
    if value is None:
        return "–"
    words = translations().get(f"values.{kind}.{value}")
    return words[lang] if words else str(value)


def value_labels(kind: str, values, lang: str) -> dict:
    """{value: its label} for the distinct non-null `values`."""
    return {value: label(kind, value, lang) for value in dict.fromkeys(values) if value is not None}


def translate_values(frame: pl.DataFrame, lang: str, *, keep_codes: bool = False) -> pl.DataFrame:
    """`frame` with the values of its coded columns (VALUE_KINDS) in `lang`; with
    `keep_codes`, each such column followed by its raw values in `<column>_code` (a download's
    machine-readable column), unless the frame already has one. Nulls stay null."""
    columns = []
    for name in frame.columns:
        kind = VALUE_KINDS.get(name)
        if kind is None or frame.schema[name] not in (pl.String, pl.Categorical, pl.Enum):
            columns.append(pl.col(name))
            continue
        raw = pl.col(name).cast(pl.String)
        mapping = value_labels(kind, frame[name].cast(pl.String).unique().to_list(), lang)
        columns.append(raw.replace_strict(mapping, default=raw, return_dtype=pl.String).alias(name))
        if keep_codes and f"{name}{CODE_SUFFIX}" not in frame.columns:
            columns.append(raw.alias(f"{name}{CODE_SUFFIX}"))
    return frame.select(columns)


def count_text(key: str, count: int, lang: str, **values) -> str:
    """The words for `count` of something, by the language's plural rule: the entry
    `key.one` for 1 and `key.other` else ("1 day", "2 days"; Chinese writes both alike), with
    `count` written with thousands separators."""
    form = "one" if count == 1 else "other"
    return text(f"{key}.{form}", lang, count=f"{count:,}", **values)


def format_number(value: float | int | None, unit: str, lang: str, currency: str = "¥", *, compact: bool = False) -> str:
    """A number as a reader of `lang` writes it: unit "money" with the currency, "ratio" as a
    percentage with two decimals, "multiple" with "×", "hours" with the word for hours,
    "score" with two decimals, "count" as a whole number with thousands separators (the units
    of metrics.registry).

    `compact` shortens money of 10,000 and more to two decimals of the language's large
    unit, so that it fits a card five to a row (¥535.96K in English, ¥53.60万 in Chinese);
    null is "–".
    """
    if value is None:
        return "–"
    if unit == "ratio":
        return f"{value:.2%}"
    if unit == "multiple":
        return f"{value:,.2f}×"
    if unit == "hours":
        return f"{value:,.1f} h" if lang == "en" else f"{value:,.1f} 小时"
    if unit == "score":
        return f"{value:,.2f}"
    if unit != "money":
        return f"{value:,.0f}"
    sign = "-" if value < 0 else ""
    if compact and abs(value) >= 1e4:
        size, suffix = next((size, suffix) for size, suffix in _COMPACT_STEPS[lang] if abs(value) >= size)
        return f"{sign}{currency}{abs(value) / size:,.2f}{suffix}"
    return f"{sign}{currency}{abs(value):,.2f}"


def format_day(day: date, lang: str, *, with_year: bool = False) -> str:
    """A day with its weekday: "Mon 11-23" in English, "11月23日 周一" in Chinese; with the
    year "Monday 2026-11-23" and "2026年11月23日 周一"."""
    weekday = _WEEKDAYS[lang][day.weekday()]
    if lang == "zh":
        return f"{f'{day.year}年' if with_year else ''}{day.month}月{day.day}日 {weekday}"
    return f"{day:%A %Y-%m-%d}" if with_year else f"{weekday} {day:%m-%d}"
