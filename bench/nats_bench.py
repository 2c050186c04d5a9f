"""Events/s of `clauseline consume` over NATS JetStream for 1, 2 and 3 consumer processes, with
the lag curve.

Run: `.venv/bin/python bench/nats_bench.py [--events N] [--subjects S] [--partitions P]
[--consumers 1,2,3] [--batch N] [--nats URL] [--pg URL]`. For each consumer count: a fresh stream holding
the generated log of bench/logs.py (published first, so the whole log is the initial lag), fresh
PostgreSQL schemas, then that many `clauseline consume --drain` processes over P partitions
(partitions dealt round-robin), started together. Every 0.5 s the bench reads each durable
consumer's pending count (its lag: messages of the stream not yet delivered to it) and prints
the curve; the rate is the log's events over the time from the consumers' start to the last
one's exit (start-up, 1.5 to 4 s of loading the policy and creating the consumer, included),
and, steadier, the lag every consumer had when all were reading over the time left. Schemas and streams are
dropped afterwards. On this 2-core machine PostgreSQL, NATS and the consumers share the CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from logs import make_log  # noqa: E402

CLAUSELINE = Path(sys.executable).parent / "clauseline"
ENV = {**os.environ, "CLAUSELINE_REDACTION_KEY": "bench-key-not-secret"}


async def _quiet(_error):
    pass


async def lags(nats_url: str, stream: str, names: list[str]) -> list[int | None]:
    import nats
    nc = await nats.connect(nats_url, error_cb=_quiet)
    try:
        js = nc.jetstream()
        out = []
        for name in names:
            try:
                info = await js.consumer_info(stream, name)
                out.append(info.num_pending + info.num_ack_pending)
            except Exception:  # noqa: BLE001 - not created yet
                out.append(None)
        return out
    finally:
        await nc.close()


async def drop_streams(nats_url: str, names: list[str]) -> None:
    import nats
    nc = await nats.connect(nats_url, error_cb=_quiet)
    try:
        for name in names:
            try:
                await nc.jetstream().delete_stream(name)
            except Exception:  # noqa: BLE001
                pass
    finally:
        await nc.close()


def run(count: int, log: Path, events: int, partitions: int, nats_url: str, pg: str,
        batch: int = 500) -> dict:
    import psycopg
    tag = uuid.uuid4().hex[:8]
    stream, prefix = f"bench_{tag}", f"bench_{tag}"
    base = f"{pg}?options=-csearch_path%3D{prefix}"
    subprocess.run([str(CLAUSELINE), "publish", str(log), "--nats", nats_url, "--stream", stream,
                    "--partitions", str(partitions)], check=True, capture_output=True, env=ENV)
    owned = [[k for k in range(partitions) if k % count == i] for i in range(count)]
    names = [f"clauseline-{stream}-p" + "-".join(map(str, mine)) for mine in owned]
    started = time.monotonic()
    procs = []
    for mine in owned:
        args = [str(CLAUSELINE), "consume", "--nats", nats_url, "--stream", stream, "--db", base,
                "--drain", "--decisions", "-", "--batch", str(batch)]
        for k in mine:
            args += ["--partition", str(k)]
        procs.append(subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                      text=True, env=ENV))
    curve = []
    while any(p.poll() is None for p in procs):
        time.sleep(0.5)
        found = asyncio.run(lags(nats_url, stream, names))
        curve.append((time.monotonic() - started, found))
    elapsed = time.monotonic() - started
    errors = [p.stderr.read() for p in procs if p.returncode != 0]
    with psycopg.connect(pg, autocommit=True) as conn:
        for k in range(partitions):
            conn.execute(f'drop schema if exists "{prefix}_p{k}" cascade')
    asyncio.run(drop_streams(nats_url, [stream]))
    if errors:
        raise SystemExit("a consumer failed:\n" + "\n".join(errors))
    # steady rate: from the first sample where every consumer is reading (policy loaded,
    # consumer created) to the end, over the most any of them still had to read then
    ready = next(((at, found) for at, found in curve if all(f is not None for f in found)), None)
    steady = max(ready[1]) / max(elapsed - ready[0], 1e-9) if ready else float("nan")
    return {"consumers": count, "seconds": elapsed, "rate": events / elapsed, "steady": steady,
            "curve": curve}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=6000)
    parser.add_argument("--subjects", type=int, default=5000)
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--consumers", default="1,2,3")
    parser.add_argument("--batch", type=int, default=500, help="consume --batch (default 500)")
    parser.add_argument("--nats", default="nats://127.0.0.1:4222")
    parser.add_argument("--pg", default="postgresql://root@127.0.0.1:5432/test")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "log.jsonl"
        make_log(log, args.events, subjects=args.subjects, seed=1)
        results = [run(int(c), log, args.events, args.partitions, args.nats, args.pg, args.batch)
                   for c in args.consumers.split(",")]
    print(f"{args.events} events, {args.subjects} subjects, {args.partitions} partitions, "
          f"--batch {args.batch}, PostgreSQL and NATS on this machine")
    print("| consumers | seconds | events/s (start to end) | events/s (all reading) |")
    print("|---|---|---|---|")
    for r in results:
        print(f"| {r['consumers']} | {r['seconds']:.1f} | {r['rate']:,.0f} | {r['steady']:,.0f} |")
    print()
    print("lag (messages not yet acknowledged, per consumer) over time:")
    for r in results:
        print(f"{r['consumers']} consumer(s):")
        for at, found in r["curve"][::max(1, len(r["curve"]) // 12)]:
            shown = ", ".join("-" if f is None else str(f) for f in found)
            print(f"  {at:5.1f} s  {shown}")


if __name__ == "__main__":
    main()
