"""clauseline's engine: load a policy, evaluate events, get decisions.

    from engine import load_policy, evaluate, empty_state
    policy = load_policy()                       # the shipped securus-2019-05-04 rules
    decision, state = evaluate(policy, empty_state(), event)

The evaluation is deterministic and does no I/O of its own.
"""

from .errors import ClauselineError, EventError, PolicyLoadError, Problem
from .evaluator import Decision, empty_state, evaluate
from .events import parse_event
from .loader import load_policy
from .model import Clause, Interpretation, Policy, PolicyVersion, Rule
from .session import MemoryStore, Session

__all__ = [
    "Clause", "ClauselineError", "Decision", "EventError", "Interpretation", "MemoryStore",
    "Policy", "PolicyLoadError", "PolicyVersion", "Problem", "Rule", "Session", "empty_state",
    "evaluate", "load_policy", "parse_event",
]
