"""Property 4: a replay is the evaluations one by one.

``Session(policy).replay(lines)`` gives, line for line, what threading the state through
``clauseline.evaluate`` by hand gives, with the session's documented additions only: a repeated
(``source``, ``id``) of an accepted event is answered with the first decision marked
``duplicate``; a rejected line's errors carry ``line`` and a ``line N: `` prefix; blank lines
are skipped but counted. And a session over a SQLite store (``clauseline.store.open_store``)
makes the decisions a session in memory makes.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given

from clauseline import Session, empty_state, evaluate

from .conftest import SLOW_FACTOR, bounded, mixed_logs, shared_policy


def _key(event):
    if isinstance(event, dict) and isinstance(event.get("source"), str) and isinstance(event.get("id"), str):
        return event["source"], event["id"]
    return None


def by_hand(policy, lines: list[str]) -> list[tuple[int, str]]:
    """What a replay of ``lines`` should answer, from ``evaluate`` alone."""
    out, state, first = [], empty_state(), {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        event = json.loads(line)
        key = _key(event)
        if key is not None and key in first:
            decision = first[key].as_duplicate()
        else:
            decision, state = evaluate(policy, state, event)
            if decision.status == "accepted" and key is not None:
                first[key] = decision
        if decision.status == "rejected":
            decision = replace(decision, errors=tuple(
                dict(e, line=number, message=f"line {number}: {e['message']}")
                for e in decision.errors))
        out.append((number, decision.to_json()))
    return out


def check_replay(lines: list[str]) -> None:
    policy = shared_policy()
    replayed = [(n, d.to_json()) for n, d in Session(policy).replay(lines)]
    assert replayed == by_hand(policy, lines)


@bounded(40)
@given(lines=mixed_logs(1, 12))
def test_replay_equals_evaluation_one_by_one(lines):
    check_replay(lines)


@pytest.mark.slow
@bounded(40 * SLOW_FACTOR)
@given(lines=mixed_logs(1, 30))
def test_replay_equals_evaluation_one_by_one_longer(lines):
    check_replay(lines)


def check_store_decides_as_memory(template: Path, lines: list[str]) -> None:
    from clauseline.store import open_store

    policy = shared_policy()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "clauseline.db"
        shutil.copyfile(template, path)
        store = open_store(f"sqlite:///{path}")
        try:
            stored, memory = Session(policy, store), Session(policy)
            for line in lines:
                if not line.strip():
                    continue
                event = json.loads(line)
                assert stored.submit(event).to_json() == memory.submit(event).to_json()
        finally:
            store.close()


@bounded(20)
@given(lines=mixed_logs(1, 10))
def test_sqlite_store_decides_as_memory(store_template, lines):
    check_store_decides_as_memory(store_template, lines)


@pytest.mark.slow
@bounded(25 * SLOW_FACTOR)
@given(lines=mixed_logs(1, 30))
def test_sqlite_store_decides_as_memory_longer(store_template, lines):
    check_store_decides_as_memory(store_template, lines)
