"""Assertions about decisions that read like the policy, and the matching behind them.

Usable with or without pytest (the plugin in :mod:`clauseline.testing.plugin` only wires these
into fixtures); import them from :mod:`clauseline.testing`.

A partial outcome (the keyword arguments of :func:`assert_outcome`, or an entry of a scenario's
``outcomes``) matches an actual outcome when every field it lists matches: ``data_categories``
must include the listed categories (all of them and no others with ``exact=True``), ``basis``
and ``overrides`` may list rule ids or partial entries, ``due_by`` compares instants (``...T09:30:00+02:00`` is ``...T07:30:00Z``),
every other field must be equal. Failures print the expected outcome beside the closest actual
ones and the rules that fired, with their clause.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable

from ..decision import Decision
from ..explain import outcome_fields, report, rule_line, show_value
from .clock import utc_instant
from .timeline import find_rule


def _instant(value: Any) -> datetime | None:
    """The instant an expected or actual value names, or None when it names none."""
    try:
        return utc_instant(value) if isinstance(value, (str, datetime)) else None
    except ValueError:
        return None


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
        return f"{name}: expected {show_value(expected)}, absent"
    actual = outcome[name]
    if name == "data_categories" and isinstance(expected, list) and isinstance(actual, list):
        if set(expected) == set(actual) or (not exact and set(expected) <= set(actual)):
            return None
        how = "exactly" if exact else "to include"
        return f"data_categories: expected {how} {show_value(sorted(set(expected)))}, got {show_value(actual)}"
    if name in ("basis", "overrides") and isinstance(expected, list):
        if not _basis_differs(expected, actual, exact):
            return None
        rules = [b.get("rule") for b in actual] if isinstance(actual, list) else actual
        return f"{name}: expected {show_value(expected)}, got rules {show_value(rules)}"
    if name == "due_by" or isinstance(expected, datetime):
        a, b = _instant(expected), _instant(actual)
        if a is not None and b is not None:
            return None if a == b else f"{name}: expected {show_value(expected)}, got {actual}"
    return None if expected == actual else f"{name}: expected {show_value(expected)}, got {show_value(actual)}"


def outcome_differences(partial: dict, outcome: dict) -> list[str]:
    """Every field of ``partial`` that ``outcome`` does not match (empty: it matches).
    ``partial`` may carry ``exact: true`` to require equal category sets and basis lists."""
    exact = bool(partial.get("exact"))
    found = (field_difference(k, v, outcome, exact) for k, v in partial.items() if k != "exact")
    return [d for d in found if d is not None]


def find_outcomes(decision: Decision, **partial: Any) -> list[dict]:
    """The decision's outcomes that match the partial outcome, in the decision's order."""
    return [o for o in decision.outcomes if not outcome_differences(partial, o)]


def explain(decision: Decision, outcomes: bool = True) -> str:
    """The decision as failure messages show it (:func:`clauseline.explain.report`), with the
    rules looked up in the policies the test tooling loaded."""
    return report(decision, find_rule, outcomes)


def describe_rule(rule_id: str, version: str | None = None) -> str:
    """One line naming a rule, its clause, its title and where it is written."""
    return rule_line(rule_id, find_rule(rule_id, version))


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
    lines = [f"expected outcome not found: {show_value({k: partial[k] for k in fields})}"
             + ("  (exact)" if partial.get("exact") else "")]
    closest = _closest(decision, partial)
    if closest:
        lines.append("closest actual outcomes:")
        for outcome, differs in closest:
            lines.append(f"  - {outcome_fields(outcome)}")
            lines.append(f"      {len(fields) - len(differs)} of {len(fields)} fields match; "
                         + "; ".join(differs))
    return "\n".join(lines + [explain(decision, outcomes=len(closest) < len(decision.outcomes))])


def unexpected_message(decision: Decision, partial: dict, found: list[dict]) -> str:
    """The failure text for outcomes that match a partial outcome that must not appear."""
    lines = [f"expected no outcome matching {show_value(partial)}, found {len(found)}:"]
    lines += [f"  - {outcome_fields(o)}" for o in found]
    return "\n".join(lines + [explain(decision)])


class OutcomeMismatch(AssertionError):
    """An assertion about a decision's outcomes failed; the message shows expected and actual."""


def _refuse_rejected(decision: Decision) -> None:
    """An assertion about outcomes on a rejected event would pass or fail for the wrong reason
    (a rejected event has no outcomes): it fails, saying why, unless the test asked for it."""
    __tracebackhide__ = True
    if decision.status == "rejected":
        raise OutcomeMismatch(
            "the event was rejected, so it has no outcomes to assert on; to expect the rejection, "
            "use assert_rejected(decision) or assert_status(decision, \"rejected\")\n"
            + explain(decision))


def assert_rejected(decision: Decision, path: str | None = None, code: str | None = None) -> Decision:
    """The event was rejected (optionally with an error at the JSON Pointer ``path``, and with
    the error ``code``)."""
    __tracebackhide__ = True
    assert_status(decision, "rejected")
    wanted = {k: v for k, v in (("path", path), ("code", code)) if v is not None}
    if wanted and not any(all(e.get(k) == v for k, v in wanted.items()) for e in decision.errors):
        raise OutcomeMismatch(f"expected an error {show_value(wanted)}\n{explain(decision)}")
    return decision


def assert_status(decision: Decision, status: str = "accepted") -> Decision:
    """The decision has this status (``accepted``, ``duplicate`` or ``rejected``)."""
    __tracebackhide__ = True
    if decision.status != status:
        raise OutcomeMismatch(f"expected status {status}, got {decision.status}\n{explain(decision)}")
    return decision


def assert_outcome(decision: Decision, *, exact: bool = False, **partial: Any) -> dict:
    """The decision has an outcome matching the partial outcome; return the first such."""
    __tracebackhide__ = True
    _refuse_rejected(decision)
    wanted = dict(partial, exact=True) if exact else partial
    for outcome in decision.outcomes:
        if not outcome_differences(wanted, outcome):
            return outcome
    raise OutcomeMismatch(missing_message(decision, wanted))


def assert_no_outcome(decision: Decision, **partial: Any) -> None:
    """No outcome of the decision matches the partial outcome."""
    __tracebackhide__ = True
    _refuse_rejected(decision)
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


def expectation_failures(decision: Decision, expect: dict) -> list[str]:
    """Every way ``decision`` falls short of a scenario expectation (empty: it meets it).

    ``expect`` has ``status`` (default ``accepted``), ``outcomes`` (partial outcomes that must
    appear; an empty list means no outcome at all), ``absent`` (must not appear), ``only``
    (no outcome beyond those listed), ``trace_includes``/``trace_excludes`` (rule ids),
    ``out_of_order`` (whether the decision is marked as earlier than its subject's latest event)
    and ``errors`` (partial errors of a rejected decision); ``timers``, the same (but status)
    for the decisions of the timers fired before the event, taken together.
    """
    failures = []
    if "timers" in expect:
        failures += [f"the timers fired before it: {f}"
                     for f in expectation_failures(_timers_together(decision), expect["timers"])]
    status = expect.get("status", "accepted")
    if decision.status != status:
        failures.append(f"expected status {status}, got {decision.status}\n{explain(decision)}")
        return failures
    if "out_of_order" in expect and bool(decision.out_of_order) != expect["out_of_order"]:
        failures.append(f"expected the decision {'' if expect['out_of_order'] else 'not '}to be "
                        f"marked out_of_order, got {decision.out_of_order}\n{explain(decision)}")
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
                            + "\n".join(f"  - {outcome_fields(o)}" for o in extra) + "\n" + explain(decision))
    for rule_id in expect.get("trace_includes") or []:
        if rule_id not in decision.trace:
            failures.append(f"expected rule {rule_id} to fire\n{explain(decision)}")
    for rule_id in expect.get("trace_excludes") or []:
        if rule_id in decision.trace:
            failures.append(f"expected rule {rule_id} not to fire\n{explain(decision)}")
    for partial in expect.get("errors") or []:
        if not any(all(e.get(k) == v for k, v in partial.items()) for e in decision.errors):
            failures.append(f"expected an error {show_value(partial)}\n{explain(decision)}")
    return failures


def _timers_together(decision: Decision) -> Decision:
    """The decisions of the timers fired before ``decision``'s event as one: their outcomes
    and rules fired, in the order they fired (for a scenario's ``timers`` expectation)."""
    from ..timers import TIMER_SOURCE
    fired = decision.fired
    return Decision(", ".join(d.event_id for d in fired) or "(no timer fired)", TIMER_SOURCE,
                    "clock.tick", fired[-1].time if fired else decision.time,
                    fired[-1].policy_version if fired else decision.policy_version, "accepted",
                    tuple(o for d in fired for o in d.outcomes),
                    tuple(r for d in fired for r in d.trace))
