"""``clauseline explain`` and ``clauseline report`` as an auditor runs them: why an event was
decided as it was (and why a rule did not fire), against an empty state, a state file or a
store read without writing; and the report of a log or a store as HTML or CSV."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "examples" / "demo-log.jsonl"
ENV = {"CLAUSELINE_REDACTION_KEY": "k", "PATH": "/usr/bin:/bin"}

PAYMENT = {"specversion": "1.0", "id": "p-1", "source": "/billing", "type": "payment.made",
           "time": "2019-07-01T09:00:00Z", "subject": "acct-1",
           "data": {"transaction_id": "t-1", "amount": 5, "currency": "USD",
                    "instrument": "credit_card", "status": "authorized",
                    "encrypted_in_transit": True, "product": "calls"}}
OPENED = {"specversion": "1.0", "id": "a-1", "source": "/accounts", "type": "account.opened",
          "time": "2019-07-01T08:00:00Z", "subject": "ca-1",
          "data": {"profile": {"role": "customer", "residence": {"country": "US", "region": "US-CA"}},
                   "collected": ["name"], "channel": "web"}}
FILED = {"specversion": "1.0", "id": "c-1", "source": "/ccpa", "type": "ccpa.request.filed",
         "time": "2019-07-01T09:00:00Z", "subject": "ca-1",
         "data": {"request_id": "r-1", "kinds": ["categories"], "delivery": "mail", "has_account": True}}


def cli(*args):
    return subprocess.run([sys.executable, "-m", "clauseline", *map(str, args)], capture_output=True,
                          text=True, cwd=ROOT, timeout=300, env=ENV)


def write(path: Path, value) -> Path:
    path.write_text(json.dumps(value), encoding="utf-8")
    return path


def sections(text: str) -> dict[str, str]:
    """The text under 'Fired:' and under 'Did not fire:'."""
    fired = text.split("Fired:", 1)[1].split("Did not fire:", 1)[0] if "Fired:" in text else ""
    not_fired = text.split("Did not fire:", 1)[1] if "Did not fire:" in text else ""
    return {"fired": fired, "not_fired": not_fired}


def test_explain_says_why_a_rule_did_not_fire(tmp_path):
    done = cli("explain", write(tmp_path / "p.json", PAYMENT))
    assert done.returncode == 0, done.stderr
    parts = sections(done.stdout)
    assert "C.purge-payment-numbers-after-transaction" in parts["not_fired"]
    assert "data.status is 'authorized', the rule needs one of ['completed', 'failed']" in parts["not_fired"]
    as_json = json.loads(cli("explain", tmp_path / "p.json", "--format", "json").stdout)
    assert "C.purge-payment-numbers-after-transaction" in json.dumps(as_json["not_fired"])
    assert as_json["decision"]["status"] == "accepted"


@pytest.mark.slow  # about 13 s: make test-slow (and .ci/run)
def test_explain_reads_the_subjects_state_from_a_store_and_writes_nothing(tmp_path):
    db = f"sqlite:///{tmp_path / 'e.db'}"
    assert cli("evaluate", write(tmp_path / "o.json", OPENED), "--db", db).returncode == 0
    filed = write(tmp_path / "f.json", FILED)
    alone = cli("explain", filed)
    known = cli("explain", filed, "--db", db)
    assert alone.returncode == known.returncode == 0
    assert "U.ccpa-respond-within-45-days" in sections(known.stdout)["fired"]
    assert "U.ccpa-respond-within-45-days" in sections(alone.stdout)["not_fired"]
    assert "warning: decided from an empty state" in alone.stderr and "warning" not in known.stderr
    # the explanation stored nothing: the event is still new to the store
    assert json.loads(cli("evaluate", filed, "--db", db).stdout)["status"] == "accepted"
    assert cli("explain", filed, "--db", f"sqlite:///{tmp_path / 'typo.db'}").returncode == 1
    assert not (tmp_path / "typo.db").exists()


def test_report_of_a_log_and_of_a_store(tmp_path):
    page = tmp_path / "log.html"
    done = cli("report", DEMO, "--out", page)
    assert done.returncode == 0, done.stderr
    html = page.read_text(encoding="utf-8")
    assert html.count("<svg") >= 5 and "collection.unlisted_category" in html
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "")

    db = f"sqlite:///{tmp_path / 'r.db'}"
    assert cli("replay", DEMO, "--db", db, "--quiet").returncode == 0
    stored = tmp_path / "store.html"
    assert cli("report", "--db", db, "--out", stored).returncode == 0
    stored_text = stored.read_text(encoding="utf-8")
    # the 405 accepted events and the decision of the timer of the deadline the demo misses
    assert "chain intact: 406 record(s)" in stored_text
    assert 'data-stat="status.accepted">405<' in stored_text and 'data-stat="timers">1<' in stored_text

    folder = tmp_path / "csv"
    assert cli("report", "--db", db, "--out", folder, "--format", "csv").returncode == 0
    violations = list(csv.DictReader(io.StringIO((folder / "violations.csv").read_text(encoding="utf-8"))))
    replayed = [json.loads(line) for line in cli("replay", DEMO).stdout.splitlines()]
    expected = sum(1 for d in replayed if d["status"] == "accepted"
                   for o in d["outcomes"] if o["kind"] == "violation")
    assert len(violations) == expected > 0
    assert (folder / "obligations.csv").read_text(encoding="utf-8").startswith("subject")

    both = cli("report", DEMO, "--db", db, "--out", tmp_path / "x.html")
    assert both.returncode == 2 and "not both" in both.stderr
