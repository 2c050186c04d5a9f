"""Every shipped YAML file of the policy names its JSON Schema for editors on its first line, a
yaml-language-server modeline (docs/rule-format.md, "Editing rule files"): the path resolves
from the file to the schema the loader checks that file with, the schema as an editor reads it
(the file alone, nothing fetched) accepts the file, and the loader ignores the comment: the same
rules and the same decisions without it; only the content hash, taken over the files' bytes,
differs."""

from __future__ import annotations

import json
import os
import re
import select
import shutil
import subprocess
import time
from dataclasses import replace
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from clauseline import load_policy
from clauseline.policy.loader import FACILITIES, INTERPRETATIONS, POLICY_INDEX, RULE_FILE
from clauseline.policy.reading import plain, read_yaml
from clauseline.resources import rules_dir, schemas_dir
from clauseline.session import Session

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "examples" / "demo-log.jsonl"
MODELINE = re.compile(r"# yaml-language-server: \$schema=(?P<path>\S+)\n")


def shipped() -> list[Path]:
    files = sorted(rules_dir().rglob("*.yaml"))
    assert len(files) > 20, files  # every clause file, the interpretations, two indexes
    return files


def loader_schema(path: Path) -> str:
    """The schema id the loader checks a shipped file with (clauseline.policy.loader)."""
    if path.name == "facilities.yaml":
        return FACILITIES
    if path.name == "policy.yaml":
        return POLICY_INDEX
    if path.parent.name == "clauses":
        return RULE_FILE
    if path.parent.name == "interpretations" or path.name == "interpretations.yaml":
        return INTERPRETATIONS
    raise AssertionError(f"a shipped YAML file of no known kind: {path}")


def modeline_target(path: Path) -> Path:
    first = path.read_text(encoding="utf-8").splitlines(keepends=True)[0]
    found = MODELINE.fullmatch(first)
    assert found, f"{path.relative_to(rules_dir())}: line 1 is not a modeline: {first!r}"
    relative = found["path"]
    assert not relative.startswith(("/", "http:", "https:", "file:")), relative
    return (path.parent / relative).resolve()


@pytest.mark.parametrize("path", shipped(), ids=lambda p: str(p.relative_to(rules_dir())))
def test_every_shipped_file_names_its_schema_and_the_schema_accepts_it(path):
    target = modeline_target(path)
    assert target.is_file(), f"{path}: the modeline's path does not reach a file: {target}"
    assert target.parent == schemas_dir().resolve()
    schema = json.loads(target.read_text(encoding="utf-8"))
    # the schema the loader checks this kind of file with, not another
    assert schema["$id"] == loader_schema(path)
    # what an editor reads: the schema file alone; every $ref is to its own definitions, so
    # nothing is fetched (an absolute https $ref would make the editor fetch a URL that may
    # not answer)
    refs = re.findall(r'"\$ref":\s*"([^"]*)"', target.read_text(encoding="utf-8"))
    assert all(ref.startswith("#") for ref in refs), refs
    doc, problems = read_yaml(path, str(path))
    assert not problems and doc is not None
    errors = sorted(Draft202012Validator(schema).iter_errors(plain(doc)), key=str)
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors[:5]]


def test_the_schema_refuses_what_an_editor_should_flag():
    """The schema an editor reads catches a mistyped key and a missing field: the modeline is
    worth something only if the schema behind it says no."""
    path = rules_dir() / "securus-2019-05-04" / "clauses" / "A.yaml"
    schema = json.loads(modeline_target(path).read_text(encoding="utf-8"))
    doc = plain(read_yaml(path, str(path))[0])
    rule = doc["rules"][0]
    misspelt = {**rule, "wehn": rule["when"]}
    del misspelt["when"]
    broken = {**doc, "rules": [misspelt]}
    messages = [e.message for e in Draft202012Validator(schema).iter_errors(broken)]
    assert any("wehn" in m for m in messages) and any("'when'" in m for m in messages), messages


def _without_modelines(tmp_path: Path) -> Path:
    copy = tmp_path / "rules"
    shutil.copytree(rules_dir(), copy, ignore=shutil.ignore_patterns("__pycache__", "*.py"))
    for path in copy.rglob("*.yaml"):
        text = path.read_text(encoding="utf-8")
        first, rest = text.split("\n", 1)
        assert MODELINE.fullmatch(first + "\n")
        path.write_text(rest, encoding="utf-8")
    return copy


def test_the_loader_ignores_the_modeline(tmp_path):
    with_lines = load_policy(fixtures=True)
    without = load_policy(_without_modelines(tmp_path), fixtures=True)
    assert [v.version for v in with_lines.versions] == [v.version for v in without.versions]
    for a, b in zip(with_lines.versions, without.versions):
        assert a.counted == b.counted and len(a.interpretations) == len(b.interpretations)
        rules_a = {r.id: r for r in a.enforcing}
        rules_b = {r.id: r for r in b.enforcing}
        assert rules_a.keys() == rules_b.keys()
        for rule_id, rule in rules_a.items():
            # one line lower in the file (the modeline above it), nothing else differs
            other = rules_b[rule_id]
            assert rule.line == other.line + 1, rule_id
            assert replace(rule, line=other.line, file=other.file) == other, rule_id
        # the content hash is over the files' bytes: the modeline is part of it
        assert a.content_hash != b.content_hash
    # and decides alike: the demo log's decisions, byte for byte (the fixture amendment loaded
    # decides nothing before 2099: tests/test_versions.py)
    lines = DEMO.read_text(encoding="utf-8").splitlines()[:120]
    assert ([d.to_json() for _, d in Session(with_lines).replay(lines)]
            == [d.to_json() for _, d in Session(without).replay(lines)])


def test_no_test_or_golden_file_holds_a_policy_hash_of_the_files():
    """The modeline changed every version's content hash: nothing may hold one hard-coded (a
    recorded artefact that embeds a hash is regenerated, never edited)."""
    hashes = {v.content_hash for v in load_policy(fixtures=True).versions}
    for folder in (ROOT / "tests", ROOT / "docs", ROOT / "examples"):
        for path in folder.rglob("*"):
            if path.is_file() and path.suffix in (".py", ".md", ".txt", ".json", ".jsonl",
                                                  ".yaml", ".csv", ".html"):
                text = path.read_text(encoding="utf-8", errors="replace")
                assert not any(h in text for h in hashes), path


# --- the modeline as an editor reads it: the real yaml-language-server ---------------------------

def _language_server() -> str | None:
    """yaml-language-server (what VS Code's Red Hat YAML extension runs): $YAML_LANGUAGE_SERVER
    or on PATH (`npm install -g yaml-language-server`)."""
    return os.environ.get("YAML_LANGUAGE_SERVER") or shutil.which("yaml-language-server")


class LanguageServer:
    """A minimal Language Server Protocol client over the server's stdio."""

    SETTINGS = {"yaml": {"validate": True, "completion": True, "hover": True,
                         "schemaStore": {"enable": False}}}

    def __init__(self, command: str, timeout: float = 60.0):
        self.process = subprocess.Popen([command, "--stdio"], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.deadline = time.monotonic() + timeout
        self.buffer, self.next_id, self.diagnostics = b"", 1, {}
        self.request("initialize", {"processId": None, "rootUri": None,
                                    "capabilities": {"workspace": {"configuration": True}}})
        self.notify("initialized", {})
        self.notify("workspace/didChangeConfiguration", {"settings": self.SETTINGS})

    def send(self, message: dict) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.process.stdin.flush()

    def notify(self, method: str, params: dict) -> None:
        self.send({"method": method, "params": params})

    def receive(self) -> dict:
        while True:
            if b"\r\n\r\n" in self.buffer:
                head, rest = self.buffer.split(b"\r\n\r\n", 1)
                size = int(re.search(rb"(?i)content-length:\s*(\d+)", head)[1])
                if len(rest) >= size:
                    self.buffer = rest[size:]
                    message = json.loads(rest[:size])
                    if message.get("method") == "textDocument/publishDiagnostics":
                        self.diagnostics[message["params"]["uri"]] = message["params"]["diagnostics"]
                    elif "method" in message and "id" in message:  # a request of the server's
                        items = len(message.get("params", {}).get("items", []))
                        self.send({"id": message["id"], "result": [self.SETTINGS["yaml"]] * items
                                   if message["method"] == "workspace/configuration" else None})
                    return message
            left = self.deadline - time.monotonic()
            assert left > 0, "yaml-language-server did not answer in time"
            if select.select([self.process.stdout], [], [], left)[0]:
                chunk = os.read(self.process.stdout.fileno(), 1 << 16)
                assert chunk, "yaml-language-server exited"
                self.buffer += chunk

    def request(self, method: str, params: dict) -> dict:
        ident, self.next_id = self.next_id, self.next_id + 1
        self.send({"id": ident, "method": method, "params": params})
        while (message := self.receive()).get("id") != ident or "method" in message:
            pass
        return message.get("result")

    def open(self, path: Path, text: str) -> str:
        uri = path.resolve().as_uri()
        self.diagnostics.pop(uri, None)
        self.notify("textDocument/didOpen", {"textDocument": {
            "uri": uri, "languageId": "yaml", "version": 1, "text": text}})
        return uri

    def diagnostics_of(self, uri: str) -> list[dict]:
        while uri not in self.diagnostics:
            self.receive()
        return self.diagnostics[uri]

    def close(self) -> None:
        self.process.kill()
        self.process.wait()


@pytest.fixture(scope="module")
def server():
    command = _language_server()
    if command is None:
        pytest.skip("yaml-language-server is not installed (npm install -g yaml-language-server; "
                    "or set YAML_LANGUAGE_SERVER): the editor's reading is not checked")
    client = LanguageServer(command)
    yield client
    client.close()


def test_the_language_server_finds_no_problem_in_any_shipped_file(server):
    uris = {server.open(path, path.read_text(encoding="utf-8")): path for path in shipped()}
    for uri, path in uris.items():
        assert server.diagnostics_of(uri) == [], path


def test_the_language_server_flags_mistakes_and_completes_keys(server, tmp_path):
    """Through the modeline alone (no settings name the schema): a misspelt key and a missing
    one are errors where they are, and a rule's keys are offered as completions."""
    path = rules_dir() / "securus-2019-05-04" / "clauses" / "A.yaml"
    text = path.read_text(encoding="utf-8")
    broken = text.replace("    when:", "    wehn:", 1)
    # the server resolves the modeline from the document's URI: a file beside the shipped ones
    uri = server.open(path.with_name("A-edited.yaml"), broken)
    messages = [(d["range"]["start"]["line"], d["message"]) for d in server.diagnostics_of(uri)]
    line = broken.splitlines().index("    wehn:")
    assert (line, "Property wehn is not allowed.") in messages, messages
    assert any('Missing property "when"' in m for _, m in messages), messages
    typing = text.split("rules:\n", 1)[0] + "rules:\n  - id: A.new-rule\n    \n"
    uri = server.open(path.with_name("A-typing.yaml"), typing)
    result = server.request("textDocument/completion", {
        "textDocument": {"uri": uri}, "position": {"line": len(typing.splitlines()) - 1,
                                                   "character": 4}})
    items = result["items"] if isinstance(result, dict) else result
    offered = {item["label"] for item in items}
    assert {"when", "emit", "quote", "title"} <= offered, offered
