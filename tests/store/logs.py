"""Generated event logs for the store tests (valid CloudEvents of a few types)."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone

START = datetime(2019, 7, 1, 9, 0, tzinfo=timezone.utc)
ROLES = ["customer", "detainee", "svv_user", "website_visitor"]
REGIONS = ["US-CA", "US-TX", "US-NY", "US-WA"]


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def envelope(kind: str, event_id: str, moment: datetime, data: dict, subject: str | None,
             source: str = "/tests/store") -> dict:
    event = {"specversion": "1.0", "id": event_id, "source": source, "type": kind,
             "time": stamp(moment), "data": data}
    if subject is not None:
        event["subject"] = subject
    return event


def payment(event_id: str, moment: datetime, subject: str, n: int, **raw) -> dict:
    data = {"transaction_id": f"tx-{n}", "amount": round(5 + n % 50 * 1.25, 2), "currency": "USD",
            "instrument": ["credit_card", "debit_card", "bank_account"][n % 3],
            "status": ["authorized", "completed", "failed"][n % 3],
            "encrypted_in_transit": n % 7 != 0, "product": "prepaid_calling"}
    data.update(raw)
    return envelope("payment.made", event_id, moment, data, subject)


def mixed_log(count: int, subjects: int = 60, seed: int = 7) -> list[str]:
    """A log of ``count`` lines: account openings, profile patches, payments, ticks, a few
    repeated events (duplicates) and a few invalid ones (rejected)."""
    rng = random.Random(seed)
    lines: list[str] = []
    opened: set[str] = set()
    moment = START
    for n in range(count):
        moment += timedelta(minutes=rng.randint(1, 90))
        subject = f"acct-{rng.randrange(subjects)}"
        roll = rng.random()
        if subject not in opened:
            opened.add(subject)
            event = envelope("account.opened", f"e-{n}", moment,
                             {"profile": {"role": rng.choice(ROLES), "user_type": "family"},
                              "collected": ["name", "phone"], "channel": "web"}, subject)
        elif roll < 0.35:
            event = envelope("profile.updated", f"e-{n}", moment,
                             {"profile": {"user_type": f"type-{rng.randrange(9)}",
                                          "residence": {"country": "US",
                                                        "region": rng.choice(REGIONS)}}}, subject)
        elif roll < 0.8:
            event = payment(f"e-{n}", moment, subject, n)
        elif roll < 0.85:
            event = envelope("clock.tick", f"e-{n}", moment, {}, None)
        elif roll < 0.92 and lines:
            lines.append(rng.choice(lines))  # a repeated event: duplicate
            continue
        else:
            event = envelope("payment.made", f"e-{n}", moment, {"amount": -1}, subject)  # rejected
        lines.append(json.dumps(event))
    return lines[:count]


def ccpa_log(subjects: int = 40, days: int = 120, seed: int = 5) -> list[str]:
    """CCPA request cycles over ``days`` days with a clock tick each day: each subject files a
    request; about half are answered within 45 days, the rest go overdue and are found by the
    ticks; a few events come late (out of time order) and a few are sent twice."""
    rng = random.Random(seed)
    timed: list[tuple[datetime, dict]] = []
    for n in range(subjects):
        subject = f"cus-{n}"
        filed = START + timedelta(days=rng.randrange(days // 2), minutes=rng.randrange(1440))
        request = f"ccpa-req-{n}"
        opened = filed - timedelta(days=rng.randrange(1, 30))
        timed.append((opened, envelope("account.opened", f"o-{n}", opened, {
            "profile": {"role": "customer", "user_type": "family",
                        "residence": {"country": "US", "region": "US-CA"}},
            "collected": ["name", "phone"], "channel": "web"}, subject)))
        timed.append((filed, envelope("ccpa.request.filed", f"f-{n}", filed, {
            "request_id": request, "kinds": ["categories", "sources"], "delivery": "account",
            "has_account": True}, subject, source="/privacy/ccpa")))
        if rng.random() < 0.5:
            answered = filed + timedelta(days=rng.randrange(1, 44))
            timed.append((answered, envelope("ccpa.response.delivered", f"r-{n}", answered, {
                "request_id": request, "channel": "account", "portable_format": True, "fee": 0,
                "period": {"from": stamp(filed - timedelta(days=365)), "to": stamp(filed)}},
                subject, source="/privacy/ccpa")))
        if rng.random() < 0.5:
            paid = filed + timedelta(hours=rng.randrange(1, 500))
            timed.append((paid, payment(f"p-{n}", paid, subject, n)))
    for day in range(days):
        moment = START + timedelta(days=day, hours=23, minutes=59)
        timed.append((moment, envelope("clock.tick", f"tick-{day}", moment, {}, None)))
    timed.sort(key=lambda pair: (pair[0], pair[1]["id"]))
    lines = [json.dumps(event) for _, event in timed]
    for _ in range(len(lines) // 25):  # late arrivals: an event moved later in the log
        i = rng.randrange(len(lines) - 10)
        lines.insert(i + rng.randrange(2, 10), lines.pop(i))
    for _ in range(len(lines) // 40):  # repeats
        lines.insert(rng.randrange(len(lines)), rng.choice(lines))
    return lines
