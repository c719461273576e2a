"""What the API and the MCP server offer, said once for both: every table of `cli.py export`
(exports.EXPORTS and DOCUMENTS) with the dashboard page whose role opens it, whether its rows
are users, its parameters, and its description: the export's one line, the SPEC definition
quoted in its metric functions' docstrings, and the unit of each column from
metrics/registry.py (KPIS and COLUMN_UNITS).
"""

import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from metrics.registry import KPIS, unit_of
from shop_analytics.exports import DOCUMENTS, EXPORTS, Option

TABLE_PAGES = {
    "kpis": "overview",
    "periods": "overview",
    "anomalies": "overview",
    "channels": "channels",
    "products": "products",
    "compare": "campaigns",
    "search": "checkout",
    "payments": "checkout",
    "coupons": "checkout",
    "service": "service",
    "review-words": "service",
    "funnel": "funnel",
    "funnel-drop-offs": "funnel",
    "paths": "paths",
    "retention": "cohorts",
    "lifecycle": "cohorts",
    "segments": "segments",
    "ltv": "segments",
    "forecast": "demand",
    "decomposition": "overview",
    "repeat-orders": "overview",
    "repurchase": "cohorts",
    "abandonment": "checkout",
    "abandoning-users": "checkout",
    "attribution": "channels",
    "targets": "targets",
}
"""The dashboard page (access/roles.py PAGE_ROLES) each table is read on: its role opens the
table here too. A table without a page is not served, as a page without a role opens for
nobody."""
USER_LEVEL = frozenset({"funnel-drop-offs", "ltv", "abandoning-users"})
"""Tables whose rows are users (ids with what they did or are predicted to do): an analyst's."""

UNIT_WORDS = {
    "count": "count",
    "money": "money ({currency})",
    "ratio": "ratio 0-1 (0.25 = 25 %)",
    "hours": "hours",
    "score": "score",
    "multiple": "multiple (times)",
}


@dataclass(frozen=True)
class Param:
    """A parameter of an endpoint and of its tool: how the URL spells it (`name`), its
    keyword in the tool (`keyword`), the option it fills (`option`, None for the period and
    paging), and what it takes."""

    name: str
    keyword: str
    description: str
    kind: str  # "day", "text", "choice", "list", "count"
    choices: tuple[str, ...] = ()
    required: bool = False
    default: Any = None
    option: str | None = None


MAX_LIMIT = 100_000
DEFAULT_LIMIT = 1000
PERIOD = (
    Param("from", "start", "the period's first day, YYYY-MM-DD, a business day in the shop's zone", "day", required=True),
    Param("to", "end", "the period's last day (inclusive), YYYY-MM-DD", "day", required=True),
    Param("tz", "tz", "the business time zone days are cut in, an IANA name like Asia/Shanghai (default: [settings] time_zone)", "text"),
)
PAGING = (
    Param("limit", "limit", f"rows to return, 1 to {MAX_LIMIT} (default {DEFAULT_LIMIT}); `total` says how many there are", "count", default=DEFAULT_LIMIT),
    Param("offset", "offset", "rows to skip: the next page starts at offset + limit", "count", default=0),
)


LTV_PARAMS = (
    Param("calibration_end", "calibration_end", "the last day the models learn from, YYYY-MM-DD", "day", required=True),
    Param("holdout_end", "holdout_end", "the last day of the holdout check, YYYY-MM-DD (default: the data's last day)", "day"),
    Param("horizon_days", "horizon_days", "days of predicted purchases and value (default 365)", "count"),
)


def option_param(option: Option) -> Param:
    kind = "list" if option.many else "choice" if option.choices else "text"
    return Param(option.name, option.name, option.help, kind, option.choices, option=option.name)


@dataclass(frozen=True)
class Table:
    """A table the API serves: an export of exports.EXPORTS, or a document (`document`)."""

    name: str
    page: str
    user_level: bool
    summary: str
    metrics: tuple[Callable, ...]
    params: tuple[Param, ...]
    document: bool = False

    @property
    def tool_name(self) -> str:
        return self.name.replace("-", "_")

    @property
    def path(self) -> str:
        return f"/v1/{self.name}"

    def description(self, currency: str) -> str:
        """The export's line, who may read it, the SPEC definition from its metric functions'
        docstrings and the units of the columns they name."""
        parts = [f"{self.summary[:1].upper()}{self.summary[1:]}."]
        parts.append(f"Read with a {_least_role(self.page)} token or above (the dashboard's {self.page} page)"
                     + (", and only an analyst or admin: the rows are users." if self.user_level else "."))
        for function in self.metrics:
            parts.append(f"Definition ({function.__module__}.{function.__name__}):\n\n{inspect.cleandoc(function.__doc__ or '')}")
        units = column_units(self.metrics)
        if units:
            parts.append("Units of the columns:\n\n" + "\n".join(f"- {line}" for line in unit_lines(units, currency)))
        if any(re.search(r"\bkpi\b", function.__doc__ or "") for function in self.metrics):
            kpis = ", ".join(f"{name} {UNIT_WORDS.get(kpi.unit, kpi.unit).format(currency=currency)}" for name, kpi in KPIS.items())
            parts.append(f"A row's values are in the unit of the KPI its `kpi` column names: {kpis}.")
        return "\n\n".join(parts)


def _least_role(page: str) -> str:
    from shop_analytics.access.roles import PAGE_ROLES

    return PAGE_ROLES[page]


_WORD = re.compile(r"[a-z][a-z0-9_]*")
_COLUMNS_CONSTANT = re.compile(r"Columns: ([A-Z][A-Z0-9_]+)")


def column_units(functions: tuple[Callable, ...]) -> dict[str, str]:
    """The columns the functions' docstrings list (through a `Columns: NAME` constant of their
    module, else the words after "Columns:", else every word) that have a unit in the
    registry, with that unit, in order."""
    names: list[str] = []
    for function in functions:
        doc = function.__doc__ or ""
        constants = [function.__globals__.get(constant) for constant in _COLUMNS_CONSTANT.findall(doc)]
        listed = [str(name) for value in constants if isinstance(value, dict | list | tuple) for name in value]
        names += listed or _WORD.findall(doc.rpartition("Columns:")[2] if "Columns:" in doc else doc)
    return {name: unit for name in dict.fromkeys(names) if (unit := unit_of(name)) is not None}


def unit_lines(units: dict[str, str], currency: str) -> list[str]:
    """One line per column: its name, unit and, for a KPI, its registry definition."""
    lines = []
    for name, unit in units.items():
        words = UNIT_WORDS.get(unit, unit).format(currency=currency)
        meaning = f"; {KPIS[name].description}" if name in KPIS else ""
        lines.append(f"{name}: {words}{meaning}")
    return lines


def _table(name: str) -> Table:
    if name in DOCUMENTS:
        document = DOCUMENTS[name]
        return Table(name, TABLE_PAGES[name], name in USER_LEVEL, document.description, document.metrics, LTV_PARAMS, document=True)
    export = EXPORTS[name]
    params = (*PERIOD, *(option_param(option) for option in export.options), *PAGING)
    return Table(name, TABLE_PAGES[name], name in USER_LEVEL, export.description, export.metrics, params)


TABLES: dict[str, Table] = {name: _table(name) for name in (*EXPORTS, *DOCUMENTS) if name in TABLE_PAGES}
"""Every table served, by export name."""
