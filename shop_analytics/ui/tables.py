"""Tables as a person reads them: columns labelled in the page's language and formatted by
their unit, coded values (channels, devices, statuses, event names...) in words, times in the
business zone; each table downloadable as CSV and Excel in the page's language, with the raw
codes kept in their own columns."""

import io

import polars as pl
import streamlit as st

from connectors.quality import KNOWN_VALUES
from metrics.registry import KPIS, kpi_help, unit_of
from shop_analytics.i18n import CODE_SUFFIX, text, translate_values, translations
from shop_analytics.ui import access
from shop_analytics.ui.data import settings
from shop_analytics.ui.downloads import guarded
from shop_analytics.ui.lang import language, t

_FORMATS = {"ratio": "percent", "count": "localized", "multiple": "%.2f×", "hours": "%.1f h", "score": "%.2f"}
# Excel's number formats per unit (metrics.registry units, and the model tables' "number").
_EXCEL_FORMATS = {
    "ratio": "0.00%", "count": "#,##0", "multiple": '0.00"×"', "hours": "#,##0.0", "score": "0.00", "number": "#,##0.00",
}
_EXCEL_FLOAT, _EXCEL_INTEGER, _EXCEL_ID = "#,##0.00", "#,##0", "0"
_EXCEL_DATE, _EXCEL_TIME = "yyyy-mm-dd", "yyyy-mm-dd hh:mm:ss"
WIDE_TABLE = 10
"""More columns than this: number columns are drawn NARROW."""
NARROW = 112
"""Pixels of a narrow number column: room for ¥1,234,567.89 and most headers (the help holds the rest)."""
CSV_BOM = "\ufeff".encode()
"""Excel opens a CSV as UTF-8 only when it starts with this mark (else Chinese is garbled)."""


def column_label(name: str, lang: str | None = None) -> str:
    """The header of column `name` in `lang` (default: the page's language): a KPI's label,
    else its entry in locales/columns.toml, else the name itself."""
    lang = lang or language()
    if name in KPIS:
        return KPIS[name].label_in(lang)
    key = f"columns.{name}"
    return text(key, lang) if key in translations() else name.replace("_", " ")


def _gmv_basis() -> str:
    """The configured GMV basis (口径) that KPIs on orders are counted under."""
    from shop_analytics.ui.data import settings as configured_settings

    return configured_settings().gmv_basis


def kpi_column_config(frame: pl.DataFrame, currency: str) -> dict:
    """Streamlit column settings for the columns of `frame`: KPI columns with their label and
    definition from the registry, other known columns with their translated label, ratios as
    percentages and money with the currency. A leading text column (the channel, the name)
    is pinned, so that it stays in view while a wide table scrolls, and a table of more than
    WIDE_TABLE columns has NARROW number columns (each header's help keeps the whole label)."""
    lang = language()
    formats = _FORMATS | {"money": f"{currency}%.2f"}
    width = NARROW if frame.width > WIDE_TABLE else None
    config = {}
    for index, name in enumerate(frame.columns):
        dtype = frame.schema[name]
        if index == 0 and dtype in (pl.String, pl.Categorical, pl.Enum):
            config[name] = st.column_config.Column(column_label(name), pinned=True)
        elif name in KPIS:
            kpi = KPIS[name]
            # the definition with the GMV basis (口径) it is counted under, for a KPI on orders
            config[name] = st.column_config.NumberColumn(
                kpi.label_in(lang), help=kpi_help(kpi, lang, _gmv_basis()), format=formats[kpi.unit], width=width,
            )
        elif (unit := unit_of(name)) is not None:
            config[name] = st.column_config.NumberColumn(
                column_label(name), format=formats[unit], width=width, help=column_label(name) if width else None,
            )
        elif width and (dtype.is_numeric() or dtype == pl.Boolean):
            config[name] = st.column_config.Column(column_label(name), width=width, help=column_label(name))
        else:
            config[name] = st.column_config.Column(column_label(name))
    return config


def leading(frame: pl.DataFrame, first: tuple[str, ...]) -> pl.DataFrame:
    """`frame` with the columns `first` (those it has) right after its first column: the
    columns a reader looks for, such as those with targets, in view without scrolling."""
    ahead = [name for name in first if name in frame.columns and name != frame.columns[0]]
    return frame.select(frame.columns[0], *ahead, *(name for name in frame.columns[1:] if name not in ahead))


def in_zone(frame: pl.DataFrame, tz: str) -> pl.DataFrame:
    """`frame` with its times that carry a zone shown in the business zone `tz`."""
    return frame.with_columns(
        pl.col(name).dt.convert_time_zone(tz)
        for name, dtype in frame.schema.items()
        if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None
    )


def shown(frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` as the page shows it: coded values in the page's language, times in the
    business zone."""
    return in_zone(translate_values(frame, language()), settings().time_zone)


def _unit_from_config(column_config: dict) -> str | None:
    """The unit a Streamlit number column's format stands for (a page's own column settings)."""
    number_format = (column_config.get("type_config") or {}).get("format")
    if number_format == "percent":
        return "ratio"
    if number_format == "localized":
        return "count"
    if isinstance(number_format, str) and "%." in number_format and not number_format.startswith("%"):
        return "money"  # the currency before the number
    return None


def export_frame(
    frame: pl.DataFrame, *, lang: str, tz: str | None, labels: dict[str, str] | None = None
) -> tuple[pl.DataFrame, dict[str, str]]:
    """`frame` as a download holds it, and {header: original column}: coded values in `lang`
    with the raw codes beside them (`<column>_code`), times with a zone in `tz` written without
    it (their header names the zone), headers in `lang` (`labels`, else column_label)."""
    labels = labels or {}
    # {column: its own zone} for the times that carry one
    zoned = {
        name: dtype.time_zone for name, dtype in frame.schema.items() if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None
    }
    readable = translate_values(frame, lang, keep_codes=True)
    if tz is not None:
        readable = in_zone(readable, tz)
    readable = readable.with_columns(pl.col(name).dt.replace_time_zone(None) for name in zoned)
    headers: dict[str, str] = {}
    for name in readable.columns:
        if name.endswith(CODE_SUFFIX) and name not in frame.columns:
            base = name.removesuffix(CODE_SUFFIX)
            header = text("tables.code_header", lang, column=labels.get(base) or column_label(base, lang))
        else:
            header = labels.get(name) or column_label(name, lang)
            if name in zoned:
                header = f"{header} ({tz or zoned[name]})"
        # two columns may share words (a KPI and a column of the same name): keep both
        while header in headers:
            header = f"{header} ({name})"
        headers[header] = name
    return readable.rename(dict(zip(readable.columns, headers))), headers


def csv_bytes(frame: pl.DataFrame, *, lang: str = "en", tz: str | None = None, labels: dict[str, str] | None = None) -> bytes:
    """`frame` as a UTF-8 CSV with a byte-order mark (so Excel reads Chinese right), headers in
    `lang`, coded values in words beside their codes, times in `tz` (export_frame)."""
    readable, _ = export_frame(frame, lang=lang, tz=tz, labels=labels)
    return CSV_BOM + readable.write_csv(date_format="%Y-%m-%d", datetime_format="%Y-%m-%d %H:%M:%S").encode()


def _excel_format(name: str, dtype: pl.DataType, unit: str | None, currency: str) -> str | None:
    if unit == "money":
        return f'"{currency}"#,##0.00;-"{currency}"#,##0.00'
    if unit in _EXCEL_FORMATS:
        return _EXCEL_FORMATS[unit]
    if dtype.is_integer():
        return _EXCEL_ID if name == "id" or name.endswith("_id") else _EXCEL_INTEGER
    if dtype.is_float():
        return _EXCEL_FLOAT
    return None


def excel_bytes(
    frame: pl.DataFrame, *, lang: str = "en", tz: str | None = None, labels: dict[str, str] | None = None,
    units: dict[str, str] | None = None, currency: str = "¥",
) -> bytes:
    """`frame` as an .xlsx workbook of one sheet, as export_frame writes it, each number
    formatted by its unit (`units`, else metrics.registry.unit_of): money with two decimals and
    the currency, ratios as percentages, counts as whole numbers with separators, ids plain;
    dates as YYYY-MM-DD and times to the second (Excel has no zones: `tz` says which wall time,
    default each column's own)."""
    readable, headers = export_frame(frame, lang=lang, tz=tz, labels=labels)
    units = units or {}
    formats = {
        header: _excel_format(name, readable.schema[header], units.get(name) or unit_of(name), currency)
        for header, name in headers.items()
    }
    buffer = io.BytesIO()
    readable.write_excel(
        buffer,
        column_formats={header: number_format for header, number_format in formats.items() if number_format is not None},
        dtype_formats={pl.Date: _EXCEL_DATE, pl.Datetime: _EXCEL_TIME}, autofit=True,
    )
    return buffer.getvalue()


def quality_table(report: pl.DataFrame, lang: str, zone: str) -> pl.DataFrame:
    """The data-quality report (connectors.quality.quality_report) in `lang`: its tables and
    checks in words (locales/values.toml), each fix from its words in `lang` with the row's
    table and column, the mapping's zone and, for unknown values, the values the views know
    and the examples found; headers stay the report's columns (column_label names them)."""
    fixes = []
    for row in report.iter_rows(named=True):
        check = "unknown" if row["check"].startswith("unknown ") else row["check"]
        key = f"values.quality_fix.{check}"
        if key not in translations():
            fixes.append(row["fix"])
            continue
        known = ", ".join(KNOWN_VALUES.get((row["table"], row["column"]), ()))
        examples = row["fix"].split(": ", 1)[-1].removesuffix(".")
        fixes.append(text(key, lang, table=row["table"], column=row["column"], zone=zone, known=known, examples=examples))
    return translate_values(report.with_columns(fix=pl.Series(fixes, dtype=pl.String)), lang)


def may_show_users() -> bool:
    """Whether this session may see rows of single users or their orders (access/roles.py
    may_see_users, the one rule every page and download follows); when it may not, a caption
    says so where the rows would have been."""
    if access.session_may_see_users():
        return True
    st.caption(t("access.user_rows_refused"))
    return False


def download_buttons(
    frame: pl.DataFrame, name: str, *, user_level: bool = False, column_config: dict | None = None, units: dict[str, str] | None = None,
) -> None:
    """CSV and Excel downloads of `frame`, side by side, as `name`.csv / `name`.xlsx, in the
    page's language (headers from `column_config`'s labels, else column_label; numbers
    formatted by `units`, else by the registry's units and the column settings' formats),
    coded values in words with their raw codes kept, times in the business zone.
    `user_level`: the frame lists users or their orders (who dropped off, a segment's
    audience): only the roles that may see such rows get the buttons (may_show_users).

    Both files are written when their button is clicked, not on every run of the page:
    Excel takes about 0.1 ms a row (5 s for the 24,000 sessions behind one Explore cell), and
    the CSV of every table of a page, written on each run, was a few percent of a busy
    server's time. At the click the session must still be connected and signed in with a
    role that may have the file, and the file leaves its URL seconds after (ui/downloads.py)."""
    if user_level and not may_show_users():
        return
    lang, config = language(), settings()
    column_config = {column: value for column, value in (column_config or {}).items() if isinstance(value, dict)}
    labels = {column: value["label"] for column, value in column_config.items() if value.get("label")}
    units = {
        column: unit for column, value in column_config.items() if unit_of(column) is None and (unit := _unit_from_config(value))
    } | (units or {})
    buttons = st.container(horizontal=True)
    buttons.download_button(
        t("tables.csv"), guarded(lambda: csv_bytes(frame, lang=lang, tz=config.time_zone, labels=labels), user_level=user_level), f"{name}.csv", "text/csv",
        key=f"csv_{name}", icon=":material/download:",
    )
    buttons.download_button(
        t("tables.excel"),
        guarded(lambda: excel_bytes(frame, lang=lang, tz=config.time_zone, labels=labels, units=units, currency=config.currency), user_level=user_level),
        f"{name}.xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        key=f"xlsx_{name}",
        icon=":material/table_view:",
    )


def kpi_table(
    frame: pl.DataFrame, currency: str, *, name: str | None = None, column_config: dict | None = None, user_level: bool = False,
    first: tuple[str, ...] = (),
) -> None:
    """Draw `frame` full width with its columns labelled and formatted, coded values in words
    and times in the business zone; with `name`, under it the CSV and Excel downloads.
    `user_level`: the frame lists users or their orders, drawn (and downloadable) only for the
    roles that may see such rows (may_show_users). `column_config` overrides the settings of
    some columns; `first` names the columns shown (and downloaded) right after the first one."""
    if user_level and not may_show_users():
        return
    frame = leading(frame, first)
    config = kpi_column_config(frame, currency) | (column_config or {})
    st.dataframe(shown(frame), hide_index=True, width="stretch", column_config=config)
    if name is not None:
        download_buttons(frame, name, column_config=config, user_level=user_level)
