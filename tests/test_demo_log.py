"""The shipped example log: what `make demo` replays, and what an auditor would re-run."""

import re
from pathlib import Path

from clauseline import Session, empty_state, evaluate, parse_event

LOG = Path(__file__).resolve().parents[1] / "examples" / "demo-log.jsonl"


def replay(policy):
    with LOG.open(encoding="utf-8") as lines:
        return [d for _, d in Session(policy).replay(lines)]


def test_demo_log_rejects_only_its_deliberate_bad_lines(policy):
    decisions = replay(policy)
    statuses = [d.status for d in decisions]
    assert statuses.count("rejected") == 3
    assert statuses.count("duplicate") == 1
    assert len(decisions) == sum(1 for line in LOG.read_text().splitlines() if line.strip())


def test_replay_equals_evaluating_one_by_one_with_carried_state(policy):
    replayed = [d for d in replay(policy) if d.status == "accepted"]
    state, seen, one_by_one = empty_state(), set(), []
    for line in LOG.read_text(encoding="utf-8").splitlines():
        event, problems = parse_event(line)
        if problems or (event.get("source"), event.get("id")) in seen:
            continue
        decision, state = evaluate(policy, state, event)
        if decision.status == "accepted":
            seen.add((event["source"], event["id"]))
            one_by_one.append(decision)
    assert [d.to_json() for d in replayed] == [d.to_json() for d in one_by_one]


def test_every_operative_clause_fires_in_the_demo(policy):
    fired = {rule.split(".")[0] for d in replay(policy) for rule in d.trace}
    operative = {c.letter for c in policy.latest.clauses.values() if c.operative}
    assert operative - fired == set()


def test_no_raw_card_number_reaches_the_decisions(policy):
    numbers = set()
    for line in LOG.read_text(encoding="utf-8").splitlines():
        numbers.update(re.findall(r'"(?:card_number|account_number|routing_number|ssn)":\s*"([^"]+)"', line))
    assert numbers, "the demo log should carry raw numbers to prove this"
    output = "\n".join(d.to_json() for d in replay(policy))
    for number in numbers:
        assert number not in output


def test_every_decision_of_the_demo_conforms_to_the_decision_schema(policy):
    from clauseline.events.validation import BASE
    schemas = policy.schemas
    for decision in replay(policy):
        assert schemas.problems(decision.as_dict(), BASE + "decision.schema.json") == [], decision.event_id
