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


_ABSENT = object()


def _at(node, path: str):
    """The value at a dotted path of nested mappings, or ``_ABSENT``."""
    for step in path.split("."):
        if not isinstance(node, dict) or step not in node:
            return _ABSENT
        node = node[step]
    return node


def profile_changes(version: PolicyVersion, event: dict) -> list[tuple[list[str], object]]:
    """What the event says of the subject's profile, as (path, value) sets in order: what the
    policy version declares for the event's type (policy.yaml ``profile_changes``, see
    docs/rule-format.md), ``replace`` first, then ``merge``, then ``set``; a path the event does
    not have changes nothing."""
    change = version.profile_change(event["type"])
    if change is None:
        return []
    out: list[tuple[list[str], object]] = []
    if change.replace is not None:
        whole = _at(event, change.replace)
        if isinstance(whole, dict):
            out.append((["profile"], dict(whole)))
    if change.merge is not None:
        fields = _at(event, change.merge)
        if isinstance(fields, dict):
            out += [(["profile", k], v) for k, v in fields.items()]
    for name, path in change.set:
        value = _at(event, path)
        if value is not _ABSENT:
            out.append((["profile", name], value))
    return out


def profile_after(version: PolicyVersion, stored: dict | None, event: dict) -> dict:
    """The subject's profile after this event (see :func:`profile_changes`)."""
    profile = dict(stored or {})
    for path, value in profile_changes(version, event):
        if len(path) == 1:
            profile = dict(value)
        else:
            profile[path[1]] = value
    return profile


def profile_view(version: PolicyVersion, profile: dict, moment: datetime) -> dict:
    """The profile as rules see it, with the fields the version derives at event time
    (policy.yaml ``derived``, see docs/rule-format.md): each is present when its ``given``
    path is (by default the path it reads); an absent compared path is not equal to the
    constant, and ``years_since`` of a value that is not a date derives nothing."""
    view = dict(profile)
    for d in version.derived:
        if _at(profile, d.given or d.path) is _ABSENT:
            continue
        value = _at(profile, d.path)
        if d.op == "years_since":
            try:
                view[d.name] = age_on(parse_date(value), moment)
            except (TypeError, ValueError):  # not a date: nothing to derive
                continue
        elif d.op == "equal":
            view[d.name] = _same(value, d.value)
        else:  # not_equal
            view[d.name] = not _same(value, d.value)
    return view


def _same(value, constant) -> bool:
    """JSON equality of a profile value and a constant (``true`` is not ``1``)."""
    return (value is not _ABSENT and isinstance(value, bool) == isinstance(constant, bool)
            and value == constant)


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
