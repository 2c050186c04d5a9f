"""The HTTP API as an integrator meets it, through the real app on SQLite and on PostgreSQL: every
endpoint, every content mode (structured, binary, batch), every error status as problem details,
and what an acknowledgement promises (a 2xx only once the event and its decision are stored).

Expected decisions are never written here: they come from the evaluator itself (``evaluate`` on
the same event and state), so the tests check that the service adds and loses nothing."""

from __future__ import annotations

import json
import logging

import pytest
import sqlalchemy as sa

from clauseline import empty_state, evaluate
from clauseline.service.dependencies import get_session, get_store
from clauseline.service.keys import KEY_CACHE_SECONDS, revoke_key
from clauseline.session import Session
from clauseline.store import SqlStore
from clauseline.redact import Redactor

from .conftest import BATCH, STRUCTURED, Api

PAYMENT = {"transaction_id": "t-1", "amount": 25.0, "currency": "USD", "instrument": "credit_card",
           "status": "completed", "encrypted_in_transit": True, "product": "prepaid_calling"}
CALIFORNIAN = {"profile": {"role": "customer", "residence": {"country": "US", "region": "US-CA"}},
               "collected": ["name", "email"], "channel": "web"}
CCPA = {"request_id": "r-1", "kinds": ["categories"], "delivery": "mail", "has_account": True}


def expected(policy, *events) -> list[dict]:
    """The decisions the evaluator gives these events in order, from an empty state."""
    session = Session(policy)
    return [session.submit(e).as_dict() for e in events]


def problem_of(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status and body["type"].endswith("/" + body["code"])
    assert body["request_id"] == response.headers["x-request-id"]
    if code is not None:
        assert body["code"] == code, body
    assert "Traceback" not in response.text and 'File "' not in response.text
    return body


# --- POST /v1/events: the three content modes ---------------------------------------------------

def test_structured_mode_stores_the_event_and_answers_its_decision(api, policy, event):
    payment = event("payment.made", PAYMENT)
    response = api.post("/v1/events", payment)
    assert response.status_code == 201, response.text
    assert response.json() == expected(policy, payment)[0]
    # the body is the decision's canonical JSON, the very line a replay writes
    assert response.text == Session(policy).submit(payment).to_json()
    assert response.headers["content-type"] == "application/json"
    # the Location names the stored decision, which is the one returned
    stored = api.get(response.headers["location"])
    assert stored.status_code == 200 and stored.json() == response.json()
    assert api.store.decision_for(payment["source"], payment["id"]).as_dict() == response.json()


def test_a_repeated_event_answers_its_first_decision_as_duplicate_never_409(api, event):
    payment = event("payment.made", PAYMENT)
    first = api.post("/v1/events", payment).json()
    again = api.post("/v1/events", dict(payment, data=dict(PAYMENT, amount=99.0)))
    assert again.status_code == 200
    assert again.json() == dict(first, status="duplicate")
    assert len(api.store.decisions()) == 1


def test_binary_mode_reads_ce_headers_and_any_json_content_type(api, policy, event):
    opened = event("account.opened", CALIFORNIAN, subject="ca 1", time="2019-07-01T08:00:00Z")
    headers = {"ce-specversion": "1.0", "ce-id": opened["id"], "ce-source": opened["source"],
               "ce-type": opened["type"], "ce-time": "2019-07-01T10:00:00+02:00",
               "ce-subject": "ca%201",  # percent-encoded, as the CloudEvents HTTP binding says
               "ce-traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
               "content-type": "application/json; charset=utf-8"}
    response = api.post("/v1/events", json.dumps(CALIFORNIAN), headers=headers)
    assert response.status_code == 201, response.text
    as_structured = dict(opened, time="2019-07-01T10:00:00+02:00",
                         traceparent=headers["ce-traceparent"],
                         datacontenttype="application/json; charset=utf-8")
    assert response.json() == expected(policy, as_structured)[0]
    assert response.json()["event_id"] == opened["id"]
    assert api.get("/v1/subjects/ca 1").json()["record"]["profile"]["residence"]["region"] == "US-CA"


def test_plain_json_without_ce_headers_is_a_structured_event(api, policy, event):
    payment = event("payment.made", PAYMENT)
    response = api.post("/v1/events", payment, headers={"content-type": "application/json"})
    assert response.status_code == 201
    assert response.json() == expected(policy, payment)[0]


def test_a_batch_answers_one_decision_per_event_in_order_and_a_rejected_one_stops_nothing(
        api, policy, event):
    opened = event("account.opened", CALIFORNIAN, subject="ca-1", time="2019-07-01T08:00:00Z")
    broken = event("payment.made", dict(PAYMENT, amount="lots"), subject="ca-1")
    filed = event("ccpa.request.filed", CCPA, subject="ca-1", time="2019-07-01T09:00:00Z")
    response = api.post("/v1/events", [opened, broken, filed, opened], headers=BATCH)
    assert response.status_code == 200, response.text
    decisions = response.json()
    assert [d["status"] for d in decisions] == ["accepted", "rejected", "accepted", "duplicate"]
    assert decisions[:3] == expected(policy, opened, broken, filed)
    assert {"path": "/data/amount"}.items() <= decisions[1]["errors"][0].items()
    # the event after the rejected one saw the state of the one before it: the obligation opened
    assert any(o["kind"] == "obligation" and o["status"] == "open" for o in decisions[2]["outcomes"])
    assert api.get(f"/v1/decisions/{filed['source']}/{filed['id']}").status_code == 200
    assert api.get(f"/v1/decisions/{broken['source']}/{broken['id']}").status_code == 404


def test_an_empty_batch_answers_an_empty_list(api):
    response = api.post("/v1/events", [], headers=BATCH)
    assert response.status_code == 200 and response.json() == []


# --- errors as problem details ------------------------------------------------------------------

def test_422_lists_every_schema_error_with_its_json_pointer_and_stores_nothing(api, event):
    bad = event("payment.made", {"transaction_id": "t-1", "amount": "x", "currency": "USD"})
    body = problem_of(api.post("/v1/events", bad), 422, "event.rejected")
    pointers = {e["pointer"] for e in body["errors"]}
    assert {"/data/amount", "/data/instrument", "/data/status", "/data/product",
            "/data/encrypted_in_transit"} <= pointers
    assert body["decision"]["status"] == "rejected"
    assert len(body["decision"]["errors"]) == len(body["errors"])
    assert api.store.decisions() == []


@pytest.mark.parametrize("text, code", [
    ("{not json", "event.invalid_json"),
    ('{"id": "a", "id": "b"}', "event.duplicate_key"),
    (b"\xff\xfe{}", "event.invalid_json"),
    ("[" * 40 + "]" * 40, "event.too_deep"),
])
def test_400_for_a_body_that_is_not_an_events_json(api, text, code):
    problem_of(api.post("/v1/events", text), 400, code)


def test_400_for_a_batch_that_is_not_an_array(api, event):
    problem_of(api.post("/v1/events", event("clock.tick", {}, subject=None), headers=BATCH),
               400, "request.invalid_batch")


@pytest.mark.parametrize("headers", [
    {"content-type": "text/plain"},
    {"content-type": "application/x-www-form-urlencoded"},
    {"content-type": ""},
    {"content-type": "application/cloudevents+json; charset=latin-1"},
    {"content-type": "text/plain", "ce-specversion": "1.0", "ce-id": "x", "ce-source": "/s",
     "ce-type": "clock.tick", "ce-time": "2019-07-01T09:00:00Z"},
])
def test_415_for_a_content_type_that_carries_no_cloudevent(api, event, headers):
    body = problem_of(api.post("/v1/events", event("clock.tick", {}, subject=None),
                                      headers=headers), 415, "request.unsupported_media_type")
    assert any(word in body["detail"] for word in ("application/cloudevents+json", "JSON", "UTF-8"))


def test_413_past_the_body_limit_and_the_batch_limit(store_url, policy, event):
    small = Api(store_url, policy, max_body_bytes=2000, max_batch=3)
    try:
        tick = event("clock.tick", {}, subject=None)
        big = dict(event("payment.made", PAYMENT), padding="x" * 3000)
        problem_of(small.post("/v1/events", big), 413, "request.too_large")
        problem_of(small.post("/v1/events", [tick] * 4, headers=BATCH), 413, "request.too_large")
        # without a Content-Length: the limit holds on the bytes read
        chunks = (part.encode() for part in [json.dumps(big)[:1500], json.dumps(big)[1500:]])
        problem_of(small.client.post("/v1/events", content=chunks,
                                     headers={**STRUCTURED, **small.auth()}), 413)
        assert small.post("/v1/events", [tick] * 3, headers=BATCH).status_code == 200
        assert small.store.decisions() != []
    finally:
        small.close()


def test_413_for_one_event_over_the_event_size_limit(api, event):
    huge = dict(event("payment.made", PAYMENT), padding="x" * 300_000)
    problem_of(api.post("/v1/events", huge), 413, "event.too_large")


# --- keys and scopes ----------------------------------------------------------------------------

def test_401_without_a_valid_key_and_403_without_the_scope(api, event):
    payment = event("payment.made", PAYMENT)
    for headers in ({}, {"authorization": "Basic dXNlcjpwYXNz"}, {"authorization": "Bearer "},
                    {"authorization": "Bearer clk_000000000000_" + "A" * 43},
                    {"authorization": "Bearer " + api.keys["admin"][:-1] + "B"}):
        response = api.client.post("/v1/events", content=json.dumps(payment),
                                   headers={**STRUCTURED, **headers})
        body = problem_of(response, 401)
        assert body["code"] in ("auth.missing_key", "auth.invalid_key")
        assert response.headers["www-authenticate"].startswith("Bearer")
    assert api.store.decisions() == []
    problem_of(api.post("/v1/events", payment, who="reader"), 403, "auth.forbidden")
    assert api.post("/v1/events", payment, who="writer").status_code == 201
    problem_of(api.get(f"/v1/decisions/{payment['source']}/{payment['id']}", who="writer"), 403)
    assert api.get(f"/v1/decisions/{payment['source']}/{payment['id']}", who="reader").status_code == 200
    for who in ("reader", "writer"):
        assert api.get("/v1/policy", who=who).status_code == 200
    problem_of(api.client.get("/v1/policy"), 401)


def test_a_revoked_key_is_refused_within_the_key_cache_s_bound(api, event):
    """A service trusts a key it checked for KEY_CACHE_SECONDS (service/keys.py): a revoked key
    is refused once that long has passed since the service last read it from the store."""
    now = [1000.0]
    api.app.state.keys.clock = lambda: now[0]
    assert api.post("/v1/events", event("payment.made", PAYMENT), who="writer").status_code == 201
    revoke_key(api.store, api.keys["writer"].split("_")[1])
    now[0] += KEY_CACHE_SECONDS - 0.5  # still within the bound: the checked key is trusted
    assert api.post("/v1/events", event("payment.made", PAYMENT), who="writer").status_code == 201
    now[0] += 0.5
    problem_of(api.post("/v1/events", event("payment.made", PAYMENT), who="writer"), 401,
               "auth.invalid_key")
    assert KEY_CACHE_SECONDS <= 5  # the bound docs/service.md promises


def test_a_key_revoked_before_the_service_checked_it_is_refused_at_once(api, event):
    revoke_key(api.store, api.keys["writer"].split("_")[1])
    problem_of(api.post("/v1/events", event("payment.made", PAYMENT), who="writer"), 401,
               "auth.invalid_key")


def test_without_auth_only_when_asked_explicitly(tmp_path, policy, event):
    open_api = Api(f"sqlite:///{tmp_path / 'open.db'}", policy, auth=False)
    try:
        response = open_api.client.post("/v1/events", content=json.dumps(event("payment.made", PAYMENT)),
                                        headers=STRUCTURED)
        assert response.status_code == 201
    finally:
        open_api.close()


# --- reading back -------------------------------------------------------------------------------

def test_decisions_by_path_percent_encoded_path_and_query(api, event):
    payment = event("payment.made", PAYMENT, source="/facilities/tx-01/payments")
    decision = api.post("/v1/events", payment).json()
    for path in ("/v1/decisions//facilities/tx-01/payments/" + payment["id"],
                 "/v1/decisions/%2Ffacilities%2Ftx-01%2Fpayments/" + payment["id"]):
        assert api.get(path).json() == decision
    assert api.get("/v1/decisions", params={"source": payment["source"], "id": payment["id"]}).json() == decision
    problem_of(api.get("/v1/decisions//facilities/tx-01/payments/nope"), 404, "decision.not_found")
    problem_of(api.get("/v1/decisions", params={"source": "/x"}), 422, "request.invalid_parameter")


def test_a_subject_shows_its_memory_and_the_obligations_it_is_owed(api, event):
    api.post("/v1/events", event("account.opened", CALIFORNIAN, subject="ca-1", time="2019-07-01T08:00:00Z"))
    filed = api.post("/v1/events", event("ccpa.request.filed", CCPA, subject="ca-1")).json()
    (owed,) = [o for o in filed["outcomes"] if o["kind"] == "obligation"]
    subject = api.get("/v1/subjects/ca-1").json()
    assert subject["subject"] == "ca-1"
    assert subject["record"]["profile"]["residence"] == {"country": "US", "region": "US-CA"}
    assert subject["first_seen"].startswith("2019-07-01T08:00:00")
    assert [(o["ref"], o["obligation"], o["status"], o["due_by"]) for o in subject["obligations"]] == [
        (owed["ref"], owed["obligation"], "open", owed["due_by"])]
    assert not any(k.startswith("_") for k in subject["record"])
    problem_of(api.get("/v1/subjects/nobody"), 404, "subject.not_found")


def test_obligations_due_before_a_time(api, event):
    api.post("/v1/events", event("account.opened", CALIFORNIAN, subject="ca-1", time="2019-07-01T08:00:00Z"))
    filed = api.post("/v1/events", event("ccpa.request.filed", CCPA, subject="ca-1")).json()
    (owed,) = [o for o in filed["outcomes"] if o["kind"] == "obligation"]
    due = owed["due_by"]
    assert api.get("/v1/obligations", params={"due_before": due}).json()["obligations"] == []
    later = api.get("/v1/obligations", params={"due_before": "2019-12-31T00:00:00Z"}).json()
    assert [(o["subject"], o["ref"], o["overdue"]) for o in later["obligations"]] == [("ca-1", owed["ref"], True)]
    assert len(api.get("/v1/obligations").json()["obligations"]) == 1
    for bad in ("yesterday", "2019-08-15", "2019-08-15T00:00:00.1234567Z"):
        body = problem_of(api.get("/v1/obligations", params={"due_before": bad}), 422,
                          "request.invalid_parameter")
        assert body["errors"][0]["pointer"] == "/query/due_before"
    problem_of(api.get("/v1/obligations", params={"limit": 0}), 422, "request.invalid_parameter")


def test_the_policy_document_lists_versions_clauses_rules_and_interpretations(sqlite_api, policy):
    body = sqlite_api.get("/v1/policy").json()
    (version,) = policy.versions
    (shown,) = body["versions"]
    assert shown["version"] == version.version
    assert [c["clause"] for c in shown["clauses"]] == sorted(version.clauses)
    assert {r["id"] for r in shown["rules"]} == {r.id for r in version.rules}
    assert {o["id"] for o in shown["overrides"]} == {o.id for o in version.overrides}
    assert {i["id"] for i in shown["interpretations"]} == set(version.interpretations)
    informative = [c for c in shown["clauses"] if not c["operative"]]
    assert informative and all(c["reason"] for c in informative)


def test_the_policy_document_names_the_engine_version_and_what_the_log_records(sqlite_api, policy):
    import clauseline
    body = sqlite_api.get("/v1/policy").json()
    (version,) = policy.versions
    (shown,) = body["versions"]
    assert body["engine_version"] == clauseline.__version__
    # the hash every chained record of this version carries, and the meaning it covers
    assert shown["policy_hash"] == version.content_hash and len(shown["policy_hash"]) == 64
    assert {d["field"] for d in shown["derived"]} == {"age", "outside_us", "california_resident"}
    assert shown["profile_changes"]["account.opened"]["replace"] == "data.profile"
    assert shown["default_exempt_user_types"] == ["attorney"]


# --- POST /v1/evaluate: a dry run ---------------------------------------------------------------

def test_a_dry_run_answers_the_decision_against_stored_state_and_stores_nothing(api, policy, event):
    opened = event("account.opened", CALIFORNIAN, subject="ca-1", time="2019-07-01T08:00:00Z")
    filed = event("ccpa.request.filed", CCPA, subject="ca-1")
    api.post("/v1/events", opened)
    before = api.store.decisions()
    dry = api.post("/v1/evaluate", filed)
    assert dry.status_code == 200 and dry.headers["x-clauseline-dry-run"] == "true"
    # against the stored Californian profile, not an empty state
    assert dry.json() == expected(policy, opened, filed)[1]
    assert dry.json() != evaluate(policy, empty_state(), filed)[0].as_dict()
    assert api.store.decisions() == before
    assert api.store.owed() == []
    real = api.post("/v1/events", filed)
    assert real.status_code == 201 and real.json() == dry.json()
    assert api.post("/v1/evaluate", filed).json()["status"] == "duplicate"
    problem_of(api.post("/v1/evaluate", [filed], headers=BATCH), 415)
    problem_of(api.post("/v1/evaluate", dict(filed, id="other", time="soon")), 422, "event.rejected")
    problem_of(api.post("/v1/evaluate", filed, who="writer"), 403)


# --- operations ---------------------------------------------------------------------------------

def test_health_readiness_and_a_store_that_does_not_answer(api, event):
    assert api.client.get("/healthz").json() == {"status": "ok"}
    ready = api.client.get("/readyz").json()
    from clauseline.store import head_revision
    assert ready["status"] == "ready" and ready["schema"] == head_revision()

    nowhere = SqlStore(sa.create_engine("postgresql+psycopg://nobody@127.0.0.1:9/none",
                                        connect_args={"connect_timeout": 2}),
                       Redactor(b"k"), "postgresql://nobody@127.0.0.1:9/none")
    nowhere.dialect = api.store.dialect
    api.app.dependency_overrides[get_store] = lambda: nowhere
    try:
        problem_of(api.client.get("/readyz"), 503, "store.unavailable")
        posted = api.post("/v1/events", event("payment.made", PAYMENT))
        body = problem_of(posted, 503, "store.unavailable")
        assert "9/none" not in body["detail"] and "psycopg" not in posted.text
        assert api.client.get("/healthz").status_code == 200
    finally:
        api.app.dependency_overrides.clear()
        nowhere.close()
    assert api.client.get("/readyz").status_code == 200


def test_readiness_fails_while_a_migration_is_pending(api):
    with api.store.engine.begin() as conn:
        conn.execute(sa.text("update alembic_version set version_num = '0002'"))
    problem_of(api.client.get("/readyz"), 503, "store.migration_pending")


def test_metrics_count_events_outcomes_and_latency(api, policy, event):
    payment = event("payment.made", PAYMENT)
    api.post("/v1/events", payment)
    api.post("/v1/events", payment)
    api.post("/v1/events", dict(event("payment.made", PAYMENT), time="never"))
    api.post("/v1/events", event("made.up", {}))
    text = api.client.get("/metrics").text
    samples = {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
               for line in text.splitlines() if line and not line.startswith("#")}
    assert samples['clauseline_events_total{status="accepted",type="payment.made"}'] == 1
    assert samples['clauseline_events_total{status="duplicate",type="payment.made"}'] == 1
    assert samples['clauseline_events_total{status="rejected",type="payment.made"}'] == 1
    assert samples['clauseline_events_total{status="rejected",type="other"}'] == 1
    for outcome in expected(policy, payment)[0]["outcomes"]:
        key = f'clauseline_outcomes_total{{clause="{outcome["clause"]}",kind="{outcome["kind"]}"}}'
        assert samples[key] >= 1
    count = 'clauseline_http_request_duration_seconds_count{method="POST",route="/v1/events",status="201"}'
    assert samples[count] == 1


# --- no traceback, no leak ----------------------------------------------------------------------

class _Exploding:
    def submit(self, event):
        # the message quotes the event's data, as a library's message might
        raise RuntimeError(f"card {event['data']['card_number']} of {event['subject']} went wrong")

    def submit_many(self, events, request_ids=None):
        return [self.submit(event) for event in events]


def test_an_unexpected_error_is_a_bare_500_and_the_log_keeps_frames_not_the_message(
        sqlite_api, event, caplog):
    sqlite_api.app.dependency_overrides[get_session] = lambda: _Exploding()
    try:
        with caplog.at_level(logging.INFO, logger="clauseline"):
            response = sqlite_api.post("/v1/events", event(
                "payment.made", dict(PAYMENT, card_number="4111 1111 1111 1111"),
                subject="det-tx-40117"))
    finally:
        sqlite_api.app.dependency_overrides.clear()
    body = problem_of(response, 500, "service.internal_error")
    assert "4111" not in response.text and "RuntimeError" not in response.text
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert body["request_id"] in logged and "RuntimeError" in logged
    assert "4111" not in logged and "det-tx-40117" not in logged


def test_access_logs_are_json_with_the_request_id_and_no_key_subject_or_query(api, event, caplog):
    with caplog.at_level(logging.INFO, logger="clauseline.access"):
        api.post("/v1/events", event("account.opened", CALIFORNIAN, subject="det-tx-40117"))
        mine = api.client.get("/v1/subjects/det-tx-40117",
                              headers={**api.auth(), "x-request-id": "trace-42"})
        theirs = api.client.get("/healthz", headers={"x-request-id": "bad id"})
        api.get("/v1/obligations", params={"due_before": "2019-08-15T00:00:00Z"})
    assert mine.headers["x-request-id"] == "trace-42"
    assert theirs.headers["x-request-id"] != "bad id" and len(theirs.headers["x-request-id"]) == 32
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "clauseline.access"]
    assert [line["route"] for line in lines] == ["/v1/events", "/v1/subjects/{subject_id}",
                                                 "/healthz", "/v1/obligations"]
    assert lines[1]["request_id"] == "trace-42" and lines[1]["status"] == 200
    text = "\n".join(r.getMessage() for r in caplog.records)
    for secret in (*api.keys.values(), "det-tx-40117", "2019-08-15", "US-CA"):
        assert secret not in text


def test_the_openapi_document_describes_every_endpoint_with_examples(sqlite_api):
    document = sqlite_api.client.get("/openapi.json").json()
    paths = document["paths"]
    for path in ("/v1/events", "/v1/evaluate", "/v1/decisions/{source}/{id}", "/v1/decisions",
                 "/v1/subjects/{subject_id}", "/v1/obligations", "/v1/policy", "/healthz",
                 "/readyz", "/metrics"):
        assert path in paths, sorted(paths)
    body = paths["/v1/events"]["post"]["requestBody"]["content"]
    assert {"application/cloudevents+json", "application/cloudevents-batch+json",
            "application/json"} <= set(body)
    assert body["application/cloudevents+json"]["example"]["type"] == "payment.made"
    assert paths["/v1/events"]["post"]["responses"]["422"]["content"]["application/problem+json"]
    schemas = document["components"]["schemas"]
    assert {"CloudEvent", "Decision", "Outcome", "Problem"} <= set(schemas)
    refs = {v for v in _walk(document) if isinstance(v, str) and v.startswith("#/components/")}
    assert all(r.split("/")[-1] in schemas for r in refs), refs
    assert not any(isinstance(v, str) and v.startswith("https://clauseline.dev/schemas/")
                   for v in _refs(document))


def _walk(node):
    if isinstance(node, dict):
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)
    else:
        yield node


def _refs(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def test_405_and_bad_ce_headers_are_problems_too(api, event):
    problem_of(api.client.delete("/v1/events", headers=api.auth()), 405,
               "request.method_not_allowed")
    binary = {"ce-specversion": "1.0", "ce-id": "b-1", "ce-source": "/s", "ce-type": "payment.made",
              "ce-time": "2019-07-01T09:00:00Z", "content-type": "application/json"}
    problem_of(api.post("/v1/events", json.dumps(PAYMENT),
                               headers={**binary, "ce-subject": "%FF%FE"}), 400,
               "request.invalid_header")
    # a binary event whose attributes fail the schema is a 422 like any other
    body = problem_of(api.post("/v1/events", json.dumps(PAYMENT), headers=binary), 422)
    assert "/subject" in {e["pointer"] for e in body["errors"]}


def test_the_documented_example_is_what_the_engine_decides(sqlite_api, policy):
    from clauseline.service.routers.events import DECISION_EXAMPLE, EXAMPLE
    document = sqlite_api.client.get("/openapi.json").json()
    post = document["paths"]["/v1/events"]["post"]
    assert post["requestBody"]["content"]["application/cloudevents+json"]["example"] == EXAMPLE
    assert post["responses"]["201"]["content"]["application/json"]["example"] == DECISION_EXAMPLE
    assert sqlite_api.post("/v1/events", EXAMPLE).json() == expected(policy, EXAMPLE)[0] == DECISION_EXAMPLE
