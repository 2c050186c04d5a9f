"""`make demo` shows the rejected lines it counts, each with its errors (line, code, JSON Pointer,
message): `examples/show_rejected.py` over the decisions the demo's replay writes, run here as
the Makefile runs it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "examples" / "demo-log.jsonl"
SCRIPT = ROOT / "examples" / "show_rejected.py"
CARD = "4111111111111111"


def run(*args, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "CLAUSELINE_REDACTION_KEY": "k"}
    return subprocess.run([sys.executable, *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, env=env, timeout=300)


def test_the_demo_shows_each_rejected_line_with_its_errors(tmp_path):
    done = run("-m", "clauseline", "replay", DEMO, "--out", "decisions.jsonl", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    summary = re.search(r"(\d+) events in .*, (\d+) rejected", done.stderr)
    decisions = [json.loads(line) for line in (tmp_path / "decisions.jsonl").open()]
    rejected = [d for d in decisions if d["status"] == "rejected"]
    assert rejected and int(summary[2]) == len(rejected)  # what the replay counts

    shown = run(SCRIPT, "decisions.jsonl", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0] == (f"{len(rejected)} of {len(decisions)} line(s) rejected (line, error "
                        "code, JSON Pointer, message):")
    errors = [e for d in rejected for e in d["errors"]]
    assert len(lines) == 1 + len(errors)
    for line, error in zip(lines[1:], errors):
        message = re.sub(r"^line \d+: ", "", error["message"])
        assert line.split()[:3] == ["line", str(error["line"]), error["code"]], line
        assert (error["path"] or "/") in line and line.endswith(message), (line, message)


def test_the_makefile_demo_runs_it_on_what_the_replay_wrote():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    demo = makefile.split("\ndemo:", 1)[1].split("\n\n", 1)[0]
    written = re.search(r"clauseline replay examples/demo-log.jsonl --db \S+ --out (\S+)", demo)
    assert written, demo
    assert f"examples/show_rejected.py {written[1]}" in demo


def test_the_script_refuses_what_is_not_decisions_and_masks_numbers(tmp_path):
    assert run(SCRIPT, "missing.jsonl", cwd=tmp_path).returncode == 2
    assert run(SCRIPT, cwd=tmp_path).returncode == 2  # no file named
    (tmp_path / "text.jsonl").write_text(f"not JSON {CARD}\n", encoding="utf-8")
    done = run(SCRIPT, "text.jsonl", cwd=tmp_path)
    assert done.returncode == 2 and "line 1 is not JSON" in done.stderr
    assert "Traceback" not in done.stderr and CARD not in done.stderr
    # a message or an id holding a card number (a hand-written file): masked, escapes shown
    decision = {"status": "rejected", "errors": [
        {"line": 7, "code": "schema.type", "path": "/data/x\x1b[31m",
         "message": f"line 7: card {CARD} is wrong\x07"}]}
    (tmp_path / "card.jsonl").write_text(json.dumps(decision) + "\n", encoding="utf-8")
    done = run(SCRIPT, "card.jsonl", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert CARD not in done.stdout and "[redacted card ...1111]" in done.stdout
    assert "\x1b" not in done.stdout and "\\u001b" in done.stdout and "\x07" not in done.stdout
