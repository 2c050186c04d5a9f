"""Our payment service and our disclosure desk, checked against the privacy policy.

The fixtures come from the clauseline pytest plugin: ``clauseline`` is a fresh engine with the
shipped policy, an empty state and a test clock.
"""

import pytest

from clauseline.testing import (assert_denies, assert_nothing, assert_permits, assert_retention,
                                assert_violation)


def payment(status="completed", encrypted=True):
    return {"transaction_id": "tx-100", "amount": 25.0, "currency": "USD",
            "instrument": "debit_card", "status": status, "encrypted_in_transit": encrypted,
            "product": "prepaid_calls"}


@pytest.mark.clauseline(start="2019-08-01T12:00:00Z", subject="acct-42")
def test_card_numbers_are_purged_when_the_payment_completes(clauseline):
    authorized = clauseline.send("payment.made", payment("authorized"))
    assert_nothing(authorized, "retention")

    completed = clauseline.send("payment.made", payment("completed"), after="PT5M")
    assert_retention(completed, "purge", "payment:tx-100", by="2019-08-01T12:05:00Z",
                     categories=["debit_card"])
    assert_nothing(completed, "violation")


@pytest.mark.clauseline(subject="acct-42")
def test_our_gateway_must_encrypt(clauseline):
    decision = clauseline.send("payment.made", payment(encrypted=False))
    assert_violation(decision, "C", "payment.unencrypted_in_transit", ref="payment:tx-100")


@pytest.mark.clauseline(subject="acct-42")
def test_the_disclosure_desk_splits_a_police_request(clauseline):
    decision = clauseline.send("disclosure.requested", {
        "request_id": "req-7", "recipient": {"kind": "law_enforcement", "name": "County Sheriff"},
        "purpose": "law_enforcement_activity", "data_categories": ["call_details", "voice", "ssn"]})
    assert_permits(decision, ["call_details", "voice"], "law_enforcement", exact=True)
    assert_denies(decision, ["ssn"], "law_enforcement", exact=True)
