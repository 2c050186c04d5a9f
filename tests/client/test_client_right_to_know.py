"""``Client.right_to_know`` and ``AsyncClient.right_to_know`` against a real ``clauseline serve``:
the document is the one ``clauseline right-to-know`` builds from the same store (same digest,
same members), ``fmt="html"`` the printable page; a key without ``subjects:read`` is a
:class:`Forbidden` naming the scope; every 404 and 422 of the endpoint is a typed problem with its
code; hostile arguments are refused before sending, or answered without echoing a number."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone

import pytest

from clauseline.client import (AsyncClient, Client, Forbidden, InvalidResponse, NotFound,
                               ProblemError, Unauthorized, ValidationFailed)

from .conftest import run, serving

CARD = "4111111111111111"
CA = {"role": "customer", "residence": {"country": "US", "region": "US-CA"}}
SUBJECT = "ca-rtk-1"


def _events() -> list[dict]:
    base = {"specversion": "1.0", "source": "/tests/client/rtk", "subject": SUBJECT}
    return [
        dict(base, id="k1", type="account.opened", time="2019-06-01T00:00:00Z",
             data={"profile": CA, "collected": ["name", "email"], "channel": "web"}),
        dict(base, id="k2", type="payment.made", time="2019-06-02T00:00:00Z",
             data={"transaction_id": "t-1", "amount": 25.0, "currency": "USD",
                   "instrument": "credit_card", "status": "completed",
                   "encrypted_in_transit": True, "product": "prepaid_calling",
                   "card_number": CARD}),
        dict(base, id="k3", type="disclosure.requested", time="2019-06-10T00:00:00Z",
             data={"request_id": "d-1", "recipient": {"kind": "law_enforcement",
                                                      "name": "Dallas PD"},
                   "purpose": "law_enforcement_activity", "data_categories": ["name", "ssn"]}),
        dict(base, id="k4", type="ccpa.request.filed", time="2019-07-01T09:00:00Z",
             data={"request_id": "r-1", "kinds": ["categories", "specific_pieces"],
                   "delivery": "mail", "has_account": True}),
        dict(base, id="k5", type="account.opened", time="2019-06-05T00:00:00Z",
             subject="no-request-1",
             data={"profile": CA, "collected": ["name"], "channel": "web"}),
    ]


@pytest.fixture(scope="module")
def rtk(tmp_path_factory):
    """A server whose store holds the events above, with a ``subjects`` key (subjects:read
    only) made by ``clauseline keys create`` beside the admin, writer and reader keys."""
    with serving(tmp_path_factory.mktemp("rtk"), ("admin", "writer", "reader")) as served:
        made = run("keys", "create", "--db", served.db, "--name", "privacy-desk",
                   "--scope", "subjects:read", check=True)
        served.keys["subjects"] = made.stdout.strip()
        with Client(served.url, api_key=served.keys["writer"]) as client:
            assert all(client.post(event).accepted for event in _events())
        yield served


def _cli(served, *args: str) -> dict:
    """The document ``clauseline right-to-know`` builds from the served store."""
    done = run("right-to-know", SUBJECT, "--db", served.db, *args)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_document_is_the_one_the_command_builds(rtk):
    with Client(rtk.url, api_key=rtk.keys["subjects"]) as client:
        document = client.right_to_know(SUBJECT, request_id="r-1")
        assert document == _cli(rtk, "--request", "r-1")
        assert document["subject"] == SUBJECT and document["request"]["request_id"] == "r-1"
        cited = {p["from"]["id"] for g in document["specific_pieces"] for p in g["pieces"]}
        assert {"k1", "k2"} <= cited and "k5" not in cited  # another subject's event stays out
        assert CARD not in json.dumps(document)
        # with neither, the latest request; with `at` (text or an aware datetime) no request
        assert client.right_to_know(SUBJECT) == document
        at = client.right_to_know(SUBJECT, at="2019-06-02T12:00:00Z")
        assert at == _cli(rtk, "--at", "2019-06-02T12:00:00Z") and at["request"] is None
        aware = datetime(2019, 6, 2, 7, 0, tzinfo=timezone(timedelta(hours=-5)))
        assert client.right_to_know(SUBJECT, at=aware) == at
        page = client.right_to_know(SUBJECT, request_id="r-1", fmt="html")
        assert isinstance(page, str) and page.lstrip().lower().startswith("<!doctype html")
        assert document["digest"] in page and CARD not in page
    with Client(rtk.url, api_key=rtk.key) as admin:  # admin grants every scope
        assert admin.right_to_know(SUBJECT, request_id="r-1") == document


def test_the_async_client_reads_the_same_document(rtk):
    async def main():
        async with AsyncClient(rtk.url, api_key=rtk.keys["subjects"]) as client:
            document = await client.right_to_know(SUBJECT, request_id="r-1")
            page = await client.right_to_know(SUBJECT, request_id="r-1", fmt="html")
            with pytest.raises(NotFound) as missing:
                await client.right_to_know(SUBJECT, request_id="r-404")
            return document, page, missing.value
    document, page, missing = asyncio.run(main())
    assert document == _cli(rtk, "--request", "r-1")
    assert document["digest"] in page
    assert missing.code == "right_to_know.request_not_found"


def test_a_key_without_subjects_read_is_forbidden_naming_the_scope(rtk):
    for who in ("writer", "reader"):
        with Client(rtk.url, api_key=rtk.keys[who]) as client:
            with pytest.raises(Forbidden) as refused:
                client.right_to_know(SUBJECT, request_id="r-1")
            assert refused.value.status == 403 and refused.value.code == "auth.forbidden"
            assert refused.value.required_scope == "subjects:read"
            assert refused.value.attempts == 1  # a 403 is never retried
    with Client(rtk.url) as anonymous, pytest.raises(Unauthorized):
        anonymous.right_to_know(SUBJECT)


@pytest.mark.parametrize("subject, kwargs, kind, code", [
    ("nobody-at-all", {}, NotFound, "right_to_know.subject_not_found"),
    (CARD, {}, NotFound, "right_to_know.subject_not_found"),
    (SUBJECT, {"request_id": f"r-{CARD}"}, NotFound, "right_to_know.request_not_found"),
    ("no-request-1", {}, NotFound, "right_to_know.no_request"),
    (SUBJECT, {"at": CARD}, ValidationFailed, "right_to_know.invalid_time"),
    (SUBJECT, {"at": f"2019-07-01T09:00:00.{CARD}Z"}, ValidationFailed,
     "right_to_know.invalid_time"),
    (SUBJECT, {"at": "0001-01-01T00:00:00Z"}, ValidationFailed, "right_to_know.invalid_time"),
    (SUBJECT, {"at": "x" * 200}, ValidationFailed, None),
    ("\u202e" + SUBJECT, {}, NotFound, "right_to_know.subject_not_found"),
    ("a b?c#d%e", {}, NotFound, "right_to_know.subject_not_found"),
])
def test_problems_are_typed_with_their_codes_and_echo_no_number(rtk, subject, kwargs, kind,
                                                                 code):
    with Client(rtk.url, api_key=rtk.keys["subjects"]) as client:
        with pytest.raises(kind) as problem:
            client.right_to_know(subject, **kwargs)
    error = problem.value
    assert isinstance(error, ProblemError) and error.status == (404 if kind is NotFound else 422)
    if code is not None:
        assert error.code == code
    for shown in (str(error), repr(error), error.detail):
        assert CARD not in shown and CARD[:8] not in shown


@pytest.mark.parametrize("args, kwargs, says", [
    (("",), {}, "non-empty"),
    ((None,), {}, "non-empty"),
    (("a/b",), {}, "slash"),
    ((SUBJECT,), {"request_id": ""}, "request_id"),
    ((SUBJECT,), {"request_id": 7}, "request_id"),
    ((SUBJECT,), {"request_id": "r-1", "at": "2019-07-01T09:00:00Z"}, "not both"),
    ((SUBJECT,), {"at": datetime(2019, 7, 1)}, "UTC offset"),
    ((SUBJECT,), {"at": 1561971600}, "RFC 3339"),
    ((SUBJECT,), {"fmt": "csv"}, '"html"'),
    ((SUBJECT,), {"fmt": CARD}, '"html"'),
])
def test_bad_arguments_are_refused_before_sending(args, kwargs, says):
    # nothing listens on port 9 of a documentation address: a request sent would fail
    with Client("http://192.0.2.1:9", retries=0, timeout=0.5) as client:
        with pytest.raises(ValueError) as refused:
            client.right_to_know(*args, **kwargs)
    assert says in str(refused.value) and CARD not in str(refused.value)


def test_an_answer_that_is_not_a_document_is_an_invalid_response():
    import httpx

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("format") == "html":
            return httpx.Response(200, json={"not": "a page"})
        return httpx.Response(200, json={"status": "ok"})

    with Client("http://service", transport=httpx.MockTransport(answer)) as client:
        with pytest.raises(InvalidResponse):
            client.right_to_know(SUBJECT)
        with pytest.raises(InvalidResponse):
            client.right_to_know(SUBJECT, fmt="html")
