"""The translation table: complete in every language, every key the code asks for present,
numbers and days written as each language's readers write them."""

import re
from datetime import date
from pathlib import Path

import pytest

from metrics.registry import KPIS
from shop_analytics.i18n import LANGUAGES, format_day, format_number, text, translations

ROOT = Path(__file__).resolve().parents[1]
# t("key") / text("key", ...) with a literal key, as pages and reports call them.
LITERAL_KEY = re.compile(r"""\b(?:t|text)\(\s*["']([a-z_]+\.[a-z0-9_.]+)["']""")


def literal_keys() -> set[str]:
    keys = set()
    for path in ROOT.rglob("*.py"):
        if ".venv" in path.parts or "tests" in path.parts:
            continue
        keys |= set(LITERAL_KEY.findall(path.read_text(encoding="utf-8")))
    return keys


def test_every_literal_key_in_the_code_has_every_language():
    missing = sorted(literal_keys() - set(translations()))
    assert not missing, f"add these to locales/: {missing}"


def test_every_entry_is_written_in_every_language_and_chinese_is_chinese():
    for key, words in translations().items():
        assert set(words) == set(LANGUAGES), key
        assert all(words[lang].strip() for lang in LANGUAGES), key


def test_every_kpi_has_a_label_and_a_definition_in_both_languages():
    for kpi in KPIS.values():
        assert kpi.label_in("en") and kpi.label_in("zh") and kpi.description_in("zh")
    assert KPIS["aov"].label_in("zh") == "客单价"
    assert KPIS["gmv"].description_in("en") == "sum of the amount of valid orders"


def test_fields_are_filled_and_an_unknown_key_says_where_to_add_it():
    assert text("nav.source", "zh", description="SQLite") == "数据源：SQLite"
    with pytest.raises(KeyError, match="locales/nav.toml"):
        text("nav.no_such_page", "en")


@pytest.mark.parametrize(
    ("value", "unit", "lang", "compact", "shown"),
    [
        (535_960.0, "money", "en", True, "¥535.96K"),
        (535_960.0, "money", "zh", True, "¥53.60万"),
        (123_456_789.0, "money", "zh", True, "¥1.23亿"),
        (2_500_000.0, "money", "en", True, "¥2.50M"),
        (17_795.0, "money", "zh", True, "¥1.78万"),
        (9_999.5, "money", "zh", True, "¥9,999.50"),
        (-1_234.5, "money", "zh", False, "-¥1,234.50"),
        (0.05123, "ratio", "zh", False, "5.12%"),
        (1_234_567, "count", "zh", True, "1,234,567"),
        (None, "ratio", "en", False, "–"),
    ],
)
def test_numbers_as_each_language_writes_them(value, unit, lang, compact, shown):
    assert format_number(value, unit, lang, "¥", compact=compact) == shown


def test_days_with_their_weekday():
    assert format_day(date(2026, 11, 23), "en") == "Mon 11-23"
    assert format_day(date(2026, 11, 23), "zh") == "11月23日 周一"
    assert format_day(date(2026, 11, 23), "en", with_year=True) == "Monday 2026-11-23"
    assert format_day(date(2026, 11, 23), "zh", with_year=True) == "2026年11月23日 周一"
