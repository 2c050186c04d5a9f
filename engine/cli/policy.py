"""Commands that read the policy itself: ``rules check|list``, ``clauses`` (the clause table,
with rule firings over a log) and ``interpretations`` (the readings of ambiguous sentences)."""

from __future__ import annotations

import sys
from collections import Counter

from .. import canonical
from ..errors import PolicyLoadError
from ..events import read_lines
from ..policy.model import Override, Rule, rules_counted
from ..session import Session
from .common import count_events, echo, load, open_log, progress


def cmd_rules_check(args) -> int:
    try:
        policy = load(args.rules, fixtures=True)
    except PolicyLoadError as error:
        for problem in error.problems:
            echo(str(problem), sys.stderr)
        echo(f"clauseline rules check: {len(error.problems)} problem(s)", sys.stderr)
        return 1
    for version in policy.versions:
        clauses = sorted({r.clause for r in version.rules})
        echo(f"{version.version}: {version.counted} over clauses {''.join(clauses)}, "
             f"{len(version.interpretations)} interpretations, in force from "
             f"{version.effective_from.isoformat()}"
             + (" (a test fixture: loaded only when --policy names it)" if version.fixture else "")
             + ": ok")
    return 0


def cmd_rules_list(args) -> int:
    policy = load(args.rules)
    for version in policy.versions:
        for rule in version.enforcing:
            events = ",".join(rule.events) if isinstance(rule, Rule) else "(override)"
            echo(f"{rule.id:<48} {events:<24} {rule.title}")
    return 0


def cmd_interpretations(args) -> int:
    policy = load(args.rules)
    for version in policy.versions:
        entries = sorted(version.interpretations.values(), key=lambda i: (i.clause, i.id))
        if args.format == "json":
            for i in entries:
                cited = sorted(r.id for r in version.enforcing if i.id in r.interpretations)
                echo(canonical.dumps({"id": i.id, "clause": i.clause, "sentence": i.sentence,
                                      "reading": i.reading, "why": i.why, "rules": cited,
                                      "policy_version": version.version}))
            continue
        for i in entries:
            cited = [r.id for r in version.enforcing if i.id in r.interpretations]
            echo(f"{i.id}  (clause {i.clause})")
            echo(f"  sentence: \"{i.sentence}\"")
            echo(f"  reading:  {i.reading}")
            echo(f"  why:      {i.why}")
            echo(f"  rules:    {', '.join(cited) or '(none yet)'}")
            echo("")
    return 0


def cmd_clauses(args) -> int:
    policy = load(args.rules)
    fired: Counter = Counter()
    if args.log:
        session = Session(policy)
        with open_log(args.log) as log, \
                progress(args.quiet, lambda: count_events(args.log), "clauses --log") as advance:
            for _, decision in session.replay(read_lines(log)):
                advance()
                if decision.status == "accepted":
                    fired.update(decision.trace)
    unaccounted = 0
    for version in policy.versions:
        echo(f"{version.version} ({version.title})")
        for letter, clause in sorted(version.clauses.items()):
            rules = [r for r in version.enforcing if r.clause == letter]
            notes = [i.id for i in version.interpretations.values() if i.clause == letter]
            if clause.operative and rules:
                status = "operative, " + rules_counted(
                    sum(1 for r in rules if not isinstance(r, Override)),
                    sum(1 for r in rules if isinstance(r, Override)))
            elif not clause.operative:
                status = "informative"
            else:
                status = "UNACCOUNTED: operative but no rule"
                unaccounted += 1
            echo(f"  {letter}  {clause.title:<60} {status}")  # the whole title, never cut
            if not clause.operative:
                echo(f"       why no decision: {clause.reason}")
            for rule in rules:
                count = f"  fired {fired[rule.id]}x" if args.log else ""
                echo(f"       {rule.id}{count}")
            if notes:
                echo(f"       interpretations: {', '.join(sorted(notes))}")
        operative = sum(1 for c in version.clauses.values() if c.operative)
        echo(f"  {version.counted} over {operative} operative clauses; "
             f"{len(version.clauses) - operative} informative")
    if unaccounted:
        echo(f"{unaccounted} clause(s) unaccounted for", sys.stderr)
        return 1
    return 0


def register(subparsers, parents) -> None:
    """``rules check|list``, ``clauses`` and ``interpretations``."""
    p = subparsers.add_parser(
        "clauses", parents=[parents.rules, parents.quiet],
        help="table of clauses A to W with their rules",
        description="List every clause of the policy: operative with its rules and "
        "interpretations, or informative with the reason it decides nothing. With "
        "--log, also how often each rule fired replaying that log. Exit 1 if an "
        "operative clause has no rule.")
    p.add_argument("--log", metavar="LOG.jsonl", help="count rule firings over this log")
    p.set_defaults(func=cmd_clauses)

    p = subparsers.add_parser(
        "interpretations", parents=[parents.rules, parents.format("text", "json")],
        help="the readings chosen for ambiguous sentences",
        description="Each ambiguous sentence of the policy, the reading the rules "
        "take, why, and the rules that depend on it.")
    p.set_defaults(func=cmd_interpretations)

    rules = subparsers.add_parser("rules", help="check or list the policy rules")
    actions = rules.add_subparsers(dest="rules_command", required=True, metavar="ACTION")
    p = actions.add_parser("check", parents=[parents.rules],
                           help="load and check every rule file; located errors, exit 1")
    p.set_defaults(func=cmd_rules_check)
    p = actions.add_parser("list", parents=[parents.rules],
                           help="one line per rule: id, events, title")
    p.set_defaults(func=cmd_rules_list)
