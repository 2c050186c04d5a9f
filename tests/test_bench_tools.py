"""The instruments of issue 23 in bench/: the table's judgement of each target, the HTTP rows'
load (wrk posting each event once) and bench/identical.py's import of another source tree.

Nothing here times anything: the figures are made up, or only checked to be there. The runs of
real servers and of a git revision are slow-marked.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


run = _load("run")
identical = _load("identical")


def _results(**parts) -> dict:
    machine = {"date": "2026-12-07T00:00:00+00:00", "cpu_count": 2, "python": "3.11",
               "clauseline": "0.1.0", "commit": "abc1234", "tree_changed": False,
               "durable_rules": "2.0.28", "load_average_start": [0.5],
               "load_average_end": [0.5]}
    return {"machine": machine, "memory": {}, **parts}


def _row(table: str, start: str) -> list[str]:
    line = next(line for line in table.splitlines() if line.startswith(start))
    return [cell.strip() for cell in line.strip("|").split("|")]


def _replay(cpu_us: float, rss: float, events: int = 10000) -> dict:
    return {"events": events, "events_per_s": 1e6 / cpu_us, "cpu_us_per_event": cpu_us,
            "peak_rss_mb": rss, "rss_after_load_mb": 45.0, "decile_us": [cpu_us] * 10,
            "rejected": 0}


def test_speed_ratio_is_of_cpu_time_against_the_reference():
    reference = {"events": 10000, "rules": 89, "events_per_s": 30000.0, "runs_s": [1, 1, 1],
                 "cpu_us_per_event": 30.0, "c_core_events_per_s": 200000.0, "firings": 10}
    table = run.markdown(_results(reference=reference, memory={
        "10000": dict(_replay(100.0, 60), subjects=5000),
        "100000": dict(_replay(90.0, 80, 100000), subjects=5000)}))
    assert _row(table, "| in memory (`Session.replay`), 10,000")[2:] == [
        "0.30", "100 µs CPU/event; peak RSS 60 MB; tenths 100–100 µs/event",
        run.TARGETS["speed"], "**yes**"]
    assert _row(table, "| in memory (`Session.replay`), 100,000")[2] == "0.33"
    slower = run.markdown(_results(reference=reference, memory={
        "10000": dict(_replay(101.0, 60), subjects=5000)}))
    assert _row(slower, "| in memory (`Session.replay`), 10,000")[-1] == "**no**"


def test_peak_rss_rows_against_the_first_over_the_same_subjects():
    def rss(*rows):
        return run.markdown(_results(rss=[dict(_replay(100, mb, events), subjects=subjects)
                                          for events, subjects, mb in rows]))

    table = rss((50000, 2000, 150), (400000, 2000, 195), (1000000, 5000, 299))
    assert _row(table, "| peak RSS, in memory, 50,000 events")[-1] == "—"
    grown = _row(table, "| peak RSS, in memory, 400,000 events over 2,000")
    assert "(×1.30)" in grown[3] and grown[-1] == "**yes**"
    assert _row(table, "| peak RSS, in memory, 1,000,000 events over 5,000")[-1] == "**yes**"
    table = rss((50000, 2000, 150), (400000, 2000, 196), (1000000, 5000, 300))
    assert _row(table, "| peak RSS, in memory, 400,000")[-1] == "**no**"  # ×1.31
    assert _row(table, "| peak RSS, in memory, 1,000,000")[-1] == "**no**"
    table = rss((50000, 2000, 200), (400000, 2000, 256))  # ×1.28 but not under 256 MB
    assert _row(table, "| peak RSS, in memory, 400,000")[-1] == "**no**"


def test_http_rows_subtract_the_store_and_divide_by_the_floor():
    def load(cpu_s, p99, answered=1000, non_2xx=0):
        return {"answered": answered, "connections": 16, "server_cpu_s": cpu_s,
                "server_cpu_ms_per_event": cpu_s * 1000 / 1000, "requests_per_s": 500.0,
                "seconds": 2.0, "p50_ms": p99 / 2, "p99_ms": p99, "non_2xx": non_2xx,
                "first_non_2xx": 500 if non_2xx else None, "rounds_server_cpu_s": [cpu_s]}

    def table(single_cpu, single_p99, batch_p99, non_2xx=0):
        http = {"events": 1000, "batch_size": 100, "minimal": load(0.1, 5),
                "single": load(single_cpu, single_p99, non_2xx=non_2xx),
                "batch": load(0.4, batch_p99, answered=10),
                "replay_db": {"events": 1000, "events_per_s": 4000.0, "cpu_ms_per_event": 0.2}}
        return run.markdown(_results(http=http))

    # (0.4 - 0.2) ms / 0.1 ms = 2.0x the floor
    good = table(0.4, 49, 499)
    single = _row(good, "| HTTP single events")
    assert ("server 0.400 ms CPU/event; what the HTTP path adds, less `replay --db`'s 0.200: "
            "0.200 ms = 2.0× the floor") in single[3]
    assert single[-1] == "**yes**" and _row(good, "| HTTP batches of 100")[-1] == "**yes**"
    assert _row(good, "| HTTP floor")[3].startswith("0.100 ms CPU/request")
    assert _row(table(0.41, 49, 499), "| HTTP single events")[-1] == "**no**"
    assert _row(table(0.4, 50, 499), "| HTTP single events")[-1] == "**no**"
    assert _row(table(0.4, 49, 499, non_2xx=1), "| HTTP single events")[-1] == "**no**"
    assert _row(table(0.4, 49, 500), "| HTTP batches of 100")[-1] == "**no**"
    skipped = run.markdown(_results(http={"skipped": "wrk is not installed"}))
    assert "| HTTP | — | — | wrk is not installed |" in skipped


def test_each_subject_on_one_connection_in_order():
    lines = [json.dumps({"id": f"e{k}", "subject": f"s{k % 7}"}) for k in range(70)]
    lines.append(json.dumps({"id": "tick"}))
    parts = run.by_subject(lines, 16)
    assert all(parts) and sorted(sum(parts, [])) == sorted(lines)
    owner = {}
    for k, part in enumerate(parts):
        assert [lines.index(line) for line in part] == sorted(lines.index(line) for line in part)
        for line in part:
            assert owner.setdefault(json.loads(line).get("subject"), k) == k
    assert run.memory_rows("50000/2000,1000000/5000,7") == [(50000, 2000), (1000000, 5000),
                                                             (7, 5000)]


def test_tree_finder_imports_clauseline_from_the_given_tree(tmp_path):
    tree = tmp_path / "tree"
    (tree / "engine").mkdir(parents=True)
    (tree / "service").mkdir()
    (tree / "rules").mkdir()  # no __init__.py: a namespace package
    (tree / "pyproject.toml").write_text(textwrap.dedent("""\
        [tool.setuptools.package-dir]
        clauseline = "engine"
        "clauseline.service" = "service"
        "clauseline.rules" = "rules"
        """))
    (tree / "engine" / "__init__.py").write_text("WHICH = 'the other tree'\n")
    (tree / "engine" / "cli.py").write_text("WHERE = __file__\n")
    (tree / "service" / "__init__.py").write_text("")
    code = textwrap.dedent(f"""\
        import sys
        sys.path.insert(0, {str(BENCH)!r})
        from identical import TreeFinder
        from pathlib import Path
        sys.meta_path.insert(0, TreeFinder(Path({str(tree)!r})))
        import clauseline, clauseline.cli, clauseline.service, clauseline.rules
        print(clauseline.WHICH, clauseline.cli.WHERE, clauseline.service.__file__,
              list(clauseline.rules.__path__), sep="\\n")
        """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    which, cli, service, rules = done.stdout.splitlines()
    assert which == "the other tree"
    assert cli == str(tree / "engine" / "cli.py")
    assert service == str(tree / "service" / "__init__.py")
    assert rules == repr([str(tree / "rules")])


def test_first_difference_names_the_line(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(b"one\ntwo\nthree\n")
    b.write_bytes(b"one\nTWO\nthree\n")
    assert identical.first_difference(a, b).startswith("line 2:")
    b.write_bytes(b"one\ntwo\n")
    assert "3 lines in the working tree's, 2 in the revision's" in identical.first_difference(a, b)


@pytest.mark.slow  # about 20 s: the demo log in memory, the working tree against HEAD
def test_identical_runs_both_trees(tmp_path):
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    done = subprocess.run([sys.executable, str(BENCH / "identical.py"), "--inputs", "demo",
                           "--no-sqlite", "--keep", str(tmp_path)], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode in (0, 1), done.stdout + done.stderr[-2000:]
    assert "memory demo: " in done.stdout
    assert (tmp_path / "revision" / "engine" / "__init__.py").exists()
    # a decision per line of the demo log, and one per deadline timer it fires
    lines = (ROOT / "examples" / "demo-log.jsonl").read_bytes().count(b"\n")
    out = (tmp_path / "demo.memory.tree.out").read_bytes()
    assert out.count(b"\n") == lines + out.count(b'"event_source":"urn:clauseline:timer"')


@pytest.mark.slow  # about a minute: three servers posted to by wrk
@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
def test_http_stage_posts_each_event_once(tmp_path):
    logs = _load("logs")
    log = tmp_path / "log.jsonl"
    logs.make_log(log, 300, 100, 2)
    out = run.http_stage(log, 300, tmp_path, 4, 2, 100)
    assert out["single"]["answered"] == 300 and out["single"]["non_2xx"] == 0
    assert out["minimal"]["answered"] == 300 and len(out["minimal"]["rounds_server_cpu_s"]) == 3
    batches = sum(-(-len(part) // 100) for part in run.by_subject(
        log.read_text().splitlines(), 2))
    assert out["batch"]["answered"] == batches and out["batch"]["non_2xx"] == 0
    assert out["single"]["server_cpu_s"] > 0 and out["replay_db"]["cpu_ms_per_event"] > 0
    assert out["single"]["p99_ms"] >= out["single"]["p50_ms"] > 0


@pytest.mark.slow  # about 40 s: publish and drain a 300-event log with 1 and 2 partitions, twice
def test_scale_table_has_a_row_per_partition_count(tmp_path):
    scale = _load("scale")
    # the met column, judged on made-up figures against one = 10 s
    rows = {n: {"partitions": n, "total_cpu_s": total, "busiest_cpu_s": busiest}
            for n, total, busiest in ((2, 12.0, 6.0), (4, 13.0, 3.5), (8, 20.0, 2.1))}
    for row in rows.values():
        scale.judge(row, 10.0)
    assert [rows[n]["met"] for n in (2, 4, 8)] == [None, True, False]
    reason = scale.unavailable(scale.NATS_DEFAULT, scale.PG_DEFAULT)
    if reason:
        pytest.skip(reason)
    out = tmp_path / "scale.md"
    done = subprocess.run([sys.executable, str(BENCH / "scale.py"), "--events", "300",
                           "--subjects", "100", "--partitions", "1,2", "--rounds", "2",
                           "--out", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    table = out.read_text()
    assert table in done.stdout
    header = _row(table, "| partitions |")
    assert header[0] == "partitions" and header[-1] == "met"
    for n in (1, 2):
        cells = _row(table, f"| {n} |")
        assert len(cells) == len(header)
        total, busiest, over_total, over_busiest, wall = map(float, cells[1:6])
        assert total >= busiest > 0 and wall > 0 and over_busiest > 0
        assert len(cells[6].split(", ")) == n  # each consumer's CPU
        assert cells[-1] in ("met", "missed", "—")
    assert _row(table, "| 1 |")[3:5] == ["1.00", "1.00"]
    results = json.loads(out.with_suffix(".json").read_text())
    assert [r["partitions"] for r in results["logs"][0]["rows"]] == [1, 2]
    for row in results["logs"][0]["rows"]:  # each round read the whole stream again
        decided = [c["decided_rounds"] for c in row["consumers"]]
        assert all(len(d) == 2 and d[0] == d[1] > 0 for d in decided), decided
        assert sum(d[0] for d in decided) >= 300
        assert all(c["cpu_s"] in c["cpu_rounds_s"] for c in row["consumers"])
    assert results["machine"]["cpu_count"] and results["empty_consumer"]["cpu_s"] > 0


@pytest.mark.parametrize("option", ["--rounds", "--events", "--subjects", "--logs",
                                    "--partitions"])
@pytest.mark.parametrize("value", ["0", "-3", "x", "", "1e3", "\u0661", "1_0", "\uff11"])
def test_scale_refuses_a_count_that_is_not_a_whole_number_of_one_or_more(option, value):
    """Refused before anything is published or measured: a number in another script's digits
    (int() reads "\u0661" as 1) or with a separator is not taken for a count either."""
    done = subprocess.run([sys.executable, str(BENCH / "scale.py"), option, value],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode in (1, 2), (done.stdout, done.stderr)  # argparse 2, SystemExit 1
    assert option in done.stderr and "Traceback" not in done.stderr


@pytest.mark.slow  # about 20 s: a run stopped while it drains its first stream
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_scale_stopped_by_a_signal_removes_its_stream_and_schemas(signum):
    """A bench run killed by a time limit (SIGTERM) or a closed terminal (SIGHUP) leaves no
    stream in NATS and no schema in PostgreSQL behind, nor a consumer still running."""
    scale = _load("scale")
    reason = scale.unavailable(scale.NATS_DEFAULT, scale.PG_DEFAULT)
    if reason:
        pytest.skip(reason)
    run = subprocess.Popen([sys.executable, str(BENCH / "scale.py"), "--events", "3000",
                            "--subjects", "200", "--partitions", "1,2", "--rounds", "2",
                            "--out", os.devnull, "--json", os.devnull],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seen, stream = [], None
    try:
        for line in run.stderr:  # the stream of the first partition count, being published
            seen.append(line)
            found = re.search(r"publish into (cl_bench_scale_\w+)", line)
            if found:
                stream = found.group(1)
                break
        assert stream, "".join(seen)[-2000:]
        time.sleep(3)  # publishing 3,000 events, or draining them: stopped in either
        run.send_signal(signum)
        rest = run.stderr.read()
        assert run.wait(timeout=120) == 128 + signum, rest[-2000:]
    finally:
        if run.poll() is None:
            run.kill()
    assert f"stopped by {signal.Signals(signum).name}" in rest

    async def names(js):
        return [info.config.name for info in await js.streams_info()]
    left = asyncio.run(scale._with_js(scale.NATS_DEFAULT, names))
    assert not [name for name in left if name.startswith(stream)]
    import psycopg
    with psycopg.connect(scale.PG_DEFAULT) as conn:
        schemas = conn.execute("select schema_name from information_schema.schemata where "
                               "schema_name like %s", (stream + "%",)).fetchall()
    assert schemas == []
    reading = []  # no process left reading it (the consumer being timed is killed)
    for proc in Path("/proc").iterdir():
        try:
            command = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if stream.encode() in command:
            reading.append(command)
    assert reading == []


RUN_COUNTS = ["--sizes", "--memory-rows", "--subjects", "--seed", "--store-events",
              "--http-events", "--http-connections", "--http-batch-connections", "--tick-open",
              "--scale-logs", "--scale-partitions"]


@pytest.mark.parametrize("option", RUN_COUNTS)
@pytest.mark.parametrize("value", ["0", "-3", "x", "", "1e3", "\u0661", "1_0", "\uff11",
                                   "5/", "/5", "1,,x"])
def test_run_refuses_a_count_that_is_not_a_whole_number(option, value):
    """bench/run.py's counts as bench/scale.py's: refused before any stage runs, the option
    named, no traceback (int() read "\u0661" as 1, and "x" in --sizes was a ValueError's
    traceback; an empty --memory-rows or --scale-logs silently meant the default)."""
    if option == "--seed" and value == "0":
        return  # seed 0 is a seed
    done = subprocess.run([sys.executable, str(BENCH / "run.py"), option, value, "--only",
                           "tick", "--out", os.devnull], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode in (1, 2), (done.stdout, done.stderr[-2000:])
    assert option in done.stderr and "Traceback" not in done.stderr
    assert "[bench" not in done.stderr  # nothing was measured


def test_memory_rows_and_counts_read_as_documented():
    counts = _load("counts")
    assert counts.pairs("50000/2000,400000/2000", "--memory-rows", 5000) == \
        [(50000, 2000), (400000, 2000)]
    assert counts.pairs("1000", "--memory-rows", 5000) == [(1000, 5000)]
    assert counts.numbers(" 1, 2 ,4", "--partitions") == [1, 2, 4]
    assert counts.whole(0)("0") == 0 and counts.whole(1)(" 7 ") == 7


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid``."""
    out = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(proc.name))
    return out


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow  # about 30 s: the HTTP stage stopped while wrk posts to a server
@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
def test_run_stopped_during_the_http_stage_leaves_no_server_or_load_generator(tmp_path):
    run = subprocess.Popen([sys.executable, str(BENCH / "run.py"), "--only", "http",
                            "--http-events", "3000", "--out", str(tmp_path / "out"),
                            "--keep-logs", str(tmp_path / "logs")],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seen = []
    try:
        for line in run.stderr:  # the floor measured: clauseline serve is posted to next
            seen.append(line)
            if "HTTP single events" in line:
                break
        assert seen and "HTTP single events" in seen[-1], "".join(seen)[-2000:]
        time.sleep(3)
        children = _children(run.pid)
        assert children  # the server, and wrk once it started
        run.send_signal(signal.SIGTERM)
        rest = run.stderr.read()
        assert run.wait(timeout=120) == 128 + signal.SIGTERM, rest[-2000:]
    finally:
        if run.poll() is None:
            run.kill()
    assert "stopped by SIGTERM" in rest and "Traceback" not in rest
    assert [pid for pid in children if _running(pid)] == []


def test_a_second_signal_does_not_cut_the_cleanup_the_first_started():
    """A time limit signals the whole process group, and bench/run.py then signals its
    bench/scale.py again: the cleanup begun on the first signal runs to its end, and the exit
    code is the first one's. Signals sent by the process to itself, in the order a stopped run
    meets them (the second and third while its ``finally`` runs)."""
    script = textwrap.dedent(f"""
        import os, signal, sys
        sys.path.insert(0, {str(BENCH)!r})
        from stopping import stoppable

        def body(argv):
            try:
                os.kill(os.getpid(), signal.SIGTERM)
                print("not stopped")
            finally:
                os.kill(os.getpid(), signal.SIGTERM)  # the parent's, during the cleanup
                os.kill(os.getpid(), signal.SIGHUP)
                print("cleaned up to the end")
            return 0

        sys.exit(stoppable("probe", body, []))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 128 + signal.SIGTERM, done.stderr
    assert done.stdout.splitlines() == ["cleaned up to the end"]
    assert "probe: stopped by SIGTERM" in done.stderr and "Traceback" not in done.stderr
