"""The report's obligation timeline, what it says of a store, and its counts against
``clauseline replay --summary``.

Each obligation's history (opened, extended, fulfilled, declined, missed) is derived from the
decisions' obligation outcomes; ``missed`` from the deadline and the first event after it, as
the engine marks it. The tests hold the derivation to what the engine itself says: every
obligation outcome is a step, and every missed step is where the engine reported the deadline
missed (``ccpa.deadline_missed``). The same history comes from a log replayed in memory and from
a store, in the HTML page and in obligations.csv, through the real command."""

from __future__ import annotations

import csv
import html
import io
import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from clauseline import Session, parse_event
from clauseline.eventtime import parse_time
from clauseline.report import (OBLIGATION_FIELDS, STEP_OF_STATUS, STEPS, obligation_history,
                               obligations_csv, render_html)
from clauseline.store import open_store

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "examples" / "demo-log.jsonl"
ENV = {"CLAUSELINE_REDACTION_KEY": "k", "PATH": "/usr/bin:/bin"}
HOSTILE = '<img src=x onerror="alert(1)">'
CARD = "4111111111111111"


def cli(*args):
    return subprocess.run([sys.executable, "-m", "clauseline", *map(str, args)], capture_output=True,
                          text=True, cwd=ROOT, timeout=300, env=ENV)


def replayed(policy, lines: list[str]) -> list[dict]:
    records = []
    for number, decision in Session(policy).replay(lines):
        event, problems = parse_event(lines[number - 1])
        records.append({"event": None if problems else event, "decision": decision.as_dict()})
    return records


def stats(text: str) -> dict[str, str]:
    return dict(re.findall(r'data-stat="([^"]+)">([^<]*)<', text))


def ccpa(kind, subject, time, data, n=[0]):
    n[0] += 1
    return json.dumps({"specversion": "1.0", "id": f"t-{n[0]}", "source": "/tests/timeline",
                       "type": kind, "time": time, "subject": subject, "data": data})


def tick(time, n=[0]):
    n[0] += 1
    return json.dumps({"specversion": "1.0", "id": f"tick-{n[0]}", "source": "/scheduler",
                       "type": "clock.tick", "time": time, "data": {}})


def opened(subject, time, request_id):
    return [ccpa("account.opened", subject, time,
                 {"profile": {"role": "customer", "residence": {"country": "US", "region": "US-CA"}},
                  "collected": ["name"], "channel": "web"}),
            ccpa("ccpa.request.filed", subject, time,
                 {"request_id": request_id, "kinds": ["categories"], "delivery": "mail",
                  "has_account": True})]


@pytest.fixture(scope="module")
def demo(policy):
    return replayed(policy, DEMO.read_text(encoding="utf-8").splitlines())


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory):
    """The demo log replayed into a SQLite store by the real command: its URL."""
    db = f"sqlite:///{tmp_path_factory.mktemp('timeline') / 'demo.db'}"
    done = cli("replay", DEMO, "--db", db, "--quiet")
    assert done.returncode == 0, done.stderr
    return db


def obligation_steps_of_decisions(records):
    """(subject, ref, step, time, rule, clause) of every obligation outcome, in log order."""
    return [(o["subject"], o["ref"], STEP_OF_STATUS[o["status"]], r["decision"]["time"], o["rule"],
             o["clause"])
            for r in records if r["decision"]["status"] == "accepted"
            for o in r["decision"]["outcomes"] if o["kind"] == "obligation"]


def test_every_obligation_outcome_is_a_step_and_every_missed_step_is_where_the_engine_said_so(demo):
    history = obligation_history(demo)
    steps = [(e["subject"], e["ref"], s["step"], s["time"], s["rule"], s["clause"])
             for e in history for s in e["steps"]]
    told = obligation_steps_of_decisions(demo)
    assert told, "the demo log opens obligations"
    assert sorted(s for s in steps if s[2] != "missed") == sorted(told)
    missed = sorted((s[0], s[1], s[3]) for s in steps if s[2] == "missed")
    reported = sorted((o["subject"], o["ref"], r["decision"]["time"]) for r in demo
                      if r["decision"]["status"] == "accepted" for o in r["decision"]["outcomes"]
                      if o["kind"] == "violation" and o["violation"] == "ccpa.deadline_missed")
    assert missed == reported and missed, "the demo log misses one CCPA deadline"
    kinds = Counter(s[2] for s in steps)
    assert {"opened", "extended", "fulfilled", "declined", "missed"} <= set(kinds)
    for entry in history:  # steps in time order, and the status after the last one
        times = [parse_time(s["time"]) for s in entry["steps"]]
        assert times == sorted(times)
        last = entry["steps"][-1]["step"]
        assert entry["status"] == {v: k for k, v in STEP_OF_STATUS.items()}.get(last, last)


def test_missed_at_the_first_event_after_the_deadline_whatever_its_subject(policy):
    lines = [*opened("ca-1", "2019-07-01T09:00:00Z", "rq-1"),
             *opened("ca-2", "2019-07-01T10:00:00Z", "rq-2"),
             tick("2019-08-15T09:00:00Z"),            # exactly at ca-1's deadline: not after it
             tick("2019-08-15T09:00:01Z"),            # after it: missed here, not later
             ccpa("ccpa.request.extended", "ca-2", "2019-08-01T00:00:00Z",
                  {"request_id": "rq-2"}),
             tick("2019-10-01T00:00:00Z")]
    records = replayed(policy, lines)
    assert all(r["decision"]["status"] == "accepted" for r in records), [
        r["decision"].get("errors") for r in records]
    history = {e["ref"]: e for e in obligation_history(records)}
    first = history["rq-1"]["steps"]
    assert [s["step"] for s in first] == ["opened", "missed"]
    assert first[1]["time"] == "2019-08-15T09:00:01Z"
    assert first[1]["rule"] == "U.ccpa-deadline-missed" and first[1]["clause"] == "U"
    assert first[1]["violations"] == ["ccpa.deadline_missed"]
    assert history["rq-1"]["status"] == "missed" and history["rq-1"]["owed"]
    second = history["rq-2"]["steps"]
    assert [s["step"] for s in second][:2] == ["opened", "extended"]
    assert second[1]["due_by"] != second[0]["due_by"]  # the extension moved the deadline


def test_the_same_history_from_a_store_in_html_and_in_csv_through_the_cli(tmp_path, demo, demo_db):
    db = demo_db
    folder = tmp_path / "store"
    done = cli("report", "--db", db, "--out", folder, "--format", "csv")
    assert done.returncode == 0, done.stderr
    expected = [(e["subject"], e["ref"], s["step"], s["time"], s["rule"] or "", s["clause"] or "")
                for e in obligation_history(demo) for s in e["steps"]]
    texts = {"store (report --db --format csv)": (folder / "obligations.csv").read_text(encoding="utf-8"),
             "log (in memory)": obligations_csv([], demo)}
    for name, text in texts.items():
        rows = list(csv.DictReader(io.StringIO(text)))
        assert list(rows[0]) == list(OBLIGATION_FIELDS), name
        assert [(r["subject"], r["ref"], r["step"], r["time"], r["rule"], r["clause"])
                for r in rows] == expected, name
        assert {r["owed"] for r in rows} == {"false"}  # every demo obligation is settled

    page = tmp_path / "store.html"
    assert cli("report", "--db", db, "--out", page).returncode == 0
    text = page.read_text(encoding="utf-8")
    section = text[text.index('<section id="obligations">'):text.index('<section id="subjects">')]
    shown = stats(section)
    steps = Counter(e[2] for e in expected)
    for step in STEPS:
        assert shown[f"obligations.steps.{step}"] == str(steps.get(step, 0))
    assert shown["obligations.history"] == str(len({(e[0], e[1]) for e in expected}))
    assert '<svg class="chart history"' in section
    for subject, ref, step, time, rule, _ in expected:
        assert html.escape(ref) in section and time in section and rule in section


def test_a_store_report_says_what_a_store_does_not_keep(tmp_path, demo, policy):
    path = tmp_path / "k.db"
    store = open_store(f"sqlite:///{path}")
    try:
        for _ in Session(policy, store).replay(DEMO.read_text(encoding="utf-8").splitlines()):
            pass
        logged = [{"event": r["event"], "decision": r["decision"]} for r in store.log()]
    finally:
        store.close()
    text = render_html(logged, policy=policy, obligations=[], chain=None, source="store")
    shown = stats(text)
    assert shown["status.duplicate"] == shown["status.rejected"] == "not kept"
    assert shown["status.accepted"] == str(len(logged))
    assert "A store keeps accepted events only" in text
    from_log = stats(render_html(demo, policy=policy, obligations=[], chain=None))
    assert from_log["status.duplicate"] == "1" and from_log["status.rejected"] == "3"
    with pytest.raises(ValueError, match="source is one of log, store"):
        render_html(logged, policy=policy, obligations=[], chain=None, source="database")


def test_report_counts_reconcile_with_the_replay_summary(tmp_path, demo_db):
    """The report counts outcomes of accepted events and, beside them, with the duplicates'
    repeats, as the summary's outcomes line does; the statuses are the same three numbers."""
    done = cli("replay", DEMO, "--summary")
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    head = re.search(r"(\d+) accepted, (\d+) duplicate, (\d+) rejected", lines[0])
    outcomes_line = next(line for line in lines if line.strip().startswith("outcomes"))
    assert "repeats included" in outcomes_line  # the summary says what it counts
    summary = {kind: int(n) for n, kind in re.findall(r"(\d+) ([a-z]+)", outcomes_line.split(":", 1)[1])}
    decisions = [json.loads(line) for line in done.stdout.splitlines()]
    accepted = Counter(o["kind"] for d in decisions if d["status"] == "accepted" for o in d["outcomes"])
    assert sum(summary.values()) > sum(accepted.values()), "the demo log repeats a decision"

    page = tmp_path / "r.html"
    assert cli("report", DEMO, "--out", page).returncode == 0
    shown = stats(page.read_text(encoding="utf-8"))
    assert (shown["status.accepted"], shown["status.duplicate"], shown["status.rejected"]) == head.groups()
    for kind, n in summary.items():
        assert shown[f"repeats.{kind}"] == str(n), kind  # the summary's line, repeats included
        assert shown[f"kind.{kind}"] == str(accepted[kind]), kind  # accepted events only
    assert shown["repeats.outcomes"] == str(sum(summary.values()))

    stored = tmp_path / "s.html"
    assert cli("report", "--db", demo_db, "--out", stored).returncode == 0
    from_store = stats(stored.read_text(encoding="utf-8"))
    assert from_store["status.accepted"] == head.group(1)
    for kind in summary:  # a store keeps no repeat: its counts are the accepted ones
        assert from_store[f"kind.{kind}"] == str(accepted[kind])
        assert f"repeats.{kind}" not in from_store


def test_hostile_ids_and_numbers_in_a_timeline_stay_text_and_masked(policy):
    lines = [*opened(HOSTILE, "2019-07-01T09:00:00Z", f"rq {CARD}"), tick("2019-09-01T00:00:00Z")]
    records = replayed(policy, lines)
    assert all(r["decision"]["status"] == "accepted" for r in records)
    history = obligation_history(records)
    assert [s["step"] for s in history[0]["steps"]] == ["opened", "missed"]
    page = render_html(records, policy=policy, obligations=[], chain=None)
    text = obligations_csv([], records)
    for output in (page, text):
        assert CARD not in output and "4111 1111 1111 1111" not in output
    assert HOSTILE not in page and html.escape(HOSTILE) in page
    assert {r["subject"] for r in csv.DictReader(io.StringIO(text))} == {HOSTILE}  # CSV is not HTML
    assert page.count("<script") == 1


def test_an_owed_obligation_no_decision_tells_of_gets_one_step():
    owed = [{"subject": "s-1", "ref": "r-1", "obligation": "ccpa.respond", "status": "open",
             "due_by": "2019-08-15T09:00:00Z", "opened_at": "2019-07-01T09:00:00Z",
             "missed": False, "overdue": True}]
    (entry,) = obligation_history([], owed)
    assert entry["owed"] and entry["overdue"]
    assert [(s["step"], s["time"], s["rule"]) for s in entry["steps"]] == [
        ("opened", "2019-07-01T09:00:00Z", None)]
    rows = list(csv.DictReader(io.StringIO(obligations_csv(owed))))
    assert [(r["step"], r["status"], r["owed"], r["overdue"]) for r in rows] == [
        ("opened", "open", "true", "true")]


def bench_logs():
    import importlib.util
    spec = importlib.util.spec_from_file_location("bench_logs_for_timeline", ROOT / "bench" / "logs.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses in it look their module up
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("seed", [3])
def test_the_history_agrees_with_the_engine_on_a_generated_log(policy, seed):
    """On a generated log (bench/logs.py: every event type, CCPA requests filed, extended,
    answered, declined and left to run late), the history derived from the decisions ends where
    the engine's own state ends: the same obligations owed, with the same status, and every
    missed step where the engine reported the deadline missed."""
    from clauseline.cli.audit import owed_in_memory
    lines = list(bench_logs().iter_log(3000, subjects=400, seed=seed, days=365))
    session = Session(policy)
    records = []
    for number, decision in session.replay(lines):
        records.append({"event": None, "decision": decision.as_dict()})
    owed = owed_in_memory(session.store.state)
    history = obligation_history(records)  # from the decisions alone
    missed = sorted((e["subject"], e["ref"], s["time"]) for e in history for s in e["steps"]
                    if s["step"] == "missed")
    reported = sorted((o["subject"], o["ref"], r["decision"]["time"]) for r in records
                      if r["decision"]["status"] == "accepted" for o in r["decision"]["outcomes"]
                      if o["kind"] == "violation" and o["violation"] == "ccpa.deadline_missed")
    assert missed == reported
    still = {(e["subject"], e["ref"]): e["status"] for e in history if e["owed"]}
    assert still == {(o["subject"], o["ref"]): o["status"] for o in owed}
    assert len(history) > 20 and owed, "the generated log should open and leave obligations"
    kinds = Counter(s["step"] for e in history for s in e["steps"])
    assert set(kinds) == set(STEPS), kinds
