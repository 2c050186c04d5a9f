"""The policy is accounted for: every clause A to W is operative with rules or informative with a
reason, every interpretation is cited, and the CLI shows it."""

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LETTERS = [chr(c) for c in range(ord("A"), ord("W") + 1)]


def cli(*args):
    return subprocess.run([sys.executable, "-m", "clauseline", *args], capture_output=True,
                          text=True, cwd=ROOT)


def test_every_clause_a_to_w_is_operative_with_rules_or_informative_with_a_reason(policy):
    version = policy.latest
    assert sorted(version.clauses) == LETTERS
    for letter, clause in version.clauses.items():
        rules = [r for r in version.rules if r.clause == letter]
        if clause.operative:
            assert rules, f"operative clause {letter} has no rule"
        else:
            assert not rules and clause.reason and len(clause.reason) > 20


def test_clauses_command_lists_all_23_and_none_unaccounted():
    result = cli("clauses")
    assert result.returncode == 0, result.stderr
    listed = re.findall(r"^  ([A-W])  ", result.stdout, flags=re.M)
    assert listed == LETTERS
    assert "UNACCOUNTED" not in result.stdout


def test_clauses_command_counts_firings_over_a_log():
    result = cli("clauses", "--log", str(ROOT / "examples" / "demo-log.jsonl"))
    assert result.returncode == 0, result.stderr
    counts = dict(re.findall(r"^       ([A-W]\.[a-z0-9-]+)  fired (\d+)x$", result.stdout, flags=re.M))
    assert int(counts["C.purge-payment-numbers-after-transaction"]) > 0
    assert int(counts["U.ccpa-deadline-missed"]) >= 1


def test_clauses_command_flags_an_operative_clause_without_rules(tmp_path):
    import shutil
    from clauseline.resources import rules_dir
    rules = tmp_path / "rules"
    shutil.copytree(rules_dir(), rules, ignore=shutil.ignore_patterns("__pycache__", "__init__.py"))
    (rules / "securus-2019-05-04" / "clauses" / "S.yaml").unlink()
    result = cli("--rules", str(rules), "clauses")
    assert result.returncode == 1
    assert re.search(r"^  S  .*UNACCOUNTED", result.stdout, flags=re.M)


def test_every_interpretation_is_cited_by_a_rule(policy):
    version = policy.latest
    # a rule or an override (clause T's cites the readings it applies)
    cited = {name for rule in version.enforcing for name in rule.interpretations}
    assert set(version.interpretations) - cited == set()


def test_the_readings_the_policy_map_demands_are_recorded(policy):
    readings = " ".join(i.reading for i in policy.latest.interpretations.values())
    for needle in ("45", "12 calendar months", "whole years", "28 February", "transactional"):
        assert needle in readings, needle


def test_interpretations_command_lists_each_with_its_rules():
    result = cli("interpretations", "--format", "json")
    assert result.returncode == 0
    entries = [json.loads(line) for line in result.stdout.splitlines()]
    by_id = {e["id"]: e for e in entries}
    assert "G.law-enforcement-disclosure" in by_id["g.contact-information"]["rules"]
    assert all(e["rules"] and e["sentence"] and e["reading"] and e["why"] for e in entries)


def test_the_readings_of_the_audits_questions_are_listed_with_their_sentences():
    # the fidelity audit: a child named by an event but not its subject, every payment number of
    # a payment, and whether an e-mail opt-out binds B's sharing with affiliates for marketing
    source = " ".join((ROOT / "rules" / "securus-2019-05-04" / "source.md").read_text(
        encoding="utf-8").split())
    result = cli("interpretations", "--format", "json")
    assert result.returncode == 0
    by_id = {e["id"]: e for e in map(json.loads, result.stdout.splitlines())}
    expected = {"t.every-subject-the-event-names": ("T", "T.deleted-child-information-stays-deleted"),
                "c.every-payment-number-present": ("C", "C.purge-bank-numbers-after-transaction"),
                "j.opt-out-binds-affiliate-marketing": ("J", "J.email-opt-out-stops-affiliate-marketing")}
    for name, (clause, rule) in expected.items():
        entry = by_id[name]
        assert entry["clause"] == clause and rule in entry["rules"]
        assert " ".join(entry["sentence"].split()) in source, name
