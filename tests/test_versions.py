"""Effective dates, not branches: each event is decided under the version in force at its time."""

import shutil

import pytest

from clauseline import Session, load_policy
from clauseline.resources import rules_dir


@pytest.fixture(scope="module")
def two_versions(tmp_path_factory):
    root = tmp_path_factory.mktemp("versions")
    shutil.copytree(rules_dir(), root, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__", "__init__.py"))
    newer = root / "securus-2020-01-01"
    shutil.copytree(root / "securus-2019-05-04", newer)
    index = newer / "policy.yaml"
    index.write_text(index.read_text(encoding="utf-8")
                     .replace("version: securus-2019-05-04", "version: securus-2020-01-01")
                     .replace('effective_from: "2019-05-04T00:00:00Z"',
                              'effective_from: "2020-01-01T00:00:00Z"'), encoding="utf-8")
    # the newer version no longer purges failed payments: only completed ones
    rules = newer / "clauses" / "C.yaml"
    rules.write_text(rules.read_text(encoding="utf-8")
                     .replace("data.status: {in: [completed, failed]}", "data.status: completed"),
                     encoding="utf-8")
    return load_policy(root)


def failed_payment(event, time):
    return event("payment.made", {"transaction_id": "t-1", "amount": 1, "currency": "USD",
                                  "instrument": "credit_card", "status": "failed",
                                  "encrypted_in_transit": True, "product": "calls"}, time=time)


def test_both_versions_load_oldest_first(two_versions):
    assert [v.version for v in two_versions.versions] == ["securus-2019-05-04", "securus-2020-01-01"]


def test_each_event_is_decided_under_the_version_in_force_at_its_time(two_versions, event):
    session = Session(two_versions)
    before = session.submit(failed_payment(event, "2019-12-31T23:59:59Z"))
    after = session.submit(failed_payment(event, "2020-01-01T00:00:00Z"))
    assert before.policy_version == "securus-2019-05-04"
    assert [o["action"] for o in before.outcomes] == ["purge"]
    assert after.policy_version == "securus-2020-01-01"
    assert after.outcomes == ()


def test_an_offset_time_is_compared_as_an_instant(two_versions, event):
    # 2019-12-31T19:00:00-05:00 is 2020-01-01T00:00:00Z: the newer version is in force
    decision = Session(two_versions).submit(failed_payment(event, "2019-12-31T19:00:00-05:00"))
    assert decision.policy_version == "securus-2020-01-01"


# --- the shipped amendment: a dated test fixture ---------------------------------------------

import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from clauseline import PolicyLoadError  # noqa: E402

FIXTURE = "fixture-amendment-2099-01-01"
ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "examples" / "demo-log.jsonl"


def cli(*args):
    return subprocess.run([sys.executable, "-m", "clauseline", *args], capture_output=True,
                          text=True, cwd=ROOT, timeout=300)


@pytest.fixture(scope="module")
def with_fixture():
    return load_policy(fixtures=True)


def test_the_fixture_is_checked_but_decides_nothing_unless_asked_for(with_fixture):
    assert [v.version for v in load_policy().versions] == ["securus-2019-05-04"]
    base, amended = with_fixture.versions
    assert amended.version == FIXTURE and amended.fixture and not base.fixture
    assert "TEST FIXTURE" in amended.title
    assert amended.folders == (base.folder, amended.folder)
    assert amended.content_hash != base.content_hash
    # it takes everything from its base but the one rule it replaces
    assert [r.id for r in amended.rules] == [r.id for r in base.rules]
    changed = [r.id for r in amended.rules if r != base.rule(r.id)]
    assert changed == ["C.purge-payment-numbers-after-transaction"]
    assert set(amended.interpretations) == set(base.interpretations)
    checked = cli("rules", "check")
    assert checked.returncode == 0 and f"{FIXTURE}: " in checked.stdout
    assert "a test fixture" in checked.stdout


def test_decisions_before_the_amendment_are_byte_identical_with_it_loaded(with_fixture):
    lines = DEMO.read_text(encoding="utf-8").splitlines()
    without = [d.to_json() for _, d in Session(load_policy()).replay(lines)]
    with_it = [d.to_json() for _, d in Session(with_fixture).replay(lines)]
    assert with_it == without


def test_an_event_is_decided_under_the_fixture_from_its_date_or_when_forced(with_fixture, event):
    session = Session(with_fixture)
    before = session.submit(failed_payment(event, "2098-12-31T23:59:59Z"))
    after = session.submit(failed_payment(event, "2099-01-01T00:00:00Z"))
    assert before.policy_version == "securus-2019-05-04" and before.outcomes
    assert after.policy_version == FIXTURE and after.outcomes == ()
    forced = Session(with_fixture.forced(FIXTURE)).submit(failed_payment(event, "2019-07-01T09:00:00Z"))
    assert forced.policy_version == FIXTURE and forced.outcomes == ()

    path = Path(__file__).parent / "golden" / "failed-payment.json"
    done = cli("evaluate", str(path), "--policy", FIXTURE)
    assert done.returncode == 0 and json.loads(done.stdout)["policy_version"] == FIXTURE
    wrong = cli("evaluate", str(path), "--policy", "securus-1999-01-01")
    assert wrong.returncode == 1 and "policy.unknown_version" in wrong.stderr
    assert FIXTURE in wrong.stderr and "Traceback" not in wrong.stderr


def test_diff_reports_what_the_amendment_would_change_per_rule(with_fixture):
    seen, failed = set(), []
    for number, line in enumerate(DEMO.read_text(encoding="utf-8").splitlines(), start=1):
        try:
            e = json.loads(line)
        except ValueError:  # the demo log's deliberately bad lines
            continue
        if not isinstance(e, dict):
            continue
        key = (e.get("source"), e.get("id"))
        if key in seen:
            continue
        seen.add(key)
        if e.get("type") == "payment.made" and e.get("data", {}).get("status") == "failed":
            failed.append((number, e))
    assert failed, "the demo log has failed payments"
    done = cli("diff", str(DEMO), "--policy", "securus-2019-05-04", "--against", FIXTURE)
    assert done.returncode == 1, done.stderr
    assert f"{len(failed)} decision(s) differ" in done.stdout
    assert (f"C.purge-payment-numbers-after-transaction: {len(failed)} outcome(s) only under A, "
            "0 only under B") in done.stdout
    number, first = failed[0]
    assert f"A: line {number} ({first['source']} {first['id']}): retention purge" in done.stdout
    as_json = json.loads(cli("diff", str(DEMO), "--policy", "securus-2019-05-04", "--against",
                             FIXTURE, "--format", "json").stdout)
    assert as_json["decisions_differ"] == len(failed)
    assert [(r["rule"], r["only_policy"], r["only_against"]) for r in as_json["rules"]] == [
        ("C.purge-payment-numbers-after-transaction", len(failed), 0)]
    same = cli("diff", str(DEMO), "--policy", FIXTURE, "--against", FIXTURE)
    assert same.returncode == 0 and "0 decision(s) differ" in same.stdout


def _amendment(root: Path, index: str, files: dict[str, str] | None = None) -> Path:
    shutil.copytree(rules_dir(), root, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__", "__init__.py", "fixture-*"))
    folder = root / "amended"
    (folder / "clauses").mkdir(parents=True)
    (folder / "policy.yaml").write_text(index, encoding="utf-8")
    for name, text in (files or {}).items():
        (folder / name).write_text(text, encoding="utf-8")
    return root


AMENDS = ('version: amended\ntitle: an amendment\neffective_from: "2030-01-01T00:00:00Z"\n'
          "amends: securus-2019-05-04\n")


def test_an_amendment_retires_rules_and_names_what_it_cannot_find(tmp_path, event):
    root = _amendment(tmp_path / "ok", AMENDS + "retire: [C.payment-data-encrypted-in-transit]\n")
    policy = load_policy(root)
    assert "C.payment-data-encrypted-in-transit" in {r.id for r in policy.versions[0].rules}
    assert "C.payment-data-encrypted-in-transit" not in {r.id for r in policy.versions[1].rules}

    bad = _amendment(tmp_path / "bad", AMENDS.replace("securus-2019-05-04", "securus-1999")
                     + "retire: [C.no-such-rule]\n")
    with pytest.raises(PolicyLoadError) as error:
        load_policy(bad)
    assert [p.code for p in error.value.problems] == ["unknown_version"]
    retired = _amendment(tmp_path / "retired", AMENDS + "retire: [C.no-such-rule]\n")
    with pytest.raises(PolicyLoadError) as error:
        load_policy(retired)
    assert [(p.code, p.key) for p in error.value.problems] == [("unknown_rule", "retire")]
    # retire belongs to amendments only
    whole = _amendment(tmp_path / "whole", AMENDS.replace("amends: securus-2019-05-04\n", "")
                       + "source: x.md\nclauses: {}\nretire: [C.x]\n")
    with pytest.raises(PolicyLoadError):
        load_policy(whole)
