"""``clauseline serve`` stops on SIGTERM at any moment of its start-up, as an orchestrator stopping
a deployment expects: it used to set a do-nothing SIGTERM handler (for uvicorn's graceful stop)
before it loaded the rules, so a SIGTERM while they loaded was ignored, and a ruleset that spun in
durable_rules held the process for ever."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from .server import free_port

CLAUSELINE = Path(sys.executable).parent / "clauseline"
#: seconds a stopped start-up may take to exit (a loaded machine included)
PROMPT = 10.0


def start(tmp_path: Path) -> tuple[subprocess.Popen, list[str]]:
    """``clauseline serve`` on a fresh SQLite store; its stderr lines collected as they come."""
    process = subprocess.Popen(
        [str(CLAUSELINE), "serve", "--db", f"sqlite:///{tmp_path / 'serve.db'}", "--port",
         str(free_port()), "--insecure-no-auth"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []

    def read() -> None:
        for line in process.stderr:
            lines.append(line)

    threading.Thread(target=read, daemon=True).start()
    return process, lines


def stopped(process: subprocess.Popen) -> float:
    """Seconds from now until the process exits (it is killed, and the test fails, past
    :data:`PROMPT`)."""
    began = time.monotonic()
    try:
        process.wait(timeout=PROMPT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        pytest.fail(f"clauseline serve did not exit within {PROMPT:.0f} s of SIGTERM")
    return time.monotonic() - began


def test_sigterm_while_the_rules_load_stops_the_start_up(tmp_path):
    """The banner is printed once the store is open, just before the rules load (about a second
    of CPU): a SIGTERM then ends the process with exit 0 and one line, no traceback, before it
    serves anything."""
    process, lines = start(tmp_path)
    deadline = time.monotonic() + 120
    while not any(line.startswith("clauseline serve: store ") for line in lines):
        assert process.poll() is None, "".join(lines)
        assert time.monotonic() < deadline, "no banner within 120 s:\n" + "".join(lines)
        time.sleep(0.005)
    process.send_signal(signal.SIGTERM)
    stopped(process)
    time.sleep(0.1)  # the reader thread takes the last lines
    err = "".join(lines)
    assert process.returncode == 0, err
    assert "Traceback" not in err
    assert "stopped (SIGTERM) while starting" in err
    assert "Uvicorn running" not in err and "Application startup complete" not in err


def test_sigterm_a_moment_after_start_stops_it(tmp_path):
    """SIGTERM 0.3 s after the start (the interpreter still importing, or opening the store):
    it exits promptly, without a traceback; 0, or killed by the signal where no handler was set
    yet."""
    process, lines = start(tmp_path)
    time.sleep(0.3)
    process.send_signal(signal.SIGTERM)
    stopped(process)
    time.sleep(0.1)
    assert process.returncode in (0, -signal.SIGTERM), "".join(lines)
    assert "Traceback" not in "".join(lines)


def test_a_sigterm_whose_raise_was_lost_still_stops_the_start_up(tmp_path, monkeypatch):
    """A signal handler's exception is lost where it interrupts a callback whose errors Python
    ignores (SQLAlchemy's weakref callbacks, during the rules' load): about one start-up in five
    then went on to serve. The handler's record of the signal stops it all the same, before
    uvicorn runs."""
    from clauseline.service import app as app_module
    from clauseline.service import server as server_module
    from clauseline.service.settings import Settings

    def loading_when_the_signal_came(settings):
        try:  # the handler as the signal would call it, its raise swallowed as in a callback
            server_module._stop_starting(signal.SIGTERM, None)
        except server_module.StoppedStarting:
            pass
        return object()

    def never_run(*args, **kwargs):
        raise AssertionError("uvicorn was started after a SIGTERM")

    import uvicorn
    monkeypatch.setattr(app_module, "create_app", loading_when_the_signal_came)
    monkeypatch.setattr(uvicorn.Server, "run", never_run)
    monkeypatch.setattr(server_module, "_stopped", [])
    monkeypatch.setattr(sys, "unraisablehook", sys.unraisablehook)  # serve() wraps it
    previous = signal.getsignal(signal.SIGTERM)
    try:
        with pytest.raises(server_module.StoppedStarting):
            server_module.serve(Settings(db=f"sqlite:///{tmp_path / 'serve.db'}", auth=False),
                                host="127.0.0.1", port=free_port(), workers=1)
    finally:
        signal.signal(signal.SIGTERM, previous)
