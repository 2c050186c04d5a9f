"""Instructions per event as the state grows: does the per-event cost depend on what came before?

Run in a tree with its own `.venv`:

    .venv/bin/python bench/state_instructions.py --before N --measure K --subjects S
        [--ordered] [--memory-writes] [--keep callgrind.out] [--profile ROWS]

The log is `replay_bench.make_log(N + K, S)`. Its first N events are replayed natively (no
valgrind) into a MemoryStore whose state is then pickled; then a second process under
`valgrind --tool=callgrind --instr-atstart=no` loads the policy and that state, replays 20
events of the log after them uninstrumented (warm-up), switches the instrumentation on
(`callgrind_control -i on`, on its own pid), replays the next K events, and switches it off.
Printed: the instructions of those K events / K. Wall-clock time does not enter, so the numbers
repeat from run to run (to about 0.1 %: objects hashed by address still move), and the same K
events can be measured after N = 10,000 or 100,000 earlier ones, with 100 or 50,000 subjects.

`--profile ROWS` runs the K events natively under cProfile instead and prints the ROWS
functions with the most time of their own (to find which Python code an instruction count
comes from).

The instrumentation switch itself (the `callgrind_control` subprocess returning, then starting
again) is counted too: a few million instructions, under 0.1 % of K = 1,000 events.
"""

from __future__ import annotations

import argparse
import os
import pickle
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

WARM = 20


def prepare(args, state_file: str) -> None:
    from clauseline import load_policy
    from clauseline.session import Session

    from replay_bench import make_log

    lines = make_log(args.before + WARM + args.measure, args.subjects, ordered=args.ordered,
                     memory_writes=args.memory_writes)
    session = Session(load_policy())
    started = time.perf_counter()
    for _ in session.replay(lines[:args.before]):
        pass
    seconds = time.perf_counter() - started
    with open(state_file, "wb") as out:
        pickle.dump(session.store.state, out, protocol=pickle.HIGHEST_PROTOCOL)
    print(f"prepared: {args.before} events natively in {seconds:.0f} s, "
          f"{len(session.store.state.get('subjects', {}))} subject records", file=sys.stderr)


def measured(args, state_file: str, profile: bool = False) -> None:
    from clauseline import load_policy
    from clauseline.session import MemoryStore, Session

    from replay_bench import make_log

    lines = make_log(args.before + WARM + args.measure, args.subjects, ordered=args.ordered,
                     memory_writes=args.memory_writes)
    store = MemoryStore()
    with open(state_file, "rb") as data:
        store.state = pickle.load(data)
    session = Session(load_policy(), store)
    for _ in session.replay(lines[args.before:args.before + WARM]):
        pass
    if profile:  # natively, under cProfile: which Python functions the K events spend time in
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        profiler.enable()
        for _ in session.replay(lines[args.before + WARM:]):
            pass
        profiler.disable()
        stats = pstats.Stats(profiler)
        stats.sort_stats("tottime").print_stats(args.profile)
        # the evaluator's memory and state (where the per-subject records are read and copied)
        stats.sort_stats("cumulative").print_stats(r"evaluation/(memory|state)\.py")
        stats.print_callers(r"\(_apply\)")
        return
    me = str(os.getpid())
    subprocess.run(["callgrind_control", "-i", "on", me], check=True, capture_output=True)
    for _ in session.replay(lines[args.before + WARM:]):
        pass
    subprocess.run(["callgrind_control", "-i", "off", me], check=True, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=int, default=10000)
    parser.add_argument("--measure", type=int, default=1000)
    parser.add_argument("--subjects", type=int, default=100)
    parser.add_argument("--ordered", action="store_true")
    parser.add_argument("--memory-writes", action="store_true")
    parser.add_argument("--stage", choices=["all", "prepare", "measured"], default="all")
    parser.add_argument("--state-file")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="instead of callgrind: cProfile the K events natively, print N rows")
    parser.add_argument("--keep", help="also copy callgrind's output here (for callgrind_annotate)")
    args = parser.parse_args()
    if args.stage == "prepare":
        return prepare(args, args.state_file)
    if args.stage == "measured":
        return measured(args, args.state_file)
    with tempfile.TemporaryDirectory() as folder:
        state_file, out = f"{folder}/state.pickle", f"{folder}/callgrind.out"
        flags = [f"--before={args.before}", f"--measure={args.measure}",
                 f"--subjects={args.subjects}", f"--state-file={state_file}"]
        flags += ["--ordered"] * args.ordered + ["--memory-writes"] * args.memory_writes
        me = [sys.executable, __file__] + flags
        subprocess.run(me + ["--stage=prepare"], check=True)
        if args.profile:
            return measured(args, state_file, profile=True)
        env = dict(os.environ, PYTHONHASHSEED="0")
        subprocess.run(["valgrind", "--tool=callgrind", "--instr-atstart=no",
                        f"--callgrind-out-file={out}"] + me + ["--stage=measured"],
                       check=True, env=env, capture_output=True)
        report = subprocess.run(["callgrind_annotate", out], check=True, capture_output=True,
                                text=True).stdout
        total = next(int(line.split()[0].replace(",", "")) for line in report.splitlines()
                     if "PROGRAM TOTALS" in line)
        if args.keep:
            Path(args.keep).write_bytes(Path(out).read_bytes())
    log = (f"{'increasing' if args.ordered else 'back-and-forth'} times, "
           f"{'memory writes' if args.memory_writes else 'no memory writes'}")
    print(f"{args.measure} events after {args.before} over {args.subjects} subjects ({log}): "
          f"{total / args.measure / 1e6:.3f} M instructions per event")


if __name__ == "__main__":
    main()
