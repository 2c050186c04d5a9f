"""The evaluation stage: ``evaluate(policy, state, event) -> (decision, new_state)``, pure.

``facts`` builds what rules see (event, profile, memory), ``conditions`` computes the tests
durable_rules cannot make, ``combining`` turns fired rules into outcomes, ``state`` applies
their changes copy-on-write, ``templates`` renders outcome templates against a fact.
"""

from .evaluator import apply_writes, evaluate, writes_outside
from ..records import empty_state

__all__ = ["apply_writes", "empty_state", "evaluate", "writes_outside"]
