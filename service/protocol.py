"""uvicorn's HTTP/1.1 protocol (httptools), answering what it refuses as problem details.

A request that is not well-formed HTTP/1.1 (a bad request line, method or header, a non-ASCII
path, broken chunked framing) never reaches the app: httptools stops parsing and uvicorn answers
``400 Invalid HTTP request received.`` as ``text/plain`` itself, then closes the connection.
:class:`ProblemHttpToolsProtocol` answers it as every other error of the service is answered:
``application/problem+json`` with the code ``request.malformed``, a request id in the body and
the ``X-Request-ID`` header, and one access log line (route ``(malformed)``, status 400) and
latency observation, as the app's requests have. ``clauseline serve`` runs uvicorn with it.
"""

from __future__ import annotations

import json
import logging
import uuid

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .observability import MALFORMED_STATE, REQUEST_ID, access_log, log_line, request_id_of
from .problems import PROBLEM_JSON, TITLES, TYPE_BASE

MALFORMED = "request.malformed"
#: What a malformed request is answered; it quotes nothing of the request.
DETAIL = ("the request is not well-formed HTTP/1.1 (its request line, a header, or the framing "
          "of its body); the connection is closed")
#: The route of a malformed request in the access log and the latency metric.
ROUTE = "(malformed)"


def malformed_response(request_id: str, default_headers=()) -> bytes:
    """The whole HTTP response to a malformed request: status line, headers, problem body."""
    body = json.dumps({"type": TYPE_BASE + MALFORMED, "title": TITLES[400], "status": 400,
                       "detail": DETAIL, "code": MALFORMED,
                       "request_id": request_id}).encode("ascii")
    head = [b"HTTP/1.1 400 Bad Request\r\n"]
    for name, value in default_headers:
        head.append(name + b": " + value + b"\r\n")
    head += [b"content-type: " + PROBLEM_JSON.encode() + b"\r\n",
             b"content-length: " + str(len(body)).encode() + b"\r\n",
             REQUEST_ID.encode() + b": " + request_id.encode() + b"\r\n",
             b"connection: close\r\n\r\n"]
    return b"".join(head) + body


class ProblemHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol; a malformed request is answered as problem details."""

    def send_400_response(self, msg: str) -> None:  # uvicorn's only answer of its own here
        cycle = self.cycle
        if cycle is not None and cycle.scope is self.scope and not cycle.response_complete:
            # the fault is in the body of a request the app is handling (broken chunked
            # framing): answered with that request's id; the app, which now reads a disconnect,
            # writes its access line (status 400, malformed) when it ends
            cycle.scope.setdefault("state", {})[MALFORMED_STATE] = True
            rid, logged = request_id_of(cycle.scope), True
        else:
            rid, logged = uuid.uuid4().hex, False
        response = malformed_response(rid, self.server_state.default_headers)
        self.transport.write(response)
        self.transport.close()
        if logged:
            return
        # the method, when the request line was read before the fault; else "-"
        method = (self.scope or {}).get("method") or "-"
        log_line(access_log, logging.INFO, {
            "request_id": rid, "method": method, "route": ROUTE, "status": 400,
            "duration_ms": 0.0, "response_bytes": len(response) - response.index(b"\r\n\r\n") - 4})
        metrics = getattr(getattr(self.app, "state", None), "metrics", None)
        if metrics is not None:
            metrics.latency.labels(method, ROUTE, "400").observe(0.0)
