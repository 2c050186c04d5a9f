"""``right-to-know``: the CCPA response document (clause U) of one subject, built from a store
(``clauseline.right_to_know``; docs/right-to-know.md)."""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path

from .common import at_least_one, echo, load


def cmd_right_to_know(args) -> int:
    from .. import right_to_know as rtk
    from ..errors import printable
    from ..store import open_store

    name = "clauseline right-to-know"
    if args.request is not None and args.at is not None and not args.record:
        echo(f"{name}: give --request or --at, not both (--at goes with --request only "
             "with --record, as the time the document is prepared)", sys.stderr)
        return 2
    if not args.subject:
        echo(f"{name}: SUBJECT is empty: give the data subject's id", sys.stderr)
        return 2
    try:
        if args.at is not None:
            rtk.checked_time(args.at)
    except rtk.RightToKnowError as error:
        echo(f"{name}: {error}", sys.stderr)
        return 2
    if args.format == "csv" and not args.out:
        echo(f"{name}: --format csv writes one file per section into the folder --out names; "
             "give --out FOLDER", sys.stderr)
        return 2
    url = args.db
    if args.partitions is not None:  # the store of the partition that owns the subject
        from ..stream.partitioning import partition_of
        from ..stream.stores import partition_url
        url = partition_url(args.db, partition_of(args.subject, args.partitions))
    store = open_store(url, create=False)
    try:
        try:
            document = rtk.build(store, args.subject, request_id=args.request,
                                 at=None if args.request is not None else args.at)
        except rtk.RightToKnowError as error:
            echo(f"{name}: {error}", sys.stderr)  # code: message
            return 1
        if args.record:
            try:
                event = rtk.prepared_event(document, args.at if args.request is not None else None)
            except rtk.RightToKnowError as error:
                echo(f"{name}: --record: {error}", sys.stderr)
                return 2  # a time before receipt, or no request: wrong usage
            policy = load(args.rules)
            store.close()
            store = open_store(url)  # it exists: this only brings the redaction key
            from ..session import Session
            decision = Session(policy, store).submit(event)
            if decision.status == "rejected":
                problems = "; ".join(printable(str(e.get("message")), lines=False)
                                     for e in decision.errors or [])
                echo(f"{name}: --record: the store refused the ccpa.response.prepared event: "
                     f"{problems}", sys.stderr)
                return 1
            echo(f"{name}: recorded ccpa.response.prepared {event['id']} ({decision.status}) "
                 f"at {event['time']}", sys.stderr)
    finally:
        store.close()

    if args.format == "json":
        text = rtk.dumps(document) + "\n"
    elif args.format == "html":
        text = rtk.to_html(document)
    else:
        folder = Path(args.out)
        folder.mkdir(parents=True, exist_ok=True)
        for file_name, content in rtk.to_csv(document).items():
            (folder / file_name).write_text(content, encoding="utf-8")
        echo(f"{name}: {len(rtk.CSV_SECTIONS) + 2} CSV file(s) in {printable(str(folder))}; "
             f"digest {document['digest']}", sys.stderr)
        return 0
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        echo(f"{name}: {printable(args.out)}; digest {document['digest']}", sys.stderr)
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
    return 0


def register(subparsers, parents) -> None:
    """``right-to-know``."""
    p = subparsers.add_parser(
        "right-to-know",
        parents=[parents.rules,
                 parents.db("an existing store (sqlite:///file.db, a path ending .db, or "
                            "postgresql://...); read only, unless --record", required=True),
                 parents.format("json", "csv", "html",
                                help="json (default: canonical JSON, for transmission), csv (one "
                                "file per section, into the folder --out names) or html (one "
                                "printable page for the consumer)")],
        help="the CCPA right-to-know document of a subject (clause U), from a store",
        description=textwrap.fill(
        "Build what clause U owes a California resident who asks: the categories "
        "of personal information collected, their sources, the purposes, the categories of "
        "third parties, the categories disclosed (by recipient kind and purpose, sales marked) "
        "and the specific pieces the store holds about SUBJECT, for the 12 months before the "
        "request's receipt (--request), or before --at; with neither, before the receipt of "
        "the subject's latest request. Every item names the events and decisions it comes from "
        "(source, id, seq); the same store and request give the same bytes; the document "
        "carries its SHA-256 digest. Card, bank and SSN numbers appear only as the store keeps "
        "them (reduced); other people named in the subject's records are left out. "
        "Exit 0 built; 1 no such subject or request in the store, or the store failed; 2 wrong "
        "usage (a time that is not RFC 3339, --request with --at without --record). "
        "See docs/right-to-know.md.", 92),
        epilog="examples:\n  clauseline right-to-know cus-100262 --db out/demo.db "
        "--request ccpa-2019-0001\n  clauseline right-to-know cus-100262 --db out/demo.db "
        "--at 2020-01-01T00:00:00Z --format html --out rtk.html\n  clauseline right-to-know "
        "cus-100262 --db out/demo.db --request ccpa-2019-0001 --record "
        "--at 2019-07-01T00:00:00Z",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("subject", metavar="SUBJECT", help="the data subject's id (the event subject)")
    p.add_argument("--request", metavar="REQUEST_ID",
                   help="the request answered (request_id of the subject's ccpa.request.filed): "
                   "the period is the 12 months before its receipt")
    p.add_argument("--at", metavar="TIME",
                   help="RFC 3339 time with offset: without --request, the end of the period "
                   "(the 12 months before it); with --request and --record, when the document "
                   "is prepared (the recorded event's time; default: the request's receipt)")
    p.add_argument("--partitions", metavar="N", type=at_least_one,
                   help="--db is the base URL of a stream's partition stores (clauseline consume "
                   "--partitions N): read the store of the partition that owns SUBJECT, which "
                   "holds every event about it (docs/scale.md)")
    p.add_argument("--out", metavar="PATH",
                   help="write to this file (a folder with --format csv) instead of stdout")
    p.add_argument("--record", action="store_true",
                   help="also submit a ccpa.response.prepared event (source "
                   "/clauseline/right-to-know, id from the digest, subject SUBJECT) to the store, "
                   "so that a delivery carrying this document's digest is checked against it; "
                   "needs a request")
    p.set_defaults(func=cmd_right_to_know)
