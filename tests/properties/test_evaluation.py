"""Properties of ``clauseline.evaluate`` over events generated from the JSON Schemas.

1. Every schema-valid event is evaluated without an exception; it is accepted unless it hits a
   rejection docs/errors.md documents for a valid event (a time before the policy, or a
   deadline past the year 9999); every decision validates against decision.schema.json and
   every outcome against outcome.schema.json.
2. Every event broken in one place (a required member dropped, a wrong type, a value outside
   its enumeration, too long, an unknown member, a bad time, a control character in an id, ...)
   is rejected; every error has a code docs/errors.md lists and a JSON Pointer that resolves in
   the event (or names the missing member under an existing parent), and one error names the
   broken place.
3. Evaluation is deterministic: the same state and event give byte-identical canonical JSON,
   in this process and in another one with another hash seed, and the inputs are not changed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from clauseline import canonical, empty_state, evaluate
from clauseline.events.parsing import pointer

from .conftest import (DECISION, MUTATIONS, OUTCOME, SLOW_FACTOR, bounded, documented_codes,
                       generator, logs, mutated, resolve_pointer, schema_errors, set_at,
                       shared_policy)

CODES, SCHEMA_KEYWORDS = documented_codes()
#: Codes docs/errors.md documents for an event the schemas accept: decided by the policy's
#: dates and the calendar, not by the event's shape.
VALID_EVENT_REJECTIONS = {"event.no_policy_in_force", "event.time_out_of_range"}


def test_the_rejections_of_valid_events_are_documented():
    assert VALID_EVENT_REJECTIONS <= CODES


def documented(code: str) -> bool:
    """A code of docs/errors.md: listed as such, or ``schema.<keyword>`` of a keyword the event
    schemas use."""
    if code in CODES:
        return True
    return code.startswith("schema.") and code[len("schema."):] in SCHEMA_KEYWORDS


def check_decision_shape(decision) -> None:
    """The decision validates against decision.schema.json, its outcomes against
    outcome.schema.json, and its canonical JSON is one line of UTF-8 text."""
    data = decision.as_dict()
    assert schema_errors(data, DECISION) == []
    for outcome in data["outcomes"]:
        assert schema_errors(outcome, OUTCOME) == []
    text = decision.to_json()
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise AssertionError(f"the decision's JSON is not UTF-8 text ({error.reason} at "
                             f"{error.start}): {text[max(0, error.start - 80):error.start + 20]!r}") from None
    assert "\n" not in text and "\u2028" not in text and "\u2029" not in text and "\x85" not in text


def check_errors_located(event, decision) -> None:
    """Every error has a documented code and a JSON Pointer that resolves in the event, or, for
    a missing member, names it under a parent that resolves."""
    assert decision.errors, "a rejected decision lists its errors"
    for error in decision.errors:
        assert documented(error["code"]), f"undocumented code {error['code']!r}"
        found, _ = resolve_pointer(event, error["path"])
        if error["code"] == "schema.required":
            parent, _, member = error["path"].rpartition("/")
            found_parent, node = resolve_pointer(event, parent)
            name = member.replace("~1", "/").replace("~0", "~")
            assert found_parent and isinstance(node, dict) and name not in node, error
        else:
            assert found, f"{error['path']!r} does not resolve in the event: {error}"


def check_log_is_evaluated(log) -> None:
    policy = shared_policy()
    state = empty_state()
    for event in log:
        decision, state = evaluate(policy, state, event)
        check_decision_shape(decision)
        if decision.status == "rejected":
            codes = {e["code"] for e in decision.errors}
            assert codes <= VALID_EVENT_REJECTIONS, decision.errors
            check_errors_located(event, decision)
        else:
            assert decision.status == "accepted"


@bounded(40)
@given(log=logs(1, 10))
def test_every_valid_event_is_evaluated(log):
    check_log_is_evaluated(log)


@pytest.mark.slow
@bounded(40 * SLOW_FACTOR)
@given(log=logs(1, 24))
def test_every_valid_event_is_evaluated_longer(log):
    check_log_is_evaluated(log)


@st.composite
def _with_lone_surrogate(draw):
    """A valid event with a lone surrogate (U+D800 to U+DFFF without its pair) inside one of
    its data strings: the schemas' patterns allow it, but it is not text."""
    gen = generator()
    event = draw(gen.event())
    sites = [n for n in gen.nodes(event) if isinstance(n.value, str) and n.path[:1] == ("data",)]
    assume(sites)  # clock.tick has no data, other types may lack strings in what was drawn
    node = draw(st.sampled_from(sites))
    surrogate = draw(st.sampled_from(["\ud800", "\udbff", "\udc00", "\udc80", "\udfff"]))
    at = draw(st.integers(0, len(node.value)))
    return set_at(event, node.path, node.value[:at] + surrogate + node.value[at:])


@bounded(40)
@given(event=_with_lone_surrogate())
def test_a_lone_surrogate_is_refused_not_raised(event):
    """A string with a lone surrogate cannot be written as UTF-8: the decision is a rejection
    with located, documented errors (never an exception from the matcher), or, if accepted,
    its JSON is still text."""
    decision, _ = evaluate(shared_policy(), empty_state(), event)
    check_decision_shape(decision)
    if decision.status == "rejected":
        check_errors_located(event, decision)


def check_mutant_rejected(mutant) -> None:
    policy = shared_policy()
    decision, state = evaluate(policy, empty_state(), mutant.event)
    assert decision.status == "rejected", f"{mutant.kind} at {mutant.where!r} was accepted"
    assert state == empty_state()
    check_decision_shape(decision)
    check_errors_located(mutant.event, decision)
    # a member name holding a long number is masked in the pointer (docs/errors.md)
    where = pointer(step.replace("~1", "/").replace("~0", "~")
                    for step in mutant.where.split("/")[1:]) if mutant.where else ""
    at_place = [e for e in decision.errors if e["path"] == where]
    assert any(e["code"] in mutant.codes for e in at_place), (
        f"{mutant.kind}: no error {sorted(mutant.codes)} at {mutant.where!r}: {decision.errors}")


@pytest.mark.parametrize("kind", sorted(MUTATIONS))
@bounded(12)
@given(data=st.data())
def test_every_mutated_event_is_rejected_where_it_is_broken(kind, data):
    check_mutant_rejected(data.draw(mutated(kind), label="mutant"))


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(MUTATIONS))
@bounded(12 * SLOW_FACTOR)
@given(data=st.data())
def test_every_mutated_event_is_rejected_where_it_is_broken_longer(kind, data):
    check_mutant_rejected(data.draw(mutated(kind), label="mutant"))


def _run(log) -> list[tuple[str, str]]:
    """(decision JSON, state JSON) after each event, threading the state."""
    policy = shared_policy()
    out, state = [], empty_state()
    for event in log:
        before_event, before_state = canonical.dumps(event), canonical.dumps(state)
        decision, new_state = evaluate(policy, state, event)
        # nothing it is given is changed
        assert canonical.dumps(event) == before_event
        assert canonical.dumps(state) == before_state
        state = new_state
        out.append((decision.to_json(), canonical.dumps(state)))
    return out


@bounded(30)
@given(log=logs(1, 10))
def test_evaluation_is_deterministic(log):
    assert _run(log) == _run(log)


_OTHER_PROCESS = """
import json, sys
import clauseline
policy = clauseline.load_policy()
state = clauseline.empty_state()
for line in sys.stdin.buffer:
    if line == b"\\n":  # a blank line starts another log
        state = clauseline.empty_state()
        sys.stdout.buffer.write(b"\\n")
        continue
    decision, state = clauseline.evaluate(policy, state, json.loads(line))
    sys.stdout.buffer.write(decision.to_json().encode("utf-8") + b"\\n")
"""


def test_evaluation_is_deterministic_across_processes():
    """Another process, with another hash seed (set and dict orders of strings differ), makes
    byte for byte the decisions this one makes, for every log of a bounded run."""
    given_logs, here = [], []

    @bounded(10)
    @given(log=logs(6, 17))
    def collect(log):
        given_logs.append(log)
        here.append([decision for decision, _ in _run(log)])

    collect()
    text = b"".join(b"".join(json.dumps(e).encode() + b"\n" for e in log) + b"\n"
                    for log in given_logs)
    env = dict(os.environ, PYTHONHASHSEED="12345")
    done = subprocess.run([sys.executable, "-c", _OTHER_PROCESS], input=text, env=env,
                          capture_output=True, timeout=300, check=True)
    there = [block.split("\n") for block in done.stdout.decode("utf-8").split("\n\n")[:-1]]
    assert len(there) == len(here)
    for log, mine, theirs in zip(given_logs, here, there):
        assert theirs == mine, json.dumps(log, ensure_ascii=False)
