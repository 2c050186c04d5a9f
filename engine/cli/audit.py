"""Commands for auditors: ``report`` (an HTML page or CSV of a log or a store), ``due``
(obligations due at a time), ``log export`` (the store's hash-chained decision log) and
``verify`` (check an exported log's chain)."""

from __future__ import annotations

import sys
from pathlib import Path

from .. import canonical
from ..events import read_lines
from ..session import Session
from ..timers import TIMER_SOURCE
from .common import count_events, echo, load, open_log, progress

#: The longest log export record ``verify`` reads (an event of at most 256 KiB with its decision).
VERIFY_MAX_LINE = 16 * 1024 * 1024


def owed_in_memory(state: dict) -> list[dict]:
    """The obligations still owed in an in-memory state, as ``SqlStore.owed()`` lists them."""
    from ..decision import OWED
    from ..records import current, instant_key
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
    from ..report import obligations_csv, render_html, replayed, violations_csv
    if (args.log is None) == (args.db is None):
        echo("clauseline report: give a log (LOG.jsonl) or a store (--db URL), not both",
             sys.stderr)
        return 2
    policy = load(args.rules, args.policy)
    if args.db is not None:
        from ..chain import verify
        from ..store import open_store
        store = open_store(args.db, create=False)
        try:
            records = list(store.log())
            obligations = store.owed()
        finally:
            store.close()
        chain = str(verify(canonical.dumps(r) for r in records))
        # what decided each record, as its chained record names it (no engine version: stored
        # before the store recorded one)
        records = [{"event": r["event"], "decision": r["decision"],
                    "engine_version": r.get("engine_version"), "policy_hash": r["policy_hash"]}
                   for r in records]
        source = args.db
    else:
        from ..chain import engine_version
        session = Session(policy)
        records = []
        try:
            handle = open_log(args.log)
        except OSError as error:
            echo(f"clauseline report: cannot read {args.log}: {error.strerror}", sys.stderr)
            return 1
        with handle, progress(args.quiet, lambda: count_events(args.log), "report") as advance:
            lines = list(read_lines(handle))
            for event, decision in replayed(session.replay(lines), lines):
                if decision.event_source != TIMER_SOURCE:  # a timer is no line of the log
                    advance()
                records.append({"event": event, "decision": decision.as_dict(),
                                "engine_version": engine_version(),
                                "policy_hash": session.policy_hashes.get(decision.policy_version)})
        obligations = owed_in_memory(session.store.state)
        chain = None
        source = args.log
    if args.format == "csv":
        folder = Path(args.out)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "violations.csv").write_text(violations_csv(records), encoding="utf-8")
        (folder / "obligations.csv").write_text(obligations_csv(obligations, records),
                                                encoding="utf-8")
        echo(f"clauseline report: {folder / 'violations.csv'} and {folder / 'obligations.csv'}",
             sys.stderr)
        return 0
    page = render_html(records, policy=policy, obligations=obligations, chain=chain,
                       source="store" if args.db else "log",
                       title=f"clauseline report: {Path(source).name if not args.db else 'store'}")
    Path(args.out).write_text(page, encoding="utf-8")
    echo(f"clauseline report: {len(records)} decision(s) -> {args.out}", sys.stderr)
    return 0


def cmd_due(args) -> int:
    from ..store import open_store
    from ..eventtime import TimePrecisionError, parse_time
    from ..redact import quote
    try:
        parse_time(args.at)
    except TimePrecisionError as error:
        echo(f"clauseline due: --at: {error}", sys.stderr)
        return 2
    except ValueError:  # the value is quoted only when short and safe (docs/errors.md)
        echo(f"clauseline due: --at {quote(args.at)} is not an RFC 3339 time with offset, "
             "e.g. 2019-08-15T00:00:00Z", sys.stderr)
        return 2
    store = open_store(args.db, create=False)
    try:
        for row in store.due(args.at):
            echo(canonical.dumps(row))
    finally:
        store.close()
    return 0


def cmd_log_export(args) -> int:
    from ..chain import GENESIS
    from ..store import open_store
    store = open_store(args.db, create=False)
    try:
        out = open(args.out, "w", encoding="utf-8") if args.out else sys.stdout
    except BaseException:
        store.close()
        raise
    count, head = 0, GENESIS
    try:
        with progress(args.quiet, store.count(), "log export") as advance:
            for record in store.log():
                out.write(canonical.dumps(record) + "\n")
                count, head = count + 1, record["hash"]
                advance()
    finally:
        store.close()
        if out is not sys.stdout:
            out.close()
    echo(f"clauseline log export: {count} record(s), head {head}", sys.stderr)
    return 0


def cmd_verify(args) -> int:
    from ..chain import verify
    from ..events.parsing import loads_bounded
    try:
        source = open_log(args.log)
    except OSError as error:
        echo(f"clauseline verify: cannot read {args.log}: {error.strerror}", sys.stderr)
        return 2
    try:
        with source:
            verdict = verify(read_lines(source, max_bytes=VERIFY_MAX_LINE), head=args.head,
                             loads=loads_bounded)
    except OSError as error:  # a read that fails part way
        echo(f"clauseline verify: cannot read {args.log}: {error.strerror or error}", sys.stderr)
        return 2
    echo(f"clauseline verify: {verdict}", sys.stdout if verdict.ok else sys.stderr)
    # docs/auditing.md, "Exit codes": 0 intact, 1 broken (a finding), 2 an error
    return 0 if verdict.ok else 2 if verdict.unreadable else 1


def register(subparsers, parents) -> None:
    """``report``, ``due``, ``log export`` and ``verify``."""
    p = subparsers.add_parser(
        "report", parents=[parents.rules,
                           parents.db("report on an existing store instead of a log"),
                           parents.format("html", "csv"), parents.policy("replay the log"),
                           parents.quiet],
        help="an HTML report (or CSV) of a log or a store",
        description="One self-contained HTML page (no network access; charts "
        "drawn inline): summary, outcomes by clause over time, violations by code "
        "with the rule, sentence and readings behind them, obligations still owed "
        "on a deadline timeline, each obligation's history (opened, extended, "
        "fulfilled, declined, missed), a drill-down per subject, and, for a store, "
        "the hash chain's verification. From a log (replayed in memory) or from a "
        "store (--db, read only; a store keeps accepted events only, so duplicates and "
        "rejected events are 'not kept'). --format csv writes violations.csv (one row "
        "per violation) and obligations.csv (one row per step of each obligation's "
        "history) into the folder --out names.")
    p.add_argument("log", metavar="LOG.jsonl", nargs="?", help="a log to replay (- for stdin)")
    p.add_argument("--out", metavar="PATH", required=True,
                   help="the HTML file to write (a folder with --format csv)")
    p.set_defaults(func=cmd_report)

    p = subparsers.add_parser(
        "due", parents=[parents.rules,
                        parents.db("an existing store (sqlite:///file.db, a path ending .db, or "
                                   "postgresql://...); a URL naming none is an error (exit 1), "
                                   "never a new store", required=True)],
        help="list obligations due or overdue at a time (from a store)",
        description="List the open and extended obligations of a durable store "
        "whose due time is at or before --at: one JSON line each (subject, ref, "
        "obligation, status, due_by, opened_at, missed, overdue), sorted by due "
        "time, then subject, then ref. 'overdue' is true when the due time is "
        "strictly before --at; 'missed' (also the status) when an event after the due time "
        "already marked it missed: it is still owed. "
        "Exit 0, also when nothing is due.")
    p.add_argument("--at", metavar="TIME", required=True,
                   help="RFC 3339 time with offset, e.g. 2019-08-15T00:00:00Z")
    p.set_defaults(func=cmd_due)

    log = subparsers.add_parser(
        "log", help="the store's tamper-evident decision log",
        description="Every accepted event and its decision is a record of a "
        "hash chain (SHA-256 over canonical JSON): each record carries the hash "
        "of the one before it, the content hash of the policy version that "
        "decided it (its rules, derivations, facility profiles and schemas) and "
        "the engine version that decided it.")
    actions = log.add_subparsers(dest="log_command", required=True, metavar="ACTION")
    p = actions.add_parser(
        "export", parents=[parents.db("an existing store", required=True), parents.quiet],
        help="write the decision log as JSON Lines, one record per line",
        description="Write every record of the store's decision log, in order, "
        "as canonical JSON lines {seq, event, decision, policy_hash, engine_version, prev, "
        "hash, decision_id, request_id} (engine_version: the clauseline version that decided "
        "the record, absent from records stored before stores recorded it; decision_id: the "
        "decision's own id, derived from its event's source and id and its policy version; "
        "request_id: the HTTP request that stored it, or null; these two are outside the "
        "chain's hashes); "
        "the record count and the head hash go to stderr (keep the head: "
        "clauseline verify --head checks that nothing was cut from the end).")
    p.add_argument("--out", metavar="FILE", help="write here instead of stdout")
    p.set_defaults(func=cmd_log_export)

    p = subparsers.add_parser(
        "verify", help="check the hash chain of an exported decision log",
        description="Recompute every record's hash and check that each record's "
        "prev is the hash of the record before it, and that a record's decision_id, when "
        "it has one, is the one its decision's event_source, event_id and policy_version "
        "give (dec_ and 26 characters of the base32 SHA-256 of that JSON array). Prints "
        "'chain intact' with "
        "the record count, the head hash and the engine versions that decided "
        "the records (with how many each), or names the first broken record (line, "
        "seq, and its event's source, id and time, numbers masked) and why. Exit "
        "codes (as diff and replay --compare): 0 intact; 1 broken (a record changed, "
        "deleted, inserted or moved, a changed decision_id, a JSON line that is not a "
        "record, or a head "
        "other than --head); 2 an error: the file cannot be read, a line is not JSON "
        "(or not UTF-8, nested too deep, longer than 16 MiB), or wrong usage.")
    p.add_argument("log", metavar="LOG.jsonl", help="a clauseline log export (- for stdin)")
    p.add_argument("--head", metavar="HASH", help="the head hash the log must end at (as "
                   "log export printed it): detects records cut from the end")
    p.set_defaults(func=cmd_verify)
