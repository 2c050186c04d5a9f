"""Bad input: every malformed event is rejected with located errors, and nothing crashes."""

import json

import pytest

from clauseline import Session, empty_state, evaluate, parse_event
from clauseline.events import MAX_DEPTH, MAX_EVENT_BYTES


def good(**over):
    event = {"specversion": "1.0", "id": "e-1", "source": "/billing", "type": "payment.made",
             "time": "2019-07-01T09:00:00Z", "subject": "acct-1",
             "data": {"transaction_id": "t-1", "amount": 10, "currency": "USD",
                      "instrument": "credit_card", "status": "completed",
                      "encrypted_in_transit": True, "product": "calls"}}
    event.update(over)
    return event


def errors_of(policy, event):
    decision, state = evaluate(policy, empty_state(), event)
    assert decision.status == "rejected"
    assert state == empty_state()
    assert decision.outcomes == () and decision.trace == ()
    return {(e["path"], e["code"]) for e in decision.errors}


@pytest.mark.parametrize("text, code", [
    ("{not json", "event.invalid_json"),
    ('{"a": 1,}', "event.invalid_json"),
    ('{"a": NaN}', "event.invalid_json"),
    ('{"a": 1, "a": 2}', "event.duplicate_key"),
    (b'{"a": "\xff"}', "event.invalid_json"),
    ("[" * 100_000, "event.too_deep"),
])
def test_unparseable_text_is_rejected_with_a_reason(text, code):
    value, problems = parse_event(text)
    assert value is None
    assert [p.code for p in problems] == [code]


def test_oversized_event_is_rejected_before_parsing():
    big = json.dumps(good(data={"x": "y" * MAX_EVENT_BYTES}))
    _, problems = parse_event(big)
    assert [p.code for p in problems] == ["event.too_large"]
    assert str(MAX_EVENT_BYTES) in problems[0].message


def test_deep_nesting_is_located():
    nested = {}
    node = nested
    for _ in range(MAX_DEPTH + 5):
        node["k"] = {}
        node = node["k"]
    _, problems = parse_event(json.dumps(good(data=nested)))
    assert problems[0].code == "event.too_deep"
    assert problems[0].path.startswith("/data/k/k/")


def test_unknown_event_type(policy):
    assert ("/type", "event.unknown_type") in errors_of(policy, good(type="payment.refunded"))


def test_missing_time_points_at_time(policy):
    event = good()
    del event["time"]
    assert errors_of(policy, event) == {("/time", "schema.required")}


def test_time_without_offset_is_refused(policy):
    assert errors_of(policy, good(time="2019-07-01T09:00:00")) == {("/time", "schema.format")}


def test_wrong_field_types_are_all_reported_not_only_the_first(policy):
    event = good()
    event["data"].update(amount="ten", encrypted_in_transit="yes", instrument="cash")
    assert errors_of(policy, event) == {
        ("/data/amount", "schema.type"),
        ("/data/encrypted_in_transit", "schema.type"),
        ("/data/instrument", "schema.enum"),
    }


def test_unknown_data_field_is_refused(policy):
    event = good()
    event["data"]["colour"] = "blue"
    paths = errors_of(policy, event)
    assert any(code == "schema.unevaluatedProperties" for _, code in paths)


def test_event_before_the_policy_took_effect(policy):
    assert errors_of(policy, good(time="2019-05-03T23:59:59Z")) == {("/time", "event.no_policy_in_force")}


def test_a_rejected_raw_card_number_is_not_echoed(policy):
    event = good()
    event["data"]["card_number"] = "4111 1111 1111 1111 " * 20
    decision, _ = evaluate(policy, empty_state(), event)
    assert decision.status == "rejected"
    assert "4111" not in decision.to_json()


def test_a_non_object_event(policy):
    assert errors_of(policy, [1, 2]) == {("", "event.not_object")}


def test_replay_goes_on_after_bad_lines(policy):
    lines = ["{bad", json.dumps(good(type="nope")), "", json.dumps(good())]
    decisions = list(Session(policy).replay(lines))
    assert [(n, d.status) for n, d in decisions] == [(1, "rejected"), (2, "rejected"), (4, "accepted")]
    assert decisions[0][1].errors[0]["message"].startswith("line 1:")


def test_a_card_number_in_a_field_that_fails_validation_is_masked_in_the_message(policy):
    event = good()
    event["data"]["instrument"] = "4111 1111 1111 1111"  # not an instrument: an enum error
    event["data"]["currency"] = "123-45-6789"             # nor a currency
    decision, _ = evaluate(policy, empty_state(), event)
    text = decision.to_json()
    assert decision.status == "rejected"
    assert "4111 1111 1111 1111" not in text and "123-45-6789" not in text
    # the values are not quoted at all: described by their type and length
    messages = {(e["path"], e["message"].split(":")[0]) for e in decision.errors}
    assert ("/data/instrument", "a string of 19 characters is not one of") in messages
    assert ("/data/currency", "is too long") in messages


def test_numbers_python_writes_with_an_exponent_are_decided_like_any_other(policy):
    # durable_rules' C parser refuses 1e-05; the matcher writes such floats in fixed point
    from clauseline.policy.matcher import fact_json

    def purge(amount):
        event = good()
        event["id"] = f"amount-{amount!r}"
        event["data"]["amount"] = amount
        return Session(policy).submit(event)

    reference = purge(5)
    assert reference.status == "accepted" and reference.outcomes
    for amount in (0.00001, 2.5e-07, 1e-05):
        decision = purge(amount)
        assert decision.status == "accepted"
        assert decision.outcomes == reference.outcomes
    fact = {"a": 1e-05, "b": [2.5e-07, 1.0, "1e-05", {"c": 3e-10}], "d": 7}
    text = fact_json(fact)
    assert json.loads(text) == fact and "e-" not in text.replace('"1e-05"', "")


@pytest.mark.parametrize("text, path", [
    ('{"a": "x\\ud800"}', "/a"),            # a lone high surrogate, escaped
    ('{"a": ["\\udc80"]}', "/a/0"),         # a lone low surrogate in a list
    ('{"\\ud800k": 1}', "/\\ud800k"),       # in a member's name (the path says \ud800)
    ("{\"a\": \"\udcff\"}", ""),            # text read with errors="surrogateescape"
    ('{"a": 1e400}', ""),                   # JSON has no infinity
    ('{"a": -1E999}', ""),
])
def test_strings_that_are_not_text_and_numbers_past_a_double_are_rejected(text, path):
    value, problems = parse_event(text)
    assert value is None and [(p.code, p.path) for p in problems] == [("event.invalid_json", path)]


def test_a_surrogate_pair_is_one_character_and_is_accepted():
    value, problems = parse_event('{"a": "\\ud83d\\ude00", "b": 1e308}')
    assert problems == [] and value == {"a": "\U0001F600", "b": 1e308}


def test_read_lines_never_holds_an_over_long_line(tmp_path):
    from clauseline.events import Oversized, read_lines
    log = tmp_path / "log.jsonl"
    log.write_bytes(b'{"a": 1}\n' + b"x" * 5000 + b"\r\n" + b'{"b": 2}\r\n' + b"y" * 3000)
    with log.open("rb") as handle:
        lines = list(read_lines(handle, max_bytes=1000, chunk=64))
    assert lines[0] == b'{"a": 1}\n' and lines[2] == b'{"b": 2}\r\n'
    assert isinstance(lines[1], Oversized) and lines[1].size == 5000
    assert isinstance(lines[3], Oversized) and lines[3].size == 3000
    assert [p.code for p in parse_event(lines[1])[1]] == ["event.too_large"]
    # a line of exactly the limit is read whole
    log.write_bytes(b"z" * 1000 + b"\n")
    with log.open("rb") as handle:
        assert list(read_lines(handle, max_bytes=1000)) == [b"z" * 1000 + b"\n"]


def test_messages_never_quote_a_long_or_digit_rich_value(policy):
    from clauseline.redact import quote
    assert quote("credit_card") == '"credit_card"' and quote(12) == "12" and quote(None) == "null"
    assert quote("4111 1111 1111 1111") == "a string of 19 characters"
    assert quote("219099999") == "a string of 9 characters"
    assert quote(4111111111111111) == "a number of 16 characters"
    assert quote({"ssn": "219099999"}) == "an object of 1 member(s)"
    event = good()
    event["data"]["ssn_extra"] = {"ssn": "219099999", "account_number": "987654321012"}
    event["data"]["currency"] = "9876543210 12"
    decision, _ = evaluate(policy, empty_state(), event)
    text = decision.to_json()
    for secret in ("219099999", "987654321012", "9876543210"):
        assert secret not in text
    assert decision.status == "rejected" and '(\\"ssn_extra\\" unexpected)' in text
