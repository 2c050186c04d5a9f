"""``clauseline.client.Client`` against a real ``clauseline serve``: posting one event, a repeat
and a batch gives the decisions ``clauseline replay`` gives the same events; the reads return
what was stored; problem details come back as typed exceptions; CloudEvents SDK events travel as
they are; the README's and docs/service.md's examples run as written."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from datetime import datetime, timedelta, timezone

import pytest

import clauseline.errors
from clauseline.chain import engine_version
from clauseline.client import (BadRequest, Client, ClauselineError, Decision, Forbidden, NotFound,
                               Obligation, ProblemError, Subject, TooLarge, Unauthorized,
                               ValidationFailed)

from .conftest import ENV, REPO, demo_events, replay

CARD = "4111111111111111"


def unique(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:12]}"


def disclosure(subject: str) -> dict:
    event = json.loads((REPO / "examples" / "disclosure-request.json").read_text())
    return {**event, "id": unique("e"), "source": "/tests/client", "subject": subject}


def ccpa(subject: str, time: str = "2019-07-01T09:00:00Z") -> dict:
    return {"specversion": "1.0", "id": unique("e"), "source": "/tests/client/ccpa",
            "type": "ccpa.request.filed", "time": time, "subject": subject,
            "data": {"request_id": unique("r"), "kinds": ["categories", "sources"],
                     "delivery": "account", "has_account": True,
                     "profile": {"role": "customer",
                                 "residence": {"country": "US", "region": "US-CA"}}}}


def post_all(client: Client, events: list) -> list[Decision]:
    """Each event posted alone; a rejected one is the decision its 422 carries."""
    out = []
    for event in events:
        try:
            out.append(client.post(event))
        except ValidationFailed as error:
            assert error.decision is not None and error.decision.rejected
            out.append(error.decision)
    return out


def test_posted_events_get_the_decisions_of_replay_and_a_repeat_its_first(fresh, tmp_path):
    events = demo_events(60)
    with Client(fresh.url, api_key=fresh.key) as client:
        decisions = post_all(client, events)
        assert [d.raw for d in decisions] == replay(events, tmp_path)
        assert sum(d.accepted for d in decisions) > 50
        # the typed view is the JSON's
        for decision in decisions:
            assert decision.event_id == decision.raw["event_id"]
            raw = decision.raw["outcomes"]
            assert [(o.kind, o.rule, o.clause) for o in decision.outcomes] == \
                [(o["kind"], o["rule"], o["clause"]) for o in raw]
            assert decision.trace == tuple(decision.raw["trace"])
            assert decision.attempts == 1 and re.fullmatch(r"[0-9a-f]{32}", decision.request_id)

        first = next(d for d in decisions if d.accepted and d.outcomes)
        sent = next(e for e in events if e["id"] == first.event_id)
        again = client.post(sent)
        assert again.duplicate and not again.accepted
        assert again.raw == {**first.raw, "status": "duplicate"}
        assert again.outcomes == first.outcomes

        stored = client.decision(first.event_source, first.event_id)
        assert stored.raw == first.raw


def test_a_batch_gets_the_decisions_of_replay_in_order_and_again_duplicates(fresh, tmp_path):
    events = demo_events(130)
    with Client(fresh.url, api_key=fresh.key) as client:
        decisions = client.post_batch(events, batch_size=50)  # three requests
        assert [d.raw for d in decisions] == replay(events, tmp_path)
        again = client.post_batch(events[:20])
        expected = ["rejected" if d.rejected else "duplicate" for d in decisions[:20]]
        assert [d.status for d in again] == expected
        assert [d.outcomes for d in again] == [d.outcomes for d in decisions[:20]]
        assert client.post_batch([]) == []


def test_a_dry_run_answers_the_decision_and_stores_nothing(served):
    event = disclosure(unique("acct"))
    with Client(served.url, api_key=served.keys["admin"]) as client:
        dry = client.evaluate(event)
        assert dry.dry_run and dry.accepted and dry.outcomes
        with pytest.raises(NotFound) as missing:
            client.decision(event["source"], event["id"])
        assert missing.value.code == "decision.not_found"
        posted = client.post(event)
        assert not posted.dry_run
        assert posted.raw == dry.raw
        assert client.evaluate(event).duplicate


def test_reads_subject_obligations_policy_health(served):
    subject = unique("cus")
    filed = ccpa(subject)
    with Client(served.url, api_key=served.keys["admin"]) as client:
        decision = client.post(filed)
        opened = decision.of_kind("obligation")
        assert opened and opened[0].status == "open", decision.raw
        due_by = opened[0].due_by

        got = client.subject(subject)
        assert isinstance(got, Subject) and got.subject == subject
        assert got.first_seen is not None and got.first_seen.startswith("2019-07-01T09:00:00")
        assert [(o.obligation, o.ref, o.due_by) for o in got.obligations] == \
            [(opened[0].obligation, opened[0].ref, due_by)]
        assert all(isinstance(o, Obligation) and not o.overdue for o in got.obligations)

        due = datetime.fromisoformat(due_by.replace("Z", "+00:00"))
        after = [o for o in client.obligations(due + timedelta(seconds=1)) if o.subject == subject]
        assert [o.overdue for o in after] == [True]
        before = client.obligations((due - timedelta(seconds=1)).isoformat())
        assert all(o.subject != subject for o in before)
        assert len(client.obligations(limit=1)) == 1

        with pytest.raises(NotFound) as nobody:
            client.subject(unique("nobody"))
        assert nobody.value.code == "subject.not_found"

        policy = client.policy()
        assert policy.engine_version == engine_version()
        version = policy.version(decision.policy_version)
        assert version is not None and re.fullmatch(r"[0-9a-f]{64}", version["policy_hash"])
        assert {r["id"] for r in version["rules"]} >= set(decision.trace)
        assert client.health() is True
        assert client.ready()["status"] == "ready"
        assert "clauseline_events_total" in client.metrics()


def test_problem_details_are_typed_exceptions_never_retried(served):
    keys = served.keys
    with Client(served.url, api_key=keys["admin"], backoff=0) as client:
        bad = {**disclosure(unique("acct")), "data": {"amount": CARD, "note": f"card {CARD}"}}
        with pytest.raises(ValidationFailed) as invalid:
            client.post(bad)
        error = invalid.value
        assert isinstance(error, BadRequest) and isinstance(error, ProblemError)
        assert isinstance(error, ClauselineError)
        assert isinstance(error, clauseline.errors.ClauselineError)
        assert (error.status, error.code, error.attempts) == (422, "event.rejected", 1)
        assert error.type.endswith("/event.rejected") and error.title
        assert "/data" in {e["pointer"] for e in error.errors}
        assert error.decision.rejected and error.decision.event_id == bad["id"]
        assert re.fullmatch(r"[0-9a-f]{32}", error.request_id)
        for text in (str(error), repr(error), error.detail):
            assert CARD not in text and "4111 1111" not in text

        with pytest.raises(BadRequest) as not_json:
            client.post("{not json")
        assert (not_json.value.status, not_json.value.code) == (400, "event.invalid_json")

        with pytest.raises(TooLarge) as large:
            client.post({**disclosure(unique("acct")), "pad": "x" * 300_000})
        assert large.value.status == 413

        with pytest.raises(ValidationFailed) as parameter:
            client.obligations("yesterday")
        assert parameter.value.code == "request.invalid_parameter"
        assert parameter.value.decision is None

    event = disclosure(unique("acct"))
    with Client(served.url, api_key=keys["revoked"]) as revoked:
        with pytest.raises(Unauthorized) as unauthorized:
            revoked.post(event)
        assert (unauthorized.value.code, unauthorized.value.attempts) == ("auth.invalid_key", 1)
        assert keys["revoked"] not in str(unauthorized.value)
    with Client(served.url) as anonymous:
        with pytest.raises(Unauthorized) as missing:
            anonymous.policy()
        assert missing.value.code == "auth.missing_key"
        assert anonymous.health() is True  # no key needed
    with Client(served.url, api_key=keys["reader"]) as reader:
        with pytest.raises(Forbidden) as forbidden:
            reader.post(event)
        assert forbidden.value.required_scope == "events:write"
        assert reader.evaluate(event).accepted  # a dry run is a read
    with Client(served.url, api_key=keys["writer"]) as writer:
        assert writer.post(event).accepted
        with pytest.raises(Forbidden) as forbidden:
            writer.decision(event["source"], event["id"])
        assert forbidden.value.required_scope == "decisions:read"


def test_ids_with_slashes_and_unusual_characters_are_read_back(served):
    event = {**disclosure(unique("acct")), "id": unique("a/b?c=d&e#f%20 ü"),
             "source": "/tests/client/a%2Fb/c%20d"}
    with Client(served.url, api_key=served.keys["admin"]) as client:
        posted = client.post(event)
        assert posted.accepted
        assert client.decision(event["source"], event["id"]).raw == posted.raw


def test_cloudevents_sdk_events_are_posted_as_they_are(fresh, tmp_path):
    from cloudevents.core.bindings.http import to_structured
    from cloudevents.core.formats.json import JSONFormat
    from cloudevents.core.v1.event import CloudEvent
    from cloudevents.v1.conversion import to_json
    from cloudevents.v1.http import CloudEvent as LegacyCloudEvent

    central = timezone(timedelta(hours=-5))
    sdk, bodies = [], []
    for index, raw in enumerate(demo_events(20)):
        attributes = {k: raw[k] for k in ("id", "source", "type", "subject", "datacontenttype")
                      if k in raw}
        if index % 2 == 0:  # the SDK 2.x API: time a datetime (here at -05:00), an extension
            at = datetime.fromisoformat(raw["time"].replace("Z", "+00:00")).astimezone(central)
            event = CloudEvent({**attributes, "time": at, "traceparent": "00-" + "1" * 32
                                + "-" + "2" * 16 + "-01"}, raw["data"])
            bodies.append(to_structured(event, JSONFormat()).body.decode())
        else:  # the 1.x-style API the SDK still ships
            event = LegacyCloudEvent({**attributes, "time": raw["time"]}, raw["data"])
            bodies.append(to_json(event).decode())
        sdk.append(event)
    with Client(fresh.url, api_key=fresh.key) as client:
        decisions = post_all(client, sdk)
    assert any("-05:00" in body for body in bodies)
    assert [d.raw for d in decisions] == replay(bodies, tmp_path)
    assert all(d.accepted for d in decisions)


def _python_block(text: str, after: str) -> str:
    start = text.index(after)
    match = re.search(r"```python\n(.*?)```", text[start:], re.S)
    assert match, f"no python block after {after!r}"
    return match.group(1)


@pytest.mark.parametrize("document, heading", [("README.md", "## HTTP"),
                                                ("docs/service.md", "## Python client")])
def test_the_documented_example_runs_as_written(served, tmp_path, document, heading):
    code = _python_block((REPO / document).read_text(encoding="utf-8"), heading)
    script = tmp_path / "example.py"
    script.write_text(code, encoding="utf-8")
    done = subprocess.run([sys.executable, str(script)], cwd=REPO, capture_output=True, text=True,
                          timeout=120, env={**os.environ, **ENV, "CLAUSELINE_URL": served.url,
                                            "CLAUSELINE_KEY": served.keys["admin"]})
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout.strip(), "the example prints what it got"


def test_a_decision_id_reads_the_stored_decision_with_the_request_that_stored_it(served):
    from clauseline.chain import decision_id
    first, second = disclosure(unique("acct")), disclosure(unique("acct"))
    invalid = {**disclosure(unique("acct")), "data": {}}
    with Client(served.url, api_key=served.keys["admin"]) as client:
        posted = client.post(first)
        assert posted.decision_id == decision_id(first["source"], first["id"],
                                                 posted.policy_version)
        stored = client.stored_decision(posted.decision_id)
        assert stored.decision_id == posted.decision_id
        assert stored.decision.raw == posted.raw
        assert stored.request_id == posted.request_id  # the request that stored it
        assert (stored.event["source"], stored.event["id"]) == (first["source"], first["id"])
        assert isinstance(stored.seq, int)

        assert client.post(first).decision_id == posted.decision_id  # a duplicate: the first's
        assert client.decision(first["source"], first["id"]).decision_id == posted.decision_id
        assert client.evaluate(second).decision_id is None  # a dry run stores nothing

        batch = client.post_batch([second, invalid, first])
        assert [d.status for d in batch] == ["accepted", "rejected", "duplicate"]
        assert batch[0].decision_id == decision_id(second["source"], second["id"],
                                                   batch[0].policy_version)
        assert batch[1].decision_id is None and batch[2].decision_id == posted.decision_id

        with pytest.raises(NotFound):
            client.stored_decision("dec_" + "a" * 26)
        with pytest.raises(ValidationFailed) as malformed:
            client.stored_decision(f"dec_{CARD}")
        assert malformed.value.code == "request.invalid_parameter"
        assert CARD not in str(malformed.value)
