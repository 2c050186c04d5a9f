"""The service against its own OpenAPI document: what ``GET /openapi.json`` promises is what the
endpoints answer, checked by schemathesis, a property-based API tester nobody here wrote.

Integrators generate clients from the document and validate answers with it, so a status code
it does not list, a content type it does not name, or a body that breaks its schema is a broken
contract even when the service "works". schemathesis reads the document of the real app (the
shipped policy, a fresh SQLite store, an admin key) and sends generated requests in process,
through ASGI: valid ones and deliberately invalid ones (bad JSON, wrong types, missing fields,
unknown methods, odd media types). Each answer must be no 5xx, a documented status code, the
documented content type, and a body valid against the documented schema.

Generated requests almost never reach the answers that matter most (an accepted event with its
outcomes, a stored decision, a subject with obligations): the second half sends the demo log and
reads it back, and checks those real answers with the same schemathesis checks.

The examples are bounded and derandomized (the same requests on every run, the whole file in a
few seconds); run ``schemathesis run`` against ``clauseline serve`` for a longer hunt.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from urllib.parse import quote

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from clauseline import load_policy
from clauseline.service import Settings, create_app
from clauseline.service.keys import create_key
from clauseline.store import open_store

REPO = Path(__file__).resolve().parents[2]
DEMO_LOG = REPO / "examples" / "demo-log.jsonl"
STRUCTURED = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"

#: What the document promises for every answer (schemathesis' own checks, nothing written here).
CHECKS = [schemathesis.checks.not_a_server_error, schemathesis.checks.status_code_conformance,
          schemathesis.checks.content_type_conformance,
          schemathesis.checks.response_schema_conformance]

# The app the document is read from and the generated requests are sent to. It is built at
# import because schemathesis makes one test per operation of the document at collection time
# (its from_fixture loader, which would take the app from a fixture, does not run on pytest 9).
_HOME = tempfile.TemporaryDirectory(prefix="clauseline-schemathesis-")
_DB = f"sqlite:///{Path(_HOME.name) / 'service.db'}"
_STORE = open_store(_DB)
ADMIN = create_key(_STORE, "schemathesis", ["admin"])[1]
APP = create_app(Settings(db=_DB), policy=load_policy(), store=_STORE)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@pytest.fixture(scope="module", autouse=True)
def _close_the_store():
    yield
    _STORE.close()
    _HOME.cleanup()


@schema.parametrize()
@settings(max_examples=25, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_generated_requests_get_the_answers_the_document_promises(case):
    case.call_and_validate(headers={"Authorization": f"Bearer {ADMIN}"}, checks=CHECKS)


# -- real answers, checked against the same document ------------------------------------------

def _events() -> list[dict]:
    """The demo log's events that parse as JSON (one line of it is deliberately malformed)."""
    out = []
    for line in DEMO_LOG.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


class Checked:
    """Requests to the app of ``sqlite_api`` (a fresh store, a key per scope), each built as a
    schemathesis case of the document's operation and its answer validated with CHECKS."""

    def __init__(self, api):
        self.api = api

    def __call__(self, method: str, path: str, *, who: str | None = "admin", **case):
        headers = {"Authorization": f"Bearer {self.api.keys[who]}"} if who else {}
        headers.update(case.pop("headers", {}))
        made = schema[path][method].Case(headers=headers, **case)
        return made.call_and_validate(app=self.api.app, checks=CHECKS)


@pytest.fixture
def checked(sqlite_api):
    return Checked(sqlite_api)


def test_the_demo_log_and_what_is_read_back_keep_the_document(checked):
    events = _events()
    one_by_one, batch = events[:200], events[200:]
    statuses = [checked("POST", "/v1/events", body=event, media_type=STRUCTURED).status_code
                for event in one_by_one]
    assert statuses == [201] * len(one_by_one)

    # after these 200 events a CCPA request is still owed (its deadline extended)
    owed = checked("GET", "/v1/obligations")
    assert owed.status_code == 200 and owed.json()["obligations"]
    due = checked("GET", "/v1/obligations", query={"due_before": "2019-08-15T00:00:00Z", "limit": 1})
    assert due.status_code == 200 and len(due.json()["obligations"]) <= 1
    subject = checked("GET", "/v1/subjects/{subject_id}",
                      path_parameters={"subject_id": owed.json()["obligations"][0]["subject"]})
    assert subject.status_code == 200 and subject.json()["obligations"]

    response = checked("POST", "/v1/events", body=batch, media_type=BATCH)
    assert response.status_code == 200
    decided = [d["status"] for d in response.json()]
    assert decided.count("accepted") == len(batch) - 3 and decided.count("duplicate") == 1

    first = events[0]
    again = checked("POST", "/v1/events", body=first, media_type=STRUCTURED)
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")
    dry = checked("POST", "/v1/evaluate", body={**first, "id": "dry-run-1"}, media_type=STRUCTURED)
    assert dry.status_code == 200 and dry.headers["x-clauseline-dry-run"] == ["true"]

    # the source percent-encoded, as the route's description allows: a bare "/accounts" makes
    # the path "/v1/decisions//accounts/...", whose double slash schemathesis' URL joining drops
    stored = checked("GET", "/v1/decisions/{source}/{id}",
                     path_parameters={"source": quote(first["source"], safe=""), "id": first["id"]})
    assert stored.status_code == 200 and stored.json()["event_id"] == first["id"]
    queried = checked("GET", "/v1/decisions", query={"source": first["source"], "id": first["id"]})
    assert queried.json() == stored.json()
    assert checked("GET", "/v1/policy").status_code == 200


def test_refusals_keep_the_document(checked):
    event = _events()[0]
    bad = {**event, "id": "bad-1", "data": {**event["data"], "channel": 7}}
    rejected = checked("POST", "/v1/events", body=bad, media_type=STRUCTURED)
    assert rejected.status_code == 422 and rejected.json()["decision"]["status"] == "rejected"
    assert checked("POST", "/v1/events", body=event, media_type=STRUCTURED,
                   who=None).status_code == 401
    assert checked("POST", "/v1/events", body=event, media_type=STRUCTURED,
                   who="reader").status_code == 403
    assert checked("GET", "/v1/obligations", who="writer").status_code == 403
    assert checked("GET", "/v1/decisions", query={"source": "/nowhere", "id": "x"}).status_code == 404
    assert checked("GET", "/v1/subjects/{subject_id}",
                   path_parameters={"subject_id": "nobody"}).status_code == 404
    assert checked("GET", "/v1/obligations", query={"due_before": "2019-08-15"}).status_code == 422
    assert checked("POST", "/v1/events", body=b"{not json", media_type=STRUCTURED).status_code == 400
    assert checked("POST", "/v1/evaluate", body=[event],
                   media_type=BATCH).status_code == 415
    huge = {**event, "id": "huge-1", "data": {**event["data"], "pad": "x" * (1024 * 1024)}}
    assert checked("POST", "/v1/events", body=huge, media_type=STRUCTURED).status_code == 413


#: A valid RFC 3339 time whose instant in UTC is outside Python's datetime range (year 10000):
#: it once answered 500 (parse_time let astimezone's OverflowError through); a 422 now.
EDGE = "9999-12-31T23:59:59-01:00"


@pytest.mark.parametrize("path", ["/v1/events", "/v1/evaluate"])
def test_an_event_at_the_edge_of_the_calendar_is_refused_not_a_500(checked, path):
    tick = {"specversion": "1.0", "id": "edge-1", "source": "/tests", "type": "clock.tick",
            "time": EDGE, "data": {}}
    assert checked("POST", path, body=tick, media_type=STRUCTURED).status_code == 422


def test_a_query_time_at_the_edge_of_the_calendar_is_refused(checked):
    assert checked("GET", "/v1/obligations", query={"due_before": EDGE}).status_code == 422
