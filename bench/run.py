"""`make bench`: clauseline's speed beside the raw durable_rules reference, measured in one run.

Run: `.venv/bin/python bench/run.py [--quick] [--sizes 10000,100000,1000000] [--skip-http]
[--skip-postgres] [--out DIR]` (`make bench` runs it with no option). Rows (targets of issue 13):

- reference: raw durable_rules, one ruleset of the policy's own compiled rules (75), one fact
  per event of the generated log (its envelope and data flattened to dotted names, its first
  list item as `item`, as the engine expands `for_each`), asserted and retracted through
  durable_rules' Python API (`Host.assert_fact`/`retract_fact` of a dict; the actions, which
  do nothing, called back): what a plain durable_rules program does per event. Also shown, not
  used for ratios: the same facts through the C core alone with their JSON made beforehand
  (`durable_rules_engine.assert_fact`/`retract_fact`), a ceiling for the matcher;
- in memory: `Session(policy).replay(...)` of a generated log (`bench/logs.py`) of each size, in
  a fresh process per size: events/s, peak RSS of that process, and µs/event of each tenth of
  the log (flat means the cost does not grow with the log);
- tick: one `clock.tick` through the real `clauseline.evaluate` against a state holding 10^6
  open obligations of which 10 are due, against an ordinary event on the same state;
- SQLite, PostgreSQL: `clauseline replay LOG --db URL` in a subprocess on the 10k log (minus
  the same command on an empty log: start-up, policy load, opening the store); PostgreSQL in a
  fresh schema of the local `test` database, dropped after (skipped, saying why, when no server
  answers);
- HTTP: `clauseline serve` (SQLite, one worker) posted to by a load generator in a second
  process on loopback: one event per request over 50 keep-alive connections (each subject's
  events on one connection, in order), then batches of 100 events over 4 connections; events/s,
  p50 and p99 of a request.

Writes DIR/latest.json (every figure, the machine, the versions, the date) and DIR/latest.md (the
table with the targets), and prints the table. Progress goes to stderr. The machine has 2 shared
cores: figures swing by ±20 % from run to run; short measurements take the best of a few runs.
`--quick` (10k events only, fewer runs) is a smoke run of a few minutes; `--smoke` is smaller
still (the test suite's).
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import logs  # noqa: E402  (bench/logs.py, beside this file)

CLAUSELINE = Path(sys.executable).parent / "clauseline"
ENV = {**os.environ, "CLAUSELINE_REDACTION_KEY": "bench-key-not-secret"}
PG_DEFAULT = os.environ.get("CLAUSELINE_BENCH_PG", "postgresql://root@127.0.0.1:5432/test")
NOISE = ("Figures are wall-clock on a machine of 2 cores shared with other work: they swing by "
         "about ±20 % from run to run; short measurements are the best of a few runs.")

TARGETS = {
    "memory": "≥ 30 % of the reference (~11,000/s), flat from 10k to 1M",
    "tick": "about the cost of an ordinary event",
    "sqlite": "≥ 5,000/s",
    "postgresql": "≥ 3,000/s",
    "http_single": "≥ 2,000/s, p99 < 25 ms at 50 connections",
    "http_batch": "≥ 10,000/s",
}


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

    times, core_times = [], []
    for _ in range(runs):
        started = time.perf_counter()
        public()
        times.append(time.perf_counter() - started)
        started = time.perf_counter()
        cycle()
        core_times.append(time.perf_counter() - started)
    return {"events": len(texts), "rules": len(rules), "ruleset": source,
            "events_per_s": len(texts) / min(times), "runs_s": times,
            "c_core_events_per_s": len(texts) / min(core_times), "c_core_runs_s": core_times,
            "firings": fired // runs}


def child_replay(log: str, events: int) -> dict:
    """In-memory replay of the whole log in this process; µs/event of each tenth."""
    from clauseline import Session, load_policy

    started = time.perf_counter()
    policy = load_policy()
    load_s = time.perf_counter() - started
    rss_loaded = peak_rss_mb()
    bounds = [events * (k + 1) // 10 for k in range(10)]
    deciles, rejected = [], 0
    last_n = 0
    with open(log, "rb") as lines:
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
    return {"events": events, "seconds": total, "events_per_s": events / total,
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


def child_http(url: str, log: str, events: int, connections: int, batch: int) -> dict:
    """The load generator: this process posts the log's first ``events`` events to ``url``."""
    with open(log, encoding="utf-8") as lines:
        chosen = [line.rstrip("\n") for _, line in zip(range(events), lines)]
    parts: list[list[str]] = [[] for _ in range(connections)]
    for line in chosen:
        event = json.loads(line)
        parts[zlib.crc32(str(event.get("subject", "")).encode()) % connections].append(line)
    host, port = url.split("//")[1].split(":")
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    start_gate = threading.Barrier(sum(1 for p in parts if p) + 1)

    def run(lines: list[str]) -> None:
        mine, bad = [], []
        conn = http.client.HTTPConnection(host, int(port), timeout=300)
        bodies = ([(line, "application/cloudevents+json") for line in lines] if batch == 1 else
                  [("[" + ",".join(lines[i:i + batch]) + "]", "application/cloudevents-batch+json")
                   for i in range(0, len(lines), batch)])
        start_gate.wait()
        for body, kind in bodies:
            payload = body.encode()
            started = time.perf_counter()
            conn.request("POST", "/v1/events", body=payload, headers={"Content-Type": kind})
            response = conn.getresponse()
            text = response.read()
            mine.append(time.perf_counter() - started)
            if response.status not in (200, 201):
                bad.append(f"{response.status} {text[:200]!r}")
        conn.close()
        with lock:
            latencies.extend(mine)
            failures.extend(bad)

    threads = [threading.Thread(target=run, args=(p,)) for p in parts if p]
    for t in threads:
        t.start()
    start_gate.wait()
    started = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {"events": len(chosen), "connections": len(threads), "batch": batch,
            "requests": len(latencies), "seconds": elapsed,
            "events_per_s": len(chosen) / elapsed,
            "p50_ms": statistics.median(latencies) * 1000,
            "p99_ms": latencies[max(0, int(len(latencies) * 0.99) - 1)] * 1000,
            "failures": len(failures), "failure_example": failures[0] if failures else None}


def child_main(argv: list[str]) -> None:
    kind, *args = argv
    if kind == "reference":
        out = child_reference(args[0], int(args[1]))
    elif kind == "replay":
        out = child_replay(args[0], int(args[1]))
    elif kind == "tick":
        out = child_tick(int(args[0]), int(args[1]), int(args[2]))
    elif kind == "http":
        out = child_http(args[0], args[1], int(args[2]), int(args[3]), int(args[4]))
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


def timed_cli(args: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run([str(CLAUSELINE), *args], capture_output=True, text=True, env=ENV)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"clauseline {' '.join(args)} failed: {done.stderr[-2000:]}")
    return elapsed


def store_replay(log: Path, events: int, make_url, runs: int) -> dict:
    """`clauseline replay LOG --db URL` in a subprocess, minus the same on an empty log."""
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
    full, base = min(rows, key=lambda r: r[0] - r[1])
    return {"events": events, "runs": runs, "whole_command_s": full, "empty_log_s": base,
            "events_per_s": events / max(full - base, 1e-9),
            "events_per_s_whole_command": events / full}


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


def http_stage(log: Path, events: int, folder: Path) -> dict:
    from service_bench import Serve  # bench/service_bench.py: `clauseline serve` as a process

    out = {}
    for label, connections, batch in (("single", 50, 1), ("batch", 4, 100)):
        db = folder / f"http-{label}.db"
        for suffix in ("", "-wal", "-shm", ".key"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        server = Serve(f"sqlite:///{db}", 1)
        try:
            say(f"HTTP {label}: {events:,} events, {connections} connections, "
                f"{'batches of ' + str(batch) if batch > 1 else 'one event per request'}")
            out[label] = run_child("http", server.url, log, events, connections, batch)
        finally:
            server.stop()
    return out


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


def markdown(results: dict) -> str:
    m, ref = results["machine"], results.get("reference") or {}
    ref_rate = ref.get("events_per_s")

    def ratio(rate):
        return f"{rate / ref_rate:.1%}" if rate and ref_rate else "—"

    changed = ", with uncommitted changes" if m["tree_changed"] else ""
    lines = [f"Measured {m['date']} on {m['cpu_count']} CPUs, Python {m['python']}, clauseline "
             f"{m['clauseline']} ({m['commit']}{changed}), "
             f"durable_rules {m['durable_rules']}; load average {m['load_average_start'][0]:.2f} "
             f"at the start, {m.get('load_average_end', [0])[0]:.2f} at the end. {NOISE}", "",
             "| what | events/s | vs reference | other figures | target (issue 13) |",
             "|---|---|---|---|---|"]
    if ref:
        lines.append(f"| reference: raw durable_rules assert+retract of one fact per event, its "
                     f"Python API ({ref['rules']} rules, {ref['events']:,} events) | "
                     f"{fmt(ref_rate)} "
                     f"| 100 % | best of {len(ref['runs_s'])}; {ref['firings']:,} firings | "
                     f"the reference |")
        lines.append(f"| the same, C core only (`durable_rules_engine`, JSON text made beforehand) "
                     f"| {fmt(ref['c_core_events_per_s'])} | {ratio(ref['c_core_events_per_s'])} "
                     f"| a ceiling, not a target | — |")
    for size, row in sorted(results.get("memory", {}).items(), key=lambda kv: int(kv[0])):
        if "error" in row:
            lines.append(f"| in memory, {int(size):,} events | failed | — | {row['error'][:80]} "
                         f"| {TARGETS['memory']} |")
            continue
        d = row["decile_us"]
        spread = f"tenths {min(d):,.0f}–{max(d):,.0f} µs/event" if d else ""
        lines.append(f"| in memory (`Session.replay`), {int(size):,} events | "
                     f"{fmt(row['events_per_s'])} | {ratio(row['events_per_s'])} | peak RSS "
                     f"{row['peak_rss_mb']:,.0f} MB; {spread} | {TARGETS['memory']} |")
    tick = results.get("tick")
    if tick and "error" not in tick:
        f = tick["fold"]
        lines.append(f"| `clock.tick`, {tick['open']:,} open obligations, {tick['due']} due "
                     f"(`evaluate`, best of {tick['runs']}) | — | — | tick {f['tick_us']:,.0f} µs "
                     f"vs ordinary event {f['ordinary_nothing_due_us']:,.0f} µs "
                     f"(×{f['tick_us'] / f['ordinary_nothing_due_us']:.1f}); the same tick on a "
                     f"state of only the {tick['due']} due: {tick['tick_small_state_us']:,.0f} µs; "
                     f"a tick with none due {f['tick_nothing_due_us']:,.0f} µs; an ordinary event "
                     f"at the tick's instant (it sees the {tick['due']} overdue too) "
                     f"{f['ordinary_same_instant_us']:,.0f} µs | {TARGETS['tick']} |")
    elif tick:
        lines.append(f"| `clock.tick` with open obligations | failed | — | {tick['error'][:80]} | "
                     f"{TARGETS['tick']} |")
    for key, label in (("sqlite", "SQLite (`replay --db sqlite:///…`)"),
                       ("postgresql", "PostgreSQL (`replay --db postgresql://…`)")):
        row = results.get(key)
        if row is None:
            continue
        if "skipped" in row or "error" in row:
            lines.append(f"| {label} | — | — | {row.get('skipped') or row.get('error')} "
                         f"| {TARGETS[key]} |")
            continue
        lines.append(f"| {label}, {row['events']:,} events | {fmt(row['events_per_s'])} | "
                     f"{ratio(row['events_per_s'])} | whole command "
                     f"{fmt(row['events_per_s_whole_command'])}/s incl. start-up "
                     f"| {TARGETS[key]} |")
    http = results.get("http")
    if http and "skipped" not in http and "error" not in http:
        for key, label in (("single", "HTTP single events, 1 worker, SQLite"),
                           ("batch", "HTTP batches of 100, 1 worker, SQLite")):
            row = http[key]
            extra = f", {row['failures']} failed" if row["failures"] else ""
            lines.append(f"| {label}, {row['connections']} connections, {row['events']:,} events "
                         f"| {fmt(row['events_per_s'])} | {ratio(row['events_per_s'])} | p50 "
                         f"{row['p50_ms']:.1f} ms, p99 {row['p99_ms']:.1f} ms{extra} "
                         f"| {TARGETS['http_' + key]} |")
    elif http:
        lines.append(f"| HTTP | — | — | {http.get('skipped') or http.get('error')} | "
                     f"{TARGETS['http_single']}; batch {TARGETS['http_batch']} |")
    memory = {k: v for k, v in results.get("memory", {}).items() if "decile_us" in v}
    if memory:
        lines += ["", "Per-event cost of in-memory replay by tenth of the log (µs/event; flat "
                  "means the cost does not grow with the log):", "",
                  "| events | " + " | ".join(f"{k}" for k in range(1, 11)) + " |",
                  "|---|" + "---|" * 10]
        for size, row in sorted(memory.items(), key=lambda kv: int(kv[0])):
            lines.append(f"| {int(size):,} | " + " | ".join(f"{u:,.0f}" for u in row["decile_us"])
                         + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        child_main(argv[1:])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10k events only, fewer runs")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny sizes everywhere (for the test suite; not a measurement)")
    parser.add_argument("--sizes", help="in-memory log sizes, e.g. 10000,100000,1000000")
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--out", default=str(HERE / "results"), help="folder of latest.json/.md")
    parser.add_argument("--subjects", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--store-events", type=int, default=None,
                        help="events of the SQLite and PostgreSQL replays (default 10000)")
    parser.add_argument("--http-events", type=int, default=None,
                        help="events posted over HTTP (default 10000, --quick 5000)")
    parser.add_argument("--tick-open", type=int, default=None,
                        help="open obligations of the tick state (default 1000000)")
    parser.add_argument("--pg", default=PG_DEFAULT, help="PostgreSQL database to use a schema of")
    parser.add_argument("--keep-logs", help="generate the logs into this folder and keep them")
    args = parser.parse_args(argv)

    small = args.quick or args.smoke
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else \
        ([2000] if args.smoke else [10000] if args.quick else [10000, 100000, 1000000])
    store_events = args.store_events or (min(sizes[0], 2000) if args.smoke else 10000)
    http_events = args.http_events or (1000 if args.smoke else 5000 if args.quick else 10000)
    tick_open = args.tick_open or (20000 if args.smoke else 1000000)
    runs = 1 if args.smoke else 3
    store_runs = 1 if small else 2
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    work = Path(args.keep_logs) if args.keep_logs else \
        Path(tempfile.mkdtemp(prefix="clauseline-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    say(NOISE)
    results: dict = {"machine": machine(), "options": {
        "sizes": sizes, "subjects": args.subjects, "seed": args.seed,
        "store_events": store_events, "http_events": http_events, "tick_open": tick_open,
        "runs": runs, "quick": args.quick, "smoke": args.smoke}, "memory": {}}
    try:
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

        for size in sizes:
            log = make_log_file(work, size, args.subjects, args.seed)
            say(f"in memory: {size:,} events in a fresh process"
                + (" (expect many minutes)" if size >= 1000000 else ""))
            try:
                row = run_child("replay", log, size)
                say(f"  {row['events_per_s']:,.0f} events/s, peak RSS {row['peak_rss_mb']:,.0f} MB,"
                    f" {row['rejected']} rejected")
            except Exception as error:  # noqa: BLE001
                row = {"error": str(error)}
                say(f"  failed: {error}")
            results["memory"][str(size)] = row
            if size >= 1000000 and not args.keep_logs:
                log.unlink(missing_ok=True)

        say(f"tick: {tick_open:,} open obligations, 10 due (best of {max(runs, 3)})")
        try:
            results["tick"] = run_child("tick", tick_open, 10, max(runs, 3), timeout=1800)
            f = results["tick"]["fold"]
            say(f"  tick {f['tick_us']:,.0f} µs, "
                f"ordinary event {f['ordinary_nothing_due_us']:,.0f} µs")
        except Exception as error:  # noqa: BLE001
            results["tick"] = {"error": str(error)}
            say(f"  failed: {error}")

        store_log = make_log_file(work, store_events, args.subjects, args.seed)
        say(f"SQLite: clauseline replay --db on {store_events:,} events (best of {store_runs})")

        def sqlite_url(counter=iter(range(10**6))):
            path = work / f"store-{next(counter)}.db"
            return f"sqlite:///{path}", lambda: [Path(f"{path}{s}").unlink(missing_ok=True)
                                                 for s in ("", "-wal", "-shm", ".key")]
        try:
            results["sqlite"] = store_replay(store_log, store_events, sqlite_url, store_runs)
            say(f"  {results['sqlite']['events_per_s']:,.0f} events/s")
        except Exception as error:  # noqa: BLE001
            results["sqlite"] = {"error": str(error)[:500]}
            say(f"  failed: {error}")

        if args.skip_postgres:
            results["postgresql"] = {"skipped": "--skip-postgres"}
        else:
            reason = pg_available(args.pg)
            if reason:
                results["postgresql"] = {"skipped": f"no PostgreSQL server answers at {args.pg}: "
                                                    f"{reason}"}
                say(f"PostgreSQL skipped: {reason}")
            else:
                say(f"PostgreSQL: clauseline replay --db on {store_events:,} events, fresh schema")
                try:
                    results["postgresql"] = store_replay(store_log, store_events,
                                                         lambda: pg_schema_url(args.pg), store_runs)
                    say(f"  {results['postgresql']['events_per_s']:,.0f} events/s")
                except Exception as error:  # noqa: BLE001
                    results["postgresql"] = {"error": str(error)[:500]}
                    say(f"  failed: {error}")

        if args.skip_http:
            results["http"] = {"skipped": "--skip-http"}
        else:
            http_log = make_log_file(work, http_events, args.subjects, args.seed)
            try:
                results["http"] = http_stage(http_log, http_events, work)
                for key, row in results["http"].items():
                    say(f"  {key}: {row['events_per_s']:,.0f} events/s, p50 {row['p50_ms']:.1f} ms,"
                        f" p99 {row['p99_ms']:.1f} ms, {row['failures']} failed")
            except Exception as error:  # noqa: BLE001
                results["http"] = {"error": str(error)[:500]}
                say(f"  failed: {error}")
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
