"""What rules see: the event as facts, with the subject's profile and memory beside it.

One fact for the event itself, plus one per element of each list a rule iterates
(``for_each``); each carries the computed conditions its rules depend on.
"""

from __future__ import annotations

import copy
from datetime import datetime

from ..decision import GLOBAL, OPEN
from ..eventtime import age_on, parse_date
from ..policy.compiler import EVENT_LEVEL
from ..policy.model import PolicyVersion
from .conditions import computed
from .templates import lookup


def profile_after(stored: dict | None, event: dict) -> dict:
    """The subject's profile after this event: account.opened replaces, a patch merges, and
    child.identified sets ``birth_date`` and ``parental_consent_verified``."""
    data = event["data"]
    if event["type"] == "account.opened":
        return dict(data["profile"])
    profile = dict(stored or {})
    if isinstance(data.get("profile"), dict):
        profile.update(data["profile"])
    if event["type"] == "child.identified":
        # the report is the newest knowledge of two profile fields (clause T decides on them)
        profile.update({k: data[k] for k in ("birth_date", "parental_consent_verified")})
    return profile


def profile_view(profile: dict, moment: datetime) -> dict:
    """The profile as rules see it, with facts derived at event time (see docs/rule-format.md)."""
    view = dict(profile)
    if "birth_date" in profile:
        view["age"] = age_on(parse_date(profile["birth_date"]), moment)
    residence = profile.get("residence") or {}
    if "country" in residence:
        view["outside_us"] = residence["country"] != "US"
        view["california_resident"] = residence.get("region") == "US-CA"
    return view


def memory_view(subjects: dict, subject: str | None, data: dict) -> dict:
    """What rules see under ``memory``: the subject's record (without the profile), its open
    obligations (for an event without subject, every subject's), the obligation the event's
    ``request_id`` refers to, and the global record."""
    record = subjects.get(subject, {}) if subject else {}
    memory = {k: copy.deepcopy(v) for k, v in record.items() if k != "profile"}
    considered = [(subject, record)] if subject else sorted(subjects.items())
    memory["open_obligations"] = sorted(
        (dict(o, subject=sid) for sid, rec in considered
         for o in (rec.get("obligations") or {}).values()
         if o.get("status") in OPEN and not o.get("missed")),
        key=lambda o: (o["due_by"], o["subject"], o["ref"]))
    request_id = data.get("request_id")
    if isinstance(request_id, str) and request_id in (record.get("obligations") or {}):
        memory["request"] = copy.deepcopy(record["obligations"][request_id])
    memory["global"] = copy.deepcopy(subjects.get(GLOBAL, {}))
    return memory


def facts_for(version: PolicyVersion, base: dict) -> list[dict]:
    """The event as one fact, plus one fact per element of each list a rule iterates; each
    carries the computed conditions (``_cmp``) that rules able to match it depend on."""
    facts = [dict(base, _each=EVENT_LEVEL)]
    for path in version.matcher.list_paths(base["type"]):
        items = lookup(base, path)
        if isinstance(items, list):
            facts.extend(dict(base, _each=path, item=item) for item in items)
    for fact in facts:
        fact["_cmp"] = {c.key: computed(c, fact)
                        for c in version.matcher.computed_for(base["type"], fact["_each"])}
    return facts
