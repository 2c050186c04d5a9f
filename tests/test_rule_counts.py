"""One rule count everywhere: the documents state the shipped policy's numbers of rules,
overrides, operative clauses and interpretations as the loaded policy has them, and every output
that counts (``rules check``, ``clauses``, the coverage report) says them the same way, an
override apart from the rules ("89 rules and 1 override")."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from clauseline import load_policy
from clauseline.cli import main
from clauseline.policy.model import Override, rules_counted
from clauseline.testing.coverage import RuleCoverage

ROOT = Path(__file__).resolve().parents[1]
WORDS = {"one": 1, "two": 2, "three": 3}


@pytest.fixture(scope="module")
def shipped():
    (version,) = load_policy().versions
    return version


def number(text: str) -> int:
    return WORDS.get(text.lower()) if text.lower() in WORDS else int(text.replace(",", ""))


def prose(path: str) -> str:
    """A document with its line breaks as spaces (a count may wrap)."""
    return re.sub(r"\s+", " ", (ROOT / path).read_text(encoding="utf-8"))


def test_the_count_is_stated_one_way():
    assert rules_counted(86, 1) == "86 rules and 1 override"
    assert rules_counted(1, 2) == "1 rule and 2 overrides"
    assert rules_counted(4, 0) == "4 rules"


def test_every_document_that_counts_rules_says_what_the_policy_has(shipped):
    rules, overrides = len(shipped.rules), len(shipped.overrides)
    operative = sum(1 for c in shipped.clauses.values() if c.operative)
    everywhere = re.compile(r"\b(\d+|one|two|three) rules? and (?:the )?(\d+|one|two|three) "
                            r"overrides?\b", re.I)
    found = 0
    for path in ["README.md", *(f"docs/{p.name}" for p in sorted((ROOT / "docs").glob("*.md")))]:
        for m in everywhere.finditer(prose(path)):
            found += 1
            assert (number(m[1]), number(m[2])) == (rules, overrides), (path, m[0])
    assert found >= 4  # README, rule-format.md (twice), testing.md

    readme = prose("README.md")
    m = re.search(r"(\d+) operative clauses with (\d+) rules and (\d+) override", readme)
    assert m and (int(m[1]), int(m[2]), int(m[3])) == (operative, rules, overrides), m
    m = re.search(r"recorded reading, (\d+) in all", readme)
    assert m and int(m[1]) == len(shipped.interpretations)

    rule_format = prose("docs/rule-format.md")
    m = re.search(r"`securus-2019-05-04`, has (\d+) rules and (\d+) override .{0,30}over (\d+) "
                  r"operative clauses, and (\d+) interpretations", rule_format)
    assert m and [int(g) for g in m.groups()] == [rules, overrides, operative,
                                                  len(shipped.interpretations)], m
    m = re.search(r"`(\d+) rules and overrides`", rule_format)
    assert m and int(m[1]) == rules + overrides

    testing = prose("docs/testing.md")
    m = re.search(r"rule coverage: (\d+)/(\d+) rules and overrides fired \((\d+\.\d)%\): "
                  r"securus-2019-05-04: (\d+)/(\d+) rules and (\d+)/(\d+) override", testing)
    assert m, "docs/testing.md: the coverage example's total line"
    hit, total = int(m[1]), int(m[2])
    assert total == rules + overrides and (int(m[5]), int(m[7])) == (rules, overrides)
    assert int(m[4]) + int(m[6]) == hit and m[3] == f"{100 * hit / total:.1f}"
    m = re.search(r"fire all (\d+) rules and the (\d+) override", testing)
    assert m and (int(m[1]), int(m[2])) == (rules, overrides)


def test_the_outputs_count_as_the_documents_do(shipped, capsys):
    assert main(["rules", "check"]) == 0
    out = capsys.readouterr().out
    assert f"securus-2019-05-04: {shipped.counted} over clauses " in out
    assert main(["clauses"]) == 0
    out = capsys.readouterr().out
    operative = sum(1 for c in shipped.clauses.values() if c.operative)
    assert (f"  {shipped.counted} over {operative} operative clauses; "
            f"{len(shipped.clauses) - operative} informative") in out
    for letter in {o.clause for o in shipped.overrides}:
        of = [r for r in shipped.enforcing if r.clause == letter]
        said = rules_counted(sum(not isinstance(r, Override) for r in of),
                             sum(isinstance(r, Override) for r in of))
        assert re.search(rf"^  {letter} .* operative, {said}$", out, re.M), letter
    # the coverage report: the total counts both, the split states them as everywhere else
    coverage = RuleCoverage()
    coverage.add_policy(load_policy())
    last = coverage.report()[-1]
    assert last == (f"rule coverage: 0/{len(shipped.enforcing)} rules and overrides fired "
                    f"(0.0%): securus-2019-05-04: 0/{len(shipped.rules)} rules and "
                    f"0/{len(shipped.overrides)} override")
