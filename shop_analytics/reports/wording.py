"""How a report writes its numbers and names in each language (the words are in
locales/reports.toml; numbers go through i18n.format_number, as everywhere)."""

from datetime import date

from metrics.channels import UNKNOWN_CHANNEL
from metrics.registry import KPIS
from shop_analytics.i18n import format_day, format_number, label, text


def words(key: str, lang: str, **values) -> str:
    """The report's words for `key` (an entry of locales/reports.toml)."""
    return text(f"reports.{key}", lang, **values)


def channel_name(channel: str | None, lang: str) -> str:
    """A channel as a reader says it, in the words every page uses (i18n.label over
    locales/values.toml: paid_search is "paid search", 付费搜索), else the source's own name;
    null is the unknown channel."""
    return label("channel", UNKNOWN_CHANNEL if channel is None else channel, lang)


def kpi_value(name: str, value: float | None, lang: str, currency: str) -> str:
    """A headline KPI's value in its unit (money, count or ratio)."""
    return format_number(value, KPIS[name].unit, lang, currency)


def money(value: float | None, lang: str, currency: str) -> str:
    return format_number(value, "money", lang, currency)


def share(value: float | None, lang: str) -> str:
    """A share or a rate: 12.35%."""
    return format_number(value, "ratio", lang)


def change(value: float | None) -> str:
    """A relative change with its sign and one decimal: +12.3%, as the overview's cards show it."""
    return "–" if value is None else f"{value:+.1%}"


def size_of_change(value: float) -> str:
    """The size of a change without its sign, for a sentence that says the direction: 12.3%."""
    return f"{abs(value):.1%}"


# p-values are shown to three decimals; a smaller one is shown as below the last of them.
_SMALLEST_P_SHOWN = 0.001


def p_value(value: float) -> str:
    """A p-value as a table cell: 0.008, or <0.001."""
    return f"<{_SMALLEST_P_SHOWN}" if value < _SMALLEST_P_SHOWN else f"{value:.3f}"


def p_value_phrase(value: float) -> str:
    """A p-value in a sentence: p = 0.008, or p < 0.001."""
    return f"p < {_SMALLEST_P_SHOWN}" if value < _SMALLEST_P_SHOWN else f"p = {value:.3f}"


def days_span(start: date, end: date, lang: str) -> str:
    """start – end with the year once: "2026-11-16 – 2026-11-22", "2026年11月16日 – 11月22日"."""
    if lang == "zh":
        return f"{start.year}年{start.month}月{start.day}日 – {'' if end.year == start.year else f'{end.year}年'}{end.month}月{end.day}日"
    return f"{start:%Y-%m-%d} – {end:%Y-%m-%d}"


def day(value: date, lang: str) -> str:
    """A day with its weekday (i18n.format_day)."""
    return format_day(value, lang)
