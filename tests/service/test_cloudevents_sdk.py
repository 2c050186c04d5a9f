"""A client nobody here wrote: the CloudEvents Python SDK posts the demo log to a real
``clauseline serve``, and the service decides exactly what ``clauseline replay`` decides.

Integrators do not hand-write CloudEvents: their SDK builds them, and its HTTP binding decides
how they travel. The SDK writes ``time`` from a ``datetime`` (a zero offset as ``Z``, other
offsets as ``-05:00``, fractional seconds as six digits), percent-encodes binary-mode ``ce-*``
headers, carries extension attributes such as ``traceparent``, and moves ``datacontenttype`` to
``Content-Type`` in binary mode. The service's tests build their requests by hand, so they
cannot show that what a real producer sends is read as the same event; this module does.

The first 60 events of ``examples/demo-log.jsonl`` become SDK events (id, source, type, time,
subject, data kept; some with fractional seconds, some at a -05:00 or +02:00 offset, some
with a ``traceparent``) and are posted over HTTP (httpx) to ``clauseline serve`` on a SQLite store,
alternately in structured and binary mode, with a key made by ``clauseline keys create``. The
decisions the service answers must equal, event for event and as parsed JSON, those of
``clauseline replay`` of the same events in the same order: the replay log is the SDK's own
structured serialization of each event as sent, so the comparison is of one event stream read
two ways (HTTP binding, log line), not of two different streams.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
from cloudevents.core.bindings.http import HTTPMessage, to_binary, to_structured
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from .server import Server

REPO = Path(__file__).resolve().parents[2]
CLAUSELINE = REPO / ".venv" / "bin" / "clauseline"
DEMO_LOG = REPO / "examples" / "demo-log.jsonl"
COUNT = 60
#: Every subprocess (serve, keys, replay) pseudonymizes with the same key, so the decisions'
#: pseudonyms agree.
ENV = {"CLAUSELINE_REDACTION_KEY": "cloudevents-sdk-test-key-not-secret"}
#: Offsets producers write: Dallas in summer (CDT), and an operator's tool in Berlin (CEST),
#: whose "+" travels unencoded in a binary-mode header (the SDK leaves it, RFC 3986 allows it).
CENTRAL = timezone(timedelta(hours=-5))
BERLIN = timezone(timedelta(hours=2))
FORMAT = JSONFormat()


def _time(text: str, index: int) -> datetime:
    """The event's time as the SDK holds it, varied as producers vary it: a third of the events
    with fractional seconds (a quarter of a second later: still in the log's order), a third of
    the UTC ones re-expressed at -05:00 or +02:00 (the same instant). Positions are chosen so
    that each variation goes out in both content modes."""
    at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if index % 3 == 1:
        at += timedelta(milliseconds=250)
    elif index % 3 == 2 and at.utcoffset() == timedelta(0):
        at = at.astimezone(CENTRAL if index // 6 % 2 == 0 else BERLIN)
    return at


def _traceparent(event_id: str) -> str:
    digest = hashlib.sha256(event_id.encode()).hexdigest()
    return f"00-{digest[:32]}-{digest[32:48]}-01"


def sdk_events() -> list[CloudEvent]:
    """The first COUNT events of the demo log, as CloudEvents SDK events."""
    out = []
    lines = DEMO_LOG.read_text(encoding="utf-8").splitlines()[:COUNT]
    for index, line in enumerate(lines):
        raw = json.loads(line)
        attributes = {name: raw[name] for name in ("id", "source", "type", "subject",
                                                   "datacontenttype") if name in raw}
        attributes["time"] = _time(raw["time"], index)
        if index % 5 == 0:
            attributes["traceparent"] = _traceparent(raw["id"])
        out.append(CloudEvent(attributes, raw["data"]))
    return out


def message(event: CloudEvent, index: int) -> tuple[str, HTTPMessage]:
    """Structured mode for even positions, binary mode for odd ones."""
    if index % 2 == 0:
        return "structured", to_structured(event, FORMAT)
    return "binary", to_binary(event, FORMAT)


def run(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(CLAUSELINE), *args], env={**os.environ, **ENV}, capture_output=True,
                          text=True, timeout=120, check=True, **kw)


@pytest.fixture
def served(tmp_path):
    """``clauseline serve`` on a fresh SQLite store, and an events:write key for it."""
    db = f"sqlite:///{tmp_path / 'service.db'}"
    key = run("keys", "create", "--db", db, "--name", "cloudevents-sdk",
              "--scope", "events:write").stdout.strip()
    assert key.startswith("clk_"), "keys create prints the key alone on stdout"
    with Server(CLAUSELINE, "--db", db, env=ENV, log=tmp_path / "serve.log") as server:
        with httpx.Client(base_url=server.url, timeout=30,
                          headers={"Authorization": f"Bearer {key}"}) as client:
            yield client


def post(client: httpx.Client, sent: HTTPMessage) -> httpx.Response:
    return client.post("/v1/events", content=sent.body, headers=sent.headers)


def _on_the_wire(mode: str, sent: HTTPMessage) -> set[tuple[str, str]]:
    """Which variations a request carries, read from its bytes: (mode, variation) pairs."""
    if mode == "structured":
        attributes = json.loads(sent.body)
        time, extension = attributes["time"], "traceparent" in attributes
    else:
        time, extension = sent.headers["ce-time"], "ce-traceparent" in sent.headers
    found = {"fraction": ".250000" in time, "-05:00": time.endswith("-05:00"),
             "+02:00": time.endswith("+02:00"), "Z": time.endswith("Z"), "traceparent": extension}
    return {(mode, name) for name, present in found.items() if present}


def test_sdk_events_in_both_modes_get_the_decisions_of_replay(served, tmp_path):
    events = sdk_events()
    variations, answered = set(), []
    for index, event in enumerate(events):
        mode, sent = message(event, index)
        response = post(served, sent)
        assert response.status_code in (200, 201), (event.get_id(), mode, response.text)
        decision = response.json()
        assert (response.status_code, decision["status"]) in ((201, "accepted"), (200, "duplicate"))
        variations |= _on_the_wire(mode, sent)
        answered.append(decision)
    assert variations == {(mode, name) for mode in ("structured", "binary")
                          for name in ("fraction", "-05:00", "+02:00", "Z", "traceparent")}

    log = tmp_path / "sent.jsonl"
    log.write_text("".join(to_structured(e, FORMAT).body.decode() + "\n" for e in events),
                   encoding="utf-8")
    replayed = [json.loads(line) for line in run("replay", str(log)).stdout.splitlines()]
    assert len(replayed) == len(answered) == COUNT
    for event, got, expected in zip(events, answered, replayed):
        assert got == expected, event.get_id()
    assert sum(len(d["outcomes"]) for d in answered) > 0


def test_an_event_sent_again_is_a_duplicate_with_the_first_decisions_outcomes(served):
    events = sdk_events()
    payment = next(i for i, e in enumerate(events) if e.get_type() == "payment.made")
    for index, event in enumerate(events[:payment + 1]):
        first = post(served, message(event, index)[1])
        assert first.status_code == 201, first.text
    first = first.json()
    assert first["outcomes"], "a payment has outcomes (retention, disclosure) to repeat"
    # again, in the other content mode: the same (source, id) is the same event
    again = post(served, message(events[payment], payment + 1)[1])
    assert again.status_code == 200, again.text
    duplicate = again.json()
    assert duplicate["status"] == "duplicate"
    assert duplicate["outcomes"] == first["outcomes"]
    # the first decision itself, time and trace included: only the status says it is a repeat
    assert duplicate == {**first, "status": "duplicate"}
