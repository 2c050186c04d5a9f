"""``clauseline.client`` given hostile input: bad settings, events JSON cannot hold, wrong
arguments to the reads, hostile answers. Each is a clear error naming what is wrong, raised
before anything is sent, that never quotes a key or an event's value; none is a traceback of
httpx or json. And ``import clauseline.client`` without httpx says how to install it."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from datetime import datetime, timezone
from decimal import Decimal

import httpx
import pytest

import clauseline.client as client_module
from clauseline.client import (Client, EventNotEncodable, InvalidResponse, ProblemError,
                               ValidationFailed)

CARD = "4111111111111111"
SSN = "078-05-1120"
KEY = "clk_0123456789ab_" + "k" * 43


class Untouched(httpx.BaseTransport):
    """A transport that fails the test if anything is sent."""

    def handle_request(self, request):
        raise AssertionError("nothing should have been sent")


def quiet_client(**kw) -> Client:
    return Client("http://127.0.0.1:9", api_key=KEY, transport=Untouched(), **kw)


@pytest.mark.parametrize("base_url", [
    "", "127.0.0.1:8000", "ftp://host", "http://", "http:///path", "http://host:99999",
    "http://host:port", "http://host/?q=1", "http://host/#f", "http://ho\nst", "http://host\x1b[2J",
    "javascript:alert(1)", f"http://{CARD}:x@", None, 8000, b"http://host"])
def test_a_bad_base_url_is_refused_clearly(base_url):
    with pytest.raises(ValueError) as refused:
        Client(base_url, transport=Untouched())
    message = str(refused.value)
    assert "base_url" in message
    assert CARD not in message and "\x1b" not in message and "\n" not in message


@pytest.mark.parametrize("api_key", ["", "clk_x\nInjected: 1", "clé", "a b", "\x00", 12345,
                                     b"clk_bytes", f"clk_{CARD}\r\n"])
def test_a_malformed_key_is_refused_without_quoting_it(api_key):
    with pytest.raises(ValueError) as refused:
        Client("http://127.0.0.1:9", api_key=api_key, transport=Untouched())
    message = str(refused.value)
    assert "api_key" in message
    if isinstance(api_key, str) and api_key:
        assert api_key.strip() not in message and CARD not in message


@pytest.mark.parametrize("setting, value", [
    ("retries", -1), ("retries", True), ("retries", 1.5), ("retries", "3"), ("retries", None),
    ("backoff", -0.1), ("backoff", math.nan), ("backoff", math.inf), ("backoff", "1"),
    ("timeout", -1), ("timeout", math.nan), ("timeout", "30"), ("max_delay", -5),
    ("max_delay", True)])
def test_bad_settings_are_refused(setting, value):
    with pytest.raises(ValueError) as refused:
        Client("http://127.0.0.1:9", transport=Untouched(), **{setting: value})
    assert setting in str(refused.value)



def _cyclic():
    event = {"specversion": "1.0"}
    event["self"] = event
    return event


def _deep(depth: int):
    event: dict = {}
    node = event
    for _ in range(depth):
        node["a"] = {}
        node = node["a"]
    return event


@pytest.mark.parametrize("event, says", [
    (object(), "not a object"), (None, "not a NoneType"), (42, "not a int"),
    ([{"id": 1}], "not a list"),
    ({"data": {"amount": math.nan}}, "NaN"), ({"data": {"amount": -math.inf}}, "NaN"),
    ({"time": datetime(2019, 7, 1, 9, 0)}, "without a UTC offset"),
    ({"data": {"card": Decimal(CARD)}}, "Decimal"), ({"data": {CARD: {1, 2}}}, "set"),
    ({"data": {"note": b"\xff" + SSN.encode()}}, "bytes"),
    ({("tuple", "key"): 1}, "key that is not a string"),
    ({"data": {"note": "\ud800" + CARD}}, "lone surrogate"), ("\udfff{}", "surrogate"),
    (_cyclic(), "contains itself"), (_deep(100_000), "nested too deep")])
def test_an_event_json_cannot_hold_is_refused_before_sending(event, says):
    with quiet_client() as client:
        for call in (client.post, client.evaluate, lambda e: client.post_batch([{}, e])):
            with pytest.raises(EventNotEncodable) as refused:
                call(event)
            message = str(refused.value)
            assert says in message
            assert CARD not in message and SSN not in message
            assert isinstance(refused.value, TypeError)


def test_an_aware_datetime_is_written_as_rfc_3339():
    body = client_module.encode_event({"time": datetime(2019, 7, 1, 9, 0, 0, 250000,
                                                        tzinfo=timezone.utc)})
    assert body == b'{"time":"2019-07-01T09:00:00.250000Z"}'


@pytest.mark.parametrize("events", [{"id": "e-1"}, "[]", b"[]", None, 7, iter([object()])])
def test_a_batch_that_is_not_a_list_of_events_is_refused(events):
    with quiet_client() as client, pytest.raises(EventNotEncodable) as refused:
        client.post_batch(events)
    assert "batch" in str(refused.value)


@pytest.mark.parametrize("batch_size", [0, -1, True, 2.5, "10"])
def test_a_bad_batch_size_is_refused(batch_size):
    with quiet_client() as client, pytest.raises(ValueError) as refused:
        client.post_batch([{}], batch_size=batch_size)
    assert "batch_size" in str(refused.value)


@pytest.mark.parametrize("call, says", [
    (lambda c: c.decision("", "e-1"), "source"), (lambda c: c.decision("/s", ""), "event_id"),
    (lambda c: c.decision(None, "e-1"), "source"), (lambda c: c.decision("/s", 7), "event_id"),
    (lambda c: c.subject(""), "subject_id"), (lambda c: c.subject("a/b"), "slash"),
    (lambda c: c.subject(None), "subject_id"),
    (lambda c: c.stored_decision(""), "decision_id"),
    (lambda c: c.stored_decision(7), "decision_id"),
    (lambda c: c.stored_decision("dec_a/../b"), "slash"),
    (lambda c: c.obligations(limit=0), "limit"), (lambda c: c.obligations(limit=True), "limit"),
    (lambda c: c.obligations(due_before=20190701), "due_before"),
    (lambda c: c.obligations(due_before=datetime(2019, 7, 1)), "without a UTC offset")])
def test_bad_read_arguments_are_refused_before_sending(call, says):
    with quiet_client() as client, pytest.raises((ValueError, TypeError)) as refused:
        call(client)
    assert says in str(refused.value)


def _answering(response: httpx.Response) -> Client:
    return Client("http://127.0.0.1:9", transport=httpx.MockTransport(lambda request: response),
                  retries=0)


@pytest.mark.parametrize("response", [
    httpx.Response(422, json={"status": 422, "code": "event.rejected",
                              "detail": "x" * 1_000_000 + CARD}),
    httpx.Response(422, json={"code": ["not", "a", "string"], "errors": "not a list",
                              "decision": "not a decision", "detail": 7}),
    httpx.Response(422, json=[CARD]),
    httpx.Response(422, content=b"\xff\xfe not utf-8 " + CARD.encode(),
                   headers={"content-type": "application/problem+json"}),
    httpx.Response(422, json={"detail": f"ssn {SSN}", "errors": [
        {"pointer": "/data/ssn", "detail": f"{SSN} is not allowed"}, "junk", 7]})])
def test_hostile_problem_bodies_give_a_bounded_message_without_numbers(response):
    with _answering(response) as client, pytest.raises(ValidationFailed) as raised:
        client.post({"id": "e-1"})
    error = raised.value
    message = str(error)
    assert len(message) <= 1100
    assert CARD not in message and SSN not in message
    assert message.startswith("422 ")
    assert isinstance(error.errors, list) and all(isinstance(e, dict) for e in error.errors)
    assert error.decision is None or error.decision.status


@pytest.mark.parametrize("response", [
    httpx.Response(201, json={"status": "accepted", "outcomes": ["junk", {"kind": "notice"}],
                              "trace": ["a"]}),
    httpx.Response(201, json={"status": "accepted", "outcomes": None, "extra": {"new": 1}})])
def test_odd_but_well_formed_decisions_keep_what_they_have(response):
    with _answering(response) as client:
        decision = client.post({"id": "e-1"})
    assert decision.accepted and decision.raw == response.json()
    assert all(o.kind == "notice" for o in decision.outcomes)


@pytest.mark.parametrize("response", [httpx.Response(201, json="accepted"),
                                      httpx.Response(201, json=None),
                                      httpx.Response(201, content=b"\xff")])
def test_answers_that_are_not_decisions_are_invalid_responses(response):
    with _answering(response) as client, pytest.raises(InvalidResponse) as raised:
        client.post({"id": "e-1"})
    assert "Traceback" not in str(raised.value)


def test_every_client_error_is_one_of_clauselines_errors():
    import clauseline.errors
    for name in client_module.__all__:
        value = getattr(client_module, name)
        if isinstance(value, type) and issubclass(value, BaseException):
            assert issubclass(value, clauseline.errors.ClauselineError), name
    assert issubclass(ValidationFailed, ProblemError)


def test_import_without_httpx_says_how_to_install_it():
    blocker = ("import sys\n"
               "class Block:\n"
               "    def find_spec(self, name, path=None, target=None):\n"
               "        if name == 'httpx' or name.startswith('httpx.'):\n"
               "            raise ImportError('No module named ' + repr(name))\n"
               "sys.meta_path.insert(0, Block())\n"
               "import clauseline.client\n")
    done = subprocess.run([sys.executable, "-c", blocker], capture_output=True, text=True,
                          timeout=120, env={**os.environ})
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last == ("ImportError: clauseline.client needs httpx: "
                    "pip install 'clauseline[client]'")


def test_the_client_stands_apart_from_the_server():
    """An integrator's process imports the client, not the service, the store or the evaluator:
    the module imports only the errors and the masking of clauseline, the standard library and
    httpx (and the CloudEvents SDK, only when given one of its events)."""
    import ast
    import sys as _sys
    tree = ast.parse(open(client_module.__file__, encoding="utf-8").read())
    inside, outside = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            inside.add(node.module)
        elif isinstance(node, ast.ImportFrom):
            outside.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            outside |= {alias.name.split(".")[0] for alias in node.names}
    assert inside == {"errors", "redact"}
    assert outside - set(_sys.stdlib_module_names) == {"httpx", "cloudevents"}


@pytest.mark.parametrize("base_url", [
    "ftp://user:s3cret-pass@host", "http://user:s3cret-pass@host:99999",
    "http://user:s3cret-pass@/x", "http://user:s3cret-pass@host/?a"])
def test_a_bad_base_url_with_a_password_is_refused_without_quoting_it(base_url):
    with pytest.raises(ValueError) as refused:
        Client(base_url, transport=Untouched())
    assert "s3cret" not in str(refused.value) and "base_url" in str(refused.value)


def test_a_connection_failure_never_shows_the_urls_password():
    def refuse(request):
        raise httpx.ConnectError("refused", request=request)

    with Client("http://user:s3cret-pass@127.0.0.1:9/base", transport=httpx.MockTransport(refuse),
                retries=0) as client, pytest.raises(client_module.ConnectionFailed) as failed:
        client.health()
    assert "s3cret" not in str(failed.value) and "http://127.0.0.1:9/base" in str(failed.value)


def test_many_retries_wait_at_most_max_delay_and_never_overflow():
    answers = iter([httpx.Response(503)] * 80 + [httpx.Response(200, json={"status": "ok"})])
    with Client("http://127.0.0.1:9", transport=httpx.MockTransport(lambda r: next(answers)),
                retries=10_000, backoff=0.5, max_delay=7) as client:
        slept = []
        client._sleep = slept.append
        assert client.obligations() == []
    assert len(slept) == 80 and max(slept) == 7 and slept[:4] == [0.5, 1.0, 2.0, 4.0]


def test_errors_survive_pickling_as_a_worker_pool_would_send_them():
    import pickle
    answer = httpx.Response(422, json={"status": 422, "code": "event.rejected", "detail": "bad",
                                       "errors": [{"pointer": "/data", "detail": "x"}]})
    with _answering(answer) as client, pytest.raises(ValidationFailed) as raised:
        client.post({"id": "e-1"})
    copy = pickle.loads(pickle.dumps(raised.value))
    assert type(copy) is ValidationFailed and str(copy) == str(raised.value)
    assert (copy.status, copy.code, copy.errors) == (422, "event.rejected", raised.value.errors)


def test_the_clients_own_codes_are_those_docs_errors_md_lists():
    import re
    from pathlib import Path
    text = (Path(__file__).resolve().parents[2] / "docs" / "errors.md").read_text(encoding="utf-8")
    section = text.split("## Python client errors", 1)[1].split("\n## ", 1)[0]
    documented = {re.findall(r"`([^`]+)`", line.split("|")[1])[0]
                  for line in section.splitlines() if line.startswith("| `")}
    own = {value.code for value in vars(client_module).values() if isinstance(value, type)
           and issubclass(value, client_module.ClauselineError)
           and not issubclass(value, ProblemError)}
    assert documented == (own - {"client.error"}) | {"http.<status>"}
    with _answering(httpx.Response(502, text="<html/>")) as client, \
            pytest.raises(client_module.ServerError) as raised:
        client.health()
    assert raised.value.code == "http.502"


def test_an_sdk_event_the_sdk_cannot_write_is_refused_without_its_data():
    from cloudevents.core.v1.event import CloudEvent
    from cloudevents.v1.http import CloudEvent as LegacyCloudEvent
    for event in (CloudEvent({"type": "payment.made", "source": "/s", "id": "e-1"},
                             {"card": Decimal(CARD)}),
                  LegacyCloudEvent({"type": "payment.made", "source": "/s"},
                                   {"card": Decimal(CARD)})):
        with quiet_client() as client, pytest.raises(EventNotEncodable) as refused:
            client.post(event)
        assert "CloudEvents SDK" in str(refused.value) and CARD not in str(refused.value)


def test_sdk_events_and_their_subclasses_are_written_by_the_sdk():
    import json
    from cloudevents.core.bindings.http import to_structured
    from cloudevents.core.formats.json import JSONFormat
    from cloudevents.core.v1.event import CloudEvent
    from cloudevents.v1.conversion import to_json
    from cloudevents.v1.http import CloudEvent as LegacyCloudEvent

    class Mine(CloudEvent):
        pass

    at = datetime(2019, 7, 1, 9, 0, tzinfo=timezone.utc)
    core = Mine({"type": "clock.tick", "source": "/s", "id": "e-1", "time": at}, {})
    legacy = LegacyCloudEvent({"type": "clock.tick", "source": "/s", "id": "e-2",
                               "time": "2019-07-01T09:00:00Z"}, {})
    assert client_module.encode_event(core) == to_structured(core, JSONFormat()).body
    assert client_module.encode_event(legacy) == to_json(legacy)
    batch = json.loads(client_module.encode_batch([core, legacy, {"id": "e-3"}]))
    assert [e["id"] for e in batch] == ["e-1", "e-2", "e-3"]
