"""Every shipped rule is fired by the golden scenario files: a rule added without a scenario
that exercises it fails here, through the plugin's own coverage threshold."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_golden_scenarios_fire_every_rule():
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/scenarios",
         "--clauseline-coverage-min=100"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "rules and overrides fired (100.0%)" in result.stdout


def test_a_timers_rules_count_once_whether_submitted_or_replayed(tmp_path):
    """A missed deadline is reported by a timer's decision (``Decision.fired``), not by the
    event that fired it: coverage counts the timer's rules, once, both when the event is
    submitted (the timer only inside ``fired``) and when a log is replayed (the timer yielded
    on its own, then again inside its event's ``fired``)."""
    import json

    from clauseline.testing import RuleCoverage
    from clauseline.testing.timeline import Timeline

    missed = ("securus-2019-05-04", "U.ccpa-deadline-missed")
    filed = {"request_id": "r-1", "kinds": ["categories"], "delivery": "mail",
             "has_account": False, "profile": {"residence": {"country": "US", "region": "US-CA"}}}

    submitted = RuleCoverage()
    timeline = Timeline.for_rules(start="2019-07-01T09:00:00Z", subject="ca-1",
                                  observer=submitted.record)
    timeline.send("ccpa.request.filed", filed)
    tick = timeline.tick("P46D")
    assert "U.ccpa-deadline-missed" not in tick.trace and len(tick.fired) == 1
    assert submitted.fired.get(missed) == 1

    log = tmp_path / "log.jsonl"
    log.write_text("\n".join(json.dumps(e) for e in [
        {"specversion": "1.0", "id": "e-1", "source": "/ccpa", "subject": "ca-1",
         "type": "ccpa.request.filed", "time": "2019-07-01T09:00:00Z", "data": filed},
        {"specversion": "1.0", "id": "e-2", "source": "/ccpa", "type": "clock.tick",
         "time": "2019-08-16T09:00:00Z", "data": {}}]) + "\n", encoding="utf-8")
    replayed = RuleCoverage()
    pairs = Timeline.for_rules(observer=replayed.record).replay(log)
    assert [(n, d.event_source) for n, d in pairs] == [
        (1, "/ccpa"), (2, "urn:clauseline:timer"), (2, "/ccpa")]
    assert replayed.fired.get(missed) == 1
