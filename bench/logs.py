"""A realistic mixed event log of any size, from a seed, as JSON Lines (for `make bench`).

Run: `python bench/logs.py --events N [--subjects S] [--seed K] [--days D] --out FILE` (`-` for
stdout), or from Python: `make_log(path, events, subjects, seed)` (writes the file, returns the
count of each event type) and `iter_log(events, subjects, seed)` (yields the lines).

Every event type of the catalogue (`schemas/events/`), shaped after `examples/demo-log.jsonl`
and in about its proportions: calls and messages most, then payments, web visits, account
openings, disclosure requests, video visits, a few profile updates, CCPA requests, cookie
choices, opt-outs, adverse service changes, children identified, one policy change per log, and
a `clock.tick` at 06:00 UTC of every simulated day. Times increase through the log (one slot per
event, spread evenly over `days`; facility events are written with the facility's UTC offset,
the same instant). CCPA requests run full cycles: each request is later answered on time,
extended then answered, answered late (sometimes with a fee, a non-portable format or another
channel), or left unanswered to go overdue; some subjects file a third request within 12 months
(declined by the policy); a third of the answers name the document they deliver, prepared
(`ccpa.response.prepared`) half a day before, a few of them one not prepared for that request
and period. A few events are policy violations on purpose (unencrypted payments,
categories clause A does not list, sales to commercial parties, a card number in a payment).

Deterministic: the same (events, subjects, seed, days) give the same bytes (a private
`random.Random(seed)`, no clock, no hash order). Streaming: the generator keeps one small record
per subject and the CCPA answers not yet due, never the log. Subject ids look like the demo's
(`det-tx-01234`, `cus-00412`, `vis-00093`, `svv-00107`) with at most 5 digits in a run (a
run of 6 or more after a naming word is masked by the redactor: `engine/redact.py`); other
ids likewise (`e-12x0345`).
"""

from __future__ import annotations

import argparse
import calendar
import hashlib
import heapq
import json
import random
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

#: 2019-06-01T00:00:00Z: the shipped policy (securus-2019-05-04) is in force from then on.
START = calendar.timegm((2019, 6, 1, 0, 0, 0))
DAY = 86400

#: facility id -> (id prefix of its detainees, UTC offset written on its events, state)
FACILITIES = {
    "tx-dallas-01": ("tx", "-05:00", "US-TX"),
    "tx-harris-02": ("hc", "-05:00", "US-TX"),
    "ca-la-03": ("ca", "-07:00", "US-CA"),
    "la-orleans-04": ("la", "-05:00", "US-LA"),
}
FACILITY_IDS = list(FACILITIES)
#: Roles of subject indices, by index % 20: 35 % detainees, 40 % customers, 15 % visitors,
#: 10 % video-visitation users.
KIND_OF = ["det"] * 7 + ["cus"] * 8 + ["vis"] * 3 + ["svv"] * 2
ROLE = {"det": "detainee", "cus": "customer", "vis": "website_visitor", "svv": "svv_user"}
REGIONS = ["US-CA"] * 3 + ["US-TX"] * 3 + ["US-FL", "US-AZ", "US-LA", "US-NV", "US-OK", "US-GA"]
ABROAD = [("MX", "MX-BCN"), ("GB", "GB-LND"), ("CA", "CA-ON")]
CARD_NUMBERS = ["4111111111111111", "5555555555554444", "378282246310005"]

#: Weights of the events drawn at random (not counting account openings, which come with a
#: subject's first event, the CCPA answers, scheduled by their request, and the clock ticks):
#: close to the demo log's mix.
MIX = [("call.recorded", 84), ("message.send.requested", 70), ("payment.made", 65),
       ("website.visited", 42), ("disclosure.requested", 28), ("svv.session.recorded", 17),
       ("profile.updated", 8), ("ccpa.request.filed", 6), ("cookie.preference.changed", 5),
       ("communication.opted_out", 4), ("service.changed", 2), ("child.identified", 0.6)]
TYPES = [t for t, _ in MIX]
CUMULATIVE = []
_total = 0.0
for _, _w in MIX:
    _total += _w
    CUMULATIVE.append(_total)

#: Disclosure requests after the demo's: (recipient kind, name, purpose, categories, extra),
#: extra one of None, "recording", "subpoena", "warrant", "court_order", "consent", "no_consent".
DISCLOSURES = [
    ("law_enforcement", "Dallas County Sheriff's Office", "law_enforcement_activity",
     ["call_details", "voice", "location"], "recording"),
    ("correctional_facility", "Los Angeles County Sheriff's Department",
     "illegal_activity_investigation", ["name", "phone", "account_history", "call_details"], None),
    ("law_enforcement", "Texas Department of Public Safety", "law_enforcement_activity",
     ["name", "phone", "call_details", "ssn", "credit_card", "browsing_history"], None),
    ("law_enforcement", "Dallas Police Department", "legal_process",
     ["account_history", "money_transfer", "credit_card"], "subpoena"),
    ("law_enforcement", "Dallas Police Department", "legal_process",
     ["call_details", "account_history"], "warrant"),
    ("law_enforcement", "Dallas Police Department", "law_enforcement_activity",
     ["video", "voice", "name"], "recording"),
    ("commercial_third_party", "Lakeshore Data Brokers LLC", "sale",
     ["name", "email", "phone", "mailing_address"], None),
    ("commercial_third_party", "Brightline Mobile Offers Inc.", "marketing", ["email", "phone"],
     "consent"),
    ("commercial_third_party", "Brightline Mobile Offers Inc.", "marketing", ["email"],
     "no_consent"),
    ("service_provider", "Twilio Inc.", "service_provision", ["phone", "name"], None),
    ("vendor", "Iron Mountain Inc.", "service_provision", ["mailing_address", "account_history"],
     None),
    ("affiliate", "JPay LLC", "service_provision", ["name", "account_info", "money_transfer"],
     None),
    ("payment_processor", "Chase Paymentech", "transaction_processing",
     ["credit_card", "name", "mailing_address"], None),
    ("regulator", "Federal Communications Commission", "illegal_activity_investigation",
     ["call_details", "account_history"], None),
    ("vendor", "Kount Inc.", "fraud_investigation", ["credit_card", "ip_address", "device_id"],
     None),
    ("anti_terrorism_agency", "FBI Terrorist Screening Center", "law_enforcement_activity",
     ["video", "voice"], "recording"),
    ("law_enforcement", "New Orleans Police Department", "law_enforcement_activity",
     ["name", "mailing_address", "email", "phone", "debit_card"], None),
    ("law_enforcement", "Los Angeles Police Department", "legal_process", ["call_details", "voice"],
     "court_order"),
    ("affiliate", "JPay LLC", "protect_rights_safety", ["name", "phone"], None),
    ("service_provider", "Securus Fraud Desk", "enforce_policies",
     ["account_history", "call_details"], None),
    ("acquirer", "Aventiv Technologies LLC", "business_transfer",
     ["name", "email", "account_info", "account_history"], None),
    ("service_provider", "Voice Analytics Partner Inc.", "law_enforcement_activity",
     ["voice", "call_details"], "recording"),
    ("regulator", "California Department of Justice", "legal_process", ["account_history", "name"],
     "subpoena"),
    ("commercial_third_party", "Pacific Ad Exchange", "marketing",
     ["browsing_history", "ip_address"], None),
    ("affiliate", "JPay LLC", "marketing", ["email", "name"], None),
    ("commercial_third_party", "Brightline Mobile Offers Inc.", "service_provision",
     ["phone", "name"], "consent"),
    ("commercial_third_party", "Brightline Mobile Offers Inc.", "transaction_processing",
     ["email"], "no_consent"),
]


def _num(n: int) -> str:
    """A number as at most 5 digits in a run: 00412, or 3x00412 past 99,999."""
    return f"{n:05d}" if n < 100000 else f"{n // 100000}x{n % 100000:05d}"


def _stamp(seconds: int, offset: str = "Z") -> str:
    """RFC 3339 text of an instant, written in UTC or at a facility's fixed offset."""
    if offset == "Z":
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))
    sign = -1 if offset[0] == "-" else 1
    shift = sign * (int(offset[1:3]) * 3600 + int(offset[4:6]) * 60)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds + shift)) + offset


class _Subjects:
    """The subjects of the log: their ids, roles, residences, and what the generator remembers
    of each (a few small fields: bounded by the number of subjects, not by the log)."""

    def __init__(self, count: int, rng: random.Random):
        self.count = max(count, 20)
        self.by_kind: dict[str, list[int]] = {k: [] for k in ROLE}
        for i in range(self.count):
            self.by_kind[KIND_OF[i % 20]].append(i)
        self.region = [REGIONS[rng.randrange(len(REGIONS))] for _ in range(self.count)]
        self.opened = bytearray(self.count)     # 1: known (opened in the log or before it)
        self.last_recording: dict[int, str] = {}
        self.ccpa_filed: dict[int, list[int]] = {}  # subject -> times of its requests (last 3)
        self.filers: list[int] = []  # the keys of ccpa_filed, in the order they filed first

    def sid(self, i: int) -> str:
        kind = KIND_OF[i % 20]
        if kind == "det":
            return f"det-{FACILITIES[self.facility(i)][0]}-{_num(i)}"
        return f"{kind}-{_num(i)}"

    @staticmethod
    def facility(i: int) -> str:
        return FACILITY_IDS[(i // 20) % len(FACILITY_IDS)]

    def pick(self, rng: random.Random, kinds: str) -> int:
        """A subject of one of ``kinds`` (a space-separated list); active ones more often."""
        kind = kinds.split()[rng.randrange(len(kinds.split()))]
        pool = self.by_kind[kind]
        return pool[int(len(pool) * rng.random() ** 2)]


def _unanswered(*_args) -> None:
    """Schedules nothing: the answer of a request that is declined is never sent."""


def _digest(*parts: str) -> str:
    return "sha256:" + hashlib.sha256(" ".join(parts).encode("utf-8")).hexdigest()


def _documented(schedule, number: int):
    """``schedule`` for an answer that names the document it delivers (`document_digest`): a
    `ccpa.response.prepared` for the request is scheduled half a day before the answer. Now and
    then (from the request's number, so no random draw changes) the document named is not the
    one prepared for the request and period: one prepared for a shorter period, or another
    document altogether (`ccpa.response_document_unmatched`)."""
    def deliver(at: int, etype: str, i: int, data: dict) -> None:
        if etype != "ccpa.response.delivered":
            return schedule(at, etype, i, data)
        request, period = data["request_id"], dict(data["period"])
        if number % 27 == 4:  # the document prepared covers the year up to the day before
            period["to"] = _stamp(at - DAY)
        prepared = _digest(request, period["from"], period["to"])
        schedule(at - DAY // 2, "ccpa.response.prepared", i,
                 {"request_id": request, "period": period, "digest": prepared})
        named = _digest(request, "draft") if number % 27 == 13 else prepared
        schedule(at, etype, i, dict(data, document_digest=named))
    return deliver


class _Generator:
    def __init__(self, events: int, subjects: int, seed: int, days: int | None):
        self.rng = random.Random(seed)
        self.n = events
        self.days = days or min(365, max(90, events // 500))
        self.span = self.days * DAY
        self.subjects = _Subjects(subjects, self.rng)
        self.pending: list = []  # heap of (instant, seq, type, subject index, data)
        self.seq = 0
        self.counter = 0  # for the ids of transactions, calls, messages, requests
        self.deferred: list = []  # an event drawn for a subject whose account opened first

    def next_id(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}-{_num(self.counter)}"

    def lines(self) -> Iterator[str]:
        next_tick = START + 6 * 3600
        policy_change_at = self.n // 2
        for k in range(self.n):
            now = START + k * self.span // self.n
            if now >= next_tick:
                next_tick += DAY
                yield self.envelope(k, "clock.tick", "/scheduler", now, None, {})
                continue
            if k == policy_change_at:
                effective = _stamp(now + 40 * DAY)
                yield self.envelope(k, "policy.changed", "/legal/policy", now, None, {
                    "version": "securus-2020-04-01", "effective_at": effective,
                    "advance_notice_required": self.rng.random() < 0.5})
                continue
            if self.deferred:
                etype, i, source, data, offset = self.deferred.pop()
                yield self.envelope(k, etype, source, now, i, data, offset)
                continue
            if self.pending and self.pending[0][0] <= now:
                _, _, etype, i, data = heapq.heappop(self.pending)
                yield self.envelope(k, etype, "/privacy/ccpa", now, i, data)
                continue
            yield self.random_event(k, now)

    def envelope(self, k: int, etype: str, source: str, now: int, i: int | None, data: dict,
                 offset: str = "Z") -> str:
        event = {"specversion": "1.0", "id": f"e-{k // 10000}x{k % 10000:04d}", "source": source,
                 "type": etype, "time": _stamp(now, offset)}
        if i is not None:
            event["subject"] = self.subjects.sid(i)
        event["datacontenttype"] = "application/json"
        event["data"] = data
        return json.dumps(event, separators=(",", ":"))

    def random_event(self, k: int, now: int) -> str:
        rng = self.rng
        etype = TYPES[_bisect(CUMULATIVE, rng.random() * _total)]
        make = getattr(self, "_" + etype.replace(".", "_"))
        i, source, data, offset = make(now)
        subjects = self.subjects
        if not subjects.opened[i]:
            subjects.opened[i] = 1
            kind = KIND_OF[i % 20]
            # half of the subjects had an account before the log begins; visitors have none
            if kind != "vis" and rng.random() < 0.5:
                self.deferred.append((etype, i, source, data, offset))
                return self.envelope(k, "account.opened", "/accounts", now, i, self.opening(i))
        return self.envelope(k, etype, source, now, i, data, offset)

    def profile(self, i: int) -> dict:
        kind = KIND_OF[i % 20]
        region = self.subjects.region[i] if kind != "det" else \
            FACILITIES[self.subjects.facility(i)][2]
        profile = {"role": ROLE[kind]}
        if kind == "det":
            profile["user_type"] = "inmate"
        elif kind in ("cus", "svv"):
            profile["user_type"] = ("family", "friend", "family", "clergy")[i % 4]
        profile["residence"] = {"country": "US", "region": region}
        if kind != "vis":
            year = 1950 + (i * 7) % 52
            profile["birth_date"] = f"{year}-{1 + i % 12:02d}-{1 + i % 28:02d}"
        return profile

    def opening(self, i: int) -> dict:
        rng = self.rng
        kind = KIND_OF[i % 20]
        if kind == "det":
            collected = ["name", "date_of_birth", "ssn", "mailing_address"]
            channel = "live_agent"
        else:
            collected = ["name", "email", "phone", "mailing_address"]
            if rng.random() < 0.5:
                collected.append(("credit_card", "debit_card")[i % 2])
            channel = ("web", "mobile", "telephone", "computer", "live_agent")[rng.randrange(5)]
        if rng.random() < 0.04:  # a category clause A does not list for an account
            collected.append(("voice", "location", "browsing_history")[rng.randrange(3)])
        return {"profile": self.profile(i), "collected": collected, "channel": channel}

    # one method per randomly drawn type: (subject index, source, data, time offset)

    def _call_recorded(self, now):
        rng, s = self.rng, self.subjects
        i = s.pick(rng, "det")
        facility = s.facility(i)
        r = rng.random()
        if r < 0.06:
            other, user_type = f"att-{_num(i % 997)}", "attorney"
        else:
            j = s.pick(rng, "cus cus svv")
            other = s.sid(j)
            user_type = "clergy" if r < 0.09 else ("family", "friend")[j % 2]
        call = self.next_id("call")
        recording = "rec-" + call[5:]
        s.last_recording[i] = recording
        data = {"call_id": call, "facility_id": facility, "recording_id": recording,
                "monitored": rng.random() < 0.9,
                "parties": [{"subject": s.sid(i), "user_type": "inmate"},
                            {"subject": other, "user_type": user_type}],
                "collected": ["call_details", "voice", "phone"]}
        if rng.random() < 0.01:  # a category clause A does not list for the service
            data["collected"].append("money_transfer")
        return i, f"/facilities/{facility}/calls", data, FACILITIES[facility][1]

    def _svv_session_recorded(self, now):
        rng, s = self.rng, self.subjects
        i = s.pick(rng, "svv")
        j = s.pick(rng, "det")
        facility = s.facility(j)
        session = self.next_id("svv-sess")
        recording = "rec-svv-" + session[9:]
        s.last_recording[i] = recording
        user_type = ("family", "friend", "family", "clergy", "attorney")[rng.randrange(5)]
        participants = [{"subject": s.sid(i), "user_type": user_type, "role": "participant"},
                        {"subject": s.sid(j), "user_type": "inmate", "role": "participant"}]
        if rng.random() < 0.8:
            participants.append({"subject": f"stf-{FACILITIES[facility][0]}-{j % 97:04d}",
                                 "user_type": "facility_staff", "role": "observer"})
        data = {"session_id": session, "facility_id": facility, "recording_id": recording,
                "participants": participants, "collected": ["video", "voice", "ip_address"]}
        return i, f"/facilities/{facility}/svv", data, FACILITIES[facility][1]

    def _payment_made(self, now):
        rng, s = self.rng, self.subjects
        i = s.pick(rng, "cus cus cus svv")
        instrument = ("credit_card", "credit_card", "debit_card", "bank_account")[rng.randrange(4)]
        r = rng.random()
        status = "completed" if r < 0.8 else ("authorized" if r < 0.93 else "failed")
        data = {"transaction_id": self.next_id("txn"),
                "amount": (10.0, 24.99, 25.0, 40.0, 49.99, 50.0, 100.0)[rng.randrange(7)],
                "currency": "USD", "instrument": instrument, "status": status,
                "encrypted_in_transit": rng.random() > 0.01,
                "product": ("advance_connect", "prepaid_calling", "inmate_debit", "text_connect",
                            "svv")[rng.randrange(5)]}
        if instrument == "credit_card" and rng.random() < 0.1:
            data["card_number"] = CARD_NUMBERS[rng.randrange(len(CARD_NUMBERS))]
        return i, "/billing", data, "Z"

    def _message_send_requested(self, now):
        rng, s = self.rng, self.subjects
        i = s.pick(rng, "cus cus svv")
        r = rng.random()
        category = "transactional" if r < 0.5 else ("news_updates" if r < 0.85 else "marketing")
        data = {"message_id": self.next_id("msg"),
                "channel": "email" if rng.random() < 0.7 else "sms", "category": category}
        return i, "/messaging", data, "Z"

    def _website_visited(self, now):
        rng, s = self.rng, self.subjects
        i = s.pick(rng, "vis vis cus svv")
        collected = ["ip_address", "device_id", "browsing_history"]
        data = {"session_id": self.next_id("ws"), "dnt": rng.random() < 0.1,
                "collected": collected}
        r = rng.random()
        if r < 0.03:
            country, region = ABROAD[rng.randrange(len(ABROAD))]
        else:
            country, region = "US", s.region[i]
        if r < 0.6:
            collected.append("location")
            data["location"] = {"country": country, "region": region}
        if rng.random() < 0.02:  # a category clause A does not list for a visit
            collected.append("email")
        cookies = []
        r = rng.random()
        if r < 0.35:
            cookies.append({"purpose": "mobile_full_site", "set": True})
        if 0.25 < r < 0.75:
            cookies.append({"purpose": "remember_me", "set": rng.random() < 0.85})
        if rng.random() < 0.02:
            cookies.append({"purpose": "ad_retargeting", "set": True})
        data["cookies"] = cookies
        if KIND_OF[i % 20] == "vis" and not s.opened[i]:
            data["profile"] = {"role": "website_visitor",
                               "residence": {"country": country, "region": region}}
        return i, "/web", data, "Z"

    def _disclosure_requested(self, now):
        rng, s = self.rng, self.subjects
        kind, name, purpose, categories, extra = DISCLOSURES[rng.randrange(len(DISCLOSURES))]
        if extra == "recording":
            i = s.pick(rng, "det det svv")
        else:
            i = s.pick(rng, "det cus cus svv vis")
        data = {"request_id": self.next_id("dr"), "recipient": {"kind": kind, "name": name},
                "purpose": purpose, "data_categories": list(categories)}
        if extra in ("subpoena", "warrant", "court_order"):
            process = {"kind": extra}
            if extra != "warrant" or rng.random() < 0.5:
                process["reference"] = f"DC-{_num(self.counter % 99991)}"
            data["legal_process"] = process
        elif extra in ("consent", "no_consent"):
            data["consent"] = extra == "consent"
        if extra == "recording" and i in s.last_recording:
            data["recording_id"] = s.last_recording[i]
        return i, "/legal/disclosures", data, "Z"

    def _profile_updated(self, now):
        rng, s = self.rng, self.subjects
        i = s.pick(rng, "cus cus det svv vis")
        r = rng.random()
        if r < 0.02:  # moved abroad
            country, region = ABROAD[rng.randrange(len(ABROAD))]
            profile = {"residence": {"country": country, "region": region}}
        elif r < 0.4:
            s.region[i] = REGIONS[rng.randrange(len(REGIONS))]
            profile = {"residence": {"country": "US", "region": s.region[i]}}
        elif r < 0.7 and KIND_OF[i % 20] != "vis":
            profile = {"birth_date": f"{1950 + rng.randrange(50)}-{1 + rng.randrange(12):02d}-"
                                     f"{1 + rng.randrange(28):02d}"}
        elif KIND_OF[i % 20] == "vis":
            profile = {"role": "customer", "user_type": "family",
                       "residence": {"country": "US", "region": s.region[i]}}
        else:
            profile = {"user_type": ("family", "friend")[rng.randrange(2)]}
        return i, "/accounts", {"profile": profile}, "Z"

    def _cookie_preference_changed(self, now):
        rng, s = self.rng, self.subjects
        i = s.pick(rng, "cus vis")
        r = rng.random()
        purpose = "remember_me" if r < 0.7 else \
            ("mobile_full_site" if r < 0.9 else "ad_retargeting")
        return i, "/web", {"purpose": purpose, "enabled": rng.random() < 0.4}, "Z"

    def _communication_opted_out(self, now):
        rng, s = self.rng, self.subjects
        i = s.pick(rng, "cus svv")
        channel, method = (("email", "email_link"), ("sms", "sms_stop"),
                           ("email", "online_settings"), ("sms", "phone"))[rng.randrange(4)]
        return i, "/messaging/preferences", {"channel": channel, "method": method}, "Z"

    def _service_changed(self, now):
        rng, s = self.rng, self.subjects
        i = s.filers[rng.randrange(len(s.filers))] if s.filers else -1
        if i >= 0 and KIND_OF[i % 20] == "cus" and rng.random() < 0.5:
            reason = "ccpa_rights_exercised"
        else:
            i = s.pick(rng, "cus")
            reason = ("non_payment", "fraud_suspected", "facility_request")[rng.randrange(3)]
        change = ("price_increase", "service_denied", "quality_reduced")[rng.randrange(3)]
        return i, "/accounts", {"change": change, "reason": reason}, "Z"

    def _child_identified(self, now):
        rng, s = self.rng, self.subjects
        i = s.pick(rng, "svv svv vis")
        year = time.gmtime(now).tm_year - 8 - rng.randrange(8)  # 8 to 15 years old
        data = {"birth_date": f"{year}-{1 + rng.randrange(12):02d}-{1 + rng.randrange(28):02d}",
                "parental_consent_verified": rng.random() < 0.2,
                "reported_by": ("staff", "parent", "self")[rng.randrange(3)]}
        return i, "/privacy/children", data, "Z"

    def _ccpa_request_filed(self, now):
        """A request, and its answer scheduled: on time, extended then answered, late (with or
        without other faults), or never (overdue at the next tick after 45 days). Some requests
        are made by an agent, or verified after receipt (or fail verification, at receipt or
        later): chosen from the request's number, so the random draws stay those of a log
        without them."""
        rng, s = self.rng, self.subjects
        if s.filers and rng.random() < 0.3:  # a subject who filed before files again
            i = s.filers[rng.randrange(len(s.filers))]
        else:
            i = s.pick(rng, "cus cus vis")
        if rng.random() < 0.85 and s.region[i] != "US-CA":
            s.region[i] = "US-CA"  # California residents file; a few others do too
        request = self.next_id("ccpa")
        has_account = KIND_OF[i % 20] == "cus"
        delivery = "account" if has_account else ("mail", "electronic")[rng.randrange(2)]
        kinds = ["categories", "sources", "purposes", "third_parties", "specific_pieces"]
        data = {"request_id": request,
                "kinds": sorted(rng.sample(kinds, 1 + rng.randrange(5)), key=kinds.index),
                "delivery": delivery, "has_account": has_account,
                "profile": {"residence": {"country": "US", "region": s.region[i]}}}
        number, verification, schedule = self.counter, None, self.schedule
        if number % 5 == 0:  # verified after receipt, before any answer
            verification = {"status": "pending"}
            self.schedule(now + (2 + number % 3) * DAY, "ccpa.request.verified", i,
                          {"request_id": request, "verification": {"status": "verified"}})
        elif number % 25 == 11:  # fails verification at receipt: never answered
            verification = {"status": "failed", "reason": "identity_not_confirmed"}
            schedule = _unanswered
        elif number % 25 == 16:  # fails verification after receipt: never answered
            verification = {"status": "pending"}
            self.schedule(now + 3 * DAY, "ccpa.request.verified", i, {
                "request_id": request,
                "verification": {"status": "failed", "reason": "information_not_provided"}})
            schedule = _unanswered
        elif number % 50 == 23:  # held for want of an account
            verification = {"status": "pending", "reason": "account_required"}
        if verification is not None:
            data["verification"] = verification
        if number % 20 == 7:
            data["agent"] = {"proof": "signed_permission"}
        elif number % 50 == 33:  # an agent without proof: declined, never answered
            data["agent"] = {"proof": "none"}
            schedule = _unanswered
        if i not in s.ccpa_filed:
            s.filers.append(i)
        history = s.ccpa_filed.setdefault(i, [])
        history.append(now)
        del history[:-3]
        receipt = _stamp(now)
        year_before = _stamp(now - 365 * DAY)
        answer = {"request_id": request, "channel": delivery, "portable_format": True, "fee": 0,
                  "period": {"from": year_before, "to": receipt}}
        if number % 3 == 1:  # the answer names the document it delivers, prepared before it
            schedule = _documented(schedule, number)
        r = rng.random()
        if r < 0.6:  # on time
            schedule(now + rng.randrange(5 * DAY, 44 * DAY), "ccpa.response.delivered", i, answer)
        elif r < 0.72:  # extended within 45 days, answered within 90
            extended_at = now + rng.randrange(20 * DAY, 44 * DAY)
            if r > 0.71:  # noticed late (after 45 days)
                extended_at = now + rng.randrange(46 * DAY, 50 * DAY)
            schedule(extended_at, "ccpa.request.extended", i, {"request_id": request})
            if 0.70 < r < 0.705:  # extended twice
                schedule(extended_at + DAY, "ccpa.request.extended", i, {"request_id": request})
            schedule(extended_at + rng.randrange(DAY, 40 * DAY), "ccpa.response.delivered", i,
                     answer)
        elif r < 0.85:  # late, or faulty
            fault = rng.randrange(5)
            if fault == 1:
                answer["fee"] = 10
            elif fault == 2:
                answer["portable_format"] = False
            elif fault == 3:
                answer["channel"] = "mail" if delivery != "mail" else "electronic"
            elif fault == 4:
                answer["period"] = {"from": _stamp(now - 180 * DAY), "to": receipt}
            due = now + (rng.randrange(46 * DAY, 70 * DAY) if fault == 0
                         else rng.randrange(5 * DAY, 44 * DAY))
            schedule(due, "ccpa.response.delivered", i, answer)
        # else: never answered: the obligation goes overdue
        return i, "/privacy/ccpa", data, "Z"

    def schedule(self, at: int, etype: str, i: int, data: dict) -> None:
        self.seq += 1
        heapq.heappush(self.pending, (at, self.seq, etype, i, data))


def _bisect(cumulative: list[float], x: float) -> int:
    lo, hi = 0, len(cumulative) - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if cumulative[mid] <= x:
            lo = mid + 1
        else:
            hi = mid
    return lo


def iter_log(events: int, subjects: int = 5000, seed: int = 1, days: int | None = None
             ) -> Iterator[str]:
    """The log's lines, without line endings, one at a time."""
    yield from _Generator(events, subjects, seed, days).lines()


def make_log(path, events: int, subjects: int = 5000, seed: int = 1,
             days: int | None = None) -> Counter:
    """Write the log to ``path`` (a path, or an open text file); return the count per type."""
    counts: Counter = Counter()
    out = path if hasattr(path, "write") else open(path, "w", encoding="utf-8", newline="\n")
    try:
        for line in iter_log(events, subjects, seed, days):
            counts[line[line.index('"type":"') + 8:line.index('","time"')]] += 1
            out.write(line)
            out.write("\n")
    finally:
        if out is not path:
            out.close()
    return counts


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, required=True)
    parser.add_argument("--subjects", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--days", type=int, default=None,
                        help="simulated days (default: events/500, between 90 and 365)")
    parser.add_argument("--out", default="-", help="file to write, - for stdout")
    args = parser.parse_args(argv)
    target = sys.stdout if args.out == "-" else Path(args.out)
    counts = make_log(target, args.events, args.subjects, args.seed, args.days)
    print(", ".join(f"{t} {n}" for t, n in counts.most_common()), file=sys.stderr)


if __name__ == "__main__":
    main()
