#!/usr/bin/env python3
"""Write ``examples/demo-log.jsonl``: a realistic, deterministic clauseline event log.

The log tells nine months (2019-06-01 to 2020-03-01) of four correctional facilities, their
detainees, the families, friends, attorneys and clergy who pay for and take their calls, Securus
Video Visitation (SVV) users, anonymous website visitors, and the back-office systems that ask
for disclosures, send messages and answer CCPA requests. About 400 CloudEvents 1.0 events in
structured JSON mode, one compact JSON object per line, in time order.

Every event is valid against ``schemas/``, except, near the end, exactly three deliberate bad
lines (a truncated JSON line, an unknown event type, a payment whose ``amount`` is a string) and
one exact re-delivery of an earlier event (same ``source`` and ``id``), so that a replay shows
``rejected`` and ``duplicate`` decisions too.

Deterministic: a fixed ``random.Random(SEED)``, no wall clock, no environment, standard library
only. Running it twice writes byte-identical files.

    python examples/generate_demo_log.py            # writes examples/demo-log.jsonl
    python examples/generate_demo_log.py -o -       # to stdout
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

SEED = 20190601
UTC = timezone.utc
START = datetime(2019, 6, 1, 8, 0, 0, tzinfo=UTC)
END = datetime(2020, 3, 1, 23, 59, 0, tzinfo=UTC)
OUT = Path(__file__).resolve().parent / "demo-log.jsonl"

# --------------------------------------------------------------------------------------------
# Time zones. Facility systems stamp events in local time with their offset (RFC 3339 allows any
# offset); the central systems (web, billing, privacy, scheduler) stamp UTC with `Z`. US DST in
# the covered period ends 2019-11-03 and starts again 2020-03-08.

_DST_END_2019 = datetime(2019, 11, 3, 7, 0, tzinfo=UTC)      # 02:00 CDT
_DST_START_2020 = datetime(2020, 3, 8, 8, 0, tzinfo=UTC)     # 02:00 CST
ZONES = {"central": (-5, -6), "pacific": (-7, -8)}


def offset_hours(zone: str, when: datetime) -> int:
    summer, winter = ZONES[zone]
    if zone == "pacific":  # the switch happens at 02:00 local, two hours later in UTC
        in_dst = when < _DST_END_2019 + timedelta(hours=2) or when >= _DST_START_2020 + timedelta(hours=2)
    else:
        in_dst = when < _DST_END_2019 or when >= _DST_START_2020
    return summer if in_dst else winter


def rfc3339(when: datetime, zone: str | None) -> str:
    if zone is None:
        return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    hours = offset_hours(zone, when)
    local = when.astimezone(timezone(timedelta(hours=hours)))
    sign = "-" if hours < 0 else "+"
    return local.strftime("%Y-%m-%dT%H:%M:%S") + f"{sign}{abs(hours):02d}:00"


def t(text: str) -> datetime:
    """A UTC instant from `YYYY-MM-DDTHH:MM[:SS]`."""
    if len(text) == 16:
        text += ":00"
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)


# --------------------------------------------------------------------------------------------
# The cast.

FACILITIES = {
    # id: (zone, exempt user types as configured in rules/facilities.yaml, for the story only)
    "tx-dallas-01": "central",    # Dallas County Jail: exempts attorney and clergy
    "tx-harris-02": "central",    # Harris County Detention Center: exempts attorney
    "ca-la-03": "pacific",        # LA County Men's Central Jail: attorney, public_defender, ...
    "la-orleans-04": "central",   # Orleans Parish (not configured: exempts attorney)
}

# detainee id -> (facility, residence region, birth date, [(contact subject, user_type)])
DETAINEES = {
    "det-tx-40117": ("tx-dallas-01", "US-TX", "1988-04-19",
                     [("cus-100231", "family"), ("att-200011", "attorney"), ("cus-100340", "clergy")]),
    "det-tx-40122": ("tx-dallas-01", "US-TX", "1979-09-02",
                     [("cus-100245", "family"), ("cus-100293", "family")]),
    "det-tx-40135": ("tx-dallas-01", "US-TX", "1996-12-11", [("cus-100317", "friend")]),
    "det-hc-77310": ("tx-harris-02", "US-TX", "1991-07-27",
                     [("cus-100301", "family"), ("cus-100231", "friend")]),
    "det-hc-77342": ("tx-harris-02", "US-TX", "1984-01-30", [("cus-100317", "family")]),
    "det-ca-88214": ("ca-la-03", "US-CA", "1993-03-08",
                     [("cus-100262", "family"), ("att-200019", "attorney")]),
    "det-ca-88230": ("ca-la-03", "US-CA", "1975-10-21", [("cus-100270", "family")]),
    "det-ca-88247": ("ca-la-03", "US-CA", "1999-05-14", [("cus-100355", "friend")]),
    "det-la-1203": ("la-orleans-04", "US-LA", "1982-08-03", [("cus-100288", "family")]),
    "det-la-1219": ("la-orleans-04", "US-LA", "1990-02-26", [("cus-100362", "family")]),
}

# customer id -> (user_type, residence, birth date, account channel)
CUSTOMERS = {
    "cus-100231": ("family", {"country": "US", "region": "US-TX"}, "1961-02-17", "telephone"),
    "cus-100245": ("family", {"country": "US", "region": "US-TX"}, "1983-06-05", "mobile"),
    "cus-100262": ("family", {"country": "US", "region": "US-CA"}, "1970-11-23", "web"),
    "cus-100270": ("family", {"country": "US", "region": "US-CA"}, "1977-04-09", "web"),
    "cus-100288": ("family", {"country": "US", "region": "US-LA"}, "1958-12-01", "live_agent"),
    "cus-100293": ("family", {"country": "MX", "region": "MX-NLE"}, "1981-08-30", "telephone"),
    "cus-100301": ("family", {"country": "GB", "region": "GB-LND"}, "1966-03-15", "web"),
    "cus-100317": ("friend", {"country": "US", "region": "US-TX"}, "1995-01-22", "mobile"),
    "cus-100340": ("clergy", {"country": "US", "region": "US-TX"}, "1952-07-04", "live_agent"),
    "cus-100355": ("friend", {"country": "US", "region": "US-NV"}, "1998-10-12", "mobile"),
    "cus-100362": ("family", {"country": "US", "region": "US-LA"}, "1973-05-28", "computer"),
    "att-200011": ("attorney", {"country": "US", "region": "US-TX"}, "1974-09-16", "web"),
    "att-200019": ("attorney", {"country": "US", "region": "US-CA"}, "1980-01-07", "web"),
}

# SVV user id -> (user_type, residence region, birth date or None, detainee visited)
SVV_USERS = {
    "svv-3001": ("family", "US-TX", "1964-05-02", "det-tx-40117"),
    "svv-3002": ("friend", "US-NV", "1997-11-19", "det-ca-88247"),
    "svv-3003": ("family", "US-LA", "1986-02-08", "det-la-1203"),
    "svv-3004": ("family", "US-TX", None, "det-tx-40122"),      # the child: age learned later
    "svv-3005": ("attorney", "US-CA", "1969-06-30", "det-ca-88214"),
    "svv-3006": ("clergy", "US-LA", "1957-09-09", "det-la-1219"),
}
OBSERVERS = {"tx-dallas-01": "stf-tx-0071", "tx-harris-02": "stf-hc-0019",
             "ca-la-03": "stf-ca-0112", "la-orleans-04": "stf-la-0044"}

# Anonymous website visitors: id -> inline profile residence (None: unknown)
VISITORS = {
    "vis-8c1f02": {"country": "US", "region": "US-TX"},
    "vis-91ab4e": {"country": "US", "region": "US-OK"},
    "vis-a02d77": {"country": "US", "region": "US-GA"},
    "vis-b3e910": None,
    "vis-c44f21": {"country": "US", "region": "US-CA"},   # files a CCPA request without an account
    "vis-d59a03": {"country": "US", "region": "US-FL"},   # browses with Do Not Track
    "vis-e6b1c8": {"country": "MX", "region": "MX-BCN"},  # visits from Tijuana
    "vis-f07a55": {"country": "US", "region": "US-LA"},
}

# Luhn-valid public test card numbers, as a careless producer might forward them.
TEST_CARDS = {"credit_card": ["4111111111111111", "5555555555554444", "378282246310005",
                              "4012888888881881"],
              "debit_card": ["4000056655665556", "5200828282828210"]}
TEST_BANK = ("110000000", "000123456789")

PRODUCTS = {"credit_card": ["advance_connect", "prepaid_calling", "inmate_debit", "text_connect"],
            "debit_card": ["advance_connect", "prepaid_calling", "inmate_debit"],
            "bank_account": ["advance_connect", "inmate_debit"]}


class Log:
    """Collects events, then orders them by instant and numbers them `e-0001`, ..."""

    def __init__(self) -> None:
        self.items: list[dict] = []

    def add(self, when: datetime, source: str, type_: str, subject: str | None, data: dict,
            *, zone: str | None = None, fault: str | None = None, redeliver: bool = False) -> dict:
        item = {"when": when, "seq": len(self.items), "source": source, "type": type_,
                "subject": subject, "data": data, "zone": zone, "fault": fault,
                "redeliver": redeliver}
        self.items.append(item)
        return item

    def lines(self) -> list[str]:
        ordered = sorted(self.items, key=lambda i: (i["when"], i["seq"]))
        out = []
        for n, item in enumerate(ordered, start=1):
            event = {"specversion": "1.0", "id": f"e-{n:04d}", "source": item["source"],
                     "type": item["type"], "time": rfc3339(item["when"], item["zone"])}
            if item["subject"] is not None:
                event["subject"] = item["subject"]
            event["datacontenttype"] = "application/json"
            event["data"] = item["data"]
            line = json.dumps(event, separators=(",", ":"), ensure_ascii=False)
            if item["fault"] == "truncated":
                # A producer crashed mid-write: the line stops inside `data`.
                line = line[: line.index('"cookies"')]
            out.append(line)
            if item["redeliver"]:
                out.append(line)  # at-least-once delivery: the same event again
        return out


def build() -> list[str]:
    rng = random.Random(SEED)
    log = Log()
    counters: dict[str, int] = {}

    def next_id(prefix: str, start: int = 1, width: int = 4) -> str:
        counters[prefix] = counters.get(prefix, start - 1) + 1
        return f"{prefix}{counters[prefix]:0{width}d}"

    def jitter(day: datetime, first_hour: int = 13, last_hour: int = 23) -> datetime:
        """A time of day on `day` between first_hour and last_hour (UTC, US daytime)."""
        return day.replace(hour=rng.randint(first_hour, last_hour), minute=rng.randint(0, 59),
                           second=rng.randint(0, 59))

    recordings: dict[str, str] = {}   # story label -> recording id

    # ---------------------------------------------------------------- calls and SVV sessions
    def call(when: datetime, detainee: str, contact: str, user_type: str, *, monitored=True,
             label: str | None = None, extra: list | None = None) -> None:
        facility = DETAINEES[detainee][0]
        short = facility.split("-")[0] + facility.split("-")[-1]
        call_id = next_id(f"call-{short}-", 310000, 6)
        rec = "rec-" + call_id[len("call-"):]
        parties = [{"subject": detainee, "user_type": "inmate"},
                   {"subject": contact, "user_type": user_type}] + (extra or [])
        collected = ["call_details", "voice", "phone"]
        if rng.random() < 0.3:
            collected.append("location")
        log.add(when, f"/facilities/{facility}/calls", "call.recorded", detainee,
                {"call_id": call_id, "facility_id": facility, "recording_id": rec,
                 "monitored": monitored, "parties": parties, "collected": collected},
                zone=FACILITIES[facility])
        if label:
            recordings[label] = rec

    def svv(when: datetime, user: str, *, observer=True, label: str | None = None) -> None:
        user_type, _, _, detainee = SVV_USERS[user]
        facility = DETAINEES[detainee][0]
        session = next_id("svv-sess-", 52000, 6)
        rec = "rec-svv-" + session[len("svv-sess-"):]
        participants = [{"subject": user, "user_type": user_type, "role": "participant"},
                        {"subject": detainee, "user_type": "inmate", "role": "participant"}]
        if observer:
            participants.append({"subject": OBSERVERS[facility], "user_type": "facility_staff",
                                 "role": "observer"})
        log.add(when, f"/facilities/{facility}/svv", "svv.session.recorded", user,
                {"session_id": session, "facility_id": facility, "recording_id": rec,
                 "participants": participants, "collected": ["video", "voice", "ip_address"]},
                zone=FACILITIES[facility])
        if label:
            recordings[label] = rec

    # ---------------------------------------------------------------- payments and messages
    def payment(when: datetime, subject: str, *, instrument: str | None = None,
                status: str | None = None, encrypted=True, product: str | None = None,
                amount: float | None = None, raw: bool | None = None, redeliver=False) -> None:
        instrument = instrument or rng.choices(["credit_card", "debit_card", "bank_account"],
                                               [6, 3, 1])[0]
        status = status or rng.choices(["completed", "authorized", "failed"], [16, 3, 2])[0]
        product = product or rng.choice(PRODUCTS[instrument])
        if amount is None:
            amount = rng.choice([10, 15, 20, 25, 25, 40, 50, 50, 75, 100])
            amount = float(amount) + (0.0 if product != "text_connect" else -0.01)
        data = {"transaction_id": next_id("txn-", 88100000, 8), "amount": round(amount, 2),
                "currency": "USD", "instrument": instrument, "status": status,
                "encrypted_in_transit": encrypted, "product": product}
        if raw is None:
            raw = rng.random() < 0.25
        if raw:
            if instrument == "bank_account":
                data["routing_number"], data["account_number"] = TEST_BANK
            else:
                data["card_number"] = rng.choice(TEST_CARDS[instrument])
        log.add(when, "/billing", "payment.made", subject, data, redeliver=redeliver)
        if status == "completed" and rng.random() < 0.4:
            message(when + timedelta(minutes=2), subject, "email", "transactional")

    def message(when: datetime, subject: str, channel: str, category: str) -> None:
        log.add(when, "/messaging", "message.send.requested", subject,
                {"message_id": next_id("msg-", 40001, 6), "channel": channel,
                 "category": category})

    def visit(when: datetime, subject: str, cookies: list, *, dnt=False, mobile=False,
              location: dict | None = None, profile: dict | None = None) -> None:
        collected = ["ip_address", "device_id", "browsing_history"]
        if mobile:
            collected.append("location")
        data = {"session_id": "ws-" + "".join(rng.choice("0123456789abcdef") for _ in range(12)),
                "dnt": dnt, "collected": collected}
        if location:
            data["location"] = location
        data["cookies"] = cookies
        if profile:
            data["profile"] = profile
        log.add(when, "/web", "website.visited", subject, data)

    def disclose(when: datetime, subject: str, kind: str, name: str, purpose: str,
                 categories: list, **extra) -> None:
        data = {"request_id": next_id("dr-2019-"), "recipient": {"kind": kind, "name": name},
                "purpose": purpose, "data_categories": categories}
        data.update(extra)
        log.add(when, "/legal/disclosures", "disclosure.requested", subject, data)

    # ---------------------------------------------------------------- June: accounts open
    when = START
    for number, (detainee, (facility, region, born, _)) in enumerate(DETAINEES.items()):
        collected = ["name", "date_of_birth", "ssn", "mailing_address"]
        if number == 0:  # one intake also enrols a voice print at account opening: clause A flags it
            collected.append("voice")
        log.add(when, "/accounts", "account.opened", detainee,
                {"profile": {"role": "detainee", "user_type": "inmate",
                             "residence": {"country": "US", "region": region},
                             "birth_date": born},
                 "collected": collected,
                 "channel": "live_agent"})
        when += timedelta(minutes=rng.randint(7, 40))
    when = t("2019-06-02T14:05")
    for customer, (user_type, residence, born, channel) in CUSTOMERS.items():
        collected = ["name", "email", "mailing_address", "phone", "credit_card"]
        if channel == "web":  # collected automatically by the website (clause A)
            collected += ["ip_address", "device_id"]
        profile = {"role": "customer", "user_type": user_type, "residence": residence,
                   "birth_date": born}
        log.add(when, "/accounts", "account.opened", customer,
                {"profile": profile, "collected": collected, "channel": channel})
        when += timedelta(hours=rng.randint(3, 11), minutes=rng.randint(0, 59))
    # SVV registrations later in June; the child registers on a phone, giving no birth date.
    when = t("2019-06-12T16:30")
    for user, (user_type, region, born, _) in SVV_USERS.items():
        profile = {"role": "svv_user", "user_type": user_type,
                   "residence": {"country": "US", "region": region}}
        if born:
            profile["birth_date"] = born
        collected = ["name", "email", "phone", "mailing_address", "debit_card", "ip_address",
                     "device_id"]
        log.add(when, "/accounts", "account.opened", user,
                {"profile": profile, "collected": collected,
                 "channel": "mobile" if user == "svv-3004" else "web"})
        when += timedelta(days=1, hours=rng.randint(0, 6), minutes=rng.randint(0, 59))

    # ---------------------------------------------------------------- website, scripted
    visit(t("2019-06-01T15:12:40"), "vis-8c1f02", [{"purpose": "mobile_full_site", "set": True}],
          mobile=True, location={"country": "US", "region": "US-TX"},
          profile={"role": "website_visitor", "residence": {"country": "US", "region": "US-TX"}})
    visit(t("2019-06-03T01:44:09"), "vis-d59a03", [], dnt=True,
          location={"country": "US", "region": "US-FL"},
          profile={"role": "website_visitor", "residence": {"country": "US", "region": "US-FL"}})
    visit(t("2019-06-04T18:21:33"), "cus-100262", [{"purpose": "remember_me", "set": True}])
    visit(t("2019-06-06T20:02:11"), "vis-e6b1c8", [{"purpose": "mobile_full_site", "set": True}],
          mobile=True, location={"country": "MX", "region": "MX-BCN"},
          profile={"role": "website_visitor", "residence": {"country": "MX", "region": "MX-BCN"}})
    visit(t("2019-06-09T16:40:27"), "cus-100301", [{"purpose": "remember_me", "set": True}],
          location={"country": "GB", "region": "GB-LND"})
    visit(t("2019-06-11T19:15:50"), "vis-c44f21", [{"purpose": "remember_me", "set": False}],
          location={"country": "US", "region": "US-CA"},
          profile={"role": "website_visitor", "residence": {"country": "US", "region": "US-CA"}})
    visit(t("2019-06-13T22:30:04"), "vis-91ab4e",
          [{"purpose": "mobile_full_site", "set": True}, {"purpose": "remember_me", "set": True}],
          mobile=True, profile={"role": "website_visitor",
                                "residence": {"country": "US", "region": "US-OK"}})
    # A marketing tag slipped into a release: a cookie clause D does not allow.
    visit(t("2019-08-21T17:03:58"), "vis-a02d77",
          [{"purpose": "remember_me", "set": True}, {"purpose": "ad_retargeting", "set": True}],
          profile={"role": "website_visitor", "residence": {"country": "US", "region": "US-GA"}})
    visit(t("2019-08-22T14:48:31"), "vis-b3e910",
          [{"purpose": "ad_retargeting", "set": False}], profile={"role": "website_visitor"})
    visit(t("2019-07-02T13:26:12"), "vis-f07a55", [{"purpose": "mobile_full_site", "set": True}],
          mobile=True, profile={"role": "website_visitor",
                                "residence": {"country": "US", "region": "US-LA"}})

    # Cookie preferences.
    log.add(t("2019-06-20T18:02:44"), "/web", "cookie.preference.changed", "cus-100262",
            {"purpose": "remember_me", "enabled": False})
    log.add(t("2019-07-14T21:10:05"), "/web", "cookie.preference.changed", "vis-91ab4e",
            {"purpose": "mobile_full_site", "enabled": False})
    log.add(t("2019-08-03T15:55:19"), "/web", "cookie.preference.changed", "cus-100262",
            {"purpose": "remember_me", "enabled": True})
    log.add(t("2019-08-23T09:12:37"), "/web", "cookie.preference.changed", "vis-a02d77",
            {"purpose": "ad_retargeting", "enabled": False})
    log.add(t("2019-10-29T23:41:02"), "/web", "cookie.preference.changed", "cus-100301",
            {"purpose": "remember_me", "enabled": False})

    # ---------------------------------------------------------------- scripted calls and visits
    # Attorney calls: recorded although attorneys are exempt at every facility.
    call(t("2019-06-10T15:20:14"), "det-tx-40117", "att-200011", "attorney", monitored=False,
         label="attorney-call-dallas")
    call(t("2019-07-17T17:48:52"), "det-ca-88214", "att-200019", "attorney", monitored=False,
         label="attorney-call-la")
    call(t("2019-11-12T16:05:37"), "det-tx-40117", "att-200011", "attorney", monitored=True)
    # Clergy at Dallas (exempt there) and a three-way call with a relative.
    call(t("2019-06-16T19:30:08"), "det-tx-40117", "cus-100340", "clergy", label="clergy-call")
    call(t("2019-07-26T23:12:40"), "det-tx-40122", "cus-100245", "family",
         extra=[{"subject": "cus-100293", "user_type": "family"}], label="three-way-call")
    call(t("2019-06-08T18:02:55"), "det-tx-40135", "cus-100317", "friend", label="tx-call")
    call(t("2019-06-10T20:44:31"), "det-ca-88230", "cus-100270", "family", label="ca-call")

    # SVV: the child's visit with her father, an attorney's video visit (exempt), a clergy visit.
    svv(t("2019-07-06T16:00:00"), "svv-3004", label="child-visit")
    svv(t("2019-07-11T18:30:00"), "svv-3005", label="attorney-visit")
    svv(t("2019-08-02T15:00:00"), "svv-3006", observer=False)
    svv(t("2019-06-22T17:00:00"), "svv-3001", label="svv-dallas")
    svv(t("2019-06-29T21:30:00"), "svv-3002")

    # ---------------------------------------------------------------- scripted payments
    payment(t("2019-06-03T17:41:26"), "cus-100231", instrument="credit_card", status="completed",
            product="advance_connect", amount=50.0, raw=True)
    payment(t("2019-06-04T18:25:02"), "cus-100262", instrument="debit_card", status="authorized",
            product="inmate_debit", amount=25.0, raw=False)
    payment(t("2019-06-04T18:40:49"), "cus-100262", instrument="debit_card", status="completed",
            product="inmate_debit", amount=25.0, raw=False)
    payment(t("2019-06-07T02:13:18"), "cus-100293", instrument="credit_card", status="failed",
            product="advance_connect", amount=40.0, raw=True)
    payment(t("2019-06-07T02:16:55"), "cus-100293", instrument="credit_card", status="completed",
            product="advance_connect", amount=40.0, raw=False)
    # The legacy kiosk gateway posted card data over plain HTTP.
    payment(t("2019-07-19T15:09:47"), "cus-100288", instrument="debit_card", status="completed",
            product="inmate_debit", amount=60.0, encrypted=False, raw=True)
    payment(t("2019-06-21T20:05:13"), "svv-3001", instrument="debit_card", status="completed",
            product="svv", amount=7.99, raw=False)
    payment(t("2019-07-05T23:51:20"), "svv-3004", instrument="debit_card", status="completed",
            product="svv", amount=7.99, raw=True)
    payment(t("2019-07-10T17:22:09"), "svv-3005", instrument="credit_card", status="completed",
            product="svv", amount=12.99, raw=False)
    payment(t("2019-09-03T14:37:44"), "cus-100362", instrument="bank_account",
            status="completed", product="advance_connect", amount=100.0, raw=True)
    payment(t("2019-10-08T19:04:51"), "cus-100301", instrument="credit_card", status="failed",
            product="advance_connect", amount=75.0, raw=True)

    # ---------------------------------------------------------------- profile updates
    log.add(t("2019-06-19T16:12:30"), "/accounts", "profile.updated", "cus-100355",
            {"profile": {"residence": {"country": "US", "region": "US-AZ"}}})
    log.add(t("2019-07-08T13:50:03"), "/accounts", "profile.updated", "cus-100245",
            {"profile": {"birth_date": "1983-06-15"}})
    log.add(t("2019-08-12T17:31:48"), "/accounts", "profile.updated", "svv-3002",
            {"profile": {"user_type": "family"}})
    log.add(t("2019-09-14T15:06:21"), "/accounts", "profile.updated", "cus-100317",
            {"profile": {"user_type": "family"}})
    log.add(t("2019-10-02T18:44:09"), "/accounts", "profile.updated", "vis-8c1f02",
            {"profile": {"role": "customer", "user_type": "family",
                         "residence": {"country": "US", "region": "US-TX"}}})
    log.add(t("2019-11-20T20:27:35"), "/accounts", "profile.updated", "cus-100293",
            {"profile": {"residence": {"country": "US", "region": "US-TX"}}})
    log.add(t("2019-12-09T16:18:52"), "/accounts", "profile.updated", "det-hc-77342",
            {"profile": {"residence": {"country": "US", "region": "US-TX"},
                         "birth_date": "1984-01-03"}})
    log.add(t("2020-01-13T22:02:14"), "/accounts", "profile.updated", "att-200019",
            {"profile": {"residence": {"country": "US", "region": "US-NV"}}})

    # ---------------------------------------------------------------- the child (clause T)
    log.add(t("2019-07-09T14:25:00"), "/privacy/children", "child.identified", "svv-3004",
            {"birth_date": "2008-02-14", "parental_consent_verified": False,
             "reported_by": "staff"})

    # ---------------------------------------------------------------- disclosure requests
    disclose(t("2019-06-11T15:02:10"), "det-tx-40135", "law_enforcement",
             "Dallas County Sheriff's Office", "law_enforcement_activity",
             ["call_details", "voice", "location"], recording_id=recordings["tx-call"])
    disclose(t("2019-06-14T19:45:00"), "det-ca-88230", "correctional_facility",
             "Los Angeles County Sheriff's Department", "illegal_activity_investigation",
             ["name", "phone", "account_history", "call_details"])
    # Mixed: G covers contact, account and call data; SSN, card and browsing history it does not.
    disclose(t("2019-06-26T16:33:27"), "det-tx-40122", "law_enforcement",
             "Texas Department of Public Safety", "law_enforcement_activity",
             ["name", "phone", "call_details", "ssn", "credit_card", "browsing_history"])
    disclose(t("2019-07-03T17:10:54"), "cus-100245", "law_enforcement", "Dallas Police Department",
             "legal_process", ["account_history", "money_transfer", "credit_card"],
             legal_process={"kind": "subpoena", "reference": "DC-19-08812"})
    disclose(t("2019-07-12T18:02:36"), "cus-100231", "law_enforcement", "Dallas Police Department",
             "legal_process", ["call_details", "account_history"],
             legal_process={"kind": "warrant"})
    disclose(t("2019-07-15T14:51:20"), "svv-3004", "law_enforcement", "Dallas Police Department",
             "law_enforcement_activity", ["video", "voice", "name"],
             recording_id=recordings["child-visit"])
    disclose(t("2019-07-23T20:19:08"), "det-tx-40117", "law_enforcement",
             "Dallas County District Attorney", "law_enforcement_activity",
             ["call_details", "voice"], recording_id=recordings["attorney-call-dallas"])
    disclose(t("2019-07-30T15:37:45"), "cus-100262", "commercial_third_party",
             "Lakeshore Data Brokers LLC", "sale", ["name", "email", "phone", "mailing_address"])
    disclose(t("2019-08-06T16:58:12"), "cus-100270", "commercial_third_party",
             "Brightline Mobile Offers Inc.", "marketing", ["email", "phone"], consent=True)
    disclose(t("2019-08-06T17:01:40"), "cus-100317", "commercial_third_party",
             "Brightline Mobile Offers Inc.", "marketing", ["email", "phone"])
    disclose(t("2019-08-06T17:03:02"), "cus-100355", "commercial_third_party",
             "Brightline Mobile Offers Inc.", "marketing", ["email"], consent=False)
    disclose(t("2019-08-13T13:20:49"), "cus-100231", "service_provider", "Twilio Inc.",
             "service_provision", ["phone", "name"])
    disclose(t("2019-08-13T13:24:15"), "cus-100288", "vendor", "Iron Mountain Inc.",
             "service_provision", ["mailing_address", "account_history"])
    disclose(t("2019-08-15T19:12:03"), "cus-100362", "affiliate", "JPay LLC", "service_provision",
             ["name", "account_info", "money_transfer"])
    disclose(t("2019-08-20T14:06:58"), "cus-100293", "payment_processor", "Chase Paymentech",
             "transaction_processing", ["credit_card", "name", "mailing_address"])
    disclose(t("2019-09-04T15:44:31"), "det-la-1203", "regulator",
             "Federal Communications Commission", "illegal_activity_investigation",
             ["call_details", "account_history"])
    disclose(t("2019-09-10T18:29:17"), "cus-100301", "vendor", "Kount Inc.", "fraud_investigation",
             ["credit_card", "ip_address", "device_id"])
    disclose(t("2019-09-24T20:51:46"), "svv-3001", "anti_terrorism_agency",
             "FBI Terrorist Screening Center", "law_enforcement_activity", ["video", "voice"],
             recording_id=recordings["svv-dallas"])
    disclose(t("2019-10-04T16:15:22"), "svv-3003", "law_enforcement",
             "New Orleans Police Department", "law_enforcement_activity",
             ["name", "mailing_address", "email", "phone", "debit_card"])
    disclose(t("2019-10-17T14:38:09"), "svv-3005", "law_enforcement",
             "Los Angeles Police Department", "law_enforcement_activity", ["video", "voice"],
             recording_id=recordings["attorney-visit"])
    disclose(t("2019-10-22T17:02:55"), "det-ca-88214", "law_enforcement",
             "Los Angeles Police Department", "legal_process", ["call_details", "voice"],
             legal_process={"kind": "court_order", "reference": "LASC-BA478213"},
             recording_id=recordings["attorney-call-la"])
    disclose(t("2019-11-06T21:14:40"), "cus-100340", "affiliate", "JPay LLC",
             "protect_rights_safety", ["name", "phone"])
    disclose(t("2019-11-19T15:27:03"), "cus-100245", "service_provider", "Securus Fraud Desk",
             "enforce_policies", ["account_history", "call_details"])
    disclose(t("2019-12-03T16:00:00"), "cus-100231", "acquirer", "Aventiv Technologies LLC",
             "business_transfer", ["name", "email", "account_info", "account_history"])
    disclose(t("2019-12-11T19:33:18"), "det-tx-40117", "law_enforcement",
             "Dallas County Sheriff's Office", "law_enforcement_activity", ["call_details", "voice"],
             recording_id=recordings["clergy-call"])
    disclose(t("2020-01-08T15:10:27"), "det-tx-40122", "service_provider",
             "Voice Analytics Partner Inc.", "law_enforcement_activity", ["voice", "call_details"],
             recording_id=recordings["three-way-call"])
    disclose(t("2020-01-21T18:46:52"), "cus-100262", "regulator",
             "California Department of Justice", "legal_process", ["account_history", "name"],
             legal_process={"kind": "subpoena", "reference": "CA-DOJ-2020-0114"})
    disclose(t("2020-02-11T17:55:30"), "vis-e6b1c8", "commercial_third_party",
             "Pacific Ad Exchange", "marketing", ["browsing_history", "ip_address"])

    # ---------------------------------------------------------------- CCPA (clause U)
    def period(received: datetime) -> dict:
        return {"from": rfc3339(received.replace(year=received.year - 1), None),
                "to": rfc3339(received, None)}

    r1 = t("2019-06-12T15:20:00")
    log.add(r1, "/privacy/ccpa", "ccpa.request.filed", "cus-100262",
            {"request_id": "ccpa-2019-0001", "kinds": ["categories", "sources", "purposes"],
             "delivery": "account", "has_account": True})
    log.add(t("2019-07-08T17:05:00"), "/privacy/ccpa", "ccpa.response.delivered", "cus-100262",
            {"request_id": "ccpa-2019-0001", "channel": "account", "portable_format": True,
             "fee": 0, "period": period(r1)})
    r2 = t("2019-07-01T14:00:00")
    log.add(r2, "/privacy/ccpa", "ccpa.request.filed", "cus-100270",
            {"request_id": "ccpa-2019-0002",
             "kinds": ["categories", "sources", "purposes", "third_parties", "specific_pieces"],
             "delivery": "account", "has_account": True})
    log.add(t("2019-08-09T16:30:00"), "/privacy/ccpa", "ccpa.request.extended", "cus-100270",
            {"request_id": "ccpa-2019-0002"})                       # day 39 of 45
    log.add(t("2019-09-20T15:45:00"), "/privacy/ccpa", "ccpa.response.delivered", "cus-100270",
            {"request_id": "ccpa-2019-0002", "channel": "account", "portable_format": True,
             "fee": 0, "period": period(r2)})                       # day 81 of 90
    r3 = t("2019-07-22T18:45:00")
    log.add(r3, "/privacy/ccpa", "ccpa.request.filed", "vis-c44f21",
            {"request_id": "ccpa-2019-0003", "kinds": ["categories", "specific_pieces"],
             "delivery": "mail", "has_account": False})
    log.add(t("2019-09-16T14:10:00"), "/privacy/ccpa", "ccpa.response.delivered", "vis-c44f21",
            {"request_id": "ccpa-2019-0003", "channel": "mail", "portable_format": True,
             "fee": 0, "period": period(r3)})                       # day 55: late
    r4 = t("2019-08-14T20:12:00")
    log.add(r4, "/privacy/ccpa", "ccpa.request.filed", "cus-100317",   # a Texan: owed nothing
            {"request_id": "ccpa-2019-0004", "kinds": ["categories"], "delivery": "account",
             "has_account": True})
    r5 = t("2019-10-01T16:40:00")
    log.add(r5, "/privacy/ccpa", "ccpa.request.filed", "cus-100262",
            {"request_id": "ccpa-2019-0005", "kinds": ["specific_pieces", "third_parties"],
             "delivery": "account", "has_account": True})
    log.add(t("2019-10-28T15:00:00"), "/privacy/ccpa", "ccpa.response.delivered", "cus-100262",
            {"request_id": "ccpa-2019-0005", "channel": "account", "portable_format": True,
             "fee": 0, "period": period(r5)})
    # Two weeks after her second request, her rates go up "because" of it.
    log.add(t("2019-10-15T13:00:00"), "/accounts", "service.changed", "cus-100262",
            {"change": "price_increase", "reason": "ccpa_rights_exercised"})
    log.add(t("2019-11-25T13:00:00"), "/accounts", "service.changed", "cus-100355",
            {"change": "service_denied", "reason": "non_payment"})
    # Her third request within twelve months of the first.
    log.add(t("2020-02-03T19:25:00"), "/privacy/ccpa", "ccpa.request.filed", "cus-100262",
            {"request_id": "ccpa-2020-0001", "kinds": ["categories", "specific_pieces"],
             "delivery": "account", "has_account": True})

    # ---------------------------------------------------------------- opt-outs and messages
    for subject in ("cus-100231", "cus-100245", "cus-100288", "cus-100317"):
        day = t("2019-07-24T15:00") + timedelta(days=rng.randint(0, 4), minutes=rng.randint(0, 300))
        message(day, subject, "email", "news_updates")
        message(day + timedelta(minutes=1), subject, "sms", "news_updates")
    log.add(t("2019-08-01T14:22:17"), "/messaging/preferences", "communication.opted_out",
            "cus-100231", {"channel": "email", "method": "email_link"})
    log.add(t("2019-08-04T02:09:51"), "/messaging/preferences", "communication.opted_out",
            "cus-100245", {"channel": "sms", "method": "sms_stop"})
    log.add(t("2019-08-16T18:37:40"), "/messaging/preferences", "communication.opted_out",
            "cus-100288", {"channel": "email", "method": "online_settings"})
    log.add(t("2019-09-05T16:11:03"), "/messaging/preferences", "communication.opted_out",
            "cus-100317", {"channel": "sms", "method": "phone"})
    campaigns = [("2019-09-12T15:00", "news_updates"), ("2019-10-10T15:00", "marketing"),
                 ("2019-11-14T16:00", "transactional"), ("2019-12-12T16:00", "marketing"),
                 ("2020-01-16T16:00", "news_updates")]
    for stamp, category in campaigns:
        base = t(stamp)
        for k, subject in enumerate(("cus-100231", "cus-100245", "cus-100288", "cus-100317")):
            message(base + timedelta(minutes=k, seconds=rng.randint(0, 50)), subject, "email",
                    category)
            message(base + timedelta(minutes=k + 30, seconds=rng.randint(0, 50)), subject, "sms",
                    category)

    # ---------------------------------------------------------------- policy change (clause I)
    log.add(t("2020-02-20T15:00:00"), "/legal/policy", "policy.changed", None,
            {"version": "securus-2020-04-01", "effective_at": "2020-04-01T05:00:00Z",
             "advance_notice_required": True})

    # ---------------------------------------------------------------- routine traffic
    # Week by week: calls between detainees and their contacts, SVV visits, top-ups, browsing.
    week = t("2019-06-08T00:00")
    callers = [d for d in DETAINEES]
    svv_regulars = ["svv-3001", "svv-3002", "svv-3003", "svv-3005", "svv-3006"]
    payers = list(CUSTOMERS) + ["vis-8c1f02"]
    redelivered = False
    while week < t("2020-02-29T00:00"):
        for _ in range(rng.choice([1, 2, 2, 3])):
            detainee = rng.choice(callers)
            contacts = [c for c in DETAINEES[detainee][3] if c[1] != "attorney"]
            contact, user_type = rng.choice(contacts)
            call(jitter(week + timedelta(days=rng.randint(0, 6))), detainee, contact, user_type)
        if week >= t("2019-06-22T00:00") and rng.random() < 0.5:
            svv(jitter(week + timedelta(days=rng.randint(0, 6)), 14, 22), rng.choice(svv_regulars),
                observer=rng.random() < 0.6)
        for _ in range(rng.choice([1, 1, 2])):
            when = jitter(week + timedelta(days=rng.randint(0, 6)))
            subject = rng.choice(payers if when > t("2019-10-03T00:00") else list(CUSTOMERS))
            late = when > t("2020-02-18T00:00") and not redelivered
            payment(when, subject, status="completed" if late else None, redeliver=late)
            redelivered = redelivered or late
        if rng.random() < 0.75:
            subject = rng.choice(list(VISITORS) + ["cus-100231", "cus-100270", "cus-100362",
                                                   "svv-3002"])
            mobile = rng.random() < 0.4
            cookies = [{"purpose": "mobile_full_site", "set": True}] if mobile else []
            if rng.random() < 0.5:
                cookies.append({"purpose": "remember_me", "set": rng.random() < 0.8})
            visit(jitter(week + timedelta(days=rng.randint(0, 6)), 12, 23), subject, cookies,
                  mobile=mobile, location=VISITORS.get(subject))
        week += timedelta(days=7)

    # ---------------------------------------------------------------- the scheduler
    tick = t("2019-06-02T06:00")
    while tick <= END:
        log.add(tick, "/scheduler", "clock.tick", None, {})
        tick += timedelta(days=7)

    # ---------------------------------------------------------------- bad input, near the end
    # 1. A web collector died mid-write: the line is cut off inside `data`.
    visit(t("2020-02-26T18:14:02"), "vis-f07a55", [{"purpose": "mobile_full_site", "set": True}],
          mobile=True)
    log.items[-1]["fault"] = "truncated"
    # 2. A new facility firmware emits a type clauseline does not know.
    log.add(t("2020-02-27T16:40:19"), "/facilities/tx-dallas-01/calls", "call.transcribed",
            "det-tx-40117", {"call_id": "call-tx01-310999", "recording_id": "rec-tx01-310999",
                             "language": "en-US"}, zone="central")
    # 3. A billing export that writes amounts as strings.
    log.add(t("2020-02-28T20:03:45"), "/billing", "payment.made", "cus-100270",
            {"transaction_id": "txn-88109999", "amount": "19.99", "currency": "USD",
             "instrument": "debit_card", "status": "completed", "encrypted_in_transit": True,
             "product": "inmate_debit"})

    return log.lines()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--out", default=str(OUT),
                        help="where to write the log ('-' for stdout); default: %(default)s")
    args = parser.parse_args(argv)
    text = "".join(line + "\n" for line in build())
    if args.out == "-":
        sys.stdout.write(text)
    else:
        with open(args.out, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
