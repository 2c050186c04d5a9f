"""``GET /v1/subjects/{id}/right-to-know`` (issue 26) on SQLite and PostgreSQL: the document the
library builds from the same store, byte for byte; its own scope (``subjects:read``, granted by
``admin``, never by ``events:write`` or ``decisions:read``); hostile ids, request ids and times
answered as problem details that never echo a number."""

from __future__ import annotations

import json

import pytest

from clauseline.right_to_know import build, digest, dumps
from clauseline.service.keys import create_key

from .conftest import Api
from .test_api import problem_of

CARD = "4111111111111111"
CA = {"role": "customer", "residence": {"country": "US", "region": "US-CA"}}


def _events() -> list[dict]:
    base = {"specversion": "1.0", "source": "/t", "subject": "ca-1"}
    return [
        dict(base, id="e1", type="account.opened", time="2019-06-01T00:00:00Z",
             data={"profile": CA, "collected": ["name", "email"], "channel": "web"}),
        dict(base, id="e2", type="payment.made", time="2019-06-02T00:00:00Z",
             data={"transaction_id": "t-1", "amount": 25.0, "currency": "USD",
                   "instrument": "credit_card", "status": "completed",
                   "encrypted_in_transit": True, "product": "prepaid_calling",
                   "card_number": CARD}),
        dict(base, id="e3", type="call.recorded", time="2019-06-03T00:00:00Z",
             data={"call_id": "c-1", "facility_id": "tx-dallas-01", "recording_id": "rec-1",
                   "monitored": True, "collected": ["voice", "call_details"],
                   "parties": [{"subject": "det-9", "user_type": "inmate"},
                               {"subject": "ca-1", "user_type": "family"}]}),
        dict(base, id="e4", type="ccpa.request.filed", time="2019-07-01T09:00:00Z",
             data={"request_id": "r-1", "kinds": ["categories", "specific_pieces"],
                   "delivery": "mail", "has_account": True}),
    ]


@pytest.fixture
def filled(api):
    for event in _events():
        response = api.post("/v1/events", event)
        assert response.status_code == 201, response.text
    api.keys["subjects"] = create_key(api.store, "subjects", ["subjects:read"])[1]
    return api


def test_the_document_is_the_librarys_byte_for_byte(filled: Api):
    response = filled.get("/v1/subjects/ca-1/right-to-know", who="subjects",
                          params={"request_id": "r-1"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    expected = build(filled.store, "ca-1", request_id="r-1")
    assert response.content == dumps(expected).encode()
    doc = response.json()
    assert doc["digest"] == digest(doc)
    assert doc["period"] == {"from": "2018-07-01T09:00:00Z", "to": "2019-07-01T09:00:00Z"}
    # the call's other party stays out; the card only reduced
    assert "det-9" not in response.text and CARD not in response.text
    assert {d["recipient"] for d in doc["categories_disclosed"]} >= {"law_enforcement"}
    # the latest request by default, and a period ending at a time
    assert filled.get("/v1/subjects/ca-1/right-to-know", who="subjects").content == response.content
    at = filled.get("/v1/subjects/ca-1/right-to-know", who="subjects",
                    params={"at": "2019-06-02T12:00:00Z"})
    assert at.status_code == 200 and at.json()["request"] is None
    cited = {p["from"]["id"] for g in at.json()["specific_pieces"] for p in g["pieces"]}
    assert cited == {"e1", "e2"}  # the call on June 3rd and the request lie after `at`
    page = filled.get("/v1/subjects/ca-1/right-to-know", who="subjects",
                      params={"request_id": "r-1", "format": "html"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert doc["digest"] in page.text and CARD not in page.text and "<script" not in page.text


def test_its_own_scope(filled: Api):
    path = "/v1/subjects/ca-1/right-to-know"
    for who in ("writer", "reader"):
        body = problem_of(filled.get(path, who=who), 403, "auth.forbidden")
        assert body["required_scope"] == "subjects:read"
    assert filled.get(path, who="admin").status_code == 200
    assert filled.get(path, who="subjects").status_code == 200
    problem_of(filled.client.get(path), 401)
    # and subjects:read grants nothing else
    problem_of(filled.get("/v1/obligations", who="subjects"), 403)
    problem_of(filled.post("/v1/events", _events()[0], who="subjects"), 403)


@pytest.mark.parametrize("subject, params, status, code", [
    (CARD, {}, 404, "right_to_know.subject_not_found"),
    ("ca-1", {"request_id": f"r-{CARD}"}, 404, "right_to_know.request_not_found"),
    ("det-9", {}, 404, "right_to_know.no_request"),
    ("ca-1", {"at": CARD}, 422, "right_to_know.invalid_time"),
    ("ca-1", {"at": f"2019-07-01T09:00:00.{CARD}Z"}, 422, "right_to_know.invalid_time"),
    ("ca-1", {"at": "0001-01-01T00:00:00Z"}, 422, "right_to_know.invalid_time"),
    ("ca-1", {"at": "2019-07-01T09:00:00Z", "request_id": "r-1"}, 422,
     "request.invalid_parameter"),
    ("ca-1", {"format": "xml"}, 422, None),
    ("ca-1", {"at": "x" * 65}, 422, None),
    ("\u202eca-1", {}, 404, "right_to_know.subject_not_found"),
])
def test_hostile_input_is_a_problem_that_echoes_nothing(filled: Api, subject, params, status,
                                                       code):
    response = filled.get(f"/v1/subjects/{subject}/right-to-know", who="subjects", params=params)
    problem_of(response, status, code)
    assert CARD not in response.text and CARD[:8] not in response.text


def test_every_backend_gives_the_same_bytes(tmp_path, policy, backend, store_url):
    """The same events posted to a SQLite and to a PostgreSQL store (one redaction key) give
    byte-identical documents."""
    texts = []
    for url in (f"sqlite:///{tmp_path / 'one.db'}", store_url):
        made = Api(url, policy)
        try:
            for event in _events():
                assert made.post("/v1/events", event).status_code == 201
            texts.append(made.get("/v1/subjects/ca-1/right-to-know").content)
        finally:
            made.close()
    assert texts[0] == texts[1]
    assert json.loads(texts[0])["subject"] == "ca-1"


def test_the_openapi_document_describes_it(sqlite_api):
    """Integrators generate clients from the document: the endpoint is there with its schema
    (the shipped JSON Schema, made to stand alone) and its problems."""
    import jsonschema

    from clauseline.service.routers.rights import document_schema

    operation = sqlite_api.client.get("/openapi.json").json()["paths"][
        "/v1/subjects/{subject_id}/right-to-know"]["get"]
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema == document_schema() and "$defs" not in json.dumps(schema)
    assert {"401", "403", "404", "422", "503"} <= set(operation["responses"])
    assert {p["name"] for p in operation["parameters"]} == {"subject_id", "request_id", "at",
                                                           "format"}
    jsonschema.Draft202012Validator.check_schema(schema)
