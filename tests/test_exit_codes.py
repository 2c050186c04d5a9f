"""The exit codes of the commands that check or compare (``verify``, ``diff``, ``replay
--compare``): 0 the same, 1 a finding, 2 an error. Every cell of the one table that documents
them (docs/auditing.md, "Exit codes") is run here through the ``clauseline`` command, in a
process, as a user runs it; and ``verify`` names the event of the first broken record, masked."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from clauseline.chain import GENESIS, link, record_hash

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "examples" / "demo-log.jsonl"
DOC = ROOT / "docs" / "auditing.md"
SHIPPED, FIXTURE = "securus-2019-05-04", "fixture-amendment-2099-01-01"
COMMANDS = ("verify", "diff", "replay --compare")
CARD = "4111111111111111"


def clauseline(*args, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "CLAUSELINE_REDACTION_KEY": "k"}
    return subprocess.run([sys.executable, "-m", "clauseline", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, env=env, timeout=120)


def documented() -> dict[tuple[str, int], str]:
    """The cells of the exit-code table: (command, exit) -> what the cell says."""
    text = DOC.read_text(encoding="utf-8").split("## Exit codes", 1)[1]
    rows = [line for line in text.splitlines() if line.startswith("|")]
    header = [c.strip(" `") for c in rows[0].strip("|").split("|")]
    assert header[0] == "exit"
    names = [next(c for c in COMMANDS if cell.startswith(c.split()[0])
                  and (c != "replay --compare" or "--compare" in cell)) for cell in header[1:]]
    cells = {}
    for row in rows[2:]:
        values = [c.strip() for c in row.strip("|").split("|")]
        for name, cell in zip(names, values[1:]):
            cells[(name, int(values[0]))] = cell
    return cells


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """A folder with a short log, its store's export (with the head hash), and a replay's
    output of the log."""
    folder = tmp_path_factory.mktemp("exit-codes")
    lines = DEMO.read_text(encoding="utf-8").splitlines()
    (folder / "log.jsonl").write_text("\n".join(lines[:25]) + "\n", encoding="utf-8")
    # the payments of the demo log: the fixture amendment decides some of them differently
    payments = [line for line in lines if '"payment.made"' in line][:40]
    (folder / "payments.jsonl").write_text("\n".join(payments) + "\n", encoding="utf-8")
    done = clauseline("replay", "log.jsonl", "--db", "sqlite:///s.db", "--quiet", cwd=folder)
    assert done.returncode == 0, done.stderr
    done = clauseline("log", "export", "--db", "sqlite:///s.db", "--out", "export.jsonl",
                      cwd=folder)
    assert done.returncode == 0, done.stderr
    (folder / "head").write_text(done.stderr.split("head ")[1].split()[0])
    done = clauseline("replay", "log.jsonl", "--out", "recorded.jsonl", "--quiet", cwd=folder)
    assert done.returncode == 0, done.stderr
    return folder


def _export(folder: Path) -> list[str]:
    return (folder / "export.jsonl").read_text(encoding="utf-8").splitlines()


def _write(folder: Path, name: str, lines: list[str], raw: bytes = b"") -> str:
    (folder / name).write_bytes("".join(line + "\n" for line in lines).encode() + raw)
    return name


def _changed(folder):
    export = _export(folder)
    record = json.loads(export[4])
    record["decision"]["status"] = "duplicate"
    return ["verify", _write(folder, "changed.jsonl", export[:4] + [json.dumps(record)]
                             + export[5:])]


def _recorded_changed(folder):
    recorded = (folder / "recorded.jsonl").read_text(encoding="utf-8").splitlines()
    decision = json.loads(recorded[3])
    decision["outcomes"] = decision["outcomes"][1:] if decision["outcomes"] else [
        {"kind": "notice", "clause": "A", "rule": "A.invented", "notice": "invented"}]
    return ["replay", "log.jsonl", "--compare",
            _write(folder, "recorded-changed.jsonl",
                   recorded[:3] + [json.dumps(decision)] + recorded[4:]), "--quiet"]


def _recorded_short(folder):
    recorded = (folder / "recorded.jsonl").read_text(encoding="utf-8").splitlines()
    return ["replay", "log.jsonl", "--compare", _write(folder, "short.jsonl", recorded[:-1]),
            "--quiet"]


#: (command, exit, what, argv(folder)): at least one case per cell of the documented table
CASES = [
    ("verify", 0, "intact", lambda f: ["verify", "export.jsonl"]),
    ("verify", 0, "intact, at the head", lambda f: ["verify", "export.jsonl", "--head",
                                                    (f / "head").read_text()]),
    ("verify", 1, "a record changed", _changed),
    ("verify", 1, "a record deleted", lambda f: ["verify", _write(
        f, "deleted.jsonl", _export(f)[:4] + _export(f)[5:])]),
    ("verify", 1, "a record moved", lambda f: ["verify", _write(
        f, "moved.jsonl", _export(f)[:4] + [_export(f)[5], _export(f)[4]] + _export(f)[6:])]),
    ("verify", 1, "a JSON line that is not a record", lambda f: ["verify", _write(
        f, "not-a-record.jsonl", _export(f)[:4] + ['{"seq": 5}'] + _export(f)[5:])]),
    ("verify", 1, "cut from the end, with --head", lambda f: [
        "verify", _write(f, "cut.jsonl", _export(f)[:-1]), "--head", (f / "head").read_text()]),
    ("verify", 2, "a line that is not JSON", lambda f: ["verify", _write(
        f, "not-json.jsonl", _export(f)[:4] + ["this is not JSON"] + _export(f)[5:])]),
    ("verify", 2, "a line that is not UTF-8", lambda f: ["verify", _write(
        f, "not-utf8.jsonl", _export(f)[:2], b'{"seq": "\xff\xfe"}\n')]),
    ("verify", 2, "a line nested too deep", lambda f: ["verify", _write(
        f, "deep.jsonl", _export(f)[:2], b"[" * 100_000 + b"\n")]),
    ("verify", 2, "a missing file", lambda f: ["verify", "missing.jsonl"]),
    ("verify", 2, "a folder", lambda f: ["verify", "."]),
    ("verify", 2, "wrong usage", lambda f: ["verify", "export.jsonl", "--head"]),
    ("diff", 0, "the same version twice", lambda f: ["diff", "payments.jsonl", "--policy",
                                                     SHIPPED, "--against", SHIPPED]),
    ("diff", 1, "the fixture amendment", lambda f: ["diff", "payments.jsonl", "--policy",
                                                    SHIPPED, "--against", FIXTURE]),
    ("diff", 1, "the fixture amendment, as JSON", lambda f: [
        "diff", "payments.jsonl", "--policy", SHIPPED, "--against", FIXTURE, "--format", "json"]),
    ("diff", 2, "an unknown --policy", lambda f: ["diff", "log.jsonl", "--policy", "nope-1",
                                                  "--against", SHIPPED]),
    ("diff", 2, "an unknown --against", lambda f: ["diff", "log.jsonl", "--policy", SHIPPED,
                                                   "--against", "nope-1"]),
    ("diff", 2, "a missing log", lambda f: ["diff", "missing.jsonl", "--policy", SHIPPED,
                                            "--against", FIXTURE]),
    ("diff", 2, "rules that do not load", lambda f: [
        "diff", "log.jsonl", "--policy", SHIPPED, "--against", SHIPPED, "--rules", "."]),
    ("diff", 2, "wrong usage", lambda f: ["diff", "log.jsonl", "--policy", SHIPPED]),
    ("replay --compare", 0, "a replay's output", lambda f: [
        "replay", "log.jsonl", "--compare", "recorded.jsonl", "--quiet"]),
    ("replay --compare", 0, "a log export", lambda f: [
        "replay", "log.jsonl", "--db", "sqlite:///again.db", "--compare", "export.jsonl",
        "--quiet"]),
    ("replay --compare", 1, "a decision differs", _recorded_changed),
    ("replay --compare", 1, "no recorded counterpart", _recorded_short),
    ("replay --compare", 2, "RECORDED missing", lambda f: [
        "replay", "log.jsonl", "--compare", "missing.jsonl"]),
    ("replay --compare", 2, "RECORDED not decisions", lambda f: [
        "replay", "log.jsonl", "--compare", _write(f, "neither.jsonl", ['{"seq": 1}'])]),
    ("replay --compare", 2, "RECORDED not JSON", lambda f: [
        "replay", "log.jsonl", "--compare", _write(f, "text.jsonl", ["not JSON"])]),
    ("replay --compare", 2, "the log missing", lambda f: [
        "replay", "missing.jsonl", "--compare", "recorded.jsonl"]),
    ("replay --compare", 2, "an unknown --policy", lambda f: [
        "replay", "log.jsonl", "--compare", "recorded.jsonl", "--policy", "nope-1"]),
    ("replay --compare", 2, "wrong usage", lambda f: [
        "replay", "log.jsonl", "--compare", "recorded.jsonl", "--order", "sideways"]),
]


def test_every_cell_of_the_documented_table_is_tested():
    cells = documented()
    assert set(cells) == {(c, e) for c in COMMANDS for e in (0, 1, 2)}, cells
    assert all(cells.values())
    assert {(c, e) for c, e, _, _ in CASES} == set(cells)


@pytest.mark.parametrize("command, code, what, argv", CASES,
                         ids=[f"{c} exit {e}: {w}" for c, e, w, _ in CASES])
def test_exit_code(work, command, code, what, argv):
    done = clauseline(*argv(work), cwd=work)
    assert done.returncode == code, (what, done.stdout[-500:], done.stderr[-1500:])
    assert "Traceback" not in done.stderr
    if code == 2 and what != "wrong usage":
        assert done.stderr.strip() and len(done.stderr.strip().splitlines()) <= 6, done.stderr
    if command == "verify" and code == 1:
        assert "chain broken at line" in done.stderr
    if command == "verify" and code == 2 and "line" in what:
        assert "cannot read line 3" in done.stderr or "cannot read line 5" in done.stderr


def test_verify_names_the_event_of_the_first_broken_record(work):
    export = _export(work)
    record = json.loads(export[4])
    event = record["event"]
    done = clauseline(*_changed(work), cwd=work)
    assert done.returncode == 1
    assert (f"chain broken at line 5 (seq {record['seq']}); event source {event['source']}, id "
            f"{event['id']}, time {event['time']}: its hash does not match") in done.stderr


def _chain(events: list[dict]) -> list[dict]:
    records, prev = [], GENESIS
    for seq, event in enumerate(events, start=1):
        decision = {"event_id": event["id"], "event_source": event["source"],
                    "status": "accepted", "outcomes": []}
        records.append(link(seq, event, decision, "0" * 64, prev, "0.1.0"))
        prev = records[-1]["hash"]
    return records


def test_verify_masks_and_escapes_the_event_it_names(tmp_path):
    """The event's source, id and time are untrusted: a card-like id is masked, a control
    character escaped, a long value cut, a value that is not a string described."""
    hostile = {"source": "/x\x1b[31m\u202e", "id": f"card {CARD}", "time": "9" * 500}
    events = [{"source": "/ok", "id": "e-1", "time": "2019-07-01T09:00:00Z"}, hostile,
              {"source": "/ok", "id": 4111111111111111, "time": None}]
    for broken in (1, 2):
        records = _chain(events)
        records[broken]["decision"]["status"] = "rejected"  # changed: its hash no longer holds
        path = tmp_path / f"hostile-{broken}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
        done = clauseline("verify", path, cwd=tmp_path)
        assert done.returncode == 1, done.stderr
        err = done.stderr
        assert f"chain broken at line {broken + 1} (seq {broken + 1}); event source" in err
        assert CARD not in err and CARD[-8:] not in err and "\x1b" not in err, err
        assert "\u202e" not in err
        if broken == 1:
            assert "\\u001b" in err and "[redacted card ...1111]" in err
            assert "9" * 81 not in err and "..." in err
        else:
            assert "id (a number of 16 characters)" in err and "time (none)" in err
    # intact, the same records verify
    records = _chain(events)
    assert all(r["hash"] == record_hash(r) for r in records)
    path = tmp_path / "intact.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    done = clauseline("verify", path, cwd=tmp_path)
    assert done.returncode == 0 and re.search(r"chain intact: 3 record\(s\)", done.stdout)
