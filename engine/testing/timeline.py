"""A timeline: a fresh engine for one test, with a policy, a test clock and a session that
carries the state from one event to the next; policies are loaded once per process."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable, Iterable

from ..decision import Decision
from ..policy import load_policy
from ..policy.model import Policy, Rule
from ..resources import rules_dir
from ..session import MemoryStore, Session
from .clock import DEFAULT_SOURCE, Clock

_policies: dict[str, Policy] = {}


def cached_policy(rules: str | Path | None = None, version: str | None = None) -> Policy:
    """The policy under ``rules`` (default: the shipped rules), loaded once per process.

    ``version`` picks one version folder below ``rules`` (e.g. ``securus-2019-05-04``). Loading
    and compiling is not free; tests share the loaded policy, which is immutable.
    """
    root = Path(rules) if rules is not None else rules_dir()
    if version:
        root = root / version
    key = str(root.resolve())
    if key not in _policies:
        _policies[key] = load_policy(root)
    return _policies[key]


def find_rule(rule_id: str, version: str | None = None) -> Rule | None:
    """The rule with this id in a policy loaded by :func:`cached_policy` (``version`` first)."""
    versions = [v for p in _policies.values() for v in p.versions]
    versions.sort(key=lambda v: v.version != version)
    for candidate in versions:
        try:
            return candidate.rule(rule_id)
        except KeyError:
            continue
    return None


class Timeline:
    """A fresh engine for one test: a policy, a :class:`Clock`, and a session that carries the
    state from one event to the next. Every decision is kept in :attr:`decisions`.

    ``observer`` is called with ``(policy, decision)`` for each decision (the pytest plugin
    counts rule coverage with it).
    """

    def __init__(self, policy: Policy, clock: Clock | None = None, subject: str | None = None,
                 observer: Callable[[Policy, Decision], None] | None = None):
        self.policy = policy
        self.clock = clock or Clock(policy.latest.effective_from)
        self.subject = subject
        self.session = Session(policy, MemoryStore())
        self.decisions: list[Decision] = []
        self.observer = observer

    @classmethod
    def for_rules(cls, rules: str | Path | None = None, version: str | None = None,
                  start: str | datetime | None = None, **options: Any) -> "Timeline":
        """A timeline on the (cached) policy under ``rules``; the clock starts at ``start`` or
        when the latest policy version takes effect."""
        policy = cached_policy(rules, version)
        clock = Clock(start or policy.latest.effective_from, options.pop("source", DEFAULT_SOURCE))
        return cls(policy, clock, **options)

    @property
    def state(self) -> dict:
        """The state after the last accepted event."""
        return self.session.store.state

    @property
    def last(self) -> Decision:
        """The latest decision."""
        return self.decisions[-1]

    def _decided(self, decision: Decision) -> Decision:
        self.decisions.append(decision)
        if self.observer is not None:
            self.observer(self.policy, decision)
        return decision

    def submit(self, event: dict) -> Decision:
        """Evaluate an event dict; missing envelope fields are filled from the clock."""
        if isinstance(event, dict) and "subject" not in event and self.subject and event.get("type") not in (
                "clock.tick", "policy.changed"):
            event = dict(event, subject=self.subject)
        return self._decided(self.session.submit(self.clock.complete(event)))

    def send(self, type: str, data: dict | None = None, *, subject: str | None = None,
             after: str | timedelta | None = None, time: str | None = None, **envelope: Any) -> Decision:
        """Build an event from its type, subject and data at the clock's time (moved on by
        ``after``, or set to ``time``) and evaluate it."""
        if after is not None:
            self.clock.advance(after)
        event = {"type": type, "data": {} if data is None else data, **envelope}
        if time is not None:
            event["time"] = time
        if subject is not None:
            event["subject"] = subject
        return self.submit(event)

    def tick(self, duration: str | timedelta | None = None) -> Decision:
        """Advance the clock by ``duration`` (if given) and emit ``clock.tick``."""
        if duration is not None:
            self.clock.advance(duration)
        return self.submit({"type": "clock.tick", "data": {}})

    def replay(self, log: str | Path) -> list[tuple[int, Decision]]:
        """Replay a JSON Lines log as ``clauseline replay`` does (events as they are, no clock
        defaults): ``(line number, decision)`` for each non-blank line, in order."""
        with Path(log).open(encoding="utf-8") as lines:
            return [(number, self._decided(d)) for number, d in self.session.replay(lines)]

    def feed(self, events: dict | Iterable[dict] | str | Path) -> list[Decision]:
        """Evaluate events: a dict, a list of dicts, or a file (``.jsonl`` lines are replayed
        as they are, like ``clauseline replay``; ``.json`` holds one event or a list)."""
        if isinstance(events, dict):
            return [self.submit(events)]
        if isinstance(events, (str, Path)):
            path = Path(events)
            if path.suffix == ".jsonl":
                return [d for _, d in self.replay(path)]
            loaded = json.loads(path.read_text(encoding="utf-8"))
            return self.feed(loaded if isinstance(loaded, list) else [loaded])
        return [self.submit(e) for e in events]
