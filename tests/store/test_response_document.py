"""Clause U's response documents in a store (SQLite and PostgreSQL): the digests a
`ccpa.response.prepared` records are read back from the subject's record as memory holds them,
so a delivery naming a document decides in a store as in memory, a digest the engine masks as a
card number included, and across a store closed and reopened between preparing and delivering."""

import json

from clauseline import Session
from clauseline.store import open_store

CALIFORNIA = {"residence": {"country": "US", "region": "US-CA"}}
PERIOD = {"from": "2018-07-01T09:00:00Z", "to": "2019-07-01T09:00:00Z"}
PLAIN = "sha256:" + "5e" * 32
DIGIT_HEAVY = "sha256:4111111111111111" + "0a" * 24   # read by the rules as a masked card number


def _events():
    def event(n, kind, time, data):
        return {"specversion": "1.0", "id": f"rd-{n}", "source": "/ccpa", "type": kind,
                "time": time, "subject": "ca-1", "data": data}

    def delivered(n, request_id, digest):
        return event(n, "ccpa.response.delivered", "2019-07-11T09:00:00Z", {
            "request_id": request_id, "channel": "electronic", "portable_format": True,
            "fee": 0, "period": PERIOD, "document_digest": digest})

    filed = [event(i, "ccpa.request.filed", "2019-07-01T09:00:00Z", {
        "request_id": r, "kinds": ["specific_pieces"], "delivery": "electronic",
        "has_account": False, "profile": CALIFORNIA}) for i, r in ((1, "r-1"), (2, "r-2"))]
    prepared = [event(i, "ccpa.response.prepared", "2019-07-10T09:00:00Z", {
        "request_id": r, "period": PERIOD, "digest": d})
        for i, r, d in ((3, "r-1", PLAIN), (4, "r-2", DIGIT_HEAVY))]
    deliveries = [delivered(5, "r-1", PLAIN), delivered(6, "r-2", DIGIT_HEAVY),
                  delivered(7, "r-1", DIGIT_HEAVY)]   # r-2's document named for r-1
    return filed + prepared, deliveries


def test_a_store_checks_delivered_documents_as_memory_does(policy, store_url):
    first, second = _events()
    memory = Session(policy)
    expected = [memory.submit(e).to_json() for e in first + second]
    got = []
    store = open_store(store_url)
    try:
        got += [Session(policy, store).submit(e).to_json() for e in first]
    finally:
        store.close()
    store = open_store(store_url)  # reopened: the documents come back from the subject's record
    try:
        got += [Session(policy, store).submit(e).to_json() for e in second]
    finally:
        store.close()
    assert got == expected
    unmatched = [[o["ref"] for o in json.loads(d)["outcomes"]
                  if o.get("violation") == "ccpa.response_document_unmatched"]
                 for d in expected[-3:]]
    assert unmatched == [[], [], ["r-1"]]
