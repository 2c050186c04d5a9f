"""What the CLI prints about hostile input, as a user meets it (``.venv/bin/clauseline`` in a
process): no error quotes a value that is not short and safe, whether the value is a time's
fraction or a member name that a JSON Pointer is built from; no URL is printed with its
password; and every printed name (a key name, a rules file name) has its control characters
escaped, ESC included. The HTTP side is ``tests/service/test_no_value_echoed.py``; numbers
planted in other options (``--policy``, ``--batch``, ``--port``, ``keys revoke``, ``--db``) are
cases of ``tests/test_cli_hostile.py``, whose every answer is checked for them."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from clauseline.resources import rules_dir

CLAUSELINE = Path(sys.executable).parent / "clauseline"
#: a card number (Luhn-valid), an SSN written without separators (no shape gives it away), and
#: a bank account number: planted in options, times and member names
CARD, SSN, ACCOUNT = "4111111111111111", "219099999", "000123456789"
ESC = "\x1b"


def run(*args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(CLAUSELINE), *args], capture_output=True, text=True, cwd=cwd,
                          input=stdin, timeout=120)


def nothing_planted(text: str) -> None:
    for planted in (CARD, SSN, ACCOUNT, CARD[:8], "secret"):
        assert planted not in text, f"{planted!r} is echoed:\n{text}"
    assert "Traceback" not in text


def event(**extra) -> dict:
    return {"specversion": "1.0", "id": "e-1", "source": "/facilities/tx-01/requests",
            "type": "disclosure.requested", "time": "2019-07-01T09:00:00Z", "subject": "acct-1",
            "data": {"request_id": "r-1", "recipient": {"kind": "law_enforcement", "name": "PD"},
                     "purpose": "law_enforcement_activity", "data_categories": ["voice"]},
            **extra}


def test_due_at_never_quotes_a_planted_number(tmp_path):
    db = f"sqlite:///{tmp_path / 's.db'}"
    assert run("db", "init", "--db", db, cwd=tmp_path).returncode == 0
    said = []
    for at in (f"2019-07-01T09:00:00.{CARD}Z", CARD, f"2019-07-01T09:00:00Z{SSN}"):
        done = run("due", "--db", db, "--at", at, cwd=tmp_path)
        assert done.returncode == 2 and done.stdout == ""
        nothing_planted(done.stderr)
        assert done.stderr.startswith("clauseline due: --at")
        said.append(done.stderr)
    # the precision refusal still says what is wrong, in words
    assert "a time with 16 fractional-second digits is finer than a microsecond" in said[0]
    # a short, safe value is still quoted, so that a typo can be seen
    assert '"tomorrow"' in run("due", "--db", db, "--at", "tomorrow", cwd=tmp_path).stderr


def test_member_names_holding_numbers_are_masked_in_every_pointer(tmp_path):
    deep = {CARD: {"x": 1}}  # an extension attribute of the wrong type, named by a card number
    nested = {"data": {**event()["data"], "recipient": {SSN: _nested(40)}}}  # too deep, by an SSN
    lines = [json.dumps(event(**deep)), json.dumps(event(**nested)),
             '{"a": {"%s": 1, "%s": 2}}' % (CARD, CARD)]  # a key given twice
    log = tmp_path / "log.jsonl"
    log.write_text("\n".join(lines) + "\n")
    as_json = run("replay", str(log), cwd=tmp_path)
    nothing_planted(as_json.stdout + as_json.stderr)
    decisions = [json.loads(line) for line in as_json.stdout.splitlines()]
    paths = [[(e["code"], e["path"]) for e in d["errors"]] for d in decisions]
    assert paths[0] == [("schema.type", "/[redacted name of 16 characters]")]
    [(code, path)] = paths[1]
    assert code == "event.too_deep"
    assert path.startswith("/data/recipient/[redacted name of 9 characters]/k/k/")
    assert [code for code, _ in paths[2]] == ["event.duplicate_key"]
    assert "a string of 16 characters appears twice" in decisions[2]["errors"][0]["message"]
    # the same as text
    as_text = run("replay", str(log), "--format", "text", cwd=tmp_path)
    nothing_planted(as_text.stdout + as_text.stderr)
    assert "error /[redacted name of 16 characters]: line 1:" in as_text.stdout


def _nested(depth: int):
    value: dict = {}
    for _ in range(depth):
        value = {"k": value}
    return value


def test_key_names_are_printed_with_controls_escaped(tmp_path):
    db = f"sqlite:///{tmp_path / 's.db'}"
    name = f"ops{ESC}[2J{ESC}]0;owned\x07\u202etxt"
    made = run("keys", "create", "--db", db, "--name", name, "--scope", "admin", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    listed = run("keys", "list", "--db", db, cwd=tmp_path)
    for text in (made.stderr, listed.stdout):
        assert ESC not in text and "\x07" not in text and "\u202e" not in text
        assert "ops\\u001b[2J\\u001b]0;owned\\u0007\\u202etxt" in text
    # the JSON form keeps the name as it is stored (JSON escapes it)
    as_json = run("keys", "list", "--db", db, "--format", "json", cwd=tmp_path)
    assert json.loads(as_json.stdout)["name"] == name


def test_rules_check_and_other_messages_print_file_names_escaped(tmp_path):
    rules = tmp_path / "rules"
    shutil.copytree(rules_dir() / "securus-2019-05-04", rules)
    clauses = rules / "clauses"
    # a second copy of B's rules under a name that would recolour the terminal: every rule id
    # is then defined twice, and each problem names that file
    shutil.copy(clauses / "B.yaml", clauses / f"B{ESC}[31m\u202e.yaml")
    done = run("rules", "check", "--rules", str(rules), cwd=tmp_path)
    assert done.returncode == 1
    assert ESC not in done.stderr and "\u202e" not in done.stderr
    assert "duplicate_rule_id" in done.stderr and "B\\u001b[31m\\u202e.yaml" in done.stderr
    # any message naming a file: verify of a log that is not there
    done = run("verify", str(tmp_path / f"log{ESC}[31m.jsonl"), cwd=tmp_path)
    assert done.returncode == 2 and ESC not in done.stderr
    assert "log\\u001b[31m.jsonl" in done.stderr


def test_a_nats_url_is_never_printed_with_its_password(tmp_path):
    log = tmp_path / "log.jsonl"
    log.write_text(json.dumps(event()) + "\n")
    for url in ("nats://alice:secret@127.0.0.1:9,nats://bob:secret2@127.0.0.1:9",  # two servers
                "nats://secret@127.0.0.1:9"):                                       # a token
        done = run("publish", str(log), "--nats", url, "--stream", "S", cwd=tmp_path)
        assert done.returncode == 1 and "nats.unavailable" in done.stderr
        nothing_planted(done.stderr)
        assert "nats://***@127.0.0.1:9" in done.stderr


def test_service_settings_refuse_a_limit_without_quoting_it():
    """A worker's limit read from the environment (``serve`` writes it; a hand-set variable may
    hold anything): refused, described by its size, never quoted."""
    from clauseline.service.settings import Settings

    with pytest.raises(ValueError) as refused:
        Settings(db="sqlite:///x.db", max_batch=-4111111111111111)
    assert "4111" not in str(refused.value) and "max_batch" in str(refused.value)
