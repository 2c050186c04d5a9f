"""Access logs, request ids and Prometheus metrics.

Every request gets an id: the caller's ``X-Request-ID`` when it is a short token
(``[A-Za-z0-9._-]{1,64}``), else a new one; it is echoed in the ``X-Request-ID`` response header,
in every problem details body, and in the access log line. The access log is one JSON object
per request on the ``clauseline.access`` logger: the route *template*
(``/v1/subjects/{subject_id}``, never the subject id itself), method, status, duration and
sizes; never a header (keys), a query string or a body (personal data). A client that hangs up
before its body was read whole is logged as status 499 with ``client_disconnected`` (no stack,
no 500); a request whose framing broke is answered by service/protocol.py and logged as 400.

Metrics (``GET /metrics``, Prometheus text format through prometheus-client):
``clauseline_events_total{type,status}``, ``clauseline_outcomes_total{kind,clause}``,
``clauseline_http_request_duration_seconds{method,route,status}`` and
``clauseline_group_commit_events`` (how many single events each shared transaction took). With
several workers ``clauseline serve`` sets ``PROMETHEUS_MULTIPROC_DIR`` and each scrape sums
every worker. Counting costs a dictionary lookup per labelled child after its first use, and the
access line is formatted only when the ``clauseline.access`` logger writes INFO.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
import traceback
import uuid
from datetime import datetime, timezone
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client import generate_latest, multiprocess
from starlette.requests import ClientDisconnect

from ..decision import Decision

REQUEST_ID = "x-request-id"
#: The status logged and counted for a request whose client hung up before it was read whole
#: (nginx's "client closed request"): nothing was answered, and it is no fault of the service.
CLIENT_CLOSED = 499
#: Set in a request's ``scope["state"]`` by service/protocol.py when the request's body framing
#: broke while the app read it: the client was answered 400 ``request.malformed``.
MALFORMED_STATE = "clauseline.malformed"
_GOOD_ID = re.compile(rb"[A-Za-z0-9._-]{1,64}")

access_log = logging.getLogger("clauseline.access")
error_log = logging.getLogger("clauseline.service")


class Metrics:
    """The service's Prometheus metrics, in a registry of their own (one per app)."""

    def __init__(self, event_types):
        self.registry = CollectorRegistry()
        self.event_types = frozenset(event_types)
        self.events = Counter("clauseline_events", "Events received, by type and decision status",
                              ["type", "status"], registry=self.registry)
        self.outcomes = Counter("clauseline_outcomes", "Outcomes of accepted events, by kind "
                                "and clause", ["kind", "clause"], registry=self.registry)
        self.latency = Histogram("clauseline_http_request_duration_seconds",
                                 "HTTP request latency, by method, route template and status",
                                 ["method", "route", "status"], registry=self.registry,
                                 buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5,
                                          5, 10))
        self.group_commit = Histogram("clauseline_group_commit_events",
                                      "Single events committed together, per transaction "
                                      "(service/committer.py)", registry=self.registry,
                                      buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256))
        # each labelled child made once: prometheus-client checks and looks up the label values
        # under a lock at every ``labels`` call, and these are counted at every request
        self._children: dict[tuple, Any] = {}

    def _child(self, metric, *values: str):
        key = (metric, *values)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*values)
        return child

    def observe_latency(self, method: str, route: str, status: str, seconds: float) -> None:
        """One request's latency, by method, route template and status."""
        self._child(self.latency, method, route, status).observe(seconds)

    def count(self, decision: Decision) -> None:
        """Count one decision of ``POST /v1/events``."""
        # only catalogue types become label values: a label per made-up type would grow without end
        kind = decision.event_type if decision.event_type in self.event_types else "other"
        self._child(self.events, kind, decision.status).inc()
        if decision.status == "accepted":
            for outcome in decision.outcomes:
                self._child(self.outcomes, outcome["kind"], outcome["clause"]).inc()

    def exposition(self) -> bytes:
        """The text a scrape gets: this process's metrics, or every worker's in multiprocess mode."""
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry)
        return generate_latest(self.registry)


def log_line(logger: logging.Logger, level: int, fields: dict) -> None:
    """One JSON object on one line, with the time first: the service's log format."""
    fields = {"time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"), **fields}
    logger.log(level, json.dumps(fields, ensure_ascii=True, sort_keys=True))


def request_id_of(scope) -> str:
    """The request's id, kept in ``scope["state"]``: the one given to it already, else the
    caller's ``X-Request-ID`` when it is a short token, else a new one."""
    state = scope.setdefault("state", {})
    if not state.get("request_id"):
        given = dict(scope.get("headers") or ()).get(REQUEST_ID.encode())
        state["request_id"] = (given.decode() if given and _GOOD_ID.fullmatch(given)
                               else uuid.uuid4().hex)
    return state["request_id"]


class AccessLog:
    """ASGI middleware: request id, access log line, latency metric, and the last word on any
    exception (a 500 problem with the request id; the frames go to the log, the message does
    not, since it may quote an input value)."""

    def __init__(self, app, metrics: Metrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = request_id_of(scope)
        started = time.perf_counter()
        sent = {"status": 500, "bytes": 0, "started": False}

        async def send_with_id(message):
            if message["type"] == "http.response.start":
                sent["status"] = message["status"]
                sent["started"] = True
                message = dict(message, headers=[*message.get("headers", ()),
                                                 (REQUEST_ID.encode(), rid.encode())])
            elif message["type"] == "http.response.body":
                sent["bytes"] += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except ClientDisconnect:
            # the client closed the connection while its body was read: no one to answer, no
            # stack to log; the access line says so (status 499, client_disconnected). Or the
            # body's framing broke, and the protocol answered 400 (status 400, malformed)
            if not scope["state"].get(MALFORMED_STATE):
                if not sent["started"]:
                    sent["status"] = CLIENT_CLOSED
                sent["disconnected"] = True
        except Exception as error:  # noqa: BLE001 - answered as a 500 problem, logged by frames
            log_line(error_log, logging.ERROR, {
                "request_id": rid, "error": type(error).__name__,
                "frames": "".join(traceback.format_tb(error.__traceback__))[-4000:]})
            if not sent["started"]:
                body = json.dumps({"type": "https://clauseline.dev/problems/service.internal_error",
                                   "title": "Internal Server Error", "status": 500,
                                   "detail": "internal error; the server's log has the details "
                                   "under this request id", "code": "service.internal_error",
                                   "request_id": rid}).encode()
                await send_with_id({"type": "http.response.start", "status": 500, "headers": [
                    (b"content-type", b"application/problem+json"),
                    (b"content-length", str(len(body)).encode())]})
                await send_with_id({"type": "http.response.body", "body": body})
        finally:
            elapsed = time.perf_counter() - started
            if scope["state"].get(MALFORMED_STATE):  # what the client was answered
                sent["status"], sent["malformed"] = 400, True
            route = scope.get("route")
            template = getattr(route, "path", None) or "(unmatched)"
            status = str(sent["status"])
            self.metrics.observe_latency(scope["method"], template, status, elapsed)
            if access_log.isEnabledFor(logging.INFO):  # else no line is even formatted
                fields = {"request_id": rid, "method": scope["method"], "route": template,
                          "status": sent["status"], "duration_ms": round(elapsed * 1000, 3),
                          "response_bytes": sent["bytes"]}
                if sent.get("disconnected"):
                    fields["client_disconnected"] = True
                if sent.get("malformed"):
                    fields["malformed"] = True
                log_line(access_log, logging.INFO, fields)
