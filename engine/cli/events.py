"""Commands over events: ``evaluate`` (one event), ``replay`` (a log, with ``--compare``),
``explain`` (why and why not) and ``diff`` (a log under two policy versions)."""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from pathlib import Path

from .. import canonical
from ..decision import Decision, rejected
from ..errors import ClauselineError, Problem
from ..evaluation import empty_state
from ..events import Oversized, parse_event, read_lines
from ..events.parsing import loads_bounded
from ..explain import describe
from ..records import plain_state
from ..session import MemoryStore, Session
from ..timers import TIMER_SOURCE
from .common import (ERROR, count_events, echo, errors_exit_2, forced, load, open_log,
                     progress, read_event, read_state, show, state_checked, stateless)

#: Events per transaction of ``replay --db`` (group commit): large enough that the commit's cost
#: (an fsync in SQLite, a round trip in PostgreSQL) is shared by many events, small enough that
#: the write lock is held for well under a second (bench/README.md, "Group commit").
DEFAULT_REPLAY_BATCH = 500


def cmd_evaluate(args) -> int:
    if args.db is not None and (args.state or args.state_out):
        echo("clauseline evaluate: --db keeps the state in the store; "
             "it cannot be combined with --state or --state-out", sys.stderr)
        return 2
    policy = load(args.rules, args.policy)
    try:
        raw = read_event(args.event)
    except OSError as error:
        echo(f"clauseline: cannot read {args.event}: {error.strerror}", sys.stderr)
        return 1
    if args.db is not None:
        from ..store import open_store
        store = open_store(args.db)
        try:
            decision = Session(policy, store).submit_text(raw)
        finally:
            store.close()
    else:
        # the same path as every event, over a store in memory that starts from the state file
        memory = MemoryStore(read_state(args.state, policy) if args.state else None)
        if args.state:
            with state_checked(args.state):
                decision = Session(policy, memory).submit_text(raw)
        else:
            decision = Session(policy, memory).submit_text(raw)
        new_state = memory.state
        if not args.state and decision.status == "accepted":
            decision = stateless(policy, decision)
        if args.state_out:
            Path(args.state_out).write_text(canonical.dumps(plain_state(new_state)) + "\n",
                                            encoding="utf-8")
    show(decision, policy, explain=args.explain, pretty=args.pretty)
    return 1 if decision.status == "rejected" else 0


class Recorded:
    """Decisions recorded earlier, to compare a replay with: a ``replay`` output (one decision
    per non-blank line, rejected and duplicate ones included), or what a store keeps: a ``log
    export`` or ``clauseline merge``'s output (accepted events only, each once). Matched by
    (source, id), in order of occurrence; a line without an id by its position among the
    replay output's decisions.

    A recording of accepted decisions only, each event once, is read as a store's (``stored``):
    a repeat or a rejected line of the log has no counterpart there, so it is not compared,
    except that a line rejected now whose event the recording accepted is a difference."""

    def __init__(self, path: str):
        self.path, self.export = path, False
        self.by_key: dict[tuple, list[dict]] = {}
        self.in_order: list[dict] = []
        with open(path, encoding="utf-8", errors="surrogateescape") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:  # nesting bounded: comparing and hashing the value recurse into it
                    value = loads_bounded(line)
                except (ValueError, RecursionError):
                    value = None
                if isinstance(value, dict) and "decision" in value and "hash" in value:
                    self.export, value = True, value["decision"]
                if not isinstance(value, dict) or "status" not in value or not (
                        isinstance(value.get("outcomes", []), list)
                        and all(isinstance(o, dict) for o in value.get("outcomes", []))):
                    raise ClauselineError([Problem(
                        "compare.invalid", f"{path}:{number}: neither a decision nor a log "
                        "record: --compare takes a replay's output or a log export")])
                self.in_order.append(value)
                if value.get("event_source") is not None and value.get("event_id") is not None:
                    self.by_key.setdefault((value["event_source"], value["event_id"]), []).append(value)
        self.stored = self.export or (
            all(d.get("status") == "accepted" for d in self.in_order)
            and sum(map(len, self.by_key.values())) == len(self.in_order)
            and all(len(found) == 1 for found in self.by_key.values()))

    def counterpart(self, decision: Decision, index: int) -> tuple[bool, dict | None]:
        """(whether to compare, the recorded decision or None)."""
        if decision.event_id is None or decision.event_source is None:
            if self.stored:
                return False, None
            return True, self.in_order[index] if index < len(self.in_order) else None
        found = self.by_key.get((decision.event_source, decision.event_id))
        if self.stored and decision.status != "accepted" and not found:
            return False, None  # a store keeps accepted events only, each once
        return True, found.pop(0) if found else None


def difference(now: dict, then: dict | None) -> str | None:
    """How a decision differs from the recorded one, in a line; None when equal."""
    if then is None:
        return "no recorded decision"
    if now == then:
        return None
    parts = []
    for field in ("status", "policy_version"):
        if now.get(field) != then.get(field):
            parts.append(f"{field} {then.get(field)} -> {now.get(field)}")
    was = {canonical.dumps(o) for o in then.get("outcomes", [])}
    new = {canonical.dumps(o) for o in now.get("outcomes", [])}
    def rules(texts):
        return ", ".join(sorted({json.loads(t).get("rule", "?") for t in texts}))
    if new - was:
        parts.append(f"{len(new - was)} outcome(s) added ({rules(new - was)})")
    if was - new:
        parts.append(f"{len(was - new)} outcome(s) removed ({rules(was - new)})")
    if now.get("trace") != then.get("trace") and not (new ^ was):
        parts.append("trace differs")
    return "; ".join(parts) or "differs (errors or out_of_order)"


def cmd_replay(args) -> int:
    if args.compare:  # a checking command: an error exits 2, a difference 1
        return errors_exit_2("replay --compare", lambda: _cmd_replay(args))
    return _cmd_replay(args)


def _cmd_replay(args) -> int:
    store = None
    if args.db is not None:  # first: a store fault is reported before the policy loads
        from ..store import open_store
        store = open_store(args.db)
    try:
        return _replay(args, store)
    finally:
        if store is not None:
            store.close()


def _replay(args, store) -> int:
    policy = load(args.rules, args.policy)
    session = Session(policy, store)
    try:
        source = open_log(args.log)
    except OSError as error:
        echo(f"clauseline: cannot read {args.log}: {error.strerror}", sys.stderr)
        return ERROR if args.compare else 1
    out = None
    try:
        recorded = Recorded(args.compare) if args.compare else None
        out = open(args.out, "w", encoding="utf-8") if args.out else sys.stdout
    except BaseException:
        if source is not sys.stdin.buffer:
            source.close()
        raise
    differences: list[str] = []
    statuses, kinds, rules = Counter(), Counter(), Counter()
    refused: list[int] = []
    started = time.perf_counter()
    number = 0
    timers = printed = 0  # the timers' decisions printed, and every decision printed
    try:
        with progress(args.quiet, lambda: count_events(args.log), "replay") as advance:
            batch = args.batch or (1 if args.log == "-" else DEFAULT_REPLAY_BATCH)
            for number, decision in session.replay(read_lines(source), order=args.order,
                                                   batch=batch):
                printed += 1
                if decision.event_source == TIMER_SOURCE and decision.status != "rejected":
                    timers += 1  # a deadline's timer, fired before the line's event
                else:
                    advance()
                    statuses[decision.status] += 1
                if decision.status == "rejected":
                    refused.append(number)
                for outcome in decision.outcomes:
                    kinds[outcome["kind"]] += 1
                if decision.status == "accepted":  # as clauses --log counts: a duplicate is
                    rules.update(decision.trace)   # not a new firing, it repeats the first
                text = (describe(decision, policy if args.explain else None)
                        if args.format == "text" else decision.to_json())
                out.write(text + "\n")
                if recorded is not None:
                    compare, then = recorded.counterpart(decision, printed - 1)
                    why = difference(decision.as_dict(), then) if compare else None
                    if why is not None:
                        differences.append(f"line {number} ({decision.event_source or '-'} "
                                           f"{decision.event_id or '-'}): {why}")
    except ClauselineError as error:
        if any(p.code.startswith("store.") for p in error.problems):
            # what was printed before the fault is stored; say how far the replay got
            echo(f"clauseline replay: stopped by a store fault after line {number}: "
                 f"{sum(statuses.values())} event(s) decided and printed before it "
                 f"({statuses['accepted']} accepted and stored)", sys.stderr)
        raise
    finally:
        if out is not sys.stdout:
            out.close()
        if source is not sys.stdin.buffer:
            source.close()
        if store is not None:
            store.close()
    elapsed = time.perf_counter() - started
    total = sum(statuses.values())
    echo(f"clauseline replay: {total} events in {elapsed:.2f}s: "
         + ", ".join(f"{statuses[s]} {s}" for s in ("accepted", "duplicate", "rejected"))
         + (f"; {timers} deadline timer(s) fired, each a decision of its own" if timers else ""),
         sys.stderr)
    # every decision printed, a duplicate's repeat included (the report counts both ways)
    echo("  outcomes (duplicates' repeats included): "
         + (", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) or "none"),
         sys.stderr)
    if args.summary:
        echo("  rules fired (accepted events; duplicates and rejected lines not counted):",
             sys.stderr)
        for rule, n in sorted(rules.items()):
            echo(f"    {n:6d}  {rule}", sys.stderr)
    if args.compare:
        for line in differences[:200]:
            echo(f"  differs: {line}", sys.stderr)
        if len(differences) > 200:
            echo(f"  ... and {len(differences) - 200} more", sys.stderr)
        echo(f"clauseline replay --compare: {len(differences)} of {printed} decision(s) differ "
             f"from {args.compare}", sys.stderr)
        if differences:
            return 1
    if args.strict and refused:
        shown = ", ".join(str(n) for n in refused[:20]) + (", ..." if len(refused) > 20 else "")
        echo(f"clauseline replay --strict: {len(refused)} line(s) rejected (line {shown})",
             sys.stderr)
        return 1
    return 0


def cmd_diff(args) -> int:
    # exit codes as diff(1) (docs/auditing.md, "Exit codes"): 0 no difference, 1 differences,
    # 2 an error (an unknown version, an unreadable log, rules that do not load)
    return errors_exit_2("diff", lambda: _diff(args))


def _diff(args) -> int:
    from ..explain import outcome_text
    policy = load(args.rules, fixtures=True)
    before = forced(policy, args.policy, "--policy")
    after = forced(policy, args.against, "--against")
    try:
        with open_log(args.log) as handle:
            lines = list(read_lines(handle))
    except OSError as error:
        echo(f"clauseline diff: cannot read {args.log}: {error.strerror}", sys.stderr)
        return ERROR
    # per rule: outcomes only under A, only under B, and a few examples of each
    only: dict[tuple[str, str], Counter] = {}
    examples: dict[tuple[str, str, str], list[str]] = {}
    changed = total = 0
    with progress(args.quiet, sum(1 for line in lines if isinstance(line, Oversized)
                                  or line.strip()), "diff") as advance:
        pairs = zip(Session(before).replay(lines), Session(after).replay(lines))
        for (number, a), (_, b) in pairs:
            advance()
            total += 1
            was = {canonical.dumps(o): o for o in a.outcomes}
            now = {canonical.dumps(o): o for o in b.outcomes}
            if a.status == b.status and was.keys() == now.keys():
                continue
            changed += 1
            for side, texts, source in (("A", was.keys() - now.keys(), was),
                                        ("B", now.keys() - was.keys(), now)):
                for text in sorted(texts):
                    outcome = source[text]
                    key = (outcome["clause"], outcome["rule"])
                    only.setdefault(key, Counter())[side] += 1
                    shown = examples.setdefault((*key, side), [])
                    if len(shown) < args.examples:
                        shown.append(f"line {number} ({a.event_source} {a.event_id}): "
                                     + outcome_text(outcome))
            if a.status != b.status:
                only.setdefault(("-", "(status)"), Counter())["A" if a.status == "accepted" else "B"] += 1
    if args.format == "json":
        echo(canonical.dumps({
            "log": args.log, "policy": args.policy, "against": args.against, "events": total,
            "decisions_differ": changed,
            "rules": [{"clause": c, "rule": r, "only_policy": n["A"], "only_against": n["B"],
                       "examples_policy": examples.get((c, r, "A"), []),
                       "examples_against": examples.get((c, r, "B"), [])}
                      for (c, r), n in sorted(only.items())]}))
        return 1 if changed else 0
    echo(f"clauseline diff: {total} events; {changed} decision(s) differ between "
         f"{args.policy} (A) and {args.against} (B)")
    for clause in sorted({c for c, _ in only}):
        echo(f"  clause {clause}")
        for (c, rule), n in sorted(only.items()):
            if c != clause:
                continue
            echo(f"    {rule}: {n['A']} outcome(s) only under A, {n['B']} only under B")
            for side in ("A", "B"):
                for line in examples.get((c, rule, side), []):
                    echo(f"      {side}: {line}")
    return 1 if changed else 0


def cmd_explain(args) -> int:
    from ..evaluation.whynot import Explanation, explain_event
    from ..explain import render_why
    from ..redact import mask_strings
    if args.db is not None and args.state:
        echo("clauseline explain: --db and --state are two sources of state: give one", sys.stderr)
        return 2
    policy = load(args.rules, args.policy)
    try:
        raw = read_event(args.event)
    except OSError as error:
        echo(f"clauseline: cannot read {args.event}: {error.strerror}", sys.stderr)
        return 1
    event, problems = parse_event(raw)
    if problems:
        # refused before evaluation (not JSON, not an object, too large): explained as a
        # rejected event, in the same form as one the schemas refuse
        explanation = Explanation(rejected(None, problems))
    else:
        store = None
        if args.db is not None:
            from ..store import open_store
            store = open_store(args.db, create=False)
        try:
            # the state the event would meet: read from the store, nothing written
            state = (Session(policy, store).state_for(event) if store is not None
                     else read_state(args.state, policy) if args.state else empty_state())
            if args.state:
                with state_checked(args.state):
                    explanation = explain_event(policy, state, event)
            else:
                explanation = explain_event(policy, state, event)
        finally:
            if store is not None:
                store.close()
    if not args.db and not args.state and explanation.decision.status == "accepted":
        stateless(policy, explanation.decision, "explain")
    if args.format == "json":
        echo(canonical.dumps(mask_strings(explanation.as_dict())))
    else:
        echo(render_why(explanation, policy))
    return 1 if explanation.decision.status == "rejected" else 0


def register(subparsers, parents) -> None:
    """``evaluate``, ``replay``, ``diff`` and ``explain``."""
    from .common import at_least_one, not_negative

    p = subparsers.add_parser(
        "evaluate", parents=[parents.rules, parents.policy("decide every event"), parents.pretty,
                             parents.explain(
                                 "print the decision as text, each outcome with the sentence its "
                                 "rule enforces and the interpretations it relies on"),
                             parents.db(
                                 "evaluate against a durable store and record the event there "
                                 "(sqlite:///file.db, a path ending .db, or postgresql://...): "
                                 "the subject's stored state is used, and an event already seen "
                                 "(same source and id) prints its first decision with status "
                                 "duplicate and changes nothing")],
        help="evaluate one event (JSON file, or - for stdin)",
        description="Evaluate one CloudEvent and print its decision as JSON. "
        "Exit 1 if the event is rejected.")
    p.add_argument("event", metavar="EVENT.json")
    p.add_argument("--state", metavar="FILE", help="start from this state (JSON; default empty)")
    p.add_argument("--state-out", metavar="FILE", help="write the state after the event here")
    p.set_defaults(func=cmd_evaluate)

    p = subparsers.add_parser(
        "replay", parents=[parents.rules, parents.policy("decide every event"),
                           parents.db("durable store (sqlite:///file.db or postgresql://...); "
                                      "default: an empty in-memory state"),
                           parents.format("jsonl", "text", help="jsonl (canonical JSON, default) "
                                          "or text (readable)"),
                           parents.explain("with --format text: quote the sentence behind each "
                                           "outcome"),
                           parents.quiet],
        help="replay a JSON Lines event log",
        description="Evaluate every event of a JSON Lines log in order. Decisions "
        "go to stdout (one JSON line per event, in input order; rejected events "
        "included with their errors), a summary to stderr. The same log always "
        "gives byte-identical output.")
    p.add_argument("log", metavar="LOG.jsonl", help="the log (- for stdin)")
    p.add_argument("--out", metavar="FILE", help="write decisions here instead of stdout")
    p.add_argument("--batch", type=at_least_one, metavar="N",
                   help=f"with --db: events per transaction (group commit; default "
                   f"{DEFAULT_REPLAY_BATCH} for a file, 1 for stdin, so that a stream is stored "
                   "and printed as each event arrives); 1 commits each event on its own. The "
                   "decisions are the same; each is printed once its batch is committed, so a "
                   "crash or fault loses only events not printed yet, and running the log again "
                   "completes it")
    p.add_argument("--summary", action="store_true",
                   help="also list how often each rule fired, over accepted events (as "
                   "clauses --log counts; a duplicate repeats its first decision and is not "
                   "counted again)")
    p.add_argument("--compare", metavar="RECORDED",
                   help="compare every decision with a recorded one (a replay's output, a "
                   "log export or clauseline merge's output; the last two hold accepted events "
                   "only, so the log's rejected lines and repeats are not compared with them), "
                   "matched by source and id: each difference on stderr (status, "
                   "outcomes added or removed, by rule); exit 0 if every decision is the "
                   "same, 1 if any differs or has no recorded counterpart, 2 on an error (the "
                   "log or RECORDED unreadable, RECORDED not decisions, an unknown --policy, "
                   "a store fault), as verify and diff. Decisions recorded by a store have sensitive numbers "
                   "reduced: compare a store's export with a replay into a store")
    p.add_argument("--strict", action="store_true",
                   help="exit 1 if any line was rejected (all lines are still replayed and "
                   "printed; the rejected line numbers go to stderr)")
    p.add_argument("--order", choices=["input", "time"], default="input",
                   help="input (default): evaluate and print the events in the log's order; "
                   "time: sort them stably by event time first (for logs ordered by ingestion; "
                   "the whole log is read into memory to sort it), and print the decisions in "
                   "that order. Either way memory is read as of each "
                   "event's time; an event earlier than its subject's latest is marked "
                   "out_of_order in its decision")
    p.set_defaults(func=cmd_replay)

    p = subparsers.add_parser(
        "diff", parents=[parents.rules, parents.format("text", "json"), parents.quiet],
        help="what a policy change would change, over a log",
        description="Replay a log twice in memory, every event decided under "
        "policy version A (--policy) and under B (--against), whatever its time, "
        "and report the decisions that differ: per clause and rule, how many "
        "outcomes only A gives and only B gives, with examples (line, source, "
        "id). Exit codes as diff(1), and as verify and replay --compare: 0 no "
        "difference, 1 differences, 2 an error (an unknown version, an unreadable log, "
        "rules that do not load, wrong usage).")
    p.add_argument("log", metavar="LOG.jsonl", help="the log (- for stdin)")
    # not the shared --policy: here a version to compare from, required
    p.add_argument("--policy", metavar="A", required=True, help="the version to compare from")
    p.add_argument("--against", metavar="B", required=True, help="the version to compare with")
    p.add_argument("--examples", type=not_negative, default=3, metavar="N",
                   help="examples per rule and side (default 3)")
    p.set_defaults(func=cmd_diff)

    p = subparsers.add_parser(
        "explain", parents=[parents.rules,
                            parents.db("an existing store to read the state from"),
                            parents.format("text", "json"),
                            parents.policy("explain the event")],
        help="why an event was decided as it was, and why not",
        description="Evaluate one event (nothing is stored) and explain it: the "
        "rules that fired, with the conditions that matched and their values, the "
        "clause sentence and interpretations behind each; the rules of its type "
        "that did not fire, each with the first condition that failed; the "
        "overrides that applied. With --db the event meets the subject's stored "
        "state (read only), with --state a state file, else an empty state. "
        "Exit 1 if the event is rejected.")
    p.add_argument("event", metavar="EVENT.json", help="the event (- for stdin)")
    p.add_argument("--state", metavar="FILE", help="a state file (as evaluate --state-out writes)")
    p.set_defaults(func=cmd_explain)
