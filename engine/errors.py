"""Errors as data with a place.

Every error clauseline reports carries a stable machine ``code`` (public API, listed in
``docs/errors.md``), a human ``message`` and a location: ``file`` and ``line`` for rule files,
a JSON Pointer ``path`` for events.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

#: Characters shown as escapes (``\\u202e``) in text output: controls (C0 but the line break,
#: DEL, C1, so ESC too), line and paragraph separators, and bidirectional formatting characters,
#: which would let a value reorder, hide or split the text a reviewer reads.
_UNPRINTABLE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e"
                          "\u2066-\u2069]")
_UNPRINTABLE_LINE = re.compile("[\n" + _UNPRINTABLE.pattern[1:])


def printable(text: str, *, lines: bool = True) -> str:
    """``text`` with controls and bidirectional formatting characters escaped (``\\u001b``):
    what every printed name, id, file name or message goes through. ``lines=False`` escapes
    line breaks too (one name, one line)."""
    pattern = _UNPRINTABLE if lines else _UNPRINTABLE_LINE
    return pattern.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


@dataclass(frozen=True)
class Problem:
    """One located problem: a rule-file error or an event validation error."""

    code: str
    message: str
    path: str = ""
    file: str | None = None
    line: int | None = None
    key: str | None = None

    def __str__(self) -> str:
        # one line whatever a file name, key or message holds (a rule id may quote YAML input)
        return printable(self._text(), lines=False)

    def _text(self) -> str:
        where = self.file or ""
        if self.line is not None:
            where += f":{self.line}"
        if self.key:
            where += f": {self.key}" if where else self.key
        elif self.path:
            where += f" {self.path}" if where else self.path
        return f"{where}: {self.code}: {self.message}" if where else f"{self.code}: {self.message}"

    def as_event_error(self) -> dict:
        """The shape a rejected decision lists under ``errors``."""
        return {"path": self.path, "message": self.message, "code": self.code}


@dataclass
class ClauselineError(Exception):
    """Base error: one or more problems found by a stage of the pipeline."""

    problems: list[Problem] = field(default_factory=list)

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)


class OneProblem(ClauselineError):
    """An error of one problem, with a stable ``code`` and a ``message`` (a store, a stream, a
    right-to-know document that cannot be had)."""

    def __init__(self, code: str, message: str):
        super().__init__([Problem(code, message)])

    @property
    def code(self) -> str:
        return self.problems[0].code

    @property
    def message(self) -> str:
        return self.problems[0].message


class PolicyLoadError(ClauselineError):
    """The rule files, policy index or facility profiles could not be loaded."""


class EventError(ClauselineError):
    """An event failed parsing or validation; it is rejected and changes nothing."""
