"""Reading what the store holds: decisions, subjects and their obligations, obligations due."""

from __future__ import annotations

import re

import anyio
from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import JSONResponse

from ...chain import decision_id_of
from ...eventtime import TimePrecisionError, parse_time
from ...records import SEEN, current, instant_key
from ...store import SqlStore
from ..dependencies import get_limiter, get_store, require
from ..openapi import problem_responses, ref
from ..problems import ProblemError

router = APIRouter(prefix="/v1", tags=["read"], dependencies=[Depends(require("decisions:read"))])

_JSON = "application/json"


async def _decision(source: str, event_id: str, store: SqlStore, limiter) -> JSONResponse:
    decision = await anyio.to_thread.run_sync(store.decision_for, source, event_id, limiter=limiter)
    if decision is None:
        raise ProblemError(404, "no event with this source and id is stored",
                           code="decision.not_found")
    return JSONResponse(decision.as_dict(),
                        headers={DECISION_ID_HEADER: decision_id_of(decision.as_dict())})


#: The header naming a stored decision's id (as ``POST /v1/events`` answers it).
DECISION_ID_HEADER = "Clauseline-Decision-Id"
#: What a decision id looks like (``clauseline.chain.decision_id``).
DECISION_ID = re.compile(r"dec_[a-z2-7]{26}")
_ID_HEADER = {DECISION_ID_HEADER: {"description": "The stored decision's id",
                                   "schema": {"type": "string"}}}


_DECISION_RESPONSES = {200: {"description": "The stored decision (sensitive numbers reduced)",
                             "headers": _ID_HEADER,
                             "content": {_JSON: {"schema": ref("Decision")}}},
                       **problem_responses(401, 403, 404, 422, 503)}


@router.get("/decisions", summary="The stored decision of an event, by source and id",
            description="Query form of `GET /v1/decisions/{source}/{id}`, for ids that contain "
            "a slash.", responses=_DECISION_RESPONSES)
async def get_decision_by_query(source: str = Query(min_length=1, max_length=1024),
                                id: str = Query(min_length=1, max_length=1024),
                                store: SqlStore = Depends(get_store),
                                limiter: anyio.CapacityLimiter = Depends(get_limiter)):
    return await _decision(source, id, store, limiter)


_STORED_DECISION = {
    "type": "object", "required": ["decision_id", "seq", "request_id", "event", "decision"],
    "properties": {
        "decision_id": {"type": "string", "pattern": "^dec_[a-z2-7]{26}$"},
        "seq": {"type": "integer", "description": "its place in the store's decision log"},
        "request_id": {"type": ["string", "null"], "description": "the X-Request-ID of the "
                       "request that stored it; null when a replay or a stream consumer stored "
                       "it, or it was stored before revision 0007"},
        "event": {"type": "object", "properties": {
            "source": {"type": "string"}, "id": {"type": "string"}, "type": {"type": "string"},
            "subject": {"type": ["string", "null"]}, "time": {"type": "string"}}},
        "decision": ref("Decision")}}


@router.get("/decisions/{decision_id}", summary="A stored decision, by its id",
            description="The decision whose id `POST /v1/events` answered (header "
            "`Clauseline-Decision-Id`), with the event it decided (source, id, type, subject, "
            "time), its `seq` in the decision log and the `request_id` of the request that "
            "stored it. An id not of the form `dec_` and 26 base32 characters answers 422; an "
            "unknown one 404.",
            responses={200: {"description": "The stored decision with its id",
                             "headers": _ID_HEADER,
                             "content": {_JSON: {"schema": _STORED_DECISION}}},
                       **problem_responses(401, 403, 404, 422, 503)})
async def get_decision_by_id(decision_id: str = Path(description="`dec_` and 26 characters of "
                                                     "a-z and 2-7"),
                             store: SqlStore = Depends(get_store),
                             limiter: anyio.CapacityLimiter = Depends(get_limiter)):
    if not DECISION_ID.fullmatch(decision_id):  # never quoted: it may be anything at all
        message = "not a decision id (dec_ and 26 characters of a-z and 2-7)"
        raise ProblemError(422, f"decision_id: {message}", code="request.invalid_parameter",
                           errors=[{"pointer": "/path/decision_id", "detail": message,
                                    "code": "request.invalid_parameter"}])
    found = await anyio.to_thread.run_sync(store.decision_by_id, decision_id, limiter=limiter)
    if found is None:
        raise ProblemError(404, "no decision with this id is stored", code="decision.not_found")
    return JSONResponse(found, headers={DECISION_ID_HEADER: found["decision_id"]})


@router.get("/decisions/{source:path}/{id}", summary="The stored decision of an event",
            description="`source` as sent, slashes included (`/v1/decisions//facilities/tx-01/"
            "calls/e-17`) or percent-encoded; the last segment is the event id.",
            responses=_DECISION_RESPONSES)
async def get_decision(source: str, id: str, store: SqlStore = Depends(get_store),
                       limiter: anyio.CapacityLimiter = Depends(get_limiter)):
    return await _decision(source, id, store, limiter)


@router.get("/subjects/{subject_id}", summary="A subject's stored memory and owed obligations",
            responses={200: {"description": "The subject", "content": {_JSON: {"schema": ref("Subject")}}},
                       **problem_responses(401, 403, 404, 503)})
async def get_subject(subject_id: str, store: SqlStore = Depends(get_store),
                      limiter: anyio.CapacityLimiter = Depends(get_limiter)):
    def read():
        return store.subject(subject_id), store.owed(subject=subject_id)

    record, owed = await anyio.to_thread.run_sync(read, limiter=limiter)
    if record is None:
        raise ProblemError(404, "no subject with this id is stored", code="subject.not_found")
    seen = record.get(SEEN) or {}
    return JSONResponse({"subject": subject_id, "record": current(record),
                         "first_seen": seen.get("first"), "last_seen": seen.get("last"),
                         "obligations": owed})


@router.get("/obligations", summary="Obligations still owed, by due time",
            description="Open, extended and missed obligations, sorted by due time, then subject, "
            "then ref: all of them, or those due strictly before `due_before` (RFC 3339 with "
            "offset). `overdue` is true when the due time is before `due_before`.",
            responses={200: {"description": "The obligations",
                             "content": {_JSON: {"schema": ref("Obligations")}}},
                       **problem_responses(401, 403, 422, 503)})
async def get_obligations(due_before: str | None = Query(None, max_length=64,
                                                         examples=["2019-08-15T00:00:00Z"]),
                          limit: int = Query(1000, ge=1, le=10000),
                          store: SqlStore = Depends(get_store),
                          limiter: anyio.CapacityLimiter = Depends(get_limiter)):
    if due_before is not None:
        try:
            parse_time(due_before)
            instant_key(due_before)
        except TimePrecisionError as error:
            raise ProblemError(422, f"due_before: {error}", code="request.invalid_parameter",
                               errors=[{"pointer": "/query/due_before", "detail": str(error),
                                        "code": "request.invalid_parameter"}]) from None
        except (ValueError, TypeError, OverflowError):
            message = "not an RFC 3339 time with offset, e.g. 2019-08-15T00:00:00Z"
            raise ProblemError(422, f"due_before: {message}", code="request.invalid_parameter",
                               errors=[{"pointer": "/query/due_before", "detail": message,
                                        "code": "request.invalid_parameter"}]) from None
    owed = await anyio.to_thread.run_sync(lambda: store.owed(before=due_before, limit=limit),
                                          limiter=limiter)
    return JSONResponse({"due_before": due_before, "obligations": owed})
