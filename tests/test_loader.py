"""The strict loader: every kind of rule-file mistake is refused with file, line and key."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from clauseline import PolicyLoadError, load_policy
from clauseline.resources import rules_dir

GOOD_RULE = """\
clause: C
rules:
  - id: C.extra-rule
    title: An extra rule
    quote: >-
      Upon completion of a transaction, your private information (e.g., credit cards or debit
      card number, bank routing or checking account numbers) will not be stored on our servers.
    when:
      event: payment.made
      match:
        data.status: completed
    emit:
      - kind: violation
        violation: test.fired
        ref: "{data.transaction_id}"
        detail: fired
"""


@pytest.fixture
def rules(tmp_path):
    """A writable copy of the shipped rules folder."""
    target = tmp_path / "rules"
    shutil.copytree(rules_dir(), target, ignore=shutil.ignore_patterns("__pycache__", "__init__.py"))
    return target


def write_rule_file(rules, name, text):
    path = rules / "securus-2019-05-04" / "clauses" / name
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(rules):
    with pytest.raises(PolicyLoadError) as caught:
        load_policy(rules)
    return caught.value.problems


def test_a_well_formed_extra_rule_loads(rules):
    write_rule_file(rules, "C_extra.yaml", GOOD_RULE)
    policy = load_policy(rules)
    assert policy.latest.rule("C.extra-rule").events == ("payment.made",)


@pytest.mark.parametrize("broken, code, line, key", [
    (GOOD_RULE.replace("    when:", "    wehn:"), "unknown_field", 8, "rules[0].wehn"),
    (GOOD_RULE.replace("      match:", "      mtach:"), "unknown_field", 10, "rules[0].when.mtach"),
    (GOOD_RULE.replace("clause: C\n", ""), "missing_field", None, "clause"),
    (GOOD_RULE.replace("clause: C", "clause: X"), "unknown_clause", 1, "clause"),
    (GOOD_RULE.replace("clause: C", "clause: F"), "informative_clause_has_rules", 1, "clause"),
    (GOOD_RULE.replace("C.extra-rule", "E.extra-rule"), "rule_id_clause_mismatch", 3, "rules[0].id"),
    (GOOD_RULE.replace("will not be stored", "will be kept"), "quote_not_found", 5, "rules[0].quote"),
    (GOOD_RULE.replace("payment.made", "payment.maed"), "unknown_event_type", 9, "rules[0].when.event"),
    (GOOD_RULE.replace("data.status: completed", "data.status: {inn: [completed]}"), "bad_condition", 11, "rules[0].when.match.data.status"),
    (GOOD_RULE.replace("data.status: completed", "item: completed"), "bad_condition", 11, "rules[0].when.match.item"),
    (GOOD_RULE.replace("data.status: completed", "id: e-1"), "bad_condition", 11, "rules[0].when.match.id"),
    (GOOD_RULE.replace('"{data.transaction_id}"', '"{data.transaction_id|add_weeks:1}"'), "bad_template", 15, "rules[0].emit[0].ref"),
    (GOOD_RULE.replace('"{data.transaction_id}"', '"{secret.value}"'), "bad_template", 15, "rules[0].emit[0].ref"),
    (GOOD_RULE.replace("        detail: fired\n", ""), "missing_field", 13, "rules[0].emit[0].detail"),
    (GOOD_RULE.replace("    title: An extra rule\n", "    title: An extra rule\n    title: twice\n"), "duplicate_key", 5, None),
    (GOOD_RULE.replace("C.extra-rule", "C.purge-payment-numbers-after-transaction"), "duplicate_rule_id", 3, "rules[0].id"),
    (GOOD_RULE.replace("    when:", "    fallback: true\n    when:"), "bad_fallback", 8, None),
    (GOOD_RULE.replace("kind: violation", "kind: violatoin"), "invalid_value", 13, "rules[0].emit[0].kind"),
    ("clause: C\nrules: [\n", "yaml_syntax", None, None),
    # durable_rules hangs on an in-list of 512 values and refuses a constant with an exponent
    (GOOD_RULE.replace("data.status: completed", "data.amount: {in: [%s]}" % ", ".join(
        str(i) for i in range(257))), "bad_condition", 11, "rules[0].when.match.data.amount"),
    (GOOD_RULE.replace("data.status: completed", "data.amount: {gt: 1.0e-7}"), "bad_condition", 11, "rules[0].when.match.data.amount"),
    (GOOD_RULE.replace("data.status: completed", "data.amount: {lt: 1.0e+20}"), "bad_condition", 11, "rules[0].when.match.data.amount"),
])
def test_each_mistake_is_refused_with_its_place(rules, broken, code, line, key):
    write_rule_file(rules, "C_extra.yaml", broken)
    problems = [p for p in problems_of(rules) if p.file.endswith("C_extra.yaml")]
    assert problems, "the broken file loaded without a problem"
    found = [p for p in problems if p.code == code]
    assert found, f"expected {code}, got {[str(p) for p in problems]}"
    assert found[0].file == "rules/securus-2019-05-04/clauses/C_extra.yaml"
    if line is not None:
        assert found[0].line == line, str(found[0])
    if key is not None:
        assert found[0].key == key, str(found[0])


def test_an_unknown_operator_is_answered_with_every_operator_the_language_has(rules):
    from clauseline.policy.compiler import OPERATORS

    write_rule_file(rules, "C_extra.yaml", GOOD_RULE.replace("data.status: completed",
                                                              "data.status: {inn: [completed]}"))
    [problem] = [p for p in problems_of(rules) if p.code == "bad_condition"]
    listed = problem.message.split("one operator of: ")[1].split("; got")[0].split(", ")
    # equality is written as a bare scalar; every other operator is listed by name
    assert problem.message.startswith("a condition is a scalar (equality)")
    assert sorted(listed + ["eq"]) == sorted(OPERATORS) and len(OPERATORS) == 21
    assert "{'inn': ['completed']}" in problem.message


def test_every_problem_is_reported_not_only_the_first(rules):
    write_rule_file(rules, "C_extra.yaml", GOOD_RULE.replace("    when:", "    wehn:"))
    write_rule_file(rules, "Z.yaml", GOOD_RULE.replace("clause: C", "clause: Z").replace("C.extra", "Z.extra"))
    codes = {(Path(p.file).name, p.code) for p in problems_of(rules)}
    assert {("C_extra.yaml", "unknown_field"), ("Z.yaml", "unknown_clause")} <= codes


def test_policy_index_must_account_for_every_clause(rules):
    index = rules / "securus-2019-05-04" / "policy.yaml"
    text = index.read_text(encoding="utf-8")
    index.write_text(text.replace("  Q: {title: Visits, operative: true}\n", ""), encoding="utf-8")
    problems = problems_of(rules)
    [missing] = [p for p in problems if p.code == "clause_not_indexed"]
    assert "clause Q" in missing.message and missing.file.endswith("policy.yaml")


def test_informative_clause_needs_a_reason(rules):
    index = rules / "securus-2019-05-04" / "policy.yaml"
    text = index.read_text(encoding="utf-8")
    start = text.index("  F:\n")
    end = text.index("  G:")
    index.write_text(text[:start] + "  F: {title: Third party links, operative: false}\n" + text[end:], encoding="utf-8")
    problems = problems_of(rules)
    assert [p.code for p in problems] == ["missing_field"]
    assert problems[0].key == "clauses.F.reason"


def test_interpretation_sentence_must_be_verbatim(rules):
    path = rules / "securus-2019-05-04" / "interpretations" / "core.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace(
        "as required by law in response to subpoenas", "as required by law in reply to subpoenas"),
        encoding="utf-8")
    assert "quote_not_found" in {p.code for p in problems_of(rules)}


def test_rule_citing_an_unknown_interpretation_is_refused(rules):
    write_rule_file(rules, "C_extra.yaml", GOOD_RULE.replace(
        "    when:", "    interpretations: [no.such-reading]\n    when:"))
    assert [p.code for p in problems_of(rules)] == ["unknown_interpretation"]


def test_facility_profiles_are_validated(rules):
    (rules / "facilities.yaml").write_text("facilities:\n  - id: tx-1\n    exempts: [attorney]\n", encoding="utf-8")
    [problem] = problems_of(rules)
    assert (problem.code, problem.line, problem.key) == ("unknown_field", 3, "facilities[0].exempts")


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "clauseline", *args], capture_output=True, text=True)


def test_rules_check_command_locates_errors_and_fails(rules):
    write_rule_file(rules, "C_extra.yaml", GOOD_RULE.replace("      match:", "      mtach:"))
    result = run_cli("--rules", str(rules), "rules", "check")
    assert result.returncode == 1
    assert "rules/securus-2019-05-04/clauses/C_extra.yaml:10: rules[0].when.mtach: unknown_field" in result.stderr


def test_rules_check_command_passes_on_the_shipped_rules():
    result = run_cli("rules", "check")
    assert result.returncode == 0, result.stderr
    assert "securus-2019-05-04:" in result.stdout and result.stdout.strip().endswith("ok")


def test_rule_paths_that_durable_rules_would_confuse_are_refused(rules):
    """durable_rules matches property names by a 32-bit FNV-1a hash only: two rule paths with
    one hash (``data.mdtrw`` and ``data.sckxa``, found by a birthday search) would be read as
    one, so the loader refuses them instead of deciding wrongly."""
    from clauseline.policy.compiler import fnv1a_32
    assert fnv1a_32("data.mdtrw") == fnv1a_32("data.sckxa")
    extra = GOOD_RULE.replace("data.status: completed",
                              "data.mdtrw: 1\n        data.sckxa: 2")
    write_rule_file(rules, "C_extra.yaml", extra)
    found = problems_of(rules)
    assert [p.code for p in found] == ["bad_condition"]
    assert "data.mdtrw and data.sckxa" in found[0].message
