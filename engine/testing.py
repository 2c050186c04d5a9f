"""Testing a policy: a test clock, a timeline of events, and assertions that read like the policy.

Usable with or without pytest (the pytest plugin in :mod:`engine.pytest_plugin` only wires these
into fixtures)::

    from engine.testing import Timeline, assert_denies, assert_permits

    timeline = Timeline.for_rules()                       # the shipped policy
    d = timeline.send("disclosure.requested", subject="acct-1", data={...})
    assert_permits(d, ["voice"], "law_enforcement")
    timeline.tick("P46D")                                 # time passes, obligations fall due

A partial outcome (the keyword arguments of :func:`assert_outcome`, or an entry of a scenario's
``outcomes``) matches an actual outcome when every field it lists matches: ``data_categories``
must include the listed categories (all of them and no others with ``exact=True``), ``basis``
may list rule ids, ``due_by`` compares instants (``...T09:30:00+02:00`` is ``...T07:30:00Z``),
every other field must be equal. Failures print the expected outcome beside the closest actual
ones and the rules that fired, with their clause.
"""

from __future__ import annotations

import contextlib

import itertools
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable, Iterable

from .evaluator import Decision
from .loader import load_policy
from .model import Policy, Rule
from .resources import rules_dir
from .session import MemoryStore, Session
from .timeutil import add_months, add_years, format_time, parse_time

#: Where events built by a test clock say they come from, unless told otherwise.
DEFAULT_SOURCE = "/clauseline/tests"

_DURATION = re.compile(
    r"^P(?!$)(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?"
    r"(?:T(?=\d)(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$")


# ---------------------------------------------------------------------------- policies

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


def _rule(rule_id: str, version: str | None) -> Rule | None:
    """The rule with this id in a loaded policy (the decision's version first)."""
    versions = [v for p in _policies.values() for v in p.versions]
    versions.sort(key=lambda v: v.version != version)
    for candidate in versions:
        try:
            return candidate.rule(rule_id)
        except KeyError:
            continue
    return None


# ---------------------------------------------------------------------------- time

def parse_duration(text: str | timedelta) -> Callable[[datetime], datetime]:
    """An ISO 8601 duration (``P3D``, ``PT2H``, ``P1Y2M``, ``P2W``) as a function that moves a
    moment forward: years and months are calendar steps (as the policy's "one year"), the rest
    is exact time. A ``timedelta`` is accepted as it is."""
    if isinstance(text, timedelta):
        return lambda moment: moment + text
    found = _DURATION.match(text) if isinstance(text, str) else None
    if not found:
        raise ValueError(f"not an ISO 8601 duration such as P3D, PT2H or P1Y2M: {text!r}")
    years, months, weeks, days, hours, minutes, seconds = (float(g) if g else 0 for g in found.groups())
    delta = timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes, seconds=seconds)

    def move(moment: datetime) -> datetime:
        return add_months(add_years(moment, int(years)), int(months)) + delta

    return move


def _moment(value: str | datetime) -> datetime:
    return parse_time(value) if isinstance(value, str) else parse_time(format_time(value))


class Clock:
    """A test clock: the time the next event happens, moved forward on request.

    Events built by :meth:`event` get the envelope defaults a test should not have to write:
    ``specversion``, a unique ``id``, ``source`` and ``time`` (the clock's current time).
    """

    def __init__(self, start: str | datetime = "2019-07-01T09:00:00Z", source: str = DEFAULT_SOURCE):
        self.now = _moment(start)
        self.source = source
        self._ids = itertools.count(1)

    @property
    def time(self) -> str:
        """The current time as an RFC 3339 string (UTC, ``Z``)."""
        return format_time(self.now)

    def advance(self, duration: str | timedelta) -> str:
        """Move the clock forward by an ISO 8601 duration (or a timedelta); return the new time."""
        self.now = parse_duration(duration)(self.now)
        return self.time

    def set(self, moment: str | datetime) -> None:
        """Set the clock to a moment (an event with an explicit ``time`` does this)."""
        self.now = _moment(moment)

    def next_id(self) -> str:
        """A fresh event id, unique for this clock."""
        return f"auto-{next(self._ids)}"

    def event(self, type: str, data: dict | None = None, subject: str | None = None,
              **envelope: Any) -> dict:
        """A complete CloudEvent: the given fields plus the envelope defaults."""
        out = {"specversion": "1.0", "id": self.next_id(), "source": self.source, "type": type,
               "time": self.time}
        if subject is not None:
            out["subject"] = subject
        out["data"] = {} if data is None else data
        out.update(envelope)
        return out

    def complete(self, event: dict) -> dict:
        """The event with missing envelope fields filled in; its explicit ``time`` sets the clock."""
        if isinstance(event.get("time"), str):
            # an invalid time is the evaluator's to reject, with its JSON Pointer
            with contextlib.suppress(ValueError):
                self.set(event["time"])
        out = {"specversion": "1.0", "id": None, "source": self.source, "type": None, "time": self.time}
        out.update(event)
        if out["id"] is None:
            out["id"] = self.next_id()
        out.setdefault("data", {})
        return {k: v for k, v in out.items() if v is not None or k in event}


# ---------------------------------------------------------------------------- timeline

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

    def feed(self, events: dict | Iterable[dict] | str | Path) -> list[Decision]:
        """Evaluate events: a dict, a list of dicts, or a file (``.jsonl`` lines are replayed
        as they are, like ``clauseline replay``; ``.json`` holds one event or a list)."""
        if isinstance(events, dict):
            return [self.submit(events)]
        if isinstance(events, (str, Path)):
            path = Path(events)
            if path.suffix == ".jsonl":
                with path.open(encoding="utf-8") as lines:
                    return [self._decided(d) for _, d in self.session.replay(lines)]
            loaded = json.loads(path.read_text(encoding="utf-8"))
            return self.feed(loaded if isinstance(loaded, list) else [loaded])
        return [self.submit(e) for e in events]


# ---------------------------------------------------------------------------- matching

def _instant(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return _moment(value)
    try:
        return parse_time(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _show(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_show(v)}" for k, v in value.items()) + "}"
    if isinstance(value, datetime):
        return format_time(value)
    return str(value) if isinstance(value, str) else json.dumps(value)


def _basis_differs(expected: list, actual: Any, exact: bool) -> bool:
    entries = actual if isinstance(actual, list) else []
    for item in expected:
        want = {"rule": item} if isinstance(item, str) else item
        if not any(isinstance(e, dict) and all(e.get(k) == v for k, v in want.items()) for e in entries):
            return True
    return exact and len(expected) != len(entries)


def field_difference(name: str, expected: Any, outcome: dict, exact: bool = False) -> str | None:
    """Why ``outcome`` does not match one expected field, or None when it does."""
    if name not in outcome:
        return f"{name}: expected {_show(expected)}, absent"
    actual = outcome[name]
    if name == "data_categories" and isinstance(expected, list) and isinstance(actual, list):
        if set(expected) == set(actual) or (not exact and set(expected) <= set(actual)):
            return None
        how = "exactly" if exact else "to include"
        return f"data_categories: expected {how} {_show(sorted(set(expected)))}, got {_show(actual)}"
    if name == "basis" and isinstance(expected, list):
        if not _basis_differs(expected, actual, exact):
            return None
        rules = [b.get("rule") for b in actual] if isinstance(actual, list) else actual
        return f"basis: expected {_show(expected)}, got rules {_show(rules)}"
    if name == "due_by" or isinstance(expected, datetime):
        a, b = _instant(expected), _instant(actual)
        if a is not None and b is not None:
            return None if a == b else f"{name}: expected {_show(expected)}, got {actual}"
    return None if expected == actual else f"{name}: expected {_show(expected)}, got {_show(actual)}"


def outcome_differences(partial: dict, outcome: dict) -> list[str]:
    """Every field of ``partial`` that ``outcome`` does not match (empty: it matches).
    ``partial`` may carry ``exact: true`` to require equal category sets and basis lists."""
    exact = bool(partial.get("exact"))
    found = (field_difference(k, v, outcome, exact) for k, v in partial.items() if k != "exact")
    return [d for d in found if d is not None]


def find_outcomes(decision: Decision, **partial: Any) -> list[dict]:
    """The decision's outcomes that match the partial outcome, in the decision's order."""
    return [o for o in decision.outcomes if not outcome_differences(partial, o)]


def _line(outcome: dict) -> str:
    shown = [outcome.get("kind", "?")]
    for name, value in outcome.items():
        if name in ("kind", "clause", "rule", "subject", "detail", "text"):
            continue
        if name == "basis" and isinstance(value, list):
            value = [b.get("rule") for b in value if isinstance(b, dict)]
            if value == [outcome.get("rule")]:
                continue
        shown.append(f"{name}={_show(value)}")
    if outcome.get("subject") not in (None, "*"):
        shown.append(f"subject={outcome['subject']}")
    return " ".join(shown) + f"   <- {outcome.get('rule')} (clause {outcome.get('clause')})"


def describe_rule(rule_id: str, version: str | None = None) -> str:
    """One line naming a rule, its clause, its title and where it is written."""
    rule = _rule(rule_id, version)
    if rule is None:
        return f"{rule_id}  clause {rule_id.split('.')[0]}"
    return f"{rule.id}  clause {rule.clause}: {rule.title}  ({rule.file}:{rule.line})"


def explain(decision: Decision, outcomes: bool = True) -> str:
    """The decision in a few readable lines: event, status, outcomes, rules fired."""
    head = (f"decision for event {decision.event_id} ({decision.event_type} at {decision.time}): "
            f"{decision.status}")
    lines = [head]
    if decision.status == "rejected":
        lines += [f"  error {e.get('path') or '/'}: {e.get('message')}" for e in decision.errors]
    if outcomes or not decision.outcomes:
        lines.append("outcomes:" if decision.outcomes else "outcomes: none")
        lines += [f"  - {_line(o)}" for o in decision.outcomes]
    lines.append("rules fired:" if decision.trace else "rules fired: none")
    lines += [f"  - {describe_rule(r, decision.policy_version)}" for r in decision.trace]
    return "\n".join(lines)


def _closest(decision: Decision, partial: dict, count: int = 3) -> list[tuple[dict, list[str]]]:
    fields = [k for k in partial if k != "exact"]
    scored = []
    for index, outcome in enumerate(decision.outcomes):
        differs = outcome_differences(partial, outcome)
        same_kind = "kind" not in partial or outcome.get("kind") == partial["kind"]
        scored.append((not same_kind, len(differs) - len(fields), index, outcome, differs))
    scored.sort(key=lambda s: (s[0], s[1], s[2]))
    return [(s[3], s[4]) for s in scored[:count]]


def missing_message(decision: Decision, partial: dict) -> str:
    """The failure text for an expected outcome that is not in the decision."""
    fields = [k for k in partial if k != "exact"]
    lines = [f"expected outcome not found: {_show({k: partial[k] for k in fields})}"
             + ("  (exact)" if partial.get("exact") else "")]
    closest = _closest(decision, partial)
    if closest:
        lines.append("closest actual outcomes:")
        for outcome, differs in closest:
            lines.append(f"  - {_line(outcome)}")
            lines.append(f"      {len(fields) - len(differs)} of {len(fields)} fields match; "
                         + "; ".join(differs))
    return "\n".join(lines + [explain(decision, outcomes=len(closest) < len(decision.outcomes))])


def unexpected_message(decision: Decision, partial: dict, found: list[dict]) -> str:
    """The failure text for outcomes that match a partial outcome that must not appear."""
    lines = [f"expected no outcome matching {_show(partial)}, found {len(found)}:"]
    lines += [f"  - {_line(o)}" for o in found]
    return "\n".join(lines + [explain(decision)])


class OutcomeMismatch(AssertionError):
    """An assertion about a decision's outcomes failed; the message shows expected and actual."""


# ---------------------------------------------------------------------------- assertions

def assert_status(decision: Decision, status: str = "accepted") -> Decision:
    """The decision has this status (``accepted``, ``duplicate`` or ``rejected``)."""
    __tracebackhide__ = True
    if decision.status != status:
        raise OutcomeMismatch(f"expected status {status}, got {decision.status}\n{explain(decision)}")
    return decision


def assert_outcome(decision: Decision, *, exact: bool = False, **partial: Any) -> dict:
    """The decision has an outcome matching the partial outcome; return the first such."""
    __tracebackhide__ = True
    wanted = dict(partial, exact=True) if exact else partial
    for outcome in decision.outcomes:
        if not outcome_differences(wanted, outcome):
            return outcome
    raise OutcomeMismatch(missing_message(decision, wanted))


def assert_no_outcome(decision: Decision, **partial: Any) -> None:
    """No outcome of the decision matches the partial outcome."""
    __tracebackhide__ = True
    found = find_outcomes(decision, **partial)
    if found:
        raise OutcomeMismatch(unexpected_message(decision, partial, found))


def _disclosure(effect: str, categories: Iterable[str] | str, recipient: str | None,
                purpose: str | None, more: dict) -> dict:
    partial = {"kind": "disclosure", "effect": effect,
               "data_categories": [categories] if isinstance(categories, str) else list(categories)}
    if recipient is not None:
        partial["recipient"] = recipient
    if purpose is not None:
        partial["purpose"] = purpose
    return {**partial, **more}


def assert_permits(decision: Decision, categories: Iterable[str] | str, recipient: str | None = None,
                   *, purpose: str | None = None, exact: bool = False, **more: Any) -> dict:
    """The decision permits disclosing ``categories`` to a ``recipient`` kind (with
    ``exact=True``: those categories and no others in the permit outcome)."""
    __tracebackhide__ = True
    return assert_outcome(decision, exact=exact, **_disclosure("permit", categories, recipient, purpose, more))


def assert_denies(decision: Decision, categories: Iterable[str] | str, recipient: str | None = None,
                  *, purpose: str | None = None, exact: bool = False, **more: Any) -> dict:
    """The decision denies disclosing ``categories`` to a ``recipient`` kind."""
    __tracebackhide__ = True
    return assert_outcome(decision, exact=exact, **_disclosure("deny", categories, recipient, purpose, more))


def assert_retention(decision: Decision, action: str, target: str | None = None, *,
                     by: str | datetime | None = None, categories: Iterable[str] | None = None,
                     **more: Any) -> dict:
    """The decision emits a retention ``action`` (delete, purge, expire, retain) for
    ``target``, due by the instant ``by``, covering ``categories``."""
    __tracebackhide__ = True
    partial: dict = {"kind": "retention", "action": action}
    if target is not None:
        partial["target"] = target
    if by is not None:
        partial["due_by"] = by
    if categories is not None:
        partial["data_categories"] = list(categories)
    return assert_outcome(decision, **partial, **more)


def assert_obligation(decision: Decision, obligation: str, *, by: str | datetime | None = None,
                      status: str | None = None, ref: str | None = None, **more: Any) -> dict:
    """The decision owes (or updates) an ``obligation`` due by the instant ``by``."""
    __tracebackhide__ = True
    partial: dict = {"kind": "obligation", "obligation": obligation}
    for name, value in (("due_by", by), ("status", status), ("ref", ref)):
        if value is not None:
            partial[name] = value
    return assert_outcome(decision, **partial, **more)


def assert_violation(decision: Decision, clause: str | None = None, violation: str | None = None,
                     **more: Any) -> dict:
    """The decision raises a violation under ``clause`` (and with the code ``violation``)."""
    __tracebackhide__ = True
    partial: dict = {"kind": "violation"}
    if clause is not None:
        partial["clause"] = clause
    if violation is not None:
        partial["violation"] = violation
    return assert_outcome(decision, **partial, **more)


def assert_nothing(decision: Decision, kind: str | None = None, **partial: Any) -> None:
    """The decision emits no outcome of ``kind`` (no outcome at all without ``kind``)."""
    __tracebackhide__ = True
    if kind is not None:
        partial["kind"] = kind
    assert_no_outcome(decision, **partial)


# ---------------------------------------------------------------------------- expectations

def expectation_failures(decision: Decision, expect: dict) -> list[str]:
    """Every way ``decision`` falls short of a scenario expectation (empty: it meets it).

    ``expect`` has ``status`` (default ``accepted``), ``outcomes`` (partial outcomes that must
    appear; an empty list means no outcome at all), ``absent`` (must not appear), ``only``
    (no outcome beyond those listed), ``trace_includes``/``trace_excludes`` (rule ids) and
    ``errors`` (partial errors of a rejected decision).
    """
    failures = []
    status = expect.get("status", "accepted")
    if decision.status != status:
        failures.append(f"expected status {status}, got {decision.status}\n{explain(decision)}")
        return failures
    wanted = expect.get("outcomes")
    if wanted is not None and not wanted and decision.outcomes:
        failures.append("expected no outcomes\n" + explain(decision))
    matched: set[int] = set()
    missing = False
    for partial in wanted or []:
        hits = [i for i, o in enumerate(decision.outcomes) if not outcome_differences(partial, o)]
        if not hits:
            failures.append(missing_message(decision, partial))
            missing = True
        matched.update(hits)
    for partial in expect.get("absent") or []:
        found = [o for o in decision.outcomes if not outcome_differences(partial, o)]
        if found:
            failures.append(unexpected_message(decision, partial, found))
    if expect.get("only") and wanted and not missing:
        extra = [o for i, o in enumerate(decision.outcomes) if i not in matched]
        if extra:
            failures.append("expected only the listed outcomes, also found:\n"
                            + "\n".join(f"  - {_line(o)}" for o in extra) + "\n" + explain(decision))
    for rule_id in expect.get("trace_includes") or []:
        if rule_id not in decision.trace:
            failures.append(f"expected rule {rule_id} to fire\n{explain(decision)}")
    for rule_id in expect.get("trace_excludes") or []:
        if rule_id in decision.trace:
            failures.append(f"expected rule {rule_id} not to fire\n{explain(decision)}")
    for partial in expect.get("errors") or []:
        if not any(all(e.get(k) == v for k, v in partial.items()) for e in decision.errors):
            failures.append(f"expected an error {_show(partial)}\n{explain(decision)}")
    return failures


# ---------------------------------------------------------------------------- coverage

@dataclass
class RuleCoverage:
    """Which rules of which policies the decisions made fire, counted per (version, rule)."""

    fired: dict[tuple[str, str], int] = field(default_factory=dict)
    policies: dict[int, Policy] = field(default_factory=dict)

    def record(self, policy: Policy, decision: Decision) -> None:
        """Count the rules of one decision (duplicates and rejections fire nothing new)."""
        self.policies[id(policy)] = policy
        if decision.status != "accepted":
            return
        for rule_id in decision.trace:
            key = (decision.policy_version or "", rule_id)
            self.fired[key] = self.fired.get(key, 0) + 1

    def add_policy(self, policy: Policy) -> None:
        """Count the rules of a policy even if no decision used it."""
        self.policies[id(policy)] = policy

    def rules(self) -> list[tuple[str, Rule]]:
        """(version, rule) for every rule of every policy seen, without repeats."""
        seen, out = set(), []
        for policy in self.policies.values():
            for version in policy.versions:
                for rule in version.rules:
                    if (version.version, rule.id) not in seen:
                        seen.add((version.version, rule.id))
                        out.append((version.version, rule))
        return out

    @property
    def percent(self) -> float:
        """Rules fired out of all rules, in percent (100 when there are no rules)."""
        rules = self.rules()
        if not rules:
            return 100.0
        hit = sum(1 for v, r in rules if (v, r.id) in self.fired)
        return 100.0 * hit / len(rules)

    def report(self) -> list[str]:
        """The coverage report: per clause, the total, and every rule never fired."""
        rules = self.rules()
        lines = []
        for version in sorted({v for v, _ in rules}):
            mine = [r for v, r in rules if v == version]
            lines.append(f"policy {version}: rules fired by clause")
            for clause in sorted({r.clause for r in mine}):
                of = [r for r in mine if r.clause == clause]
                hit = sum(1 for r in of if (version, r.id) in self.fired)
                lines.append(f"  clause {clause}: {hit}/{len(of)} rules")
            never = [r for r in mine if (version, r.id) not in self.fired]
            if never:
                lines.append("  never fired:")
                lines += [f"    {r.id}  ({r.file}:{r.line})" for r in never]
        hit = sum(1 for v, r in rules if (v, r.id) in self.fired)
        lines.append(f"rule coverage: {hit}/{len(rules)} rules fired ({self.percent:.1f}%)")
        return lines


__all__ = [
    "Clock", "OutcomeMismatch", "RuleCoverage", "Timeline", "assert_denies", "assert_no_outcome",
    "assert_nothing", "assert_obligation", "assert_outcome", "assert_permits", "assert_retention",
    "assert_status", "assert_violation", "cached_policy", "describe_rule", "expectation_failures",
    "explain", "find_outcomes", "outcome_differences", "parse_duration",
]
