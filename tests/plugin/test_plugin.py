"""The clauseline pytest plugin, tested as pytest plugins are: pytest runs inside pytest."""

from __future__ import annotations

import re
import shutil
import textwrap

import pytest

INI = "[pytest]\nclauseline_scenarios = scenarios\n"

PASSING = """\
name: law enforcement gets voice but not ssn
defaults: {subject: acct-1, time: "2019-07-01T09:00:00Z"}
events:
  - type: disclosure.requested
    data:
      request_id: r-1
      recipient: {kind: law_enforcement, name: Dallas PD}
      purpose: law_enforcement_activity
      data_categories: [voice, ssn]
    expect:
      outcomes:
        - {effect: permit, recipient: law_enforcement, data_categories: [voice]}
        - {effect: deny, recipient: law_enforcement, data_categories: [ssn]}
      only: true
"""


@pytest.fixture
def project(pytester):
    pytester.makeini(INI)
    (pytester.path / "scenarios").mkdir()
    return pytester


def lines(result, patterns):
    """fnmatch the output against ``patterns``, whose brackets are literal."""
    result.stdout.fnmatch_lines([p.replace("[", "[[]") for p in patterns])


def scenario(pytester, name: str, text: str):
    path = pytester.path / "scenarios" / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_a_passing_scenario_is_one_test_named_after_it(project):
    scenario(project, "le.yaml", PASSING)
    result = project.runpytest("-v")
    result.assert_outcomes(passed=1)
    lines(result, ["*scenarios/le.yaml::law enforcement gets voice but not ssn PASSED*"])


def test_a_failing_scenario_shows_expected_beside_actual_and_the_rules_fired(project):
    scenario(project, "le.yaml", PASSING.replace("data_categories: [voice]}", "data_categories: [voice, ssn]}"))
    result = project.runpytest()
    result.assert_outcomes(failed=1)
    lines(result, [
        "*scenario 'law enforcement gets voice but not ssn' failed:*",
        "scenarios/le.yaml:4: step 1 (disclosure.requested): expected outcome not found: "
        "{effect: permit, recipient: law_enforcement, data_categories: [voice, ssn]}",
        "closest actual outcomes:",
        "  - disclosure effect=permit recipient=law_enforcement * data_categories=[voice] *"
        "<- G.law-enforcement-disclosure (clause G)",
        "      2 of 3 fields match; data_categories: expected to include [ssn, voice], got [voice]",
        "*rules fired:",
        "  - E.no-other-transfer  clause E: Anything no rule permits is not transferred  (*E.yaml:*)",
        "  - G.law-enforcement-disclosure  clause G: *",
    ])
    assert "Traceback" not in result.stdout.str()


def test_absent_only_status_and_trace_failures_are_reported_together(project):
    scenario(project, "le.yaml", """\
        name: several unmet expectations
        defaults: {subject: acct-1}
        events:
          - type: disclosure.requested
            data:
              request_id: r-1
              recipient: {kind: law_enforcement, name: Dallas PD}
              purpose: law_enforcement_activity
              data_categories: [voice, ssn]
            expect:
              outcomes: [{effect: permit, data_categories: [voice]}]
              absent: [{effect: deny}]
              only: true
              trace_includes: [P.regulator-investigation]
          - tick: P1D
            expect: {status: rejected}
        """)
    result = project.runpytest()
    result.assert_outcomes(failed=1)
    lines(result, [
        "*expected no outcome matching {effect: deny}, found 1:",
        "*expected only the listed outcomes, also found:",
        "*expected rule P.regulator-investigation to fire",
        "*step 2 (clock.tick): expected status rejected, got accepted",
    ])


@pytest.mark.parametrize("text, expected", [
    ("name: x\nevents:\n  - type: clock.tick\n    expectt: {status: accepted}\n",
     "scenarios/bad.yaml:4: events[0].expectt: unknown_field: unknown key 'expectt'; *"),
    ("name: quiet\nevents:\n  - type: clock.tick\n",
     "scenarios/bad.yaml:1: name: no_expectations: scenario 'quiet' expects nothing*"),
    ("name: x\nevents:\n  - tick: P1D\n    type: clock.tick\n    expect: {status: accepted}\n",
     "scenarios/bad.yaml:3: events[0]: bad_step: a step has exactly one of *; got type, tick"),
    ("name: x\nevents:\n  - tick: 3 days\n    expect: {status: accepted}\n",
     "scenarios/bad.yaml:3: events[0].tick: invalid_value: '3 days' does not match *"),
    ("name: x\nevents: [\n", "scenarios/bad.yaml:*: yaml_syntax: *"),
    ("name: x\nname: y\nevents: []\n", "scenarios/bad.yaml:2: duplicate_key: *"),
    ("events:\n  - tick: P1D\n    expect: {status: accepted}\n",
     "scenarios/bad.yaml:1: name: missing_field: required key 'name' is missing"),
])
def test_a_malformed_scenario_file_is_a_located_collection_error(project, text, expected):
    (project.path / "scenarios" / "bad.yaml").write_text(text, encoding="utf-8")
    result = project.runpytest()
    result.assert_outcomes(errors=1)
    lines(result, ["*ERROR collecting scenarios/bad.yaml*", "invalid scenario file:", expected])


def test_every_problem_of_a_file_is_reported_at_once(project):
    scenario(project, "bad.yaml", """\
        scenarios:
          - name: same
            events: [{tick: P1D, expect: {status: accepted}}]
          - name: same
            events: [{tick: P1D, expect: {status: accepted}}]
          - name: nothing expected
            events: [{tick: P1D}]
        """)
    result = project.runpytest()
    lines(result, [
        "scenarios/bad.yaml:4: scenarios[1].name: duplicate_name: *",
        "scenarios/bad.yaml:6: scenarios[2].name: no_expectations: *",
    ])


def test_several_scenarios_per_file_share_defaults_and_a_log_keys_expectations_by_event_id(project):
    log = project.path / "scenarios" / "calls.jsonl"
    log.write_text(
        '{"specversion": "1.0", "id": "e-1", "source": "/calls", "type": "payment.made", '
        '"time": "2019-07-01T09:00:00Z", "subject": "acct-1", "data": {"transaction_id": "t-1", '
        '"amount": 1, "currency": "USD", "instrument": "debit_card", "status": "completed", '
        '"encrypted_in_transit": false, "product": "calls"}}\n', encoding="utf-8")
    scenario(project, "suite.yaml", """\
        defaults: {subject: acct-1, time: "2019-07-01T09:00:00Z"}
        scenarios:
          - name: replayed log
            log: calls.jsonl
            expect:
              e-1:
                outcomes:
                  - {kind: violation, clause: C}
                  - {kind: retention, action: purge, target: "payment:t-1", due_by: "2019-07-01T04:00:00-05:00"}
          - name: clock ticks are accepted
            events:
              - tick: P46D
                expect: {outcomes: []}
        """)
    result = project.runpytest("-v")
    result.assert_outcomes(passed=2)
    lines(result, ["*::replayed log PASSED*", "*::clock ticks are accepted PASSED*"])


def sdk_log(project) -> list[str]:
    """A log as a CloudEvents SDK writes it: random UUID ids; then a blank line and a torn line."""
    import uuid
    ids = [str(uuid.uuid4()) for _ in range(2)]
    payment = ('{"specversion": "1.0", "id": "%s", "source": "/calls", "type": "payment.made", '
               '"time": "2019-07-01T09:00:00+00:00", "subject": "acct-1", "data": {"transaction_id": '
               '"t-%d", "amount": 1, "currency": "USD", "instrument": "debit_card", "status": "completed", '
               '"encrypted_in_transit": %s, "product": "calls"}}')
    (project.path / "scenarios" / "sdk.jsonl").write_text(
        payment % (ids[0], 1, "false") + "\n" + payment % (ids[1], 2, "true") + "\n\n"
        + '{"specversion": "1.0", "id": \n', encoding="utf-8")
    return ids


def test_a_log_scenario_addresses_events_by_line_number(project):
    sdk_log(project)
    scenario(project, "sdk.yaml", """\
        name: events by line
        log: sdk.jsonl
        expect_lines:
          1:
            outcomes: [{kind: violation, clause: C}, {kind: retention, action: purge, target: "payment:t-1"}]
          2:
            absent: [{kind: violation}]
          4:
            status: rejected
            errors: [{code: event.invalid_json}]
        """)
    result = project.runpytest("-v")
    result.assert_outcomes(passed=1)
    lines(result, ["*sdk.yaml::events by line PASSED*"])


def test_a_line_expectation_that_fails_names_the_log_line_and_the_scenario_line(project):
    sdk_log(project)
    scenario(project, "sdk.yaml", """\
        name: events by line
        log: sdk.jsonl
        expect_lines:
          2:
            outcomes: [{kind: violation, clause: C}]
        """)
    result = project.runpytest()
    result.assert_outcomes(failed=1)
    lines(result, ["scenarios/sdk.yaml:4: sdk.jsonl line 2: expected outcome not found: "
                   "{kind: violation, clause: C}"])


@pytest.mark.parametrize("line, why", [(3, "is blank"), (9, "is past its end (4 lines)")])
def test_a_line_that_holds_no_event_is_a_located_collection_error(project, line, why):
    sdk_log(project)
    scenario(project, "sdk.yaml", f"""\
        name: events by line
        log: sdk.jsonl
        expect_lines:
          1: {{status: accepted}}
          {line}: {{status: accepted}}
        """)
    result = project.runpytest()
    result.assert_outcomes(errors=1)
    lines(result, ["invalid scenario file:",
                   f"scenarios/sdk.yaml:5: expect_lines[{line}]: unknown_line: line {line} of sdk.jsonl "
                   f"{why}: no event there to expect anything of"])


def test_scenario_folders_are_configured_and_other_yaml_is_left_alone(pytester):
    pytester.makeini("[pytest]\nclauseline_scenarios = cases/*/*.yaml\n")
    (pytester.path / "cases" / "E").mkdir(parents=True)
    (pytester.path / "cases" / "E" / "le.yaml").write_text(PASSING, encoding="utf-8")
    (pytester.path / "config.yaml").write_text("not: a scenario\n", encoding="utf-8")
    result = pytester.runpytest("-v")
    result.assert_outcomes(passed=1)


FIXTURE_TESTS = """
import pytest
from clauseline.testing import (assert_denies, assert_nothing, assert_permits, assert_retention,
                                assert_violation)

REQUEST = {"request_id": "r-1", "recipient": {"kind": "law_enforcement", "name": "PD"},
           "purpose": "law_enforcement_activity", "data_categories": ["voice", "ssn"]}
PAYMENT = {"transaction_id": "t-1", "amount": 1, "currency": "USD", "instrument": "credit_card",
           "status": "completed", "encrypted_in_transit": True, "product": "calls"}


def test_fixtures(clauseline, clauseline_clock):
    d = clauseline.send("disclosure.requested", REQUEST, subject="acct-1")
    assert d.status == "accepted" and d.event_id.startswith("auto-")
    assert d.time == "2019-05-04T00:00:00Z"
    assert_permits(d, ["voice"], "law_enforcement", purpose="law_enforcement_activity")
    assert_denies(d, "ssn", "law_enforcement", exact=True)
    d = clauseline.send("payment.made", PAYMENT, subject="acct-1", after="PT90M")
    assert_retention(d, "purge", "payment:t-1", by="2019-05-04T01:30:00Z", categories=["credit_card"])
    assert_nothing(d, "violation")
    tick = clauseline.tick("P46D")
    assert tick.time == clauseline_clock.time == "2019-06-19T01:30:00Z"
    assert len(clauseline.decisions) == 3


@pytest.mark.clauseline(start="2019-07-01T09:00:00Z", subject="acct-9", source="/mine")
def test_marker(clauseline):
    d = clauseline.send("payment.made", dict(PAYMENT, encrypted_in_transit=False))
    assert (d.time, d.event_source) == ("2019-07-01T09:00:00Z", "/mine")
    assert_violation(d, "C", "payment.unencrypted_in_transit", subject="acct-9")


def test_factory(clauseline_timeline):
    timeline = clauseline_timeline(start="2020-01-01T00:00:00Z", subject="acct-2")
    assert timeline.send("payment.made", PAYMENT).time == "2020-01-01T00:00:00Z"


def test_failing_assertion(clauseline):
    d = clauseline.send("disclosure.requested", REQUEST, subject="acct-1")
    assert_permits(d, ["ssn"], "law_enforcement")
"""


def test_fixtures_and_assertion_helpers(pytester):
    pytester.makepyfile(test_fixtures=FIXTURE_TESTS)
    result = pytester.runpytest()
    result.assert_outcomes(passed=3, failed=1)
    lines(result, [
        "*OutcomeMismatch: expected outcome not found: "
        "{kind: disclosure, effect: permit, data_categories: [ssn], recipient: law_enforcement}",
        "E*closest actual outcomes:",
        "E*- disclosure effect=deny recipient=law_enforcement * <- E.no-other-transfer (clause E)",
        "E*3 of 4 fields match; effect: expected permit, got deny",
    ])


def test_coverage_report_lists_rules_never_fired(project):
    scenario(project, "le.yaml", PASSING)
    result = project.runpytest("--clauseline-coverage")
    assert result.ret == 0
    lines(result, [
        "*clauseline rule coverage*",
        "policy securus-2019-05-04: rules fired by clause",
        "  clause C: 0/* rules",
        "  clause G: 1/3 rules",
        "  never fired:",
        "    C.payment-data-encrypted-in-transit  (*C.yaml:*)",
        "rule coverage: 2/* rules and overrides fired (*%): securus-2019-05-04: 2/* rules and 0/1 override",
    ])


def test_coverage_under_the_threshold_fails_the_run(project):
    scenario(project, "le.yaml", PASSING)
    result = project.runpytest("--clauseline-coverage-min=90")
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    lines(result, ["FAIL: rule coverage *% is under the required 90% (--clauseline-coverage-min)"])


def test_coverage_over_the_threshold_passes(project):
    scenario(project, "le.yaml", PASSING)
    assert project.runpytest("--clauseline-coverage-min=1").ret == 0


def test_coverage_survives_tests_that_do_not_use_the_plugin(pytester):
    pytester.makepyfile(test_plain="def test_plain():\n    assert True\n")
    result = pytester.runpytest("--clauseline-coverage")
    assert result.ret == 0
    lines(result, ["rule coverage: 0/* rules and overrides fired (0.0%)*"])
    assert pytester.runpytest("--clauseline-coverage-min=5").ret == pytest.ExitCode.TESTS_FAILED


def test_without_the_option_there_is_no_report(project):
    scenario(project, "le.yaml", PASSING)
    result = project.runpytest()
    assert "rule coverage" not in result.stdout.str()


def test_a_project_rules_folder_replaces_the_shipped_policy(pytester):
    from clauseline.resources import rules_dir

    shutil.copytree(rules_dir(), pytester.path / "myrules",
                    ignore=shutil.ignore_patterns("__pycache__", "*.py"))
    c_rules = pytester.path / "myrules" / "securus-2019-05-04" / "clauses" / "C.yaml"
    text = c_rules.read_text(encoding="utf-8")
    kept = text[:text.index("  - id: C.payment-data-encrypted-in-transit")]
    c_rules.write_text(kept, encoding="utf-8")
    kept_ids = re.findall(r"^  - id: (\S+)$", kept, flags=re.M)
    assert kept_ids and "C.payment-data-encrypted-in-transit" not in kept_ids
    pytester.makeini("[pytest]\nclauseline_rules = myrules\nclauseline_scenarios = scenarios\n")
    (pytester.path / "scenarios").mkdir()
    (pytester.path / "scenarios" / "s.yaml").write_text(textwrap.dedent("""\
        name: our rules have no encryption rule
        defaults: {subject: acct-1}
        events:
          - type: payment.made
            data: {transaction_id: t-1, amount: 1, currency: USD, instrument: credit_card,
                   status: authorized, encrypted_in_transit: false, product: calls}
            expect: {outcomes: []}
        """), encoding="utf-8")
    pytester.makepyfile(test_rules=f"KEPT = {kept_ids!r}\n" + textwrap.dedent("""
        import pytest

        def test_ini_rules(clauseline_policy):
            assert sorted(r.id for r in clauseline_policy.latest.rules if r.clause == "C") == sorted(KEPT)

        @pytest.mark.clauseline(rules="myrules", version="securus-2019-05-04")
        def test_marker_rules(clauseline):
            assert clauseline.policy.latest.version == "securus-2019-05-04"
            assert "C.payment-data-encrypted-in-transit" not in [r.id for r in clauseline.policy.latest.rules]
        """))
    result = pytester.runpytest("--clauseline-coverage")
    result.assert_outcomes(passed=3)
    lines(result, [f"  clause C: 0/{len(kept_ids)} rules"])
