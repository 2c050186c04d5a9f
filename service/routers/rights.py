"""The CCPA right-to-know document of a subject (clause U; docs/right-to-know.md): built from the
store on request, read only, under a scope of its own (``subjects:read``)."""

from __future__ import annotations

import copy
import json
from importlib.resources import files
from typing import Literal

import anyio
from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse, Response

from ... import right_to_know as rtk
from ...store import SqlStore
from ..dependencies import get_limiter, get_store, require
from ..openapi import problem_responses
from ..problems import ProblemError

router = APIRouter(prefix="/v1", tags=["subjects"],
                   dependencies=[Depends(require("subjects:read"))])


def _inline(node, defs: dict):
    """The schema with its local ``#/$defs/...`` references replaced by their targets, so that
    it stands inside the OpenAPI document (the defs here do not refer to themselves)."""
    if isinstance(node, dict):
        target = node.get("$ref")
        if isinstance(target, str) and target.startswith("#/$defs/"):
            return _inline(copy.deepcopy(defs[target[len("#/$defs/"):]]), defs)
        return {k: _inline(v, defs) for k, v in node.items()
                if k not in ("$schema", "$id", "$defs")}
    if isinstance(node, list):
        return [_inline(v, defs) for v in node]
    return node


def document_schema() -> dict:
    """``schemas/right-to-know.schema.json``, self-contained for the OpenAPI document."""
    schema = json.loads(files("clauseline.schemas").joinpath("right-to-know.schema.json")
                        .read_text(encoding="utf-8"))
    return _inline(schema, schema.get("$defs") or {})


_STATUS = {"right_to_know.subject_not_found": 404, "right_to_know.request_not_found": 404,
           "right_to_know.no_request": 404, "right_to_know.invalid_time": 422}
_POINTER = {"right_to_know.invalid_time": "/query/at"}


@router.get(
    "/subjects/{subject_id}/right-to-know",
    summary="The CCPA right-to-know document of a subject (clause U)",
    description="What the store holds about the subject for the 12 months before the receipt of "
    "the request `request_id` (a `ccpa.request.filed` of the subject), or before `at` (RFC 3339 "
    "with offset); with neither, before the receipt of the subject's latest request. The "
    "categories collected, their sources, the purposes, the categories of third parties, the "
    "categories disclosed (by recipient kind and purpose, sales marked) and the specific pieces, "
    "each with the events and decisions it comes from; `digest` is the SHA-256 of the document's "
    "canonical JSON without it. The same store and request give the same bytes. "
    "`format=html` gives one printable page for the consumer. Needs the scope `subjects:read` "
    "(or `admin`).",
    responses={200: {"description": "The document",
                     "content": {"application/json": {"schema": document_schema()},
                                 "text/html": {"schema": {"type": "string"}}}},
               **problem_responses(401, 403, 404, 422, 503)})
async def get_right_to_know(
        subject_id: str,
        request_id: str | None = Query(None, min_length=1, max_length=1024,
                                       description="the request answered"),
        at: str | None = Query(None, max_length=64, examples=["2020-01-01T00:00:00Z"],
                               description="the end of the period, without `request_id`"),
        format: Literal["json", "html"] = Query("json", description="json or html"),
        store: SqlStore = Depends(get_store),
        limiter: anyio.CapacityLimiter = Depends(get_limiter)):
    if request_id is not None and at is not None:
        raise ProblemError(422, "give request_id or at, not both", code="request.invalid_parameter",
                           errors=[{"pointer": "/query/at", "detail": "not with request_id",
                                    "code": "request.invalid_parameter"}])
    try:
        document = await anyio.to_thread.run_sync(
            lambda: rtk.build(store, subject_id, request_id=request_id, at=at), limiter=limiter)
    except rtk.RightToKnowError as error:
        status = _STATUS.get(error.code, 422)
        errors = ([{"pointer": _POINTER[error.code], "detail": error.message, "code": error.code}]
                  if error.code in _POINTER else None)
        raise ProblemError(status, error.message, code=error.code, errors=errors) from None
    if format == "html":
        return HTMLResponse(rtk.to_html(document))
    return Response(rtk.dumps(document), media_type="application/json")
