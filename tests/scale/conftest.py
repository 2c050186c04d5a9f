"""Fixtures of the scale-out tests: the local NATS server with JetStream (127.0.0.1:4222, or
$CLAUSELINE_TEST_NATS) and the local PostgreSQL server (as tests/store finds it). Each test gets
a fresh stream name and a fresh schema prefix, removed afterwards; a test is skipped, saying why,
only when a server does not answer."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from store.conftest import pg_base

NATS_URL = os.environ.get("CLAUSELINE_TEST_NATS", "nats://127.0.0.1:4222")
ROOT = Path(__file__).resolve().parents[2]
_nats: list = []


def clauseline() -> str:
    found = Path(sys.executable).parent / "clauseline"
    return str(found) if found.exists() else "clauseline"


def nats_url() -> str:
    """The NATS URL, when a server with JetStream answers there (else the test is skipped)."""
    if not _nats:
        async def probe():
            import nats
            nc = await nats.connect(NATS_URL, connect_timeout=3, allow_reconnect=False,
                                    max_reconnect_attempts=0, error_cb=_quiet)
            try:
                await nc.jetstream().account_info()
            finally:
                await nc.close()
        try:
            asyncio.run(probe())
            _nats.append(None)
        except Exception as error:  # noqa: BLE001 - any failure means "no server here"
            _nats.append(f"{type(error).__name__}: {str(error)[:120]}")
    if _nats[0] is not None:
        pytest.skip(f"no NATS server with JetStream answers at {NATS_URL}: {_nats[0]}")
    return NATS_URL


async def _quiet(_error):
    pass


async def _js(work):
    import nats
    nc = await nats.connect(NATS_URL, error_cb=_quiet)
    try:
        return await work(nc.jetstream())
    finally:
        await nc.close()


def js(work):
    """Run ``work(jetstream)`` (a coroutine function) on a connection of its own."""
    return asyncio.run(_js(work))


class Scale:
    """A fresh stream (and its decisions stream) and a fresh schema prefix in the test database:
    ``base`` is the --db URL whose partitions are the schemas PREFIX_p0, PREFIX_p1, ..."""

    def __init__(self):
        self.nats = nats_url()
        self.pg = pg_base()
        tag = uuid.uuid4().hex[:10]
        self.stream = f"cl_test_{tag}"
        self.decisions = f"{self.stream}_DECISIONS"
        self.prefix = f"cl_scale_{tag}"
        self.base = f"{self.pg}?options=-csearch_path%3D{self.prefix}"
        self.serial = f"{self.pg}?options=-csearch_path%3D{self.prefix}_serial"
        self._execute(f'create schema "{self.prefix}_serial"')

    def _execute(self, sql: str) -> None:
        import psycopg
        with psycopg.connect(self.pg, autocommit=True) as conn:
            conn.execute(sql)

    def consume_args(self, partitions: list[int], *extra: str) -> list[str]:
        args = [clauseline(), "consume", "--nats", self.nats, "--stream", self.stream,
                "--db", self.base, *extra]
        for k in partitions:
            args += ["--partition", str(k)]
        return args

    def publish(self, log: Path, partitions: int) -> subprocess.CompletedProcess:
        return subprocess.run([clauseline(), "publish", str(log), "--nats", self.nats,
                               "--stream", self.stream, "--partitions", str(partitions)],
                              capture_output=True, text=True, timeout=120, check=True)

    def replay_serial(self, log: Path) -> dict:
        """The decisions a serial replay of the log stores, keyed by (source, id)."""
        from clauseline.store import open_store
        subprocess.run([clauseline(), "replay", str(log), "--db", self.serial, "--out",
                        os.devnull], capture_output=True, timeout=300, check=True)
        store = open_store(self.serial, create=False)
        try:
            return {(s, i): json.loads(d) for s, i, d in store.decisions()}
        finally:
            store.close()

    def decision_messages(self) -> list[tuple[dict, dict]]:
        """Every message of the decisions stream: (headers, decision)."""
        async def read(jetstream):
            from nats.errors import TimeoutError as NatsTimeout
            sub = await jetstream.pull_subscribe(f"{self.decisions}.>", stream=self.decisions)
            out = []
            while True:
                try:
                    msgs = await sub.fetch(500, timeout=1.0)
                except (NatsTimeout, asyncio.TimeoutError):
                    return out
                for m in msgs:
                    out.append((dict(m.headers or {}), json.loads(m.data)))
                    await m.ack()
        return js(read)

    def drop(self, partitions: int) -> None:
        for name in [self.prefix, f"{self.prefix}_serial"] + [
                f"{self.prefix}_p{k}" for k in range(partitions)]:
            self._execute(f'drop schema if exists "{name}" cascade')

        async def delete(jetstream):
            for name in (self.stream, self.decisions):
                try:
                    await jetstream.delete_stream(name)
                except Exception:  # noqa: BLE001 - never created
                    pass
        js(delete)


@pytest.fixture
def scale():
    """A fresh stream and schema prefix; removed after the test (6 partitions' schemas)."""
    made = Scale()
    try:
        yield made
    finally:
        made.drop(8)


@pytest.fixture(scope="session")
def generated_log(tmp_path_factory) -> Path:
    """A generated log with many subjects (bench/logs.py): 2,500 events over 1,500 subjects and
    200 days, so that CCPA deadlines pass, calls and SVV sessions name subjects of other
    partitions, and clock ticks and a policy change reach every partition."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("clauseline_bench_logs", ROOT / "bench" / "logs.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)
    spec.loader.exec_module(module)
    make_log = module.make_log
    path = tmp_path_factory.mktemp("scale") / "generated.jsonl"
    make_log(path, 2500, subjects=1500, seed=5, days=200)
    return path
