"""Replay throughput into the durable stores (SQLite and PostgreSQL) against the in-memory store.

Run: `.venv/bin/python bench/store_bench.py [--events N] [--subjects S] [--pg URL]`.
For each store: events/s of a first replay (every event evaluated and committed in its own
transaction) and of a second replay of the same log (every event a duplicate: one indexed read).
PostgreSQL runs in a fresh schema of the database at --pg (default the local server's `test`
database as root), dropped afterwards; it is skipped with a note when no server answers.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from clauseline import load_policy  # noqa: E402
from clauseline.session import MemoryStore, Session  # noqa: E402
from clauseline.store import open_store  # noqa: E402
from replay_bench import make_log  # noqa: E402


def replay(policy, store, lines) -> float:
    session = Session(policy, store)
    started = time.perf_counter()
    for _ in session.replay(lines):
        pass
    return len(lines) / (time.perf_counter() - started)


def bench(name, policy, url, lines) -> None:
    store = open_store(url)
    try:
        first = replay(policy, store, lines)
        second = replay(policy, store, lines)
    finally:
        store.close()
    print(f"{name:<12} first replay {first:8.0f} events/s   second (all duplicates) "
          f"{second:8.0f} events/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--subjects", type=int, default=500)
    parser.add_argument("--pg", default=os.environ.get("CLAUSELINE_BENCH_PG",
                                                       "postgresql://root@127.0.0.1:5432/test"))
    args = parser.parse_args()
    policy = load_policy()
    lines = make_log(args.events, args.subjects)
    print(f"{args.events} events over {args.subjects} subjects")
    print(f"{'memory':<12} first replay {replay(policy, MemoryStore(), lines):8.0f} events/s")
    with tempfile.TemporaryDirectory() as folder:
        bench("sqlite", policy, f"sqlite:///{folder}/bench.db", lines)
    try:
        import psycopg

        schema = "cl_bench_" + uuid.uuid4().hex[:10]
        with psycopg.connect(args.pg, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'create schema "{schema}"')
    except Exception as error:  # noqa: BLE001
        print(f"{'postgresql':<12} skipped: no server answers at {args.pg}: {error}")
        return
    try:
        bench("postgresql", policy, f"{args.pg}?options=-csearch_path%3D{schema}", lines)
    finally:
        with psycopg.connect(args.pg, autocommit=True) as conn:
            conn.execute(f'drop schema "{schema}" cascade')


if __name__ == "__main__":
    main()
