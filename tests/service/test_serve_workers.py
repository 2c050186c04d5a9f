"""``clauseline serve --workers 2`` on PostgreSQL, fed concurrently, equals a serial replay.

The acceptance test of the multi-worker service: ``clauseline serve`` runs as a real process with
two uvicorn worker processes over a fresh PostgreSQL schema. Eight threads, each with its own
``httpx.Client`` (one keep-alive connection), post a generated log of about 500 subject events
at the same time: account openings, payments (some with raw card numbers, which the store must
reduce), recorded calls and SVV sessions, disclosure requests, messages and opt-outs, and CCPA
requests with their 45-day deadlines, extensions and responses. Each connection carries its
subjects' events in order, in structured mode, a few runs of them as a batch; some events are
sent twice, at once and again later on. A last round posts a few new events from two
connections (one per worker) at the same instant. The test then checks that

- every first post answered 201 (200 in a batch) and every repeat 200 ``duplicate`` with the
  first decision, never a 409 or a 5xx, and exactly one of each racing pair was new;
- the store holds every event exactly once, with its decision;
- every stored decision equals, as parsed JSON, the decision a serial ``clauseline replay`` of
  the same log (the same per-subject order) stored in another fresh schema: store against
  store, so that both hold the same reduced numbers (same redaction key);
- both worker processes served posts: each connection's worker is identified when it is opened
  (uvicorn balances connections unevenly, so connections are opened one by one until both
  workers hold some), and each worker's own Prometheus files (``PROMETHEUS_MULTIPROC_DIR`` holds
  one file per process, named by its pid) count accepted events;
- the server exits 0 on SIGINT and its log has no traceback, no error line and no 5xx.

Why the log is shaped as it is: concurrent connections fix only the order of each connection's
own events, so the decisions can equal a serial replay only where no event depends on another
connection's events. Hence no subject-less events (``clock.tick``, ``policy.changed``: they see
every subject); the subjects an event names in its data (call parties, SVV participants) are a
detainee's household, and a household stays on one connection; no party has a user type a
facility exempts from recording (that rule writes the global record, which every disclosure
reads); and the log spans less than 45 days, so that no CCPA deadline passes: a missed deadline
is reported by the first event after it, whatever its subject, which depends on arrival order.
"""

from __future__ import annotations

import json
import os
import random
import re
import struct
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
from prometheus_client.multiprocess import MultiProcessCollector

from clauseline.store import open_store
from store.conftest import PgSchema
from store.logs import envelope, payment, stamp

from .server import Server

ROOT = Path(__file__).resolve().parents[2]
REDACTION_KEY = "serve-workers-test-key"
STRUCTURED = {"content-type": "application/cloudevents+json"}
BATCH = {"content-type": "application/cloudevents-batch+json"}
PROBE = "/connection-probe"
CONNECTIONS = 8
HOUSEHOLDS = 24
RACES = 6

START = datetime(2019, 7, 1, 8, 0, tzinfo=timezone.utc)
FACILITIES = ["tx-dallas-01", "tx-harris-02", "ca-la-03"]  # none exempts family or inmate
CARDS = ["4111 1111 1111 1111", "5500-0000-0000-0004", "340000000000009"]


def _clauseline() -> str:
    beside = Path(sys.executable).with_name("clauseline")
    return str(beside if beside.exists() else ROOT / ".venv" / "bin" / "clauseline")


# -- the log ------------------------------------------------------------------------------------

def household(h: int, rng: random.Random) -> list[dict]:
    """The events of detainee ``det-h`` and two relatives, in time order (strictly increasing)."""
    det, relatives = f"det-{h}", [f"rel-{h}-{k}" for k in range(2)]
    facility = FACILITIES[h % len(FACILITIES)]
    events: list[dict] = []
    moment = START + timedelta(minutes=rng.randint(0, 600))

    def add(kind: str, subject: str, data: dict, source: str) -> None:
        nonlocal moment
        moment += timedelta(minutes=rng.randint(10, 600))
        events.append(envelope(kind, f"h{h}-{len(events)}", moment, data, subject, source=source))

    add("account.opened", det, {"profile": {
        "role": "detainee", "user_type": "inmate",
        "birth_date": f"19{60 + h % 35}-0{1 + h % 9}-1{h % 10}",
        "residence": {"country": "US",
                      "region": "US-CA" if facility.startswith("ca") else "US-TX"}},
        "collected": ["name", "date_of_birth", "ssn", "mailing_address"], "channel": "live_agent"},
        "/accounts")
    for k, rel in enumerate(relatives):
        add("account.opened", rel, {"profile": {
            "role": "customer", "user_type": rng.choice(["family", "friend"]),
            "residence": {"country": "US", "region": "US-CA" if (h + k) % 2 == 0 else "US-TX"}},
            "collected": ["name", "phone", "email"] + (["voice"] if rng.random() < 0.2 else []),
            "channel": rng.choice(["web", "telephone", "mobile"])}, "/accounts")
    recordings: list[str] = []
    ccpa: dict[str, tuple[str, str, datetime]] = {}  # relative -> (request id, stage, filed at)
    for step in range(rng.randint(16, 24)):
        rel, roll = rng.choice(relatives), rng.random()
        if roll < 0.22:
            raw = {}
            if rng.random() < 0.4:
                raw = {"instrument": "credit_card", "card_number": rng.choice(CARDS)}
            moment += timedelta(minutes=rng.randint(10, 600))
            event = payment(f"h{h}-{len(events)}", moment, rel, h * 100 + step, **raw)
            event["source"] = "/billing"
            events.append(event)
        elif roll < 0.40:
            recordings.append(f"rec-{h}-{step}")
            add("call.recorded", det, {
                "call_id": f"call-{h}-{step}", "facility_id": facility,
                "recording_id": recordings[-1], "monitored": rng.random() < 0.5,
                "parties": [{"subject": det, "user_type": "inmate"},
                            {"subject": rel, "user_type": "family"}],
                "collected": ["call_details", "voice", "phone"]}, f"/facilities/{facility}/calls")
        elif roll < 0.47:
            recordings.append(f"svv-{h}-{step}")
            add("svv.session.recorded", rel, {
                "session_id": f"s-{h}-{step}", "facility_id": facility,
                "recording_id": recordings[-1],
                "participants": [{"subject": rel, "role": "participant", "user_type": "family"},
                                 {"subject": det, "role": "participant", "user_type": "inmate"}],
                "collected": ["video", "voice"]}, "/svv")
        elif roll < 0.58 and recordings:
            kind = rng.choice(["law_enforcement", "correctional_facility",
                               "commercial_third_party"])
            add("disclosure.requested", rng.choice([det, rel]), {
                "request_id": f"dr-{h}-{step}", "recipient": {"kind": kind, "name": "A recipient"},
                "purpose": ("marketing" if kind == "commercial_third_party"
                            else "law_enforcement_activity"),
                "data_categories": ["call_details", "voice"],
                "recording_id": rng.choice(recordings)}, "/legal/disclosures")
        elif roll < 0.66:
            add("message.send.requested", rel, {
                "message_id": f"msg-{h}-{step}", "channel": rng.choice(["email", "sms"]),
                "category": rng.choice(["transactional", "news_updates", "marketing"])},
                "/messaging")
        elif roll < 0.70:
            add("communication.opted_out", rel, {
                "channel": rng.choice(["email", "sms"]),
                "method": rng.choice(["email_link", "sms_stop", "online_settings", "phone"])},
                "/messaging/preferences")
        elif roll < 0.74:
            add("profile.updated", rel,
                {"profile": {"user_type": rng.choice(["family", "friend"])}}, "/accounts")
        else:  # the CCPA cycle of a relative: filed, perhaps extended, answered
            request, stage, filed = ccpa.get(rel, (f"ccpa-{h}-{step}", "new", moment))
            if stage == "new":
                add("ccpa.request.filed", rel, {
                    "request_id": request, "kinds": ["categories", "sources"],
                    "delivery": "account", "has_account": True}, "/privacy/ccpa")
                ccpa[rel] = (request, "filed", moment)
            elif stage == "filed" and rng.random() < 0.3:
                add("ccpa.request.extended", rel, {"request_id": request}, "/privacy/ccpa")
                ccpa[rel] = (request, "extended", filed)
            elif stage in ("filed", "extended"):
                period = {"from": stamp(filed.replace(year=filed.year - 1)), "to": stamp(filed)}
                if rng.random() < 0.2:
                    period["to"] = stamp(filed + timedelta(days=1))
                add("ccpa.response.delivered", rel, {
                    "request_id": request, "channel": "account",
                    "portable_format": rng.random() > 0.2, "fee": 0 if rng.random() > 0.2 else 5,
                    "period": period}, "/privacy/ccpa")
                ccpa[rel] = (request, "answered", filed)
    return events


def connection_logs(seed: int = 4) -> list[list[dict]]:
    """Households dealt round-robin to the connections; each connection's events by time."""
    rng = random.Random(seed)
    logs: list[list[dict]] = [[] for _ in range(CONNECTIONS)]
    for h in range(HOUSEHOLDS):
        logs[h % CONNECTIONS].extend(household(h, rng))
    for log in logs:
        log.sort(key=lambda e: e["time"])  # stable; each subject's events stay in order
    return logs


def plan(log: list[dict], rng: random.Random) -> list[list[dict]]:
    """The requests of one connection, each a list of events (one: structured mode; more: a
    batch), in order: every event once, some sent again at once and some again later."""
    requests: list[list[dict]] = []
    i = 0
    while i < len(log):
        if rng.random() < 0.08 and i + 3 <= len(log):
            batch = log[i:i + 3]
            if i and rng.random() < 0.5:
                batch = [rng.choice(log[:i])] + batch  # a later repeat inside a batch
            requests.append(batch)
            i += 3
            continue
        requests.append([log[i]])
        roll = rng.random()
        if roll < 0.07:
            requests.append([log[i]])  # an immediate repeat
        elif roll < 0.14 and i > 5:
            requests.append([log[rng.randrange(i - 5)]])  # a repeat later on
        i += 1
    return requests


def race_events() -> list[dict]:
    return [envelope("account.opened", f"race-{k}", START + timedelta(days=20, minutes=k), {
        "profile": {"role": "customer", "user_type": "family",
                    "residence": {"country": "US", "region": "US-CA"}},
        "collected": ["name", "phone"], "channel": "web"}, f"racer-{k}", source="/race")
        for k in range(RACES)]


def key(event: dict) -> tuple[str, str]:
    return event["source"], event["id"]


# -- the server's workers -----------------------------------------------------------------------

def served(metrics_dir: Path, metric: str, **labels) -> dict[int, float]:
    """pid -> the value of ``metric`` (summed over the samples matching ``labels``) in each
    worker's own multiprocess files (prometheus-client names them ``<type>_<pid>.db``)."""
    out: dict[int, float] = {}
    for path in metrics_dir.glob("*_*.db"):
        pid = int(path.stem.rsplit("_", 1)[1])
        try:
            families = MultiProcessCollector.merge([str(path)], accumulate=True)
        except struct.error:
            # a worker has just created the file and not yet sized it: nothing counted yet
            continue
        for family in families:
            for sample in family.samples:
                if sample.name == metric and all(sample.labels.get(k) == v
                                                 for k, v in labels.items()):
                    out[pid] = out.get(pid, 0) + sample.value
    return out


def probes_by_worker(metrics_dir: Path) -> dict[int, float]:
    """pid -> requests to an unknown path (only the connection probes ask for one)."""
    return served(metrics_dir, "clauseline_http_request_duration_seconds_count",
                  route="(unmatched)")


def open_clients(server: Server, metrics_dir: Path, headers: dict, want: int):
    """``want`` clients (one keep-alive connection each) with the pid of the worker holding each
    connection, both workers among them. Connections are opened one at a time and probed with a
    GET of an unknown path (404, counted under the route "(unmatched)"); the worker whose count
    of those went up holds the connection."""
    kept: list[tuple[httpx.Client, int]] = []
    for _ in range(200):
        before = probes_by_worker(metrics_dir)
        client = httpx.Client(base_url=server.url, headers=headers, timeout=30)
        assert client.get(PROBE).status_code == 404
        deadline = time.monotonic() + 10
        while True:  # the latency is observed just after the response is sent
            after = probes_by_worker(metrics_dir)
            grew = [pid for pid, n in after.items() if n > before.get(pid, 0)]
            if grew or time.monotonic() > deadline:
                break
            time.sleep(0.005)
        assert len(grew) == 1, (before, after)
        pid = grew[0]
        pids = {p for _, p in kept}
        if len(kept) < want:
            kept.append((client, pid))
        elif pid not in pids:  # make room: drop a connection of the worker holding the most
            crowded = max(pids, key=lambda p: sum(1 for _, q in kept if q == p))
            index = next(i for i, (_, q) in enumerate(kept) if q == crowded)
            kept.pop(index)[0].close()
            kept.append((client, pid))
        else:
            client.close()
        if len(kept) == want and len({p for _, p in kept}) == 2:
            return kept
    pytest.fail(f"200 connections all went to one worker: {probes_by_worker(metrics_dir)}")


# -- the test -----------------------------------------------------------------------------------

def test_two_workers_on_postgresql_store_each_concurrent_event_once_as_a_serial_replay(
        tmp_path, monkeypatch):
    monkeypatch.setenv("CLAUSELINE_REDACTION_KEY", REDACTION_KEY)
    clauseline = _clauseline()
    logs = connection_logs()
    rng = random.Random(9)
    plans = [plan(log, rng) for log in logs]
    races = race_events()
    unique = [e for log in logs for e in log] + races
    assert len({key(e) for e in unique}) == len(unique) > 450
    repeats = sum(len(r) for p in plans for r in p) - sum(len(log) for log in logs)
    assert repeats >= 30 and sum(len(r) > 1 for p in plans for r in p) >= 5

    served_schema, replay_schema = PgSchema(), PgSchema()
    replay = None
    try:
        env = {"CLAUSELINE_REDACTION_KEY": REDACTION_KEY}
        made = subprocess.run([clauseline, "keys", "create", "--db", served_schema.url,
                               "--name", "workers-test", "--scope", "events:write",
                               "--scope", "decisions:read"],
                              env={**os.environ, **env}, capture_output=True, text=True, timeout=60)
        assert made.returncode == 0, made.stderr
        api_key = made.stdout.strip()
        headers = {"authorization": f"Bearer {api_key}"}

        # the serial replay of the same log, into a store of its own
        ordered = sorted(unique, key=lambda e: e["time"])  # stable: per-subject order kept
        log_path = tmp_path / "log.jsonl"
        log_path.write_text("".join(json.dumps(e) + "\n" for e in ordered))
        replay = subprocess.Popen([clauseline, "replay", str(log_path), "--db", replay_schema.url,
                                   "--out", os.devnull], env={**os.environ, **env},
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

        server_tmp = tmp_path / "server-tmp"  # where serve makes its PROMETHEUS_MULTIPROC_DIR
        server_tmp.mkdir()
        problems: list[str] = []
        first: dict[tuple[str, str], dict] = {}
        with Server(clauseline, "--workers", "2", "--db", served_schema.url,
                    env={**env, "TMPDIR": str(server_tmp)}, log=tmp_path / "serve.log") as server:
            metrics_dir, = server_tmp.glob("clauseline-metrics-*")
            kept = open_clients(server, metrics_dir, headers, CONNECTIONS)
            workers = {pid for _, pid in kept}
            assert server.process.pid not in workers

            start = threading.Barrier(CONNECTIONS)
            lock = threading.Lock()

            def post(client: httpx.Client, events: list[dict]) -> httpx.Response:
                if len(events) == 1:
                    return client.post("/v1/events", content=json.dumps(events[0]),
                                       headers=STRUCTURED)
                return client.post("/v1/events", content=json.dumps(events), headers=BATCH)

            def check(events: list[dict], response: httpx.Response, seen: set) -> None:
                where = f"{[key(e) for e in events]}: {response.status_code} {response.text[:300]}"
                if len(events) == 1:
                    new = key(events[0]) not in seen
                    want = 201 if new else 200
                    if response.status_code != want:
                        problems.append(f"expected {want}, got {where}")
                        return
                    bodies = [response.json()]
                    location = response.headers.get("location", "")
                    if new and not location.startswith("/v1/decisions?"):
                        problems.append(f"no Location: {where}")
                else:
                    if response.status_code != 200 or not isinstance(response.json(), list) \
                            or len(response.json()) != len(events):
                        problems.append(f"batch: {where}")
                        return
                    bodies = response.json()
                for event, body in zip(events, bodies):
                    k = key(event)
                    if k not in seen:
                        if body.get("status") != "accepted":
                            problems.append(f"{k} new but {body.get('status')}: {where}")
                        with lock:
                            first[k] = body
                        seen.add(k)
                    elif body != dict(first[k], status="duplicate"):
                        problems.append(f"{k} repeated: not its first decision as duplicate: "
                                        f"{body} != {first[k]}")

            def run(client: httpx.Client, requests: list[list[dict]]) -> None:
                seen: set = set()
                try:
                    start.wait(timeout=30)
                    for events in requests:
                        check(events, post(client, events), seen)
                except Exception as error:  # noqa: BLE001 - reported by the test
                    problems.append(f"{type(error).__name__}: {error}")

            threads = [threading.Thread(target=run, args=(client, requests))
                       for (client, _), requests in zip(kept, plans)]
            began = time.monotonic()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=120)
            elapsed = time.monotonic() - began
            assert not any(t.is_alive() for t in threads)

            # the race: each new event posted by two connections (one per worker) at once
            racers = [next(c for c, pid in kept if pid == w) for w in sorted(workers)]
            answers: dict[int, list[httpx.Response]] = {k: [] for k in range(RACES)}
            go = threading.Barrier(2)

            def race(client: httpx.Client) -> None:
                try:
                    for k, event in enumerate(races):
                        go.wait(timeout=30)
                        answers[k].append(post(client, [event]))
                except Exception as error:  # noqa: BLE001
                    problems.append(f"race: {type(error).__name__}: {error}")

            pair = [threading.Thread(target=race, args=(c,)) for c in racers]
            for thread in pair:
                thread.start()
            for thread in pair:
                thread.join(timeout=60)
            for k, event in enumerate(races):
                got = sorted(answers[k], key=lambda r: r.status_code)
                if [r.status_code for r in got] != [200, 201]:
                    shown = [(r.status_code, r.text[:200]) for r in got]
                    problems.append(f"race {key(event)}: {shown}")
                    continue
                dup, new = got[0].json(), got[1].json()
                first[key(event)] = new
                if new.get("status") != "accepted" or dup != dict(new, status="duplicate"):
                    problems.append(f"race {key(event)}: {new} / {dup}")

            # what each worker counted, read before the server stops (it removes the folder)
            accepted = served(metrics_dir, "clauseline_events_total", status="accepted")
            duplicates = served(metrics_dir, "clauseline_events_total", status="duplicate")
            for client, _ in kept:
                client.close()

        assert not problems, f"{len(problems)} problem(s):\n" + "\n".join(problems[:20])
        assert server.returncode == 0, server.stderr[-3000:]
        assert "Traceback" not in server.stderr, server.stderr[-3000:]
        # (matched as text: the two workers write to one stream)
        assert '"error": ' not in server.stderr, server.stderr[-3000:]
        assert not re.search(r'"status": 5\d\d', server.stderr), server.stderr[-3000:]

        # both workers decided posted events; together, each event once, each repeat a duplicate
        assert set(accepted) == workers and all(accepted[w] > 0 for w in workers), accepted
        assert sum(accepted.values()) == len(unique), accepted
        assert sum(duplicates.values()) == repeats + RACES, duplicates

        _, err = replay.communicate(timeout=120)
        assert replay.returncode == 0, err
        stored, serial = open_store(served_schema.url), open_store(replay_schema.url)
        try:
            got, want = stored.decisions(), serial.decisions()
        finally:
            stored.close()
            serial.close()
        assert len(want) == len(unique), "the serial replay did not accept every event"
        keys = [(s, i) for s, i, _ in got]
        assert len(keys) == len(set(keys)), "an event is stored twice"
        assert set(keys) == {key(e) for e in unique}
        got_by_key = {(s, i): json.loads(d) for s, i, d in got}
        want_by_key = {(s, i): json.loads(d) for s, i, d in want}
        different = [k for k in want_by_key if got_by_key[k] != want_by_key[k]]
        assert not different, (f"{len(different)} decision(s) differ from the serial replay, e.g. "
                               f"{different[0]}:\n{got_by_key[different[0]]}\n!= "
                               f"{want_by_key[different[0]]}")
        # what the clients were told is what was stored
        assert {k: dict(v, status="accepted") for k, v in first.items()} == got_by_key
        # the log means something: CCPA obligations, violations and disclosures were decided
        kinds = {(o["kind"], o.get("obligation") or o.get("violation") or o.get("notice")
                  or o.get("effect") or o.get("action")) for d in want_by_key.values()
                 for o in d["outcomes"]}
        assert {("obligation", "ccpa.respond"), ("notice", "ccpa.extension"),
                ("violation", "ccpa.response_not_portable"), ("disclosure", "permit"),
                ("violation", "payment.unencrypted_in_transit"), ("disclosure", "deny"),
                ("retention", "purge")} <= kinds, sorted(kinds)
        print(f"{len(unique)} events, {repeats} repeats on {CONNECTIONS} connections in "
              f"{elapsed:.2f}s; accepted per worker {accepted}")
    finally:
        if replay is not None and replay.poll() is None:  # a failure before it was waited for
            replay.kill()
            replay.communicate()
        served_schema.drop()
        replay_schema.drop()
