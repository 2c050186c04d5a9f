"""Times finer than a microsecond: clauseline keeps time to the microsecond and never cuts one.

Fractional seconds may be padded with zeros past the 6th digit (Java and Go producers write
nanoseconds: ``09:00:00.123456000Z`` is exactly ``09:00:00.123456Z``); a time with a digit past
the 6th that is not 0 cannot be kept exactly, so the event is rejected, with the place and the
reason, instead of being silently truncated (which would make a response delivered half a
microsecond after its due instant count as in time).
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from clauseline import Session
from clauseline.eventtime import TimePrecisionError, format_time, parse_time
from clauseline.testing import ScenarioError, load_scenarios

ROOT = Path(__file__).resolve().parents[1]

RECEIPT = "2019-07-01T09:00:00Z"
DUE = "2019-08-15T09:00:00Z"  # receipt + 45 days
CALIFORNIA = {"country": "US", "region": "US-CA"}


def payment(event, time):
    return event("payment.made", {"transaction_id": "t-1", "amount": 10, "currency": "USD",
                                  "instrument": "credit_card", "status": "completed",
                                  "encrypted_in_transit": True, "product": "calls"}, time=time)


def response(period_from="2018-07-01T09:00:00Z", period_to=RECEIPT):
    return {"request_id": "r-1", "channel": "mail", "portable_format": True, "fee": 0,
            "period": {"from": period_from, "to": period_to}}


@pytest.fixture
def ccpa(policy, event):
    """A session in which California resident ca-1 filed request r-1 at RECEIPT (due at DUE)."""
    session = Session(policy)
    opened = session.submit(event("account.opened", {
        "profile": {"role": "customer", "residence": CALIFORNIA},
        "collected": ["name", "email"], "channel": "web"}, subject="ca-1", time="2019-06-01T00:00:00Z"))
    filed = session.submit(event("ccpa.request.filed", {
        "request_id": "r-1", "kinds": ["categories"], "delivery": "mail", "has_account": False},
        subject="ca-1", time=RECEIPT))
    assert (opened.status, filed.status) == ("accepted", "accepted")
    assert [o["due_by"] for o in filed.outcomes if o["kind"] == "obligation"] == [DUE]
    return session


def precision_error(decision, path):
    """The one error of a decision rejected for a time finer than a microsecond, at ``path``."""
    assert decision.status == "rejected"
    assert decision.outcomes == () and decision.trace == ()
    [error] = decision.errors
    assert (error["path"], error["code"]) == (path, "schema.format")
    assert "clauseline keeps time to the microsecond" in error["message"]
    assert "after the 6th must all be 0" in error["message"]
    return error


def as_instants(value):
    """``value`` with every date-time string written canonically: compares instants, not the
    producer's spelling (an outcome may echo the event's ``time`` as it was written)."""
    if isinstance(value, dict):
        return {key: as_instants(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [as_instants(item) for item in value]
    if isinstance(value, str):
        try:
            return format_time(parse_time(value))
        except ValueError:
            return value
    return value


def ccpa_u(decision):
    """(kind, status or violation) of the decision's clause U outcomes."""
    return sorted((o["kind"], o.get("violation") or o.get("status")) for o in decision.outcomes
                  if o["clause"] == "U")


# --- zeros past the microsecond are the same time -----------------------------------------------

@pytest.mark.parametrize("padded, plain", [
    ("2019-07-01T09:00:00.123456000Z", "2019-07-01T09:00:00.123456Z"),   # nanoseconds (Java, Go)
    ("2019-07-01T09:00:00.000000000Z", "2019-07-01T09:00:00Z"),
    ("2019-07-01T04:00:00.1200000-05:00", "2019-07-01T04:00:00.12-05:00"),  # 100 ns ticks (.NET)
])
def test_zero_padding_past_the_microsecond_is_accepted_and_decides_the_same(policy, event, padded, plain):
    first, second = Session(policy).submit(payment(event, padded)), Session(policy).submit(payment(event, plain))
    assert first.status == second.status == "accepted", first.errors
    assert first.outcomes and as_instants(first.outcomes) == as_instants(second.outcomes)
    assert first.trace == second.trace
    assert first.policy_version == second.policy_version


def test_a_deadline_computed_from_a_padded_time_is_exact(policy, event):
    session = Session(policy)
    session.submit(event("account.opened", {"profile": {"role": "customer", "residence": CALIFORNIA},
                                            "collected": ["name"], "channel": "web"},
                         subject="ca-1", time="2019-06-01T00:00:00Z"))
    filed = session.submit(event("ccpa.request.filed", {
        "request_id": "r-1", "kinds": ["categories"], "delivery": "mail", "has_account": False},
        subject="ca-1", time="2019-07-01T09:00:00.123456000Z"))
    assert [o["due_by"] for o in filed.outcomes if o["kind"] == "obligation"] == [
        "2019-08-15T09:00:00.123456Z"]


# --- a digit past the microsecond that is not 0 is refused ----------------------------------------

def test_a_seventh_non_zero_digit_on_time_is_rejected_with_its_place_and_reason(policy, event):
    session = Session(policy)
    bad = payment(event, "2019-07-01T09:00:00.0000005Z")
    error = precision_error(session.submit(bad), "/time")
    # the place is the pointer; the message says how many digits, and never quotes the value
    # (its fraction could be a card number: docs/errors.md)
    assert "a time with 7 fractional-second digits" in error["message"]
    assert "0000005" not in error["message"] and "Traceback" not in error["message"]
    # a rejected event leaves nothing behind: the corrected event may reuse its id
    corrected = dict(bad, time="2019-07-01T09:00:00.000000Z")
    assert session.submit(corrected).status == "accepted"


@pytest.mark.parametrize("time", [
    "2019-07-01T09:00:00.1234561Z",
    "2019-07-01T09:00:00.123456001Z",       # the last nanosecond counts too
    "2019-07-01T04:00:00.000000100-05:00",
])
def test_any_non_zero_digit_past_the_sixth_is_refused(policy, event, time):
    precision_error(Session(policy).submit(payment(event, time)), "/time")


def test_a_non_zero_seventh_digit_in_a_data_date_time_is_rejected_there(ccpa, event):
    decision = ccpa.submit(event("ccpa.response.delivered",
                                 response(period_from="2018-07-01T09:00:00.0000001Z"),
                                 subject="ca-1", time=DUE))
    precision_error(decision, "/data/period/from")
    # nothing was recorded: the request is still owed, and a correct response fulfils it
    again = ccpa.submit(event("ccpa.response.delivered", response(), subject="ca-1", time=DUE))
    assert ccpa_u(again) == [("obligation", "fulfilled")]


def test_every_date_time_field_is_checked_and_each_is_located(policy, event):
    decision = Session(policy).submit(event(
        "policy.changed", {"version": "securus-2019-05-04", "effective_at": "2019-08-01T00:00:00.00000001Z",
                           "advance_notice_required": False},
        subject=None, time="2019-07-01T09:00:00.9999999Z"))
    assert decision.status == "rejected"
    assert {(e["path"], e["code"]) for e in decision.errors} == {
        ("/data/effective_at", "schema.format"), ("/time", "schema.format")}
    assert all("keeps time to the microsecond" in e["message"] for e in decision.errors)


# --- the CCPA deadline, at the microsecond ----------------------------------------------------------

def test_a_response_exactly_at_the_due_instant_in_nanoseconds_is_in_time(ccpa, event):
    decision = ccpa.submit(event("ccpa.response.delivered", response(
        period_from="2018-07-01T09:00:00.000000000Z", period_to="2019-07-01T09:00:00.000000000Z"),
        subject="ca-1", time="2019-08-15T09:00:00.000000000Z"))
    assert decision.status == "accepted", decision.errors
    assert ccpa_u(decision) == [("obligation", "fulfilled")]   # no response_late, no wrong_period


def test_half_a_microsecond_after_the_due_instant_is_refused_not_counted_in_time(ccpa, event):
    decision = ccpa.submit(event("ccpa.response.delivered", response(), subject="ca-1",
                                 time="2019-08-15T09:00:00.0000005Z"))
    precision_error(decision, "/time")


def test_one_microsecond_after_the_due_instant_is_late(ccpa, event):
    decision = ccpa.submit(event("ccpa.response.delivered", response(), subject="ca-1",
                                 time="2019-08-15T09:00:00.000001000Z"))
    assert decision.status == "accepted", decision.errors
    assert ("violation", "ccpa.response_late") in ccpa_u(decision)


# --- the same through the command line ----------------------------------------------------------------

def test_replay_rejects_the_too_precise_line_with_its_reason_and_goes_on(tmp_path):
    def line(number, time):
        return json.dumps({"specversion": "1.0", "id": f"e-{number}", "source": "/billing",
                           "type": "payment.made", "time": time, "subject": "acct-1",
                           "data": {"transaction_id": f"t-{number}", "amount": 5, "currency": "USD",
                                    "instrument": "credit_card", "status": "completed",
                                    "encrypted_in_transit": True, "product": "calls"}})

    log = tmp_path / "log.jsonl"
    log.write_text("\n".join([line(1, "2019-07-01T09:00:00.123456000Z"),
                              line(2, "2019-07-01T09:00:00.1234567Z"),
                              line(3, "2019-07-01T09:00:01Z")]) + "\n", encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "clauseline", "replay", str(log)],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    decisions = [json.loads(text) for text in done.stdout.splitlines()]
    assert [d["status"] for d in decisions] == ["accepted", "rejected", "accepted"]
    [error] = decisions[1]["errors"]
    assert (error["path"], error["code"]) == ("/time", "schema.format")
    assert "keeps time to the microsecond" in error["message"]


# --- the same in a scenario file of the pytest plugin (YAML would round an unquoted time) --------

SCENARIO = """\
defaults:
  subject: acct-1
  time: {time}
scenarios:
  - name: one payment
    events:
      - type: payment.made
        data: {{transaction_id: t-1, amount: 5, currency: USD, instrument: credit_card,
               status: completed, encrypted_in_transit: true, product: calls}}
        expect:
          status: accepted
"""


def test_a_scenario_file_time_finer_than_a_microsecond_is_refused_with_its_line(tmp_path):
    path = tmp_path / "precise.yaml"
    path.write_text(SCENARIO.format(time="2019-07-01T09:00:00.0000005Z"), encoding="utf-8")
    with pytest.raises(ScenarioError) as raised:
        load_scenarios(path)
    assert any(p.line == 3 and p.key == "defaults.time" and "keeps time to the microsecond" in p.message
               for p in raised.value.problems)


def test_a_scenario_file_time_padded_with_zeros_runs(tmp_path):
    path = tmp_path / "padded.yaml"
    path.write_text(SCENARIO.format(time="2019-07-01T09:00:00.123456000Z"), encoding="utf-8")
    [scenario] = load_scenarios(path)
    assert scenario.defaults["time"] == "2019-07-01T09:00:00.123456Z"
    assert scenario.run(scenario.timeline()) == []


# --- no caller can truncate: parse_time itself refuses ----------------------------------------------

def test_parse_time_keeps_zero_padding_exactly():
    assert parse_time("2019-07-01T09:00:00.123456000Z") == parse_time("2019-07-01T09:00:00.123456Z")
    assert format_time(parse_time("2019-07-01T04:00:00.50000000000-05:00")) == "2019-07-01T09:00:00.5Z"


@pytest.mark.parametrize("text", ["2019-07-01T09:00:00.0000005Z", "2019-07-01T09:00:00.1234560001+02:00"])
def test_parse_time_raises_rather_than_truncates(text):
    with pytest.raises(ValueError, match="keeps time to the microsecond") as raised:
        parse_time(text)
    assert isinstance(raised.value, TimePrecisionError)
