"""Testing a policy: a test clock, a timeline of events, assertions that read like the policy,
scenario files and rule coverage. Usable with or without pytest::

    from clauseline.testing import Timeline, assert_denies, assert_permits

    timeline = Timeline.for_rules()                       # the shipped policy
    d = timeline.send("disclosure.requested", subject="acct-1", data={...})
    assert_permits(d, ["voice"], "law_enforcement")
    timeline.tick("P46D")                                 # time passes, obligations fall due

Every ``assert_*`` helper about outcomes fails on a rejected decision unless the test asks for
the rejection (:func:`assert_rejected`). The pytest plugin (``clauseline.testing.plugin``,
registered through the ``pytest11`` entry point) wires these into fixtures and collects scenario
files; this package does not import pytest.
"""

from .assertions import (OutcomeMismatch, assert_denies, assert_no_outcome, assert_nothing,
                         assert_obligation, assert_outcome, assert_permits, assert_rejected,
                         assert_retention, assert_status, assert_violation, describe_rule,
                         expectation_failures, explain, field_difference, find_outcomes,
                         missing_message, outcome_differences, unexpected_message)
from .clock import DEFAULT_SOURCE, Clock, parse_duration
from .coverage import RuleCoverage
from .scenarios import Scenario, ScenarioError, Step, load_scenarios
from .timeline import Timeline, cached_policy, find_rule

__all__ = [
    "Clock", "DEFAULT_SOURCE", "OutcomeMismatch", "RuleCoverage", "Scenario", "ScenarioError",
    "Step", "Timeline", "assert_denies", "assert_no_outcome", "assert_nothing",
    "assert_obligation", "assert_outcome", "assert_permits", "assert_rejected",
    "assert_retention", "assert_status", "assert_violation", "cached_policy", "describe_rule",
    "expectation_failures", "explain", "field_difference", "find_outcomes", "find_rule",
    "load_scenarios", "missing_message", "outcome_differences", "parse_duration",
    "unexpected_message",
]
