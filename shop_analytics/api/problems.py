"""Errors as RFC 9457 problem details: `application/problem+json` bodies with a type, a
title, the status, a detail sentence that says what is wrong and how to fix it, and, for a
bad parameter, its name (`parameter`) and every bad parameter of the request (`errors`).

Every way a request can fail ends here, the unexpected ones included: a client never sees
a traceback, only a problem whose detail names the log line to look for.
"""

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, Field

PROBLEM_MEDIA_TYPE = "application/problem+json"
_TYPE_PREFIX = "urn:shop-analytics:problem:"


class ParameterProblem(BaseModel):
    """One bad parameter: its name and what to do about it."""

    parameter: str = Field(description="the query or path parameter, as the URL spells it")
    detail: str = Field(description="what is wrong with its value and how to fix it")


class Problem(BaseModel):
    """An RFC 9457 problem details object."""

    type: str = Field(description="a URN naming the kind of problem, e.g. urn:shop-analytics:problem:bad-parameter")
    title: str = Field(description="the kind of problem in a few words")
    status: int = Field(description="the HTTP status code")
    detail: str = Field(description="what went wrong in this request and how to fix it")
    instance: str | None = Field(None, description="the path of the request")
    parameter: str | None = Field(None, description="the first bad parameter, for a bad request")
    errors: list[ParameterProblem] = Field(default_factory=list, description="every bad parameter, for a bad request")


class ProblemError(Exception):
    """A request that fails with a problem: raised anywhere in the API, answered by the
    app's handler (or the access guard) as the problem's JSON with its status and headers."""

    def __init__(
        self,
        status: int,
        kind: str,
        title: str,
        detail: str,
        *,
        errors: Iterable[ParameterProblem] = (),
        headers: Mapping[str, str] | None = None,
    ):
        super().__init__(detail)
        self.status = status
        self.kind = kind
        self.title = title
        self.detail = detail
        self.errors = list(errors)
        self.headers = dict(headers or {})

    def body(self, instance: str | None) -> Problem:
        return Problem(
            type=_TYPE_PREFIX + self.kind,
            title=self.title,
            status=self.status,
            detail=self.detail,
            instance=instance,
            parameter=self.errors[0].parameter if self.errors else None,
            errors=self.errors,
        )


def bad_parameters(errors: list[ParameterProblem]) -> ProblemError:
    """422: one or more parameters the request cannot be answered with."""
    detail = "; ".join(f"{error.parameter}: {error.detail}" for error in errors)
    return ProblemError(422, "bad-parameter", "Bad parameter", detail, errors=errors)


def bad_parameter(parameter: str, detail: str) -> ProblemError:
    return bad_parameters([ParameterProblem(parameter=parameter, detail=detail)])


def unauthorized(detail: str) -> ProblemError:
    return ProblemError(401, "unauthorized", "Token needed", detail, headers={"WWW-Authenticate": 'Bearer realm="shop-analytics"'})


def forbidden(detail: str) -> ProblemError:
    return ProblemError(403, "forbidden", "Not for this role", detail)


def too_many_requests(detail: str, retry_after: int) -> ProblemError:
    return ProblemError(429, "too-many-requests", "Too many requests", detail, headers={"Retry-After": str(retry_after)})


def source_unavailable(detail: str, retry_after: int | None = None) -> ProblemError:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
    return ProblemError(503, "source-unavailable", "The shop cannot be read", detail, headers=headers)


def problem_json(error: ProblemError, instance: str | None) -> bytes:
    return error.body(instance).model_dump_json(exclude_none=True).encode()


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "description": description, "content": {PROBLEM_MEDIA_TYPE: {}}}
    for status, description in (
        (401, "no token, or a token that is not (or no longer) valid"),
        (403, "the token's role may not read this (the dashboard's page and user-list rules), or no tokens are configured and the request is not from this machine"),
        (406, "the Accept header asks for a format this resource does not have"),
        (409, "the shop has no table this view needs"),
        (422, "a bad parameter: the problem names it and the fix"),
        (429, "the token made more requests this minute than [api] requests_per_minute; Retry-After says when to try again"),
        (503, "the shop's source cannot be read (the reason is in detail), or it is still loading"),
    )
}
"""The problems every data endpoint may answer with, for the OpenAPI document."""
