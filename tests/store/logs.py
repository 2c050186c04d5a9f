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
