"""The words `make demo` shows a reader: the explained decisions of the demo log, the clause
table and the explained example request, read through the real CLI as a reviewer reads them.

Articles agree with the word after them ("an attorney", never "a attorney"), a clause title is
printed whole (never cut mid-word, "... in support of law en"), and a disclosure denied because
no rule permits it cites the reading that makes that a deny ("what no rule permits is denied"),
not the sentence of clause E the fallback rule is filed under ("for commercial purposes")."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from clauseline import load_policy

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "examples" / "demo-log.jsonl"
ENV = {"CLAUSELINE_REDACTION_KEY": "k", "PATH": "/usr/bin:/bin"}

#: "a" before a word that begins with a vowel sound. Words in "u" that begin with the sound of
#: "you" ("a user", "a unique", "a union", "a utility", "a usual") take "a"; "one" ("a one-off")
#: too. The clause letter "A" ("A announces") is not an article: only the lowercase one counts.
WRONG_A = re.compile(r"(?<![\w`'-])a ([aeio](?!ne\b|ne-)\w*|u(?!s|ni|ti|r|bi)\w*|hour\w*|honest\w*)")
#: "an" before a consonant sound (lowercase words: "an SVV session" is right, said "ess").
WRONG_AN = re.compile(r"(?<![\w`'-])an ((?!h(?:our|onest|onou?r))[b-df-hj-np-tv-z]\w*|u(?:s|ni|ti)\w*)")


def cli(*args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "clauseline", *args], capture_output=True,
                          text=True, cwd=ROOT, timeout=600, env=ENV)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def demo_text() -> str:
    """What `make demo` writes to out/demo-decisions.txt: every decision, explained."""
    return cli("replay", str(DEMO), "--format", "text", "--explain")


@pytest.fixture(scope="module")
def shown(demo_text) -> dict[str, str]:
    return {"replay --format text --explain": demo_text,
            "clauses": cli("clauses"),
            "evaluate --explain": cli("evaluate", "--explain", "examples/disclosure-request.json")}


def test_articles_agree_with_the_word_after_them(shown):
    # the case the audit found: R's violation naming the user type of an exempt attorney
    assert any("recording.exempt_user_type" in line and "attorney" in line
               for line in shown["replay --format text --explain"].splitlines())
    wrong = [f"{where}: ...{line.strip()[:160]}" for where, text in shown.items()
             for line in text.splitlines() if WRONG_A.search(line) or WRONG_AN.search(line)]
    assert wrong == [], "\n".join(wrong[:10])


def test_clause_titles_are_printed_whole():
    policy = load_policy()
    table = cli("clauses")
    titles = {letter: clause.title for letter, clause in policy.latest.clauses.items()}
    rows = {m.group(1): m.group(2) for m in re.finditer(
        r"^  ([A-W])  (.*?)\s+(?:operative|informative|UNACCOUNTED)", table, re.M)}
    assert set(rows) == set(titles)
    cut = {letter: row for letter, row in rows.items() if row != titles[letter]}
    assert cut == {}, f"titles cut: {cut}"


def test_a_default_deny_cites_the_closed_world_reading_not_the_commercial_sentence(shown):
    for where, text in shown.items():
        lines = text.splitlines()
        denied = [i for i, line in enumerate(lines) if line.rstrip().endswith("[E.no-other-transfer]")]
        if where != "clauses":
            assert denied, f"{where}: expected a category that no rule permits"
        for i in denied:
            reasons = []
            for line in lines[i + 1:]:
                if not line.startswith("        "):
                    break
                reasons.append(line)
            text_of = "\n".join(reasons)
            assert "for commercial purposes" not in text_of, f"{where}:\n{lines[i]}\n{text_of}"
            assert "reading disclosure.closed-world" in text_of, f"{where}:\n{lines[i]}\n{text_of}"
