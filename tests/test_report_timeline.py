"""The report's obligation timeline, what it says of a store, and its counts against
``clauseline replay --summary``.

Each obligation's history (opened, extended, fulfilled, declined, missed) is derived from the
decisions' obligation outcomes; ``missed`` from the decision of the engine's timer (a
``clock.tick`` from ``urn:clauseline:timer`` at the due instant, fired by the first event later
than it), as the engine marks it. The tests hold the derivation to what the engine itself says:
every obligation outcome is a step, and every missed step is the timer's decision where the
engine reported the deadline missed (``ccpa.deadline_missed``). The same history comes from a log
replayed in memory and from a store, in the HTML page and in obligations.csv, through the real
command."""

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

from clauseline import Decision, Session
from clauseline.eventtime import parse_time
from clauseline.records import instant_key
from clauseline.report import (OBLIGATION_FIELDS, STEP_OF_STATUS, STEPS, obligation_history,
                               obligations_csv, render_html)
from clauseline.report import replayed as report_records
from clauseline.timers import tick_of
from clauseline.store import open_store
from clauseline.timers import TIMER_SOURCE, timer_id

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "examples" / "demo-log.jsonl"
ENV = {"CLAUSELINE_REDACTION_KEY": "k", "PATH": "/usr/bin:/bin"}
HOSTILE = '<img src=x onerror="alert(1)">'
CARD = "4111111111111111"


def cli(*args):
    return subprocess.run([sys.executable, "-m", "clauseline", *map(str, args)], capture_output=True,
                          text=True, cwd=ROOT, timeout=300, env=ENV)


def replayed(policy, lines: list[str]) -> list[dict]:
    """Records as ``clauseline report`` makes them: a timer's decision (yielded before the line
    that fired it) with its own tick, every other with its line's event."""
    return [{"event": event, "decision": decision.as_dict()}
            for event, decision in report_records(Session(policy).replay(lines), lines)]


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


def missed_reports(records):
    """(subject, ref, time, event_source, event_id) of every ``ccpa.deadline_missed`` reported."""
    return sorted((o["subject"], o["ref"], r["decision"]["time"], r["decision"]["event_source"],
                   r["decision"]["event_id"]) for r in records
                  if r["decision"]["status"] == "accepted" for o in r["decision"]["outcomes"]
                  if o["kind"] == "violation" and o["violation"] == "ccpa.deadline_missed")


def missed_steps(history):
    """(subject, ref, time, event_source, event_id) of every missed step, each checked to be
    its obligation's timer at the deadline the step missed."""
    out = []
    for entry in history:
        for step in entry["steps"]:
            if step["step"] == "missed":
                assert step["time"] == step["due_by"], step  # at the due instant, not later
                assert step["event_source"] == TIMER_SOURCE
                assert step["event_id"] == timer_id(entry["subject"], entry["ref"],
                                                    instant_key(step["due_by"]))
                out.append((entry["subject"], entry["ref"], step["time"], step["event_source"],
                            step["event_id"]))
    return sorted(out)


def test_every_obligation_outcome_is_a_step_and_every_missed_step_is_where_the_engine_said_so(demo):
    history = obligation_history(demo)
    steps = [(e["subject"], e["ref"], s["step"], s["time"], s["rule"], s["clause"])
             for e in history for s in e["steps"]]
    told = obligation_steps_of_decisions(demo)
    assert told, "the demo log opens obligations"
    assert sorted(s for s in steps if s[2] != "missed") == sorted(told)
    missed = missed_steps(history)  # each the decision of its obligation's timer
    assert missed == missed_reports(demo) and missed, "the demo log misses one CCPA deadline"
    kinds = Counter(s[2] for s in steps)
    assert {"opened", "extended", "fulfilled", "declined", "missed"} <= set(kinds)
    for entry in history:  # steps in time order, and the status after the last one
        times = [parse_time(s["time"]) for s in entry["steps"]]
        assert times == sorted(times)
        last = entry["steps"][-1]["step"]
        assert entry["status"] == {v: k for k, v in STEP_OF_STATUS.items()}.get(last, last)


def test_missed_by_a_timer_at_the_deadline_fired_by_the_first_event_after_it_whatever_its_subject(policy):
    lines = [*opened("ca-1", "2019-07-01T09:00:00Z", "rq-1"),
             *opened("ca-2", "2019-07-01T10:00:00Z", "rq-2"),
             tick("2019-08-15T09:00:00Z"),            # exactly at ca-1's deadline: not after it
             tick("2019-08-15T09:00:01Z"),            # after it: fires ca-1's timer, not later
             ccpa("ccpa.request.extended", "ca-2", "2019-08-01T00:00:00Z",
                  {"request_id": "rq-2"}),
             tick("2019-10-01T00:00:00Z")]            # after ca-2's extended deadline
    records = replayed(policy, lines)
    assert all(r["decision"]["status"] == "accepted" for r in records), [
        r["decision"].get("errors") for r in records]
    history = {e["ref"]: e for e in obligation_history(records)}
    first = history["rq-1"]["steps"]
    assert [s["step"] for s in first] == ["opened", "missed"]
    assert first[1]["time"] == "2019-08-15T09:00:00Z" == first[0]["due_by"]  # the due instant
    assert (first[1]["event_source"], first[1]["event_id"]) == (
        TIMER_SOURCE, timer_id("ca-1", "rq-1", instant_key("2019-08-15T09:00:00Z")))
    assert first[1]["rule"] == "U.ccpa-deadline-missed" and first[1]["clause"] == "U"
    assert first[1]["violations"] == ["ccpa.deadline_missed"]
    assert history["rq-1"]["status"] == "missed" and history["rq-1"]["owed"]
    second = history["rq-2"]["steps"]
    assert [s["step"] for s in second] == ["opened", "extended", "missed"]
    assert second[1]["due_by"] != second[0]["due_by"]  # the extension moved the deadline
    assert second[2]["time"] == second[1]["due_by"]  # missed at the deadline it moved to
    # the timer is fired by the first event after the deadline (the 09:00:01 tick, no subject's),
    # just before it, and is the only decision that reports it: reported once
    pairs = [(n, d) for n, d in Session(policy).replay(lines)]
    timers = [(n, d.event_id) for n, d in pairs if d.event_source == TIMER_SOURCE]
    assert timers == [(6, first[1]["event_id"]), (8, second[2]["event_id"])]
    assert [d.event_id for _, d in pairs][5:7] == [first[1]["event_id"], "tick-2"]
    assert missed_reports(records) == missed_steps(history.values())


def test_records_without_the_timer_get_the_missed_step_where_the_engine_before_timers_put_it(policy):
    """Records that hold no timer (a store written before the engine had timers): the deadline
    is missed at the first event later than it, whatever its subject, citing no rule here."""
    lines = [*opened("ca-1", "2019-07-01T09:00:00Z", "rq-1"), tick("2019-08-15T09:00:00Z"),
             tick("2019-08-15T09:00:01Z"), tick("2019-09-01T00:00:00Z")]
    records = [r for r in replayed(policy, lines) if r["decision"]["event_source"] != TIMER_SOURCE]
    (entry,) = obligation_history(records)
    assert [(s["step"], s["time"], s["rule"]) for s in entry["steps"]] == [
        ("opened", "2019-07-01T09:00:00Z", "U.ccpa-respond-within-45-days"),
        ("missed", "2019-08-15T09:00:01Z", None)]
    assert entry["status"] == "missed" and entry["owed"]


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
    timers = [r for r in logged if r["event"]["source"] == TIMER_SOURCE]  # kept as events are
    assert len(timers) == 1 and timers[0]["event"]["type"] == "clock.tick"
    # `clauseline report LOG` gives a timer's record the same tick the store keeps
    assert tick_of(Decision.from_dict(timers[0]["decision"])) == timers[0]["event"]
    assert shown["status.accepted"] == str(len(logged) - len(timers))  # the events posted
    assert shown["timers"] == str(len(timers)) and shown["records"] == str(len(logged))
    assert "A store keeps accepted events only" in text
    from_log = stats(render_html(demo, policy=policy, obligations=[], chain=None))
    assert from_log["status.duplicate"] == "1" and from_log["status.rejected"] == "3"
    with pytest.raises(ValueError, match="source is one of log, store"):
        render_html(logged, policy=policy, obligations=[], chain=None, source="database")


def test_report_counts_reconcile_with_the_replay_summary(tmp_path, demo_db):
    """The report counts outcomes of accepted events and, beside them, with the duplicates'
    repeats, as the summary's outcomes line does; the statuses are the same three numbers, and
    the deadline timers fired are counted apart from them, as the summary does."""
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
    fired = re.search(r"; (\d+) deadline timer\(s\) fired", lines[0])  # apart from the events
    assert fired and shown["timers"] == fired.group(1) == "1"

    stored = tmp_path / "s.html"
    assert cli("report", "--db", demo_db, "--out", stored).returncode == 0
    from_store = stats(stored.read_text(encoding="utf-8"))
    assert from_store["status.accepted"] == head.group(1)
    assert from_store["timers"] == fired.group(1)
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
    missed step the decision of the timer where the engine reported the deadline missed."""
    from clauseline.cli.audit import owed_in_memory
    lines = list(bench_logs().iter_log(3000, subjects=400, seed=seed, days=365))
    session = Session(policy)
    records = []
    for number, decision in session.replay(lines):
        records.append({"event": None, "decision": decision.as_dict()})
    owed = owed_in_memory(session.store.state)
    history = obligation_history(records)  # from the decisions alone
    assert missed_steps(history) == missed_reports(records)  # each a timer's, at its deadline
    still = {(e["subject"], e["ref"]): e["status"] for e in history if e["owed"]}
    assert still == {(o["subject"], o["ref"]): o["status"] for o in owed}
    assert len(history) > 20 and owed, "the generated log should open and leave obligations"
    kinds = Counter(s["step"] for e in history for s in e["steps"])
    assert set(kinds) == set(STEPS), kinds
