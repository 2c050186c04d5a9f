"""``POST /v1/events`` (evaluate and store) and ``POST /v1/evaluate`` (a dry run)."""

from __future__ import annotations

import functools
from urllib.parse import urlencode

import anyio
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from ...chain import decision_id
from ...decision import Decision
from ...session import Session
from ..content import BATCH, STRUCTURED, read_body, read_events
from ..dependencies import (StateRoute, get_limiter, get_metrics, get_session, get_settings,
                            require)
from ..observability import Metrics
from ..openapi import problem_responses, ref
from ..problems import ProblemError, event_errors, request_id
from ..settings import Settings

# the dependencies of these routes come straight from the app's state (StateRoute)
router = APIRouter(prefix="/v1", tags=["events"], route_class=StateRoute)

EXAMPLE = {"specversion": "1.0", "id": "e-17", "source": "/facilities/tx-dallas-01/payments",
           "type": "payment.made", "time": "2019-07-01T09:00:00Z", "subject": "acct-1",
           "data": {"transaction_id": "t-1", "amount": 25.0, "currency": "USD",
                    "instrument": "credit_card", "status": "completed",
                    "encrypted_in_transit": True, "product": "prepaid_calling"}}

_BODY = {
    "required": True,
    "content": {
        STRUCTURED: {"schema": ref("CloudEvent"), "example": EXAMPLE},
        BATCH: {"schema": {"type": "array", "items": ref("CloudEvent")}, "example": [EXAMPLE]},
        "application/json": {
            "schema": {"type": "object"},
            "description": "Binary mode: the event's data, with its attributes in ce-* headers "
                           "(ce-specversion, ce-id, ce-source, ce-type, ce-time, ce-subject); "
                           "without ce-* headers, a structured event. Any JSON media type is "
                           "binary mode's too, and so is no Content-Type at all: the data are "
                           "then read as JSON (as the CloudEvents JSON format reads an absent "
                           "content type); a declared type that is not JSON is a 415.",
            "example": EXAMPLE["data"]},
    },
}

#: The decision of EXAMPLE (tests/service/test_api.py checks that it is the one the engine gives).
DECISION_EXAMPLE = {
    "event_id": "e-17", "event_source": "/facilities/tx-dallas-01/payments",
    "event_type": "payment.made", "time": "2019-07-01T09:00:00Z",
    "policy_version": "securus-2019-05-04", "status": "accepted",
    "outcomes": [{"kind": "retention", "action": "purge", "data_categories": ["credit_card"],
                  "target": "payment:t-1", "due_by": "2019-07-01T09:00:00Z", "subject": "acct-1",
                  "clause": "C", "rule": "C.purge-payment-numbers-after-transaction"}],
    "trace": ["C.purge-payment-numbers-after-transaction"]}

_DECISION = {"content": {"application/json": {"schema": ref("Decision"),
                                              "example": DECISION_EXAMPLE}}}

#: Binary mode's attributes; any other ``ce-*`` header is an extension attribute.
_CE_HEADERS = [
    {"name": f"ce-{name}", "in": "header", "required": False, "schema": {"type": "string"},
     "description": f"Binary mode: the event's `{name}` (percent-encoded UTF-8).{extra}",
     **({"example": example} if example else {})}
    for name, example, extra in [
        ("specversion", "1.0", " Its presence selects binary mode, unless the Content-Type is a "
         "CloudEvents one."),
        ("id", "e-17", ""), ("source", "/facilities/tx-dallas-01/payments", ""),
        ("type", "payment.made", ""), ("time", "2019-07-01T09:00:00Z", ""),
        ("subject", "acct-1", ""), ("traceparent", None, " An extension attribute, for example.")]]


def _location(decision: Decision) -> str:
    return "/v1/decisions?" + urlencode({"source": decision.event_source, "id": decision.event_id})


def _single(decision: Decision, *, stored: bool) -> Response:
    """The answer of one event: its decision's canonical JSON (``Decision.to_json``, the text
    a replay writes, serialised once), or a 422 problem for a rejected event."""
    if decision.status == "rejected":
        raise ProblemError(422, "the event is invalid: " + "; ".join(
            f"{e.get('path') or '/'}: {e.get('message', '')}" for e in decision.errors[:3])
            + ("; ..." if len(decision.errors) > 3 else ""),
            code="event.rejected", errors=event_errors(decision.errors),
            decision=decision.as_dict())
    headers = {}
    # only a stored decision has a place to point to: a dry run's would be a 404
    if stored and decision.event_source is not None and decision.event_id is not None:
        headers["Location"] = _location(decision)
    if stored:
        headers[DECISION_ID_HEADER] = _decision_id(decision)
    status = 201 if stored and decision.status == "accepted" else 200
    return Response(decision.to_json().encode("utf-8"), status_code=status, headers=headers,
                    media_type="application/json")


#: The stored decision's id (``clauseline.chain.decision_id``) of a single event's answer, and
#: the ids of a batch's, one per decision in the order of the body (``-`` for a rejected event).
DECISION_ID_HEADER, DECISION_IDS_HEADER = "Clauseline-Decision-Id", "Clauseline-Decision-Ids"


_ID_HEADER = {"description": "A single event: the id of its stored decision (`dec_` and 26 "
              "base32 characters, derived from the event's source and id and the policy "
              "version; a duplicate answers the first decision's id). `GET "
              "/v1/decisions/{decision_id}` reads it back.", "schema": {"type": "string"}}
_IDS_HEADER = {"description": "A batch: the id of each decision, comma-separated, in the order of "
               "the body; `-` for a rejected event (nothing stored).",
               "schema": {"type": "string"}}


def _decision_id(decision: Decision) -> str:
    """The id of a stored (accepted, or duplicate: the first) decision; ``-`` for a rejected
    one, which is not stored."""
    return "-" if decision.status == "rejected" else decision_id(
        decision.event_source, decision.event_id, decision.policy_version)


@router.post(
    "/events", status_code=201, summary="Evaluate events and store them with their decisions",
    description="Structured mode (`application/cloudevents+json`), binary mode (`ce-*` headers, a "
    "JSON body) or batch mode (`application/cloudevents-batch+json`). A 2xx is sent only once the "
    "event and its decision are committed to the store. A new event answers 201 with its "
    "decision; an event already stored (same `source` and `id`) answers 200 with the first "
    "decision, status `duplicate`; an invalid event answers 422 with every error. A batch answers "
    "200 with one decision per event, in order: a rejected event is listed with its errors and "
    "does not stop the rest.",
    openapi_extra={"requestBody": _BODY, "parameters": _CE_HEADERS},
    responses={201: {"description": "The event was new: its decision (status accepted)",
                     "headers": {DECISION_ID_HEADER: _ID_HEADER}, **_DECISION},
               200: {"description": "A duplicate's first decision (status duplicate), or for a "
                     "batch one decision per event, in order",
                     "headers": {DECISION_ID_HEADER: _ID_HEADER, DECISION_IDS_HEADER: _IDS_HEADER},
                     "content": {"application/json": {"schema": {"oneOf": [
                         ref("Decision"), {"type": "array", "items": ref("Decision")}]}}}},
               202: {"description": "Enqueue mode (`clauseline serve --enqueue-nats`): the "
                     "event was accepted for processing, stored in the events stream, not yet "
                     "decided: `{status: queued, event_id, event_source, stream, seq, "
                     "duplicate}` (a batch: one per event, rejected ones as decisions)"},
               **problem_responses(400, 401, 403, 413, 415, 422, 503)},
    dependencies=[Depends(require("events:write"))])
async def post_events(request: Request, settings: Settings = Depends(get_settings),
                      session: Session = Depends(get_session),
                      metrics: Metrics = Depends(get_metrics),
                      limiter: anyio.CapacityLimiter = Depends(get_limiter)):
    body = await read_body(request, settings.max_body_bytes)
    incoming = read_events(request, body, max_batch=settings.max_batch)
    if settings.enqueue_nats:
        return await _enqueued(request, incoming)

    if incoming.mode == "batch":  # one transaction for all (group commit)
        rid = request_id(request)
        decisions = await anyio.to_thread.run_sync(functools.partial(
            session.submit_many, incoming.events, request_ids=[rid] * len(incoming.events)),
            limiter=limiter)
    else:  # one event: it shares a transaction with those posted at the same time
        decisions = [await request.app.state.committer.submit(session, incoming.events[0],
                                                              request_id(request))]
    for decision in decisions:
        metrics.count(decision)
    if incoming.mode == "batch":
        return Response(("[" + ",".join(d.to_json() for d in decisions) + "]").encode("utf-8"),
                        status_code=200, media_type="application/json", headers={
                            DECISION_IDS_HEADER: ", ".join(_decision_id(d) for d in decisions)})
    return _single(decisions[0], stored=True)


async def _enqueued(request: Request, incoming) -> JSONResponse:
    """Enqueue mode (service/enqueue.py): 202 once the events stream holds the event."""
    from ...stream.jetstream import StreamError
    enqueuer = request.app.state.enqueuer
    try:
        answers = await enqueuer.enqueue(incoming.events)
    except StreamError as error:
        raise ProblemError(503, error.problems[0].message, code=error.code) from None
    if incoming.mode == "batch":
        return JSONResponse([a.as_dict() if isinstance(a, Decision) else a for a in answers],
                            status_code=202)
    if isinstance(answers[0], Decision):
        return _single(answers[0], stored=False)
    return JSONResponse(answers[0], status_code=202)


@router.post(
    "/evaluate", summary="Dry run: evaluate one event against the stored state, store nothing",
    description="The decision the event would get from `POST /v1/events` now, against the "
    "stored state; nothing is recorded (the response carries `X-Clauseline-Dry-Run: true`, and "
    "no `Location`: there is nothing to point to). An "
    "event already stored answers with its first decision, status `duplicate`.",
    openapi_extra={"requestBody": {"required": True, "content": {
        k: v for k, v in _BODY["content"].items() if k != BATCH}}, "parameters": _CE_HEADERS},
    responses={200: {"description": "The decision it would get", **_DECISION},
               **problem_responses(400, 401, 403, 413, 415, 422, 503)},
    dependencies=[Depends(require("decisions:read"))])
async def post_evaluate(request: Request, settings: Settings = Depends(get_settings),
                        session: Session = Depends(get_session),
                        limiter: anyio.CapacityLimiter = Depends(get_limiter)):
    body = await read_body(request, settings.max_body_bytes)
    incoming = read_events(request, body, batch=False)
    decision = await anyio.to_thread.run_sync(session.preview, incoming.events[0], limiter=limiter)
    response = _single(decision, stored=False)
    response.headers["X-Clauseline-Dry-Run"] = "true"
    return response
