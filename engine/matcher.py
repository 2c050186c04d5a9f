"""The durable_rules host that matches facts against one compiled policy version.

What the dependency notes measured shapes this module: events are consumed by one rule only, so
each input is asserted as a *fact* (every matching rule fires) and retracted at once; a ruleset
holds at most 1024 sids, so all facts use one fixed sid and never a subject id; ``delete_state``
can crash the process, so it is never called; the host's background threads are switched off,
and one lock makes each assert/collect/retract cycle atomic.
"""

from __future__ import annotations

import copy
import itertools
import threading

from durable import engine as durable_engine

from .compiler import compile_rules

_SID = "0"
_names = itertools.count(1)


class _Host(durable_engine.Host):
    """A durable_rules host with no timers or background dispatch (event time is the clock)."""

    def __init__(self, record):
        self._record = record
        super().__init__()

    def _run(self):  # no background threads: nothing here runs on the wall clock
        return None

    def get_action(self, action_name):
        record = self._record

        def fired(context):
            record(action_name, context.m["id"])

        return fired


class Matcher:
    """Finds every rule of a policy version that matches each of a list of facts."""

    def __init__(self, version):
        self.definition = compile_rules(version.rules)
        #: event type -> the list paths some rule for that type iterates with ``for_each``
        self.fanout: dict[str, tuple[str, ...]] = {}
        for rule in version.rules:
            if rule.for_each:
                for kind in rule.events:
                    paths = self.fanout.get(kind, ())
                    if rule.for_each not in paths:
                        self.fanout[kind] = tuple(sorted(paths + (rule.for_each,)))
        self.ruleset = f"{version.version}#{next(_names)}"
        self._hits: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._host = _Host(lambda rule, fact_id: self._hits.append((rule, fact_id)))
        if self.definition:
            self._host.set_rulesets({self.ruleset: copy.deepcopy(self.definition)})

    def match(self, facts: list[dict]) -> list[tuple[str, int]]:
        """(rule id, index of the fact) for every rule that fires on each fact."""
        if not self.definition:
            return []
        out = []
        with self._lock:
            for index, fact in enumerate(facts):
                body = dict(fact, id=f"f{index}", sid=_SID)
                self._hits.clear()
                try:
                    self._host.assert_fact(self.ruleset, body)
                except durable_engine.MessageNotHandledException:
                    continue  # no rule matched; nothing was stored
                try:
                    self._host.retract_fact(self.ruleset, body)
                except durable_engine.MessageNotHandledException:
                    pass
                out.extend((rule, index) for rule, _ in self._hits)
        return out
