"""The shipped example log: what `make demo` replays, and what an auditor would re-run."""

import re
from pathlib import Path

from clauseline import TIMER_SOURCE, Session, due_ticks, empty_state, evaluate, parse_event

LOG = Path(__file__).resolve().parents[1] / "examples" / "demo-log.jsonl"


def replay(policy):
    with LOG.open(encoding="utf-8") as lines:
        return [d for _, d in Session(policy).replay(lines)]


def test_demo_log_rejects_only_its_deliberate_bad_lines(policy):
    decisions = replay(policy)
    events = [d for d in decisions if d.event_source != TIMER_SOURCE]
    statuses = [d.status for d in events]
    assert statuses.count("rejected") == 3
    assert statuses.count("duplicate") == 1
    assert len(events) == sum(1 for line in LOG.read_text().splitlines() if line.strip())
    # and the deadlines it lets pass, each reported by a timer of its own at its due instant
    timers = [d for d in decisions if d.event_source == TIMER_SOURCE]
    assert timers and all(d.status == "accepted" and d.event_type == "clock.tick" for d in timers)
    assert all(o["violation"] == "ccpa.deadline_missed" and d.time == o["detail"].split(
        " was due by ")[1].split(" ")[0] for d in timers for o in d.outcomes)


def test_replay_equals_evaluating_one_by_one_with_carried_state(policy):
    replayed = [d for d in replay(policy) if d.status == "accepted"]
    state, seen, one_by_one = empty_state(), set(), []
    for line in LOG.read_text(encoding="utf-8").splitlines():
        event, problems = parse_event(line)
        if problems or (event.get("source"), event.get("id")) in seen:
            continue
        if not policy.schemas.event_problems(event):  # a valid event fires the timers due
            for tick in due_ticks(state, event):
                timer, state = evaluate(policy, state, tick)
                one_by_one.append(timer)
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
