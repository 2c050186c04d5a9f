"""The ``clauseline`` command line. Run ``clauseline --help`` or ``clauseline COMMAND --help``.

Exit codes: 0 success; 1 the input was refused (a rejected event for ``evaluate``, rule-file
errors for ``rules check``, an unreadable file); 2 wrong usage.
"""

from __future__ import annotations

import argparse
import json
from contextlib import contextmanager
from dataclasses import replace
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

from . import canonical
from .decision import Decision, rejected
from .errors import ClauselineError, PolicyLoadError, Problem
from .evaluation import empty_state, evaluate
from .evaluation.state import plain_state
from .events import MAX_EVENT_BYTES, Oversized, parse_event, read_lines
from .explain import describe
from .policy import load_policy
from .policy.model import Rule
from .session import Session

DESCRIPTION = """\
clauseline: a privacy policy (Securus Technologies, 2019-05-04, clauses A to W) as declarative
rules. Events are CloudEvents (JSON); every event gives one decision listing permitted or denied
disclosures, retention actions, notices, obligations and violations, each citing its clause.
The event's `time` is the only clock, so replaying a log always gives the same decisions.
"""

EPILOG = """\
examples:
  clauseline evaluate event.json
  clauseline replay examples/demo-log.jsonl > decisions.jsonl
  clauseline replay examples/demo-log.jsonl --format text
  clauseline replay log.jsonl --db sqlite:///clauseline.db > decisions.jsonl
  clauseline due --db sqlite:///clauseline.db --at 2019-08-15T00:00:00Z
  clauseline rules check --rules my-rules/
  clauseline serve --db sqlite:///clauseline.db
"""


def _policy(args, fixtures: bool = False):
    """The policy of a command: every version in force at its time, or with ``--policy VERSION``
    that version alone, at every time (a test fixture version too, when named)."""
    forced = getattr(args, "policy", None)
    policy = load_policy(args.rules, fixtures=fixtures or bool(forced))
    if not forced:
        return policy
    return _forced(policy, forced, "--policy")


def _forced(policy, version: str, option: str):
    try:
        return policy.forced(version)
    except KeyError:
        known = ", ".join(v.version for v in policy.versions)
        raise ClauselineError([Problem("policy.unknown_version", f"{option} {version[:80]!r}: no "
                                       f"such policy version (the rules have {known})")]) from None


def _print(text: str, stream=None) -> None:
    print(text, file=stream or sys.stdout)


STATE_SCHEMA = "https://clauseline.dev/schemas/state.schema.json"


def _read_state(path: str, policy) -> dict:
    """A state file written by --state-out, checked against ``schemas/state.schema.json``:
    anything else is ``state.invalid``, each problem located by a JSON Pointer."""
    raw = Path(path).read_bytes()
    try:
        state = json.loads(raw)
    except ValueError as error:  # not JSON, or not UTF-8
        where = f" at line {error.lineno} column {error.colno}" if isinstance(
            error, json.JSONDecodeError) else ""
        raise ClauselineError([Problem("state.invalid", f"{path}: not JSON{where}")]) from None
    except RecursionError:
        raise ClauselineError([Problem("state.invalid", f"{path}: nested too deep")]) from None
    problems = policy.schemas.problems(state, STATE_SCHEMA)
    if problems:
        raise ClauselineError([Problem("state.invalid", f"{path}: {p.message}", p.path)
                               for p in problems[:20]])
    return state


@contextmanager
def _state_checked(path: str):
    """Evaluation over a state read from a file: a state that passed its schema but still does
    not hold what the engine wrote (a memory value of a type no rule expects) is refused as
    ``state.invalid``, never a traceback."""
    try:
        yield
    except (TypeError, ValueError, KeyError, AttributeError, IndexError) as error:
        raise ClauselineError([Problem(
            "state.invalid", f"{path}: the state does not hold what clauseline writes "
            f"({type(error).__name__} while evaluating); write it with --state-out")]) from None


@contextmanager
def _progress(args, total, what: str):
    """A progress bar on stderr (rich) for a replay or an export: only when stderr is a terminal
    and without --quiet; it disappears when done. ``total`` is a number, None, or a function
    that counts (called only when a bar is shown). Yields ``advance(n=1)``."""
    if getattr(args, "quiet", False) or not sys.stderr.isatty():
        yield lambda n=1: None
        return
    if callable(total):
        total = total()
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeElapsedColumn, TimeRemainingColumn)
    columns = [TextColumn(f"clauseline {what}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("events"), TimeElapsedColumn(), TimeRemainingColumn()]
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task(what, total=total)
        yield lambda n=1: progress.advance(task, n)


def _count_events(path: str) -> int | None:
    """How many non-blank lines a log file has (what a replay decides); None for stdin."""
    if path == "-":
        return None
    try:
        with open(path, "rb") as handle:
            return sum(1 for line in read_lines(handle)
                       if isinstance(line, Oversized) or line.strip())
    except OSError:
        return None


#: The longest log export record ``verify`` reads (an event of at most 256 KiB with its decision).
VERIFY_MAX_LINE = 16 * 1024 * 1024


def _read_event(path: str) -> bytes | Oversized:
    """One event file named on the command line (``-``: standard input), without one final
    line ending, never held whole when it is over the event size limit."""
    handle = sys.stdin.buffer if path == "-" else open(path, "rb")
    try:
        raw = handle.read(MAX_EVENT_BYTES + 3)
        # one final line ending (what an editor adds) is not part of the event, as in a replay
        if raw.endswith(b"\n") and not handle.read(1):
            raw = raw[:-2] if raw.endswith(b"\r\n") else raw[:-1]
        if len(raw) <= MAX_EVENT_BYTES:
            return raw
        size = len(raw)
        while more := handle.read(1 << 20):
            size += len(more)
        return Oversized(size)
    finally:
        if handle is not sys.stdin.buffer:
            handle.close()


def _open_log(path: str):
    """A log named on the command line, as a binary stream (``-``: standard input)."""
    return sys.stdin.buffer if path == "-" else open(path, "rb")


def _show(decision: Decision, args, policy) -> None:
    if args.explain:
        _print(describe(decision, policy))
    elif args.pretty:
        _print(json.dumps(decision.as_dict(), indent=2, sort_keys=True, ensure_ascii=False))
    else:
        _print(decision.to_json())


def _stateless(policy, decision: Decision, command: str = "evaluate") -> Decision:
    """Say so when an event was decided from an empty state though its rules read memory: on
    stderr, and in the decision's ``warnings`` (``state.empty``)."""
    version = next((v for v in policy.versions if v.version == decision.policy_version), None)
    readers = version.memory_readers(decision.event_type) if version else ()
    if not readers:
        return decision
    shown = ", ".join(readers[:4]) + (f" and {len(readers) - 4} more" if len(readers) > 4 else "")
    message = (f"decided from an empty state (no --db, no --state): {len(readers)} rule(s) this "
               f"event reaches read the subject's memory ({shown}); a subject with a history in "
               "a store may be decided differently")
    _print(f"clauseline {command}: warning: {message}", sys.stderr)
    return replace(decision, warnings=decision.warnings + ({"code": "state.empty",
                                                            "message": message},))


def cmd_evaluate(args) -> int:
    if args.db is not None and (args.state or args.state_out):
        _print("clauseline evaluate: --db keeps the state in the store; "
               "it cannot be combined with --state or --state-out", sys.stderr)
        return 2
    policy = _policy(args)
    try:
        raw = _read_event(args.event)
    except OSError as error:
        _print(f"clauseline: cannot read {args.event}: {error.strerror}", sys.stderr)
        return 1
    if args.db is not None:
        from .store import open_store
        store = open_store(args.db)
        try:
            decision = Session(policy, store).submit_text(raw)
        finally:
            store.close()
    else:
        state = _read_state(args.state, policy) if args.state else empty_state()
        event, problems = parse_event(raw)
        if problems:
            decision, new_state = rejected(None, problems), state
        elif args.state:
            with _state_checked(args.state):
                decision, new_state = evaluate(policy, state, event)
        else:
            decision, new_state = evaluate(policy, state, event)
        if not args.state and decision.status == "accepted":
            decision = _stateless(policy, decision)
        if args.state_out:
            Path(args.state_out).write_text(canonical.dumps(plain_state(new_state)) + "\n",
                                            encoding="utf-8")
    _show(decision, args, policy)
    return 1 if decision.status == "rejected" else 0


class _Recorded:
    """Decisions recorded earlier, to compare a replay with: a ``replay`` output (one decision
    per non-blank line, rejected and duplicate ones included) or a ``log export`` (accepted
    events only). Matched by (source, id), in order of occurrence; a line without an id by its
    position among the replay output's decisions."""

    def __init__(self, path: str):
        self.path, self.export = path, False
        self.by_key: dict[tuple, list[dict]] = {}
        self.in_order: list[dict] = []
        with open(path, encoding="utf-8", errors="surrogateescape") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    value = json.loads(line)
                except ValueError:
                    value = None
                if isinstance(value, dict) and "decision" in value and "hash" in value:
                    self.export, value = True, value["decision"]
                if not isinstance(value, dict) or "status" not in value:
                    raise ClauselineError([Problem(
                        "compare.invalid", f"{path}:{number}: neither a decision nor a log "
                        "record: --compare takes a replay's output or a log export")])
                self.in_order.append(value)
                if value.get("event_source") is not None and value.get("event_id") is not None:
                    self.by_key.setdefault((value["event_source"], value["event_id"]), []).append(value)

    def counterpart(self, decision: Decision, index: int) -> tuple[bool, dict | None]:
        """(whether to compare, the recorded decision or None)."""
        if self.export and decision.status != "accepted":
            return False, None  # a log export holds accepted events only
        if decision.event_id is None or decision.event_source is None:
            if self.export:
                return False, None
            return True, self.in_order[index] if index < len(self.in_order) else None
        found = self.by_key.get((decision.event_source, decision.event_id))
        return True, found.pop(0) if found else None


def _difference(now: dict, then: dict | None) -> str | None:
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
    store = None
    if args.db is not None:  # first: a store fault is reported before the policy loads
        from .store import open_store
        store = open_store(args.db)
    try:
        policy = _policy(args)
    except BaseException:
        if store is not None:
            store.close()
        raise
    session = Session(policy, store)
    try:
        source = _open_log(args.log)
    except OSError as error:
        _print(f"clauseline: cannot read {args.log}: {error.strerror}", sys.stderr)
        return 1
    recorded = _Recorded(args.compare) if args.compare else None
    differences: list[str] = []
    out = open(args.out, "w", encoding="utf-8") if args.out else sys.stdout
    statuses, kinds, rules = Counter(), Counter(), Counter()
    refused: list[int] = []
    started = time.perf_counter()
    number = 0
    try:
        with _progress(args, lambda: _count_events(args.log), "replay") as advance:
            batch = args.batch or (1 if args.log == "-" else DEFAULT_REPLAY_BATCH)
            for number, decision in session.replay(read_lines(source), order=args.order,
                                                   batch=batch):
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
                    compare, then = recorded.counterpart(decision, sum(statuses.values()) - 1)
                    why = _difference(decision.as_dict(), then) if compare else None
                    if why is not None:
                        differences.append(f"line {number} ({decision.event_source or '-'} "
                                           f"{decision.event_id or '-'}): {why}")
    except ClauselineError as error:
        if any(p.code.startswith("store.") for p in error.problems):
            # what was printed before the fault is stored; say how far the replay got
            _print(f"clauseline replay: stopped by a store fault after line {number}: "
                   f"{sum(statuses.values())} event(s) decided and printed before it "
                   f"({statuses['accepted']} accepted and stored)", sys.stderr)
        raise
    finally:
        if out is not sys.stdout:
            out.close()
        if source is not sys.stdin.buffer:
            source.close()
        if store is not None and hasattr(store, "close"):
            store.close()
    elapsed = time.perf_counter() - started
    total = sum(statuses.values())
    _print(f"clauseline replay: {total} events in {elapsed:.2f}s: "
           + ", ".join(f"{statuses[s]} {s}" for s in ("accepted", "duplicate", "rejected")), sys.stderr)
    _print("  outcomes: " + (", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) or "none"),
           sys.stderr)
    if args.summary:
        _print("  rules fired (accepted events; duplicates and rejected lines not counted):",
               sys.stderr)
        for rule, n in sorted(rules.items()):
            _print(f"    {n:6d}  {rule}", sys.stderr)
    if args.compare:
        for line in differences[:200]:
            _print(f"  differs: {line}", sys.stderr)
        if len(differences) > 200:
            _print(f"  ... and {len(differences) - 200} more", sys.stderr)
        _print(f"clauseline replay --compare: {len(differences)} of {total} decision(s) differ "
               f"from {args.compare}", sys.stderr)
        if differences:
            return 1
    if args.strict and refused:
        shown = ", ".join(str(n) for n in refused[:20]) + (", ..." if len(refused) > 20 else "")
        _print(f"clauseline replay --strict: {len(refused)} line(s) rejected (line {shown})",
               sys.stderr)
        return 1
    return 0


def cmd_diff(args) -> int:
    from .evaluation.whynot import outcome_text
    policy = load_policy(args.rules, fixtures=True)
    before, after = _forced(policy, args.policy, "--policy"), _forced(policy, args.against, "--against")
    try:
        with _open_log(args.log) as handle:
            lines = list(read_lines(handle))
    except OSError as error:
        _print(f"clauseline diff: cannot read {args.log}: {error.strerror}", sys.stderr)
        return 1
    # per rule: outcomes only under A, only under B, and a few examples of each
    only: dict[tuple[str, str], Counter] = {}
    examples: dict[tuple[str, str, str], list[str]] = {}
    changed = total = 0
    with _progress(args, sum(1 for line in lines if isinstance(line, Oversized) or line.strip()),
                   "diff") as advance:
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
        _print(canonical.dumps({
            "log": args.log, "policy": args.policy, "against": args.against, "events": total,
            "decisions_differ": changed,
            "rules": [{"clause": c, "rule": r, "only_policy": n["A"], "only_against": n["B"],
                       "examples_policy": examples.get((c, r, "A"), []),
                       "examples_against": examples.get((c, r, "B"), [])}
                      for (c, r), n in sorted(only.items())]}))
        return 1 if changed else 0
    _print(f"clauseline diff: {total} events; {changed} decision(s) differ between "
           f"{args.policy} (A) and {args.against} (B)")
    for clause in sorted({c for c, _ in only}):
        _print(f"  clause {clause}")
        for (c, rule), n in sorted(only.items()):
            if c != clause:
                continue
            _print(f"    {rule}: {n['A']} outcome(s) only under A, {n['B']} only under B")
            for side in ("A", "B"):
                for line in examples.get((c, rule, side), []):
                    _print(f"      {side}: {line}")
    return 1 if changed else 0


def _masked(value):
    """A JSON value with card- and SSN-like numbers in its strings reduced (for printing)."""
    from .redact import mask_numbers
    if isinstance(value, str):
        return mask_numbers(value)
    if isinstance(value, dict):
        return {k: _masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v) for v in value]
    return value


def cmd_explain(args) -> int:
    from .evaluation.whynot import explain_event, render_text
    if args.db is not None and args.state:
        _print("clauseline explain: --db and --state are two sources of state: give one", sys.stderr)
        return 2
    policy = _policy(args)
    try:
        raw = _read_event(args.event)
    except OSError as error:
        _print(f"clauseline: cannot read {args.event}: {error.strerror}", sys.stderr)
        return 1
    event, problems = parse_event(raw)
    if problems:
        _show(rejected(None, problems), args, policy)
        return 1
    store = None
    if args.db is not None:
        from .store import open_store
        store = open_store(args.db, create=False)
    try:
        # the state the event would meet: read from the store, nothing written
        state = (store.state_for(event) if store is not None and isinstance(event, dict)
                 else _read_state(args.state, policy) if args.state else empty_state())
        if args.state:
            with _state_checked(args.state):
                explanation = explain_event(policy, state, event)
        else:
            explanation = explain_event(policy, state, event)
    finally:
        if store is not None:
            store.close()
    if not args.db and not args.state and explanation.decision.status == "accepted":
        _stateless(policy, explanation.decision, "explain")
    if args.format == "json":
        _print(canonical.dumps(_masked(explanation.as_dict())))
    else:
        _print(render_text(explanation, policy))
    return 1 if explanation.decision.status == "rejected" else 0


def _owed_in_memory(state: dict) -> list[dict]:
    """The obligations still owed in an in-memory state, as ``SqlStore.owed()`` lists them."""
    from .decision import OWED
    from .evaluation.memory import current, instant_key
    rows = []
    for sid, record in (state.get("subjects") or {}).items():
        for ref, o in sorted((current(record).get("obligations") or {}).items()):
            if isinstance(o, dict) and o.get("status") in OWED:
                rows.append({"subject": sid, "ref": str(ref), "obligation": o.get("obligation"),
                             "status": o["status"], "due_by": o.get("due_by"),
                             "opened_at": o.get("opened_at"), "missed": o["status"] == "missed",
                             "overdue": False})
    def due(row):
        try:
            return instant_key(row["due_by"])
        except (TypeError, ValueError):
            return ""
    return sorted(rows, key=lambda r: (due(r), r["subject"], r["ref"]))


def cmd_report(args) -> int:
    from .report import obligations_csv, render_html, violations_csv
    if (args.log is None) == (args.db is None):
        _print("clauseline report: give a log (LOG.jsonl) or a store (--db URL), not both",
               sys.stderr)
        return 2
    policy = _policy(args)
    if args.db is not None:
        from .chain import verify
        from .store import open_store
        store = open_store(args.db, create=False)
        try:
            records = list(store.log())
            obligations = store.owed()
        finally:
            store.close()
        chain = str(verify(canonical.dumps(r) for r in records))
        records = [{"event": r["event"], "decision": r["decision"]} for r in records]
        source = args.db
    else:
        session = Session(policy)
        records = []
        try:
            handle = _open_log(args.log)
        except OSError as error:
            _print(f"clauseline report: cannot read {args.log}: {error.strerror}", sys.stderr)
            return 1
        with handle, _progress(args, lambda: _count_events(args.log), "report") as advance:
            lines = list(read_lines(handle))
            for number, decision in session.replay(lines):
                advance()
                event, problems = parse_event(lines[number - 1])
                records.append({"event": None if problems else event, "decision": decision.as_dict()})
        obligations = _owed_in_memory(session.store.state)
        chain = None
        source = args.log
    if args.format == "csv":
        folder = Path(args.out)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "violations.csv").write_text(violations_csv(records), encoding="utf-8")
        (folder / "obligations.csv").write_text(obligations_csv(obligations), encoding="utf-8")
        _print(f"clauseline report: {folder / 'violations.csv'} and {folder / 'obligations.csv'}",
               sys.stderr)
        return 0
    page = render_html(records, policy=policy, obligations=obligations, chain=chain,
                       title=f"clauseline report: {Path(source).name if not args.db else 'store'}")
    Path(args.out).write_text(page, encoding="utf-8")
    _print(f"clauseline report: {len(records)} decision(s) -> {args.out}", sys.stderr)
    return 0


def cmd_due(args) -> int:
    from .store import open_store
    from .eventtime import TimePrecisionError, parse_time
    try:
        parse_time(args.at)
    except TimePrecisionError as error:
        _print(f"clauseline due: --at {error}", sys.stderr)
        return 2
    except ValueError:
        _print(f"clauseline due: --at {args.at!r} is not an RFC 3339 time with offset, "
               "e.g. 2019-08-15T00:00:00Z", sys.stderr)
        return 2
    store = open_store(args.db, create=False)
    try:
        for row in store.due(args.at):
            _print(canonical.dumps(row))
    finally:
        store.close()
    return 0


def cmd_log_export(args) -> int:
    from .chain import GENESIS
    from .store import open_store
    store = open_store(args.db, create=False)
    out = open(args.out, "w", encoding="utf-8") if args.out else sys.stdout
    count, head = 0, GENESIS
    try:
        with _progress(args, store.count(), "log export") as advance:
            for record in store.log():
                out.write(canonical.dumps(record) + "\n")
                count, head = count + 1, record["hash"]
                advance()
    finally:
        store.close()
        if out is not sys.stdout:
            out.close()
    _print(f"clauseline log export: {count} record(s), head {head}", sys.stderr)
    return 0


def cmd_verify(args) -> int:
    from .chain import verify
    try:
        source = _open_log(args.log)
    except OSError as error:
        _print(f"clauseline verify: cannot read {args.log}: {error.strerror}", sys.stderr)
        return 2
    with source:
        verdict = verify(read_lines(source, max_bytes=VERIFY_MAX_LINE), head=args.head)
    _print(f"clauseline verify: {verdict}", sys.stdout if verdict.ok else sys.stderr)
    return 0 if verdict.ok else 1


def cmd_db_init(args) -> int:
    from .store import open_store, schema_version
    store = open_store(args.db)
    try:
        revision = schema_version(store.engine)
        shown = store.engine.url.render_as_string(hide_password=True)
    finally:
        store.close()
    _print(f"clauseline db init: the store {shown} is ready (schema revision {revision})",
           sys.stderr)
    return 0


def cmd_rules_check(args) -> int:
    try:
        policy = _policy(args, fixtures=True)
    except PolicyLoadError as error:
        for problem in error.problems:
            _print(str(problem), sys.stderr)
        _print(f"clauseline rules check: {len(error.problems)} problem(s)", sys.stderr)
        return 1
    for version in policy.versions:
        clauses = sorted({r.clause for r in version.rules})
        overrides = f" and {len(version.overrides)} override(s)" if version.overrides else ""
        _print(f"{version.version}: {len(version.rules)} rules{overrides} over clauses {''.join(clauses)}, "
               f"{len(version.interpretations)} interpretations, in force from "
               f"{version.effective_from.isoformat()}"
               + (" (a test fixture: loaded only when --policy names it)" if version.fixture else "")
               + ": ok")
    return 0


def cmd_rules_list(args) -> int:
    policy = _policy(args)
    for version in policy.versions:
        for rule in version.enforcing:
            events = ",".join(rule.events) if isinstance(rule, Rule) else "(override)"
            _print(f"{rule.id:<48} {events:<24} {rule.title}")
    return 0


def cmd_interpretations(args) -> int:
    policy = _policy(args)
    for version in policy.versions:
        entries = sorted(version.interpretations.values(), key=lambda i: (i.clause, i.id))
        if args.format == "json":
            for i in entries:
                cited = sorted(r.id for r in version.enforcing if i.id in r.interpretations)
                _print(canonical.dumps({"id": i.id, "clause": i.clause, "sentence": i.sentence,
                                        "reading": i.reading, "why": i.why, "rules": cited,
                                        "policy_version": version.version}))
            continue
        for i in entries:
            cited = [r.id for r in version.enforcing if i.id in r.interpretations]
            _print(f"{i.id}  (clause {i.clause})")
            _print(f"  sentence: \"{i.sentence}\"")
            _print(f"  reading:  {i.reading}")
            _print(f"  why:      {i.why}")
            _print(f"  rules:    {', '.join(cited) or '(none yet)'}")
            _print("")
    return 0


def cmd_clauses(args) -> int:
    policy = _policy(args)
    fired: Counter = Counter()
    if args.log:
        session = Session(policy)
        with _open_log(args.log) as log, \
                _progress(args, lambda: _count_events(args.log), "clauses --log") as advance:
            for _, decision in session.replay(read_lines(log)):
                advance()
                if decision.status == "accepted":
                    fired.update(decision.trace)
    unaccounted = 0
    for version in policy.versions:
        _print(f"{version.version} ({version.title})")
        for letter, clause in sorted(version.clauses.items()):
            rules = [r for r in version.enforcing if r.clause == letter]
            notes = [i.id for i in version.interpretations.values() if i.clause == letter]
            if clause.operative and rules:
                status = f"operative, {len(rules)} rule(s)"
            elif not clause.operative:
                status = "informative"
            else:
                status = "UNACCOUNTED: operative but no rule"
                unaccounted += 1
            _print(f"  {letter}  {clause.title[:60]:<60} {status}")
            if not clause.operative:
                _print(f"       why no decision: {clause.reason}")
            for rule in rules:
                count = f"  fired {fired[rule.id]}x" if args.log else ""
                _print(f"       {rule.id}{count}")
            if notes:
                _print(f"       interpretations: {', '.join(sorted(notes))}")
    if unaccounted:
        _print(f"{unaccounted} clause(s) unaccounted for", sys.stderr)
        return 1
    return 0


def cmd_serve(args) -> int:
    from .service.server import ServeError, serve
    from .service.settings import Settings
    import os
    from .service.settings import ENV_ENQUEUE_NATS, ENV_ENQUEUE_STREAM
    args.enqueue_nats = args.enqueue_nats or os.environ.get(ENV_ENQUEUE_NATS) or None
    args.enqueue_stream = args.enqueue_stream or os.environ.get(ENV_ENQUEUE_STREAM) or None
    if bool(args.enqueue_nats) != bool(args.enqueue_stream):
        _print("clauseline serve: --enqueue-nats and --enqueue-stream go together", sys.stderr)
        return 2
    settings = Settings(db=args.db, rules=args.rules, auth=not args.insecure_no_auth,
                        max_body_bytes=args.max_body_bytes, max_batch=args.max_batch,
                        enqueue_nats=args.enqueue_nats, enqueue_stream=args.enqueue_stream)
    try:
        return serve(settings, host=args.host, port=args.port, workers=args.workers,
                     log_level=args.log_level)
    except ServeError as error:
        _print(f"clauseline serve: {error}", sys.stderr)
        return 2


def cmd_keys_create(args) -> int:
    from .service.keys import create_key
    from .store import open_store
    store = open_store(args.db)
    try:
        key, token = create_key(store, args.name, args.scope)
    except ValueError as error:
        _print(f"clauseline keys create: {error}", sys.stderr)
        return 2
    finally:
        store.close()
    _print(token)
    _print(f"clauseline keys create: key {key.key_id} ({key.name}) with scope(s) "
           f"{', '.join(key.scopes)}. The key above is shown only now: the store keeps only its "
           "hash. Send it as 'Authorization: Bearer <key>'.", sys.stderr)
    return 0


def cmd_keys_list(args) -> int:
    from .service.keys import list_keys
    from .store import open_store
    store = open_store(args.db, create=False)
    try:
        keys = list_keys(store)
    finally:
        store.close()
    for key in keys:
        if args.format == "json":
            _print(canonical.dumps(key.as_dict()))
        else:
            state = f"revoked {key.revoked_at}" if key.revoked_at else "active"
            _print(f"{key.key_id}  {key.name:<24} {' '.join(key.scopes):<36} "
                   f"created {key.created_at}  {state}")
    return 0


def cmd_keys_revoke(args) -> int:
    from .service.keys import revoke_key
    from .store import open_store
    store = open_store(args.db, create=False)
    try:
        key = revoke_key(store, args.key_id)
    finally:
        store.close()
    if key is None:
        _print(f"clauseline keys revoke: no key with id {args.key_id[:16]!r} in this store", sys.stderr)
        return 1
    _print(f"clauseline keys revoke: key {key.key_id} ({key.name}) revoked at {key.revoked_at}",
           sys.stderr)
    return 0


def cmd_publish(args) -> int:
    from .stream.publish import run_publish
    run_publish(args.log, args.nats, args.stream, args.partitions, _policy(args), args.quiet)
    return 0


def cmd_consume(args) -> int:
    from .stream.consume import run_consume
    return run_consume(_policy(args), args)


class _Version(argparse.Action):
    """``--version``: looks the installed version up only when asked (the lookup is not free)."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        from . import __version__
        print(f"clauseline {__version__}")  # stdout, as argparse's own version action does
        parser.exit()


#: Events per transaction of ``replay --db`` (group commit): large enough that the commit's cost
#: (an fsync in SQLite, a round trip in PostgreSQL) is shared by many events, small enough that
#: the write lock is held for well under a second (bench/README.md, "Group commit").
DEFAULT_REPLAY_BATCH = 500


def _at_least_one(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not {text[:20]!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _add_quiet(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quiet", action="store_true",
                   help="no progress bar (there is none either when stderr is not a terminal)")


def _add_policy(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--policy", metavar="VERSION",
                   help=f"{what} under this policy version (a test fixture version too), whatever "
                   "the event's time; default: the version in force at each event's time")


def build_parser() -> argparse.ArgumentParser:
    """The ``clauseline`` argument parser (one sub-command per ``cmd_*`` function)."""
    parser = argparse.ArgumentParser(prog="clauseline", description=DESCRIPTION, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    # --rules is accepted before the command and after it (clauseline rules check --rules DIR)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--rules", metavar="DIR", default=argparse.SUPPRESS,
                        help="policy rules folder (default: the shipped securus-2019-05-04)")
    parser.add_argument("--rules", metavar="DIR", default=None,
                        help="policy rules folder (default: the shipped securus-2019-05-04)")
    parser.add_argument("--version", action=_Version,
                        help="print the installed clauseline version and exit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("evaluate", parents=[common], help="evaluate one event (JSON file, or - for stdin)",
                       description="Evaluate one CloudEvent and print its decision as JSON. "
                       "Exit 1 if the event is rejected.")
    p.add_argument("event", metavar="EVENT.json")
    _add_policy(p, "decide every event")
    p.add_argument("--state", metavar="FILE", help="start from this state (JSON; default empty)")
    p.add_argument("--state-out", metavar="FILE", help="write the state after the event here")
    p.add_argument("--pretty", action="store_true", help="indent the JSON")
    p.add_argument("--explain", action="store_true",
                   help="print the decision as text, each outcome with the sentence its rule "
                   "enforces and the interpretations it relies on")
    p.add_argument("--db", metavar="URL", help="evaluate against a durable store and record the "
                   "event there (sqlite:///file.db, a path ending .db, or postgresql://...): the "
                   "subject's stored state is used, and an event already seen (same source and "
                   "id) prints its first decision with status duplicate and changes nothing")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("replay", parents=[common], help="replay a JSON Lines event log",
                       description="Evaluate every event of a JSON Lines log in order. Decisions "
                       "go to stdout (one JSON line per event, in input order; rejected events "
                       "included with their errors), a summary to stderr. The same log always "
                       "gives byte-identical output.")
    p.add_argument("log", metavar="LOG.jsonl", help="the log (- for stdin)")
    _add_policy(p, "decide every event")
    p.add_argument("--out", metavar="FILE", help="write decisions here instead of stdout")
    p.add_argument("--db", metavar="URL", help="durable store (sqlite:///file.db or postgresql://...); "
                   "default: an empty in-memory state")
    p.add_argument("--batch", type=_at_least_one, metavar="N",
                   help=f"with --db: events per transaction (group commit; default "
                   f"{DEFAULT_REPLAY_BATCH} for a file, 1 for stdin, so that a stream is stored "
                   "and printed as each event arrives); 1 commits each event on its own. The "
                   "decisions are the same; each is printed once its batch is committed, so a "
                   "crash or fault loses only events not printed yet, and running the log again "
                   "completes it")
    p.add_argument("--format", choices=["jsonl", "text"], default="jsonl",
                   help="jsonl (canonical JSON, default) or text (readable)")
    p.add_argument("--summary", action="store_true",
                   help="also list how often each rule fired, over accepted events (as "
                   "clauses --log counts; a duplicate repeats its first decision and is not "
                   "counted again)")
    p.add_argument("--compare", metavar="RECORDED",
                   help="compare every decision with a recorded one (a replay's output, or a "
                   "log export), matched by source and id: each difference on stderr (status, "
                   "outcomes added or removed, by rule); exit 1 if any differs or has no "
                   "recorded counterpart. Decisions recorded by a store have sensitive numbers "
                   "reduced: compare a store's export with a replay into a store")
    p.add_argument("--strict", action="store_true",
                   help="exit 1 if any line was rejected (all lines are still replayed and "
                   "printed; the rejected line numbers go to stderr)")
    p.add_argument("--explain", action="store_true",
                   help="with --format text: quote the sentence behind each outcome")
    _add_quiet(p)
    p.add_argument("--order", choices=["input", "time"], default="input",
                   help="input (default): evaluate and print the events in the log's order; "
                   "time: sort them stably by event time first (for logs ordered by ingestion; "
                   "the whole log is read into memory to sort it), and print the decisions in "
                   "that order. Either way memory is read as of each "
                   "event's time; an event earlier than its subject's latest is marked "
                   "out_of_order in its decision")
    p.set_defaults(func=cmd_replay)

    p = sub.add_parser("diff", parents=[common], help="what a policy change would change, over a log",
                       description="Replay a log twice in memory, every event decided under "
                       "policy version A (--policy) and under B (--against), whatever its time, "
                       "and report the decisions that differ: per clause and rule, how many "
                       "outcomes only A gives and only B gives, with examples (line, source, "
                       "id). Exit codes as diff(1): 0 no difference, 1 differences, 2 trouble.")
    p.add_argument("log", metavar="LOG.jsonl", help="the log (- for stdin)")
    p.add_argument("--policy", metavar="A", required=True, help="the version to compare from")
    p.add_argument("--against", metavar="B", required=True, help="the version to compare with")
    p.add_argument("--examples", type=int, default=3, metavar="N",
                   help="examples per rule and side (default 3)")
    p.add_argument("--format", choices=["text", "json"], default="text")
    _add_quiet(p)
    p.set_defaults(func=cmd_diff)

    p = sub.add_parser("explain", parents=[common], help="why an event was decided as it was, and why not",
                       description="Evaluate one event (nothing is stored) and explain it: the "
                       "rules that fired, with the conditions that matched and their values, the "
                       "clause sentence and interpretations behind each; the rules of its type "
                       "that did not fire, each with the first condition that failed; the "
                       "overrides that applied. With --db the event meets the subject's stored "
                       "state (read only), with --state a state file, else an empty state. "
                       "Exit 1 if the event is rejected.")
    p.add_argument("event", metavar="EVENT.json", help="the event (- for stdin)")
    p.add_argument("--db", metavar="URL", help="an existing store to read the state from")
    p.add_argument("--state", metavar="FILE", help="a state file (as evaluate --state-out writes)")
    p.add_argument("--format", choices=["text", "json"], default="text")
    _add_policy(p, "explain the event")
    p.set_defaults(func=cmd_explain)

    p = sub.add_parser("report", parents=[common], help="an HTML report (or CSV) of a log or a store",
                       description="One self-contained HTML page (no network access; charts "
                       "drawn inline): summary, outcomes by clause over time, violations by code "
                       "with the rule, sentence and readings behind them, obligations still owed "
                       "on a deadline timeline, a drill-down per subject, and, for a store, the "
                       "hash chain's verification. From a log (replayed in memory) or from a "
                       "store (--db, read only). --format csv writes violations.csv and "
                       "obligations.csv into the folder --out names.")
    p.add_argument("log", metavar="LOG.jsonl", nargs="?", help="a log to replay (- for stdin)")
    p.add_argument("--db", metavar="URL", help="report on an existing store instead of a log")
    p.add_argument("--out", metavar="PATH", required=True,
                   help="the HTML file to write (a folder with --format csv)")
    p.add_argument("--format", choices=["html", "csv"], default="html")
    _add_policy(p, "replay the log")
    _add_quiet(p)
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("clauses", parents=[common], help="table of clauses A to W with their rules",
                       description="List every clause of the policy: operative with its rules and "
                       "interpretations, or informative with the reason it decides nothing. With "
                       "--log, also how often each rule fired replaying that log. Exit 1 if an "
                       "operative clause has no rule.")
    p.add_argument("--log", metavar="LOG.jsonl", help="count rule firings over this log")
    _add_quiet(p)
    p.set_defaults(func=cmd_clauses)

    p = sub.add_parser("interpretations", parents=[common], help="the readings chosen for ambiguous sentences",
                       description="Each ambiguous sentence of the policy, the reading the rules "
                       "take, why, and the rules that depend on it.")
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.set_defaults(func=cmd_interpretations)

    p = sub.add_parser("due", parents=[common], help="list obligations due or overdue at a time (from a store)",
                       description="List the open and extended obligations of a durable store "
                       "whose due time is at or before --at: one JSON line each (subject, ref, "
                       "obligation, status, due_by, opened_at, missed, overdue), sorted by due "
                       "time, then subject, then ref. 'overdue' is true when the due time is "
                       "strictly before --at; 'missed' (also the status) when an event after the due time "
                       "already marked it missed: it is still owed. "
                       "Exit 0, also when nothing is due.")
    p.add_argument("--db", metavar="URL", required=True,
                   help="an existing store (sqlite:///file.db, a path ending .db, or "
                   "postgresql://...); a URL naming none is an error (exit 1), never a new store")
    p.add_argument("--at", metavar="TIME", required=True,
                   help="RFC 3339 time with offset, e.g. 2019-08-15T00:00:00Z")
    p.set_defaults(func=cmd_due)

    from .service.settings import DEFAULT_DB, DEFAULT_MAX_BATCH, DEFAULT_MAX_BODY_BYTES
    p = sub.add_parser(
        "serve", parents=[common], help="run the HTTP service (FastAPI on uvicorn)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=textwrap.fill("Serve the HTTP API under /v1: POST /v1/events (CloudEvents in structured, "
        "binary or batch mode; a 2xx only once the event and its decision are stored), "
        "GET /v1/decisions/{source}/{id}, /v1/subjects/{id}, /v1/obligations, /v1/policy, "
        "POST /v1/evaluate (dry run), /healthz, /readyz, /metrics; OpenAPI at /docs and "
        "/openapi.json. Requests need an API key (clauseline keys create) unless "
        "--insecure-no-auth. Access logs are JSON lines on stderr. Stop with Ctrl-C (SIGINT) "
        "or SIGTERM: requests in flight finish first.", 78),
        epilog="examples:\n"
        "  clauseline keys create --db sqlite:///clauseline.db --name ingest --scope events:write\n"
        "  clauseline serve --db sqlite:///clauseline.db --port 8000\n"
        "  clauseline serve --db postgresql://app@db/clauseline --workers 4 --host 0.0.0.0\n"
        "exit codes: 0 stopped; 1 the store or the rules cannot be opened; 2 wrong usage "
        "(e.g. several workers on SQLite)")
    p.add_argument("--db", metavar="URL", default=DEFAULT_DB,
                   help=f"the store (default {DEFAULT_DB}; several workers need postgresql://...)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--workers", type=int, default=1,
                   help="worker processes (default 1; more than 1 needs PostgreSQL)")
    p.add_argument("--insecure-no-auth", action="store_true",
                   help="accept requests without an API key (announced loudly; test networks only)")
    p.add_argument("--max-body-bytes", type=int, default=DEFAULT_MAX_BODY_BYTES, metavar="N",
                   help=f"largest request body, 413 past it (default {DEFAULT_MAX_BODY_BYTES})")
    p.add_argument("--max-batch", type=int, default=DEFAULT_MAX_BATCH, metavar="N",
                   help=f"most events in one batch request (default {DEFAULT_MAX_BATCH})")
    p.add_argument("--enqueue-nats", metavar="URL",
                   help="enqueue instead of evaluate: POST /v1/events publishes each valid event "
                   "to this NATS server's --enqueue-stream and answers 202 (accepted for "
                   "processing; clauseline consume decides it). Env CLAUSELINE_ENQUEUE_NATS")
    p.add_argument("--enqueue-stream", metavar="NAME",
                   help="the events stream of --enqueue-nats (created when absent, 6 partitions). "
                   "Env CLAUSELINE_ENQUEUE_STREAM")
    p.add_argument("--log-level", default="info",
                   choices=["critical", "error", "warning", "info", "debug"],
                   help="uvicorn's log level (default info)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser(
        "publish", parents=[common], help="send a JSON Lines log into a NATS JetStream stream, "
        "partitioned by subject", formatter_class=argparse.RawDescriptionHelpFormatter,
        description=textwrap.fill("Publish each line of the log, in order, to the events stream "
        "(created when absent, with --partitions, default 6): on NAME.p.K, K the partition of "
        "the event's CloudEvents subject (a stable hash), or NAME.all for an event without "
        "subject (clock.tick, policy.changed), which every partition decides. A repeat of an "
        "event (same source and id) within two minutes is dropped by JetStream (Nats-Msg-Id). "
        "A summary goes to stderr. Layout and guarantees: docs/scale.md.", 78),
        epilog="example:\n  clauseline publish examples/demo-log.jsonl --nats nats://127.0.0.1:4222 "
        "--stream EVENTS --partitions 6\nexit codes: 0 published; 1 NATS or the stream cannot be "
        "used (nats.unavailable, stream.partitions_mismatch, ...); 2 wrong usage")
    p.add_argument("log", metavar="LOG.jsonl", help="the log (- for stdin)")
    p.add_argument("--nats", metavar="URL", required=True, help="the NATS server, e.g. nats://127.0.0.1:4222")
    p.add_argument("--stream", metavar="NAME", required=True,
                   help="the events stream (letters, digits, - and _)")
    p.add_argument("--partitions", metavar="N", type=_at_least_one,
                   help="partitions of a new stream (default 6); for an existing one it must be "
                   "its own count, which is used when omitted")
    _add_quiet(p)
    p.set_defaults(func=cmd_publish)

    p = sub.add_parser(
        "consume", parents=[common], help="decide events from a NATS JetStream stream, for a set "
        "of partitions, into PostgreSQL", formatter_class=argparse.RawDescriptionHelpFormatter,
        description=textwrap.fill("A durable JetStream consumer: reads the events stream in its "
        "order, evaluates the events of the partitions it owns (and, for their subjects, those "
        "that cross partitions) and stores each partition in its own store: the schema "
        "PREFIX_pK of the --db database (PREFIX: the schema the URL selects, or clauseline). "
        "A batch is acknowledged only once its events and decisions are committed; a batch "
        "delivered again is answered from the stores (duplicate). Decisions are published to "
        "the --decisions stream, one message per event and partition. Run one process per set "
        "of partitions, e.g. three processes over six partitions with --partition 0 "
        "--partition 1, and so on. Stop with Ctrl-C or SIGTERM: the batch in hand is finished "
        "first. docs/scale.md.", 78),
        epilog="example:\n  clauseline consume --nats nats://127.0.0.1:4222 --stream EVENTS "
        "--db postgresql://app@db/clauseline --partition 0 --partition 1\nexit codes: 0 drained, or "
        "stopped by SIGTERM or Ctrl-C (after finishing the batch in hand); 1 NATS, the stream or "
        "the store cannot be used; 2 wrong usage")
    p.add_argument("--nats", metavar="URL", required=True, help="the NATS server, e.g. nats://127.0.0.1:4222")
    p.add_argument("--stream", metavar="NAME", required=True, help="the events stream")
    p.add_argument("--db", metavar="URL", required=True,
                   help="postgresql://... (or sqlite:///file.db on one machine, one process): "
                   "the database of the partition stores")
    p.add_argument("--partitions", metavar="N", type=_at_least_one,
                   help="the stream's partition count (default: read from the stream; a "
                   "different one is refused)")
    p.add_argument("--partition", metavar="K", type=int, action="append",
                   help="a partition this process owns (repeatable; default: all of them)")
    p.add_argument("--drain", action="store_true",
                   help="exit once every message of the stream is decided and acknowledged "
                   "(batch jobs, tests); default: run until stopped")
    p.add_argument("--batch", metavar="N", type=_at_least_one, default=500,
                   help="messages fetched, decided and committed at once; also the most "
                   "messages in flight unacknowledged (max_ack_pending). Default 500")
    p.add_argument("--decisions", metavar="NAME",
                   help="the stream decisions are published to (created when absent; subjects "
                   "NAME.p.K). Default: STREAM_DECISIONS; '-' publishes none")
    p.add_argument("--metrics-port", metavar="PORT", type=int,
                   help="serve Prometheus metrics (lag, rate, counts) on this port at /metrics")
    p.add_argument("--metrics-host", metavar="HOST", default="127.0.0.1",
                   help="address of the metrics endpoint (default 127.0.0.1)")
    _add_quiet(p)
    p.set_defaults(func=cmd_consume)

    keys = sub.add_parser("keys", help="create, list or revoke API keys of the HTTP service",
                          description="API keys are stored hashed in the store that "
                          "clauseline serve uses; a key is printed once, when created. Scopes: "
                          "events:write (POST /v1/events), decisions:read (GET /v1/decisions, "
                          "/v1/subjects, /v1/obligations; POST /v1/evaluate), admin (all).")
    ksub = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    db_help = f"the store clauseline serve uses (default {DEFAULT_DB})"
    p = ksub.add_parser("create", help="create a key and print it (once) on stdout")
    p.add_argument("--db", metavar="URL", default=DEFAULT_DB, help=db_help)
    p.add_argument("--name", required=True, help="who or what uses the key (e.g. ingest-tx-01)")
    p.add_argument("--scope", action="append", required=True,
                   choices=["events:write", "decisions:read", "admin"],
                   help="a scope; repeat for several")
    p.set_defaults(func=cmd_keys_create)
    p = ksub.add_parser("list", help="list keys (id, name, scopes, created, revoked; never the key)")
    p.add_argument("--db", metavar="URL", default=DEFAULT_DB, help=db_help)
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.set_defaults(func=cmd_keys_list)
    p = ksub.add_parser("revoke", help="revoke a key by its id: it is refused from then on")
    p.add_argument("key_id", metavar="KEY_ID", help="the key id (12 hex digits) or the whole key")
    p.add_argument("--db", metavar="URL", default=DEFAULT_DB, help=db_help)
    p.set_defaults(func=cmd_keys_revoke)

    log = sub.add_parser("log", help="the store's tamper-evident decision log",
                         description="Every accepted event and its decision is a record of a "
                         "hash chain (SHA-256 over canonical JSON): each record carries the hash "
                         "of the one before it and the content hash of the policy version that "
                         "decided it.")
    lsub = log.add_subparsers(dest="log_command", required=True, metavar="ACTION")
    p = lsub.add_parser("export", help="write the decision log as JSON Lines, one record per line",
                        description="Write every record of the store's decision log, in order, "
                        "as canonical JSON lines {seq, event, decision, policy_hash, prev, hash}; "
                        "the record count and the head hash go to stderr (keep the head: "
                        "clauseline verify --head checks that nothing was cut from the end).")
    p.add_argument("--db", metavar="URL", required=True, help="an existing store")
    p.add_argument("--out", metavar="FILE", help="write here instead of stdout")
    _add_quiet(p)
    p.set_defaults(func=cmd_log_export)

    p = sub.add_parser("verify", help="check the hash chain of an exported decision log",
                       description="Recompute every record's hash and check that each record's "
                       "prev is the hash of the record before it. Prints 'chain intact' with "
                       "the record count and head hash, or names the first broken record (line "
                       "and seq) and why. Exit codes: 0 intact; 1 broken (a record changed, "
                       "deleted, inserted or moved, a line that is not a record, or a head other "
                       "than --head); 2 the file cannot be read or wrong usage.")
    p.add_argument("log", metavar="LOG.jsonl", help="a clauseline log export (- for stdin)")
    p.add_argument("--head", metavar="HASH", help="the head hash the log must end at (as "
                   "log export printed it): detects records cut from the end")
    p.set_defaults(func=cmd_verify)

    db = sub.add_parser("db", help="manage a store",
                        description="Commands that only read (due, log export, keys list, keys revoke) never "
                        "create a store: a URL naming none is an error. Commands that write "
                        "(replay --db, evaluate --db, serve, keys create) create it; db init "
                        "creates it on its own.")
    dsub = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    p = dsub.add_parser("init", help="create the store (or migrate an existing one to this version)")
    p.add_argument("--db", metavar="URL", required=True,
                   help="sqlite:///file.db, a path ending .db, or postgresql://...")
    p.set_defaults(func=cmd_db_init)

    rules = sub.add_parser("rules", help="check or list the policy rules")
    rsub = rules.add_subparsers(dest="rules_command", required=True, metavar="ACTION")
    p = rsub.add_parser("check", parents=[common], help="load and check every rule file; located errors, exit 1")
    p.set_defaults(func=cmd_rules_check)
    p = rsub.add_parser("list", parents=[common], help="one line per rule: id, events, title")
    p.set_defaults(func=cmd_rules_list)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``clauseline`` console script."""
    args = build_parser().parse_args(argv)
    # warnings of the library (a store retrying a transient fault) as one prefixed line each
    import logging
    library = logging.getLogger("clauseline")
    if not library.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler()  # stderr
        handler.setFormatter(logging.Formatter("clauseline: %(name)s: %(message)s"))
        library.addHandler(handler)
        library.setLevel(logging.WARNING)
    try:
        return args.func(args)
    except PolicyLoadError as error:
        _print(str(error), sys.stderr)
        _print(f"clauseline: the policy rules did not load ({len(error.problems)} problem(s)); "
               "run 'clauseline rules check'", sys.stderr)
        return 1
    except ClauselineError as error:
        _print(f"clauseline: {error}", sys.stderr)
        return 1
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:  # Ctrl-C: one line, no traceback; a store commits per event
        _print("clauseline: interrupted", sys.stderr)
        return 130
    except OSError as error:  # an unreadable input or unwritable output named on the command line
        _print(f"clauseline: {error.filename or ''}: {error.strerror or error}", sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
