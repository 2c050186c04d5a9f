"""Replays: input order, byte-identical output, idempotency, carried state, and scale."""

import json
from collections import Counter
import re
import subprocess
import sys
from pathlib import Path

import pytest

from clauseline import Session, empty_state, evaluate
from clauseline.records import plain_state

ROOT = Path(__file__).resolve().parents[1]


def log_lines(n_subjects=3, per_subject=4):
    lines = []
    i = 0
    for s in range(n_subjects):
        for k in range(per_subject):
            i += 1
            lines.append(json.dumps({
                "specversion": "1.0", "id": f"e-{i}", "source": "/billing", "type": "payment.made",
                "time": f"2019-07-{1 + k:02d}T09:{s % 60:02d}:00Z", "subject": f"acct-{s}",
                "data": {"transaction_id": f"t-{i}", "amount": 5, "currency": "USD",
                         "instrument": ["credit_card", "debit_card", "bank_account"][i % 3],
                         "status": ["completed", "authorized", "failed", "completed"][k % 4],
                         "encrypted_in_transit": i % 7 != 0, "product": "calls",
                         "profile": {"role": "customer", "user_type": f"type-{k}"}}}))
    return lines


def run_cli(*args, stdin=None):
    return subprocess.run([sys.executable, "-m", "clauseline", *args], capture_output=True,
                          text=True, input=stdin, cwd=ROOT)


def test_replaying_twice_prints_byte_identical_output(tmp_path):
    log = tmp_path / "log.jsonl"
    log.write_text("\n".join(log_lines() + ["{broken"]) + "\n", encoding="utf-8")
    first, second = run_cli("replay", str(log)), run_cli("replay", str(log))
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    lines = first.stdout.splitlines()
    assert len(lines) == 13
    assert [json.loads(line)["event_id"] for line in lines[:12]] == [f"e-{i}" for i in range(1, 13)]
    assert json.loads(lines[-1])["status"] == "rejected"
    assert "13 events" in first.stderr and "1 rejected" in first.stderr


def test_replay_out_file_and_stdin(tmp_path):
    out = tmp_path / "decisions.jsonl"
    text = "\n".join(log_lines(1, 2)) + "\n"
    result = run_cli("replay", "-", "--out", str(out), stdin=text)
    assert result.returncode == 0 and result.stdout == ""
    assert len(out.read_text().splitlines()) == 2


def test_the_same_event_twice_is_one_event(policy):
    session = Session(policy)
    [line] = log_lines(1, 1)
    first = session.submit(json.loads(line))
    again = session.submit(json.loads(line))
    assert again.status == "duplicate"
    assert again.outcomes == first.outcomes and again.trace == first.trace
    assert len(session.store.decisions) == 1


def test_replay_equals_evaluating_one_by_one_carrying_state(policy):
    lines = log_lines(4, 4)
    session = Session(policy)
    replayed = [d.to_json() for _, d in session.replay(lines)]
    state, one_by_one = empty_state(), []
    for line in lines:
        decision, state = evaluate(policy, state, json.loads(line))
        one_by_one.append(decision.to_json())
    assert replayed == one_by_one
    # the in-memory store folds each event's changes into its own map: the same state
    assert plain_state(session.store.state) == plain_state(state)
    assert type(session.store.state["subjects"]) is dict


def test_evaluate_never_mutates_its_input_state(policy):
    lines = [json.loads(line) for line in log_lines(1, 2)]
    state = empty_state()
    decision, after_first = evaluate(policy, state, lines[0])
    snapshot = json.dumps(after_first, sort_keys=True)
    evaluate(policy, after_first, lines[1])
    assert json.dumps(after_first, sort_keys=True) == snapshot
    assert state == empty_state()


def test_profile_is_remembered_per_subject(policy):
    session = Session(policy)
    for _ in session.replay(log_lines(2, 4)):
        pass
    subjects = session.store.state["subjects"]
    assert subjects["acct-0"]["profile"] == {"role": "customer", "user_type": "type-3"}
    assert set(subjects) == {"acct-0", "acct-1"}


def test_five_thousand_distinct_subjects_in_one_replay(policy):
    # durable_rules holds at most 1024 sids per ruleset; subjects must never become sids
    lines = log_lines(5000, 1)
    decisions = [d for _, d in Session(policy).replay(lines)]
    assert len(decisions) == 5000
    assert all(d.status == "accepted" for d in decisions)
    purges = [o for d in decisions for o in d.outcomes if o["kind"] == "retention"]
    assert len(purges) == 5000 and all(o["action"] == "purge" for o in purges)
    assert len({o["subject"] for o in purges}) == 5000


def test_evaluate_command_exit_codes(tmp_path):
    good = tmp_path / "good.json"
    good.write_text(log_lines(1, 1)[0])
    bad = tmp_path / "bad.json"
    bad.write_text('{"type": "payment.made"}')
    ok = run_cli("evaluate", str(good))
    assert ok.returncode == 0 and json.loads(ok.stdout)["status"] == "accepted"
    refused = run_cli("evaluate", str(bad))
    assert refused.returncode == 1 and json.loads(refused.stdout)["status"] == "rejected"
    missing = run_cli("evaluate", str(tmp_path / "nope.json"))
    assert missing.returncode == 1 and "cannot read" in missing.stderr


def test_help_explains_every_command():
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("evaluate", "replay", "rules", "clauses", "interpretations", "--version"):
        assert command in result.stdout


def test_version_is_the_one_pyproject_declares():
    import tomllib
    declared = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]["version"]
    result = run_cli("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"clauseline {declared}"


def test_explain_quotes_the_sentence_behind_each_outcome(tmp_path):
    event = tmp_path / "e.json"
    event.write_text(json.dumps({
        "specversion": "1.0", "id": "x-1", "source": "/t", "type": "disclosure.requested",
        "time": "2019-07-01T09:00:00Z", "subject": "acct-1",
        "data": {"request_id": "r-1", "recipient": {"kind": "law_enforcement", "name": "PD"},
                 "purpose": "law_enforcement_activity", "data_categories": ["voice", "ssn"]}}))
    result = run_cli("evaluate", "--explain", str(event))
    assert result.returncode == 0
    assert "G.law-enforcement-disclosure (clause G): \"We may share your contact information" in result.stdout
    assert "reading disclosure.closed-world:" in result.stdout


def test_bad_state_file_and_unwritable_output_are_clear_errors(tmp_path):
    event = tmp_path / "e.json"
    event.write_text(log_lines(1, 1)[0])
    bad = tmp_path / "state.json"
    bad.write_text("{not json")
    result = run_cli("evaluate", "--state", str(bad), str(event))
    assert result.returncode == 1 and "state.invalid" in result.stderr and "Traceback" not in result.stderr
    log = tmp_path / "log.jsonl"
    log.write_text(log_lines(1, 1)[0] + "\n")
    result = run_cli("replay", str(log), "--out", str(tmp_path / "missing" / "out.jsonl"))
    assert result.returncode == 1 and "No such file or directory" in result.stderr
    assert "Traceback" not in result.stderr


def test_state_out_then_state_carries_memory_between_commands(tmp_path):
    first, second = log_lines(1, 2)
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(first)
    b.write_text(second)
    state = tmp_path / "state.json"
    assert run_cli("evaluate", str(a), "--state-out", str(state)).returncode == 0
    assert json.loads(state.read_text())["subjects"]["acct-0"]["profile"]["user_type"] == "type-0"
    assert run_cli("evaluate", str(b), "--state", str(state)).returncode == 0


def test_every_rejected_line_names_its_line_and_strict_exits_1(tmp_path):
    lines = log_lines(1, 2)
    bad_schema = json.loads(lines[0])
    bad_schema.update(id="e-bad", time="yesterday")
    log = tmp_path / "log.jsonl"
    log.write_text("\n".join([lines[0], "{broken", "", json.dumps(bad_schema), lines[1]]) + "\n",
                   encoding="utf-8")
    done = run_cli("replay", str(log))
    assert done.returncode == 0
    decisions = [json.loads(line) for line in done.stdout.splitlines()]
    rejected = [d for d in decisions if d["status"] == "rejected"]
    # the unparsable line and the schema-rejected one, each with its line in the log
    assert [[(e["line"], e["message"].split(":")[0]) for e in d["errors"]] for d in rejected] == [
        [(2, "line 2")], [(4, "line 4")]]
    assert rejected[1]["event_id"] == "e-bad" and rejected[1]["errors"][0]["path"] == "/time"

    strict = run_cli("replay", str(log), "--strict")
    assert strict.returncode == 1 and strict.stdout == done.stdout
    assert "2 line(s) rejected (line 2, 4)" in strict.stderr
    clean = tmp_path / "clean.jsonl"
    clean.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert run_cli("replay", str(clean), "--strict").returncode == 0


def test_summary_counts_agree_with_clauses_log_duplicates_not_counted(tmp_path):
    lines = log_lines(2, 3)
    log = tmp_path / "log.jsonl"
    log.write_text("\n".join(lines + lines[:2]) + "\n", encoding="utf-8")  # two duplicates
    summary = run_cli("replay", str(log), "--summary").stderr
    fired = {line.split()[1]: int(line.split()[0]) for line in summary.splitlines()
             if line.startswith("    ") and line.split()[0].isdigit()}
    assert fired and "duplicates and rejected lines not counted" in summary
    table = run_cli("clauses", "--log", str(log)).stdout
    for rule, count in fired.items():
        assert f"{rule}  fired {count}x" in table, (rule, count)


@pytest.mark.slow  # about 18 s: make test-slow (and .ci/run)
def test_compare_reports_every_decision_that_differs_from_a_recorded_one(tmp_path):
    demo = ROOT / "examples" / "demo-log.jsonl"
    recorded = tmp_path / "recorded.jsonl"
    assert run_cli("replay", str(demo), "--out", str(recorded)).returncode == 0
    # a decision per line of the log, and one per deadline timer it fires
    total = len(recorded.read_text(encoding="utf-8").splitlines())
    assert total == sum(1 for line in demo.open() if line.strip()) + \
        recorded.read_text(encoding="utf-8").count('"event_source":"urn:clauseline:timer"')
    same = run_cli("replay", str(demo), "--compare", str(recorded))
    assert same.returncode == 0 and f"0 of {total} decision(s) differ" in same.stderr

    lines = recorded.read_text(encoding="utf-8").splitlines()
    changed = json.loads(lines[10])
    dropped = changed["outcomes"].pop(0)
    lines[10] = json.dumps(changed)
    status = json.loads(lines[20])
    status["status"] = "rejected"
    lines[20] = json.dumps(status)
    edited = tmp_path / "edited.jsonl"
    edited.write_text("\n".join(lines) + "\n", encoding="utf-8")
    differs = run_cli("replay", str(demo), "--compare", str(edited))
    assert differs.returncode == 1 and f"2 of {total} decision(s) differ" in differs.stderr
    assert f"line 11 (/web {changed['event_id']}): 1 outcome(s) added ({dropped['rule']})" in differs.stderr
    assert f"line 21 (/accounts {status['event_id']}): status rejected -> accepted" in differs.stderr
    assert differs.stdout == same.stdout  # the decisions printed do not change

    # a store's log export (accepted events only) compared with a replay into another store
    db, again = tmp_path / "a.db", tmp_path / "b.db"
    run_cli("replay", str(demo), "--db", f"sqlite:///{db}")
    exported = tmp_path / "export.jsonl"
    assert run_cli("log", "export", "--db", f"sqlite:///{db}", "--out", str(exported)).returncode == 0
    versus = run_cli("replay", str(demo), "--db", f"sqlite:///{again}", "--compare", str(exported))
    assert versus.returncode == 0 and f"0 of {total}" in versus.stderr

    junk = tmp_path / "junk.jsonl"
    junk.write_text('{"not": "a decision"}\n', encoding="utf-8")
    bad = run_cli("replay", str(demo), "--compare", str(junk))
    # an error, not a difference: exit 2 (docs/auditing.md, "Exit codes")
    assert bad.returncode == 2 and "compare.invalid" in bad.stderr and "Traceback" not in bad.stderr


def test_compare_reads_accepted_only_decisions_as_a_store_keeps_them(tmp_path):
    """``clauseline merge`` prints what the partition stores keep: accepted events, each once.
    Compared with a replay of the whole log, the log's rejected lines and its repeat have no
    counterpart and are not differences; a line accepted there and rejected now still is."""
    demo = ROOT / "examples" / "demo-log.jsonl"
    replayed = tmp_path / "replayed.jsonl"
    assert run_cli("replay", str(demo), "--out", str(replayed)).returncode == 0
    decisions = [json.loads(line) for line in replayed.read_text(encoding="utf-8").splitlines()]
    statuses = Counter(d["status"] for d in decisions)
    assert statuses["rejected"] and statuses["duplicate"]  # the demo log has both
    kept = [d for d in decisions if d["status"] == "accepted"]
    merged = tmp_path / "merged.jsonl"
    merged.write_text("".join(json.dumps(d) + "\n" for d in reversed(kept)), encoding="utf-8")
    same = run_cli("replay", str(demo), "--compare", str(merged))
    assert same.returncode == 0, same.stderr
    assert f"0 of {len(decisions)} decision(s) differ" in same.stderr

    # the log now holds a line that breaks an event the recording accepted
    lines = demo.read_text(encoding="utf-8").splitlines()
    at = next(i for i, line in enumerate(lines)
              if json.loads(line).get("id") == kept[5]["event_id"]
              and json.loads(line).get("source") == kept[5]["event_source"])
    broken = json.loads(lines[at])
    broken["time"] = "not a time"
    lines[at] = json.dumps(broken)
    edited = tmp_path / "edited-log.jsonl"
    edited.write_text("\n".join(lines) + "\n", encoding="utf-8")
    differs = run_cli("replay", str(edited), "--compare", str(merged))
    assert differs.returncode == 1
    assert f"line {at + 1} ({kept[5]['event_source']} {kept[5]['event_id']}): status accepted -> " \
           "rejected" in differs.stderr


def test_a_stateless_evaluate_says_it_started_from_an_empty_state(tmp_path):
    event = {"specversion": "1.0", "id": "c-1", "source": "/ccpa", "type": "ccpa.request.filed",
             "time": "2019-07-01T09:00:00Z", "subject": "ca-1",
             "data": {"request_id": "r-1", "kinds": ["categories"], "delivery": "mail",
                      "has_account": True}}
    path = tmp_path / "ccpa.json"
    path.write_text(json.dumps(event), encoding="utf-8")
    alone = run_cli("evaluate", str(path))
    decision = json.loads(alone.stdout)
    (warning,) = decision["warnings"]
    assert warning["code"] == "state.empty"
    # it names the rules of clause U that would read the Californian's memory
    assert re.search(r"\d+ rule\(s\) this event reaches read the subject's memory \(U\.ccpa-",
                     warning["message"]), warning["message"]
    assert "warning: decided from an empty state" in alone.stderr

    # with the subject's state (a Californian profile), no warning, and another decision
    opened = dict(event, id="a-1", type="account.opened", time="2019-07-01T08:00:00Z",
                  data={"profile": {"role": "customer", "residence": {"country": "US", "region": "US-CA"}},
                        "collected": ["name"], "channel": "web"})
    first = tmp_path / "opened.json"
    first.write_text(json.dumps(opened), encoding="utf-8")
    state = tmp_path / "state.json"
    assert run_cli("evaluate", str(first), "--state-out", str(state)).returncode == 0
    known = run_cli("evaluate", str(path), "--state", str(state))
    assert "warnings" not in json.loads(known.stdout) and "warning" not in known.stderr
    assert json.loads(known.stdout)["outcomes"] != decision["outcomes"]
    stored = run_cli("evaluate", str(path), "--db", f"sqlite:///{tmp_path / 's.db'}")
    assert "warnings" not in json.loads(stored.stdout) and "warning" not in stored.stderr
