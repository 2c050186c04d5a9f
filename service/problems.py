"""Errors as RFC 9457 problem details (``application/problem+json``).

Every error response has ``type`` (``https://clauseline.dev/problems/<code>``), ``title``,
``status``, ``detail``, the stable machine ``code`` (listed in docs/errors.md) and the
``request_id`` echoed in the ``X-Request-ID`` header; a rejected event adds ``errors``, one
``{"pointer", "detail", "code"}`` per problem, and its ``decision``. No traceback, stack text or
exception message of a library ever reaches a client: an unexpected error is a bare 500 whose
details go to the server's log under the same request id.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import ClauselineError, printable
from ..events.parsing import pointer, shown_name
from ..redact import mask_numbers
from ..store import StoreError

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://clauseline.dev/problems/"

log = logging.getLogger("clauseline.service")

#: Titles by status, for problems that do not give their own.
TITLES = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
          405: "Method Not Allowed", 406: "Not Acceptable", 413: "Content Too Large",
          415: "Unsupported Media Type", 422: "Unprocessable Content",
          500: "Internal Server Error", 503: "Service Unavailable"}

#: The codes of problems that are not about an event (event problems keep the event's codes).
CODES = {400: "request.invalid", 401: "auth.missing_key", 403: "auth.forbidden",
         404: "request.not_found", 405: "request.method_not_allowed",
         406: "request.not_acceptable", 413: "request.too_large",
         415: "request.unsupported_media_type", 422: "request.invalid",
         500: "service.internal_error", 503: "store.unavailable"}


class ProblemError(Exception):
    """Raised by a route or dependency: answered as a problem details response."""

    def __init__(self, status: int, detail: str, *, code: str | None = None,
                 errors: list[dict] | None = None, headers: dict[str, str] | None = None,
                 **extra: Any):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.code = code or CODES.get(status, "request.invalid")
        self.errors = errors
        self.headers = headers or {}
        self.extra = extra


def request_id(request: Request) -> str | None:
    """The id the access log gave this request (also in the ``X-Request-ID`` header)."""
    return request.scope.get("state", {}).get("request_id")


def problem(request: Request, status: int, detail: str, *, code: str | None = None,
            errors: list[dict] | None = None, headers: dict[str, str] | None = None,
            **extra: Any) -> JSONResponse:
    """A problem details response."""
    code = code or CODES.get(status, "request.invalid")
    body: dict[str, Any] = {"type": TYPE_BASE + code, "title": TITLES.get(status, "Error"),
                            "status": status, "detail": detail, "code": code,
                            "request_id": request_id(request)}
    if errors is not None:
        body["errors"] = errors
    body.update(extra)
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


def event_errors(errors) -> list[dict]:
    """A rejected decision's errors as problem ``errors`` members (JSON Pointers)."""
    return [{"pointer": e.get("path", ""), "detail": e.get("message", ""), "code": e.get("code", "")}
            for e in errors]


def shown_path(path: str) -> str:
    """A requested path as a 404 shows it: a segment with six digits or more, or a long one,
    masked (:func:`clauseline.events.parsing.shown_name`), numbers masked across segments,
    controls escaped, at most 200 characters."""
    shown = "/".join(shown_name(segment) for segment in path.split("/"))
    shown = printable(mask_numbers(shown), lines=False)
    return shown if len(shown) <= 200 else shown[:200] + "..."


def _validation_detail(error: dict) -> dict:
    # FastAPI's own validation of query and path parameters: the location as a pointer, the
    # message without the input value (which may be personal data)
    return {"pointer": pointer(error.get("loc", ())) or "/",
            "detail": str(error.get("msg", "invalid")), "code": "request.invalid_parameter"}


def install(app: FastAPI) -> None:
    """Answer every error of ``app`` as problem details."""

    @app.exception_handler(ProblemError)
    async def _problem(request: Request, error: ProblemError):
        return problem(request, error.status, error.detail, code=error.code, errors=error.errors,
                       headers=error.headers, **error.extra)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, error: RequestValidationError):
        return problem(request, 422, "a parameter of the request is invalid",
                       code="request.invalid_parameter",
                       errors=[_validation_detail(e) for e in error.errors()])

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException):
        method = shown_name(request.method)  # a method is any token a client sends
        detail = {404: f"no such resource: {method} {shown_path(request.url.path)}",
                  405: f"{method} is not allowed here"}.get(error.status_code)
        if detail is None:
            detail = TITLES.get(error.status_code, "error")
        return problem(request, error.status_code, detail, headers=getattr(error, "headers", None))

    @app.exception_handler(StoreError)
    async def _store(request: Request, error: StoreError):
        log.error("store unavailable", extra={"request_id": request_id(request),
                                              "error": mask_numbers(str(error))})
        # the fault's own code (store.full, store.read_only, store.corrupt, ...: docs/errors.md)
        code = error.problems[0].code if error.problems else "store.unavailable"
        return problem(request, 503, "the store is unavailable; retry later",
                       code=code, headers={"Retry-After": "1"})

    @app.exception_handler(SQLAlchemyError)
    async def _database(request: Request, error: SQLAlchemyError):
        # the driver's message may quote SQL parameters (event data): only its class is logged
        log.error("store error", extra={"request_id": request_id(request),
                                        "error": type(getattr(error, "orig", None) or error).__name__})
        status = 503 if isinstance(error, (DBAPIError,)) or "Timeout" in type(error).__name__ else 500
        return problem(request, status, "the store is unavailable; retry later" if status == 503
                       else "internal error", headers={"Retry-After": "1"} if status == 503 else None)

    @app.exception_handler(ClauselineError)
    async def _clauseline(request: Request, error: ClauselineError):
        first = error.problems[0] if error.problems else None
        return problem(request, 500, "internal error", code=(first.code if first else None))

    # An unexpected exception is answered by the access log middleware (observability.py), which
    # sees it before Starlette's ServerErrorMiddleware could print its message.
