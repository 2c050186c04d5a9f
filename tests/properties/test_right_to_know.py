"""Property: the right-to-know document (issue 26) built from a store equals one recomputed
here, independently and simply, from the decisions of an in-memory replay of the same generated
log and from the stored events; its period is the 12 calendar months before the request's
receipt (or the time given); it cites nothing outside the period and no record that is not
about the subject; and its digest is the SHA-256 of its canonical bytes.

The recomputation below shares no code with ``clauseline.right_to_know`` but the vocabulary of
data categories (the contract's) and the canonical JSON (``clauseline.canonical``)."""

from __future__ import annotations

import calendar
import hashlib
import json
import shutil
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given

from clauseline import Session
from clauseline.canonical import dumps as canonical
from clauseline.right_to_know import assemble

from .conftest import SLOW_FACTOR, bounded, mixed_logs, shared_policy

VOCABULARY = {"name", "date_of_birth", "ssn", "email", "mailing_address", "phone", "credit_card",
              "debit_card", "bank_account", "location", "voice", "video", "call_details",
              "account_info", "account_history", "device_id", "mac_address", "ip_address",
              "browsing_history", "money_transfer"}
NO_PIECES = {"clock.tick", "policy.changed", "disclosure.requested", "ccpa.request.filed",
             "ccpa.request.extended", "ccpa.request.verified", "ccpa.response.delivered",
             "ccpa.response.prepared"}


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00")
                                  .replace("t", "T")).astimezone(timezone.utc)


def year_before(moment: datetime) -> datetime:
    year = moment.year - 1
    last = calendar.monthrange(year, moment.month)[1]
    return moment.replace(year=year, day=min(moment.day, last))


def people(event: dict) -> set:
    found = {event.get("subject")}
    data = event.get("data") if isinstance(event.get("data"), dict) else {}
    for key in ("parties", "participants"):
        if isinstance(data.get(key), list):
            found |= {p.get("subject") for p in data[key] if isinstance(p, dict)}
    return found


def leaves(node, pointer: str, subject: str, key=None):
    """(pointer, value) of the data's leaves the subject's document may show."""
    if isinstance(node, dict) and "redacted" in node:
        yield pointer, node
    elif isinstance(node, dict):
        for k, v in node.items():
            if pointer == "/data" and k == "collected":
                continue
            yield from leaves(v, f"{pointer}/{str(k).replace('~', '~0').replace('/', '~1')}",
                              subject, k)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            if key in ("parties", "participants") and not (isinstance(v, dict)
                                                           and v.get("subject") == subject):
                continue
            yield from leaves(v, f"{pointer}/{i}", subject, key)
    else:
        yield pointer, node


def recompute(records: list[dict], memory: list[dict], subject: str, start: datetime,
              end: datetime) -> dict:
    """What the document must say, from the stored events and the in-memory decisions."""
    disclosed, pieces, collected = {}, set(), {}
    for record, decision in zip(records, memory):
        event = record["event"]
        if subject not in people(event) or not start <= instant(event["time"]) < end:
            continue
        for o in decision["outcomes"]:
            if o["kind"] == "disclosure" and o["effect"] == "permit" and o["subject"] == subject:
                entry = disclosed.setdefault((o["recipient"], o["purpose"]), [set(), set()])
                entry[0] |= set(o["data_categories"])
                entry[1].add((record["seq"], o["rule"]))
        data = event.get("data") if isinstance(event.get("data"), dict) else {}
        cats = {c for c in data.get("collected") or [] if c in VOCABULARY}
        if event["type"] == "payment.made" and data.get("instrument") in VOCABULARY:
            cats.add(data["instrument"])
        if event["type"] not in NO_PIECES:
            pieces |= {(record["seq"], p) for p, _ in leaves(data, "/data", subject)}
        for c in cats:
            collected.setdefault(c, set()).add(record["seq"])
    return {"disclosed": disclosed, "pieces": pieces, "collected": collected}


def check(template: Path, lines: list[str]) -> None:
    from clauseline.store import open_store

    policy = shared_policy()
    memory = [d.as_dict() for _, d in Session(policy).replay(lines)]
    first = [d for d in memory if d["status"] == "accepted"]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "clauseline.db"
        shutil.copyfile(template, path)
        store = open_store(f"sqlite:///{path}")
        try:
            list(Session(policy, store).replay(lines))
            records = list(store.log())
        finally:
            store.close()
    # the stored records are the accepted events, in order: the in-memory decisions pair with them
    assert [(r["event"]["source"], r["event"]["id"]) for r in records] == [
        (d["event_source"], d["event_id"]) for d in first]
    if not records:
        return
    subjects = sorted(s for r in records for s in people(r["event"]) if isinstance(s, str) and s)
    for subject in dict.fromkeys(subjects):
        about = [r for r in records if subject in people(r["event"])]
        ends = [(None, max(instant(r["event"]["time"]) for r in about) + timedelta(seconds=1))]
        ends += [(r["event"]["data"]["request_id"], instant(r["event"]["time"])) for r in about
                 if r["event"]["type"] == "ccpa.request.filed" and r["event"]["subject"] == subject]
        for request_id, end in ends:
            at = None if request_id else end.isoformat().replace("+00:00", "Z")
            if at is not None and end.year < 2:
                continue
            doc = assemble(records, subject, request_id=request_id, at=at)
            if request_id is not None:
                # the first filing of that id is the request (a repeat is "already on file")
                end = min(instant(r["event"]["time"]) for r in about
                          if r["event"]["type"] == "ccpa.request.filed"
                          and r["event"]["subject"] == subject
                          and r["event"]["data"]["request_id"] == request_id
                          and r["seq"] == doc["request"]["from"]["seq"])
            start = year_before(end)
            want = recompute(records, first, subject, start, end)
            assert (instant(doc["period"]["from"]), instant(doc["period"]["to"])) == (start, end)
            got = {(d["recipient"], d["purpose"]): [set(d["data_categories"]),
                                                    {(f["seq"], f["rule"]) for f in d["from"]}]
                   for d in doc["categories_disclosed"]}
            assert got == want["disclosed"]
            assert all(d["sale"] == (d["purpose"] == "sale") for d in doc["categories_disclosed"])
            assert {(p["from"]["seq"], p["field"]) for g in doc["specific_pieces"]
                    for p in g["pieces"]} == want["pieces"]
            assert all(g["category"] in VOCABULARY for g in doc["specific_pieces"])
            listed = {c["category"]: {f["seq"] for f in c["from"]}
                      for c in doc["categories_collected"]}
            for category, seqs in want["collected"].items():
                assert seqs <= listed[category]
            assert set(listed) == set(want["collected"]) | {
                g["category"] for g in doc["specific_pieces"]}
            body = {k: v for k, v in doc.items() if k != "digest"}
            assert doc["digest"] == "sha256:" + hashlib.sha256(
                canonical(body).encode()).hexdigest()
            text = json.dumps(doc)
            assert all(other not in text for other in set(subjects) - {subject}
                       if len(other) > 6)


@bounded(15)
@given(lines=mixed_logs(1, 12))
def test_the_document_equals_its_independent_recomputation(store_template, lines):
    check(store_template, lines)


@pytest.mark.slow
@bounded(15 * SLOW_FACTOR)
@given(lines=mixed_logs(1, 30))
def test_the_document_equals_its_independent_recomputation_longer(store_template, lines):
    check(store_template, lines)
