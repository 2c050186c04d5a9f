"""A dry run (``POST /v1/evaluate``) stores nothing, so it names no place where its decision is:
no ``Location`` header (issue 25: it pointed to a 404). ``POST /v1/events`` still answers one,
and it leads to the stored decision. Through the real app, on both store backends."""

from __future__ import annotations

import json

from .test_api import PAYMENT, problem_of


def test_a_dry_run_answers_no_location_and_a_stored_event_one_that_leads_to_it(api, event):
    payment = event("payment.made", PAYMENT)

    dry = api.post("/v1/evaluate", payment)
    assert dry.status_code == 200, dry.text
    assert dry.headers["x-clauseline-dry-run"] == "true"
    assert "location" not in dry.headers
    assert dry.json()["status"] == "accepted"
    # what a Location would have named is not there: nothing was stored
    problem_of(api.get(f"/v1/decisions/{payment['source']}/{payment['id']}"), 404,
               "decision.not_found")

    stored = api.post("/v1/events", payment)
    assert stored.status_code == 201, stored.text
    followed = api.get(stored.headers["location"])
    assert followed.status_code == 200 and followed.json() == stored.json()

    # a dry run of the stored event answers its first decision, and still no Location: a dry
    # run never answers one, whatever it finds
    again = api.post("/v1/evaluate", payment)
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    assert "location" not in again.headers


def test_a_binary_mode_dry_run_answers_no_location_either(sqlite_api, event):
    payment = event("payment.made", PAYMENT)
    headers = {f"ce-{name}": payment[name] for name in ("specversion", "id", "source", "type",
                                                         "time", "subject")}
    dry = sqlite_api.client.post("/v1/evaluate", content=json.dumps(PAYMENT).encode(),
                                 headers={**headers, **sqlite_api.auth()})
    assert dry.status_code == 200, dry.text
    assert "location" not in dry.headers
    assert sqlite_api.store.decisions() == []


def test_the_openapi_document_promises_no_location_on_a_dry_run(sqlite_api):
    document = sqlite_api.client.get("/openapi.json").json()
    evaluate = document["paths"]["/v1/evaluate"]["post"]
    for status, response in evaluate["responses"].items():
        assert "location" not in {h.lower() for h in response.get("headers", {})}, status
    assert "no `Location`" in evaluate["description"]  # it says so, rather than promising one
    # and binary mode's body is documented as JSON with or without a Content-Type
    binary = document["paths"]["/v1/events"]["post"]["requestBody"]["content"]["application/json"]
    assert "no Content-Type at all" in binary["description"]
