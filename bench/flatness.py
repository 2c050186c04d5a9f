"""Does the per-event cost stay flat as the log grows and as the subjects grow? Several trees.

Run with any Python (it starts the others):

    python3 bench/flatness.py --tree /tmp/before --tree . [--events 10000 100000]
        [--subjects 100 50000] [--runs 3] [--ordered] [--memory-writes] [--windows 10]

For each tree (a checkout with its own ``.venv``), each log length and each number of subjects,
``bench/replay_bench.py --replay-only --json`` of *this* tree's bench/ runs in a fresh process
of that tree's ``.venv`` (so the peak RSS is that replay's). One process at a time, trees
interleaved per configuration so that drift of the machine's speed touches both alike. Prints a
Markdown table: µs/event (median of ``--runs`` replays) and events/s, µs/event of the first and
the last tenth of the first replay, and RSS before the replays and at the peak.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def run(tree: Path, events: int, subjects: int, args) -> dict:
    command = [str(tree / ".venv" / "bin" / "python"), str(HERE / "replay_bench.py"),
               "--replay-only", "--json", "--events", str(events), "--subjects", str(subjects),
               "--runs", str(args.runs), "--windows", str(args.windows)]
    command += ["--ordered"] * args.ordered + ["--memory-writes"] * args.memory_writes
    out = subprocess.run(command, cwd=tree, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def label(tree: Path) -> str:
    commit = subprocess.run(["git", "-C", str(tree), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    return f"{tree.name or tree} ({commit})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", action="append", type=Path, required=True)
    parser.add_argument("--events", type=int, nargs="+", default=[10000, 100000])
    parser.add_argument("--subjects", type=int, nargs="+", default=[100, 50000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--windows", type=int, default=10)
    parser.add_argument("--ordered", action="store_true")
    parser.add_argument("--memory-writes", action="store_true")
    args = parser.parse_args()
    trees = [t.resolve() for t in args.tree]
    print(f"log: {'increasing' if args.ordered else 'back-and-forth'} times, "
          f"{'every 4th event writes memory' if args.memory_writes else 'no memory writes'}; "
          f"median of {args.runs} replays", flush=True)
    print("| tree | events | subjects | µs/event | events/s | first tenth | last tenth "
          "| RSS before → peak |", flush=True)
    print("|---|---|---|---|---|---|---|---|", flush=True)
    for events in args.events:
        for subjects in args.subjects:
            for tree in trees:
                r = run(tree, events, subjects, args)
                w = r["windows_us"]
                print(f"| {label(tree)} | {events:,} | {subjects:,} | {r['us_per_event']:,.0f} "
                      f"| {r['events_per_s']:,.0f} | {w[0]:,.0f} | {w[-1]:,.0f} "
                      f"| {r['rss_before_mb']:,.0f} → {r['peak_rss_mb']:,.0f} MB |", flush=True)
                print(json.dumps({"tree": str(tree), **r}), file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
