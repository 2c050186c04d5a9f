"""The CCPA right-to-know document (issue 26, clause U), golden over the demo log and the
CCPA-cycle scenarios: every permitted disclosure about the subject in the period appears under
its recipient kind and purpose, nothing comes from outside the period, no other subject's id
shows, a sale is marked, reduced numbers stay reduced, and the same store gives the same bytes.
The expectations are computed here from the replayed decisions and the stored log, never copied
from the builder's output. The command line (``clauseline right-to-know``) is run too."""

from __future__ import annotations

import calendar
import csv
import io
import json
import re
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import jsonschema
import pytest

from clauseline import Session
from clauseline.cli import main
from clauseline.right_to_know import (RightToKnowError, assemble, build, digest, dumps,
                                      prepared_event, to_csv, to_html)
from clauseline.store import open_store
from clauseline.testing.scenarios import load_scenarios

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "examples" / "demo-log.jsonl"
SCHEMA = json.loads((ROOT / "schemas" / "right-to-know.schema.json").read_text())
CARD = "4111111111111111"


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)


def year_before(moment: datetime) -> datetime:
    """Same day and time 12 months earlier (29 February to 28 February), written out here."""
    year = moment.year - 1
    last = calendar.monthrange(year, moment.month)[1]
    return moment.replace(year=year, day=min(moment.day, last))


def people(event: dict) -> set[str]:
    found = {event.get("subject")}
    for key in ("parties", "participants"):
        for p in (event.get("data") or {}).get(key) or []:
            found.add(p.get("subject"))
    return found - {None}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo log replayed into a SQLite store: (store URL, stored records)."""
    folder = tmp_path_factory.mktemp("rtk-demo")
    url = f"sqlite:///{folder / 'demo.db'}"
    assert main(["replay", str(DEMO), "--db", url, "--out", str(folder / "d.jsonl")]) == 0
    store = open_store(url, create=False)
    try:
        records = list(store.log())
    finally:
        store.close()
    return url, records


def requests_of(records):
    return [(r["event"]["subject"], r["event"]["data"]["request_id"], r["event"]["time"])
            for r in records if r["event"]["type"] == "ccpa.request.filed"]


def check_document(doc: dict, records: list[dict], subject: str, start: datetime,
                   end: datetime) -> None:
    """Everything the golden tests demand of one document, against the stored records."""
    jsonschema.Draft202012Validator(SCHEMA).validate(doc)
    assert doc["digest"] == digest(doc)
    assert instant(doc["period"]["from"]) == start and instant(doc["period"]["to"]) == end
    by_seq = {r["seq"]: r for r in records}
    in_period = [r for r in records if subject in people(r["event"])
                 and start <= instant(r["event"]["time"]) < end]

    # every permitted disclosure about the subject in the period, under its recipient and purpose
    expected = {}
    for r in in_period:
        for o in r["decision"]["outcomes"]:
            if o["kind"] == "disclosure" and o["effect"] == "permit" and o["subject"] == subject:
                entry = expected.setdefault((o["recipient"], o["purpose"]), [set(), set()])
                entry[0].update(o["data_categories"])
                entry[1].add((r["seq"], o["rule"]))
    got = {(d["recipient"], d["purpose"]): [set(d["data_categories"]),
                                            {(f["seq"], f["rule"]) for f in d["from"]}]
           for d in doc["categories_disclosed"]}
    assert got == expected
    assert {t["recipient"] for t in doc["third_party_categories"]} == {k for k, _ in expected}
    assert {p["purpose"] for p in doc["purposes"]} == {p for _, p in expected}
    for d in doc["categories_disclosed"]:
        assert d["sale"] == (d["purpose"] == "sale")

    # nothing from outside the period, and every record cited is about the subject
    cited = [f for section in ("categories_collected", "sources", "purposes",
                               "third_party_categories", "categories_disclosed")
             for item in doc[section] for f in item["from"]]
    cited += [p["from"] for group in doc["specific_pieces"] for p in group["pieces"]]
    for ref in cited:
        record = by_seq[ref["seq"]]
        assert (record["event"]["source"], record["event"]["id"]) == (ref["source"], ref["id"])
        assert start <= instant(record["event"]["time"]) < end, ref
        assert subject in people(record["event"])
    if cited or doc["request"]:
        last = max([f["seq"] for f in cited] + ([doc["request"]["from"]["seq"]]
                                                if doc["request"] else []))
        assert doc["chain_head"] == by_seq[last]["hash"]
        assert doc["generated_from"]["through_seq"] == last

    # no other subject's identifier anywhere in the document
    others = set().union(*(people(r["event"]) for r in records)) - {subject}
    text = dumps(doc)
    for other in others:
        assert not re.search(rf"(?<![\w-]){re.escape(other)}(?![\w-])", text), other
    # reduced numbers stay reduced
    assert CARD not in text
    assert not re.search(r"\d{13,}", re.sub(r"[0-9a-f]{64}", "", text))  # hashes aside
    assert "hmac" not in text


def test_the_demo_documents_of_every_request(demo):
    url, records = demo
    store = open_store(url, create=False)
    try:
        found = requests_of(records)
        assert len(found) == 6
        for subject, request_id, received in found:
            doc = build(store, subject, request_id=request_id)
            end = instant(received)
            check_document(doc, records, subject, year_before(end), end)
            assert doc["request"]["request_id"] == request_id
            filed = next(r for r in records if r["event"]["type"] == "ccpa.request.filed"
                         and r["event"]["data"]["request_id"] == request_id)
            statuses = [o["status"] for o in filed["decision"]["outcomes"]
                        if o["kind"] == "obligation" and o["ref"] == request_id]
            assert doc["request"]["status"] == (statuses[0] if statuses else None)
    finally:
        store.close()


def test_every_subject_of_the_demo_at_its_last_event(demo):
    """A document for each subject the demo names, up to just after its last event: every one
    passes the golden checks (law-enforcement disclosures of calls, SVV sessions, payments)."""
    url, records = demo
    subjects = sorted(set().union(*(people(r["event"]) for r in records)))
    assert len(subjects) > 10
    store = open_store(url, create=False)
    try:
        for subject in subjects:
            last = max(instant(r["event"]["time"]) for r in records
                       if subject in people(r["event"]))
            end = last + timedelta(seconds=1)
            doc = build(store, subject, at=end.isoformat().replace("+00:00", "Z"))
            check_document(doc, records, subject, year_before(end), end)
            assert doc["request"] is None
    finally:
        store.close()


def test_a_denied_sale_contributes_nothing_and_a_card_stays_reduced(demo):
    url, records = demo
    store = open_store(url, create=False)
    try:
        # e-0130: cus-100262's information asked for sale to a data broker, denied (clause E)
        sale = next(r for r in records if r["event"]["id"] == "e-0130")
        assert [o["effect"] for o in sale["decision"]["outcomes"]] == ["deny"]
        doc = build(store, "cus-100262", at="2019-12-31T00:00:00Z")
        assert all(not d["sale"] for d in doc["categories_disclosed"])
        assert sale["seq"] not in {f["seq"] for d in doc["categories_disclosed"] for f in d["from"]}
        # cus-100231 paid with a card whose full number the producer sent (e-0018)
        paid = build(store, "cus-100231", at="2019-12-31T00:00:00Z")
    finally:
        store.close()
    cards = [p for g in paid["specific_pieces"] for p in g["pieces"]
             if p["from"]["id"] == "e-0018" and p["field"] == "/data/card_number"]
    assert len(cards) == 1
    assert cards[0]["value"] == {"redacted": "card", "last4": CARD[-4:]}
    assert "full number is not kept" in cards[0]["note"]
    assert {g["category"] for g in paid["specific_pieces"]
            if cards[0] in g["pieces"]} == {"credit_card"}
    for text in [dumps(paid), to_html(paid), *to_csv(paid).values()]:
        assert CARD not in text and "hmac" not in text


def test_another_party_of_a_call_is_left_out(demo):
    """det-tx-40135's call with cus-100317 (e-0036): the detainee's document shows the call
    and their own party entry, never the other party."""
    url, records = demo
    store = open_store(url, create=False)
    try:
        doc = build(store, "det-tx-40135", at="2019-12-31T00:00:00Z")
        other = build(store, "cus-100317", at="2019-12-31T00:00:00Z")
    finally:
        store.close()
    fields = [p["field"] for g in doc["specific_pieces"] for p in g["pieces"]
              if p["from"]["id"] == "e-0036"]
    assert "/data/call_id" in fields and "/data/parties/0/user_type" in fields
    assert not any(f.startswith("/data/parties/1") for f in fields)
    assert "cus-100317" not in dumps(doc)
    # the other party's own document has the call, with its own entry only
    fields = [p["field"] for g in other["specific_pieces"] for p in g["pieces"]
              if p["from"]["id"] == "e-0036"]
    assert "/data/parties/1/user_type" in fields and not any(
        f.startswith("/data/parties/0") for f in fields)


def test_the_same_store_gives_the_same_bytes_and_a_copy_too(demo, tmp_path):
    url, _ = demo
    copy = tmp_path / "copy.db"
    shutil.copyfile(url[len("sqlite:///"):], copy)
    shutil.copyfile(url[len("sqlite:///"):] + ".key", str(copy) + ".key")
    texts = []
    for where in (url, url, f"sqlite:///{copy}"):
        store = open_store(where, create=False)
        try:
            texts.append(dumps(build(store, "cus-100270", request_id="ccpa-2019-0002")))
        finally:
            store.close()
    assert texts[0] == texts[1] == texts[2]


def test_a_permitted_sale_is_marked():
    """The shipped policy permits no sale (E's ban is absolute), so the marking is checked on
    records a policy permitting one would give."""
    def record(seq, event_id, outcomes, subject="ca-9", time="2020-03-01T00:00:00Z"):
        return {"seq": seq, "hash": f"h{seq}", "policy_hash": "p",
                "event": {"specversion": "1.0", "id": event_id, "source": "/t",
                          "type": "disclosure.requested", "time": time, "subject": subject,
                          "data": {}},
                "decision": {"policy_version": "v", "outcomes": outcomes}}
    permit = {"kind": "disclosure", "effect": "permit", "subject": "ca-9", "rule": "X.sell",
              "recipient": "commercial_third_party", "purpose": "sale",
              "data_categories": ["email", "name"]}
    deny = dict(permit, effect="deny", purpose="marketing", rule="X.no")
    other = dict(permit, subject="ca-8")
    doc = assemble([record(1, "e1", [permit, deny, other]),
                    record(2, "e2", [permit], time="2019-01-01T00:00:00Z")],
                   "ca-9", at="2020-06-01T00:00:00Z")
    assert doc["categories_disclosed"] == [
        {"recipient": "commercial_third_party", "purpose": "sale", "sale": True,
         "data_categories": ["email", "name"],
         "from": [{"source": "/t", "id": "e1", "seq": 1, "rule": "X.sell"}]}]
    assert doc["purposes"] == [{"purpose": "sale", "sale": True,
                                "from": [{"source": "/t", "id": "e1", "seq": 1, "rule": "X.sell"}]}]
    assert doc["chain_head"] == "h1"
    assert "SOLD" in to_html(doc)
    rows = list(csv.DictReader(io.StringIO(to_csv(doc)["categories_disclosed.csv"])))
    assert rows[0]["sale"] == "true"


def _scenario_events(path: Path) -> list[list[dict]]:
    """The events each scenario of a file submits, as its timeline completes them."""
    out = []
    for scenario in load_scenarios(path):
        timeline = scenario.timeline()
        seen: list[dict] = []
        submit = timeline.session.submit
        timeline.session.submit = (lambda event, submit=submit:
                                   (seen.append(event), submit(event))[1])
        scenario.run(timeline)
        out.append(seen)
    return out


def test_the_ccpa_cycle_scenarios(tmp_path, policy):
    template = tmp_path / "template.db"
    open_store(f"sqlite:///{template}").close()  # migrated once, copied for each scenario
    built = filed = 0
    for number, events in enumerate(_scenario_events(ROOT / "tests/scenarios/U/ccpa-cycle.yaml")):
        path = tmp_path / f"s{number}.db"
        shutil.copyfile(template, path)
        store = open_store(f"sqlite:///{path}")
        try:
            session = Session(policy, store)
            for event in events:
                session.submit(event)
            records = list(store.log())
            filed += sum(e["type"] == "ccpa.request.filed" for e in events)
            for subject, request_id, received in requests_of(records):
                doc = build(store, subject, request_id=request_id)
                end = instant(received)
                check_document(doc, records, subject, year_before(end), end)
                built += 1
        finally:
            store.close()
    assert built == filed > 0  # a document for every request the scenarios file


def test_errors_are_clear_and_never_echo_a_number(demo):
    url, _ = demo
    store = open_store(url, create=False)
    try:
        cases = [(dict(subject=CARD), "right_to_know.subject_not_found"),
                 (dict(subject="cus-100262", request_id=f"r-{CARD}"),
                  "right_to_know.request_not_found"),
                 (dict(subject="cus-100262", at=CARD), "right_to_know.invalid_time"),
                 (dict(subject="det-tx-40117"), "right_to_know.no_request")]
        for kwargs, code in cases:
            subject = kwargs.pop("subject")
            with pytest.raises(RightToKnowError) as caught:
                build(store, subject, **kwargs)
            assert caught.value.code == code
            assert CARD not in str(caught.value) and CARD[:8] not in str(caught.value)
    finally:
        store.close()


def test_the_prepared_event_answers_the_request():
    doc = assemble([{"seq": 1, "hash": "h", "policy_hash": "p", "decision": {"outcomes": []},
                     "event": {"id": "e1", "source": "/c", "type": "ccpa.request.filed",
                               "time": "2020-02-29T12:00:00-08:00", "subject": "ca-1",
                               "data": {"request_id": "r-1"}}}], "ca-1")
    assert doc["period"] == {"from": "2019-02-28T20:00:00Z", "to": "2020-02-29T20:00:00Z"}
    event = prepared_event(doc)
    assert event["time"] == doc["request"]["received_at"]
    assert event["data"] == {"request_id": "r-1", "period": doc["period"], "digest": doc["digest"]}
    assert event["id"] == "rtk-" + doc["digest"][len("sha256:"):][:32]
    assert prepared_event(doc, "2020-03-05T00:00:00Z")["time"] == "2020-03-05T00:00:00Z"
    with pytest.raises(RightToKnowError, match="at or after"):
        prepared_event(doc, "2020-02-01T00:00:00Z")
    at_only = assemble(iter([{"seq": 1, "hash": "h", "policy_hash": "p",
                              "decision": {"outcomes": []},
                              "event": {"id": "e1", "source": "/c", "type": "profile.updated",
                                        "time": "2020-01-01T00:00:00Z", "subject": "ca-1",
                                        "data": {"profile": {"birth_date": "1990-01-02"}}}}]),
                       "ca-1", at="2020-02-01T00:00:00Z")
    with pytest.raises(RightToKnowError, match="only a document that answers a request"):
        prepared_event(at_only)


# --- the command line ---------------------------------------------------------------------------

def test_cli_json_html_csv(demo, tmp_path, capsys):
    url, records = demo
    args = ["right-to-know", "cus-100270", "--db", url, "--request", "ccpa-2019-0002"]
    assert main(args) == 0
    out = capsys.readouterr().out
    doc = json.loads(out)
    assert out == dumps(doc) + "\n" and doc["digest"] == digest(doc)
    assert main(args + ["--out", str(tmp_path / "d.json")]) == 0
    assert (tmp_path / "d.json").read_text() == out
    assert main(args + ["--format", "html", "--out", str(tmp_path / "d.html")]) == 0
    page = (tmp_path / "d.html").read_text()
    assert "<script" not in page and doc["digest"] in page and "ccpa-2019-0002" in page
    assert main(args + ["--format", "csv", "--out", str(tmp_path / "csv")]) == 0
    files = sorted(p.name for p in (tmp_path / "csv").iterdir())
    assert files == sorted(to_csv(doc))
    pieces = list(csv.DictReader(io.StringIO(
        (tmp_path / "csv" / "specific_pieces.csv").read_text())))
    assert len(pieces) == sum(len(g["pieces"]) for g in doc["specific_pieces"])
    # the latest request by default
    capsys.readouterr()
    assert main(["right-to-know", "cus-100262", "--db", url]) == 0
    assert json.loads(capsys.readouterr().out)["request"]["request_id"] == "ccpa-2020-0001"


def test_cli_help_explains():
    with pytest.raises(SystemExit):
        main(["right-to-know", "--help"])


def test_cli_record_submits_the_prepared_event(demo, tmp_path, capsys, policy, monkeypatch):
    url, _ = demo
    path = tmp_path / "rec.db"
    shutil.copyfile(url[len("sqlite:///"):], path)
    shutil.copyfile(url[len("sqlite:///"):] + ".key", str(path) + ".key")
    db = f"sqlite:///{path}"
    args = ["right-to-know", "cus-100270", "--db", db, "--request", "ccpa-2019-0002", "--record",
            "--at", "2019-07-15T00:00:00Z"]
    import clauseline.cli.rights
    monkeypatch.setattr(clauseline.cli.rights, "load", lambda *a, **k: policy)  # loaded once
    assert main(args) == 0
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    assert "recorded ccpa.response.prepared" in captured.err
    store = open_store(db, create=False)
    try:
        prepared = [r for r in store.log() if r["event"]["type"] == "ccpa.response.prepared"]
        assert [r["event"]["data"]["digest"] for r in prepared] == [doc["digest"]]
        assert prepared[0]["event"]["time"] == "2019-07-15T00:00:00Z"
        # recording does not change the document (the event lies after the period)
        assert build(store, "cus-100270", request_id="ccpa-2019-0002") == doc
    finally:
        store.close()
    assert main(args) == 0  # the same document again: one event (a duplicate)
    assert "duplicate" in capsys.readouterr().err


def _without_positions(value):
    """A document with what depends on the store's numbering left out (seq, chain head, digest,
    generated_from): what two stores holding the same events about the subject agree on."""
    if isinstance(value, dict):
        return {k: _without_positions(v) for k, v in value.items()
                if k not in ("seq", "chain_head", "digest", "generated_from")}
    if isinstance(value, list):
        return [_without_positions(v) for v in value]
    return value


def test_the_partition_that_owns_the_subject_gives_the_serial_document(demo, tmp_path, policy,
                                                                        capsys):
    """Under the stream each partition's store holds the events its consumer evaluates
    (docs/scale.md): the demo log routed to three SQLite partition stores as ``publish``
    routes it, and each event submitted to every partition it concerns. The document read from
    the owner's partition (``--partitions 3``) says what the serial store's says."""
    from clauseline.events import parse_event
    from clauseline.stream.partitioning import Router, partition_of
    from clauseline.stream.stores import partition_url

    url, records = demo
    base = f"sqlite:///{tmp_path / 'parts.db'}"
    router = Router(policy, 3)
    stores = [open_store(partition_url(base, k)) for k in range(3)]
    try:
        sessions = [Session(policy, s) for s in stores]
        for line in DEMO.read_bytes().splitlines():
            event, problems = parse_event(line)
            if problems:
                continue
            route = router.route(event, exact=True)
            for k in range(3):
                if route.concerns(k):
                    sessions[k].submit(event)
    finally:
        for s in stores:
            s.close()
    serial = open_store(url, create=False)
    try:
        for subject, request_id, _ in requests_of(records):
            capsys.readouterr()
            assert main(["right-to-know", subject, "--db", base, "--partitions", "3",
                         "--request", request_id]) == 0
            parted = json.loads(capsys.readouterr().out)
            owner = open_store(partition_url(base, partition_of(subject, 3)), create=False)
            try:
                assert parted == build(owner, subject, request_id=request_id)
            finally:
                owner.close()
            assert _without_positions(parted) == _without_positions(
                build(serial, subject, request_id=request_id))
    finally:
        serial.close()


def test_cli_record_refuses_what_cannot_be_recorded(demo, tmp_path, capsys):
    url, _ = demo
    path = tmp_path / "refuse.db"
    shutil.copyfile(url[len("sqlite:///"):], path)
    shutil.copyfile(url[len("sqlite:///"):] + ".key", str(path) + ".key")
    db = f"sqlite:///{path}"
    before = path.read_bytes()
    # a document for a period ending at a time answers no request; a time before receipt
    for extra, says in ((["--at", "2019-08-01T00:00:00Z"], "right_to_know.no_request"),
                        (["--request", "ccpa-2019-0001", "--at", "2019-01-01T00:00:00Z"],
                         "right_to_know.invalid_time")):
        assert main(["right-to-know", "cus-100262", "--db", db, "--record", *extra]) == 2
        captured = capsys.readouterr()
        assert says in captured.err and captured.out == ""
    assert path.read_bytes() == before  # nothing recorded
