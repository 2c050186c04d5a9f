"""Progress on long replays and exports: a bar on stderr when stderr is a terminal, nothing when
it is not (a pipe, a file, CI) or with --quiet, and never a change to what goes to stdout."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "examples" / "demo-log.jsonl"


def run(args, *, tty: bool) -> tuple[int, str, str]:
    """The CLI with stderr on a pseudo-terminal (``tty``) or a pipe; stdout always a pipe."""
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "120",
           "CLAUSELINE_REDACTION_KEY": "k"}
    if not tty:
        done = subprocess.run([sys.executable, "-m", "clauseline", *args], capture_output=True,
                              text=True, cwd=ROOT, env=env, timeout=300)
        return done.returncode, done.stdout, done.stderr
    leader, follower = pty.openpty()
    # stdout to a file: a pipe nobody reads while the terminal is read would fill and block
    stdout = tempfile.TemporaryFile()
    process = subprocess.Popen([sys.executable, "-m", "clauseline", *args], stdout=stdout,
                               stderr=follower, cwd=ROOT, env=env)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed with the process
            break
        if not chunk:
            break
        chunks.append(chunk)
    process.wait(timeout=300)
    stdout.seek(0)
    out = stdout.read().decode()
    stdout.close()
    os.close(leader)
    return process.returncode, out, b"".join(chunks).decode(errors="replace")


@pytest.mark.slow  # about 12 s: make test-slow (and .ci/run)
def test_a_replay_shows_progress_on_a_terminal_only(tmp_path):
    code, out, err = run(["replay", str(DEMO)], tty=True)
    piped = run(["replay", str(DEMO)], tty=False)
    quiet = run(["replay", str(DEMO), "--quiet"], tty=True)
    assert code == piped[0] == quiet[0] == 0
    assert out == piped[1] == quiet[1]  # the decisions do not change
    events = sum(1 for line in DEMO.open() if line.strip())
    assert "clauseline replay" in err and f"/{events}" in err, err[-500:]
    assert "━" in err or "\x1b[" in err  # a drawn bar
    for text in (piped[2], quiet[2]):
        assert f"/{events}" not in text and "\x1b[" not in text
        assert text.startswith("clauseline replay: ") and "events in" in text


def test_a_log_export_shows_progress_on_a_terminal_only(tmp_path):
    db = f"sqlite:///{tmp_path / 'p.db'}"
    assert run(["replay", str(DEMO), "--db", db, "--quiet"], tty=False)[0] == 0
    code, out, err = run(["log", "export", "--db", db], tty=True)
    assert code == 0 and "clauseline log export" in err and "\x1b[" in err
    piped = run(["log", "export", "--db", db], tty=False)
    assert piped[1] == out and "\x1b[" not in piped[2]
