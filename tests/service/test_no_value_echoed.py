"""What the HTTP service answers about hostile requests (the real app, and a real ``serve``
process): no problem detail quotes a value that is not short and safe, whether it comes from a
query parameter, a member name a JSON Pointer is built from, the requested path, a header name,
the method or the Content-Type; and ``serve`` never prints the database password, not even in
the ``keys create --db ...`` it suggests for a store without keys. The CLI side is
``tests/test_no_value_echoed.py``."""

from __future__ import annotations

import sys
from pathlib import Path

from store.conftest import pg_url  # noqa: F401 - a fresh PostgreSQL schema

from .server import Server

CLAUSELINE = Path(sys.executable).parent / "clauseline"
#: a card number (Luhn-valid), an SSN written without separators, a bank account number
CARD, SSN, ACCOUNT = "4111111111111111", "219099999", "000123456789"


def nothing_planted(text: str) -> None:
    for planted in (CARD, SSN, ACCOUNT, CARD[:8]):
        assert planted not in text, f"{planted!r} is echoed:\n{text}"


def event(**extra) -> dict:
    return {"specversion": "1.0", "id": "e-1", "source": "/facilities/tx-01/requests",
            "type": "disclosure.requested", "time": "2019-07-01T09:00:00Z", "subject": "acct-1",
            "data": {"request_id": "r-1", "recipient": {"kind": "law_enforcement", "name": "PD"},
                     "purpose": "law_enforcement_activity", "data_categories": ["voice"]},
            **extra}


def test_a_query_parameter_holding_a_number_is_not_quoted(sqlite_api):
    for value in (f"2019-07-01T09:00:00.{CARD}Z", CARD, f"2019-07-01T09:00:00.{SSN}+00:00",
                  f"{ACCOUNT}Z"):
        answer = sqlite_api.get("/v1/obligations", params={"due_before": value})
        assert answer.status_code == 422, answer.text
        nothing_planted(answer.text)
        problem = answer.json()
        assert problem["code"] == "request.invalid_parameter"
        assert [e["pointer"] for e in problem["errors"]] == ["/query/due_before"]
    # the refusal still says why
    answer = sqlite_api.get("/v1/obligations", params={"due_before": f"2019-07-01T09:00:00.{CARD}Z"})
    assert "a time with 16 fractional-second digits is finer than a microsecond" in \
        answer.json()["detail"]
    answer = sqlite_api.get("/v1/obligations", params={"limit": CARD})
    assert answer.status_code == 422 and answer.json()["errors"][0]["pointer"] == "/query/limit"
    nothing_planted(answer.text)


def test_a_member_name_holding_a_number_is_masked_in_the_pointer(sqlite_api):
    # an extension attribute of the wrong type, named by a card number: 422, located
    answer = sqlite_api.post("/v1/events", event(**{CARD: {"x": 1}}))
    assert answer.status_code == 422, answer.text
    nothing_planted(answer.text)
    assert [(e["pointer"], e["code"]) for e in answer.json()["errors"]] == [
        ("/[redacted name of 16 characters]", "schema.type")]
    # nested too deep below a member named by an SSN: 400 from the parser, located
    deep: dict = {}
    for _ in range(40):
        deep = {"k": deep}
    body = event()
    body["data"]["recipient"] = {SSN: deep}
    answer = sqlite_api.post("/v1/events", body)
    assert answer.status_code == 400, answer.text
    nothing_planted(answer.text)
    [error] = answer.json()["errors"]
    assert error["code"] == "event.too_deep"
    assert error["pointer"].startswith("/data/recipient/[redacted name of 9 characters]/k/k/")
    # an index is no name: a short member name and array indexes are shown as they are
    answer = sqlite_api.post("/v1/events", event(data={**event()["data"],
                                                       "data_categories": ["voice", 7]}))
    assert [e["pointer"] for e in answer.json()["errors"]][0] == "/data/data_categories/1"


def test_a_404_path_a_method_a_header_name_or_a_content_type_is_not_echoed(sqlite_api):
    for path in (f"/v1/cards/{CARD}", f"/v1/accounts/{ACCOUNT}", f"/v1/{SSN}/calls",
                 f"/v1/x/{CARD[:6]}/{CARD[6:]}"):
        answer = sqlite_api.get(path)
        assert answer.status_code == 404, path
        nothing_planted(answer.text)
        assert answer.json()["detail"].startswith("no such resource: GET /v1/")
    # a harmless path is still shown, so that a typo can be seen
    assert sqlite_api.get("/v1/obligation").json()["detail"] == \
        "no such resource: GET /v1/obligation"
    answer = sqlite_api.client.request(f"X{CARD}", "/v1/obligations",
                                       headers=sqlite_api.auth())
    assert answer.status_code == 405
    nothing_planted(answer.text)
    # binary mode: a ce-* header given twice, whose name is a number
    headers = [("content-type", "application/json"), ("ce-specversion", "1.0"),
               (f"ce-{CARD}", "a"), (f"ce-{CARD}", "b"), *sqlite_api.auth().items()]
    answer = sqlite_api.client.post("/v1/events", content=b"{}", headers=headers)
    assert answer.status_code == 400 and answer.json()["code"] == "request.invalid_header"
    nothing_planted(answer.text)
    answer = sqlite_api.post("/v1/events", event(), headers={"content-type": f"text/x-{CARD}"})
    assert answer.status_code == 415
    nothing_planted(answer.text)


def test_serve_never_prints_the_database_password(pg_url, tmp_path):
    # the fresh schema has no API key: serve warns and suggests keys create --db ...
    user, rest = pg_url.split("@", 1)
    url = f"{user}:secret@{rest}"
    with Server(CLAUSELINE, "--db", url, env={"CLAUSELINE_REDACTION_KEY": "k"},
                cwd=tmp_path, timeout=60) as server:
        pass
    assert "has no API key yet" in server.stderr
    assert "secret" not in server.stderr
    [suggestion] = [line for line in server.stderr.splitlines() if "keys create --db" in line]
    assert f"{user.split('//')[1]}:***@" in suggestion and "password is not printed" in suggestion
