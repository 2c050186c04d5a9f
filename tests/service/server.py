"""``clauseline serve`` as a real process for the tests: a free port, wait until it answers,
stop it with SIGINT as a user's Ctrl-C would, and keep what it logged."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """A running ``clauseline serve``; use as a context manager."""

    def __init__(self, clauseline: str | Path, *args: str, env: dict | None = None,
                 cwd: str | Path | None = None, log: Path | None = None, timeout: float = 60):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.command = [str(clauseline), "serve", "--port", str(self.port), *args]
        self.env = {**os.environ, **(env or {})}
        self.cwd = cwd
        self.log = log
        self.timeout = timeout
        self.process: subprocess.Popen | None = None
        self.stderr = ""
        self.returncode: int | None = None

    def __enter__(self) -> "Server":
        self._err = open(self.log, "w+") if self.log else None
        self.process = subprocess.Popen(self.command, env=self.env, cwd=self.cwd,
                                        stdout=subprocess.DEVNULL,
                                        stderr=self._err or subprocess.PIPE, text=True)
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.stop()
                raise RuntimeError(f"clauseline serve exited {self.returncode}:\n{self.stderr}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as response:
                    if response.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"clauseline serve did not answer within {self.timeout}s:\n{self.stderr}")

    def stop(self) -> int:
        """SIGINT, wait, and keep stderr; the exit code."""
        if self.process is not None and self.returncode is None:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGINT)
            try:
                _, err = self.process.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                _, err = self.process.communicate()
            if self._err is not None:
                self._err.seek(0)
                err = self._err.read()
                self._err.close()
            self.stderr = err or ""
            self.returncode = self.process.returncode
        return self.returncode

    def __exit__(self, *exc) -> None:
        self.stop()
