"""clauseline: a privacy policy as declarative rules; CloudEvents in, decisions out.

    import clauseline
    policy = clauseline.load_policy()               # the shipped securus-2019-05-04 rules
    decision, state = clauseline.evaluate(policy, clauseline.empty_state(), event)

The evaluation is deterministic and does no I/O of its own. The pipeline, by stage (each a
subpackage or module that imports only the stages before it):

- ``clauseline.events``: parse raw bytes into an event; validate it against the JSON Schemas.
- ``clauseline.policy``: read and check rule files, compile them to durable_rules, match facts.
- ``clauseline.evaluation``: facts, computed conditions, combining, state: ``evaluate``.
- ``clauseline.decision``: the decision model every later stage shares.
- ``clauseline.explain``: one renderer of decisions as text, with the sentences behind them.
- ``clauseline.session``: the loop that every entry point shares (idempotency, state).
- ``clauseline.store``, ``clauseline.cli``, ``clauseline.testing``: adapters around the core.
"""

from .decision import Decision
from .errors import ClauselineError, EventError, PolicyLoadError, Problem
from .evaluation import empty_state, evaluate
from .events import SchemaSet, parse_event
from .policy import Clause, Interpretation, Policy, PolicyVersion, Rule, load_policy
from .session import MemoryStore, Session


def __getattr__(name: str):
    # ``__version__`` is read from the installed metadata on first use only: the lookup costs
    # about 20 ms, which every CLI start would otherwise pay.
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version
        try:
            return version("clauseline")
        except PackageNotFoundError:  # imported from a source tree that was never installed
            return "0+unknown"
    raise AttributeError(f"module 'clauseline' has no attribute {name!r}")

__all__ = [
    "Clause", "ClauselineError", "Decision", "EventError", "Interpretation", "MemoryStore",
    "Policy", "PolicyLoadError", "PolicyVersion", "Problem", "Rule", "SchemaSet", "Session",
    "__version__", "empty_state", "evaluate", "load_policy", "parse_event",
]
