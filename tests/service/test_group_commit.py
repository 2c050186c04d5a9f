"""Single events posted at the same time share a transaction (service/committer.py), and each
still gets the decision a serial replay gives, only once it is stored."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import sqlalchemy as sa

from clauseline.session import MemoryStore, Session
from clauseline.timers import TIMER_SOURCE

from .conftest import STRUCTURED, Api

ROOT = Path(__file__).resolve().parents[2]


def _demo_events() -> list[dict]:
    events = []
    for line in (ROOT / "examples" / "demo-log.jsonl").read_text().splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            continue  # the demo's deliberately broken lines
    return events


def test_concurrent_single_posts_share_commits_and_get_the_serial_decisions(store_url, policy):
    events = _demo_events()
    # one connection per subject (subject-less events on their own), each in log order, as a
    # producer keeps them; the serial order is the order the posts reach the service
    lanes: dict[str, list[dict]] = {}
    for event in events:
        lanes.setdefault(event.get("subject") or "-", []).append(event)
    api = Api(store_url, policy)
    commits = []
    sa.event.listen(api.store.engine, "commit", lambda conn: commits.append(1))
    answers: list[tuple[tuple[str, str], dict]] = []

    async def lane(client: httpx.AsyncClient, items: list[dict]) -> None:
        for event in items:
            response = await client.post("/v1/events", content=json.dumps(event),
                                         headers=dict(STRUCTURED, **api.auth("writer")))
            assert response.status_code in (200, 201, 422), response.text
            answers.append(((event["source"], event["id"]), response.json()))

    async def main() -> None:
        transport = httpx.ASGITransport(app=api.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            # subject-less events (ticks) left out: they see every subject at their time
            await asyncio.gather(*(lane(client, items) for name, items in lanes.items()
                                   if name != "-"))

    try:
        asyncio.run(main())
        stored = api.store.decisions()
        exposition = api.client.get("/metrics").text
    finally:
        api.close()
    # every single post went through the group commit, whose histogram counts the groups
    sizes = {line.split(" ")[0]: float(line.split(" ")[1]) for line in exposition.splitlines()
             if line.startswith("clauseline_group_commit_events_")}
    assert sizes["clauseline_group_commit_events_sum"] == len(answers)
    assert sizes["clauseline_group_commit_events_count"] < len(answers)
    accepted = {key: a for key, a in answers if a.get("status") == "accepted"}
    posted = [row for row in stored if row[0] != TIMER_SOURCE]  # less the deadlines' timers
    assert len(posted) == len(accepted) > 100
    assert len(commits) < len(accepted) / 2, (len(commits), len(accepted))  # shared commits
    # each answer is what a serial run in the store's order (the queue's) gives, and was stored
    by_key: dict = {}
    for event in events:  # of a repeated (source, id), the first sent is the one stored
        by_key.setdefault((event["source"], event["id"]), []).append(event)
    serial = Session(policy, MemoryStore())
    serially = []  # and the timers each fired before it, stored just before it
    for source, event_id, text in posted:
        sent = [e for e in by_key[(source, event_id)]
                if serial.preview(e).status == "accepted"]
        decision = serial.submit(sent[0])
        assert accepted[(source, event_id)] == decision.as_dict() == json.loads(text)
        serially += [d.as_dict() for d in decision.fired] + [decision.as_dict()]
    assert serially == [json.loads(text) for _, _, text in stored]
    for key, answer in answers:  # the rest: rejected (422), or repeats answered as duplicate
        if answer.get("status") != "accepted":
            decision = answer.get("decision", answer)
            assert decision["status"] in ("rejected", "duplicate"), answer
