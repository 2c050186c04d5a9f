"""Rule coverage: which rules of which policies the decisions of a test run made fire,
the decisions of the timers an event fired (``Decision.fired``, :mod:`clauseline.timers`)
included."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..decision import Decision
from ..policy.model import Override, Policy, Rule
from ..timers import TIMER_SOURCE


@dataclass
class RuleCoverage:
    """Which rules of which policies the decisions made fire, counted per (version, rule)."""

    fired: dict[tuple[str, str], int] = field(default_factory=dict)
    policies: dict[int, Policy] = field(default_factory=dict)
    #: Timers' decisions handed on their own (a replay yields each just before the decision of
    #: the event that fired it, which carries it again in ``fired``): counted once.
    _timers: list[Decision] = field(default_factory=list, repr=False)

    def record(self, policy: Policy, decision: Decision) -> None:
        """Count the rules of one decision and of the timers it fired (duplicates and
        rejections fire nothing new); a timer's decision is counted once, whether it comes
        inside its event's ``fired``, on its own, or both (a replay's)."""
        self.policies[id(policy)] = policy
        if decision.event_source == TIMER_SOURCE:
            self._timers.append(decision)
            self._count(decision)
            return
        for timer in decision.fired:
            if not any(timer is seen for seen in self._timers):
                self._count(timer)
        self._timers.clear()
        self._count(decision)

    def _count(self, decision: Decision) -> None:
        if decision.status != "accepted":
            return
        for rule_id in decision.trace:
            key = (decision.policy_version or "", rule_id)
            self.fired[key] = self.fired.get(key, 0) + 1

    def add_policy(self, policy: Policy) -> None:
        """Count the rules of a policy even if no decision used it."""
        self.policies[id(policy)] = policy

    def rules(self) -> list[tuple[str, Rule | Override]]:
        """(version, rule) for every rule and override of every policy seen, without repeats."""
        seen, out = set(), []
        for policy in self.policies.values():
            for version in policy.versions:
                for rule in version.enforcing:
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
                lines.append(f"  clause {clause}: {self._fired_of(version, of)}")
            never = [r for r in mine if (version, r.id) not in self.fired]
            if never:
                lines.append("  never fired:")
                lines += [f"    {r.id}  ({r.file}:{r.line})" for r in never]
        hit = sum(1 for v, r in rules if (v, r.id) in self.fired)
        # the total counts an override with the rules (the threshold does); the split after it
        # states the count as every output and document does: "86 rules and 1 override"
        split = "; ".join(f"{version}: {self._fired_of(version, [r for v, r in rules if v == version])}"
                          for version in sorted({v for v, _ in rules}))
        lines.append(f"rule coverage: {hit}/{len(rules)} rules and overrides fired "
                     f"({self.percent:.1f}%)" + (f": {split}" if split else ""))
        return lines

    def _fired_of(self, version: str, of: list) -> str:
        """``2/4 rules`` or ``2/84 rules and 0/1 override``: how many of these fired."""
        kinds = [[r for r in of if not isinstance(r, Override)],
                 [r for r in of if isinstance(r, Override)]]
        hit = [sum(1 for r in kind if (version, r.id) in self.fired) for kind in kinds]
        text = f"{hit[0]}/{len(kinds[0])} rule{'' if len(kinds[0]) == 1 else 's'}"
        if kinds[1]:
            text += f" and {hit[1]}/{len(kinds[1])} override{'' if len(kinds[1]) == 1 else 's'}"
        return text
