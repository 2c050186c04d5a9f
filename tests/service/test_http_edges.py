"""The HTTP layer's edges against a real ``clauseline serve`` process, as a client meets them
over a socket: requests that are not well-formed HTTP, a client that hangs up in the middle of
its body, integers past a double's range, and the size limit of one event inside a batch."""

from __future__ import annotations

import json
import socket
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from clauseline.cli import main
from clauseline.service import Settings

from .server import Server

CLAUSELINE = Path(sys.executable).parent / "clauseline"
STRUCTURED = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"
#: the single-event limit (clauseline.events.MAX_EVENT_BYTES)
EVENT_LIMIT = 256 * 1024


def tick(event_id: str, **extra) -> dict:
    return {"specversion": "1.0", "id": event_id, "source": "/edges", "type": "clock.tick",
            "time": "2019-07-01T09:00:00Z", "data": {}, **extra}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("edges")
    with Server(CLAUSELINE, "--db", f"sqlite:///{folder / 'edges.db'}", "--insecure-no-auth",
                env={"CLAUSELINE_REDACTION_KEY": "test-key-not-secret"}, cwd=folder,
                log=folder / "serve.log") as running:
        running.log_path = folder / "serve.log"
        yield running
    assert "Traceback" not in running.stderr


def raw(server, data: bytes, *, hang_up: bool = False) -> tuple[int, dict, bytes]:
    """Send bytes on a new connection and read the answer until the server closes it (or,
    ``hang_up``: close at once, as a client that goes away does)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(data)
        if hang_up:
            return 0, {}, b""
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body


def post(server, body: bytes, content_type: str = STRUCTURED) -> tuple[int, dict]:
    request = urllib.request.Request(server.url + "/v1/events", data=body, method="POST",
                                     headers={"content-type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def access_lines(server) -> list[dict]:
    return [json.loads(line) for line in server.log_path.read_text().splitlines()
            if line.startswith("{") and '"route"' in line]


def metric_counts(server) -> dict[tuple[str, str, str], float]:
    """``clauseline_http_request_duration_seconds_count`` by (method, route, status)."""
    with urllib.request.urlopen(server.url + "/metrics", timeout=10) as response:
        text = response.read().decode()
    counts = {}
    for line in text.splitlines():
        if line.startswith("clauseline_http_request_duration_seconds_count{"):
            labels, value = line[len("clauseline_http_request_duration_seconds_count{"):].split("} ")
            parts = dict(part.split("=", 1) for part in labels.split('",') if part)
            key = tuple(parts[k].strip('"') for k in ("method", "route", "status"))
            counts[key] = float(value)
    return counts


MALFORMED = {
    "a header line without a colon": b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
    "bytes that are no request line": b"\x00\x01\x02 garbage\r\n\r\n",
    "a path that is not ASCII": b"GET /v1/subjects/caf\xc3\xa9 HTTP/1.1\r\nHost: x\r\n\r\n",
    "an unknown method": b"BREW /v1/events HTTP/1.1\r\nHost: x\r\n\r\n",
    "a chunked body with a bad chunk size": (
        b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/cloudevents+json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n"),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_a_request_that_is_not_http_is_answered_as_problem_details(server, name):
    status, headers, body = raw(server, MALFORMED[name])
    assert status == 400
    assert headers["content-type"] == "application/problem+json"
    problem = json.loads(body)
    assert problem["code"] == "request.malformed" and problem["status"] == 400
    assert problem["type"] == "https://clauseline.dev/problems/request.malformed"
    assert problem["request_id"] == headers["x-request-id"]
    assert "Invalid HTTP request" not in body.decode()
    assert headers["connection"] == "close"
    # one access line for it, with the id the client was given, and a status the metrics count
    for _ in range(50):
        lines = [a for a in access_lines(server) if a["request_id"] == problem["request_id"]]
        if lines:
            break
        time.sleep(0.1)
    assert len(lines) == 1 and lines[0]["status"] == 400
    assert any(status == "400" and route in ("(malformed)", "/v1/events")
               for (_, route, status) in metric_counts(server))


def test_a_client_that_hangs_up_mid_body_is_a_disconnect_not_a_500(server):
    before = metric_counts(server)
    raw(server, b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: " + STRUCTURED.encode()
        + b"\r\nContent-Length: 5000\r\n\r\n" + b'{"specversion": "1.0", "id": "half', hang_up=True)
    key = ("POST", "/v1/events", "499")
    for _ in range(100):
        after = metric_counts(server)
        if after.get(key, 0) > before.get(key, 0):
            break
        time.sleep(0.1)
    assert after.get(key, 0) == before.get(key, 0) + 1
    assert not [k for k in after if k[2] == "500"]
    lines = [a for a in access_lines(server) if a.get("client_disconnected")]
    assert lines and lines[-1]["status"] == 499 and lines[-1]["route"] == "/v1/events"
    log = server.log_path.read_text()
    assert "frames" not in log and "ClientDisconnect" not in log and "Traceback" not in log


def test_an_event_over_the_size_limit_is_refused_alone_and_inside_a_batch(server):
    # 56,000 "é" written as \u00e9: 336 KB as sent, 112 KB once decoded
    escaped = json.dumps(tick("big", pad="\u00e9" * 56_000)).encode()
    assert len(escaped) > EVENT_LIMIT
    status, problem = post(server, escaped)
    assert status == 413 and problem["code"] == "event.too_large"

    small = json.dumps(tick("small-1")).encode()
    status, problem = post(server, b"[" + small + b", " + escaped + b"]", BATCH)
    assert status == 413 and problem["code"] == "event.too_large"
    assert [e["pointer"] for e in problem["errors"]] == ["/1"]
    assert "event 1 of the batch" in problem["detail"] and str(len(escaped)) in problem["detail"]
    assert "00e9" not in json.dumps(problem) and "\u00e9" not in json.dumps(problem)

    # the limit is per event: a batch larger than one event, of events under it, is decided
    parts = [json.dumps(tick(f"part-{i}", pad="x" * 100_000)).encode() for i in range(3)]
    body = b"[" + b",\n ".join(parts) + b"]"
    assert len(body) > EVENT_LIMIT
    status, decisions = post(server, body, BATCH)
    assert status == 200 and [d["event_id"] for d in decisions] == ["part-0", "part-1", "part-2"]


def _with_integer(event_id: str, digits: str) -> bytes:
    return json.dumps(tick(event_id)).encode()[:-1] + b', "big": ' + digits.encode() + b"}"


@pytest.mark.parametrize("digits", [310, 4_300, 5_000])
def test_an_integer_past_a_double_is_refused_over_http_without_python_s_hint(server, digits):
    status, problem = post(server, _with_integer(f"int-{digits}", "7" * digits))
    assert status == 400 and problem["code"] == "event.invalid_json"
    text = json.dumps(problem)
    assert "set_int_max_str_digits" not in text and "7777777" not in text
    assert f"{digits:,} digits" in problem["detail"]


def test_the_largest_double_written_as_an_integer_is_accepted_over_http(server):
    status, decision = post(server, _with_integer("int-max", str(int(sys.float_info.max))))
    assert status == 201 and decision["status"] == "accepted"


def test_the_cli_refuses_an_integer_past_a_double_as_the_service_does(tmp_path, capsys):
    path = tmp_path / "event.json"
    path.write_bytes(_with_integer("int-cli", "1" + "0" * 4_299))
    assert main(["evaluate", str(path)]) == 1
    out, err = capsys.readouterr()
    assert "event.invalid_json" in out + err and "4,300 digits" in out + err
    assert "set_int_max_str_digits" not in out + err and "0000000" not in out + err


@pytest.mark.parametrize("limit", ["max_body_bytes", "max_batch"])
@pytest.mark.parametrize("value", [0, -1])
def test_settings_refuse_a_limit_of_zero_or_below(limit, value):
    with pytest.raises(ValueError, match=limit):
        Settings(**{limit: value})


def test_the_enqueue_watermark_rate_reaches_every_worker(monkeypatch):
    """``serve --workers N --enqueue-nats``: each worker builds its settings from the
    environment ``serve`` wrote, the watermark rate included; a rate of 0 is refused."""
    from clauseline.service.settings import Settings
    given = Settings(enqueue_nats="nats://127.0.0.1:4222", enqueue_stream="EVENTS",
                     watermark_every=7, watermark_interval=5400.0)
    for name, value in given.to_env().items():
        monkeypatch.setenv(name, value)
    assert Settings.from_env() == given
    with pytest.raises(ValueError, match="watermark_every"):
        Settings(watermark_every=0)
    with pytest.raises(ValueError, match="watermark_interval"):
        Settings(watermark_interval=float("nan"))
