"""Binary mode with no content type declared: the data are read as JSON (issue 25).

The CloudEvents SDK sends an event that has no ``datacontenttype`` in binary mode with no
``Content-Type`` header at all: the new API (``cloudevents.core.bindings.http.to_binary``) and
the legacy one (``cloudevents.conversion.to_binary`` and ``cloudevents.http.to_binary``, under
``cloudevents.v1`` in SDK 2.x) alike. The CloudEvents JSON format reads an absent content type
as ``application/json``, so the service does too; a type that *is* declared and is not JSON, in
``Content-Type`` or in a ``ce-datacontenttype`` header, is still refused with 415.

The first test posts the SDK's own default binary output of demo-log events to a real
``clauseline serve`` and holds each decision to the one the same event gets in structured mode
(a dry run of its structured serialization just before, against the same stored state). The
others go through the app in-process, on both store backends, for the edges.
"""

from __future__ import annotations

import json
import os
import subprocess
import warnings
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from cloudevents.core.bindings.http import to_binary as core_to_binary
from cloudevents.core.bindings.http import to_structured
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

try:  # the legacy API: top-level before SDK 2.0, under cloudevents.v1 since
    from cloudevents.conversion import to_binary as conversion_to_binary
    from cloudevents.http import CloudEvent as LegacyEvent
    from cloudevents.http import to_binary as http_to_binary
except ImportError:
    from cloudevents.v1.conversion import to_binary as conversion_to_binary
    from cloudevents.v1.http import CloudEvent as LegacyEvent
    from cloudevents.v1.http import to_binary as http_to_binary

from .conftest import STRUCTURED
from .server import Server
from .test_api import PAYMENT, expected, problem_of

REPO = Path(__file__).resolve().parents[2]
CLAUSELINE = REPO / ".venv" / "bin" / "clauseline"
DEMO_LOG = REPO / "examples" / "demo-log.jsonl"
COUNT = 45
ENV = {"CLAUSELINE_REDACTION_KEY": "binary-default-json-test-key-not-secret"}
FORMAT = JSONFormat()
ATTRIBUTES = ("id", "source", "type", "time", "subject")


def demo_events() -> list[dict]:
    """The first COUNT events of the demo log, without ``datacontenttype`` (as a producer that
    never sets it writes them)."""
    lines = DEMO_LOG.read_text(encoding="utf-8").splitlines()[:COUNT]
    return [{key: value for key, value in json.loads(line).items() if key != "datacontenttype"}
            for line in lines]


def _attributes(raw: dict) -> dict:
    """The attributes as the new SDK API holds them: ``time`` a datetime."""
    attributes = {name: raw[name] for name in ATTRIBUTES if name in raw}
    attributes["time"] = datetime.fromisoformat(raw["time"].replace("Z", "+00:00"))
    return attributes


def _core(raw: dict) -> tuple[dict, bytes]:
    sent = core_to_binary(CloudEvent(_attributes(raw), raw["data"]), FORMAT)
    return dict(sent.headers), sent.body


def _conversion(raw: dict) -> tuple[dict, bytes]:
    attributes = {name: raw[name] for name in ATTRIBUTES if name in raw}
    headers, body = conversion_to_binary(LegacyEvent(attributes, raw["data"]))
    return dict(headers), body


def _http(raw: dict) -> tuple[dict, bytes]:
    attributes = {name: raw[name] for name in ATTRIBUTES if name in raw}
    with warnings.catch_warnings():  # deprecated since SDK 1.6, and still what producers call
        warnings.simplefilter("ignore", DeprecationWarning)
        headers, body = http_to_binary(LegacyEvent(attributes, raw["data"]))
    return dict(headers), body


#: The SDK's three ways to write binary mode, each given a third of the events.
BINDINGS = {"cloudevents.core.bindings.http.to_binary": _core,
            "cloudevents.conversion.to_binary": _conversion,
            "cloudevents.http.to_binary": _http}


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(CLAUSELINE), *args], env={**os.environ, **ENV}, capture_output=True,
                          text=True, timeout=120, check=True)


@pytest.fixture
def served(tmp_path):
    """A real ``clauseline serve`` on a fresh SQLite store, and a key to write and dry-run."""
    db = f"sqlite:///{tmp_path / 'service.db'}"
    key = run("keys", "create", "--db", db, "--name", "binary", "--scope", "events:write",
              "--scope", "decisions:read").stdout.strip()
    with Server(CLAUSELINE, "--db", db, env=ENV, log=tmp_path / "serve.log") as server:
        with httpx.Client(base_url=server.url, timeout=30,
                          headers={"Authorization": f"Bearer {key}"}) as client:
            yield client


def test_the_sdks_default_binary_output_gets_the_decision_of_structured_mode(served):
    events = demo_events()
    names = list(BINDINGS)
    used, outcomes = set(), 0
    for index, raw in enumerate(events):
        name = names[index % len(names)]
        headers, body = BINDINGS[name](raw)
        # what makes this the case of the issue: the SDK declares no content type at all
        assert not {h.lower() for h in headers} & {"content-type", "ce-datacontenttype"}, name
        assert headers["ce-specversion"] == "1.0"
        used.add(name)

        # the structured twin, as the SDK writes it, decided against the same stored state
        twin = to_structured(CloudEvent(_attributes(raw), raw["data"]), FORMAT)
        preview = served.post("/v1/evaluate", content=twin.body, headers=dict(twin.headers))
        assert preview.status_code in (200, 422), preview.text

        response = served.post("/v1/events", content=body, headers=headers)
        if preview.status_code == 422:  # a deliberately bad line of the demo log: the same 422
            assert response.status_code == 422, (raw["id"], name, response.text)
            assert response.json()["errors"] == preview.json()["errors"]
            continue
        assert response.status_code == 201, (raw["id"], name, response.text)
        decision = response.json()
        assert decision["status"] == "accepted"
        assert _same(decision, preview.json()), (raw["id"], name)
        outcomes += len(decision["outcomes"])
    assert used == set(BINDINGS)
    assert outcomes > 0  # decisions with something in them, not empty ones compared


def _same(stored: dict, preview: dict) -> bool:
    """A stored decision and the dry run's of the same event: equal, but for what names the
    request itself (a request id, where the decision carries one)."""
    def strip(decision):
        return {k: v for k, v in decision.items() if k != "request_id"}
    return strip(stored) == strip(preview)


# --- the edges, in-process --------------------------------------------------------------------

def _binary(event: dict) -> dict:
    return {f"ce-{name}": event[name] for name in ("specversion", *ATTRIBUTES) if name in event}


def test_no_content_type_reads_json_and_adds_no_datacontenttype(api, policy, event):
    payment = event("payment.made", PAYMENT)
    response = api.client.post("/v1/events", content=json.dumps(PAYMENT).encode(),
                               headers={**_binary(payment), **api.auth()})
    assert response.status_code == 201, response.text
    # the structured event without datacontenttype: the attribute is not made up
    assert response.json() == expected(policy, payment)[0]
    stored = [record["event"] for record in api.store.log()]
    assert [e["id"] for e in stored] == [payment["id"]]
    assert "datacontenttype" not in stored[0] and stored[0]["data"]["amount"] == PAYMENT["amount"]


@pytest.mark.parametrize("declared", ["application/json", "application/cloudevents+json",
                                      "application/json; charset=utf-8"])
def test_a_json_ce_datacontenttype_without_content_type_becomes_the_attribute(
        api, policy, event, declared):
    payment = event("payment.made", PAYMENT)
    headers = {**_binary(payment), **api.auth(),
               "ce-datacontenttype": declared.replace(" ", "%20")}  # percent-encoded, as sent
    response = api.client.post("/v1/events", content=json.dumps(PAYMENT).encode(), headers=headers)
    assert response.status_code == 201, response.text
    assert response.json() == expected(policy, dict(payment, datacontenttype=declared))[0]


@pytest.mark.parametrize("headers", [
    {"ce-datacontenttype": "text/xml"},                               # declared in the attribute
    {"ce-datacontenttype": "application/json;%20charset=latin-1"},     # a charset not UTF-8
    {"content-type": "application/octet-stream"},                     # declared in the header
    {"content-type": "application/json", "ce-datacontenttype": "text/plain"},  # either refuses
    {"content-type": "text/plain", "ce-datacontenttype": "application/json"},
])
def test_a_declared_type_that_is_not_json_is_still_415(api, event, headers):
    payment = event("payment.made", PAYMENT)
    body = problem_of(api.client.post("/v1/events", content=json.dumps(PAYMENT).encode(),
                                      headers={**_binary(payment), **api.auth(), **headers}),
                      415, "request.unsupported_media_type")
    assert "JSON" in body["detail"] or "UTF-8" in body["detail"]
    assert api.store.decisions() == []


def test_no_content_type_and_a_body_that_is_not_json_is_400_not_415(sqlite_api, event):
    payment = event("payment.made", PAYMENT)
    problem_of(sqlite_api.client.post("/v1/events", content=b"<payment/>",
                                      headers={**_binary(payment), **sqlite_api.auth()}),
               400, "event.invalid_json")
    # no body at all: an event without data, which its type's schema refuses (422), stored nowhere
    body = problem_of(sqlite_api.client.post("/v1/events", content=b"",
                                             headers={**_binary(payment), **sqlite_api.auth()}),
                      422, "event.rejected")
    assert body["errors"]
    assert sqlite_api.store.decisions() == []


@pytest.mark.parametrize("declared", [
    "application/4111111111111111",            # a card number where a media type goes
    "text/plain; x=078-05-1120",               # an SSN in a parameter
    "4111%201111%201111%201111",               # spaced, percent-encoded
])
def test_a_hostile_declared_type_is_refused_without_echoing_a_number(sqlite_api, event, declared):
    payment = event("payment.made", PAYMENT)
    for headers in ({"ce-datacontenttype": declared},
                    {"content-type": declared.replace("%20", " ")}):
        response = sqlite_api.client.post(
            "/v1/events", content=json.dumps(PAYMENT).encode(),
            headers={**_binary(payment), **sqlite_api.auth(), **headers})
        problem_of(response, 415, "request.unsupported_media_type")
        for number in ("4111111111111111", "4111 1111 1111 1111", "4111%201111", "078-05-1120"):
            assert number not in response.text, (declared, response.text)


def test_structured_mode_still_needs_a_content_type(sqlite_api, event):
    """Without ce-specversion there is no binary event: a body with no Content-Type is refused
    (415) as before, not guessed to be a structured event."""
    payment = event("payment.made", PAYMENT)
    problem_of(sqlite_api.client.post("/v1/events", content=json.dumps(payment).encode(),
                                      headers=sqlite_api.auth()),
               415, "request.unsupported_media_type")
    response = sqlite_api.client.post("/v1/events", content=json.dumps(payment).encode(),
                                      headers={**STRUCTURED, **sqlite_api.auth()})
    assert response.status_code == 201, response.text
