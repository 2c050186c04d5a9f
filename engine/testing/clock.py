"""A test clock: event time that a test moves forward, and ISO 8601 durations."""

from __future__ import annotations

import contextlib
import itertools
import re
from datetime import datetime, timedelta
from typing import Any, Callable

from ..eventtime import add_months, add_years, format_time, parse_time

#: Where events built by a test clock say they come from, unless told otherwise.
DEFAULT_SOURCE = "/clauseline/tests"


_DURATION = re.compile(
    r"^P(?!$)(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?"
    r"(?:T(?=\d)(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$")


def parse_duration(text: str | timedelta) -> Callable[[datetime], datetime]:
    """An ISO 8601 duration (``P3D``, ``PT2H``, ``P1Y2M``, ``P2W``) as a function that moves a
    moment forward: years and months are calendar steps (as the policy's "one year"), the rest
    is exact time. A ``timedelta`` is accepted as it is."""
    if isinstance(text, timedelta):
        return lambda moment: moment + text
    found = _DURATION.match(text) if isinstance(text, str) else None
    if not found:
        raise ValueError(f"not an ISO 8601 duration such as P3D, PT2H or P1Y2M: {text!r}")
    years, months, weeks, days, hours, minutes, seconds = (float(g) if g else 0 for g in found.groups())
    delta = timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes, seconds=seconds)

    def move(moment: datetime) -> datetime:
        return add_months(add_years(moment, int(years)), int(months)) + delta

    return move


def utc_instant(value: str | datetime) -> datetime:
    """An RFC 3339 string or a datetime as an aware UTC datetime (ValueError if it is neither)."""
    return parse_time(value) if isinstance(value, str) else parse_time(format_time(value))


class Clock:
    """A test clock: the time the next event happens, moved forward on request.

    Events built by :meth:`event` get the envelope defaults a test should not have to write:
    ``specversion``, a unique ``id``, ``source`` and ``time`` (the clock's current time).
    """

    def __init__(self, start: str | datetime = "2019-07-01T09:00:00Z", source: str = DEFAULT_SOURCE):
        self.now = utc_instant(start)
        self.source = source
        self._ids = itertools.count(1)

    @property
    def time(self) -> str:
        """The current time as an RFC 3339 string (UTC, ``Z``)."""
        return format_time(self.now)

    def advance(self, duration: str | timedelta) -> str:
        """Move the clock forward by an ISO 8601 duration (or a timedelta); return the new time."""
        self.now = parse_duration(duration)(self.now)
        return self.time

    def set(self, moment: str | datetime) -> None:
        """Set the clock to a moment (an event with an explicit ``time`` does this)."""
        self.now = utc_instant(moment)

    def next_id(self) -> str:
        """A fresh event id, unique for this clock."""
        return f"auto-{next(self._ids)}"

    def event(self, type: str, data: dict | None = None, subject: str | None = None,
              **envelope: Any) -> dict:
        """A complete CloudEvent: the given fields plus the envelope defaults."""
        out = {"specversion": "1.0", "id": self.next_id(), "source": self.source, "type": type,
               "time": self.time}
        if subject is not None:
            out["subject"] = subject
        out["data"] = {} if data is None else data
        out.update(envelope)
        return out

    def complete(self, event: dict) -> dict:
        """The event with missing envelope fields filled in; its explicit ``time`` sets the clock."""
        if isinstance(event.get("time"), str):
            # an invalid time is the evaluator's to reject, with its JSON Pointer
            with contextlib.suppress(ValueError):
                self.set(event["time"])
        out = {"specversion": "1.0", "id": None, "source": self.source, "type": None, "time": self.time}
        out.update(event)
        if out["id"] is None:
            out["id"] = self.next_id()
        out.setdefault("data", {})
        return {k: v for k, v in out.items() if v is not None or k in event}
