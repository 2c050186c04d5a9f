"""Scaling out over NATS JetStream (``clauseline.stream``, docs/scale.md): ``publish`` (a log into
the events stream, partitioned by subject) and ``consume`` (decide a set of partitions into
their stores)."""

from __future__ import annotations

import argparse
import sys
import textwrap

from .common import at_least_one, echo, load, not_negative, port_number


def max_age(text: str) -> float:
    """An argparse type: a stream's retention, a duration such as 7d, 36h or 90m (seconds)."""
    from ..stream.jetstream import parse_duration
    try:
        return parse_duration(text, "")
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error).lstrip(": ")) from None


def event_time_span(text: str) -> float:
    """An argparse type: a positive span of event time, such as 1d, 12h or 30m (seconds)."""
    from ..stream.jetstream import parse_duration
    try:
        return parse_duration(text, "")
    except ValueError:  # the value is not quoted: it may be anything (a card number, say)
        raise argparse.ArgumentTypeError("not a positive span of event time; write a number and "
                                         "a unit (s, m, h, d, w), e.g. 1d, 12h, 30m") from None


def watermark_options(p) -> None:
    """The rate of watermark messages (``publish``; docs/scale.md)."""
    from ..stream.publish import WATERMARK_EVERY, WATERMARK_INTERVAL
    p.add_argument("--watermark-every", metavar="N", type=at_least_one, default=WATERMARK_EVERY,
                   help="send a watermark message to every partition after this many events "
                   f"(default {WATERMARK_EVERY}) ...")
    p.add_argument("--watermark-interval", metavar="SPAN", type=event_time_span,
                   default=event_time_span(WATERMARK_INTERVAL),
                   help="... or once the log's event time moved this far since the last one "
                   f"(default {WATERMARK_INTERVAL}), and at the end: a partition that gets no "
                   "event still sees time pass and fires its deadline timers")


def max_age_option(p, what: str) -> None:
    from ..stream.jetstream import DEFAULT_MAX_AGE
    p.add_argument("--max-age", metavar="DURATION", type=max_age,
                   help=f"how long {what} keeps a message before JetStream deletes it: a number "
                   f"and a unit (s, m, h, d, w), e.g. 36h or 30d; default {DEFAULT_MAX_AGE} for "
                   "a new stream. An existing stream is updated to it when given (and said "
                   "so); 0, negative or unitless values are refused")


def cmd_publish(args) -> int:
    from ..stream.publish import run_publish
    run_publish(args.log, args.nats, args.stream, args.partitions, load(args.rules), args.quiet,
                args.max_age, args.watermark_every, args.watermark_interval)
    return 0


def cmd_consume(args) -> int:
    from ..stream.consume import run_consume
    return run_consume(load(args.rules), args)


def cmd_merge(args) -> int:
    from .. import canonical
    from ..stream.merge import in_time_order, merged_decisions
    merged = merged_decisions(args.db, args.partitions, load(args.rules))
    out = open(args.out, "w", encoding="utf-8") if args.out else sys.stdout
    try:
        for decision in in_time_order(merged):
            out.write(canonical.dumps(decision) + "\n")
    finally:
        if out is not sys.stdout:
            out.close()
    echo(f"clauseline merge: {len(merged)} decision(s) from {args.partitions} partition "
         "store(s)", sys.stderr)
    return 0


def register(subparsers, parents) -> None:
    """``publish``, ``consume`` and ``merge``."""
    p = subparsers.add_parser(
        "publish", parents=[parents.rules, parents.quiet],
        help="send a JSON Lines log into a NATS JetStream stream, "
        "partitioned by subject", formatter_class=argparse.RawDescriptionHelpFormatter,
        description=textwrap.fill("Publish each line of the log, in order, to the events stream "
        "(created when absent, with --partitions, default 6): on NAME.p.K for each partition K "
        "that evaluates it: the partition of the event's CloudEvents subject (a stable hash) "
        "and those of the subjects it names; every partition for an event without subject "
        "(clock.tick, policy.changed) or one that writes the shared record. Each message "
        "carries the log's event time so far (Clauseline-Watermark), and watermark messages "
        "reach every partition (--watermark-every, --watermark-interval), so that each fires "
        "its deadline timers where a serial replay does. A repeat of an "
        "event (same source and id) within two minutes is dropped by JetStream (Nats-Msg-Id). "
        "Each event is published reduced, as a store keeps it: no card, bank or social "
        "security number reaches the stream in full (the HMAC under CLAUSELINE_REDACTION_KEY "
        "when set). The stream keeps messages for --max-age. "
        "A summary goes to stderr. Layout and guarantees: docs/scale.md.", 78),
        epilog="example:\n  clauseline publish examples/demo-log.jsonl --nats nats://127.0.0.1:4222 "
        "--stream EVENTS --partitions 6\nexit codes: 0 published; 1 NATS or the stream cannot be "
        "used (nats.unavailable, stream.partitions_mismatch, ...); 2 wrong usage")
    p.add_argument("log", metavar="LOG.jsonl", help="the log (- for stdin)")
    p.add_argument("--nats", metavar="URL", required=True, help="the NATS server, e.g. nats://127.0.0.1:4222")
    p.add_argument("--stream", metavar="NAME", required=True,
                   help="the events stream (letters, digits, - and _)")
    p.add_argument("--partitions", metavar="N", type=at_least_one,
                   help="partitions of a new stream (default 6); for an existing one it must be "
                   "its own count, which is used when omitted")
    max_age_option(p, "the events stream")
    watermark_options(p)
    p.set_defaults(func=cmd_publish)

    p = subparsers.add_parser(
        "consume", parents=[parents.rules,
                            parents.db("postgresql://... (or sqlite:///file.db on one machine, "
                                       "one process): the database of the partition stores",
                                       required=True),
                            parents.quiet],
        help="decide events from a NATS JetStream stream, for a set "
        "of partitions, into PostgreSQL", formatter_class=argparse.RawDescriptionHelpFormatter,
        description=textwrap.fill("Durable JetStream consumers, one per partition it owns: each "
        "reads its partition's subject (NAME.p.K) alone, in the stream's order, evaluates its "
        "events (and, for its subjects, those that cross partitions, which publish sent it "
        "too), fires its deadline timers as the watermarks pass them, and stores each "
        "partition in its own store: the schema "
        "PREFIX_pK of the --db database (PREFIX: the schema the URL selects, or clauseline). "
        "A batch is acknowledged only once its events and decisions are committed; a batch "
        "delivered again is answered from the stores (duplicate). Decisions are published to "
        "the --decisions stream, one message per event and partition. Run one process per set "
        "of partitions, e.g. three processes over six partitions with --partition 0 "
        "--partition 1, and so on. Stop with Ctrl-C or SIGTERM: the batch in hand is finished "
        "first. A lost NATS connection is reconnected (for about 30 s) and the consumer "
        "re-created at the last committed batch, so none is lost or applied twice. "
        "docs/scale.md.", 78),
        epilog="example:\n  clauseline consume --nats nats://127.0.0.1:4222 --stream EVENTS "
        "--db postgresql://app@db/clauseline --partition 0 --partition 1\nexit codes: 0 drained, or "
        "stopped by SIGTERM or Ctrl-C (after finishing the batch in hand); 1 NATS, the stream or "
        "the store cannot be used; 2 wrong usage")
    p.add_argument("--nats", metavar="URL", required=True, help="the NATS server, e.g. nats://127.0.0.1:4222")
    p.add_argument("--stream", metavar="NAME", required=True, help="the events stream")
    p.add_argument("--partitions", metavar="N", type=at_least_one,
                   help="the stream's partition count (default: read from the stream; a "
                   "different one is refused)")
    p.add_argument("--partition", metavar="K", type=not_negative, action="append",
                   help="a partition this process owns (repeatable; default: all of them)")
    p.add_argument("--drain", action="store_true",
                   help="exit once every message of the stream is decided and acknowledged "
                   "(batch jobs, tests); default: run until stopped")
    p.add_argument("--batch", metavar="N", type=at_least_one, default=500,
                   help="messages fetched, decided and committed at once; also the most "
                   "messages in flight unacknowledged (max_ack_pending). Default 500")
    p.add_argument("--decisions", metavar="NAME",
                   help="the stream decisions are published to (created when absent; subjects "
                   "NAME.p.K). Default: STREAM_DECISIONS; '-' publishes none")
    max_age_option(p, "the decisions stream")
    p.add_argument("--metrics-port", metavar="PORT", type=port_number,
                   help="serve Prometheus metrics (lag, rate, counts) on this port at /metrics")
    p.add_argument("--metrics-host", metavar="HOST", default="127.0.0.1",
                   help="address of the metrics endpoint (default 127.0.0.1)")
    p.set_defaults(func=cmd_consume)

    p = subparsers.add_parser(
        "merge", parents=[parents.rules,
                          parents.db("the --db of clauseline consume (the database of the "
                                     "partition stores)", required=True)],
        help="read a partitioned stream's stores back as one decision per event",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=textwrap.fill("Read the decisions of every partition store that "
        "clauseline consume wrote under --db and merge them into one decision per event, as a "
        "serial replay of the same log into one store decides it: each partition vouches for "
        "the outcomes about its own subjects, the owner partition (that of the event's subject) "
        "for the rest. Prints canonical JSON lines, by event time (then source and id). Only "
        "accepted events are stored, so rejected lines and repeats of a log have no merged "
        "decision; replay --compare accepts this output and leaves those out (docs/scale.md). "
        "Decisions kept by stores have card, bank and social security numbers reduced.", 78),
        epilog="example:\n  clauseline merge --db postgresql://app@db/clauseline --partitions 6 "
        "> merged.jsonl\nexit codes: 0 merged; 1 a store cannot be read (a partition never "
        "consumed, a wrong --partitions); 2 wrong usage")
    p.add_argument("--partitions", metavar="N", type=at_least_one, required=True,
                   help="the stream's partition count")
    p.add_argument("--out", metavar="FILE", help="write here instead of stdout")
    p.set_defaults(func=cmd_merge)
