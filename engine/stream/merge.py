"""Reading a partitioned stream's decisions back: one decision per event, as a serial replay
of the same log would have made it.

Each partition's store holds, for every event the partition evaluated, the decision it made
against its own records. Of that decision, the partition vouches only for the outcomes about its
own subjects (:func:`clauseline.stream.partitioning.owns`), and the owner partition (the one of
the event's CloudEvents ``subject``) also for the envelope (status, policy version,
``out_of_order``), the outcomes about every subject (``*``) and the trace. The merged decision
is the owner's with the outcomes of every partition kept this way, less a ``retain`` of a target
that another partition deletes (as one evaluation settles them), in the documented order
(kind, clause, rule, subject), and the trace extended by the rules behind the outcomes other
partitions contributed. A subject-less event (``clock.tick``, ``policy.changed``) has no owner:
every partition decided it for its own subjects, and its merged decision is the union, with
the envelope of the lowest partition.

:func:`partial` is what a consumer publishes to the decisions stream for one partition, and
:func:`merge` what a reader of that stream (or of the stores, :func:`merged_decisions`) does.
"""

from __future__ import annotations

import sys
from typing import Iterable

from .. import canonical
from ..decision import GLOBAL, outcome_sort_key, settle_retention
from ..store import open_store
from .partitioning import owns, partition_of
from .stores import partition_url


def _rules_of(outcome: dict) -> set[str]:
    found = {outcome.get("rule")}
    for basis in outcome.get("basis") or ():
        if isinstance(basis, dict):
            found.add(basis.get("rule"))
    return {r for r in found if isinstance(r, str)}


def partial(decision: dict, partition: int, partitions: int, owner: bool) -> dict:
    """What ``partition`` vouches for of a decision it made: the outcomes about its own
    subjects (and, when it is the owner or the event has no subject, those about everyone);
    the whole trace for the owner, else the rules that fired and decided nothing (the same in
    every partition) plus those behind the kept outcomes."""
    kept, dropped = [], []
    for outcome in decision.get("outcomes") or ():
        everyone = outcome.get("subject") in (GLOBAL, None)
        mine = owns(outcome, partition, partitions) or (owner and everyone)
        (kept if mine else dropped).append(outcome)
    trace = list(decision.get("trace") or ())
    if not owner:
        behind_kept = set().union(*(_rules_of(o) for o in kept)) if kept else set()
        behind_any = set().union(*(_rules_of(o) for o in kept + dropped)) \
            if kept or dropped else set()
        trace = [r for r in trace if r in behind_kept or r not in behind_any]
    return dict(decision, outcomes=kept, trace=trace)


def merge(parts: Iterable[tuple[dict, bool]], rule_order=None) -> dict:
    """One decision from the partials of every partition that decided an event: (partial,
    whether it is the owner's). ``rule_order(rule_id)`` sorts the trace (default: by clause
    letter, then id, which is the documented order when rule ids start with their clause)."""
    parts = list(parts)
    owners = [p for p, is_owner in parts if is_owner]
    envelope = owners[0] if owners else parts[0][0]
    seen, outcomes, trace = set(), [], set()
    for part, _ in parts:
        for outcome in part.get("outcomes") or ():
            text = canonical.dumps(outcome)
            if text not in seen:
                seen.add(text)
                outcomes.append(outcome)
        trace.update(part.get("trace") or ())
    # as in one evaluation: a target that one partition deletes (a child's recording, say) is
    # not retained by another for its own subjects
    outcomes = settle_retention(outcomes)
    outcomes.sort(key=outcome_sort_key)
    key = rule_order or (lambda r: (r.split(".", 1)[0], r))
    return dict(envelope, outcomes=outcomes, trace=sorted(trace, key=key))


def rule_order(policy):
    """The documented trace order of a policy's rules (clause, then id)."""
    keys = {}
    for version in policy.versions:
        for rule in version.enforcing:
            keys.setdefault(rule.id, rule.sort_key)
    return lambda r: keys.get(r, (r.split(".", 1)[0], r))


def stored_partials(base: str, partitions: int) -> dict[tuple[str, str], list[tuple[dict, bool]]]:
    """Every partition store's decisions, as partials keyed by (source, id)."""
    raw: dict[tuple[str, str], list[tuple[int, str | None, dict]]] = {}
    for k in range(partitions):
        store = open_store(partition_url(base, k), create=False)
        try:
            for record in store.log():  # in seq order
                event = record["event"]
                raw.setdefault((event["source"], event["id"]), []).append(
                    (k, event.get("subject"), record["decision"]))
        finally:
            store.close()
    return {key: partials_of(rows, partitions) for key, rows in raw.items()}


def partials_of(rows: list[tuple[int, str | None, dict]],
                partitions: int) -> list[tuple[dict, bool]]:
    """The partials of one event from what each partition stored: (partition, the stored
    event's subject, its decision). A partition that decided a foreign event as a clock tick
    for its own deadlines stored it without subject; the owner stored it with its subject."""
    subjects = [s for _, s, _ in rows if s is not None]
    owner = partition_of(subjects[0], partitions) if subjects else None
    out = []
    for k, _, decision in sorted(rows, key=lambda r: r[0]):
        if owner is None:  # a subject-less event: every partition decided it for its subjects
            out.append((partial(decision, k, partitions, owner=True), not out))
        else:
            out.append((partial(decision, k, partitions, owner=k == owner), k == owner))
    return out


def merged_decisions(base: str, partitions: int, policy=None) -> dict[tuple[str, str], dict]:
    """The merged decision of every event the partition stores of ``base`` hold, keyed by
    (source, id): what a serial replay into one store would have stored."""
    order = rule_order(policy) if policy is not None else None
    return {key: merge(parts, order) for key, parts in stored_partials(base, partitions).items()}


__all__ = ["in_time_order", "merge", "merged_decisions", "partial", "partials_of", "rule_order",
           "stored_partials"]


def in_time_order(merged: dict[tuple[str, str], dict]) -> list[dict]:
    """The merged decisions by event time, then source and id (the order ``clauseline merge``
    prints them in; a serial replay of a log in time order prints the same order)."""
    from ..records import instant_key

    def when(item):
        (source, event_id), decision = item
        try:
            return (instant_key(decision.get("time")), source, event_id)
        except (TypeError, ValueError):
            return ("", source, event_id)

    return [decision for _, decision in sorted(merged.items(), key=when)]


def main(argv: list[str] | None = None) -> int:
    """``python -m clauseline.stream.merge --db URL --partitions N``: what ``clauseline merge``
    prints (the form before the subcommand existed; this stage does not import the CLI)."""
    from ..errors import ClauselineError
    from ..policy import load_policy
    from ..redact import MaskedArgumentParser

    parser = MaskedArgumentParser(prog="python -m clauseline.stream.merge",
                                  description="The decisions of a partitioned stream's "
                                  "stores, merged into one per event: clauseline merge "
                                  "(docs/scale.md).")
    parser.add_argument("--db", metavar="URL", required=True, help="the --db of clauseline consume")
    parser.add_argument("--partitions", metavar="N", type=int, required=True,
                        help="the stream's partition count")
    parser.add_argument("--rules", metavar="DIR", help="policy rules folder (trace order)")
    args = parser.parse_args(argv)
    if args.partitions < 1:
        parser.error("--partitions must be at least 1")
    try:
        merged = merged_decisions(args.db, args.partitions, load_policy(args.rules))
    except ClauselineError as error:
        print(f"clauseline: {error}", file=sys.stderr)
        return 1
    for decision in in_time_order(merged):
        print(canonical.dumps(decision))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
