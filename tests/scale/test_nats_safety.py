"""The events stream holds no sensitive number, streams expire, and a consumer survives a NATS
restart (issue "Reliability and security, round two", items 4 and 5).

- Card, bank and social security numbers planted in a log published with ``clauseline
  publish``, and in events posted to ``serve --enqueue-nats``, are not readable in the stream's
  raw messages (read with nats-py), nor in the decisions stream; the events still decide as a
  serial replay of the raw log does.
- ``--max-age`` is the JetStream stream's ``max_age``: a new stream gets it (or the documented
  default), an existing one is updated and the change said; 0, negative and unitless values are
  refused as wrong usage.
- A private ``nats-server`` killed (SIGKILL) in the middle of a ``consume --drain`` and restarted
  on the same port and store folder: the consumer reconnects and finishes well within the ack
  wait, every event decided once, as a serial replay decides them.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from clauseline import load_policy
from clauseline.store import open_store
from clauseline.stream.consume import ACK_WAIT
from clauseline.stream.merge import merged_decisions
from clauseline.stream.stores import partition_url

from .conftest import ROOT, clauseline, js

pytestmark = pytest.mark.scale

DEMO = ROOT / "examples" / "demo-log.jsonl"
CARD, CARD_SPACED = "4000056655665556", "5555 5555 5555 4444"
SSN, ACCOUNT, ROUTING = "219-09-9999", "000987654321", "021000021"
#: every planted number, as digits: none may be readable anywhere in a stream
PLANTED = [CARD, CARD_SPACED.replace(" ", ""), SSN.replace("-", ""), ACCOUNT, ROUTING]


def _payment(i: int, **data) -> dict:
    body = {"transaction_id": f"t-{i}", "amount": 25, "currency": "USD",
            "instrument": "credit_card", "status": "completed", "encrypted_in_transit": True,
            "product": "prepaid_calling"}
    body.update(data)
    return {"specversion": "1.0", "id": f"pl-{i}", "source": "/tests/planted",
            "type": "payment.made", "time": f"2019-07-01T09:{i:02d}:00Z", "subject": f"acct-p{i}",
            "data": body}


def _planted_events() -> list[dict]:
    return [
        _payment(1, card_number=CARD),
        _payment(2, card_number=CARD_SPACED, product=f"card {CARD} on file"),
        _payment(3, instrument="bank_account", account_number=ACCOUNT, routing_number=ROUTING),
        _payment(4, ssn=SSN, product=f"SSN {SSN}"),
        _payment(5, status="failed", card_number=f"card: {CARD}"),
        dict(_payment(6), cardnumber=CARD),  # an extension attribute named for a card number
    ]


def _leaks(text: str) -> list[str]:
    """The planted numbers readable in a text, in any spelling (a run of digit groups)."""
    runs = ["".join(c for c in m.group() if c.isdigit())
            for m in re.finditer(r"\d+(?:[\s.,_/\-]{1,3}\d+)*", text)]
    return [n for n in PLANTED if any(n in run for run in runs)]


def _raw_messages(stream: str, url: str | None = None) -> list[bytes]:
    """Every message body of a stream, as JetStream holds it."""
    async def read(jetstream):
        info = await jetstream.stream_info(stream)
        out = []
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            msg = await jetstream.get_msg(stream, seq)
            out.append(msg.data)
        return out
    if url is None:
        return js(read)

    async def private():
        import nats
        nc = await nats.connect(url)
        try:
            return await read(nc.jetstream())
        finally:
            await nc.close()
    return asyncio.run(private())


def _stream_config(stream: str):
    async def read(jetstream):
        return (await jetstream.stream_info(stream)).config
    return js(read)


@pytest.mark.slow
def test_published_events_carry_no_number_and_decide_as_the_raw_log(scale, tmp_path,
                                                                    monkeypatch):
    monkeypatch.setenv("CLAUSELINE_REDACTION_KEY", "test key of the stream and the stores")
    log = tmp_path / "planted.jsonl"
    lines = DEMO.read_text(encoding="utf-8").splitlines()[:40]
    lines += [json.dumps(e) for e in _planted_events()]
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")
    scale.publish(log, 6)
    bodies = [body or b"" for body in _raw_messages(scale.stream)]
    # each line once on every partition that evaluates it, and the watermarks (empty bodies)
    assert len({b for b in bodies if b}) == len(set(lines)) and len(bodies) > len(lines)
    assert [n for b in bodies for n in _leaks(b.decode())] == []
    # the planted payments are still payments, with their fields: reduced, last four kept
    planted = list({b: json.loads(b) for b in bodies if b"/tests/planted" in b}.values())
    assert len(planted) == 6
    assert planted[0]["data"]["card_number"].startswith("[redacted card ...5556 hmac:")
    assert planted[2]["data"]["account_number"].startswith("[redacted bank_account ...4321")

    done = subprocess.run(scale.consume_args([], "--drain"), capture_output=True, text=True,
                          timeout=150)
    assert done.returncode == 0, done.stderr
    assert not _leaks(done.stderr) and "Traceback" not in done.stderr
    serial = scale.replay_serial(log)
    merged = merged_decisions(scale.base, 6, load_policy())
    assert merged == serial
    assert [serial[("/tests/planted", f"pl-{i}")]["status"] for i in range(1, 7)] == \
        ["accepted"] * 6
    decisions = [json.dumps(d) for _, d in scale.decision_messages()]
    assert any("pl-3" in d for d in decisions) and not any(_leaks(d) for d in decisions)
    # the partition stores keep the stream's reduction as reduced: no number, the last four
    for k in range(6):
        store = open_store(partition_url(scale.base, k), create=False)
        try:
            rows = [json.dumps(r) for r in store.log()]  # every stored event and decision
        finally:
            store.close()
        assert not any(_leaks(r) for r in rows)


def test_the_service_enqueues_reduced_events(scale, tmp_path):
    from starlette.testclient import TestClient

    from clauseline.service.app import create_app
    from clauseline.service.settings import Settings

    settings = Settings(db=f"sqlite:///{tmp_path / 'service.db'}", auth=False,
                        enqueue_nats=scale.nats, enqueue_stream=scale.stream)
    events = _planted_events()
    with TestClient(create_app(settings)) as client:
        one = client.post("/v1/events", json=events[0],
                          headers={"Content-Type": "application/cloudevents+json"})
        assert one.status_code == 202, one.text
        rest = client.post("/v1/events", json=events[1:],
                           headers={"Content-Type": "application/cloudevents-batch+json"})
        assert rest.status_code == 202, rest.text
    bodies = _raw_messages(scale.stream)
    assert len(bodies) == len(events)
    assert [n for b in bodies for n in _leaks(b.decode())] == []
    assert _stream_config(scale.stream).max_age == 7 * 86400  # the documented default


def test_the_service_sends_watermarks_at_its_configured_rate(scale, tmp_path):
    """``serve --enqueue-nats`` with ``--enqueue-watermark-every 2``: every message carries the
    worker's event time, and after every second event a watermark message (no body) reaches
    every partition, so that an idle partition fires its deadline timers."""
    from starlette.testclient import TestClient

    from clauseline.service.app import create_app
    from clauseline.service.settings import Settings

    settings = Settings(db=f"sqlite:///{tmp_path / 'service.db'}", auth=False,
                        enqueue_nats=scale.nats, enqueue_stream=scale.stream,
                        watermark_every=2)
    events = _planted_events()[:5]
    with TestClient(create_app(settings)) as client:
        for event in events:
            answer = client.post("/v1/events", json=event,
                                 headers={"Content-Type": "application/cloudevents+json"})
            assert answer.status_code == 202, answer.text

    async def read(jetstream):
        info = await jetstream.stream_info(scale.stream)
        return [await jetstream.get_msg(scale.stream, seq)
                for seq in range(info.state.first_seq, info.state.last_seq + 1)]
    messages = js(read)
    latest = max(e["time"] for e in events)
    marks = [m for m in messages if not m.data]
    assert len(marks) == 2 * 6  # after the second and the fourth event, to each partition
    assert sorted(m.subject for m in marks[:6]) == sorted(f"{scale.stream}.p.{k}"
                                                         for k in range(6))
    assert all(m.headers["Clauseline-Watermark"] for m in marks)
    events_seen = [m for m in messages if m.data]
    assert len(events_seen) == len(events)
    assert events_seen[-1].headers["Clauseline-Watermark"] == latest


@pytest.mark.slow
def test_max_age_is_the_streams_retention(scale, tmp_path):
    log = tmp_path / "one.jsonl"
    log.write_text(DEMO.read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8")

    def publish(*extra):
        return subprocess.run([clauseline(), "publish", str(log), "--nats", scale.nats,
                               "--stream", scale.stream, *extra], capture_output=True,
                              text=True, timeout=120)

    # (0, negative, unitless and unparseable values: tests/test_cli_hostile.py, exit 2)
    first = publish("--max-age", "36h")
    assert first.returncode == 0, first.stderr
    config = _stream_config(scale.stream)
    assert config.max_age == 36 * 3600 and config.duplicate_window == 120
    same = publish()  # not given: the stream keeps its own
    assert same.returncode == 0 and "max age" not in same.stderr
    assert _stream_config(scale.stream).max_age == 36 * 3600
    changed = publish("--max-age", "90s")
    assert changed.returncode == 0, changed.stderr
    assert "max age changed from 36h to 90s" in changed.stderr
    config = _stream_config(scale.stream)
    assert config.max_age == 90 and config.duplicate_window == 90

    # consume gives its decisions stream the same option
    done = subprocess.run(scale.consume_args([], "--drain", "--max-age", "2d"),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert _stream_config(scale.decisions).max_age == 2 * 86400


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _nats_server(port: int, store: Path) -> subprocess.Popen:
    server = subprocess.Popen([shutil.which("nats-server"), "-js", "-p", str(port), "-sd",
                               str(store)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    async def ready() -> bool:
        import nats
        try:
            nc = await nats.connect(f"nats://127.0.0.1:{port}", connect_timeout=1,
                                    allow_reconnect=False, max_reconnect_attempts=0,
                                    error_cb=_quiet)
        except Exception:  # noqa: BLE001 - not listening yet
            return False
        try:
            await nc.jetstream().account_info()
            return True
        except Exception:  # noqa: BLE001 - JetStream not up yet
            return False
        finally:
            await nc.close()

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if asyncio.run(ready()):
            return server
        time.sleep(0.1)
    server.kill()
    pytest.fail("the private nats-server did not start")


async def _quiet(_error):
    pass


@pytest.mark.slow
def test_a_consumer_survives_a_nats_restart_in_the_middle_of_a_drain(tmp_path, generated_log):
    if shutil.which("nats-server") is None:
        pytest.skip("no nats-server binary on PATH to run a private server")
    port, store = _free_port(), tmp_path / "jetstream"
    url = f"nats://127.0.0.1:{port}"
    base = f"sqlite:///{tmp_path / 'parts.db'}"
    server = _nats_server(port, store)
    consumer = None
    try:
        published = subprocess.run([clauseline(), "publish", str(generated_log), "--nats", url,
                                    "--stream", "EV", "--partitions", "2"], capture_output=True,
                                   text=True, timeout=120)
        assert published.returncode == 0, published.stderr
        consumer = subprocess.Popen([clauseline(), "consume", "--nats", url, "--stream", "EV",
                                     "--db", base, "--drain", "--batch", "100"],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # kill the server once the consumer has committed part of the stream
        import sqlite3
        applied, deadline = 0, time.monotonic() + 120
        while time.monotonic() < deadline and applied < 500:
            time.sleep(0.1)
            try:
                with sqlite3.connect(tmp_path / "parts.p0.db") as db:
                    applied = db.execute("select coalesce(max(applied_seq), 0) from "
                                         "stream_positions").fetchone()[0]
            except sqlite3.Error:
                continue
        assert 500 <= applied < 2400, "the kill did not land in the middle"
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=10)
        time.sleep(3)
        server = _nats_server(port, store)
        restarted = time.monotonic()
        _, err = consumer.communicate(timeout=ACK_WAIT + 60)
        took = time.monotonic() - restarted
        assert consumer.returncode == 0, err
        assert took < ACK_WAIT, f"finished {took:.0f} s after the restart: past the ack wait"
        assert "lost the NATS server" in err and "resuming after stream sequence" in err
        assert "lag 0" in err and "Traceback" not in err
    finally:
        if consumer is not None and consumer.poll() is None:
            consumer.kill()
            consumer.wait()
        server.kill()
        server.wait()
    # every event decided once, as a serial replay decides it
    serial_url = f"sqlite:///{tmp_path / 'serial.db'}"
    subprocess.run([clauseline(), "replay", str(generated_log), "--db", serial_url, "--out",
                    os.devnull], capture_output=True, timeout=300, check=True)
    serial_store = open_store(serial_url, create=False)
    try:
        serial = {(s, i): json.loads(d) for s, i, d in serial_store.decisions()}
    finally:
        serial_store.close()
    assert merged_decisions(base, 2, load_policy()) == serial
    for k in range(2):
        part = open_store(partition_url(base, k), create=False)
        try:
            keys = [(s, i) for s, i, _ in part.decisions()]
        finally:
            part.close()
        assert len(keys) == len(set(keys))
