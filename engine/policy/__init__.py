"""The policy stage: YAML rule files read and checked (``reading``, ``loader``), compiled into
durable_rules rulesets (``compiler``) and hosted for matching (``matcher``); ``model`` is the
policy as loaded (versions, clauses, rules, interpretations, facilities)."""

from .loader import load_facilities, load_policy
from .model import Clause, Condition, Facility, Interpretation, Policy, PolicyVersion, Rule

__all__ = ["Clause", "Condition", "Facility", "Interpretation", "Policy", "PolicyVersion", "Rule",
           "load_facilities", "load_policy"]
