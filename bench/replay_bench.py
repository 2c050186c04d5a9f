"""Replay throughput and memory of the in-memory engine (no store).

Run: `make bench` or `.venv/bin/python bench/replay_bench.py [--events N] [--subjects S]`.
Prints events/s for the whole pipeline and for its stages (schema validation, matching), and the
peak resident memory. Numbers from runs on the project's machine are in bench/README.md.
"""

from __future__ import annotations

import argparse
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


def make_log(events: int, subjects: int, seed: int = 7) -> list[str]:
    """A mixed log of payments, disclosure requests and recorded calls."""
    rng = random.Random(seed)
    lines = []
    for i in range(events):
        subject = f"acct-{rng.randrange(subjects)}"
        t = f"2019-{6 + i * 6 // events:02d}-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:00Z"
        kind = i % 3
        if kind == 0:
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=6000)
    parser.add_argument("--subjects", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    started = time.perf_counter()
    policy = load_policy()
    load_s = time.perf_counter() - started
    lines = make_log(args.events, args.subjects)
    events = [json.loads(line) for line in lines]
    schemas = policy.schemas
    version = policy.latest

    def replay():
        for _ in Session(policy).replay(lines):
            pass

    def validate():
        for event in events:
            schemas.event_problems(event)

    from clauseline.evaluation.facts import facts_for, memory_view

    def match():
        for event in events:
            base = {"id": event["id"], "source": event["source"], "type": event["type"],
                    "subject": event["subject"], "time": event["time"], "data": event["data"],
                    "profile": {}, "memory": memory_view({}, event["subject"], event["data"]),
                    "facility": {}, "policy": {}}
            version.matcher.match(facts_for(version, base))

    total = best_of(args.runs, replay)
    valid = best_of(args.runs, validate)
    matching = best_of(args.runs, match)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    n = args.events
    print(f"policy load+compile: {load_s * 1000:.0f} ms ({len(version.rules)} rules)")
    print(f"replay, {n} events over {args.subjects} subjects (median of {args.runs}): "
          f"{n / total:,.0f} events/s ({total * 1e6 / n:.0f} us/event)")
    print(f"  schema validation alone: {n / valid:,.0f} events/s ({valid * 1e6 / n:.0f} us/event)")
    print(f"  fact expansion + durable_rules matching alone: {n / matching:,.0f} events/s "
          f"({matching * 1e6 / n:.0f} us/event)")
    print(f"peak RSS: {rss_mb:.0f} MB")


if __name__ == "__main__":
    main()
