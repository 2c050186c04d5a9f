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
