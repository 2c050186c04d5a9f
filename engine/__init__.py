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

#: Public name -> the module that defines it, imported on first use (PEP 562): ``import
#: clauseline`` costs nothing until a name is used, and the command starts by installing its
#: Ctrl-C handling before the engine's dependencies load (``clauseline._entry``).
_EXPORTS = {
    "Decision": "decision",
    "ClauselineError": "errors", "EventError": "errors", "PolicyLoadError": "errors",
    "Problem": "errors",
    "empty_state": "evaluation", "evaluate": "evaluation",
    "SchemaSet": "events", "parse_event": "events",
    "Clause": "policy", "Interpretation": "policy", "Policy": "policy",
    "PolicyVersion": "policy", "Rule": "policy", "load_policy": "policy",
    "MemoryStore": "session", "Session": "session",
    "TIMER_SOURCE": "timers", "due_ticks": "timers",
}


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is not None:
        import importlib
        value = getattr(importlib.import_module(f".{module}", __name__), name)
        globals()[name] = value  # the next lookup is a plain attribute
        return value
    # ``__version__`` is read from the installed metadata on first use only: the lookup costs
    # about 20 ms, which every CLI start would otherwise pay.
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version
        try:
            return version("clauseline")
        except PackageNotFoundError:  # imported from a source tree that was never installed
            return "0+unknown"
    raise AttributeError(f"module 'clauseline' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS) | {"__version__"})


if False:  # pragma: no cover - for type checkers and import-linter: what the names are
    from .decision import Decision  # noqa: F401
    from .errors import ClauselineError, EventError, PolicyLoadError, Problem  # noqa: F401
    from .evaluation import empty_state, evaluate  # noqa: F401
    from .events import SchemaSet, parse_event  # noqa: F401
    from .policy import Clause, Interpretation, Policy, PolicyVersion, Rule, load_policy  # noqa: F401
    from .session import MemoryStore, Session  # noqa: F401

__all__ = [
    "Clause", "ClauselineError", "Decision", "EventError", "Interpretation", "MemoryStore",
    "Policy", "PolicyLoadError", "PolicyVersion", "Problem", "Rule", "SchemaSet", "Session",
    "TIMER_SOURCE", "__version__", "due_ticks", "empty_state", "evaluate", "load_policy",
    "parse_event",
]
