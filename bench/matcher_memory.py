"""Does the durable_rules matcher hold on to anything? Resident memory over repeated rounds.

Run: `.venv/bin/python bench/matcher_memory.py [--events N] [--rounds R]`. Every event is
expanded into facts that are asserted and retracted on one fixed sid; RSS after each round
should stay flat (numbers in bench/README.md).
"""

from __future__ import annotations

import argparse
import json

from clauseline import load_policy
from clauseline.evaluation.facts import facts_for
from replay_bench import empty_memory, make_log


def rss_kb() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        return int(status.read().split("VmRSS:")[1].split()[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    version = load_policy().latest
    events = [json.loads(line) for line in make_log(args.events, args.events)]
    for round_ in range(1, args.rounds + 1):
        for event in events:
            base = {"id": event["id"], "source": event["source"], "type": event["type"],
                    "subject": event["subject"], "time": event["time"], "data": event["data"],
                    "profile": {}, "memory": empty_memory(event),
                    "facility": {"exempt_user_types": ["attorney"]}, "policy": {}}
            version.matcher.match(facts_for(version, base))
        print(f"after {round_ * args.events:>7} events ({args.events} subjects each round): "
              f"RSS {rss_kb() / 1024:.1f} MB", flush=True)


if __name__ == "__main__":
    main()
