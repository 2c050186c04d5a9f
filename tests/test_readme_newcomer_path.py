"""Issue 25's acceptance: the newcomer path of the README runs as written on a fresh clone.

The steps are the README's own blocks, not copies: each fenced ``sh`` or ``python`` block that
follows a ``<!-- newcomer-path: step N -->`` comment (``(runs until stopped)``: the server, run
in the background; ``(saved as FILE)``: a Python block saved under that name for a later step).
They run in order in a ``git clone`` of the committed HEAD (uncommitted work is not in it; set
``CLAUSELINE_NEWCOMER_REPO`` to clone another repository, e.g. a scratch commit), in a
newcomer's environment: no virtual environment active, no ``CLAUSELINE_*`` variable, ``make``'s
own variables dropped. Nothing is substituted but the port: every ``8000`` becomes a free port
(the README names the default port; two runs may share a machine).

``make demo`` really runs: it creates the clone's own ``.venv`` and installs clauseline and
durable-rules from source into it (pip's cache of built wheels makes that about 30 s on this
project's machine; 1 to 3 minutes cold). The ``sh`` steps share what a newcomer's terminal
keeps: each step's exported variables (the activated venv's ``PATH``) and the variables it
assigns (``KEY``) are carried into the next.

What each step documents is checked, read from the README's ``# ->`` comments where it shows
one: exit 0 everywhere; the HTTP statuses and decision statuses of the three curls; the client
example's output line for line; the report's and the chain's counts and "chain intact". Beyond
what the README shows: every decision answered over HTTP is the one the exported log holds
under its ``Clauseline-Decision-Id`` (with the request id that stored it), and ``clauseline
replay --compare`` of the events sent against the exported log finds no difference."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = "README.md"
MARKER = re.compile(r"<!-- newcomer-path: step (\d+)(?: \(([^)]*)\))? -->")
BLOCK = re.compile(r"[ \t]*\n?```(sh|console|python)\n(.*?)^```", re.S | re.M)
ASSIGNED = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=", re.M)


@dataclass(frozen=True)
class Step:
    number: int
    note: str
    lang: str
    code: str

    @property
    def background(self) -> bool:
        return self.note == "runs until stopped"

    @property
    def saved_as(self) -> str | None:
        match = re.fullmatch(r"saved as (\S+)", self.note)
        return match.group(1) if match else None

    def documented(self) -> list[str]:
        """The output the step shows in ``# ->`` comments (and the ``#    `` lines after one)."""
        out, going = [], False
        for line in self.code.splitlines():
            arrow = re.search(r"#\s*-> (.*)$", line)
            if arrow:
                out.append(arrow.group(1).rstrip())
                going = line.lstrip().startswith("#")
            elif going and re.match(r"#    \S", line):
                out.append(line[5:].rstrip())
            else:
                going = False
        return out


def newcomer_steps(readme: str) -> list[Step]:
    """The marked blocks, in order; a marker not followed by a block, or steps out of order, is
    an error of the README."""
    steps = []
    for marker in MARKER.finditer(readme):
        block = BLOCK.match(readme, marker.end())
        assert block, f"README: the marker {marker.group(0)!r} is not followed by a fenced block"
        steps.append(Step(int(marker.group(1)), marker.group(2) or "", block.group(1),
                          block.group(2)))
    assert [s.number for s in steps] == list(range(1, len(steps) + 1)), \
        "README: the newcomer-path steps are not numbered 1, 2, 3, ... in order"
    return steps


def test_the_readme_marks_the_whole_newcomer_path():
    """Fast (not slow: ``make test`` runs it): the marked blocks cover what issue 25 names
    (make demo, keys, serve, curl in three modes, the client, report, export and verify)."""
    steps = newcomer_steps((REPO / README).read_text(encoding="utf-8"))
    text = "\n".join(s.code for s in steps)
    assert steps[0].code.split("#")[0].strip() == "make demo"
    for needed in ("keys create", "clauseline serve", "cloudevents+json", "ce-specversion",
                   "cloudevents-batch+json", "from clauseline.client import", "clauseline report",
                   "clauseline log export", "clauseline verify"):
        assert needed in text, f"the newcomer path has no step with {needed!r}"
    served = [s for s in steps if s.background]
    assert len(served) == 1 and "clauseline serve" in served[0].code
    assert all(s.lang == "python" for s in steps if s.saved_as)
    assert all(s.lang == "sh" for s in steps if not s.saved_as)


# ---------------------------------------------------------------- the run


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _newcomer_env() -> dict[str, str]:
    """This process's environment as a newcomer's shell would have it: no virtual environment
    on the PATH or active, none of clauseline's variables, none of make's or pytest's."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CLAUSELINE_", "PYTEST_", "MAKE", "COV_CORE"))
           and k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "MFLAGS")}
    env["PATH"] = os.pathsep.join(
        d for d in env.get("PATH", "").split(os.pathsep)
        if d and not (Path(d).parent / "pyvenv.cfg").exists())
    return env


class Terminal:
    """A newcomer's terminal: steps run by bash in the clone, each seeing the exported
    variables and the assignments of the steps before it."""

    def __init__(self, clone: Path, state: Path, env: dict[str, str]):
        self.clone, self.state, self.env = clone, state, env
        self.names: set[str] = set()

    def _prelude(self) -> str:
        return f"set -eo pipefail\nif [ -f '{self.state}' ]; then . '{self.state}'; fi\n"

    def run(self, code: str, timeout: float = 300) -> subprocess.CompletedProcess:
        self.names |= set(ASSIGNED.findall(code))
        keep = "".join(f"declare -p {n} 2>/dev/null || true\n" for n in sorted(self.names))
        script = f"{self._prelude()}{code}\n{{ export -p\n{keep}}} > '{self.state}'\n"
        return subprocess.run(["bash", "-c", script], cwd=self.clone, env=self.env,
                              capture_output=True, text=True, timeout=timeout)

    def start(self, code: str, log: Path) -> subprocess.Popen:
        command = code.split("#")[0].strip()
        assert command and "\n" not in command, "the server's step is one command"
        with open(log, "wb") as out:
            return subprocess.Popen(["bash", "-c", f"{self._prelude()}exec {command}"],
                                    cwd=self.clone, env=self.env, stdout=out,
                                    stderr=subprocess.STDOUT)


def _wait_ready(port: int, server: subprocess.Popen, log: Path, seconds: float = 90):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert server.poll() is None, f"the server exited:\n{log.read_text(errors='replace')}"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"the server did not answer in {seconds} s:\n{log.read_text(errors='replace')}")


def _stop(server: subprocess.Popen):
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)  # Ctrl-C's cousin: a graceful shutdown
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)


def _responses(output: str) -> list[tuple[int, dict[str, str], object]]:
    """The responses ``curl -si`` printed one after another: status, headers, JSON body."""
    decoder = json.JSONDecoder()
    output = output.replace("\r\n", "\n")  # as curl sends them, or as text mode reads them
    out, at = [], 0
    while True:
        start = output.find("HTTP/1.1 ", at)
        if start < 0:
            return out
        head_end = output.index("\n\n", start)
        lines = output[start:head_end].split("\n")
        status = int(lines[0].split()[1])
        headers = {k.strip().lower(): v.strip()
                   for k, _, v in (line.partition(":") for line in lines[1:])}
        body, at = decoder.raw_decode(output, head_end + 2)
        out.append((status, headers, body))


def _ok(done: subprocess.CompletedProcess, step: Step):
    assert done.returncode == 0, (f"step {step.number} exited {done.returncode}:\n{step.code}\n"
                                  f"stdout:\n{done.stdout[-3000:]}\nstderr:\n{done.stderr[-3000:]}")
    assert "Traceback" not in done.stderr, done.stderr


@pytest.mark.slow  # make demo in a fresh clone: about 40 s warm, minutes cold
def test_the_newcomer_path_runs_as_written_on_a_fresh_clone(tmp_path):
    source = os.environ.get("CLAUSELINE_NEWCOMER_REPO", str(REPO))
    clone = tmp_path / "clauseline"
    subprocess.run(["git", "clone", "--quiet", source, str(clone)], check=True, timeout=120)
    steps = newcomer_steps((clone / README).read_text(encoding="utf-8"))
    port = _free_port()
    env = _newcomer_env()
    terminal = Terminal(clone, tmp_path / "terminal-state.sh", env)
    server = None
    answered: list[tuple[int, dict[str, str], object]] = []  # every curl response
    printed: list[str] = []  # the client example's output
    accepted = 0  # events stored by the steps (their decisions answered "accepted")
    try:
        for step in steps:
            code = re.sub(r"\b8000\b", str(port), step.code)
            if step.saved_as:
                (clone / step.saved_as).write_text(code, encoding="utf-8")
                continue
            if step.background:
                server = terminal.start(code, tmp_path / "serve.log")
                _wait_ready(port, server, tmp_path / "serve.log")
                continue
            done = terminal.run(code, timeout=900 if "make demo" in code else 300)
            _ok(done, step)

            if code.startswith("make demo"):
                # the clone's own venv, and the demo store and decisions it wrote
                assert (clone / ".venv" / "bin" / "clauseline").exists()
                log = (clone / "examples" / "demo-log.jsonl").read_text(encoding="utf-8")
                made = (clone / "out" / "demo-decisions.jsonl").read_text(encoding="utf-8")
                # a decision per line, and one per deadline timer the log fires
                timers = made.count('"event_source":"urn:clauseline:timer"')
                assert timers >= 1 and len(made.splitlines()) == len(log.splitlines()) + timers
                assert (clone / "out" / "demo.db").exists()
            elif ". .venv/bin/activate" in code:
                where = terminal.run("command -v clauseline; command -v python")
                assert where.stdout.split() == [str(clone / ".venv" / "bin" / "clauseline"),
                                                str(clone / ".venv" / "bin" / "python")]
            elif "keys create" in code:
                key = terminal.run('printf %s "$KEY"').stdout
                assert re.fullmatch(r"clk_\S+", key), "KEY holds the key printed once"
            elif "curl" in code:
                responses = _responses(done.stdout)
                statuses = [int(s) for s in re.findall(r"HTTP/1\.1 (\d{3})",
                                                       " ".join(step.documented()))]
                assert len(statuses) == code.count("curl -si") == len(responses)
                assert [r[0] for r in responses] == statuses, done.stdout[-2000:]
                for shown, (status, headers, body) in zip(step.documented(), responses):
                    expected = re.search(r'"status": "(\w+)"', shown).group(1)
                    decisions = body if isinstance(body, list) else [body]
                    assert [d["status"] for d in decisions] == [expected] * len(decisions)
                    counted = re.search(r"a list of (\d+) decisions", shown)
                    if counted:
                        assert isinstance(body, list) and len(body) == int(counted.group(1))
                    accepted += sum(d["status"] == "accepted" for d in decisions)
                answered.extend(responses)
            elif "python" in code and any(s.saved_as and s.saved_as in code for s in steps):
                printed = done.stdout.splitlines()
                assert printed == step.documented(), done.stdout
                accepted += sum(line.split()[0] == "accepted" for line in printed)
            elif "clauseline verify" in code:
                said = done.stdout + done.stderr
                shown = " ".join(step.documented())
                reported = re.search(r"(\d+) decision\(s\) -> (\S+)", said)
                assert reported and reported.group(0) in shown, said
                assert int(reported.group(1)) == accepted
                page = (clone / reported.group(2)).read_text(encoding="utf-8")
                assert page.lstrip().lower().startswith("<!doctype html")
                intact = re.search(r"chain intact: (\d+) record\(s\)", said)
                assert intact and intact.group(0) in shown and int(intact.group(1)) == accepted
                exported = re.search(r"--out (\S+)", code.split("log export", 1)[1]).group(1)
                _check_against_the_log(terminal, clone / exported, answered, step)
            else:
                pytest.fail(f"step {step.number} is not one this test knows how to check:\n"
                            f"{step.code}")
        assert answered and printed, "the path posts by curl and by the client"
    finally:
        if server is not None:
            _stop(server)
    assert server.returncode in (0, -signal.SIGTERM), \
        (tmp_path / "serve.log").read_text(errors="replace")[-3000:]


def _check_against_the_log(terminal: Terminal, exported: Path, answered, step: Step):
    """Every decision answered over HTTP is the one the exported log holds under the id the
    answer named, stored with the request's id; ``clauseline replay --compare`` of the events
sent, in the log's order, finds no decision that differs from the log's."""
    records = [json.loads(line) for line in exported.read_text(encoding="utf-8").splitlines()]
    by_id = {r["decision_id"]: r for r in records}
    for status, headers, body in answered:
        decisions = body if isinstance(body, list) else [body]
        ids = (headers.get("clauseline-decision-ids", "").split(",") if isinstance(body, list)
               else [headers.get("clauseline-decision-id", "")])
        assert len(ids) == len(decisions)
        for decision_id, decision in zip(ids, decisions):
            record = by_id[decision_id.strip()]
            assert record["decision"] == decision
            assert record["request_id"] == headers["x-request-id"]
    # the events as they were sent (the store keeps card numbers reduced: its copy of a payment
    # is not the event sent), found by source and id in the files the steps sent them from
    sent = {}
    clone = terminal.clone
    for line in (clone / "examples" / "demo-log.jsonl").read_text(encoding="utf-8").splitlines():
        try:
            event = json.loads(line)
            sent[(event["source"], event["id"])] = line
        except (ValueError, TypeError, KeyError):
            continue  # the demo's deliberately bad lines
    example = json.loads((clone / "examples" / "disclosure-request.json").read_text("utf-8"))
    sent[(example["source"], example["id"])] = json.dumps(example)
    events = exported.with_name("sent-events.jsonl")
    events.write_text("".join(sent.get((r["event"]["source"], r["event"]["id"]),
                                       json.dumps(r["event"])) + "\n" for r in records),
                      encoding="utf-8")
    done = terminal.run(f"clauseline replay '{events}' --compare '{exported}' > /dev/null")
    _ok(done, step)  # exit 0: every decision the store holds is the one a replay gives
