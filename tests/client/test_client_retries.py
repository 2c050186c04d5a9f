"""Retries of ``clauseline.client``: what is sent again, when, and what is never retried.

The mechanics go through an httpx transport that answers a scripted failure (a 503 or 429
problem, a connection refused, a lost answer) and then hands the request on to a real
``clauseline serve``, recording every attempt's bytes; the sleeps between attempts are recorded
instead of slept. Idempotency is the real server's: an event stored by an attempt whose answer
was lost comes back ``duplicate``."""

from __future__ import annotations

import asyncio
import email.utils
import json
import socket
import threading
import uuid
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from clauseline.client import (AsyncClient, BadRequest, Client, Conflict, ConnectionFailed,
                               Forbidden, InvalidResponse, NotFound, ProblemError, Queued,
                               ServerError, ServiceUnavailable, TooLarge, TooManyRequests,
                               Unauthorized, UnsupportedMediaType, ValidationFailed,
                               encode_batch, encode_event)

from .conftest import REPO

CARD = "4111111111111111"


def event(subject: str | None = None) -> dict:
    base = json.loads((REPO / "examples" / "disclosure-request.json").read_text())
    return {**base, "id": f"retry-{uuid.uuid4().hex[:12]}", "source": "/tests/client/retries",
            "subject": subject or f"acct-{uuid.uuid4().hex[:8]}"}


def problem(status: int, code: str, detail: str = "", **extra) -> dict:
    return {"type": f"https://clauseline.dev/problems/{code}", "title": "t", "status": status,
            "detail": detail or code, "code": code, "request_id": "r" * 32, **extra}


class Scripted(httpx.BaseTransport):
    """Answers the scripted failures in turn, then passes every request on to ``upstream`` (a
    real server) or answers ``final``. Keeps each attempt's request."""

    def __init__(self, script: list, upstream: str | None = None, final=None):
        self.script = list(script)
        self.upstream = httpx.HTTPTransport() if upstream else None
        self.final = final
        self.sent: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.sent.append(request)
        step = self.script.pop(0) if self.script else "pass"
        if isinstance(step, httpx.Response):
            return step
        if step == "refused":
            raise httpx.ConnectError("connection refused", request=request)
        if step == "pass" and self.final is not None:
            return self.final
        response = self.upstream.handle_request(request)
        response.read()
        if step == "lost":  # stored by the server; the answer never arrives
            raise httpx.ReadTimeout("timed out", request=request)
        return response


def unavailable(retry_after: str | None = "1") -> httpx.Response:
    headers = {"retry-after": retry_after} if retry_after is not None else {}
    return httpx.Response(503, json=problem(503, "store.unavailable",
                                            "the store is unavailable; retry later"),
                          headers={**headers, "content-type": "application/problem+json"})


def client_for(transport, url="http://127.0.0.1:9", key="clk_000000000000_" + "a" * 43,
               **kw) -> tuple[Client, list]:
    client = Client(url, api_key=key, transport=transport, **kw)
    slept: list[float] = []
    client._sleep = slept.append
    return client, slept


def test_a_503_is_retried_with_the_same_bytes_honouring_retry_after(served):
    posted = event()
    transport = Scripted([unavailable("2"), unavailable("0")], upstream=served.url)
    client, slept = client_for(transport, served.url, served.key, retries=3, backoff=5)
    with client:
        decision = client.post(posted)
        assert decision.accepted and decision.attempts == 3
        assert slept == [2.0, 0.0]  # Retry-After, not the backoff
        assert len(transport.sent) == 3
        assert {r.content for r in transport.sent} == {encode_event(posted)}
        assert len({r.headers["x-request-id"] for r in transport.sent}) == 1
        assert decision.request_id == transport.sent[0].headers["x-request-id"]
        assert client.decision(posted["source"], posted["id"]).raw == decision.raw


def test_a_lost_answer_is_sent_again_and_comes_back_duplicate(served):
    posted = event()
    transport = Scripted(["lost"], upstream=served.url)
    client, slept = client_for(transport, served.url, served.key, retries=2, backoff=0.25)
    with client:
        decision = client.post(posted)
        assert decision.duplicate and decision.attempts == 2
        assert slept == [0.25]
        assert transport.sent[0].content == transport.sent[1].content
        stored = client.decision(posted["source"], posted["id"])
        assert stored.accepted and stored.outcomes == decision.outcomes
        assert decision.raw == {**stored.raw, "status": "duplicate"}


def test_refused_connections_back_off_then_a_batch_passes_whole(served):
    events = [event(), event()]
    transport = Scripted(["refused", "refused", unavailable(None)], upstream=served.url)
    client, slept = client_for(transport, served.url, served.key, retries=3, backoff=0.25)
    with client:
        decisions = client.post_batch(events)
    assert [d.status for d in decisions] == ["accepted", "accepted"]
    assert slept == [0.25, 0.5, 1.0]  # doubled each time: no Retry-After on any of them
    assert {r.content for r in transport.sent} == {encode_batch(events)}
    assert all(r.headers["content-type"] == "application/cloudevents-batch+json"
               for r in transport.sent)


@pytest.mark.parametrize("status, code, kind", [
    (400, "event.invalid_json", BadRequest), (401, "auth.invalid_key", Unauthorized),
    (403, "auth.forbidden", Forbidden), (404, "decision.not_found", NotFound),
    (409, "event.conflict", Conflict), (413, "request.too_large", TooLarge),
    (415, "request.unsupported_media_type", UnsupportedMediaType),
    (422, "event.rejected", ValidationFailed), (418, "teapot", ProblemError),
    (500, "service.internal_error", ServerError)])
def test_a_problem_other_than_429_502_503_504_is_never_retried(status, code, kind):
    answer = httpx.Response(status, json=problem(status, code, errors=[
        {"pointer": "/data", "detail": "x", "code": "schema.type"}]),
        headers={"content-type": "application/problem+json", "retry-after": "1"})
    transport = Scripted([], final=answer)
    client, slept = client_for(transport, retries=5)
    with client, pytest.raises(kind) as raised:
        client.post(event())
    assert type(raised.value) is kind
    assert (raised.value.status, raised.value.code, raised.value.attempts) == (status, code, 1)
    assert raised.value.errors == [{"pointer": "/data", "detail": "x", "code": "schema.type"}]
    assert len(transport.sent) == 1 and slept == []


@pytest.mark.parametrize("status, kind", [(429, TooManyRequests), (502, ServerError),
                                          (503, ServiceUnavailable), (504, ServerError)])
def test_retryable_statuses_are_retried_then_raised(status, kind):
    answer = httpx.Response(status, json=problem(status, "busy"),
                            headers={"content-type": "application/problem+json"})
    transport = Scripted([], final=answer)
    client, slept = client_for(transport, retries=2, backoff=0.1)
    with client, pytest.raises(kind) as raised:
        client.policy()
    assert type(raised.value) is kind and raised.value.attempts == 3
    assert len(transport.sent) == 3 and slept == [0.1, 0.2]


def test_retry_after_as_a_date_and_the_longest_wait():
    later = email.utils.format_datetime(datetime.now(timezone.utc) + timedelta(seconds=30),
                                        usegmt=True)
    transport = Scripted([unavailable(later), unavailable("3600"), unavailable("soon")],
                         final=httpx.Response(200, json={"status": "ok"}))
    client, slept = client_for(transport, retries=3, backoff=0.5, max_delay=10)
    with client:
        client.obligations()  # reads are retried too
    # a date 30 s ahead (less the time the test took; capped at 10), 3600 capped at 10, and an
    # unreadable Retry-After falls back to the backoff of the third attempt
    assert slept == [10.0, 10.0, 2.0]


def test_health_and_ready_are_not_retried():
    transport = Scripted([], final=unavailable("1"))
    client, slept = client_for(transport, retries=3)
    with client:
        with pytest.raises(ServiceUnavailable):
            client.ready()
        with pytest.raises(ServiceUnavailable):
            client.health()
    assert len(transport.sent) == 2 and slept == []


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_connection_failed_when_nothing_listens_and_when_nothing_answers():
    url = f"http://127.0.0.1:{_closed_port()}"
    with Client(url, api_key=None, retries=2, backoff=0) as client:
        with pytest.raises(ConnectionFailed) as refused:
            client.post(event())
    assert (refused.value.reason, refused.value.attempts) == ("ConnectError", 3)
    assert "3 attempts" in str(refused.value) and url in str(refused.value)

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    held = []
    stop = threading.Event()

    def accept():  # accept and never answer
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        silent = f"http://127.0.0.1:{listener.getsockname()[1]}"
        with Client(silent, timeout=0.3, retries=1, backoff=0) as client:
            with pytest.raises(ConnectionFailed) as timed_out:
                client.post(event())
        assert (timed_out.value.reason, timed_out.value.attempts) == ("ReadTimeout", 2)
        assert "timed out" in str(timed_out.value)
        assert len(held) == 2
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        listener.close()


def test_messages_mask_numbers_and_never_quote_a_page():
    detail = f"the event is invalid: /data/note: card {CARD} \x1b[31m\u202e"
    answer = httpx.Response(422, json=problem(422, "event.rejected", detail),
                            headers={"content-type": "application/problem+json"})
    client, _ = client_for(Scripted([], final=answer))
    with client, pytest.raises(ValidationFailed) as raised:
        client.post(event())
    text = str(raised.value) + repr(raised.value)
    assert CARD not in text and "\x1b" not in text and "\u202e" not in text
    assert "/data/note" in text

    page = httpx.Response(502, text=f"<html><body>upstream {CARD} failed</body></html>",
                          headers={"content-type": "text/html"})
    client, _ = client_for(Scripted([], final=page), retries=0)
    with client, pytest.raises(ServerError) as raised:
        client.post(event())
    assert raised.value.status == 502 and raised.value.code == "http.502"
    assert "<html" not in str(raised.value) and CARD not in str(raised.value)
    assert "without problem details" in str(raised.value)


def test_answers_that_are_not_the_documented_json_are_invalid_responses():
    for answer in [httpx.Response(201, text="<html>ok</html>"), httpx.Response(201, json=[1, 2]),
                   httpx.Response(200, json={"status": 7})]:
        client, _ = client_for(Scripted([], final=answer))
        with client, pytest.raises(InvalidResponse):
            client.post(event())
    client, _ = client_for(Scripted([], final=httpx.Response(200, json={"a": 1})))
    with client, pytest.raises(InvalidResponse):
        client.post_batch([event()])


def test_enqueue_mode_answers_are_queued():
    posted = event()
    queued = {"status": "queued", "event_id": posted["id"], "event_source": posted["source"],
              "stream": "EVENTS", "seq": 7, "duplicate": False}
    client, _ = client_for(Scripted([], final=httpx.Response(202, json=queued)))
    with client:
        answer = client.post(posted)
    assert isinstance(answer, Queued)
    assert (answer.event_id, answer.stream, answer.seq, answer.duplicate) == \
        (posted["id"], "EVENTS", 7, False)


class AsyncScripted(httpx.AsyncBaseTransport):
    def __init__(self, script: list, final: httpx.Response):
        self.script, self.final, self.sent = list(script), final, []

    async def handle_async_request(self, request):
        await request.aread()
        self.sent.append(request)
        step = self.script.pop(0) if self.script else self.final
        if step == "refused":
            raise httpx.ConnectError("connection refused", request=request)
        return step


def test_the_async_client_retries_the_same_way():
    posted = event()
    decision = {"event_id": posted["id"], "event_source": posted["source"],
                "event_type": posted["type"], "time": posted["time"],
                "policy_version": "securus-2019-05-04", "status": "accepted", "outcomes": [],
                "trace": []}
    transport = AsyncScripted([unavailable("1"), "refused"],
                              final=httpx.Response(201, json=decision))
    slept = []

    async def sleep(seconds):
        slept.append(seconds)

    async def scenario():
        async with AsyncClient("http://127.0.0.1:9", transport=transport, backoff=0.5) as client:
            client._sleep = sleep
            answer = await client.post(posted)
            transport.script = [httpx.Response(404, json=problem(404, "decision.not_found"))]
            with pytest.raises(NotFound):
                await client.decision(posted["source"], posted["id"])
            return answer

    answer = asyncio.run(scenario())
    assert answer.accepted and answer.attempts == 3 and slept == [1.0, 1.0]
    assert len({r.content for r in transport.sent[:3]}) == 1
    assert len({r.headers["x-request-id"] for r in transport.sent[:3]}) == 1
    assert len(transport.sent) == 4  # the 404 once
