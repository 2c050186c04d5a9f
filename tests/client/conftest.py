"""Fixtures of the client tests: a real ``clauseline serve`` on a fresh SQLite store with keys made
by ``clauseline keys create`` (one server per test module: each test uses its own event ids), and
``clauseline replay`` to compute the decisions the service must give."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from service.server import Server

REPO = Path(__file__).resolve().parents[2]
CLAUSELINE = Path(sys.executable).parent / "clauseline"
DEMO_LOG = REPO / "examples" / "demo-log.jsonl"
#: serve, keys and replay pseudonymize with the same key, so their decisions agree
ENV = {"CLAUSELINE_REDACTION_KEY": "client-test-key-not-secret"}


def run(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(CLAUSELINE), *args], env={**os.environ, **ENV},
                          capture_output=True, text=True, timeout=120, **kw)


def replay(events: list, tmp_path: Path) -> list[dict]:
    """The decisions ``clauseline replay`` gives the events (dicts or JSON text), in order, from
    an empty state."""
    log = tmp_path / f"replay-{len(list(tmp_path.iterdir()))}.jsonl"
    log.write_text("".join((e if isinstance(e, str) else json.dumps(e)) + "\n" for e in events),
                   encoding="utf-8")
    done = run("replay", str(log))
    return [json.loads(line) for line in done.stdout.splitlines()]


def demo_events(count: int) -> list[dict]:
    """The first ``count`` valid events of the demo log."""
    out = []
    for line in DEMO_LOG.read_text(encoding="utf-8").splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict) and event.get("specversion") == "1.0":
            out.append(event)
        if len(out) == count:
            break
    return out


class Served:
    """A running server and its keys by name (``admin``; in the shared server also ``writer``:
    events:write, ``reader``: decisions:read, ``revoked``: an admin key revoked)."""

    def __init__(self, server: Server, keys: dict[str, str], db: str):
        self.url = server.url
        self.keys = keys
        self.db = db
        self.server = server

    @property
    def key(self) -> str:
        return self.keys["admin"]


ROLES = {"admin": ["admin"], "writer": ["events:write"], "reader": ["decisions:read"],
         "revoked": ["admin"]}


@contextlib.contextmanager
def serving(tmp: Path, roles=("admin",)):
    """``clauseline serve`` on a fresh SQLite store in ``tmp``, its admin key made by
    ``clauseline keys create``, the others (``roles``) by the functions behind it."""
    db = f"sqlite:///{tmp / 'service.db'}"
    made = run("keys", "create", "--db", db, "--name", "admin", "--scope", "admin", check=True)
    keys = {"admin": made.stdout.strip()}
    assert keys["admin"].startswith("clk_"), made.stderr
    others = [name for name in roles if name != "admin"]
    if others:  # the other keys through the same functions, without a process each
        from clauseline.service.keys import create_key, revoke_key
        from clauseline.store import open_store
        store = open_store(db)
        try:
            for name in others:
                keys[name] = create_key(store, name, ROLES[name])[1]
            if "revoked" in keys:
                revoke_key(store, keys["revoked"].split("_")[1])
        finally:
            store.close()
    with Server(CLAUSELINE, "--db", db, env=ENV, log=tmp / "serve.log") as server:
        yield Served(server, keys, db)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """One server for a module's tests that do not depend on what the others stored (each uses
    event ids and subjects of its own)."""
    with serving(tmp_path_factory.mktemp("client"), tuple(ROLES)) as made:
        yield made


@pytest.fixture
def fresh(tmp_path):
    """A server of the test's own, on an empty store: for comparisons with a replay from an
    empty state (a tick or a missed deadline of another test's events would change them)."""
    with serving(tmp_path) as made:
        yield made
