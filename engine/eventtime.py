"""Event-time arithmetic. The event's ``time`` is the only clock clauseline knows.

Interpretations recorded in the policy (see ``clauseline interpretations``): days are calendar
days in UTC; "one year" is the same calendar date and time a year later (29 February becomes
28 February in a common year); ages are whole years on the event's UTC date.
"""

from __future__ import annotations

import functools

import calendar
import re
from datetime import date, datetime, timedelta, timezone

_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.(?P<fraction>[0-9]+))?"
    r"(?:[Zz]|[+-][0-9]{2}:[0-9]{2})"
)

#: The shape nearly every time has (UTC, ``Z``, at most microseconds), the one clauseline writes:
#: read by ``datetime.fromisoformat`` as it is, to the same aware UTC datetime.
_CANONICAL = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?Z")

#: Fractional-second digits clauseline keeps: time is kept to the microsecond (``datetime``).
FRACTION_DIGITS = 6


class TimePrecisionError(ValueError):
    """A time finer than a microsecond: a fractional-second digit after the 6th that is not 0.

    Such a time cannot be kept without losing part of it, so it is refused rather than cut. The
    message is the one event errors carry (``schema.format``, see docs/errors.md).
    """


def parse_time(text: str) -> datetime:
    """Parse an RFC 3339 timestamp with offset into an aware UTC datetime.

    Fractional seconds may have any number of digits, but those after the 6th must be 0
    (``09:00:00.123456000Z`` is exactly ``09:00:00.123456Z``): a finer time raises
    :class:`TimePrecisionError` (a ``ValueError``) instead of being silently truncated.
    """
    if not isinstance(text, str):
        raise ValueError("not an RFC 3339 date-time with offset")
    return _parse_time(text)


@functools.lru_cache(maxsize=4096)  # an event's time is parsed several times on its way
def _parse_time(text: str) -> datetime:
    # messages never quote the text (docs/errors.md): a caller names the member or the option
    if _CANONICAL.fullmatch(text):
        return datetime.fromisoformat(text)  # a day or hour out of range: its ValueError
    match = _RFC3339.fullmatch(text)
    if match is None:
        raise ValueError("not an RFC 3339 date-time with offset")
    fraction = match.group("fraction")
    if fraction is not None:
        if fraction[FRACTION_DIGITS:].strip("0"):
            raise TimePrecisionError(
                f"a time with {len(fraction)} fractional-second digits is finer than a "
                "microsecond: clauseline keeps time to the microsecond, so the fractional-second "
                f"digits after the {FRACTION_DIGITS}th must all be 0")
        # only zeros are dropped: the datetime is exactly the time written
        start, end = match.span("fraction")
        text = text[:start] + fraction[:FRACTION_DIGITS] + text[end:]
    normal = text.replace("t", "T").replace(" ", "T").replace("z", "Z").replace("Z", "+00:00")
    try:
        return datetime.fromisoformat(normal).astimezone(timezone.utc)
    except OverflowError:  # e.g. 9999-12-31T23:59:59-01:00 is in the year 10000 in UTC
        raise ValueError("the time is outside the years 1 to 9999 once converted to UTC") from None


def parse_instant(value) -> datetime | None:
    """An RFC 3339 date-time, or a calendar date taken as its midnight UTC; None otherwise.

    A time finer than a microsecond is not an instant here either (None), never a truncated one.
    """
    if not isinstance(value, str):
        return None
    try:
        return parse_time(value)
    except ValueError:
        pass
    try:
        return datetime.combine(parse_date(value), datetime.min.time(), timezone.utc)
    except ValueError:
        return None


def format_time(moment: datetime) -> str:
    """Format a datetime canonically: UTC, ``Z``, microseconds only when present."""
    if moment.tzinfo is not timezone.utc:  # a time this module parsed already is in UTC
        moment = moment.astimezone(timezone.utc)
    # by fields, not strftime (%Y does not pad years before 1000, and it costs more)
    text = (f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T"
            f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}")
    if moment.microsecond:
        text += f".{moment.microsecond:06d}".rstrip("0")
    return text + "Z"


def add_days(moment: datetime, days: int) -> datetime:
    """Calendar days in UTC (no daylight-saving shifts: UTC has none)."""
    return moment + timedelta(days=days)


def add_years(moment: datetime, years: int) -> datetime:
    """Same calendar date and time ``years`` later; 29 February falls back to 28 February."""
    try:
        return moment.replace(year=moment.year + years)
    except ValueError:
        return moment.replace(year=moment.year + years, day=28)


def add_months(moment: datetime, months: int) -> datetime:
    """Same day and time ``months`` later (negative goes back), clamped to the month's end."""
    year, month = divmod(moment.year * 12 + moment.month - 1 + months, 12)
    month += 1
    return moment.replace(year=year, month=month,
                          day=min(moment.day, calendar.monthrange(year, month)[1]))


def age_on(birth: date, moment: datetime) -> int:
    """Whole years of age on the UTC date of ``moment``."""
    today = moment.astimezone(timezone.utc).date()
    years = today.year - birth.year
    if (today.month, today.day) < (birth.month, birth.day):
        years -= 1
    return years


def parse_date(text: str) -> date:
    """Parse an ISO 8601 calendar date (YYYY-MM-DD)."""
    return date.fromisoformat(text)
