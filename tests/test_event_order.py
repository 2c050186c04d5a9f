"""Memory is read as of each event's time: a log's decisions do not depend on the order its
events arrive in, once `clauseline replay --order time` sorts them (stably, by event time)."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from clauseline import Session
from clauseline.testing.scenarios import load_scenarios
from clauseline.testing.timeline import cached_policy

ROOT = Path(__file__).resolve().parents[1]
SCENARIO_FILES = sorted((ROOT / "tests" / "scenarios").rglob("*.yaml"))


def _logs() -> list[tuple[str, list[str]]]:
    """(name, JSON lines) of every golden scenario, as the events it submits."""
    out = []
    for path in SCENARIO_FILES:
        for scenario in load_scenarios(path):
            if scenario.log is not None:
                lines = [l for l in scenario.log.read_text(encoding="utf-8").splitlines() if l.strip()]
            else:
                timeline = scenario.timeline()
                lines = []
                submit = timeline.session.submit

                def recording(event, submit=submit, lines=lines):
                    lines.append(json.dumps(event))
                    return submit(event)

                timeline.session.submit = recording
                scenario.run(timeline)
            out.append((f"{path.relative_to(ROOT)}::{scenario.name}", lines))
    return out


LOGS = _logs()


def _decisions(lines: list[str], order: str) -> dict:
    session = Session(cached_policy())
    out = {}
    for number, decision in session.replay(lines, order=order):
        key = (decision.event_source, decision.event_id) if decision.event_id else number
        if decision.status == "rejected":  # the line it was read from is not the event's
            decision = replace(decision, errors=tuple(
                dict({k: v for k, v in e.items() if k != "line"},
                     message=e["message"].split(": ", 1)[1]) for e in decision.errors))
        out.setdefault(key, decision.to_json())
    return out


@pytest.mark.parametrize("name, lines", LOGS, ids=[n for n, _ in LOGS])
def test_a_shuffled_log_replayed_in_time_order_decides_as_the_ordered_log(name, lines):
    ordered = _decisions(lines, "time")
    for seed in range(20):
        shuffled = list(lines)
        random.Random(seed).shuffle(shuffled)
        assert _decisions(shuffled, "time") == ordered, f"seed {seed}"


def test_every_golden_scenario_was_collected():
    files = {name.split("::")[0] for name, _ in LOGS}
    assert files == {str(p.relative_to(ROOT)) for p in SCENARIO_FILES}
    assert all(len(lines) >= 1 for _, lines in LOGS)


def test_replay_order_time_through_the_cli(tmp_path):
    events = [
        {"specversion": "1.0", "id": "e-enable", "source": "/web", "type": "cookie.preference.changed",
         "subject": "v-1", "time": "2019-07-20T09:00:00Z", "data": {"purpose": "remember_me", "enabled": True}},
        {"specversion": "1.0", "id": "e-disable", "source": "/web", "type": "cookie.preference.changed",
         "subject": "v-1", "time": "2019-07-12T09:00:00Z", "data": {"purpose": "remember_me", "enabled": False}},
    ]
    log = tmp_path / "log.jsonl"
    log.write_text("\n".join(json.dumps(e) for e in events) + "\n")

    def replay(*extra):
        result = subprocess.run([sys.executable, "-m", "clauseline", "replay", str(log), *extra],
                                capture_output=True, text=True, cwd=ROOT)
        assert result.returncode == 0, result.stderr
        return [json.loads(line) for line in result.stdout.splitlines()]

    as_logged = replay()
    assert [d["event_id"] for d in as_logged] == ["e-enable", "e-disable"]
    assert "out_of_order" not in as_logged[0]
    assert as_logged[1]["out_of_order"] == {"latest": "2019-07-20T09:00:00Z"}
    by_time = replay("--order", "time")
    assert [d["event_id"] for d in by_time] == ["e-disable", "e-enable"]
    assert not any("out_of_order" in d for d in by_time)
