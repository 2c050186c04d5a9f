"""A decision's own id over HTTP: ``POST /v1/events`` answers it (header
``Clauseline-Decision-Id`` for one event, ``Clauseline-Decision-Ids`` for a batch), the store keeps
it with the request id that stored it, and ``GET /v1/decisions/{decision_id}`` reads it back; a
hostile id is a clean problem that quotes nothing. The real app on SQLite and PostgreSQL, and a
real ``clauseline serve`` for single events posted at once (group commit across requests)."""

from __future__ import annotations

import json
import sys
import threading
import urllib.request
from pathlib import Path

import pytest

from clauseline.chain import decision_id, decision_id_of
from clauseline.store import open_store

from .conftest import BATCH
from .server import Server
from .test_api import CALIFORNIAN, PAYMENT, expected, problem_of

CLAUSELINE = Path(sys.executable).parent / "clauseline"
CARD, SSN = "4111111111111111", "219099999"


def id_of(decision: dict) -> str:
    return decision_id(decision["event_source"], decision["event_id"],
                       decision["policy_version"])


def test_a_posted_event_answers_its_id_and_is_read_back_by_it(api, policy, event):
    payment = event("payment.made", PAYMENT)
    response = api.post("/v1/events", payment, headers={"x-request-id": "trace-1"})
    assert response.status_code == 201, response.text
    # the body is the contract's decision, unchanged; the id comes in a header
    assert response.json() == expected(policy, payment)[0]
    did = response.headers["clauseline-decision-id"]
    assert did == id_of(response.json())
    stored = api.get(f"/v1/decisions/{did}")
    assert stored.status_code == 200, stored.text
    assert stored.headers["clauseline-decision-id"] == did
    body = stored.json()
    assert body["decision"] == response.json() and body["decision_id"] == did
    assert body["request_id"] == "trace-1" and body["seq"] >= 1
    assert body["event"] == {"source": payment["source"], "id": payment["id"],
                             "type": "payment.made", "subject": "acct-1", "time": payment["time"]}
    # the same event again, in another request: the first decision, its id, its request id
    again = api.post("/v1/events", payment, headers={"x-request-id": "trace-2"})
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    assert again.headers["clauseline-decision-id"] == did
    assert api.get(f"/v1/decisions/{did}").json()["request_id"] == "trace-1"
    # the reads by source and id name it too
    by_path = api.get(f"/v1/decisions/{payment['source']}/{payment['id']}")
    by_query = api.get("/v1/decisions", params={"source": payment["source"], "id": payment["id"]})
    assert by_path.headers["clauseline-decision-id"] == by_query.headers[
        "clauseline-decision-id"] == did
    # a request without an X-Request-ID is stored under the one the service made for it
    other = api.post("/v1/events", event("account.opened", CALIFORNIAN, subject="acct-2"))
    made = api.get(f"/v1/decisions/{other.headers['clauseline-decision-id']}").json()
    assert made["request_id"] == other.headers["x-request-id"] and len(made["request_id"]) == 32


def test_binary_mode_answers_the_id_and_a_dry_run_none(api, policy, event):
    payment = event("payment.made", PAYMENT)
    headers = {"content-type": "application/json", "ce-specversion": "1.0",
               "ce-id": payment["id"], "ce-source": payment["source"],
               "ce-type": payment["type"], "ce-time": payment["time"], "ce-subject": "acct-1",
               "x-request-id": "binary-1"}
    dry = api.client.post("/v1/evaluate", content=json.dumps(PAYMENT),
                          headers={**api.auth(), **headers})
    assert dry.status_code == 200 and "clauseline-decision-id" not in dry.headers
    response = api.client.post("/v1/events", content=json.dumps(PAYMENT),
                               headers={**api.auth(), **headers})
    assert response.status_code == 201, response.text
    did = response.headers["clauseline-decision-id"]
    assert did == id_of(response.json())
    assert api.get(f"/v1/decisions/{did}").json()["request_id"] == "binary-1"


def test_a_batch_answers_one_id_per_decision_in_order(api, policy, event):
    first, second = event("payment.made", PAYMENT), event("account.opened", CALIFORNIAN)
    bad = event("payment.made", dict(PAYMENT, amount="much"))
    assert api.post("/v1/events", first).status_code == 201
    response = api.post("/v1/events", [second, bad, first],
                        headers={**BATCH, "x-request-id": "batch-7"})
    assert response.status_code == 200, response.text
    decisions = response.json()
    assert [d["status"] for d in decisions] == ["accepted", "rejected", "duplicate"]
    ids = response.headers["clauseline-decision-ids"].split(", ")
    assert ids == [id_of(decisions[0]), "-", id_of(decisions[2])]
    found = [api.get(f"/v1/decisions/{did}").json() for did in (ids[0], ids[2])]
    assert [f["decision"]["event_id"] for f in found] == [second["id"], first["id"]]
    # the batch's request id is stored with what it stored, not with the duplicate
    assert found[0]["request_id"] == "batch-7" and found[1]["request_id"] != "batch-7"


def test_reading_by_id_needs_the_read_scope_and_an_unknown_id_is_404(api, event):
    response = api.post("/v1/events", event("payment.made", PAYMENT))
    did = response.headers["clauseline-decision-id"]
    assert api.get(f"/v1/decisions/{did}", who="reader").status_code == 200
    problem_of(api.get(f"/v1/decisions/{did}", who="writer"), 403)
    problem_of(api.client.get(f"/v1/decisions/{did}"), 401)
    unknown = decision_id("/tests", "never-posted", "securus-2019-05-04")
    body = problem_of(api.get(f"/v1/decisions/{unknown}"), 404, "decision.not_found")
    assert unknown not in body["detail"]


HOSTILE = {
    "a card number": CARD,
    "an SSN after the prefix": "dec_" + SSN,
    "a card number after the prefix": "dec_" + CARD + "abcdefghij",
    "very long": "dec_" + "a" * 20000,
    "control characters": "dec_%00%0a%1b[31m" + "a" * 14,
    "upper case": "DEC_" + "A" * 26,
    "a base32 letter too many": "dec_" + "a" * 27,
    "not base32 (0, 1, 8, 9)": "dec_" + "01890189018901890189018901",
    "unicode": "dec_" + "ä" * 26,
    "percent-encoded traversal": "..%2F..%2Fetc%2Fpasswd",
}


@pytest.mark.parametrize("name", HOSTILE)
def test_a_hostile_id_is_a_clean_problem_that_quotes_nothing(sqlite_api, name):
    value = HOSTILE[name]
    response = sqlite_api.get(f"/v1/decisions/{value}")
    assert response.status_code in (404, 422), response.text
    body = problem_of(response, response.status_code)
    if response.status_code == 422:
        assert body["code"] == "request.invalid_parameter"
        assert [e["pointer"] for e in body["errors"]] == ["/path/decision_id"]
        assert "dec_ and 26 characters" in body["detail"]
    for planted in (CARD, SSN, CARD[:8], "passwd", "a" * 20, "ä", "\x1b", "0189"):
        assert planted not in response.text, planted


@pytest.mark.parametrize("path", ["/v1/decisions/../../etc/passwd",
                                  f"/v1/decisions/dec_{'a' * 26}/extra",
                                  f"/v1/decisions/{CARD}/{SSN}"])
def test_a_traversal_or_extra_segment_is_a_clean_404(sqlite_api, path):
    # (the client resolves the dots; what is left is no route, or no stored source and id; a
    # short path of letters is quoted by the generic 404, a number never is)
    response = sqlite_api.get(path)
    problem_of(response, 404)
    for planted in (CARD, SSN):
        assert planted not in response.text


def test_the_openapi_document_describes_the_read_and_the_headers(sqlite_api):
    document = sqlite_api.client.get("/openapi.json").json()
    read = document["paths"]["/v1/decisions/{decision_id}"]["get"]
    assert set(read["responses"]) >= {"200", "404", "422"}
    schema = read["responses"]["200"]["content"]["application/json"]["schema"]
    assert set(schema["required"]) == {"decision_id", "seq", "request_id", "event", "decision"}
    post = document["paths"]["/v1/events"]["post"]["responses"]
    assert "Clauseline-Decision-Id" in post["201"]["headers"]
    assert "Clauseline-Decision-Ids" in post["200"]["headers"]


def test_events_posted_at_once_to_a_real_server_keep_each_its_request_id(tmp_path):
    """Single events posted at the same time share a transaction (service/committer.py); each
    decision is stored with the request id of the request that posted it."""
    url = f"sqlite:///{tmp_path / 'ids.db'}"
    posted: dict[str, tuple[str, dict]] = {}
    errors: list[BaseException] = []

    def post(n: int) -> None:
        event = {"specversion": "1.0", "id": f"c-{n}", "source": "/tests/concurrent",
                 "type": "payment.made", "time": f"2019-07-01T09:{n:02d}:00Z",
                 "subject": f"acct-{n % 5}", "data": dict(PAYMENT, transaction_id=f"t-{n}")}
        request = urllib.request.Request(
            server.url + "/v1/events", data=json.dumps(event).encode(), method="POST",
            headers={"content-type": "application/cloudevents+json",
                     "x-request-id": f"req-{n}"})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                posted[f"req-{n}"] = (response.headers["clauseline-decision-id"],
                                      json.loads(response.read()))
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    with Server(CLAUSELINE, "--db", url, "--insecure-no-auth",
                env={"CLAUSELINE_REDACTION_KEY": "test-key-not-secret"}, cwd=tmp_path) as server:
        threads = [threading.Thread(target=post, args=(n,)) for n in range(24)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(90)
    assert not errors and len(posted) == 24
    store = open_store(url, create=False)
    try:
        for request, (did, decision) in posted.items():
            assert did == decision_id_of(decision)
            found = store.decision_by_id(did)
            assert found["request_id"] == request and found["decision"] == decision
    finally:
        store.close()


def test_the_committer_hands_each_event_s_request_id_to_the_unit_of_work():
    """Events of several requests queued while a batch commits form the next batch, each with
    its own request id, in the same order as the events (what the store keeps per event)."""
    import asyncio
    import time

    from clauseline.decision import Decision
    from clauseline.service.committer import Committer

    seen: list[tuple[list[str], list[str | None]]] = []

    class Recording:
        policy = store = object()

        def submit_many(self, events, request_ids=None):
            time.sleep(0.2)  # a commit: the requests arriving meanwhile queue up
            seen.append(([e["id"] for e in events], list(request_ids)))
            return [Decision(e["id"], "/s", "clock.tick", None, "v", "accepted") for e in events]

    async def main():
        committer = Committer()
        session = Recording()
        first = asyncio.create_task(committer.submit(session, {"id": "e-0"}, "req-0"))
        await asyncio.sleep(0.05)  # the first batch is committing
        rest = [committer.submit(session, {"id": f"e-{n}"}, f"req-{n}") for n in range(1, 8)]
        return [await first] + list(await asyncio.gather(*rest))

    answers = asyncio.run(main())
    assert [d.event_id for d in answers] == [f"e-{n}" for n in range(8)]
    assert seen == [(["e-0"], ["req-0"]),
                    ([f"e-{n}" for n in range(1, 8)], [f"req-{n}" for n in range(1, 8)])]
