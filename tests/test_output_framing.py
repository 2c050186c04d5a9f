"""Output framing: one decision is one line for every JSON Lines reader, and text output cannot
be reordered or split by what an event carries. Envelope ids and short texts refuse control,
separator and bidirectional formatting characters; free data that may hold them is escaped."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from clauseline import Session, canonical
from clauseline.explain import describe

ROOT = Path(__file__).resolve().parents[1]
HOSTILE = ["\u2028", "\u2029", "\u0085", "\u202e", "\u2066", "\u200f", "\u009b", "\x1b"]


@pytest.mark.parametrize("char", HOSTILE, ids=[f"U+{ord(c):04X}" for c in HOSTILE])
def test_ids_refuse_control_separator_and_bidi_characters(policy, event, char):
    for field in ("id", "subject", "source"):
        bad = event("clock.tick" if field != "subject" else "profile.updated",
                    {} if field != "subject" else {"profile": {"user_type": "family"}},
                    subject=None if field != "subject" else "acct-1")
        bad[field] = f"acct{char}1" if field != "source" else f"/tests{char}x"
        decision = Session(policy).submit(bad)
        assert decision.status == "rejected", field
        assert f"/{field}" in {e["path"] for e in decision.errors}


def test_json_lines_keep_one_decision_per_line_whatever_the_data_holds():
    text = canonical.dumps({"detail": "a\u2028b\u2029c\u0085d", "name": "café"})
    assert "\u2028" not in text and "\u2029" not in text and "\u0085" not in text
    assert "café" in text and json.loads(text)["detail"] == "a\u2028b\u2029c\u0085d"
    assert len(text.splitlines()) == 1


def test_a_replay_prints_one_line_per_event_and_text_output_escapes(tmp_path):
    # a note the schema allows in free text (the profile's user_type is a short text: refused;
    # data the engine echoes into an outcome's detail is where such characters could travel)
    event = {"specversion": "1.0", "id": "e-1", "source": "/tests", "type": "service.changed",
             "time": "2019-07-01T09:00:00Z", "subject": "acct-1",
             "data": {"change": "price_increase", "reason": "raise\u2028\u202eetirw"}}
    log = tmp_path / "log.jsonl"
    log.write_text(json.dumps(event) + "\n", encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "clauseline", "replay", str(log)],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 1 and "\u2028" not in done.stdout
    text = subprocess.run([sys.executable, "-m", "clauseline", "replay", str(log), "--format",
                           "text"], capture_output=True, text=True, cwd=ROOT).stdout
    assert "\u202e" not in text and "\u2028" not in text


def test_describe_escapes_what_could_reorder_the_line(policy, event):
    decision = Session(policy).submit(event("clock.tick", {}, subject=None))
    from dataclasses import replace
    forged = replace(decision, errors=({"path": "", "message": "x\u202ey", "code": "c"},),
                     status="rejected")
    assert "\\u202e" in describe(forged) and "\u202e" not in describe(forged)
