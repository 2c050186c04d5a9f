"""``clauseline keys`` and ``clauseline serve`` as an operator meets them: the key workflow on the
command line, the refusals before anything starts, and a real server process with its banner,
its warning, its JSON access log and a clean stop."""

from __future__ import annotations

import json
import signal
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from clauseline.cli import main

from .server import Server

CLAUSELINE = Path(sys.executable).parent / "clauseline"
EVENT = (Path(__file__).resolve().parents[2] / "examples" / "disclosure-request.json").read_bytes()


def post(url: str, body: bytes, key: str | None = None, content_type="application/cloudevents+json"):
    headers = {"content-type": content_type}
    if key:
        headers["authorization"] = f"Bearer {key}"
    request = urllib.request.Request(url + "/v1/events", data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_keys_create_list_revoke(tmp_path, capsys):
    db = f"sqlite:///{tmp_path / 'keys.db'}"
    assert main(["keys", "create", "--db", db, "--name", "ingest", "--scope", "events:write"]) == 0
    out, err = capsys.readouterr()
    key = out.strip()
    assert key.startswith("clk_") and out.count("\n") == 1
    key_id = key.split("_")[1]
    assert key_id in err and "shown only now" in err and key not in err

    assert main(["keys", "create", "--db", db, "--name", "audit", "--scope", "decisions:read",
                 "--scope", "admin"]) == 0
    capsys.readouterr()
    assert main(["keys", "list", "--db", db, "--format", "json"]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(k["name"], k["scopes"], k["revoked_at"]) for k in listed] == [
        ("ingest", ["events:write"], None), ("audit", ["admin", "decisions:read"], None)] or [
        (k["name"]) for k in listed] == ["audit", "ingest"]
    assert all(key[8:] not in json.dumps(k) for k in listed)

    assert main(["keys", "revoke", "--db", db, key_id]) == 0
    assert "revoked" in capsys.readouterr().err
    assert main(["keys", "list", "--db", db]) == 0
    text = capsys.readouterr().out
    assert f"{key_id}" in text and "revoked 20" in text and key not in text
    assert main(["keys", "revoke", "--db", db, "000000000000"]) == 1
    assert "no key" in capsys.readouterr().err

    with pytest.raises(SystemExit) as usage:
        main(["keys", "create", "--db", db, "--name", "x", "--scope", "everything"])
    assert usage.value.code == 2


def test_serve_refuses_several_workers_on_sqlite_and_an_unreachable_store(tmp_path, capsys):
    assert main(["serve", "--db", f"sqlite:///{tmp_path / 's.db'}", "--workers", "2"]) == 2
    assert "needs PostgreSQL" in capsys.readouterr().err
    assert not (tmp_path / "s.db").exists()
    assert main(["serve", "--db", "postgresql://nobody@127.0.0.1:9/none"]) == 1
    err = capsys.readouterr().err
    assert "store.unavailable" in err and "Traceback" not in err


def test_a_real_server_without_keys_warns_and_refuses_then_serves_once_a_key_exists(tmp_path):
    db = f"sqlite:///{tmp_path / 'real.db'}"
    env = {"CLAUSELINE_REDACTION_KEY": "test-key-not-secret"}
    with Server(CLAUSELINE, "--db", db, env=env, cwd=tmp_path) as server:
        status, body = post(server.url, EVENT)
        assert status == 401 and body["code"] == "auth.missing_key"
    assert "has no API key yet" in server.stderr and server.returncode == 0

    assert main(["keys", "create", "--db", db, "--name", "t", "--scope", "events:write"]) == 0
    with Server(CLAUSELINE, "--db", db, env=env, cwd=tmp_path, log=tmp_path / "serve.log") as server:
        key = _last_key(tmp_path, db)
        status, decision = post(server.url, EVENT, key)
        assert status == 201 and decision["status"] == "accepted"
        assert post(server.url, EVENT, key)[1]["status"] == "duplicate"
        server.process.send_signal(signal.SIGTERM)
        # one signal: a graceful stop (a second one, as the helper's stop would send, forces it)
        server.process.wait(timeout=30)
    assert server.returncode == 0
    access = [json.loads(line) for line in server.stderr.splitlines() if line.startswith("{")]
    # the readiness polls of the test's Server helper come first (one or more /healthz)
    assert [(a["route"], a["status"]) for a in access if a["route"] != "/healthz"] == [
        ("/v1/events", 201), ("/v1/events", 200)]
    assert all(a["request_id"] and a["duration_ms"] >= 0 for a in access)
    assert key not in server.stderr and "acct-1" not in server.stderr
    assert "Traceback" not in server.stderr


def _last_key(tmp_path, db) -> str:
    # a fresh key for this run, read from the command's stdout as a user would
    import subprocess
    done = subprocess.run([str(CLAUSELINE), "keys", "create", "--db", db, "--name", "run",
                           "--scope", "events:write"], capture_output=True, text=True,
                          env={"CLAUSELINE_REDACTION_KEY": "test-key-not-secret", "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_insecure_no_auth_is_announced_and_takes_no_key(tmp_path):
    db = f"sqlite:///{tmp_path / 'open.db'}"
    with Server(CLAUSELINE, "--db", db, "--insecure-no-auth", "--max-body-bytes", "4000",
                env={"CLAUSELINE_REDACTION_KEY": "k"}, cwd=tmp_path) as server:
        assert post(server.url, EVENT)[0] == 201
        status, body = post(server.url, b'{"pad": "' + b"x" * 5000 + b'"}')
        assert status == 413 and body["code"] == "request.too_large"
    assert "NO API KEYS ARE CHECKED" in server.stderr


@pytest.mark.parametrize("options, uvicorn_info", [(["--no-access-log"], True),
                                                   (["--log-level", "warning"], False)])
def test_a_server_told_so_writes_no_access_line_and_still_counts_each_request(
        tmp_path, options, uvicorn_info):
    db = f"sqlite:///{tmp_path / 'quiet.db'}"
    with Server(CLAUSELINE, "--db", db, "--insecure-no-auth", *options,
                env={"CLAUSELINE_REDACTION_KEY": "k"}, cwd=tmp_path) as server:
        assert post(server.url, EVENT)[0] == 201
        assert post(server.url, b"{not json")[0] == 400
        with urllib.request.urlopen(server.url + "/metrics", timeout=30) as response:
            metrics = response.read().decode()
    assert server.returncode == 0
    # no JSON line at all: neither the two posts nor the readiness polls were logged
    assert not [line for line in server.stderr.splitlines() if line.startswith("{")]
    # --no-access-log drops the access lines alone; --log-level warning all of INFO, uvicorn's too
    assert ("INFO uvicorn:" in server.stderr) is uvicorn_info
    # the latency histogram still counts what the log no longer says
    counted = {line.split('status="')[1][:3] for line in metrics.splitlines()
               if line.startswith("clauseline_http_request_duration_seconds_count")
               and 'route="/v1/events"' in line}
    assert counted == {"201", "400"}
    assert "Traceback" not in server.stderr
