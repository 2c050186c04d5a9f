"""Replay throughput and memory of the in-memory engine (no store).

Run: `make bench` or `.venv/bin/python bench/replay_bench.py [--events N] [--subjects S]`.
Prints events/s for the whole pipeline and for its stages (schema validation, matching), and the
peak resident memory. Numbers from runs on the project's machine are in bench/README.md.

For long logs: `--replay-only` skips the two stage measurements, `--windows K` also prints
µs/event of each of K consecutive slices of the first replay (flat means the per-event cost does
not grow with the log), `--ordered` gives the events increasing times (the default log's times
jump back and forth, so most of a subject's events are earlier than its latest),
`--memory-writes` makes every 4th event one that changes the subject's memory (the default log
changes none), and `--json` prints one JSON object instead of text.
"""

from __future__ import annotations

import argparse
import inspect
import json
import random
import resource
import statistics
import time

from clauseline import Session, load_policy

CATEGORIES = ["name", "email", "phone", "voice", "video", "ssn", "location", "call_details",
              "credit_card", "account_info"]
RECIPIENTS = [("law_enforcement", "law_enforcement_activity"), ("vendor", "service_provision"),
              ("commercial_third_party", "sale"), ("payment_processor", "transaction_processing"),
              ("regulator", "illegal_activity_investigation")]


def make_log(events: int, subjects: int, seed: int = 7, ordered: bool = False,
             memory_writes: bool = False) -> list[str]:
    """A mixed log of payments, disclosure requests and recorded calls.

    None of these three writes the subject's memory. With ``memory_writes`` every 4th event is
    instead a ``cookie.preference.changed`` of remember_me (clause D remembers the choice: one
    change of the subject's record each). By default the times jump back and forth (day
    ``i % 28``, hour ``i % 24`` of a month that advances with the log); ``ordered`` spreads them
    evenly and increasing over 2019-06 to 2019-11 (whole seconds), the same events otherwise."""
    rng = random.Random(seed)
    lines = []
    start, span = 1559347200, 183 * 86400  # 2019-06-01T00:00:00Z, 183 days in seconds
    for i in range(events):
        subject = f"acct-{rng.randrange(subjects)}"
        if ordered:
            t = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start + i * span // events))
        else:
            t = f"2019-{6 + i * 6 // events:02d}-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:00Z"
        kind = i % 3
        if memory_writes and i % 4 == 3:
            data = {"purpose": "remember_me", "enabled": rng.random() < 0.5}
            etype = "cookie.preference.changed"
        elif kind == 0:
            data = {"transaction_id": f"t-{i}", "amount": 10, "currency": "USD",
                    "instrument": rng.choice(["credit_card", "debit_card", "bank_account"]),
                    "status": rng.choice(["completed", "authorized", "failed"]),
                    "encrypted_in_transit": rng.random() > 0.05, "product": "calls"}
            etype = "payment.made"
        elif kind == 1:
            recipient, purpose = rng.choice(RECIPIENTS)
            data = {"request_id": f"r-{i}", "recipient": {"kind": recipient, "name": "x"},
                    "purpose": purpose, "data_categories": rng.sample(CATEGORIES, 4)}
            etype = "disclosure.requested"
        else:
            data = {"call_id": f"c-{i}", "facility_id": "tx-dallas-01", "recording_id": f"rec-{i}",
                    "monitored": True, "parties": [{"subject": subject, "user_type": "family"}],
                    "collected": ["voice", "call_details", "phone"]}
            etype = "call.recorded"
        lines.append(json.dumps({"specversion": "1.0", "id": f"e-{i}", "source": "/bench",
                                 "type": etype, "time": t, "subject": subject, "data": data}))
    return lines


def best_of(runs: int, fn) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def empty_memory(event: dict) -> dict:
    """``memory`` of an event whose subject has no record, from ``memory_view`` of either
    signature: (subjects, subject, data) before issue 9, (view, data, overdue, first_seen,
    global_view) since."""
    from clauseline.evaluation.facts import memory_view

    if "subjects" in inspect.signature(memory_view).parameters:
        return memory_view({}, event["subject"], event["data"])
    return memory_view({}, event["data"], [], event["time"], {})


def rss_mb() -> float:
    """Current resident memory."""
    with open("/proc/self/status", encoding="ascii") as status:
        return int(status.read().split("VmRSS:")[1].split()[0]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=6000)
    parser.add_argument("--subjects", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--ordered", action="store_true", help="increasing event times")
    parser.add_argument("--memory-writes", action="store_true",
                        help="every 4th event changes the subject's memory")
    parser.add_argument("--replay-only", action="store_true", help="skip the stage measurements")
    parser.add_argument("--windows", type=int, default=0, help="us/event per slice of the log")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    started = time.perf_counter()
    policy = load_policy()
    load_s = time.perf_counter() - started
    lines = make_log(args.events, args.subjects, ordered=args.ordered,
                     memory_writes=args.memory_writes)
    events = [] if args.replay_only else [json.loads(line) for line in lines]
    schemas = policy.schemas
    version = policy.latest
    rss_before = rss_mb()
    slices: list[float] = []

    def replay():
        bounds = [len(lines) * (k + 1) // args.windows for k in range(args.windows)] \
            if args.windows and not slices else []
        mark, last = time.perf_counter(), 0
        for number, _ in Session(policy).replay(lines):
            if bounds and number == bounds[0]:
                now = time.perf_counter()
                slices.append((now - mark) * 1e6 / (number - last))
                mark, last = now, number
                bounds.pop(0)

    def validate():
        for event in events:
            schemas.event_problems(event)

    from clauseline.evaluation.facts import facts_for

    def match():
        for event in events:
            base = {"id": event["id"], "source": event["source"], "type": event["type"],
                    "subject": event["subject"], "time": event["time"], "data": event["data"],
                    "profile": {}, "memory": empty_memory(event),
                    "facility": {}, "policy": {}}
            version.matcher.match(facts_for(version, base))

    total = best_of(args.runs, replay)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    n = args.events
    if args.json:
        print(json.dumps({"events": n, "subjects": args.subjects, "ordered": args.ordered,
                          "memory_writes": args.memory_writes,
                          "runs": args.runs, "us_per_event": total * 1e6 / n,
                          "events_per_s": n / total, "windows_us": slices,
                          "rss_before_mb": rss_before, "peak_rss_mb": peak_mb}))
        return
    if args.replay_only:
        print(f"replay, {n} events over {args.subjects} subjects (median of {args.runs}): "
              f"{n / total:,.0f} events/s ({total * 1e6 / n:.0f} us/event)")
        if slices:
            print("  us/event per slice: " + " ".join(f"{u:.0f}" for u in slices))
        print(f"RSS before the replays: {rss_before:.0f} MB; peak RSS: {peak_mb:.0f} MB")
        return
    valid = best_of(args.runs, validate)
    matching = best_of(args.runs, match)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"policy load+compile: {load_s * 1000:.0f} ms ({len(version.rules)} rules)")
    print(f"replay, {n} events over {args.subjects} subjects (median of {args.runs}): "
          f"{n / total:,.0f} events/s ({total * 1e6 / n:.0f} us/event)")
    print(f"  schema validation alone: {n / valid:,.0f} events/s ({valid * 1e6 / n:.0f} us/event)")
    print(f"  fact expansion + durable_rules matching alone: {n / matching:,.0f} events/s "
          f"({matching * 1e6 / n:.0f} us/event)")
    if slices:
        print("  us/event per slice of the first replay: " + " ".join(f"{u:.0f}" for u in slices))
    print(f"peak RSS: {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
