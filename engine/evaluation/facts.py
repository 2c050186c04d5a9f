"""What rules see: the event as facts, with the subject's profile and memory beside it.

One fact for the event itself, plus one per element of each list a rule iterates
(``for_each``); each carries the computed conditions its rules depend on.
"""

from __future__ import annotations

from datetime import datetime

from ..decision import OPEN
from ..eventtime import age_on, parse_date
from ..policy.compiler import EVENT_LEVEL
from ..policy.model import PolicyVersion
from .conditions import computed
from .templates import lookup


def profile_changes(event: dict) -> list[tuple[list[str], object]]:
    """What the event says of the subject's profile, as (path, value) sets in order:
    account.opened replaces it, an inline ``data.profile`` patches it, and child.identified sets
    ``birth_date`` and ``parental_consent_verified`` (the report is the newest knowledge)."""
    data = event["data"]
    if event["type"] == "account.opened":
        return [(["profile"], dict(data["profile"]))]
    out = []
    if isinstance(data.get("profile"), dict):
        out += [(["profile", k], v) for k, v in data["profile"].items()]
    if event["type"] == "child.identified":
        # the report is the newest knowledge of two profile fields (clause T decides on them)
        out += [(["profile", k], data[k]) for k in ("birth_date", "parental_consent_verified")]
    return out


def profile_after(stored: dict | None, event: dict) -> dict:
    """The subject's profile after this event (see :func:`profile_changes`)."""
    profile = dict(stored or {})
    for path, value in profile_changes(event):
        if len(path) == 1:
            profile = dict(value)
        else:
            profile[path[1]] = value
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


def memory_view(view: dict, data: dict, overdue: list[dict], first_seen: str | None,
                global_view: dict) -> dict:
    """What rules see under ``memory``: the subject's record as of the event's time (without the
    profile), its open obligations, the obligations overdue at this event whatever their
    subject, the obligation the event's ``request_id`` refers to, the time of the subject's
    first event, and the global record.

    Values are shared with the state, not copied (copying the global record made every event
    cost more as the log grew): nothing changes a fact, templates copy what they insert whole
    (:func:`clauseline.evaluation.templates.render`), and the state is only ever replaced, never
    changed in place (:class:`clauseline.evaluation.state.StateChanges`)."""
    memory = {k: v for k, v in view.items() if k != "profile"}
    obligations = view.get("obligations") or {}
    memory["open_obligations"] = sorted(
        (dict(o) for o in obligations.values() if isinstance(o, dict) and o.get("status") in OPEN),
        key=lambda o: (str(o.get("due_by")), str(o.get("ref"))))
    memory["overdue_obligations"] = overdue
    request_id = data.get("request_id")
    if isinstance(request_id, str) and isinstance(obligations.get(request_id), dict):
        memory["request"] = obligations[request_id]
    if first_seen is not None:
        memory["first_seen_at"] = first_seen
    memory["global"] = global_view
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
