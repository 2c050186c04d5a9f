"""The mutation check: every rule and every override of the shipped policy is needed. Deleting
any one of them makes some golden scenario (tests/scenarios) fail, so no rule is dead weight and
no rule's behaviour goes untested, including rules added later."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from clauseline.policy.matcher import Matcher
from clauseline.policy.model import Policy
from clauseline.session import MemoryStore, Session
from clauseline.testing.scenarios import load_scenarios
from clauseline.testing.timeline import cached_policy

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = [s for path in sorted((ROOT / "tests" / "scenarios").rglob("*.yaml"))
             for s in load_scenarios(path)]
POLICY = cached_policy()
IDS = [r.id for r in POLICY.latest.enforcing]


def without(policy: Policy, rule_id: str) -> Policy:
    """The policy with one rule or override of its latest version deleted."""
    version = policy.latest
    mutated = dataclasses.replace(
        version, rules=tuple(r for r in version.rules if r.id != rule_id),
        overrides=tuple(o for o in version.overrides if o.id != rule_id), matcher=None)
    mutated.matcher = Matcher(mutated)
    return Policy(policy.versions[:-1] + (mutated,), policy.facilities, policy.schemas)


def failures_with(policy: Policy) -> list[str]:
    """The golden scenarios' failures on ``policy``, stopping at the first failing scenario."""
    for scenario in SCENARIOS:
        timeline = scenario.timeline()
        timeline.policy, timeline.session = policy, Session(policy, MemoryStore())
        found = scenario.run(timeline)
        if found:
            return found
    return []


def test_the_golden_scenarios_pass_on_the_shipped_policy():
    assert failures_with(POLICY) == []


@pytest.mark.parametrize("rule_id", IDS)
def test_deleting_the_rule_makes_a_golden_scenario_fail(rule_id):
    assert failures_with(without(POLICY, rule_id)), \
        f"{rule_id} can be deleted and every golden scenario still passes: test what it decides"
