"""Deadlines as event-time timers (clause U; docs/decisions.md, "Obligations"), as integrators
and auditors meet them: over HTTP on each store, in a dry run, in ``clauseline replay``, and a
posted event cannot pretend to be a timer."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest

from clauseline import Session
from clauseline.session import MemoryStore
from clauseline.timers import TIMER_SOURCE, timer_id

CLAUSELINE = Path(sys.executable).parent / "clauseline"
DUE = "2019-08-15T09:00:00Z"  # receipt + 45 days


def request(request_id: str = "r-1", subject: str = "ca-1") -> dict:
    return {"specversion": "1.0", "id": f"filed-{request_id}", "source": "/ccpa",
            "type": "ccpa.request.filed", "subject": subject, "time": "2019-07-01T09:00:00Z",
            "data": {"request_id": request_id, "kinds": ["categories"], "delivery": "mail",
                     "has_account": False,
                     "profile": {"residence": {"country": "US", "region": "US-CA"}}}}


def visit(time: str, event_id: str = "v-1", subject: str = "visitor-9") -> dict:
    return {"specversion": "1.0", "id": event_id, "source": "/web", "type": "website.visited",
            "subject": subject, "time": time,
            "data": {"session_id": "s-1", "dnt": False, "collected": [], "cookies": []}}


def missed(decision: dict) -> list[dict]:
    return [o for o in decision["outcomes"] if o.get("violation") == "ccpa.deadline_missed"]


def test_a_post_after_the_due_instant_stores_the_timer_and_answers_its_own_decision(api):
    assert api.post("/v1/events", request()).status_code == 201
    on_time = api.post("/v1/events", visit(DUE, "v-0"))  # at the instant itself: in time
    assert on_time.status_code == 201 and not missed(on_time.json())
    answer = api.post("/v1/events", visit("2019-08-15T09:00:01Z"))
    assert answer.status_code == 201
    assert answer.json()["event_id"] == "v-1" and not missed(answer.json())
    # the timer is stored as its own decision, under the engine's source, at the due instant
    tid = timer_id("ca-1", "r-1", "2019-08-15T09:00:00.000000Z")
    timer = api.get(f"/v1/decisions/{quote(TIMER_SOURCE, safe='')}/{tid}")
    assert timer.status_code == 200, timer.text
    body = timer.json()
    assert body["event_type"] == "clock.tick" and body["time"] == DUE
    assert [(o["subject"], o["ref"]) for o in missed(body)] == [("ca-1", "r-1")]
    # the subject's obligation is missed at the due instant, and nothing fires twice
    subject = api.get("/v1/subjects/ca-1").json()
    assert subject["record"]["obligations"]["r-1"]["status"] == "missed"
    assert subject["record"]["obligations"]["r-1"]["missed_at"] == DUE
    assert [(o["ref"], o["status"]) for o in subject["obligations"]] == [("r-1", "missed")]
    again = api.post("/v1/events", visit("2019-08-16T09:00:00Z", "v-2"))
    assert again.status_code == 201
    stored = [row for row in api.store.decisions() if row[0] == TIMER_SOURCE]
    assert [row[1] for row in stored] == [tid]


def test_a_posted_event_under_the_timers_source_is_rejected(api):
    assert api.post("/v1/events", request()).status_code == 201
    forged = {"specversion": "1.0", "source": TIMER_SOURCE, "type": "clock.tick", "data": {},
              "id": timer_id("ca-1", "r-1", "2019-08-15T09:00:00.000000Z"), "time": DUE}
    answer = api.post("/v1/events", forged)
    assert answer.status_code == 422, answer.text
    assert "event.reserved_source" in answer.text
    assert not [row for row in api.store.decisions() if row[0] == TIMER_SOURCE]


def test_a_dry_run_sees_the_timers_and_records_nothing(sqlite_api, policy):
    sqlite_api.post("/v1/events", request())
    later = visit("2019-08-20T09:00:00Z")
    dry = sqlite_api.post("/v1/evaluate", later)
    assert dry.status_code == 200, dry.text
    assert not [row for row in sqlite_api.store.decisions() if row[0] == TIMER_SOURCE]
    # the dry run's decision is the one a post gives, against the state the timer leaves
    posted = sqlite_api.post("/v1/events", later)
    assert posted.status_code == 201
    assert {k: v for k, v in dry.json().items() if k != "warnings"} == posted.json()
    # in memory too: a preview fires the timer for itself only
    session = Session(policy, MemoryStore())
    session.submit(request())
    response = visit("2019-08-20T09:00:00Z", "v-late")
    response.update(type="ccpa.response.delivered", subject="ca-1", data={
        "request_id": "r-1", "channel": "mail", "portable_format": True, "fee": 0,
        "period": {"from": "2018-07-01T09:00:00Z", "to": "2019-07-01T09:00:00Z"}})
    preview = session.preview(response)
    assert not preview.fired  # nothing recorded, so nothing handed back
    submitted = session.submit(response)
    assert [d.event_source for d in submitted.fired] == [TIMER_SOURCE]
    assert preview.as_dict() == submitted.as_dict()


def test_replay_prints_each_timer_before_the_event_that_fired_it(tmp_path):
    log = tmp_path / "log.jsonl"
    log.write_text("\n".join(json.dumps(e) for e in (
        request(), visit("2019-08-01T00:00:00Z", "v-0"), visit("2019-08-15T09:00:01Z"))) + "\n")
    done = subprocess.run([str(CLAUSELINE), "replay", str(log), "--quiet"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(d["event_source"], d["event_id"]) for d in lines] == [
        ("/ccpa", "filed-r-1"), ("/web", "v-0"),
        (TIMER_SOURCE, timer_id("ca-1", "r-1", "2019-08-15T09:00:00.000000Z")), ("/web", "v-1")]
    assert missed(lines[2]) and not missed(lines[3])
    assert "3 events in" in done.stderr and "3 accepted" in done.stderr
    assert "1 deadline timer(s) fired" in done.stderr
    # an auditor's second replay, compared with the first, finds the same decisions
    recorded = tmp_path / "decisions.jsonl"
    recorded.write_text(done.stdout)
    again = subprocess.run([str(CLAUSELINE), "replay", str(log), "--quiet", "--out", "/dev/null",
                            "--compare", str(recorded)], capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert "0 of 4 decision(s) differ" in again.stderr


def test_advance_fires_what_a_later_event_would_and_nothing_twice(policy):
    """``Session.advance(time)`` (a stream partition's watermark): the timers due strictly
    before ``time``, fired and recorded as a valid event at ``time`` would fire them."""
    by_event, by_watermark = Session(policy, MemoryStore()), Session(policy, MemoryStore())
    for session in (by_event, by_watermark):
        session.submit(request("r-1"))
        session.submit(request("r-2", subject="ca-2"))
    assert by_watermark.advance(DUE) == []  # at the instant itself: still in time
    fired = by_watermark.advance("2019-08-15T09:00:00.000001Z")
    assert [d.as_dict() for d in fired] == \
        [d.as_dict() for d in by_event.submit(visit("2019-08-15T09:00:00.000001Z")).fired]
    assert [missed(d.as_dict())[0]["subject"] for d in fired] == ["ca-1", "ca-2"]
    assert by_watermark.advance("2019-12-31T00:00:00Z") == []
    with pytest.raises(ValueError):
        by_watermark.advance("not a time")
