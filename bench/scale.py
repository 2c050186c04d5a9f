"""How the CPU of draining a log grows with partitions (issue 24, "Scale-out that scales").

Run: `.venv/bin/python bench/scale.py [--logs 20000,100000] [--partitions 1,2,4,8]
[--events N] [--subjects S] [--seed K] [--nats URL] [--pg URL] [--out FILE] [--json FILE]
[--rev REV] [--rounds R]`. For each log of `bench/logs.py` (`make_log(path, events, subjects, seed)`) and
each partition count N:

1. the log is published into a fresh NATS JetStream stream of N partitions (`clauseline publish
   LOG --nats URL --stream NAME --partitions N --quiet`), and a fresh schema prefix of the
   PostgreSQL database is chosen (`?options=-csearch_path%3DPREFIX`: the consumers store
   partition K in the schema PREFIX_pK);
2. the N consumers are run **one after the other**, as if each had a host of its own:
   `clauseline consume --nats URL --stream NAME --db PGURL --partition K --drain --quiet
   --decisions -` (no decisions published) for K = 0 .. N-1, each one's CPU time (user +
   system of that process, from `os.wait4`) and wall time measured; `--rounds R` times
   (default 3), each round into fresh stores with the stream's consumers deleted after it, and
   each consumer's figures are the median of its rounds (these machines change speed by a fifth
   within minutes, and a single run of "one", which every ratio divides by, moved the ratios by
   0.1 and more). Every stream is published first, and the rounds are interleaved: round r of
   every N (1 first) before round r + 1 of any, so that a slow minute weighs on "one" and on
   the partitions alike, not on one count's rounds only;
3. the row: N, the total CPU of the N consumers, the busiest one's CPU, both against "one" (the
   CPU of the single consumer of the same log in a 1-partition stream, the N=1 row, always
   run), the wall time predicted on N hosts (the longest consumer's wall time: the hosts run
   in parallel), and each consumer's CPU.

Targets of issue 24 (the met column): N=4, total ≤ 1.3× one and busiest ≤ 0.35× one; N=8,
busiest ≤ 0.2× one. Each consumer's CPU is its whole process: start-up and loading the policy
included (the JSON also gives a consumer's CPU on an empty stream, what that fixed part is).
The bytecode of the tree measured is written first (``compile_bytecode``), as a wheel's
installation does, so that no consumer compiles clauseline's modules at its start.

Only the command line is used, so the harness measures any version of `consume`. `--rev REV`
runs the CLI of a git revision instead of the working tree (exported with `git archive` and
imported as bench/identical.py does), to compare before and after a change on the same
machine. Writes the tables (one per log size, with the machine and commit) to `--out` (default
bench/results/scale.md) and stdout, every figure to `--json` (default: `--out` with .json).
Streams and schemas are removed afterwards, also on failure and when the run is stopped
(Ctrl-C; SIGTERM or SIGHUP: exit 128 + the signal, the command being timed killed). Exits 3,
saying why, when NATS with JetStream or PostgreSQL does not answer. The machine has 2 cores
shared with other work: CPU time is what sharing moves least; wall times swing more.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from counts import numbers, whole  # noqa: E402  (bench/counts.py, beside this file)
from logs import make_log  # noqa: E402  (bench/logs.py, beside this file)
from stopping import stoppable  # noqa: E402  (bench/stopping.py)

CLAUSELINE = Path(sys.executable).parent / "clauseline"
ENV = {**os.environ, "CLAUSELINE_REDACTION_KEY": "bench-key-not-secret"}
NATS_DEFAULT = os.environ.get("CLAUSELINE_TEST_NATS", "nats://127.0.0.1:4222")
PG_DEFAULT = os.environ.get("CLAUSELINE_BENCH_PG", "postgresql://root@127.0.0.1:5432/test")
#: issue 24's targets: partitions -> (total/one at most, busiest/one at most)
TARGETS = {4: (1.3, 0.35), 8: (None, 0.2)}
CONSUMER_TIMEOUT_S = 3600.0


def say(text: str) -> None:
    print(f"[scale {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def target_text(n: int) -> str:
    total, busiest = TARGETS.get(n, (None, None))
    parts = ([f"total ≤ {total}× one"] if total else []) + \
        ([f"busiest ≤ {busiest}× one"] if busiest else [])
    return ", ".join(parts) or "—"


# --------------------------------------------------------------------------------------------
# the servers

async def _quiet(_error):
    pass


async def _with_js(nats_url: str, work):
    import nats
    nc = await nats.connect(nats_url, connect_timeout=3, allow_reconnect=False,
                            max_reconnect_attempts=0, error_cb=_quiet)
    try:
        return await work(nc.jetstream())
    finally:
        await nc.close()


def unavailable(nats_url: str, pg: str) -> str | None:
    """Why the bench cannot run here (NATS with JetStream or PostgreSQL not answering), or None."""
    seen: list = []

    async def probe():
        import nats

        async def noted(error):
            seen.append(error)
        nc = await nats.connect(nats_url, connect_timeout=3, allow_reconnect=False,
                                max_reconnect_attempts=0, error_cb=noted)
        try:
            await nc.jetstream().account_info()
        finally:
            await nc.close()
    try:  # nats-py retries a refused first connection without end: bound it
        asyncio.run(asyncio.wait_for(probe(), timeout=10))
    except Exception as error:  # noqa: BLE001 - any failure means "no server here"
        error = seen[0] if seen and isinstance(error, asyncio.TimeoutError) else error
        return f"no NATS server with JetStream answers at {nats_url}: " \
               f"{type(error).__name__}: {str(error)[:160]}"
    try:
        import psycopg
        with psycopg.connect(pg, connect_timeout=3) as conn:
            conn.execute("select 1")
    except Exception as error:  # noqa: BLE001
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        return f"no PostgreSQL server answers at {pg}: {type(error).__name__}: {first}"
    return None


def drop_streams(nats_url: str, names: list[str]) -> None:
    async def delete(js):
        for name in names:
            try:
                await js.delete_stream(name)
            except Exception:  # noqa: BLE001 - never created
                pass
    try:
        asyncio.run(asyncio.wait_for(_with_js(nats_url, delete), timeout=60))
    except Exception as error:  # noqa: BLE001 - report, go on cleaning
        say(f"could not delete the streams {', '.join(names)}: {error}")


def drop_consumers(nats_url: str, stream: str) -> None:
    """Delete every consumer of ``stream``, so that a consumer run again into a fresh store
    reads the stream from its start (`consume` resumes a durable consumer at its ack floor)."""
    async def delete(js):
        for info in await js.consumers_info(stream):
            await js.delete_consumer(stream, info.name)
    asyncio.run(asyncio.wait_for(_with_js(nats_url, delete), timeout=60))


def stream_messages(nats_url: str, stream: str) -> int | None:
    """The messages the stream holds (None if it cannot be read)."""
    async def count(js):
        return (await js.stream_info(stream)).state.messages
    try:
        return asyncio.run(asyncio.wait_for(_with_js(nats_url, count), timeout=30))
    except Exception:  # noqa: BLE001 - a figure of the JSON only
        return None


def drop_schemas(pg: str, prefix: str, partitions: int) -> None:
    try:
        import psycopg
        with psycopg.connect(pg, autocommit=True) as conn:
            for name in [prefix] + [f"{prefix}_p{k}" for k in range(partitions)]:
                conn.execute(f'drop schema if exists "{name}" cascade')
    except Exception as error:  # noqa: BLE001 - report, go on cleaning
        say(f"could not drop the schemas {prefix}, {prefix}_p*: {error}")


def schema_url(pg: str, prefix: str) -> str:
    sep = "&" if "?" in pg else "?"
    return f"{pg}{sep}options=-csearch_path%3D{prefix}"


# --------------------------------------------------------------------------------------------
# the command line, of the working tree or of a revision

def cli(tree: Path | None) -> list[str]:
    """The command that runs `clauseline`: the venv's, or this file's child importing ``tree``."""
    if tree is None:
        return [str(CLAUSELINE) if CLAUSELINE.exists() else "clauseline"]
    return [sys.executable, str(Path(__file__).resolve()), "--child", str(tree)]


def child(tree: Path, args: list[str]) -> int:
    """`clauseline ARGS` with `clauseline` imported from ``tree`` (bench/identical.py's finder)."""
    from identical import TreeFinder
    sys.meta_path.insert(0, TreeFinder(tree))
    import clauseline
    if not Path(clauseline.__file__).resolve().is_relative_to(tree.resolve()):
        raise SystemExit(f"clauseline came from {clauseline.__file__}, not from {tree}")
    from clauseline._entry import main
    return main(args)


def timed(command: list[str], errors: Path, timeout: float = CONSUMER_TIMEOUT_S) -> dict:
    """Run ``command`` alone; its own CPU time (user + system, `os.wait4`'s rusage: that process
    and the children it waited for) and wall time; its stderr's last line."""
    with errors.open("w") as stderr:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr, env=ENV)
        timer = threading.Timer(timeout, process.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        except BaseException:  # interrupted: leave no consumer running
            process.kill()
            process.wait()
            raise
        finally:
            timer.cancel()
        wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    text = errors.read_text(errors="replace")
    if process.returncode != 0:
        verb = next((i for i, part in enumerate(command) if part in ("publish", "consume")), 0)
        raise RuntimeError(f"clauseline {' '.join(command[verb:])} failed (exit "
                           f"{process.returncode}): {text[-1500:]}")
    lines = [line for line in text.splitlines() if line.strip()]
    return {"cpu_s": usage.ru_utime + usage.ru_stime, "user_s": usage.ru_utime,
            "sys_s": usage.ru_stime, "wall_s": wall, "peak_rss_mb": usage.ru_maxrss / 1024,
            "summary": lines[-1] if lines else ""}


def summary_counts(summary: str) -> dict:
    """The counts of a consume summary line, where its wording gives them (else nothing)."""
    out = {}
    for key, pattern in (("read", r"(\d[\d,]*) message\(s\) read"),
                         ("decided", r"(\d[\d,]*) decided")):
        found = re.search(pattern, summary)
        if found:
            out[key] = int(found.group(1).replace(",", ""))
    return out


# --------------------------------------------------------------------------------------------
# one log, one partition count

def run_partitions(log: Path, events: int, counts: list[int], command: list[str],
                   nats_url: str, pg: str, folder: Path, rounds: int = 1) -> list[dict]:
    """Publish ``log`` into a fresh stream for each partition count N of ``counts``; then,
    ``rounds`` times, drain every stream with one consumer per partition, one after the other
    (each round into fresh stores, its consumers deleted after it). The rounds are interleaved:
    round r of every count runs before round r + 1 of any, so that a machine that changes speed
    within the run weighs on every count alike (each ratio divides one count's CPU by the
    single consumer's). Each consumer's figures are the median of its rounds. The streams and
    the schemas are removed at the end, also on failure. One row per count."""
    rows: dict[int, dict] = {}
    runs: dict[int, dict[int, list[dict]]] = {n: {k: [] for k in range(n)} for n in counts}
    try:
        for n in counts:
            tag = uuid.uuid4().hex[:10]
            stream = prefix = f"cl_bench_scale_{tag}"
            row = rows[n] = {"partitions": n, "stream": stream, "schema_prefix": prefix,
                             "consumers": [], "rounds": rounds, "tag": tag}
            say(f"  {n} partition(s): publish into {stream}")
            row["publish"] = timed([*command, "publish", str(log), "--nats", nats_url,
                                    "--stream", stream, "--partitions", str(n), "--quiet"],
                                   folder / f"publish-{tag}.err")
            row["stream_messages"] = stream_messages(nats_url, stream)
            if row["stream_messages"] is not None and row["stream_messages"] < events:
                say(f"    the stream holds {row['stream_messages']:,} messages, fewer than the "
                    f"log's {events:,} events: publish lost some (see its summary: "
                    f"{row['publish']['summary']})")
        for r in range(rounds):
            for n in counts:
                row = rows[n]
                base = schema_url(pg, f"{row['schema_prefix']}_r{r}")
                for k in range(n):
                    found = timed([*command, "consume", "--nats", nats_url, "--stream",
                                   row["stream"], "--db", base, "--partition", str(k), "--drain",
                                   "--quiet", "--decisions", "-"],
                                  folder / f"consume-{row['tag']}-{r}-{k}.err")
                    found.update(partition=k, **summary_counts(found["summary"]))
                    runs[n][k].append(found)
                    say(f"    {f'round {r + 1}: ' if rounds > 1 else ''}{n} partition(s), "
                        f"consumer of partition {k}: {found['cpu_s']:.2f} s CPU, "
                        f"{found['wall_s']:.2f} s wall; {found['summary']}")
                drop_consumers(nats_url, row["stream"])
    finally:
        for row in rows.values():
            drop_streams(nats_url, [row["stream"], f"{row['stream']}_DECISIONS"])
            for r in range(rounds):
                drop_schemas(pg, f"{row['schema_prefix']}_r{r}", row["partitions"])
    out = []
    for n in counts:
        row = rows[n]
        del row["tag"]
        for k in range(n):
            done = runs[n][k]
            middle = sorted(done, key=lambda c: c["cpu_s"])[(len(done) - 1) // 2]
            row["consumers"].append(dict(middle, cpu_rounds_s=[c["cpu_s"] for c in done],
                                         decided_rounds=[c.get("decided") for c in done],
                                         wall_s=statistics.median(c["wall_s"] for c in done)))
        cpus = [c["cpu_s"] for c in row["consumers"]]
        busiest = max(row["consumers"], key=lambda c: c["cpu_s"])
        row.update(total_cpu_s=sum(cpus), busiest_cpu_s=busiest["cpu_s"],
                   busiest_partition=busiest["partition"],
                   predicted_wall_s=max(c["wall_s"] for c in row["consumers"]))
        out.append(row)
    return out


def empty_consumer(command: list[str], nats_url: str, pg: str, folder: Path) -> dict:
    """A consumer draining an empty 1-partition stream: its start-up, the policy loaded, the
    store made; the fixed part of each consumer's CPU."""
    log = folder / "empty.jsonl"
    log.write_text("")
    tag = uuid.uuid4().hex[:10]
    stream = prefix = f"cl_bench_scale_{tag}"
    try:
        timed([*command, "publish", str(log), "--nats", nats_url, "--stream", stream,
               "--partitions", "1", "--quiet"], folder / f"publish-{tag}.err")
        return timed([*command, "consume", "--nats", nats_url, "--stream", stream, "--db",
                      schema_url(pg, prefix), "--partition", "0", "--drain", "--quiet",
                      "--decisions", "-"], folder / f"consume-{tag}.err")
    finally:
        drop_streams(nats_url, [stream, f"{stream}_DECISIONS"])
        drop_schemas(pg, prefix, 1)


def judge(row: dict, one: float) -> None:
    """The row's ratios against ``one`` and whether issue 24's target of its N is met."""
    row["total_over_one"] = row["total_cpu_s"] / one if one > 0 else None
    row["busiest_over_one"] = row["busiest_cpu_s"] / one if one > 0 else None
    total, busiest = TARGETS.get(row["partitions"], (None, None))
    if total is None and busiest is None:
        row["met"] = None
        return
    ok = row["total_over_one"] is not None
    if ok and total is not None:
        ok = row["total_over_one"] <= total
    if ok and busiest is not None:
        ok = row["busiest_over_one"] <= busiest
    row["met"] = ok


def measure(events: int, subjects: int, seed: int, partitions: list[int], command: list[str],
            nats_url: str, pg: str, folder: Path, rounds: int = 1) -> dict:
    log = folder / f"log-{events}-{subjects}-{seed}.jsonl"
    started = time.perf_counter()
    make_log(log, events, subjects, seed)
    say(f"log of {events:,} events over {subjects:,} subjects (seed {seed}): "
        f"{time.perf_counter() - started:.1f} s")
    try:
        rows = run_partitions(log, events, partitions, command, nats_url, pg, folder, rounds)
    finally:
        log.unlink(missing_ok=True)
    one = next(r for r in rows if r["partitions"] == 1)["total_cpu_s"]
    for row in rows:
        judge(row, one)
    return {"events": events, "subjects": subjects, "seed": seed, "one_cpu_s": one,
            "rows": rows}


# --------------------------------------------------------------------------------------------
# the tables

def header(result: dict) -> str:
    m = result.get("machine") or {}
    changed = ", with uncommitted changes" if m.get("tree_changed") else ""
    rev = f"; the CLI of revision {result['rev']}" if result.get("rev") else ""
    load = m.get("load_average_start") or [0]
    end = m.get("load_average_end") or [0]
    empty = result.get("empty_consumer")
    count = (result.get("options") or {}).get("rounds") or 1
    rounds = (f"; each consumer run {count} times, each time into fresh stores, its figures "
              f"the median of its runs") if count > 1 else ""
    fixed = (f" A consumer draining an empty stream takes {empty['cpu_s']:.2f} s CPU (start-up, "
             f"the policy, the store): part of every consumer's CPU below.") if empty else ""
    return (f"Measured {m.get('date', '?')} on {m.get('cpu_count', '?')} CPUs, Python "
            f"{m.get('python', '?')}, clauseline {m.get('clauseline', '?')} "
            f"({m.get('commit', '?')}{changed}{rev}); load average {load[0]:.2f} at the start, "
            f"{end[0]:.2f} at the end. NATS and PostgreSQL on the same machine; the consumers run "
            f"one after the other, each its own process (CPU: user + system){rounds}.{fixed}")


def table(measured: dict) -> str:
    lines = [f"{measured['events']:,} events over {measured['subjects']:,} subjects (seed "
             f"{measured['seed']}); one = {measured['one_cpu_s']:.2f} s CPU (one consumer, "
             f"1 partition):", "",
             "| partitions | total CPU s | busiest CPU s | total / one | busiest / one | "
             "predicted wall s on N hosts | each consumer's CPU s (decided) | target | met |",
             "|---|---|---|---|---|---|---|---|---|"]
    for row in measured["rows"]:
        each = ", ".join(f"{c['cpu_s']:.2f}" + (f" ({c['decided']:,})" if "decided" in c else "")
                         for c in row["consumers"])
        ratio = (lambda v: "—" if v is None else f"{v:.2f}")
        met = "—" if row["met"] is None else "met" if row["met"] else "missed"
        lines.append(f"| {row['partitions']} | {row['total_cpu_s']:.2f} | "
                     f"{row['busiest_cpu_s']:.2f} | {ratio(row['total_over_one'])} | "
                     f"{ratio(row['busiest_over_one'])} | {row['predicted_wall_s']:.2f} | {each} | "
                     f"{target_text(row['partitions'])} | {met} |")
    return "\n".join(lines) + "\n"


def render(result: dict, with_header: bool = True) -> str:
    parts = [header(result), ""] if with_header else []
    for measured in result["logs"]:
        parts += [table(measured)]
    return "\n".join(parts)


# --------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        return child(Path(argv[1]), argv[2:])
    return stoppable("bench/scale.py", _main, argv)


def _main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=whole(1), default=20000, help="events of the log (default "
                        "20000; --logs gives several sizes)")
    parser.add_argument("--logs", help="several log sizes, e.g. 20000,100000 (one table each)")
    parser.add_argument("--subjects", type=whole(1), default=2000)
    parser.add_argument("--seed", type=whole(0), default=1)
    parser.add_argument("--partitions", default="1,2,4,8", help="partition counts (default "
                        "1,2,4,8; 1 is always run: it is 'one')")
    parser.add_argument("--nats", default=NATS_DEFAULT)
    parser.add_argument("--pg", default=PG_DEFAULT, help="the PostgreSQL database (default "
                        f"{PG_DEFAULT}); a fresh schema prefix of it per run")
    parser.add_argument("--out", default=str(HERE / "results" / "scale.md"))
    parser.add_argument("--json", help="default: --out with the suffix .json")
    parser.add_argument("--rev", help="run the CLI of this git revision instead of the working "
                        "tree")
    parser.add_argument("--rounds", type=whole(1), default=3, help="runs of each consumer, each into "
                        "fresh stores; its figures are the median (default 3: one run of 'one', "
                        "which every ratio divides by, moved ratios by 0.1 and more)")
    args = parser.parse_args(argv)
    sizes = numbers(args.logs, "--logs") if args.logs is not None else [args.events]
    partitions = sorted(set([1] + numbers(args.partitions, "--partitions")))

    reason = unavailable(args.nats, args.pg)
    if reason:
        print(f"bench/scale.py: skipped: {reason}", file=sys.stderr)
        return 3

    # bench/run.py's: the CPUs, versions, commit, load average; the bytecode written first
    from run import compile_bytecode, machine

    out = Path(args.out)
    json_out = Path(args.json) if args.json else out.with_suffix(".json")
    work = Path(tempfile.mkdtemp(prefix="clauseline-scale-"))
    result: dict = {"machine": machine(), "options": {
        "logs": sizes, "subjects": args.subjects, "seed": args.seed, "partitions": partitions,
        "rounds": args.rounds,
        "nats": args.nats, "targets": {str(k): v for k, v in TARGETS.items()}}, "logs": []}
    try:
        tree = None
        if args.rev:
            from identical import export
            tree = work / "revision"
            tree.mkdir()
            result["rev"] = f"{args.rev} = {export(args.rev, tree)[:12]}"
            say(f"the CLI of revision {result['rev']}")
        command = cli(tree)
        compile_bytecode(tree or ROOT)
        say("a consumer of an empty stream (the fixed part of a consumer's CPU)")
        result["empty_consumer"] = empty_consumer(command, args.nats, args.pg, work)
        say(f"  {result['empty_consumer']['cpu_s']:.2f} s CPU")
        for events in sizes:
            result["logs"].append(measure(events, args.subjects, args.seed, partitions, command,
                                          args.nats, args.pg, work, args.rounds))
    except (RuntimeError, subprocess.CalledProcessError) as error:
        print(f"bench/scale.py: failed: {error}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result["machine"]["load_average_end"] = list(os.getloadavg())
    text = render(result)
    out.parent.mkdir(parents=True, exist_ok=True)
    json_out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    json_out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(text)
    print(f"(written: {out}, {json_out})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
