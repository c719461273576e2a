"""Answering a table request, the same for an HTTP endpoint and an MCP tool: its parameters
read and checked with the CLI's parsers and exports.check_options, the table built as
`cli.py export` builds it (exports.EXPORTS, or a slice of the cached daily KPI history,
which gives the same rows), a page of its rows, and the frame written as JSON, CSV or Parquet.
"""

import io
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import polars as pl

from connectors import SourceError
from metrics.registry import unit_of
from shop_analytics.api.catalog import MAX_LIMIT, Param, Table
from shop_analytics.api.problems import ParameterProblem, ProblemError, bad_parameter, bad_parameters
from shop_analytics.api.state import Served, ShopState
from shop_analytics.config import check_time_zone
from shop_analytics.exports import (
    DOCUMENTS,
    EXPORTS,
    DocumentRequest,
    ExportRequest,
    OptionError,
    check_options,
    check_period,
    parse_day,
    parse_positive,
)

FORMATS = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "parquet": "application/vnd.apache.parquet",
}
ACCEPTED = {
    "application/json": "json",
    "application/*": "json",
    "*/*": "json",
    "text/csv": "csv",
    "text/*": "csv",
    "application/vnd.apache.parquet": "parquet",
    "application/x-parquet": "parquet",
    "application/parquet": "parquet",
}


FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(2199, 12, 31)
MAX_PERIOD_DAYS = 3660
MAX_OFFSET = 10**12
"""A server answers periods of up to ten years, within FIRST_DAY..LAST_DAY: a period of a
thousand years would hold a worker for minutes, and days near year 1 cannot be turned into
UTC instants."""


def parse_served_day(text: str) -> date:
    """A day (the CLI's parse_day) within FIRST_DAY..LAST_DAY."""
    day = parse_day(text)
    if not FIRST_DAY <= day <= LAST_DAY:
        raise ValueError(f"{day} is outside the days this API answers for: give a day from {FIRST_DAY} to {LAST_DAY}")
    return day


@dataclass(frozen=True)
class TableQuery:
    """A table request with every parameter checked: the period, the zone, the export's
    options as its build reads them, and the page."""

    table: Table
    start: date
    end: date
    tz: str
    options: dict
    limit: int
    offset: int

    @property
    def cache_key(self) -> tuple:
        frozen = tuple(sorted((key, tuple(value) if isinstance(value, list | tuple) else value) for key, value in self.options.items()))
        return (self.table.name, self.start, self.end, self.tz, frozen)

    def echo(self) -> dict:
        """The parameters as the answer repeats them."""
        return {"from": self.start.isoformat(), "to": self.end.isoformat(), "tz": self.tz, **{key: list(value) if isinstance(value, tuple) else value for key, value in self.options.items()}}


def _text(values: Mapping[str, Any], param: Param) -> Any:
    value = values.get(param.keyword)
    if isinstance(value, str):
        value = value.strip()
    return None if value in (None, "", [], ()) else value


def _checked(problems: list[ParameterProblem], param: Param, parse, value):
    try:
        return parse(value)
    except ValueError as error:
        problems.append(ParameterProblem(parameter=param.name, detail=f"{error}"))
        return None


def read_table_query(table: Table, values: Mapping[str, Any], default_tz: str) -> TableQuery:
    """The checked request of `table` from its parameters' values (by keyword); a 422 problem
    names every bad one and its fix."""
    params = {param.name: param for param in table.params}
    problems: list[ParameterProblem] = []
    raw = {name: _text(values, param) for name, param in params.items()}
    for name in ("from", "to"):
        if raw[name] is None:
            problems.append(ParameterProblem(parameter=name, detail=f"is required: give {params[name].description}"))
    start = _checked(problems, params["from"], parse_served_day, raw["from"]) if raw["from"] is not None else None
    end = _checked(problems, params["to"], parse_served_day, raw["to"]) if raw["to"] is not None else None
    tz = _checked(problems, params["tz"], check_time_zone, raw["tz"]) if raw["tz"] is not None else default_tz
    limit = _checked(problems, params["limit"], parse_limit, raw["limit"]) if raw["limit"] is not None else params["limit"].default
    offset = _checked(problems, params["offset"], parse_offset, raw["offset"]) if raw["offset"] is not None else 0
    if start is not None and end is not None:
        try:
            check_period(start, end)
        except OptionError as error:
            problems.append(ParameterProblem(parameter="from", detail=f"{error}: give a first day on or before the last"))
        else:
            if (end - start).days + 1 > MAX_PERIOD_DAYS:
                problems.append(ParameterProblem(parameter="to", detail=f"the period {start}..{end} is longer than {MAX_PERIOD_DAYS} days: ask for ten years or less at a time"))
    options = {param.option: raw[param.name] for param in table.params if param.option is not None}
    if not problems:
        try:
            options = check_options(table.name, options)
        except OptionError as error:
            problems.append(ParameterProblem(parameter=error.option, detail=str(error)))
    if problems or start is None or end is None:
        raise bad_parameters(problems)
    return TableQuery(table, start, end, tz, options, limit, offset)


def parse_limit(value) -> int:
    number = parse_positive(str(value))
    if number > MAX_LIMIT:
        raise ValueError(f"{number} is above {MAX_LIMIT}: ask for at most {MAX_LIMIT} rows and page with offset")
    return number


def parse_offset(value) -> int:
    try:
        number = int(str(value))
    except ValueError:
        raise ValueError(f"{value!r} is not a whole number") from None
    if number < 0:
        raise ValueError(f"{number} is below 0: the first row is at offset 0")
    if number > MAX_OFFSET:
        raise ValueError(f"{number} is past any table: give an offset up to {MAX_OFFSET}")
    return number


def build_table(state: ShopState, served: Served, query: TableQuery) -> pl.DataFrame:
    """The whole table, as `cli.py export` builds it for the same parameters: the daily KPIs
    from the segment's cached activity frames and history (ShopState.daily_kpis), any other
    table built once per parameters and kept for the next page."""
    request = ExportRequest(query.start, query.end, query.tz, query.options, served.config)
    try:
        if query.table.name == "kpis":
            return state.daily_kpis(served, query.start, query.end, query.tz, request.segment)
        return state.results.get(
            (served.key, *query.cache_key),
            lambda: EXPORTS[query.table.name].build(state.segment_shop(served, request.segment), request),
        )
    except OptionError as error:
        raise bad_parameter(error.option, str(error)) from None
    except SourceError as error:
        raise ProblemError(409, "missing-table", "The shop lacks what this table needs", str(error)) from None
    except ValueError as error:
        raise bad_parameters([ParameterProblem(parameter=_blamed(query), detail=str(error))]) from None


def _blamed(query: TableQuery) -> str:
    """The parameter a table's own refusal is about: the campaign of a campaign comparison,
    else the period."""
    return "campaign" if "campaign" in query.options else "from"


@dataclass(frozen=True)
class DocumentQuery:
    table: Table
    calibration_end: date
    holdout_end: date | None
    horizon_days: int | None
    tz: str

    def echo(self) -> dict:
        return {
            "calibration_end": self.calibration_end.isoformat(),
            "holdout_end": self.holdout_end.isoformat() if self.holdout_end else None,
            "horizon_days": self.horizon_days,
        }


def read_document_query(table: Table, values: Mapping[str, Any], tz: str) -> DocumentQuery:
    """The checked request of a document (ltv); a 422 problem names every bad parameter."""
    params = {param.name: param for param in table.params}
    problems: list[ParameterProblem] = []
    raw = {name: _text(values, param) for name, param in params.items()}
    if raw["calibration_end"] is None:
        problems.append(ParameterProblem(parameter="calibration_end", detail=f"is required: give {params['calibration_end'].description}"))
        calibration_end = None
    else:
        calibration_end = _checked(problems, params["calibration_end"], parse_served_day, raw["calibration_end"])
    holdout_end = _checked(problems, params["holdout_end"], parse_served_day, raw["holdout_end"]) if raw["holdout_end"] is not None else None
    horizon = _checked(problems, params["horizon_days"], lambda value: parse_positive(str(value)), raw["horizon_days"]) if raw["horizon_days"] is not None else None
    if problems or calibration_end is None:
        raise bad_parameters(problems)
    return DocumentQuery(table, calibration_end, holdout_end, horizon, tz)


def build_document(state: ShopState, served: Served, query: DocumentQuery) -> dict:
    """The document (ltv) as `cli.py export ltv --format json` prints it."""
    options = {"calibration_end": query.calibration_end, "holdout_end": query.holdout_end, "horizon_days": query.horizon_days}
    key = (served.key, query.table.name, query.calibration_end, query.holdout_end, query.horizon_days, query.tz)
    try:
        return state.results.get(key, lambda: DOCUMENTS[query.table.name].build(served.shop, DocumentRequest(query.tz, options)))
    except SourceError as error:
        raise ProblemError(409, "missing-table", "The shop lacks what this table needs", str(error)) from None
    except ValueError as error:
        raise bad_parameter("calibration_end", str(error)) from None


# -- answers -------------------------------------------------------------------------------

def negotiate(accept: str | None, offered: tuple[str, ...]) -> str:
    """The format (a key of FORMATS among `offered`) the Accept header prefers, JSON when it
    names none; a 406 problem when it names only formats not offered."""
    if not accept or not accept.strip():
        return "json"
    ranked = []
    for position, item in enumerate(accept.split(",")):
        media, *parameters = [part.strip() for part in item.split(";")]
        quality = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        ranked.append((-quality, position, media.lower()))
    for negative_quality, _, media in sorted(ranked):
        chosen = ACCEPTED.get(media)
        if negative_quality < 0 and chosen is not None and chosen in offered:
            return chosen
    names = ", ".join(FORMATS[name].split(";")[0] for name in offered)
    raise ProblemError(406, "not-acceptable", "Format not available", f"Accept: {accept} names no format of this resource: ask for {names}")


def columns_of(frame: pl.DataFrame) -> list[dict]:
    """Each column's name, Polars type and unit (metrics/registry.py; null for labels)."""
    return [{"name": name, "type": str(dtype), "unit": unit_of(name)} for name, dtype in frame.schema.items()]


def table_json(name: str, query: TableQuery, served: Served, frame: pl.DataFrame) -> bytes:
    """The JSON answer: the table's name, the parameters, the data's source and freshness,
    the total and the page's position, the columns with their units, and the rows as
    `cli.py export --format json` prints them."""
    page = frame.slice(query.offset, query.limit)
    envelope = {
        "table": name,
        "parameters": query.echo(),
        "data": served.freshness,
        "total": frame.height,
        "offset": query.offset,
        "limit": query.limit,
        "columns": columns_of(frame),
    }
    head = json.dumps(envelope, ensure_ascii=False)
    return f'{head[:-1]},"rows":{page.write_json()}}}'.encode()


def table_bytes(frame: pl.DataFrame, output_format: str) -> bytes:
    """A page of rows as CSV or Parquet, as `cli.py export` writes them."""
    if output_format == "csv":
        return frame.write_csv().encode()
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    return buffer.getvalue()


def rows_of(frame: pl.DataFrame) -> list[dict]:
    """Rows as JSON values (dates and times as ISO text), as the export's JSON has them."""
    return json.loads(frame.write_json())
