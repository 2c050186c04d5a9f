"""jsonschema-rs (the fast path of valid events) and python-jsonschema (the judge of invalid ones,
with located messages) must agree on what is valid: checked on every event of the demo log and
the scenario logs, the hostile corpus, and mutations of valid events that break each member."""

import copy
import json
import random
from pathlib import Path

import pytest

from clauseline import load_policy
from clauseline.events import parse_event
from clauseline.events.validation import BASE, ENVELOPE

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def schemas():
    return load_policy().schemas


def logged_events() -> list[dict]:
    files = [ROOT / "examples" / "demo-log.jsonl", *sorted((ROOT / "tests").rglob("*.jsonl"))]
    out = []
    for path in files:
        for line in path.read_bytes().splitlines():
            value, problems = parse_event(line) if line.strip() else (None, ["blank"])
            if not problems and isinstance(value, dict):
                out.append(value)
    return out


BREAKERS = [
    lambda v: None, lambda v: 12345, lambda v: "", lambda v: "x" * 3000, lambda v: [],
    lambda v: {"unknown": 1}, lambda v: True, lambda v: "2019-02-30T00:00:00Z",
    lambda v: "a\u2028b", lambda v: -1.5, lambda v: [v, v] if not isinstance(v, list) else v + v,
]


def mutations(event: dict, rng: random.Random):
    """The event with one member of the envelope or of ``data`` removed or replaced."""
    for where in ("envelope", "data"):
        node = event if where == "envelope" else event.get("data")
        if not isinstance(node, dict):
            continue
        for key in list(node):
            changed = copy.deepcopy(event)
            target = changed if where == "envelope" else changed["data"]
            if rng.random() < 0.3:
                del target[key]
            else:
                target[key] = rng.choice(BREAKERS)(target[key])
            yield changed
        changed = copy.deepcopy(event)
        (changed if where == "envelope" else changed["data"])["zz_unknown"] = "1"
        yield changed


def verdicts(schemas, event) -> list[tuple[str, bool, bool]]:
    """(schema, jsonschema-rs valid, python-jsonschema valid) for the envelope and the data."""
    checks = [(ENVELOPE, event)]
    kind = event.get("type") if isinstance(event, dict) else None
    if isinstance(kind, str) and kind in schemas.event_types and isinstance(event.get("data"), dict):
        checks.append((f"{BASE}events/{kind}.schema.json", event["data"]))
    out = []
    for schema_id, instance in checks:
        fast = schemas.fast(schema_id)
        slow = not any(True for _ in schemas.validator(schema_id).iter_errors(instance))
        out.append((schema_id, fast.is_valid(instance), slow))
    return out


def test_the_fast_path_is_there(schemas):
    assert schemas.fast(ENVELOPE) is not None, "jsonschema-rs is a dependency of clauseline"


@pytest.mark.slow  # about 30 s: make test-slow (and .ci/run)
def test_both_validators_agree_on_logged_and_mutated_events(schemas):
    rng = random.Random(2026)
    events = logged_events()
    assert len(events) > 400
    corpus = list(events)
    for event in rng.sample(events, 80):
        corpus.extend(mutations(event, rng))
    disagreements, valid = [], 0
    for event in corpus:
        for schema_id, fast, slow in verdicts(schemas, event):
            valid += slow
            if fast != slow:
                disagreements.append((schema_id.rsplit("/", 1)[-1], fast, slow,
                                      json.dumps(event)[:300]))
    assert disagreements == []
    assert valid > 400 and len(corpus) > 1500  # both kinds are well represented


def test_the_problems_of_an_event_are_the_same_with_and_without_the_fast_path(schemas):
    rng = random.Random(7)
    events = logged_events()
    corpus = [m for e in rng.sample(events, 30) for m in mutations(e, rng)] + events[:100]
    with_fast = [schemas.event_problems(e) for e in corpus]
    saved, schemas._fast = schemas._fast, {k: None for k in list(schemas._fast)}
    try:
        schemas._fast.update({i: None for i in schemas.ids})
        without = [schemas.event_problems(e) for e in corpus]
    finally:
        schemas._fast = saved
    assert with_fast == without
    assert sum(1 for p in with_fast if p) > 100 and sum(1 for p in with_fast if not p) > 50


def _leaf_paths(node, path=()):
    """Every path to a member or item of a plain document, the deepest last."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield path + (key,)
            yield from _leaf_paths(value, path + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield path + (index,)
            yield from _leaf_paths(value, path + (index,))


def _rule_documents() -> list[tuple[str, object]]:
    """(schema id, document as read) of every shipped policy file: the rule files, the indexes,
    the interpretations and the facilities."""
    from clauseline.policy.loader import FACILITIES, INTERPRETATIONS, POLICY_INDEX, RULE_FILE
    from clauseline.policy.reading import read_yaml
    out = []
    for path in sorted((ROOT / "rules").rglob("*.yaml")):
        schema_id = ({"policy.yaml": POLICY_INDEX, "facilities.yaml": FACILITIES}.get(path.name)
                     or (INTERPRETATIONS if path.parent.name == "interpretations" else RULE_FILE))
        doc, problems = read_yaml(path, path.name)
        assert problems == [] and doc is not None, path
        out.append((schema_id, doc))
    return out


def test_both_validators_agree_on_the_policy_files_and_their_mutations(schemas):
    """A policy file that jsonschema-rs finds valid skips python-jsonschema when a policy loads
    (:func:`clauseline.policy.reading.schema_problems`): a file that is not valid must never
    be let through by that shortcut."""
    from clauseline.policy.reading import native, plain, schema_problems
    rng = random.Random(11)
    documents = _rule_documents()
    assert len(documents) > 30
    checked, invalid, disagreements = 0, 0, []
    for schema_id, doc in documents:
        corpus = [plain(doc)]
        paths = list(_leaf_paths(corpus[0]))
        for where in rng.sample(paths, min(12, len(paths))):
            changed = copy.deepcopy(corpus[0])
            parent = changed
            for step in where[:-1]:
                parent = parent[step]
            if isinstance(parent, dict) and rng.random() < 0.3:
                del parent[where[-1]]
            else:
                parent[where[-1]] = rng.choice(BREAKERS)(parent[where[-1]])
            corpus.append(changed)
        for instance in corpus:
            fast = schemas.fast(schema_id).is_valid(native(instance))
            slow = not any(True for _ in schemas.validator(schema_id).iter_errors(instance))
            checked, invalid = checked + 1, invalid + (not slow)
            if fast != slow:
                disagreements.append((schema_id.rsplit("/", 1)[-1], fast, slow,
                                      json.dumps(instance, default=str)[:300]))
        assert schema_problems(schemas, schema_id, doc, "file.yaml") == []  # as read, with ruamel's types
    assert disagreements == []
    assert checked > 300 and invalid > 100  # both kinds are well represented


def test_both_validators_agree_on_each_constant_a_rule_gives(schemas):
    """A rule's clause letter, id and each constant its ``emit`` gives a checked field are
    checked one by one when a policy loads (``_schema_says``: jsonschema-rs's quick yes, then
    python-jsonschema's reason): every such value of the shipped rules, and near misses of
    each, gets the same verdict from both."""
    from clauseline.policy.loader import DECISION, EMIT_CONSTANTS, OUTCOME, _VersionLoader
    refs = [OUTCOME + "#/properties/clause", OUTCOME + "#/properties/rule",
            DECISION + "#/properties/trace/items"]
    refs += [OUTCOME + "#/properties/" + name for name in EMIT_CONSTANTS]
    values = {"A", "W", "Z", "a", "", "AB", None, 7, "x" * 300, "u.erase-on-request",
              "U.erase", "u.erase on request", "u.erase-on-request\n"}
    for version in load_policy().versions:
        for rule in version.rules:
            values.update({rule.id, rule.clause, rule.id.upper(), rule.id + " ", rule.id + "\u2028"})
            for outcome in rule.emit:
                for name in EMIT_CONSTANTS:
                    given = outcome.get(name) if isinstance(outcome, dict) else None
                    for item in given if isinstance(given, list) else [given]:
                        if isinstance(item, str):
                            values.update({item, item + "x", item.upper(), item[:-1]})
    disagreements, invalid, checked = [], 0, 0
    for ref in refs:
        fast = schemas.fast_ref(ref)
        assert fast is not None, ref  # every ref resolves in jsonschema-rs too
        from jsonschema import Draft202012Validator
        slow = Draft202012Validator({"$ref": ref}, registry=schemas.registry)
        for value in values:
            for instance in (value, [value]):
                a, b = fast.is_valid(instance), slow.is_valid(instance)
                checked, invalid = checked + 1, invalid + (not b)
                if a != b:
                    disagreements.append((ref.rsplit("/", 1)[-1], instance, a, b))
    assert disagreements == []
    assert checked > 2000 and invalid > 1000 and checked - invalid > 100
    # a rule file's bad constant is still reported, with python-jsonschema's reason
    loader = _VersionLoader.__new__(_VersionLoader)
    loader.schemas = schemas
    assert loader._schema_says("not-a-purpose", OUTCOME + "#/properties/purpose")
    assert loader._schema_says("w", OUTCOME + "#/properties/clause")
    assert loader._schema_says("W", OUTCOME + "#/properties/clause") is None


# --------------------------------------------------------------------------------------------
# python-jsonschema is imported only when first needed

TIMES = ["2019-05-04T10:00:00Z", "2019-05-04T10:00:00.123456Z", "2019-05-04t10:00:00z",
         "2019-05-04T10:00:00+02:00", "2019-05-04T10:00:00-07:30", "2019-05-04T10:00:00.5+00:00",
         "2019-05-04 10:00:00Z", "2019-05-04T10:00:00", "2019-05-04T10:00Z", "2019-05-04",
         "2019-02-29T10:00:00Z", "2020-02-29T10:00:00Z", "2019-05-04T24:00:00Z",
         "2019-05-04T23:59:60Z", "2019-05-04T10:00:00.1234567Z", "0000-01-01T00:00:00Z",
         "0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999Z", "2019-05-04T10:00:00+24:00",
         "2019-05-04T10:00:00+02", "２０１９-05-04T10:00:00Z", "2019-05-04T10:00:00Z\n", " ", ""]


@pytest.mark.parametrize("value", TIMES)
def test_the_fast_date_time_check_answers_as_python_jsonschema_does(value):
    from clauseline.events.validation import _date_time_ok, format_checker

    assert _date_time_ok(value) is format_checker().conforms(value, "date-time")


def test_a_schema_or_a_part_of_one_is_found_as_the_registry_finds_it(schemas):
    uris = []
    for schema_id in schemas.ids:
        uris.append(schema_id)
        document = schemas.contents(schema_id)
        uris += [f"{schema_id}#/$defs/{name}" for name in document.get("$defs", {})]
        uris += [f"{schema_id}#/properties/{name}" for name in document.get("properties", {})]
    assert len(uris) > 2 * len(schemas.ids)
    for uri in uris:
        assert schemas.contents(uri) == schemas.registry.resolver().lookup(uri).contents, uri
    for uri in [BASE + "nothing.schema.json", ENVELOPE + "#/properties/nothing",
                ENVELOPE + "#/required/99", ENVELOPE + "#/required/x", ENVELOPE + "#nowhere"]:
        with pytest.raises(LookupError):  # the registry itself raised a ValueError for "x"
            schemas.contents(uri)


def test_loading_the_policy_and_deciding_valid_events_never_imports_python_jsonschema(
        schemas, tmp_path):
    """A consumer, a worker or a replay of a clean log does not pay python-jsonschema's import
    (about a sixth of a command's start-up); a refused event still gets its located errors."""
    import subprocess
    import sys

    valid = [e for e in logged_events() if not schemas.event_problems(e)]
    for k, event in enumerate(valid[:20]):  # times not in plain UTC too (another check)
        valid.append(dict(event, id=f"offset-{k}", time=event["time"][:19] + "+02:00"))
    log = tmp_path / "valid.jsonl"
    log.write_text("".join(json.dumps(e) + "\n" for e in valid))
    program = f"""
import sys
from clauseline import Session, load_policy
policy = load_policy()
decided = [d.status for _, d in Session(policy).replay(open({str(log)!r}, "rb"))]
assert decided.count("accepted") > 100, decided
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("jsonschema", "referencing"))
print("loaded before a refusal:", loaded)
problems = policy.schemas.event_problems({{"specversion": "1.0", "id": "x", "source": "/s",
    "type": "payment.made", "time": "2019-05-04T10:00:00+02:00", "subject": "c", "data": {{}}}})
print("refused:", [p.path for p in problems])
"""
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert "loaded before a refusal: []" in done.stdout
    assert "refused: ['/data/amount'" in done.stdout
