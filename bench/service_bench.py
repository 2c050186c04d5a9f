"""Throughput and latency of the HTTP service: `clauseline serve` as a real process, posted to
over loopback by several keep-alive connections.

Run: `.venv/bin/python bench/service_bench.py [--events N] [--subjects S] [--connections K]
[--pg URL]`. For each setup (SQLite with one worker; PostgreSQL with one and two workers): a
fresh store, then the log of bench/replay_bench.py posted one event per request in structured
mode (each subject's events on one connection, in order), and the same log into another fresh
store as batches of 100 events (`application/cloudevents-batch+json`). Prints events/s and the
p50/p99 latency of a request. PostgreSQL runs in fresh schemas of the database at --pg (default
the local server's `test` database as root), dropped afterwards; skipped with a note when no
server answers. The client runs in this process (threads with httpx), so on a 2-core machine it
competes with the server for the CPU: the numbers are a floor.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from replay_bench import make_log  # noqa: E402

CLAUSELINE = Path(sys.executable).parent / "clauseline"
ENV = {**os.environ, "CLAUSELINE_REDACTION_KEY": "bench-key-not-secret"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Serve:
    def __init__(self, db: str, workers: int):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [str(CLAUSELINE), "serve", "--db", db, "--port", str(self.port), "--workers",
             str(workers), "--insecure-no-auth", "--log-level", "warning"],
            env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(600):
            try:
                urllib.request.urlopen(self.url + "/healthz", timeout=1)
                return
            except OSError:
                time.sleep(0.1)
        raise SystemExit("clauseline serve did not start")

    def stop(self):
        self.process.send_signal(signal.SIGINT)
        self.process.wait(timeout=60)


def by_connection(lines: list[str], connections: int) -> list[list[str]]:
    """Each subject's events on one connection, in log order."""
    out = [[] for _ in range(connections)]
    for line in lines:
        subject = json.loads(line)["subject"]
        out[hash(subject) % connections].append(line)
    return out


def post_all(url: str, parts: list[list[str]], batch: int) -> tuple[float, list[float]]:
    latencies: list[float] = []
    lock = threading.Lock()
    failures: list[str] = []

    def run(lines: list[str]) -> None:
        mine = []
        with httpx.Client(base_url=url, timeout=120) as client:
            if batch == 1:
                for line in lines:
                    started = time.perf_counter()
                    response = client.post("/v1/events", content=line, headers={
                        "content-type": "application/cloudevents+json"})
                    mine.append(time.perf_counter() - started)
                    if response.status_code not in (200, 201):
                        failures.append(response.text[:200])
            else:
                for i in range(0, len(lines), batch):
                    body = "[" + ",".join(lines[i:i + batch]) + "]"
                    started = time.perf_counter()
                    response = client.post("/v1/events", content=body, headers={
                        "content-type": "application/cloudevents-batch+json"})
                    mine.append(time.perf_counter() - started)
                    if response.status_code != 200:
                        failures.append(response.text[:200])
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=run, args=(p,)) for p in parts if p]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise SystemExit(f"{len(failures)} requests failed, e.g. {failures[0]}")
    return elapsed, latencies


def pg_schema(base: str):
    import psycopg
    name = "cl_bench_" + uuid.uuid4().hex[:10]
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'create schema "{name}"')
    return name, f"{base}?options=-csearch_path%3D{name}"


def drop(base: str, name: str):
    import psycopg
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'drop schema if exists "{name}" cascade')


def measure(label: str, make_db, workers: int, lines, connections: int) -> dict:
    row = {"setup": label, "workers": workers}
    for mode, batch in (("one event per request", 1), ("batches of 100", 100)):
        db, cleanup = make_db()
        server = Serve(db, workers)
        try:
            parts = by_connection(lines, connections)
            elapsed, latencies = post_all(server.url, parts, batch)
        finally:
            server.stop()
            cleanup()
        latencies.sort()
        row[mode] = {"events_per_s": round(len(lines) / elapsed),
                     "p50_ms": round(statistics.median(latencies) * 1000, 1),
                     "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 1)}
        print(f"{label:<28} {workers} worker(s)  {mode:<22} {row[mode]['events_per_s']:>6} events/s  "
              f"p50 {row[mode]['p50_ms']:>7} ms  p99 {row[mode]['p99_ms']:>7} ms", flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--subjects", type=int, default=500)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--pg", default="postgresql://root@127.0.0.1:5432/test")
    parser.add_argument("--json", action="store_true", help="also print the rows as JSON")
    args = parser.parse_args()
    lines = make_log(args.events, args.subjects, ordered=True)
    print(f"{args.events} events over {args.subjects} subjects, {args.connections} connections")
    home = tempfile.mkdtemp(prefix="clauseline-service-bench-")
    counter = iter(range(1000))

    def sqlite():
        return f"sqlite:///{home}/s{next(counter)}.db", lambda: None

    rows = [measure("SQLite", sqlite, 1, lines, args.connections)]
    try:
        import psycopg
        with psycopg.connect(args.pg, connect_timeout=3):
            pass
    except Exception as error:  # noqa: BLE001
        print(f"PostgreSQL skipped: {error}")
    else:
        def postgres():
            name, url = pg_schema(args.pg)
            return url, lambda: drop(args.pg, name)
        for workers in (1, 2):
            rows.append(measure("PostgreSQL", postgres, workers, lines, args.connections))
    if args.json:
        print(json.dumps(rows))


if __name__ == "__main__":
    main()
