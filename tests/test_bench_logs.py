"""The benchmark's log generator (bench/logs.py) and `bench/run.py` in its smoke mode.

bench/ is not an installed package: its modules are loaded by path. The generator must be
deterministic, give only valid events of every type of the catalogue, make most rules of the
policy fire, and keep subject ids free of the digit runs the redactor masks.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
CLAUSELINE = Path(sys.executable).parent / "clauseline"
EVENTS, SUBJECTS, SEED = 2000, 300, 3


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


logs = _load("logs")


def _command(*args: str) -> list[str]:
    if CLAUSELINE.exists():
        return [str(CLAUSELINE), *args]
    return [sys.executable, "-m", "clauseline", *args]


@pytest.fixture(scope="module")
def log_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("bench-log") / "log.jsonl"
    logs.make_log(path, EVENTS, SUBJECTS, SEED)
    return path


def test_deterministic(log_file, tmp_path):
    again = tmp_path / "again.jsonl"
    logs.make_log(again, EVENTS, SUBJECTS, SEED)
    assert again.read_bytes() == log_file.read_bytes()
    assert list(logs.iter_log(500, SUBJECTS, SEED)) == list(logs.iter_log(500, SUBJECTS, SEED))
    assert list(logs.iter_log(500, SUBJECTS, SEED)) != list(logs.iter_log(500, SUBJECTS, SEED + 1))


def test_cli_writes_the_same_bytes(log_file, tmp_path):
    out = tmp_path / "cli.jsonl"
    subprocess.run([sys.executable, str(BENCH / "logs.py"), "--events", str(EVENTS), "--subjects",
                    str(SUBJECTS), "--seed", str(SEED), "--out", str(out)], check=True,
                   capture_output=True)
    assert out.read_bytes() == log_file.read_bytes()


def test_streams_without_holding_the_log():
    lines = logs.iter_log(10**9, 1000, 1)  # a billion-event log: only what is read is made
    first = [next(lines) for _ in range(100)]
    assert len(first) == 100 and all(json.loads(line)["specversion"] == "1.0" for line in first)


def test_every_type_of_the_catalogue_times_increasing_ids_safe(log_file):
    catalogue = {p.name.removesuffix(".schema.json") for p in (ROOT / "schemas" / "events").glob(
        "*.schema.json")}
    events = [json.loads(line) for line in log_file.read_text().splitlines()]
    assert len(events) == EVENTS
    types = {e["type"] for e in events}
    assert types == catalogue, (catalogue - types, types - catalogue)
    from clauseline.eventtime import parse_time
    times = [parse_time(e["time"]) for e in events]
    assert times == sorted(times)
    assert sum(e["type"] == "clock.tick" for e in events) >= 30  # one a simulated day
    subjects = {e["subject"] for e in events if "subject" in e}
    assert len(subjects) > 150
    for e in events:
        for name in [e["id"], e.get("subject", "")] + [
                p["subject"] for p in e["data"].get("parties", []) + e["data"].get(
                    "participants", [])]:
            assert not re.search(r"\d{6}", name), name
    # CCPA cycles: requests answered, extended, and some left to go overdue
    filed = {e["data"]["request_id"] for e in events if e["type"] == "ccpa.request.filed"}
    answered = {e["data"]["request_id"] for e in events if e["type"] == "ccpa.response.delivered"}
    assert answered and answered < filed


def test_valid_and_most_rules_fire(log_file):
    done = subprocess.run(_command("replay", "--strict", "--quiet", str(log_file), "--out",
                                   "/dev/null"), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"{EVENTS} accepted" in done.stderr and " 0 rejected" in done.stderr, done.stderr
    done = subprocess.run(_command("clauses", "--log", str(log_file)), capture_output=True,
                          text=True)
    counts = [int(n) for n in re.findall(r"fired (\d+)x", done.stdout)]
    assert len(counts) > 50, done.stdout[-2000:]
    fired = sum(1 for n in counts if n)
    assert fired >= 0.8 * len(counts), done.stdout


@pytest.mark.slow  # about 40 s: make test-slow (and .ci/run)
def test_run_smoke_writes_json_and_markdown(tmp_path):
    out = tmp_path / "results"
    done = subprocess.run([sys.executable, str(BENCH / "run.py"), "--smoke", "--skip-http",
                           "--skip-postgres", "--sizes", "1000", "--out", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((out / "latest.json").read_text())
    assert results["machine"]["cpu_count"] and results["machine"]["python"]
    assert results["reference"]["events_per_s"] > 0
    assert results["reference"]["cpu_us_per_event"] > 0
    row = results["memory"]["1000"]
    assert row["rejected"] == 0 and row["events_per_s"] > 0 and len(row["decile_us"]) == 10
    assert row["cpu_us_per_event"] > 0
    assert [(r["events"], r["subjects"]) for r in results["rss"]] == [(600, 100), (1200, 100),
                                                                      (900, 300)]
    assert all(r["peak_rss_mb"] > 0 for r in results["rss"])
    assert results["tick"]["fold"]["tick_us"] > 0
    assert results["sqlite"]["events_per_s"] > 0 and results["sqlite"]["cpu_ms_per_event"] > 0
    assert results["postgresql"] == {"skipped": "--skip-postgres"}
    assert results["http"] == {"skipped": "--skip-http"}
    table = (out / "latest.md").read_text()
    assert "| what | events/s | vs reference (CPU) | other figures | target (issue 23) | met |" \
        in table and "in memory" in table and "peak RSS, in memory, 1,200 events" in table
    assert table in done.stdout
