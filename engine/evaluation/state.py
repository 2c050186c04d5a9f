"""Changes to subject records, copy-on-write, at one event's instant (:class:`StateChanges`).

The record format and the state's shape (subjects and the index of due instants) are
:mod:`clauseline.records`; this module only applies an event's changes to them: untouched
records stay the same objects, and the new state lists what changed over the one given.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping

from .. import records as memory
from ..policy.templates import split_path
from ..records import DueAfter, SubjectsAfter, due_index
from .templates import render


def _copy_path(record: dict, path: list[str], verb: str) -> None:
    """Replace, in ``record`` (a dict of this event's own), each dict on ``path`` by a shallow
    copy, and the list an ``append`` extends or the obligation a ``miss`` marks: what
    :func:`memory.write` then changes in place is this event's own, and everything else is still
    shared with the record before."""
    node = record
    for i, step in enumerate(path):
        child = node.get(step)
        if i == len(path) - 1:
            if verb == "append" and isinstance(child, list):
                node[step] = list(child)
            elif verb == "miss" and isinstance(child, dict):
                node[step] = dict(child)
            return
        if not isinstance(child, dict):
            return  # memory.write makes a new dict here (or changes nothing)
        node[step] = child = dict(child)
        node = child


class StateChanges:
    """Copy-on-write edits to subject records, all at one event's instant: untouched records
    stay the same objects."""

    def __init__(self, subjects: dict, at: str, time: str):
        self.before = subjects
        self.at, self.time = at, time
        self.after: dict[str, dict] = {}
        #: (subject, key) whose value in ``after`` is this event's own copy
        self._owned: set[tuple[str, str]] = set()

    def record(self, subject: str) -> dict:
        """The subject's record to edit: a new dict on first use, sharing the old values until
        :meth:`write` copies the one it changes; kept for later edits."""
        if subject not in self.after:
            self.after[subject] = memory.editable(self.before.get(subject))
        return self.after[subject]

    def view(self, subject: str) -> dict:
        """The subject's record as this event sees it after the changes made so far."""
        record = self.after[subject] if subject in self.after else self.before.get(subject)
        return memory.view_at(record, self.at)

    def write(self, subject: str, verb: str, path: list[str], value=None) -> None:
        """One change to a subject's record at this event's instant. The record before is never
        touched: the journal list is copied once per event, and the containers on the change's
        path are copied (shallow) before they change, so a change costs the length of its
        path, not the size of the value it changes (a list of a thousand entries appended to
        is copied as a list of references, not entry by entry)."""
        record = self.record(subject)
        if (subject, memory.JOURNAL) not in self._owned:
            self._owned.add((subject, memory.JOURNAL))
            record[memory.JOURNAL] = list(record[memory.JOURNAL])
        journal = record[memory.JOURNAL]
        if journal and journal[-1][0] > self.at:
            # a replay rebuilds every value from the journal in new containers: own them all
            self._owned.update((subject, k) for k in record)
        elif (subject, path[0]) not in self._owned:
            _copy_path(record, path, verb)
        memory.write(record, self.at, verb, path, value)

    def saw(self, subject: str) -> None:
        """The event concerned this subject."""
        memory.saw(self.record(subject), self.at)

    def apply(self, op: dict, fact: dict) -> None:
        """Carry out one ``remember`` operation (set, append or delete at a path) of a rule
        that fired on ``fact``; its subject is the op's ``subject`` or the fact's."""
        subject = render(op["subject"], fact) if "subject" in op else fact.get("subject")
        if not isinstance(subject, str):
            return
        verb = next(v for v in ("set", "append", "delete") if v in op)
        path = [str(render(seg, fact)) for seg in split_path(op[verb])]
        self.write(subject, verb, path, render(op["value"], fact) if verb != "delete" else None)

    def track(self, outcome: dict) -> None:
        """An obligation outcome opens, extends or closes the subject's obligation."""
        subject, where = outcome["subject"], ["obligations", outcome["ref"]]
        fields = {"obligation": outcome["obligation"], "ref": outcome["ref"],
                  "status": outcome["status"]}
        if outcome.get("due_by"):
            fields["due_by"] = outcome["due_by"]
        for name, value in fields.items():
            self.write(subject, "set", where + [name], value)
        self.write(subject, "default", where + ["opened_at"], self.time)
        if outcome["status"] == "extended":
            self.write(subject, "set", where + ["extended_at"], self.time)

    def miss(self, subject: str, ref: str) -> None:
        """The engine's own change: an obligation still owed after its due instant is missed."""
        self.write(subject, "miss", ["obligations", ref], self.time)

    def state(self, state: dict, fold: bool = False) -> dict:
        """The new state: ``state`` itself when nothing changed, else a copy with the edited
        records (the others are shared, not copied) and the index of due instants updated.
        With ``fold``, its subjects are a :class:`SubjectsAfter` over the map before, for a
        store that folds the changes into the map it owns instead of copying every subject."""
        if not self.after:
            return state
        before = self.before
        if fold and not isinstance(before, SubjectsAfter):
            subjects: Mapping = SubjectsAfter(before, dict(self.after))
        else:
            subjects = dict(before)
            subjects.update(self.after)
        index = due_index(state)
        changed = False
        removed, added = [], []
        for sid, record in self.after.items():
            old = memory.due_entries(sid, self.before.get(sid))
            new = memory.due_entries(sid, record)
            if old == new:
                continue
            if fold:  # the store applies them to the index it owns
                removed.extend(old)
                added.extend(new)
                continue
            if not changed:
                index, changed = list(index), True
            for entry in old:
                at = bisect.bisect_left(index, entry)
                if at < len(index) and index[at] == entry:
                    del index[at]
            for entry in new:
                bisect.insort(index, entry)
        if removed or added:
            index = DueAfter(index, removed, added)
        return dict(state, subjects=subjects, due=index)
