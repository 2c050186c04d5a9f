"""The files the commands read back (a log export for ``verify``, a replay's output or an export
for ``replay --compare``, a state for ``--state``) against lines nested at every depth: a broken
record, ``compare.invalid`` or ``state.invalid``, never a traceback.

Python's JSON parser gives up with ``RecursionError`` past about 990 levels; a line just under
that parsed, and hashing or comparing it then recursed past the limit (``verify`` printed a
``RecursionError`` traceback at 990 levels). Every reader now parses through
``clauseline.events.parsing.loads_bounded``, which bounds the nesting as events are bounded, so
the depths are swept one by one across that edge (wherever the stack of the caller puts it).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from clauseline.cli import build_parser, main
from clauseline.events.parsing import MAX_DOCUMENT_DEPTH, TooDeep, loads_bounded

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "disclosure-request.json"
CLAUSELINE = Path(sys.executable).with_name("clauseline")
GENESIS = "0" * 64


def record(depth: int) -> str:
    """A log record whose event is ``depth`` arrays deep."""
    return ('{"seq":1,"event":' + "[" * depth + "]" * depth + ',"decision":{"status":"accepted"},'
            f'"policy_hash":null,"prev":"{GENESIS}","hash":"{"0" * 64}"}}')


def test_loads_bounded_takes_what_records_hold_and_refuses_deeper():
    assert loads_bounded("[" * MAX_DOCUMENT_DEPTH + "]" * MAX_DOCUMENT_DEPTH) is not None
    for text in ("[" * (MAX_DOCUMENT_DEPTH + 1) + "]" * (MAX_DOCUMENT_DEPTH + 1), "[" * 100_000,
                 b'{"a":' * 990 + b"1" + b"}" * 990):
        with pytest.raises(TooDeep):
            loads_bounded(text)


def test_verify_answers_a_broken_record_at_every_depth_past_the_limit(tmp_path, capsys):
    path = tmp_path / "export.jsonl"
    parser = build_parser()  # once: main() would build it at every depth
    for depth in range(MAX_DOCUMENT_DEPTH - 2, 1100):
        path.write_text(record(depth) + "\n", encoding="utf-8")
        args = parser.parse_args(["verify", str(path)])
        readable = depth + 1 <= MAX_DOCUMENT_DEPTH
        # a record it reads is broken (1); a line it cannot read is an error (2: docs/auditing.md)
        assert args.func(args) == (1 if readable else 2), depth
        err = capsys.readouterr().err
        reason = "its hash does not match" if readable else "nested too deep to be a log record"
        assert reason in err, (depth, err)


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(CLAUSELINE), *args], capture_output=True, text=True, timeout=120)


@pytest.mark.slow  # four commands, three of which load the policy
def test_the_commands_answer_deep_and_truncated_files_in_a_line(tmp_path):
    """As a user meets them: verify of an export line nested 100,000 deep, replay --compare of
    such a recorded file and of a decision whose outcomes are not objects, explain of a
    truncated event. The documented exit codes: 1, refused, for explain (docs/errors.md); 2,
    an error, for verify and replay --compare (docs/auditing.md, "Exit codes"); no traceback."""
    deep = tmp_path / "deep.jsonl"
    deep.write_text(record(100_000) + "\n", encoding="utf-8")
    event = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    not_objects = tmp_path / "recorded.jsonl"
    not_objects.write_text(json.dumps({"status": "accepted", "event_source": event["source"],
                                       "event_id": event["id"], "outcomes": [1, "x"]}) + "\n",
                           encoding="utf-8")
    log = tmp_path / "log.jsonl"
    log.write_text(json.dumps(event) + "\n", encoding="utf-8")
    truncated = tmp_path / "truncated.json"
    truncated.write_bytes(EXAMPLE.read_bytes()[:70])
    for args, says in ((["verify", str(deep)], "nested too deep to be a log record"),
                       (["replay", str(log), "--compare", str(deep)], "compare.invalid"),
                       (["replay", str(log), "--compare", str(not_objects)], "compare.invalid"),
                       (["explain", str(truncated)], "rejected")):
        done = run(*args)
        assert "Traceback" not in done.stderr + done.stdout, done.stderr[-2000:]
        assert done.returncode == (1 if args[0] == "explain" else 2), (args, done.stderr[-2000:])
        assert says in done.stderr + done.stdout, (args, done.stderr[-2000:])
        assert len(done.stderr.splitlines()) <= 6


def test_a_state_nested_past_the_limit_is_state_invalid(tmp_path, capsys):
    state = json.loads((ROOT / "tests" / "hostile" / "state" / "valid-state.json").read_text())
    value: list = []
    node = value
    for _ in range(300):  # under the parser's limit: it parsed, and was accepted as a memory value
        node.append([])
        node = node[0]
    state["subjects"]["acct-1"]["_journal"][0][4] = value
    path = tmp_path / "state.json"
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 2000))
    path.write_text(json.dumps(state), encoding="utf-8")
    assert main(["evaluate", "--state", str(path), str(EXAMPLE)]) == 1
    assert "state.invalid" in capsys.readouterr().err
