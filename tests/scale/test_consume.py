"""Acceptance of issue 14: consumers over partitions decide a published log as a serial replay.

Three ``clauseline consume`` processes over six partitions consume a published log; the merged
decisions of the partition stores equal, event for event, what ``clauseline replay`` of the same
log stores (an event without subject: the union of the partitions' outcomes is the serial
decision). A consumer killed with SIGKILL in the middle and restarted loses nothing and applies
nothing twice. Needs the local NATS (JetStream) and PostgreSQL servers; skipped only when one
does not answer."""

from __future__ import annotations

import json
import re
import os
import signal
import sys
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa

from clauseline import load_policy
from clauseline.records import instant_key
from clauseline.store import open_store
from clauseline.stream.merge import merge, merged_decisions, rule_order
from clauseline.stream.partitioning import partition_of
from clauseline.stream.stores import partition_url
from clauseline.timers import TIMER_SOURCE

from .conftest import ROOT, clauseline, js

pytestmark = pytest.mark.scale

DEMO = ROOT / "examples" / "demo-log.jsonl"
PARTITIONS = 6
OWNERS = [[0, 1], [2, 3], [4, 5]]


def _differences(serial: dict, merged: dict) -> list[str]:
    out = [f"missing {k}" for k in serial if k not in merged]
    out += [f"extra {k}" for k in merged if k not in serial]
    for key in serial:
        if key in merged and merged[key] != serial[key]:
            a, b = serial[key], merged[key]
            fields = [f for f in set(a) | set(b) if a.get(f) != b.get(f)]
            out.append(f"{key}: {fields}")
    return out


def _run_consumers(scale, procs: list[list[int]], *extra: str, timeout: float = 150):
    started = [subprocess.Popen(scale.consume_args(mine, "--drain", *extra),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for mine in procs]
    outputs = []
    for p in started:
        out, err = p.communicate(timeout=timeout)
        outputs.append((p.returncode, err))
    return outputs


#: the partitions of each consumer process: one process owning all six, three, six
SPLITS = {1: [list(range(PARTITIONS))], 3: OWNERS, 6: [[k] for k in range(PARTITIONS)]}


@pytest.mark.parametrize("which,consumers", [
    ("demo", 3), ("demo", 1), ("demo", 6),
    pytest.param("generated", 3, marks=pytest.mark.slow),
    pytest.param("generated", 1, marks=pytest.mark.slow),
    pytest.param("generated", 6, marks=pytest.mark.slow)])
def test_consumers_over_six_partitions_store_the_serial_decisions(scale, which, consumers,
                                                                  generated_log, tmp_path):
    log = DEMO if which == "demo" else generated_log
    published = scale.publish(log, PARTITIONS)
    assert "6 partitions" in published.stderr
    consumers = [subprocess.Popen(scale.consume_args(mine, "--drain"), stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
                 for mine in SPLITS[consumers]]
    serial = scale.replay_serial(log)  # meanwhile
    made = 0
    for p in consumers:
        _, err = p.communicate(timeout=150)
        assert p.returncode == 0, err
        assert "Traceback" not in err and "lag 0" in err
        made += int(re.search(r"(\d+) shared write\(s\) made", err).group(1))
    policy = load_policy()
    merged = merged_decisions(scale.base, PARTITIONS, policy)
    assert len(serial) > (400 if which == "demo" else 2400)
    assert _differences(serial, merged) == []

    # a call or an SVV session with an exempt party deletes its recording in the shared
    # record: the partitions that none of its subjects concerns made that write without
    # evaluating it, and every partition's shared record is the serial store's
    assert made > (0 if which == "demo" else 100)
    shared = _shared_record(scale.serial)
    assert shared["deleted_recordings"]
    assert all(_shared_record(partition_url(scale.base, k)) == shared for k in range(PARTITIONS))

    # subject-less events reached every partition, and their union is the serial decision
    ticks = [k for k, d in serial.items() if d["event_type"] in ("clock.tick", "policy.changed")
             and k[0] != TIMER_SOURCE]
    assert ticks and all(merged[k] == serial[k] for k in ticks)
    # a deadline's timer is fired by its subject's partition alone
    timers = {k: d["outcomes"][0]["subject"] for k, d in serial.items() if k[0] == TIMER_SOURCE}
    assert timers or which != "demo"
    for k in range(PARTITIONS):
        store = open_store(partition_url(scale.base, k), create=False)
        try:
            stored = {(s, i) for s, i, _ in store.decisions()}
        finally:
            store.close()
        assert set(ticks) <= stored
        assert {t for t, subject in timers.items() if partition_of(subject, PARTITIONS) == k} \
            == {key for key in stored if key[0] == TIMER_SOURCE}

    if which == "demo":
        # the decisions stream: one owner message per event, and its partials merge into the
        # same decisions as the stores'
        messages = scale.decision_messages()
        by_event: dict = {}
        for headers, decision in messages:
            key = (decision["event_source"], decision["event_id"])
            by_event.setdefault(key, []).append((decision, headers["Clauseline-Owner"] == "1"))
        owners = Counter(key for key, parts in by_event.items() for _, owner in parts if owner)
        accepted = {k for k, d in serial.items()}
        assert accepted <= set(owners) and all(owners[k] == 1 for k in accepted)
        order = rule_order(policy)
        from_stream = {k: merge(parts, order) for k, parts in by_event.items() if k in accepted}
        assert _differences(serial, from_stream) == []
        # read back from the command line: one merged decision per stored event
        merged_file = tmp_path / "merged.jsonl"
        done = subprocess.run([clauseline(), "merge", "--db", scale.base, "--partitions",
                               str(PARTITIONS), "--out", str(merged_file)], capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert f"{len(serial)} decision(s) from {PARTITIONS} partition store(s)" in done.stderr
        lines = merged_file.read_text(encoding="utf-8").splitlines()
        assert {(d["event_source"], d["event_id"]): d for d in map(json.loads, lines)} == serial
        times = [instant_key(d["time"]) for d in map(json.loads, lines)]
        assert times == sorted(times)
        # the module form says the same
        module = subprocess.run([sys.executable, "-m", "clauseline.stream.merge", "--db",
                                 scale.base, "--partitions", str(PARTITIONS)],
                                capture_output=True, text=True, timeout=120, check=True)
        assert module.stdout.splitlines() == lines
        # an auditor checks the merge against a replay of the log into a store of their own:
        # the log's rejected lines and its repeat have no merged decision, and are no difference
        compared = subprocess.run([clauseline(), "replay", str(log), "--db",
                                   f"sqlite:///{tmp_path / 'auditor.db'}", "--out", os.devnull,
                                   "--compare", str(merged_file)],
                                  capture_output=True, text=True, timeout=120)
        assert compared.returncode == 0, compared.stderr
        assert "differs:" not in compared.stderr
        assert ": 0 of " in compared.stderr
        rejected = [d for parts in by_event.values() for d, _ in parts if d["status"] == "rejected"]
        assert len(rejected) == 3  # the demo log's three bad lines, each reported once


def _shared_record(url: str) -> dict:
    """The shared record ``*`` a store holds."""
    store = open_store(url, create=False)
    try:
        return store.state()["subjects"]["*"]
    finally:
        store.close()


@pytest.mark.slow  # about 40 s: make test-slow (and .ci/run)
def test_a_consumer_killed_in_the_middle_and_restarted_loses_nothing_and_applies_nothing_twice(
        scale, generated_log):
    scale.publish(generated_log, PARTITIONS)
    others = [subprocess.Popen(scale.consume_args(mine, "--drain"), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True) for mine in OWNERS[1:]]
    victim = subprocess.Popen(scale.consume_args(OWNERS[0], "--batch", "20"),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # kill it once it has committed part of the stream (its stores' applied position moves)
    store = None
    deadline = time.monotonic() + 90
    applied = 0
    while time.monotonic() < deadline:
        time.sleep(0.3)
        try:
            store = store or open_store(partition_url(scale.base, 0), create=False)
            with store.engine.connect() as conn:
                applied = conn.execute(sa.text("select coalesce(max(applied_seq), 0) from "
                                               "stream_positions")).scalar()
        except Exception:  # noqa: BLE001 - not created yet
            store = None
            continue
        if applied >= 600:
            break
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    if store is not None:
        store.close()
    assert 600 <= applied < 2400, "the kill did not land in the middle"

    restarted = subprocess.run(scale.consume_args(OWNERS[0], "--drain"), capture_output=True,
                               text=True, timeout=150)
    assert restarted.returncode == 0, restarted.stderr
    assert "Traceback" not in restarted.stderr
    for p in others:
        _, err = p.communicate(timeout=150)
        assert p.returncode == 0, err

    serial = scale.replay_serial(generated_log)
    merged = merged_decisions(scale.base, PARTITIONS, load_policy())
    assert _differences(serial, merged) == []
    # nothing applied twice: every partition store holds each event once, and its hash chain
    # (one link per applied event) is intact
    for k in OWNERS[0]:
        store = open_store(partition_url(scale.base, k), create=False)
        try:
            keys = [(s, i) for s, i, _ in store.decisions()]
            records = list(store.log())
        finally:
            store.close()
        assert len(keys) == len(set(keys)) == len(records)
        from clauseline import canonical
        from clauseline.chain import verify
        assert verify([canonical.dumps(r) for r in records]).ok

    # delivered all over again (as after a crash between commit and acknowledgement): every
    # event is answered from the stores as already stored, and nothing changes
    async def forget(jetstream):  # each partition's durable consumer
        for k in OWNERS[0]:
            await jetstream.delete_consumer(scale.stream, f"clauseline-{scale.stream}-p{k}")
    js(forget)
    for k in OWNERS[0]:
        store = open_store(partition_url(scale.base, k), create=False)
        try:
            with store.engine.begin() as conn:
                conn.execute(sa.text("update stream_positions set applied_seq = 0"))
            before = store.count()
        finally:
            store.close()
    again = subprocess.run(scale.consume_args(OWNERS[0], "--drain"), capture_output=True,
                           text=True, timeout=150)
    assert again.returncode == 0, again.stderr
    assert " 0 decided" not in again.stderr and "0 already stored" not in again.stderr
    assert merged_decisions(scale.base, PARTITIONS, load_policy()) == merged
    store = open_store(partition_url(scale.base, OWNERS[0][-1]), create=False)
    try:
        assert store.count() == before
    finally:
        store.close()


def test_a_log_published_again_appends_nothing_and_an_idle_consumer_says_so(scale, tmp_path):
    """Publishing the same log twice (a producer's retry) appends none of it again, its
    unparseable lines included (known by their bytes); a consumer of a stream with nothing in
    it does not claim a stream sequence it never read."""
    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    scale.publish(empty, PARTITIONS)
    idle = subprocess.run(scale.consume_args([0], "--drain"), capture_output=True, text=True,
                          timeout=60)
    assert idle.returncode == 0, idle.stderr
    assert "0 message(s) read" in idle.stderr and "nothing applied yet" in idle.stderr
    assert "stream sequence 0" not in idle.stderr

    first = scale.publish(DEMO, PARTITIONS)
    lines = [line for line in DEMO.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert f"{len(lines)} event(s) to stream" in first.stderr
    # the demo log repeats one event: the stream holds every other line once, on each
    # partition that evaluates it, and the watermarks
    assert "1 dropped as repeats" in first.stderr
    rounds = int(re.search(r"(\d+) watermark\(s\) to every partition", first.stderr).group(1))
    held = int(re.search(r"last sequence (\d+),", first.stderr).group(1))
    assert rounds >= 1 and held >= len(lines) - 1 + rounds * PARTITIONS
    again = scale.publish(DEMO, PARTITIONS)
    # every line is dropped as a repeat: the keyed events and the three bad lines alike, and
    # with them their copies and the watermarks
    assert f"{len(lines)} dropped as repeats" in again.stderr, again.stderr
    assert f"last sequence {held}," in again.stderr


def test_a_log_published_again_past_the_duplicate_window_makes_no_shared_write_twice(scale):
    """JetStream forgets a message id after its two-minute window: the same log published
    later is delivered again. The partitions that evaluate an event answer ``duplicate``, and so
    do those that only made its shared writes: the shared record stays as it was."""
    from clauseline.stream.partitioning import Router
    from clauseline.stream.publish import Watermark, messages_for
    from clauseline.stream.reduction import stream_redactor

    scale.publish(DEMO, PARTITIONS)
    first = _run_consumers(scale, [list(range(PARTITIONS))])
    assert first[0][0] == 0, first[0][1]
    assert int(re.search(r"(\d+) shared write\(s\) made", first[0][1]).group(1)) > 0
    before = [_shared_record(partition_url(scale.base, k)) for k in range(PARTITIONS)]

    # the same events again, as a producer of its own sends them, under new message ids
    policy = load_policy()
    router, redactor, mark = Router(policy, PARTITIONS), stream_redactor(), Watermark(policy)
    again = [message for line in DEMO.read_bytes().splitlines() if line.strip()
             for message in messages_for(router, scale.stream, line, redactor, mark)[0]]
    assert any("Clauseline-Shared-Writes" in headers for _, headers, _ in again)

    async def publish(jetstream):
        for subject, headers, data in again:
            await jetstream.publish(subject, data, headers=dict(
                headers, **{"Nats-Msg-Id": headers["Nats-Msg-Id"] + "-later"}))
    js(publish)
    second = _run_consumers(scale, [list(range(PARTITIONS))])
    assert second[0][0] == 0, second[0][1]
    assert "0 shared write(s) made" in second[0][1]
    assert int(re.search(r"(\d+) already stored", second[0][1]).group(1)) > 0
    assert [_shared_record(partition_url(scale.base, k)) for k in range(PARTITIONS)] == before


def test_consume_refuses_a_stream_partitioned_otherwise_and_a_missing_stream(scale):
    scale.publish(DEMO, 4)
    again = subprocess.run([clauseline(), "publish", str(DEMO), "--nats", scale.nats,
                            "--stream", scale.stream, "--partitions", "6"],
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 1
    assert "stream.partitions_mismatch" in again.stderr and "Traceback" not in again.stderr
    missing = subprocess.run([clauseline(), "consume", "--nats", scale.nats, "--stream",
                              scale.stream + "x", "--db", scale.base, "--drain"],
                             capture_output=True, text=True, timeout=60)
    assert missing.returncode == 1 and "stream.not_found" in missing.stderr


@pytest.mark.parametrize("command", ["consume", "publish"])
def test_a_nats_server_that_does_not_answer_is_one_line_and_exit_1(command, tmp_path):
    args = [clauseline(), command]
    if command == "publish":
        args += [str(DEMO)]
    args += ["--nats", "nats://user:s3cret@127.0.0.1:1", "--stream", "EVENTS"]
    if command == "consume":
        args += ["--db", f"sqlite:///{tmp_path / 'x.db'}"]
    done = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "nats.unavailable" in lines[0] and "127.0.0.1:1" in lines[0]
    assert "s3cret" not in done.stderr and "Traceback" not in done.stderr


def test_help_explains_every_option():
    for command, options in (("consume", ["--nats", "--stream", "--db", "--partitions",
                                          "--partition", "--drain", "--batch", "--decisions",
                                          "--metrics-port", "--metrics-host", "--quiet"]),
                             ("publish", ["--nats", "--stream", "--partitions", "--quiet"])):
        text = subprocess.run([clauseline(), command, "--help"], capture_output=True, text=True,
                              timeout=60, check=True).stdout
        for option in options:
            assert option in text, (command, option)
    serve = subprocess.run([clauseline(), "serve", "--help"], capture_output=True, text=True,
                           timeout=60, check=True).stdout
    assert "--enqueue-nats" in serve and "--enqueue-stream" in serve


def test_the_service_enqueues_instead_of_evaluating(scale, tmp_path):
    from starlette.testclient import TestClient

    from clauseline.service.app import create_app
    from clauseline.service.settings import Settings

    settings = Settings(db=f"sqlite:///{tmp_path / 'service.db'}", auth=False,
                        enqueue_nats=scale.nats, enqueue_stream=scale.stream)
    event = {"specversion": "1.0", "id": "q-1", "source": "/tests/enqueue",
             "type": "payment.made", "time": "2019-07-01T09:00:00Z", "subject": "acct-q",
             "data": {"transaction_id": "t-1", "amount": 25, "currency": "USD",
                      "instrument": "credit_card", "status": "completed",
                      "encrypted_in_transit": True, "product": "prepaid_calling"}}
    with TestClient(create_app(settings)) as client:
        answer = client.post("/v1/events", json=event,
                             headers={"Content-Type": "application/cloudevents+json"})
        assert answer.status_code == 202, answer.text
        body = answer.json()
        assert body["status"] == "queued" and body["event_id"] == "q-1" and body["seq"] == 1
        bad = client.post("/v1/events", json=dict(event, id="q-2", data={"amount": "x"}),
                          headers={"Content-Type": "application/cloudevents+json"})
        assert bad.status_code == 422
        batch = client.post("/v1/events", json=[dict(event, id="q-3"), dict(event, id="q-1")],
                            headers={"Content-Type": "application/cloudevents-batch+json"})
        assert batch.status_code == 202
        assert [a["duplicate"] for a in batch.json()] == [False, True]
        assert client.app.state.store.count() == 0  # nothing was evaluated here
    done = subprocess.run(scale.consume_args([], "--drain"), capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    merged = merged_decisions(scale.base, 6)
    assert set(merged) == {("/tests/enqueue", "q-1"), ("/tests/enqueue", "q-3")}
    assert merged[("/tests/enqueue", "q-1")]["status"] == "accepted"
    owner = partition_of("acct-q", 6)
    store = open_store(partition_url(scale.base, owner), create=False)
    try:
        assert store.count() == 2
    finally:
        store.close()


def test_served_metrics_lag_and_sigterm_and_no_number_echoed(scale, tmp_path):
    import socket
    import urllib.request

    card = "4111111111111111"
    log = tmp_path / "log.jsonl"
    lines = DEMO.read_text(encoding="utf-8").splitlines()[:60]
    lines.append(json.dumps({"specversion": "1.0", "id": "leak-1", "source": "/tests/leak",
                             "type": "payment.made", "time": "2019-07-01T09:00:00Z",
                             "subject": "acct-leak", "data": {"transaction_id": card,
                                                              "amount": card}}))
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")
    scale.publish(log, PARTITIONS)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    consumer = subprocess.Popen(scale.consume_args([], "--metrics-port", str(port)),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        text = ""
        while time.monotonic() < deadline:
            time.sleep(0.3)
            try:
                text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics",
                                              timeout=2).read().decode()
            except OSError:
                continue
            if f"clauseline_consume_stream_sequence {len(lines)}.0" in text:
                break
        assert "clauseline_consume_lag_messages 0.0" in text, text
        assert 'clauseline_consume_messages_total{action="rejected"}' in text
    finally:
        consumer.send_signal(signal.SIGTERM)
        _, err = consumer.communicate(timeout=30)
    assert consumer.returncode == 0, err
    assert "lag 0" in err and card not in err and "Traceback" not in err
    bodies = [json.dumps(d) for _, d in scale.decision_messages()]
    assert any("leak-1" in b for b in bodies) and not any(card in b for b in bodies)


def test_stores_of_a_stream_made_again_are_refused(scale):
    scale.publish(DEMO, PARTITIONS)
    first = subprocess.run(scale.consume_args([0], "--drain", "--decisions", "-"),
                           capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr

    async def again(jetstream):
        await jetstream.delete_stream(scale.stream)
    js(again)
    log = Path(os.environ.get("TMPDIR", "/tmp")) / f"{scale.stream}.jsonl"
    log.write_text(DEMO.read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8")
    try:
        scale.publish(log, PARTITIONS)
        refused = subprocess.run(scale.consume_args([0], "--drain"), capture_output=True,
                                 text=True, timeout=120)
    finally:
        log.unlink()
    assert refused.returncode == 1 and "stream.recreated" in refused.stderr, refused.stderr


def _timers_log(path: Path, partitions: int) -> tuple[str, str]:
    """A CCPA request of a subject, then only other partitions' events, past its due instant:
    the subject's partition gets no event after the request, so only watermarks tell it that
    time passed. (The requester's subject, and another partition's subject.)"""
    ids = [f"acct-{i}" for i in range(200)]
    owner = ids[0]
    other = next(s for s in ids if partition_of(s, partitions) != partition_of(owner, partitions))
    lines = [{"specversion": "1.0", "id": "filed", "source": "/ccpa", "type": "ccpa.request.filed",
              "subject": owner, "time": "2019-07-01T09:00:00Z",
              "data": {"request_id": "r-1", "kinds": ["categories"], "delivery": "mail",
                       "has_account": False,
                       "profile": {"residence": {"country": "US", "region": "US-CA"}}}}]
    for day in range(60):
        lines.append({"specversion": "1.0", "id": f"visit-{day}", "source": "/web",
                      "type": "website.visited", "subject": other,
                      "time": f"2019-07-{day + 2:02d}T10:00:00Z" if day < 30
                      else f"2019-08-{day - 29:02d}T10:00:00Z",
                      "data": {"session_id": f"s-{day}", "dnt": False, "collected": [],
                               "cookies": []}})
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n", encoding="utf-8")
    return owner, other


def test_an_idle_partition_fires_its_timer_from_the_watermarks_and_reads_only_its_own(scale,
                                                                                      tmp_path):
    """Each consumer reads its partition's subject only; the requester's partition sees no
    event after the request, yet fires the deadline's timer from the watermarks, the decision a
    serial replay makes (there, before the first later event, another subject's visit)."""
    log = tmp_path / "timers.jsonl"
    owner, other = _timers_log(log, 2)
    published = subprocess.run([clauseline(), "publish", str(log), "--nats", scale.nats,
                                "--stream", scale.stream, "--partitions", "2",
                                "--watermark-every", "7"], capture_output=True, text=True,
                               timeout=120, check=True)
    rounds = int(re.search(r"(\d+) watermark\(s\) to every partition", published.stderr).group(1))
    assert rounds >= 61 // 7
    outputs = _run_consumers(scale, [[0], [1]])
    read = {}
    for k, (code, err) in enumerate(outputs):
        assert code == 0, err
        read[k] = int(re.search(r"(\d+) message\(s\) read", err).group(1))
    mine, others = partition_of(owner, 2), partition_of(other, 2)
    # the requester's partition: its request and the watermarks, not the 60 visits
    assert read[mine] == 1 + rounds and read[others] == 60 + rounds
    serial = scale.replay_serial(log)
    merged = merged_decisions(scale.base, 2, load_policy())
    assert _differences(serial, merged) == []
    [timer] = [d for k, d in serial.items() if k[0] == TIMER_SOURCE]
    assert timer["time"] == "2019-08-15T09:00:00Z"
    assert [(o["violation"], o["subject"]) for o in timer["outcomes"]] == [
        ("ccpa.deadline_missed", owner)]
    assert "1 deadline timer(s) fired" in outputs[mine][1]
