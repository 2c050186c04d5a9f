"""The policy's meaning lives in the policy: a clause added in YAML alone loads, fires and gives
a decision the engine's own schema accepts; what a decision would carry is checked against the
schemas at load, located; the profile's derived fields, what events change in it and what a
facility exempts by default come from policy.yaml; and the policy hash covers the schemas."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from clauseline import PolicyLoadError, load_policy
from clauseline.events.validation import BASE, SchemaSet
from clauseline.resources import rules_dir, schemas_dir

VERSION = "securus-2019-05-04"

CLAUSE_X_HEADING = """

###### X) Thank-you notes

After every completed payment we send you a thank-you note by email.
"""

CLAUSE_X_RULES = """\
clause: X
rules:
  - id: X.thank-you-note
    title: A completed payment gets a thank-you note
    quote: After every completed payment we send you a thank-you note by email.
    when:
      event: payment.made
      match:
        data.status: completed
    emit:
      - kind: notice
        notice: payment.thank_you
        to: "{subject}"
        channel: email
        due_by: "{time|add_days:1}"
"""

PAYMENT = {"specversion": "1.0", "id": "x-1", "source": "/billing", "type": "payment.made",
           "time": "2019-07-01T09:00:00Z", "subject": "acct-1",
           "data": {"transaction_id": "tx-1", "amount": 12.5, "currency": "USD",
                    "instrument": "debit_card", "status": "completed",
                    "encrypted_in_transit": True, "product": "advance_connect"}}


@pytest.fixture
def rules(tmp_path):
    """A writable copy of the shipped policy version and the facility profiles."""
    target = tmp_path / "rules"
    shutil.copytree(rules_dir() / VERSION, target / VERSION,
                    ignore=shutil.ignore_patterns("__pycache__", "__init__.py"))
    shutil.copy(rules_dir() / "facilities.yaml", target / "facilities.yaml")
    return target


def cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "clauseline", *args], capture_output=True,
                          text=True, timeout=300, cwd=cwd)


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new), encoding="utf-8")


def add_clause_x(rules: Path, rule_text: str = CLAUSE_X_RULES) -> Path:
    version = rules / VERSION
    with open(version / "source.md", "a", encoding="utf-8") as source:
        source.write(CLAUSE_X_HEADING)
    edit(version / "policy.yaml", "  W:\n", "  X: {title: Thank-you notes, operative: true}\n  W:\n")
    path = version / "clauses" / "X.yaml"
    path.write_text(rule_text, encoding="utf-8")
    return path


def test_a_clause_added_in_yaml_alone_is_checked_fires_and_validates(rules, tmp_path):
    add_clause_x(rules)
    checked = cli("rules", "check", "--rules", str(rules))
    assert checked.returncode == 0, checked.stderr
    assert "X" in checked.stdout.split("over clauses ")[1].split(",")[0]
    event = tmp_path / "payment.json"
    event.write_text(json.dumps(PAYMENT), encoding="utf-8")
    evaluated = cli("evaluate", "--rules", str(rules), str(event))
    assert evaluated.returncode == 0, evaluated.stderr
    decision = json.loads(evaluated.stdout)
    assert "X.thank-you-note" in decision["trace"]
    [note] = [o for o in decision["outcomes"] if o["rule"] == "X.thank-you-note"]
    assert (note["clause"], note["notice"], note["due_by"]) == ("X", "payment.thank_you",
                                                               "2019-07-02T09:00:00Z")
    # the shipped decision schema, as an integrator validates what the engine answers
    assert SchemaSet(schemas_dir()).problems(decision, BASE + "decision.schema.json") == []


def test_an_emit_naming_an_unknown_data_category_is_refused_with_its_line(rules):
    bad = CLAUSE_X_RULES.replace(
        "      - kind: notice\n",
        "      - kind: retention\n"
        "        action: delete\n"
        "        data_categories:\n"
        "          - email\n"
        "          - web_activity\n"
        "        target: \"payment:{data.transaction_id}\"\n"
        "        due_by: \"{time}\"\n"
        "      - kind: notice\n")
    path = add_clause_x(rules, bad)
    line = bad.splitlines().index("          - web_activity") + 1
    checked = cli("rules", "check", "--rules", str(rules))
    assert checked.returncode == 1
    [message] = [m for m in checked.stderr.splitlines() if "web_activity" in m]
    assert f"{VERSION}/clauses/X.yaml:{line}:" in message
    assert "rules[0].emit[0].data_categories[1]: unknown_constant" in message
    assert "'email'" not in checked.stderr  # the known category is not reported
    assert path.exists()


@pytest.mark.parametrize("field, value, message", [
    ("recipient", "space_agency", "'space_agency' is not allowed by the outcome schema"),
    ("purpose", "curiosity", "'curiosity' is not allowed by the outcome schema"),
])
def test_an_emit_naming_an_unknown_recipient_or_purpose_is_refused(rules, field, value, message):
    rule = CLAUSE_X_RULES.replace(
        "      - kind: notice\n",
        "      - kind: disclosure\n"
        "        effect: permit\n"
        f"        recipient: {'%s' % value if field == 'recipient' else 'vendor'}\n"
        f"        purpose: {'%s' % value if field == 'purpose' else 'service_provision'}\n"
        "        data_categories: [email]\n"
        "      - kind: notice\n")
    add_clause_x(rules, rule)
    with pytest.raises(PolicyLoadError) as caught:
        load_policy(rules)
    [problem] = caught.value.problems
    assert (problem.code, problem.key) == ("unknown_constant", f"rules[0].emit[0].{field}")
    assert message in problem.message and problem.file.endswith("clauses/X.yaml")
    assert problem.line == rule.splitlines().index(f"        {field}: {value}") + 1


def test_a_schema_narrower_than_the_policy_refuses_its_rules_at_load(rules, tmp_path):
    """The clause letters and rule ids the schemas allow are checked against the policy's: a
    schema set that allows only A to W refuses clause X's rule at load, not at its decision."""
    add_clause_x(rules)
    schemas = tmp_path / "schemas"
    shutil.copytree(schemas_dir(), schemas, ignore=shutil.ignore_patterns("__pycache__", "*.py"))
    edit(schemas / "outcome.schema.json", '"pattern": "^[A-Z]$",\n      "maxLength": 1\n    },\n    "rule"',
         '"pattern": "^[A-W]$",\n      "maxLength": 1\n    },\n    "rule"')
    with pytest.raises(PolicyLoadError) as caught:
        load_policy(rules, schemas=SchemaSet(schemas))
    [problem] = caught.value.problems
    assert problem.code == "bad_rule_id" and "'X'" in problem.message
    assert problem.file.endswith("clauses/X.yaml") and problem.key == "rules[0].id"


def ccpa_cycle(state_policy, region: str):
    from clauseline import Session
    session = Session(state_policy)
    opened = {"specversion": "1.0", "id": "o-1", "source": "/accounts", "type": "account.opened",
              "time": "2019-07-01T08:00:00Z", "subject": "s-1",
              "data": {"profile": {"role": "customer", "residence": {"country": "US", "region": region}},
                       "collected": ["name"], "channel": "web"}}
    filed = {"specversion": "1.0", "id": "f-1", "source": "/ccpa", "type": "ccpa.request.filed",
             "time": "2019-07-02T08:00:00Z", "subject": "s-1",
             "data": {"request_id": "r-1", "kinds": ["categories"], "delivery": "mail",
                      "has_account": True}}
    session.submit(opened)
    return session.submit(filed)


def test_derived_fields_and_profile_changes_are_read_from_policy_yaml(rules):
    shipped = load_policy(rules)
    texan = ccpa_cycle(shipped, "US-TX")
    assert "U.ccpa-respond-within-45-days" not in texan.trace
    version = rules / VERSION
    # the policy author reads "California" as Texas: no Python changes, the decisions follow
    edit(version / "policy.yaml", "{equal: [profile.residence.region, US-CA]",
         "{equal: [profile.residence.region, US-TX]")
    moved = load_policy(rules)
    assert "U.ccpa-respond-within-45-days" in ccpa_cycle(moved, "US-TX").trace
    assert "U.ccpa-respond-within-45-days" not in ccpa_cycle(moved, "US-CA").trace
    assert moved.latest.content_hash != shipped.latest.content_hash
    # an account.opened that no longer replaces the profile leaves the subject without residence
    edit(version / "policy.yaml", "  account.opened: {replace: data.profile}\n", "")
    edit(version / "policy.yaml", '  "*": {merge: data.profile}\n', "")
    unchanged = ccpa_cycle(load_policy(rules), "US-TX")
    assert "U.ccpa-respond-within-45-days" not in unchanged.trace


def test_what_a_facility_exempts_by_default_is_policy_data(rules):
    from clauseline import Session
    call = {"specversion": "1.0", "id": "c-1", "source": "/calls", "type": "call.recorded",
            "time": "2019-07-01T09:00:00Z", "subject": "det-1",
            "data": {"call_id": "call-1", "facility_id": "unlisted-facility",
                     "recording_id": "rec-1", "monitored": True,
                     "parties": [{"subject": "det-1", "user_type": "inmate"},
                                 {"subject": "cl-1", "user_type": "clergy"}],
                     "collected": ["voice"]}}

    def violations(policy):
        decision = Session(policy).submit(call)
        assert decision.status == "accepted", decision.errors
        return [o["violation"] for o in decision.as_dict()["outcomes"] if o["kind"] == "violation"]

    assert "recording.exempt_user_type" not in violations(load_policy(rules))
    edit(rules / VERSION / "policy.yaml", "  exempt_user_types: [attorney]\n",
         "  exempt_user_types: [attorney, clergy]\n")
    assert "recording.exempt_user_type" in violations(load_policy(rules))


@pytest.mark.parametrize("old, new, code, key, token", [
    ("  age: {years_since: profile.birth_date}\n", "  age: {years_since: profile.birthday}\n",
     "bad_derivation", "derived.age.years_since", "profile.birthday"),
    ("  age: {years_since: profile.birth_date}\n", "  role: {years_since: profile.birth_date}\n",
     "bad_derivation", "derived.role", "role:"),
    ("  age: {years_since: profile.birth_date}\n", "  age: {days_since: profile.birth_date}\n",
     "unknown_field", "derived.age.days_since", "days_since"),
    ("  account.opened: {replace: data.profile}\n", "  account.openned: {replace: data.profile}\n",
     "unknown_event_type", "profile_changes.account.openned", "account.openned"),
    ("    set: {birth_date: data.birth_date,", "    set: {age: data.age, birth_date: data.birth_date,",
     "bad_derivation", "profile_changes.child.identified", "child.identified:"),
])
def test_declarations_the_engine_cannot_follow_are_refused_at_load(rules, old, new, code, key,
                                                                   token):
    index = rules / VERSION / "policy.yaml"
    edit(index, old, new)
    with pytest.raises(PolicyLoadError) as caught:
        load_policy(rules)
    found = [(p.code, p.key) for p in caught.value.problems]
    assert (code, key) in found, found
    [problem] = [p for p in caught.value.problems if (p.code, p.key) == (code, key)]
    lines = index.read_text(encoding="utf-8").splitlines()
    assert problem.file.endswith("policy.yaml")
    assert token in lines[problem.line - 1]


def test_a_rule_reading_a_profile_field_nobody_derives_is_refused(rules):
    index = rules / VERSION / "policy.yaml"
    edit(index, "  outside_us: {not_equal: [profile.residence.country, US]}\n", "")
    with pytest.raises(PolicyLoadError) as caught:
        load_policy(rules)
    [problem] = caught.value.problems
    assert (problem.code, problem.file.rsplit("/", 1)[-1]) == ("bad_condition", "S.yaml")
    assert "'outside_us'" in problem.message and problem.key.endswith("match.profile.outside_us")
    lines = (rules / VERSION / "clauses" / "S.yaml").read_text(encoding="utf-8").splitlines()
    assert "profile.outside_us:" in lines[problem.line - 1]


def test_the_policy_hash_covers_the_schemas(rules, tmp_path):
    schemas = tmp_path / "schemas"
    shutil.copytree(schemas_dir(), schemas, ignore=shutil.ignore_patterns("__pycache__", "*.py"))
    same = load_policy(rules, schemas=SchemaSet(schemas)).latest.content_hash
    assert same == load_policy(rules).latest.content_hash
    edit(schemas / "defs.schema.json", '"title": "Data category"', '"title": "Data category (v2)"')
    changed = load_policy(rules, schemas=SchemaSet(schemas)).latest.content_hash
    assert changed != same


@pytest.mark.slow  # three CLI runs, two of them replaying
def test_the_report_names_the_engine_version_and_policy_hash_that_decided(tmp_path):
    import clauseline
    log = tmp_path / "log.jsonl"
    log.write_text(json.dumps(PAYMENT) + "\n", encoding="utf-8")
    db = f"sqlite:///{tmp_path / 'r.db'}"
    stored = cli("replay", str(log), "--db", db)
    assert stored.returncode == 0, stored.stderr
    policy_hash = load_policy().latest.content_hash
    for source in (["--db", db], [str(log)]):
        page = tmp_path / "report.html"
        made = cli("report", *source, "--out", str(page))
        assert made.returncode == 0, made.stderr
        html = page.read_text(encoding="utf-8")
        assert f'data-stat="engine_versions">{clauseline.__version__} (1)</span>' in html
        assert f"<code>{policy_hash}</code> (1)" in html
