"""``clauseline.client.AsyncClient`` against a real ``clauseline serve``: the same answers as the
sync client and as ``clauseline replay``, concurrent reads, and problems as typed exceptions."""

from __future__ import annotations

import asyncio

import pytest

from clauseline.client import AsyncClient, Forbidden, NotFound, Unauthorized, ValidationFailed

from .conftest import demo_events, replay


def test_the_async_client_posts_batches_and_reads_as_replay_decides(fresh, tmp_path):
    events = demo_events(80)

    async def scenario():
        async with AsyncClient(fresh.url, api_key=fresh.key) as client:
            singles = []
            for event in events[:30]:
                try:
                    singles.append(await client.post(event))
                except ValidationFailed as error:
                    singles.append(error.decision)
            batch = await client.post_batch(events[30:], batch_size=25)
            again = await client.post(events[0])
            # reads of several events at once, each its own request
            stored = await asyncio.gather(*[client.decision(e["source"], e["id"])
                                            for e in events[:10]])
            dry = await client.evaluate({**events[0], "id": "async-dry-run"})
            with pytest.raises(NotFound):
                await client.decision(events[0]["source"], "async-dry-run")
            subject = await client.subject(events[0]["subject"])
            owed = await client.obligations(limit=5)
            policy = await client.policy()
            return (singles, batch, again, stored, dry, subject, owed, policy,
                    await client.health(), await client.ready(), await client.metrics())

    singles, batch, again, stored, dry, subject, owed, policy, healthy, ready, metrics = \
        asyncio.run(scenario())
    decisions = singles + batch
    assert [d.raw for d in decisions] == replay(events, tmp_path)
    assert again.duplicate and again.raw == {**decisions[0].raw, "status": "duplicate"}
    assert [s.raw for s in stored] == [d.raw for d in decisions[:10]]
    assert dry.dry_run and dry.event_id == "async-dry-run"
    assert subject.subject == events[0]["subject"] and subject.first_seen
    assert len(owed) <= 5
    assert policy.version(decisions[0].policy_version) is not None
    assert healthy is True and ready["status"] == "ready"
    assert "clauseline_outcomes_total" in metrics


def test_the_async_client_raises_the_same_typed_problems(served):
    event = demo_events(1)[0]

    async def scenario():
        async with AsyncClient(served.url, api_key=served.keys["revoked"]) as revoked:
            with pytest.raises(Unauthorized) as unauthorized:
                await revoked.post(event)
        async with AsyncClient(served.url, api_key=served.keys["reader"]) as reader:
            with pytest.raises(Forbidden) as forbidden:
                await reader.post_batch([event])
        async with AsyncClient(served.url, api_key=served.keys["writer"]) as writer:
            with pytest.raises(ValidationFailed) as invalid:
                await writer.post({**event, "id": "async-invalid", "data": {"x": 1}})
        return unauthorized.value, forbidden.value, invalid.value

    unauthorized, forbidden, invalid = asyncio.run(scenario())
    assert (unauthorized.status, unauthorized.code, unauthorized.attempts) == \
        (401, "auth.invalid_key", 1)
    assert forbidden.required_scope == "events:write"
    assert invalid.decision.rejected and invalid.errors
