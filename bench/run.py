"""`make bench`: clauseline's speed beside its references, measured in one run (issue 23's targets).

Run: `.venv/bin/python bench/run.py [--quick] [--only STAGE,...] [--sizes 10000,100000,1000000]
[--memory-rows 50000/2000,400000/2000,1000000/5000] [--skip-http] [--skip-postgres] [--out DIR]`
(`make bench` runs it with no option). Rows, each with its target and whether it is met:

- reference: raw durable_rules, one ruleset of the policy's own compiled rules, one fact per
  event of the generated log (its envelope and data flattened to dotted names, its first list
  item as `item`, as the engine expands `for_each`), asserted and retracted through
  durable_rules' Python API (`Host.assert_fact`/`retract_fact` of a dict; the actions, which do
  nothing, called back): what a plain durable_rules program does per event. Also shown, not
  used for ratios: the same facts through the C core alone with their JSON made beforehand
  (`durable_rules_engine.assert_fact`/`retract_fact`), a ceiling for the matcher;
- speed (in memory): `Session(policy).replay(...)` of a generated log (`bench/logs.py`) of each
  size, in a fresh process per size: events/s, its CPU time against the reference's per event
  (the ratio; CPU, not wall clock, because the 2 cores are shared), peak RSS, and µs/event of
  each tenth of the log (flat means the cost does not grow with the log);
- memory: peak RSS of in-memory replays of `--memory-rows` (events/subjects): by default 400k
  events over 2,000 subjects against 50k over the same subjects, and 1M over 5,000 (a row
  already measured by the speed stage is not run twice);
- tick: one `clock.tick` through the real `clauseline.evaluate` against a state holding 10^6
  open obligations of which 10 are due, against an ordinary event on the same state;
- stores: `clauseline replay LOG --db URL` in a subprocess on the 10k log (minus the same
  command on an empty log: start-up, policy load, opening the store); PostgreSQL in a fresh
  schema of the local `test` database, dropped after (skipped, saying why, when no server
  answers);
- http: wrk (a C load generator; skipped, saying so, when it is not installed) posts each event
  of a log once (`bench/wrk_post.lua`), 16 connections, to `clauseline serve` (SQLite, one
  worker) and to a minimal FastAPI endpoint on the same uvicorn stack (`bench/minimal_app.py`);
  the servers' CPU (utime+stime from /proc/PID/stat, before and after the load) per event,
  against `replay --db` on the same SQLite store kind and the same events: what the HTTP path
  adds per event against the minimal endpoint's CPU per request; p50/p99 from wrk; then batches
  of 100;
- scale: `bench/scale.py` (issue 24): the CPU of draining a log through NATS JetStream and
  `clauseline consume` with 1, 2, 4 and 8 partitions, one consumer per partition run one after
  the other, against one consumer of the same log (20k events over 2,000 subjects; 2,000 with
  `--quick`); its table is also written to DIR/scale.md and DIR/scale.json (skipped, saying why,
  when NATS or PostgreSQL does not answer, or with `--skip-postgres`).

Writes DIR/latest.json (every figure, the machine, the versions, the date) and DIR/latest.md (the
table with the targets), and prints the table. Progress goes to stderr. The machine has 2 shared
cores: figures swing by ±20 % from run to run; short measurements take the best of a few runs.
`--quick` (10k events, 5,000 over HTTP, no memory rows) is a smoke run of about two minutes;
`--only memory` runs the memory rows alone; `--smoke` is smaller still (the test suite's).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import logs  # noqa: E402  (bench/logs.py, beside this file)
from counts import numbers, pairs, whole  # noqa: E402  (bench/counts.py)
from stopping import reaped, stoppable  # noqa: E402  (bench/stopping.py)

CLAUSELINE = Path(sys.executable).parent / "clauseline"
ENV = {**os.environ, "CLAUSELINE_REDACTION_KEY": "bench-key-not-secret"}
PG_DEFAULT = os.environ.get("CLAUSELINE_BENCH_PG", "postgresql://root@127.0.0.1:5432/test")
NOISE = ("Rates are wall-clock on a machine of 2 cores shared with other work: they swing by "
         "about ±20 % from run to run; short measurements are the best of a few runs. Ratios "
         "and costs per event are of CPU time (user + system), which sharing moves less.")

#: issue 23's targets (the tick's is issue 13's), as the table states them
TARGETS = {
    "speed": "≥ 0.30 of the reference (CPU time per event); flat from 10k to 1M",
    "memory_base": "the base of the next rows over the same subjects",
    "memory_growth": "≤ 1.3× the peak RSS of {base:,} events over the same subjects, < 256 MB",
    "memory_other": "< 300 MB",
    "tick": "about the cost of an ordinary event (≤ 2× one at the same instant)",
    "sqlite": "≥ 5,000/s",
    "postgresql": "≥ 3,000/s",
    "http_single": "(server − `replay --db`) CPU per event ≤ 2× the minimal endpoint's per "
                   "request; p99 < 50 ms",
    "http_batch": "p99 < 500 ms",
}
SPEED_RATIO, GROWTH_RATIO, GROWTH_MB, OTHER_MB = 0.30, 1.3, 256, 300
TICK_RATIO, HTTP_RATIO, HTTP_P99_MS, BATCH_P99_MS = 2.0, 2.0, 50, 500
SQLITE_RATE, POSTGRESQL_RATE = 5000, 3000
DEFAULT_MEMORY_ROWS = "50000/2000,400000/2000,1000000/5000"
STAGES = ("reference", "speed", "memory", "tick", "stores", "http", "scale")
NATS_DEFAULT = os.environ.get("CLAUSELINE_TEST_NATS", "nats://127.0.0.1:4222")
WRK_SCRIPT = HERE / "wrk_post.lua"
WRK = shutil.which("wrk")


def say(text: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --------------------------------------------------------------------------------------------
# children: each measurement runs in a fresh process (`bench/run.py --child KIND ...`)

def child_reference(log: str, runs: int) -> dict:
    """Raw durable_rules: assert + collect + retract one fact per event, on one ruleset of the
    policy's own compiled rules (or, if the engine no longer exposes them, 75 rules on type)."""
    import durable_rules_engine
    from durable import engine as durable_engine

    from clauseline import load_policy

    version = load_policy().latest
    definition = getattr(getattr(version, "matcher", None), "definition", None)
    if isinstance(definition, dict) and definition:
        rules = {f"r{i}": json.loads(json.dumps(body)) for i, body in
                 enumerate(definition[k] for k in sorted(definition))}
        source = "the policy's compiled rules"
    else:  # pragma: no cover - a fallback of the same size
        rules = {f"r{i}": {"all": [{"m": {"$and": [{"type": t}, {"data.x": i}]}}], "run": f"r{i}"}
                 for i, t in enumerate(logs.TYPES * 7)}
        source = "75 rules on type and one field"
    for name, body in rules.items():
        body["run"] = name

    class Host(durable_engine.Host):
        def _run(self):
            return None

        def get_action(self, action_name):
            return lambda context: None

    host = Host()
    host.set_rulesets({"reference": rules})
    handle = host.get_ruleset("reference")._handle

    def flat(node, prefix, out):
        for key, value in node.items():
            name = f"{prefix}{key}"
            if isinstance(value, dict):
                if prefix.count(".") < 2:
                    flat(value, name + ".", out)
                out[name] = {}
            elif isinstance(value, list):
                out[name] = []
            else:
                out[name] = value
        return out

    texts = []
    with open(log, encoding="utf-8") as lines:
        for n, line in enumerate(lines):
            event = json.loads(line)
            fact = flat(event, "", {})
            # as the engine expands a list for `for_each` rules: its first item beside its path
            for key, value in sorted((event.get("data") or {}).items()):
                if isinstance(value, list) and value:
                    item = value[0]
                    fact["_each"], fact["item"] = f"data.{key}", item
                    if isinstance(item, dict):
                        fact["item"] = {}
                        fact.update({f"item.{k}": v for k, v in item.items()
                                     if not isinstance(v, (dict, list))})
                    break
            fact["id"], fact["sid"] = f"f{n}", "0"
            texts.append(json.dumps(fact))
    fired = 0

    def collect(state):
        nonlocal fired
        action = durable_rules_engine.start_action_for_state(handle, state)
        message = action[1] if action else None
        while message:
            fired += 1
            message = durable_rules_engine.complete_and_start_action(handle, state)

    def cycle():
        for text in texts:
            code, state = durable_rules_engine.assert_fact(handle, text)[:2]
            if code == 0:
                collect(state)
            code, state = durable_rules_engine.retract_fact(handle, text)[:2]
            if code in (0, 3):
                collect(state if code == 0 else 0)

    facts = [json.loads(text) for text in texts]

    def public():
        # durable_rules' own Python API: a dict in (it writes the JSON), its actions called back
        for fact in facts:
            for call in (host.assert_fact, host.retract_fact):
                try:
                    call("reference", fact)
                except durable_engine.MessageNotHandledException:
                    pass

    times, cpu_times, core_times = [], [], []
    for _ in range(runs):
        started, cpu = time.perf_counter(), time.process_time()
        public()
        times.append(time.perf_counter() - started)
        cpu_times.append(time.process_time() - cpu)
        started = time.perf_counter()
        cycle()
        core_times.append(time.perf_counter() - started)
    return {"events": len(texts), "rules": len(rules), "ruleset": source,
            "events_per_s": len(texts) / min(times), "runs_s": times,
            "cpu_us_per_event": min(cpu_times) * 1e6 / len(texts), "cpu_runs_s": cpu_times,
            "c_core_events_per_s": len(texts) / min(core_times), "c_core_runs_s": core_times,
            "firings": fired // runs}


def child_replay(log: str, events: int) -> dict:
    """In-memory replay of the whole log in this process: wall and CPU time, peak RSS, µs/event
    of each tenth."""
    from clauseline import Session, load_policy

    started = time.perf_counter()
    policy = load_policy()
    load_s = time.perf_counter() - started
    rss_loaded = peak_rss_mb()
    bounds = [events * (k + 1) // 10 for k in range(10)]
    deciles, rejected = [], 0
    last_n = 0
    with open(log, "rb") as lines:
        cpu = time.process_time()
        started = mark = time.perf_counter()
        for number, decision in Session(policy).replay(lines):
            if decision.status == "rejected":
                rejected += 1
            if bounds and number >= bounds[0]:
                now = time.perf_counter()
                deciles.append((now - mark) * 1e6 / max(1, number - last_n))
                print(f"tenth {len(deciles)}: {deciles[-1]:,.0f} µs/event, {number:,} events in "
                      f"{now - started:,.0f} s, RSS peak {peak_rss_mb():,.0f} MB",
                      file=sys.stderr, flush=True)
                mark, last_n = now, number
                bounds.pop(0)
        total = time.perf_counter() - started
        cpu = time.process_time() - cpu
    return {"events": events, "seconds": total, "events_per_s": events / total,
            "cpu_s": cpu, "cpu_us_per_event": cpu * 1e6 / events,
            "decile_us": deciles, "rejected": rejected, "policy_load_s": load_s,
            "rss_after_load_mb": rss_loaded, "peak_rss_mb": peak_rss_mb()}


def child_tick(open_count: int, due_count: int, runs: int) -> dict:
    """A clock.tick against a state of ``open_count`` open CCPA obligations, ``due_count`` of
    them due, through the real ``clauseline.evaluate``; an ordinary event on the same state."""
    import clauseline
    from clauseline import empty_state, evaluate, load_policy
    from clauseline.records import due_entries

    policy = load_policy()

    def filed(subject: str, when: str, request: str) -> dict:
        return {"specversion": "1.0", "id": f"f-{subject}", "source": "/privacy/ccpa",
                "type": "ccpa.request.filed", "time": when, "subject": subject,
                "data": {"request_id": request, "kinds": ["categories"], "delivery": "account",
                         "has_account": True,
                         "profile": {"role": "customer",
                                     "residence": {"country": "US", "region": "US-CA"}}}}

    started = time.perf_counter()
    # one record with an open obligation due 2019-08-15 (filed 2019-07-01), shared by every
    # subject not due (records are never changed in place: evaluate is copy-on-write)
    decision, state = evaluate(policy, empty_state(), filed("cus-a0000", "2019-07-01T12:00:00Z",
                                                            "ccpa-shared"))
    shared = dict(state["subjects"])["cus-a0000"]
    subjects, index = {}, []
    shared_entry = due_entries("x", shared)
    if not shared_entry:
        raise SystemExit("the filed request opened no obligation: cannot build the state")
    due_key, ref = shared_entry[0][0], shared_entry[0][2]
    # the due ones: filed 2019-05-20, due 2019-07-04, overdue at the tick of 2019-07-05
    for k in range(due_count):
        sid = f"cus-d{k:05d}"
        _, st = evaluate(policy, empty_state(), filed(sid, "2019-05-20T12:00:00Z", f"ccpa-d{k}"))
        subjects[sid] = dict(st["subjects"])[sid]
        index.extend(due_entries(sid, subjects[sid]))
    for k in range(open_count - due_count):
        sid = f"cus-o{k // 100000}x{k % 100000:05d}"
        subjects[sid] = shared
        index.append((due_key, sid, ref))
    index.sort()
    state = {"subjects": subjects, "due": index}
    build_s = time.perf_counter() - started
    tick = {"specversion": "1.0", "id": "t-1", "source": "/scheduler", "type": "clock.tick",
            "time": "2019-07-05T06:00:00Z", "data": {}}
    # an ordinary event at the same instant (it also sees the 10 overdue obligations: every
    # event reports what fell due since the last one) and one before any is due
    ordinary = {"specversion": "1.0", "id": "p-1", "source": "/billing", "type": "payment.made",
                "time": "2019-07-05T06:00:00Z", "subject": "cus-z0001",
                "data": {"transaction_id": "txn-1", "amount": 25.0, "currency": "USD",
                         "instrument": "debit_card", "status": "completed",
                         "encrypted_in_transit": True, "product": "inmate_debit"}}
    quiet = dict(ordinary, id="p-2", time="2019-06-15T06:00:00Z")
    quiet_tick = dict(tick, id="t-2", time="2019-06-15T06:00:00Z")

    def best(event, fold) -> tuple[float, object]:
        times, out = [], None
        for _ in range(runs):
            started = time.perf_counter()
            out = evaluate(policy, state, event, fold=fold)
            times.append(time.perf_counter() - started)
        return min(times), out

    result = {"open": open_count, "due": due_count, "build_s": build_s, "runs": runs,
              "clauseline": getattr(clauseline, "__file__", "")}
    for fold in (True, False):
        label = "fold" if fold else "copy"
        t_tick, (d_tick, _) = best(tick, fold)
        t_ord, (d_ord, _) = best(ordinary, fold)
        t_quiet, _ = best(quiet, fold)
        t_qtick, _ = best(quiet_tick, fold)
        result[label] = {
            "tick_us": t_tick * 1e6, "ordinary_same_instant_us": t_ord * 1e6,
            "ordinary_nothing_due_us": t_quiet * 1e6, "tick_nothing_due_us": t_qtick * 1e6,
            "tick_outcomes": len(d_tick.outcomes),
            "tick_missed": sum(1 for o in d_tick.outcomes if o.get("status") == "missed"
                               or o.get("kind") == "violation")}
    small = {"subjects": {k: v for k, v in subjects.items() if k.startswith("cus-d")},
             "due": [e for e in index if e[1].startswith("cus-d")]}
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        evaluate(policy, small, tick, fold=True)
        times.append(time.perf_counter() - started)
    result["tick_small_state_us"] = min(times) * 1e6
    result["peak_rss_mb"] = peak_rss_mb()
    return result


def child_main(argv: list[str]) -> None:
    kind, *args = argv
    if kind == "reference":
        out = child_reference(args[0], int(args[1]))
    elif kind == "replay":
        out = child_replay(args[0], int(args[1]))
    elif kind == "tick":
        out = child_tick(int(args[0]), int(args[1]), int(args[2]))
    else:
        raise SystemExit(f"unknown child {kind}")
    print(json.dumps(out))


# --------------------------------------------------------------------------------------------
# the parent: logs, stages, results

def run_child(*args, timeout: float | None = None) -> dict:
    """Run a child measurement; its stderr (progress) is passed on, its stdout is the JSON."""
    command = [sys.executable, str(Path(__file__).resolve()), "--child", *map(str, args)]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=ENV)
    tail: list[str] = []
    timer = threading.Timer(timeout, child.kill) if timeout else None
    if timer:
        timer.start()
    try:
        with reaped(child):
            for line in child.stderr:
                tail = (tail + [line])[-40:]
                print(f"    {line.rstrip()}", file=sys.stderr, flush=True)
            out = child.stdout.read()
            code = child.wait()
    finally:
        if timer:
            timer.cancel()
    if code != 0:
        raise RuntimeError(f"{args[0]} failed ({code}): {''.join(tail)[-2000:]}")
    return json.loads(out.strip().splitlines()[-1])


def make_log_file(folder: Path, events: int, subjects: int, seed: int) -> Path:
    path = folder / f"log-{events}-{subjects}-{seed}.jsonl"
    if not path.exists():
        started = time.perf_counter()
        counts = logs.make_log(path, events, subjects, seed)
        say(f"generated {path.name}: {events:,} events, {len(counts)} types, "
            f"{time.perf_counter() - started:.1f} s")
    return path


def compile_bytecode(tree: Path) -> None:
    """Write the bytecode of ``tree``'s Python modules (``engine/``, ``service/``), as installing
    a wheel does: without it, a process started with ``PYTHONDONTWRITEBYTECODE`` set (this kind
    of machine sets it) compiles clauseline's 50-odd modules again at every start, about 0.14 s
    of CPU that a deployed consumer never pays, and that counts once in every process measured."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    folders = [str(tree / name) for name in ("engine", "service") if (tree / name).is_dir()]
    subprocess.run([sys.executable, "-m", "compileall", "-q", *folders], env=env, check=True,
                   stdout=subprocess.DEVNULL)


def timed_cli(args: list[str]) -> tuple[float, float]:
    """Run `clauseline ARGS`; its wall time and its CPU time (user + system, from the rusage
    of the children this process has waited for, one at a time)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run([str(CLAUSELINE), *args], capture_output=True, text=True, env=ENV)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"clauseline {' '.join(args)} failed: {done.stderr[-2000:]}")
    return elapsed, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def store_replay(log: Path, events: int, make_url, runs: int) -> dict:
    """`clauseline replay LOG --db URL` in a subprocess, minus the same on an empty log: wall
    and CPU time (the best of ``runs`` by wall time)."""
    empty = log.parent / "empty.jsonl"
    empty.write_text("")
    rows = []
    for _ in range(runs):
        url, cleanup = make_url()
        try:
            base = timed_cli(["replay", str(empty), "--db", url, "--out", os.devnull, "--quiet"])
        finally:
            cleanup()
        url, cleanup = make_url()
        try:
            full = timed_cli(["replay", str(log), "--db", url, "--out", os.devnull, "--quiet"])
        finally:
            cleanup()
        rows.append((full, base))
    (full, full_cpu), (base, base_cpu) = min(rows, key=lambda r: r[0][0] - r[1][0])
    return {"events": events, "runs": runs, "whole_command_s": full, "empty_log_s": base,
            "events_per_s": events / max(full - base, 1e-9),
            "events_per_s_whole_command": events / full,
            "cpu_s": full_cpu, "empty_log_cpu_s": base_cpu,
            "cpu_ms_per_event": max(full_cpu - base_cpu, 0.0) * 1000 / events}


def pg_available(base: str) -> str | None:
    try:
        import psycopg
        with psycopg.connect(base, connect_timeout=3):
            return None
    except Exception as error:  # noqa: BLE001 - any failure is a reason to skip
        return f"{type(error).__name__}: {str(error).strip().splitlines()[0] if str(error) else ''}"


def pg_schema_url(base: str):
    import psycopg
    name = "cl_bench_" + uuid.uuid4().hex[:10]
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'create schema "{name}"')

    def drop():
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'drop schema if exists "{name}" cascade')
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{name}", drop


class Server:
    """A server process on a free loopback port (``{port}`` in its command), up once /healthz
    answers; its CPU time read from /proc/PID/stat."""

    def __init__(self, command: list[str], errors: Path):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.errors = errors
        with errors.open("w") as stderr:
            self.process = subprocess.Popen([part.format(port=self.port) for part in command],
                                            env=ENV, stdout=subprocess.DEVNULL, stderr=stderr)
        with reaped(self.process, signal.SIGINT, wait=60):  # stopped while it starts
            for _ in range(1200):
                if self.process.poll() is not None:
                    break
                try:
                    urllib.request.urlopen(self.url + "/healthz", timeout=1)
                    return
                except OSError:
                    time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{' '.join(command[:3])} did not start: {errors.read_text()[-1500:]}")

    def cpu_s(self) -> float:
        """utime + stime of the process (all its threads), in seconds."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def wrk_post(server: Server, parts: list[list[str]], content_type: str, folder: Path,
             deadline_s: float) -> dict:
    """Post every body of ``parts`` once to ``server`` with wrk (``bench/wrk_post.lua``), one
    connection per part, each part's bodies in order; the server's CPU over the load."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for k, part in enumerate(parts, start=1):
        (folder / f"bodies-{k}.txt").write_text("".join(body + "\n" for body in part))
    done = [folder / f"done-{k}.txt" for k in range(1, len(parts) + 1)]
    threads = str(len(parts))
    command = [WRK, "-t", threads, "-c", threads, "-d", "3600s", "--timeout", "120s",
               "--latency", "-s", str(WRK_SCRIPT), server.url, "--", str(folder), content_type]
    cpu = server.cpu_s()
    started = time.perf_counter()
    wrk = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with reaped(wrk):  # a stop leaves no load generator posting for the next hour
        while not all(path.exists() for path in done) and wrk.poll() is None \
                and time.perf_counter() - started < deadline_s:
            time.sleep(0.02)
    elapsed = time.perf_counter() - started
    cpu = server.cpu_s() - cpu
    finished = all(path.exists() for path in done)
    if wrk.poll() is None:
        wrk.send_signal(signal.SIGINT)  # wrk stops at -d or on SIGINT, then prints its figures
    out, err = wrk.communicate(timeout=60)
    if not finished:
        raise RuntimeError(f"wrk did not finish in {deadline_s:.0f} s (exit {wrk.returncode}): "
                           f"{(err or out)[-1000:]}")
    figures = next((json.loads(line) for line in out.splitlines()
                    if line.startswith('{"wrk_requests"')), None)
    if figures is None:
        raise RuntimeError(f"no figures from wrk: {(err or out)[-1000:]}")
    answered = bad = first_bad = 0
    for path in done:
        n, b, first = (int(x) for x in path.read_text().split())
        answered, bad, first_bad = answered + n, bad + b, first_bad or first
    return {"requests": sum(map(len, parts)), "answered": answered, "non_2xx": bad,
            "first_non_2xx": first_bad or None, "connections": len(parts), "seconds": elapsed,
            "requests_per_s": answered / elapsed, "server_cpu_s": cpu,
            "p50_ms": figures["p50_us"] / 1000, "p90_ms": figures["p90_us"] / 1000,
            "p99_ms": figures["p99_us"] / 1000, "max_ms": figures["max_us"] / 1000,
            "wrk": figures}


def by_subject(lines: list[str], connections: int) -> list[list[str]]:
    """Each subject's events on one connection, in log order (the ticks, with no subject, on
    one); connections left with nothing are dropped."""
    parts: list[list[str]] = [[] for _ in range(connections)]
    for line in lines:
        subject = str(json.loads(line).get("subject", ""))
        parts[zlib.crc32(subject.encode()) % connections].append(line)
    return [part for part in parts if part]


def http_stage(log: Path, events: int, folder: Path, connections: int, batch_connections: int,
               batch: int) -> dict:
    """The HTTP rows: the minimal endpoint, `clauseline serve` with single events and with
    batches (a fresh SQLite store each), and `replay --db` of the same events."""
    if WRK is None:
        return {"skipped": "wrk is not installed (apt-get install -y wrk; `make bench` installs "
                           "it when it can)"}
    with open(log, encoding="utf-8") as handle:
        lines = [line.rstrip("\n") for _, line in zip(range(events), handle)]
    singles = by_subject(lines, connections)
    batches = [["[" + ",".join(part[i:i + batch]) + "]" for i in range(0, len(part), batch)]
               for part in by_subject(lines, batch_connections)]
    deadline = max(300.0, len(lines) * 0.05)
    out = {"events": len(lines), "batch_size": batch}

    def served(label: str, command: list[str], parts, kind: str, rounds: int = 1) -> dict:
        server = Server(command, folder / f"{label}.err")
        try:
            tries = [wrk_post(server, parts, kind, folder / f"wrk-{label}", deadline)
                     for _ in range(rounds)]
        finally:
            server.stop()
        row = min(tries, key=lambda t: t["server_cpu_s"])
        row["rounds_server_cpu_s"] = [t["server_cpu_s"] for t in tries]
        row["server_cpu_ms_per_event"] = row["server_cpu_s"] * 1000 / len(lines)
        say(f"  {row['requests_per_s']:,.0f} requests/s, server CPU "
            f"{row['server_cpu_ms_per_event']:.3f} ms/event, p50 {row['p50_ms']:.1f} ms, p99 "
            f"{row['p99_ms']:.1f} ms, {row['non_2xx']} not 2xx")
        return row

    def store(name: str) -> list[str]:
        db = folder / f"{name}.db"
        for suffix in ("", "-wal", "-shm", ".key"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        return [str(CLAUSELINE), "serve", "--db", f"sqlite:///{db}", "--port", "{port}",
                "--workers", "1", "--insecure-no-auth", "--log-level", "warning"]

    single = "application/cloudevents+json"
    # the floor is the least of 3 rounds of the same bodies on one process: it stores nothing,
    # so a round is the same work, and the first pays the warm-up (lazy imports, first calls),
    # which weighs little on an event of clauseline but much on the minimal endpoint's request
    say(f"HTTP floor: minimal FastAPI endpoint on the same uvicorn stack, {len(lines):,} "
        f"requests, {len(singles)} connections (wrk), the least of 3 rounds")
    out["minimal"] = served("minimal", [sys.executable, str(HERE / "minimal_app.py"), "--port",
                                        "{port}", "--db", f"sqlite:///{folder / 'minimal.db'}"],
                            singles, single, rounds=3)
    say(f"HTTP single events: clauseline serve, SQLite, {len(lines):,} events, {len(singles)} "
        f"connections (wrk)")
    out["single"] = served("single", store("http-single"), singles, single)
    say(f"HTTP batches of {batch}: clauseline serve, SQLite, {len(lines):,} events, "
        f"{len(batches)} connections (wrk)")
    out["batch"] = served("batch", store("http-batch"), batches,
                          "application/cloudevents-batch+json")
    say(f"replay --db sqlite of the same {len(lines):,} events (CPU per event)")

    def sqlite_url(counter=iter(range(10**6))):
        path = folder / f"replay-{next(counter)}.db"
        return f"sqlite:///{path}", lambda: [Path(f"{path}{s}").unlink(missing_ok=True)
                                             for s in ("", "-wal", "-shm", ".key")]
    out["replay_db"] = store_replay(log, len(lines), sqlite_url, 1)
    say(f"  {out['replay_db']['cpu_ms_per_event']:.3f} ms/event")
    return out


def scale_module():
    """bench/scale.py, imported from its path (`scale` alone may name tests/scale in pytest)."""
    import importlib.util
    name = "clauseline_bench_scale"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, HERE / "scale.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def scale_stage(sizes: str, partitions: str, seed: int, nats: str, pg: str,
                out_dir: Path, rounds: int = 3) -> dict:
    """`bench/scale.py` in a subprocess (its progress passed on): its JSON, or why it was
    skipped (exit 3: NATS or PostgreSQL does not answer) or failed."""
    say(f"scale: bench/scale.py --logs {sizes} --partitions {partitions} (NATS JetStream, "
        f"PostgreSQL)")
    command = [sys.executable, str(HERE / "scale.py"), "--logs", sizes, "--partitions",
               partitions, "--seed", str(seed), "--nats", nats, "--pg", pg, "--rounds",
               str(rounds), "--out", str(out_dir / "scale.md"),
               "--json", str(out_dir / "scale.json")]
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             text=True, env=ENV)
    tail: list[str] = []
    with reaped(child, signal.SIGTERM):  # stopped, it removes its streams and schemas
        for line in child.stderr:
            tail = (tail + [line])[-40:]
            print(f"    {line.rstrip()}", file=sys.stderr, flush=True)
        code = child.wait()
    if code == 3:
        reason = tail[-1].strip().removeprefix("bench/scale.py: skipped: ") if tail else "?"
        say(f"  skipped: {reason}")
        return {"skipped": reason}
    if code != 0:
        say(f"  failed (exit {code})")
        return {"error": "".join(tail)[-1500:]}
    return json.loads((out_dir / "scale.json").read_text(encoding="utf-8"))


def machine() -> dict:
    from importlib import metadata

    def version(*names):
        for name in names:
            try:
                return metadata.version(name)
            except metadata.PackageNotFoundError:
                continue
        return None

    def git(*args):
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                                  timeout=10).stdout.strip()
        except OSError:
            return ""

    return {"date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "cpu_count": os.cpu_count(), "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(),
            "clauseline": version("clauseline"),
            "durable_rules": version("durable_rules", "durable-rules"),
            "commit": git("rev-parse", "--short", "HEAD"),
            "tree_changed": bool(git("status", "--porcelain", "--untracked-files=no")),
            "load_average_start": list(os.getloadavg())}


def fmt(value, digits=0) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def cell(text: str, limit: int = 240) -> str:
    """A reason or an error as one table cell: one line, no `|`, its end kept (a traceback's
    last line says what failed)."""
    text = " ".join(str(text).split()).replace("|", "/")
    return text if len(text) <= limit else "…" + text[-limit:]


def met(ok: bool | None) -> str:
    return "—" if ok is None else "**yes**" if ok else "**no**"


def memory_rows(spec: str) -> list[tuple[int, int]]:
    """``50000/2000,400000/2000`` as [(events, subjects), ...] (subjects 5,000 where a row
    gives none); SystemExit, saying why, for anything else."""
    return pairs(spec, "--memory-rows", 5000)


def markdown(results: dict) -> str:
    m, ref = results["machine"], results.get("reference") or {}
    ref_cpu = ref.get("cpu_us_per_event")

    def ratio(row):
        """The reference's CPU per event over the row's: the share of the reference's speed."""
        return ref_cpu / row["cpu_us_per_event"] if ref_cpu and row.get("cpu_us_per_event") \
            else None

    changed = ", with uncommitted changes" if m["tree_changed"] else ""
    lines = [f"Measured {m['date']} on {m['cpu_count']} CPUs, Python {m['python']}, clauseline "
             f"{m['clauseline']} ({m['commit']}{changed}), "
             f"durable_rules {m['durable_rules']}; load average {m['load_average_start'][0]:.2f} "
             f"at the start, {m.get('load_average_end', [0])[0]:.2f} at the end. {NOISE}", "",
             "| what | events/s | vs reference (CPU) | other figures | target (issue 23) | met |",
             "|---|---|---|---|---|---|"]
    if ref:
        lines.append(f"| reference: raw durable_rules assert+retract of one fact per event, its "
                     f"Python API ({ref['rules']} rules, {ref['events']:,} events) | "
                     f"{fmt(ref['events_per_s'])} | 1.00 | best of {len(ref['runs_s'])}; "
                     f"{ref_cpu:,.1f} µs CPU/event; {ref['firings']:,} firings | the reference "
                     f"| — |")
        lines.append(f"| the same, C core only (`durable_rules_engine`, JSON text made "
                     f"beforehand) | {fmt(ref['c_core_events_per_s'])} | — | a ceiling, not a "
                     f"target | — | — |")
    elif results.get("reference_error"):
        lines.append(f"| reference | failed | — | {cell(results['reference_error'])} | the "
                     f"reference | — |")
    for size, row in sorted(results.get("memory", {}).items(), key=lambda kv: int(kv[0])):
        if "error" in row:
            lines.append(f"| in memory, {int(size):,} events | failed | — | {cell(row['error'])} "
                         f"| {TARGETS['speed']} | — |")
            continue
        d, r = row["decile_us"], ratio(row)
        spread = f"; tenths {min(d):,.0f}–{max(d):,.0f} µs/event" if d else ""
        lines.append(f"| in memory (`Session.replay`), {int(size):,} events over "
                     f"{row.get('subjects', 5000):,} subjects | {fmt(row['events_per_s'])} | "
                     f"{'—' if r is None else f'{r:.2f}'} | {row['cpu_us_per_event']:,.0f} µs "
                     f"CPU/event; peak RSS {row['peak_rss_mb']:,.0f} MB{spread} | "
                     f"{TARGETS['speed']} | {met(None if r is None else r >= SPEED_RATIO)} |")
    base = None
    for row in results.get("rss", []):
        what = f"peak RSS, in memory, {row['events']:,} events over {row['subjects']:,} subjects"
        if "error" in row:
            lines.append(f"| {what} | failed | — | {cell(row['error'])} | — | — |")
            continue
        rss = row["peak_rss_mb"]
        if base is None:
            base = row
            target, ok, extra = TARGETS["memory_base"], None, ""
        elif row["subjects"] == base["subjects"]:
            growth = rss / base["peak_rss_mb"]
            target = TARGETS["memory_growth"].format(base=base["events"])
            ok, extra = growth <= GROWTH_RATIO and rss < GROWTH_MB, f" (×{growth:.2f})"
        else:
            target, ok, extra = TARGETS["memory_other"], rss < OTHER_MB, ""
        lines.append(f"| {what} | {fmt(row['events_per_s'])} | — | peak RSS {rss:,.0f} MB{extra}"
                     f"; after loading the policy {row['rss_after_load_mb']:,.0f} MB | {target} "
                     f"| {met(ok)} |")
    tick = results.get("tick")
    if tick and "error" not in tick:
        f = tick["fold"]
        lines.append(f"| `clock.tick`, {tick['open']:,} open obligations, {tick['due']} due "
                     f"(`evaluate`, best of {tick['runs']}) | — | — | tick {f['tick_us']:,.0f} µs "
                     f"vs an ordinary event at the same instant (it sees the {tick['due']} "
                     f"overdue too) {f['ordinary_same_instant_us']:,.0f} µs; an ordinary event "
                     f"with none due {f['ordinary_nothing_due_us']:,.0f} µs; the same tick on a "
                     f"state of only the {tick['due']} due: {tick['tick_small_state_us']:,.0f} µs;"
                     f" a tick with none due {f['tick_nothing_due_us']:,.0f} µs | "
                     f"{TARGETS['tick']} | "
                     f"{met(f['tick_us'] <= TICK_RATIO * f['ordinary_same_instant_us'])} |")
    elif tick:
        lines.append(f"| `clock.tick` with open obligations | failed | — | {cell(tick['error'])} | "
                     f"{TARGETS['tick']} | — |")
    for key, label, rate in (("sqlite", "SQLite (`replay --db sqlite:///…`)", SQLITE_RATE),
                             ("postgresql", "PostgreSQL (`replay --db postgresql://…`)",
                              POSTGRESQL_RATE)):
        row = results.get(key)
        if row is None:
            continue
        if "skipped" in row or "error" in row:
            lines.append(f"| {label} | — | — | {cell(row.get('skipped') or row.get('error'))} "
                         f"| {TARGETS[key]} | — |")
            continue
        lines.append(f"| {label}, {row['events']:,} events | {fmt(row['events_per_s'])} | — | "
                     f"whole command {fmt(row['events_per_s_whole_command'])}/s incl. start-up; "
                     f"{row['cpu_ms_per_event']:.3f} ms CPU/event | {TARGETS[key]} | "
                     f"{met(row['events_per_s'] >= rate)} |")
    http = results.get("http")
    if http and "skipped" not in http and "error" not in http:
        lines += http_rows(http)
    elif http:
        lines.append(f"| HTTP | — | — | {cell(http.get('skipped') or http.get('error'))} | "
                     f"{TARGETS['http_single']}; batches {TARGETS['http_batch']} | — |")
    memory = {k: v for k, v in results.get("memory", {}).items() if "decile_us" in v}
    if memory:
        lines += ["", "Per-event cost of in-memory replay by tenth of the log (µs/event; flat "
                  "means the cost does not grow with the log):", "",
                  "| events | " + " | ".join(f"{k}" for k in range(1, 11)) + " |",
                  "|---|" + "---|" * 10]
        for size, row in sorted(memory.items(), key=lambda kv: int(kv[0])):
            lines.append(f"| {int(size):,} | " + " | ".join(f"{u:,.0f}" for u in row["decile_us"])
                         + " |")
    scale = results.get("scale")
    if scale:
        lines += ["", "Scaling with partitions (issue 24, `bench/scale.py`; also "
                  "`scale.md`): the CPU of draining the log with one consumer per partition, "
                  "run one after the other, against one consumer of a 1-partition stream:", ""]
        if "skipped" in scale or "error" in scale:
            lines.append(f"{'Skipped' if 'skipped' in scale else 'Failed'}: "
                         f"{cell(scale.get('skipped') or scale.get('error'))}")
        else:
            lines.append(scale_module().render(scale).rstrip("\n"))
    return "\n".join(lines) + "\n"


def http_rows(http: dict) -> list[str]:
    """The HTTP rows: the floor, `replay --db`, single events (the ratio), batches."""
    floor, single, batch, replay = http["minimal"], http["single"], http["batch"], \
        http["replay_db"]
    floor_ms = floor["server_cpu_s"] * 1000 / floor["answered"]
    added = single["server_cpu_ms_per_event"] - replay["cpu_ms_per_event"]
    times = added / floor_ms if floor_ms > 0 else None
    single_met = times is not None and times <= HTTP_RATIO and single["p99_ms"] < HTTP_P99_MS \
        and not single["non_2xx"]

    def latency(row, units="requests"):
        bad = f"; {row['non_2xx']} not 2xx (first {row['first_non_2xx']})" if row["non_2xx"] \
            else ""
        return (f"p50 {row['p50_ms']:.1f} ms, p99 {row['p99_ms']:.1f} ms (of "
                f"{row['answered']:,} {units}){bad}")

    return [
        f"| HTTP floor: a minimal FastAPI endpoint (parse the JSON body, answer 201) on "
        f"`clauseline serve`'s uvicorn stack, wrk, {floor['connections']} connections, the same "
        f"{floor['answered']:,} bodies, the least CPU of {len(floor['rounds_server_cpu_s'])} "
        f"rounds | {fmt(floor['requests_per_s'])} requests/s | — | "
        f"{floor_ms:.3f} ms CPU/request; {latency(floor)} | the floor | — |",
        f"| `replay --db sqlite:///…` of the same {replay['events']:,} events (CPU, minus an "
        f"empty log) | {fmt(replay['events_per_s'])} | — | {replay['cpu_ms_per_event']:.3f} ms "
        f"CPU/event | the store's own cost | — |",
        f"| HTTP single events: `clauseline serve`, 1 worker, SQLite, wrk, "
        f"{single['connections']} connections, {single['answered']:,} events | "
        f"{fmt(single['requests_per_s'])} | — | server {single['server_cpu_ms_per_event']:.3f} ms"
        f" CPU/event; what the HTTP path adds, less `replay --db`'s "
        f"{replay['cpu_ms_per_event']:.3f}: {added:.3f} ms = "
        f"{'—' if times is None else f'{times:.1f}'}× the floor; {latency(single)} | "
        f"{TARGETS['http_single']} | "
        f"{met(single_met)} |",
        f"| HTTP batches of {http['batch_size']}: `clauseline serve`, 1 worker, SQLite, wrk, "
        f"{batch['connections']} connections, {http['events']:,} events | "
        f"{fmt(http['events'] / batch['seconds'])} | — | server "
        f"{batch['server_cpu_ms_per_event']:.3f} ms CPU/event; {latency(batch, 'batches')} | "
        f"{TARGETS['http_batch']} | "
        f"{met(batch['p99_ms'] < BATCH_P99_MS and not batch['non_2xx'])} |",
    ]


def replay_row(cache: dict, work: Path, events: int, subjects: int, seed: int,
               keep_logs: bool) -> dict:
    """An in-memory replay of a generated log in a fresh process, once per (events, subjects)
    whichever stage asks for it first."""
    key = (events, subjects)
    if key not in cache:
        log = make_log_file(work, events, subjects, seed)
        say(f"in memory: {events:,} events over {subjects:,} subjects in a fresh process"
            + (" (expect many minutes)" if events >= 1000000 else ""))
        try:
            row = run_child("replay", log, events)
            say(f"  {row['events_per_s']:,.0f} events/s, peak RSS {row['peak_rss_mb']:,.0f} MB,"
                f" {row['rejected']} rejected")
        except Exception as error:  # noqa: BLE001 - report and go on
            row = {"error": str(error)}
            say(f"  failed: {error}")
        cache[key] = dict(row, subjects=subjects)
        if events >= 400000 and not keep_logs:
            log.unlink(missing_ok=True)
    return cache[key]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        child_main(argv[1:])
        return 0
    return stoppable("bench/run.py", _main, argv)


def _main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="10k events, 5,000 over HTTP, fewer runs, no memory rows")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny sizes everywhere (for the test suite; not a measurement)")
    parser.add_argument("--only", help=f"run only these stages, e.g. memory or http,stores "
                        f"(of {', '.join(STAGES)})")
    parser.add_argument("--sizes", help="in-memory log sizes of the speed rows, e.g. "
                        "10000,100000,1000000")
    parser.add_argument("--memory-rows", help="EVENTS/SUBJECTS,... of the peak RSS rows (default "
                        f"{DEFAULT_MEMORY_ROWS}; the first is the base of the next ones over the "
                        "same subjects)")
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--out", default=str(HERE / "results"), help="folder of latest.json/.md")
    parser.add_argument("--subjects", type=whole(1), default=5000)
    parser.add_argument("--seed", type=whole(0), default=1)
    parser.add_argument("--store-events", type=whole(1), default=None,
                        help="events of the SQLite and PostgreSQL replays (default 10000)")
    parser.add_argument("--http-events", type=whole(1), default=None,
                        help="events posted over HTTP (default 10000, --quick 5000)")
    parser.add_argument("--http-connections", type=whole(1), default=16,
                        help="wrk connections of single events (default 16)")
    parser.add_argument("--http-batch-connections", type=whole(1), default=16,
                        help="wrk connections of batches of 100 (default 16)")
    parser.add_argument("--tick-open", type=whole(1), default=None,
                        help="open obligations of the tick state (default 1000000)")
    parser.add_argument("--pg", default=PG_DEFAULT, help="PostgreSQL database to use a schema of")
    parser.add_argument("--nats", default=NATS_DEFAULT, help="NATS server with JetStream (the "
                        "scale stage)")
    parser.add_argument("--scale-logs", help="log sizes of the scale stage (default 20000; "
                        "--quick 2000)")
    parser.add_argument("--scale-partitions", help="partition counts of the scale stage "
                        "(default 1,2,4,8)")
    parser.add_argument("--keep-logs", help="generate the logs into this folder and keep them")
    args = parser.parse_args(argv)

    for option, given in (("--scale-logs", args.scale_logs),
                          ("--scale-partitions", args.scale_partitions)):
        if given is not None:
            numbers(given, option)  # refused here, not after the other stages have run
    small = args.quick or args.smoke
    stages = set(STAGES)
    if args.only:
        stages = {s.strip() for s in args.only.split(",")}
        if stages - set(STAGES):
            parser.error(f"--only: unknown stage(s) {', '.join(sorted(stages - set(STAGES)))}")
    elif args.quick and not args.memory_rows:
        stages.discard("memory")
    if args.skip_http:
        stages.discard("http")
    sizes = numbers(args.sizes, "--sizes") if args.sizes is not None else \
        ([2000] if args.smoke else [10000] if args.quick else [10000, 100000, 1000000])
    rss_rows = memory_rows(args.memory_rows if args.memory_rows is not None else
                           "600/100,1200/100,900/300" if args.smoke else DEFAULT_MEMORY_ROWS)
    store_events = args.store_events or (min(sizes[0], 2000) if args.smoke else 10000)
    http_events = args.http_events or (400 if args.smoke else 5000 if args.quick else 10000)
    tick_open = args.tick_open or (20000 if args.smoke else 1000000)
    runs = 1 if args.smoke else 3
    store_runs = 1 if small else 2
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    work = Path(args.keep_logs) if args.keep_logs else \
        Path(tempfile.mkdtemp(prefix="clauseline-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    say(NOISE)
    compile_bytecode(ROOT)
    results: dict = {"machine": machine(), "options": {
        "stages": sorted(stages), "sizes": sizes, "memory_rows": rss_rows,
        "subjects": args.subjects, "seed": args.seed, "store_events": store_events,
        "http_events": http_events, "http_connections": args.http_connections,
        "http_batch_connections": args.http_batch_connections, "tick_open": tick_open,
        "runs": runs, "quick": args.quick, "smoke": args.smoke}, "memory": {}}
    replays: dict = {}
    try:
        if "reference" in stages:
            ref_log = make_log_file(work, min(20000, max(sizes[0], store_events)), args.subjects,
                                    args.seed)
            say(f"reference: raw durable_rules on {ref_log.name} (best of {runs})")
            try:
                results["reference"] = run_child("reference", ref_log, runs, timeout=900)
                say(f"  {results['reference']['events_per_s']:,.0f} events/s")
            except Exception as error:  # noqa: BLE001 - report and go on
                results["reference"] = None
                results["reference_error"] = str(error)
                say(f"  failed: {error}")

        if "speed" in stages:
            for size in sizes:
                results["memory"][str(size)] = replay_row(replays, work, size, args.subjects,
                                                          args.seed, bool(args.keep_logs))

        if "memory" in stages:
            results["rss"] = [dict(replay_row(replays, work, events, subjects, args.seed,
                                              bool(args.keep_logs)), events=events)
                              for events, subjects in rss_rows]

        if "tick" in stages:
            say(f"tick: {tick_open:,} open obligations, 10 due (best of {max(runs, 3)})")
            try:
                results["tick"] = run_child("tick", tick_open, 10, max(runs, 3), timeout=1800)
                f = results["tick"]["fold"]
                say(f"  tick {f['tick_us']:,.0f} µs, "
                    f"ordinary event {f['ordinary_nothing_due_us']:,.0f} µs")
            except Exception as error:  # noqa: BLE001
                results["tick"] = {"error": str(error)}
                say(f"  failed: {error}")

        if "stores" in stages:
            store_log = make_log_file(work, store_events, args.subjects, args.seed)
            say(f"SQLite: clauseline replay --db on {store_events:,} events "
                f"(best of {store_runs})")

            def sqlite_url(counter=iter(range(10**6))):
                path = work / f"store-{next(counter)}.db"
                return f"sqlite:///{path}", lambda: [Path(f"{path}{s}").unlink(missing_ok=True)
                                                     for s in ("", "-wal", "-shm", ".key")]
            try:
                results["sqlite"] = store_replay(store_log, store_events, sqlite_url, store_runs)
                say(f"  {results['sqlite']['events_per_s']:,.0f} events/s")
            except Exception as error:  # noqa: BLE001
                results["sqlite"] = {"error": str(error)[-1500:]}
                say(f"  failed: {error}")

            if args.skip_postgres:
                results["postgresql"] = {"skipped": "--skip-postgres"}
            else:
                reason = pg_available(args.pg)
                if reason:
                    results["postgresql"] = {"skipped": f"no PostgreSQL server answers at "
                                                        f"{args.pg}: {reason}"}
                    say(f"PostgreSQL skipped: {reason}")
                else:
                    say(f"PostgreSQL: clauseline replay --db on {store_events:,} events, "
                        f"fresh schema")
                    try:
                        results["postgresql"] = store_replay(
                            store_log, store_events, lambda: pg_schema_url(args.pg), store_runs)
                        say(f"  {results['postgresql']['events_per_s']:,.0f} events/s")
                    except Exception as error:  # noqa: BLE001
                        results["postgresql"] = {"error": str(error)[-1500:]}
                        say(f"  failed: {error}")

        if "http" in stages:
            http_log = make_log_file(work, http_events, args.subjects, args.seed)
            try:
                results["http"] = http_stage(http_log, http_events, work,
                                             args.http_connections, args.http_batch_connections,
                                             100)
                if "skipped" in results["http"]:
                    say(f"HTTP skipped: {results['http']['skipped']}")
            except Exception as error:  # noqa: BLE001
                results["http"] = {"error": str(error)[-1500:]}
                say(f"  failed: {error}")
        elif args.skip_http:
            results["http"] = {"skipped": "--skip-http"}

        if "scale" in stages:
            if args.skip_postgres:
                results["scale"] = {"skipped": "--skip-postgres"}
            else:
                results["scale"] = scale_stage(
                    args.scale_logs or ("300" if args.smoke else "2000" if args.quick
                                        else "20000"),
                    args.scale_partitions or ("1,2" if args.smoke else "1,2,4,8"),
                    args.seed, args.nats, args.pg, out_dir, rounds=1 if small else 3)
    finally:
        if not args.keep_logs:
            shutil.rmtree(work, ignore_errors=True)
    results["machine"]["load_average_end"] = list(os.getloadavg())
    results["note"] = NOISE
    table = markdown(results)
    (out_dir / "latest.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    (out_dir / "latest.md").write_text(table, encoding="utf-8")
    print(table)
    print(f"(written: {out_dir / 'latest.json'}, {out_dir / 'latest.md'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
