"""The evaluator's state: subject records, changed copy-on-write."""

from __future__ import annotations

import copy

from ..policy.templates import split_path
from .templates import render


def empty_state() -> dict:
    """The state of a system that has seen no event."""
    return {"subjects": {}}


class StateChanges:
    """Copy-on-write edits to subject records: untouched records stay the same objects."""

    def __init__(self, subjects: dict):
        self.before = subjects
        self.after: dict[str, dict] = {}

    def record(self, subject: str) -> dict:
        """The subject's record to edit: a deep copy made on first use, kept for later edits."""
        if subject not in self.after:
            self.after[subject] = copy.deepcopy(self.before.get(subject, {}))
        return self.after[subject]

    def apply(self, op: dict, fact: dict) -> None:
        """Carry out one ``remember`` operation (set, append or delete at a path) of a rule
        that fired on ``fact``; its subject is the op's ``subject`` or the fact's."""
        subject = render(op["subject"], fact) if "subject" in op else fact.get("subject")
        if not isinstance(subject, str):
            return
        verb = next(v for v in ("set", "append", "delete") if v in op)
        path = [str(render(seg, fact)) for seg in split_path(op[verb])]
        node = self.record(subject)
        for step in path[:-1]:
            child = node.get(step)
            if not isinstance(child, dict):
                if verb == "delete":
                    return
                child = node[step] = {}
            node = child
        last = path[-1]
        if verb == "set":
            node[last] = render(op["value"], fact)
        elif verb == "append":
            if not isinstance(node.get(last), list):
                node[last] = []
            node[last].append(render(op["value"], fact))
        else:
            node.pop(last, None)

    def track(self, outcome: dict, moment: str) -> None:
        """An obligation outcome opens, extends or closes the subject's obligation."""
        record = self.record(outcome["subject"])
        obligations = record.setdefault("obligations", {})
        prior = obligations.get(outcome["ref"], {})
        obligations[outcome["ref"]] = dict(
            prior, obligation=outcome["obligation"], ref=outcome["ref"], status=outcome["status"],
            due_by=outcome.get("due_by") or prior.get("due_by"),
            opened_at=prior.get("opened_at", moment), missed=prior.get("missed", False))

    def state(self, state: dict) -> dict:
        """The new state: ``state`` itself when nothing changed, else a copy with the edited
        records (the others are shared, not copied)."""
        if not self.after:
            return state
        subjects = dict(self.before)
        subjects.update(self.after)
        return dict(state, subjects=subjects)
