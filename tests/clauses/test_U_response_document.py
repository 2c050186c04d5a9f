"""Clause U, the response document: a `ccpa.response.prepared` records the digest of the
document prepared for a request and a period; a `ccpa.response.delivered` that names the
document it delivered (`document_digest`) must name one of them (readings
u.response-document-digest, u.response-document-same-period). The golden scenarios are in
tests/scenarios/U/response-document.yaml; here: digests computed from real bytes, digests the
engine masks, masked request ids, and a generated log that names no document deciding exactly as
under the policy without these rules."""

import hashlib
import importlib.util
import json
import shutil
from pathlib import Path

import yaml

from clauseline import Session, canonical, load_policy
from clauseline.resources import rules_dir

ROOT = Path(__file__).resolve().parents[2]
SUBJECT = "ca-1"
START = "2019-07-01T09:00:00Z"
PERIOD = {"from": "2018-07-01T09:00:00Z", "to": START}
CALIFORNIA = {"residence": {"country": "US", "region": "US-CA"}}
NEW_RULES = {"U.ccpa-response-document-prepared", "U.ccpa-response-document-matches",
             "U.ccpa-response-document-unmatched"}


def digest_of(document: dict) -> str:
    return "sha256:" + hashlib.sha256(canonical.dumps(document).encode("utf-8")).hexdigest()


def cycle(run, request_id="r-1", prepared=None, named=None, period=PERIOD):
    """File a request, record the document prepared for it (if any), deliver naming ``named``."""
    run("ccpa.request.filed", {"request_id": request_id, "kinds": ["specific_pieces"],
                               "delivery": "electronic", "has_account": False,
                               "profile": CALIFORNIA})
    if prepared is not None:
        run("ccpa.response.prepared", {"request_id": request_id, "period": period,
                                       "digest": prepared}, time="2019-07-10T09:00:00Z")
    data = {"request_id": request_id, "channel": "electronic", "portable_format": True,
            "fee": 0, "period": PERIOD}
    if named is not None:
        data["document_digest"] = named
    return run("ccpa.response.delivered", data, time="2019-07-11T09:00:00Z")


def violations(decision):
    return [o for o in decision.outcomes if o["kind"] == "violation"]


def test_the_digest_of_the_document_prepared_matches_and_of_another_does_not(run):
    document = {"subject": SUBJECT, "request_id": "r-1", "period": PERIOD,
                "categories_collected": ["email", "name"]}
    d = cycle(run, prepared=digest_of(document), named=digest_of(document))
    assert violations(d) == [] and "U.ccpa-response-document-matches" in d.trace

    altered = dict(document, categories_collected=["email"])  # one item left out
    d = cycle(run, request_id="r-2", prepared=digest_of(document), named=digest_of(altered))
    [violation] = violations(d)
    assert violation["violation"] == "ccpa.response_document_unmatched"
    assert violation["clause"] == "U" and violation["rule"] == "U.ccpa-response-document-unmatched"
    assert violation["ref"] == "r-2" and "request r-2" in violation["detail"]
    assert "U.ccpa-response-document-matches" not in d.trace


def test_a_digest_the_engine_masks_as_a_card_number_still_matches_itself(run):
    # 1 digest in 100 or so starts with ten digits or more, which with `256` reads as a card
    # number: the rules see it masked, on the prepared event and on the delivery alike
    digit_heavy = "sha256:4111111111111111" + "0a" * 24
    d = cycle(run, prepared=digit_heavy, named=digit_heavy)
    assert violations(d) == [] and "U.ccpa-response-document-matches" in d.trace


def test_a_request_id_holding_a_card_number_is_masked_in_the_violation(run):
    d = cycle(run, request_id="r-4111111111111111", prepared="sha256:" + "a" * 64,
              named="sha256:" + "b" * 64)
    [violation] = violations(d)
    assert violation["violation"] == "ccpa.response_document_unmatched"
    text = json.dumps(violation)
    assert "4111111111111111" not in text and "1111" in violation["ref"]


def test_a_prepared_document_changes_no_obligation_and_emits_nothing(run):
    run("ccpa.request.filed", {"request_id": "r-1", "kinds": ["categories"], "delivery": "mail",
                               "has_account": False, "profile": CALIFORNIA})
    d = run("ccpa.response.prepared", {"request_id": "r-1", "period": PERIOD,
                                       "digest": "sha256:" + "c" * 64},
            time="2019-07-10T09:00:00Z")
    assert d.outcomes == () or list(d.outcomes) == []
    assert [r for r in d.trace if r.startswith("U.")] == ["U.ccpa-response-document-prepared"]
    # still owed: the deadline is missed if nothing is delivered, reported by its timer (a
    # decision of its own at the due instant, fired before the first event past it)
    d = run("clock.tick", {}, subject=None, time="2019-08-16T00:00:00Z")
    assert violations(d) == []
    [timer] = d.fired
    assert timer.time == "2019-08-15T09:00:00Z"
    assert [(o["violation"], o["ref"]) for o in violations(timer)] == [("ccpa.deadline_missed", "r-1")]


def _bench_logs():
    spec = importlib.util.spec_from_file_location("bench_logs_u", ROOT / "bench" / "logs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _without_document_rules(tmp_path) -> Path:
    """A copy of the shipped rules without the three document rules and their readings."""
    rules = tmp_path / "rules"
    shutil.copytree(rules_dir(), rules, ignore=shutil.ignore_patterns("__pycache__", "__init__.py"))
    version = rules / "securus-2019-05-04"
    clause = version / "clauses" / "U.yaml"
    loaded = yaml.safe_load(clause.read_text(encoding="utf-8"))
    kept = [r for r in loaded["rules"] if r["id"] not in NEW_RULES]
    assert len(kept) == len(loaded["rules"]) - len(NEW_RULES)
    clause.write_text(yaml.safe_dump(dict(loaded, rules=kept), allow_unicode=True, width=100),
                      encoding="utf-8")
    (version / "interpretations" / "U-response-document.yaml").unlink()
    return rules


def test_a_generated_log_naming_no_document_decides_as_without_the_document_rules(tmp_path):
    # a log whose answers name documents, some not prepared for them (found by seed)
    lines = [json.loads(line) for line in _bench_logs().iter_log(1500, 100, 2)]
    assert any("document_digest" in e["data"] for e in lines), "no document named: nothing compared"
    plain = [dict(e, data={k: v for k, v in e["data"].items() if k != "document_digest"})
             for e in lines if e["type"] != "ccpa.response.prepared"]

    def decide(policy, events):
        """Every decision, the timers' (fired before an event) included, in order."""
        session = Session(policy)
        out = []
        for e in events:
            decision = session.submit(e)
            out += [timer.to_json() for timer in decision.fired] + [decision.to_json()]
        return out

    shipped = load_policy()
    before = load_policy(_without_document_rules(tmp_path))
    assert not NEW_RULES & {r.id for r in before.latest.rules}
    assert decide(shipped, plain) == decide(before, plain)
    # and the same log with its documents does decide differently: the check is not idle
    fired = {r for d in decide(shipped, lines) for r in json.loads(d)["trace"]}
    assert NEW_RULES <= fired


def test_docs_list_every_violation_code_of_clause_u(policy):
    """docs/decisions.md names clause U's violation codes: exactly those its rules emit."""
    import re
    text = (ROOT / "docs" / "decisions.md").read_text(encoding="utf-8")
    paragraph = text.split("Clause U's:", 1)[1].split("\n\n", 1)[0]
    listed = set(re.findall(r"`(ccpa\.[a-z_]+)`", paragraph)) - {"ccpa.response.prepared"}
    emitted = {o.get("violation") for r in policy.latest.rules if r.clause == "U"
               for o in r.emit if o.get("kind") == "violation"}
    assert listed == emitted
    events = (ROOT / "docs" / "events.md").read_text(encoding="utf-8")
    assert "| `ccpa.response.prepared` |" in events and "`document_digest`" in events
