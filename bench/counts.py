"""Counts given to the bench's command lines (`bench/run.py`, `bench/scale.py`): whole numbers
in ASCII digits, refused with a message that names the option, never a traceback. `int()`
alone also reads "\u0661" (an Arabic-Indic one) and "1_000" as numbers, and a hostile test
found that such a count ran a whole bench."""

from __future__ import annotations

import argparse
import re

_WHOLE = re.compile(r"[0-9]+")  # ASCII digits only: int() also reads "٤" and "1_000"


def whole(least: int):
    """An argparse type: a whole number of at least ``least``, in ASCII digits."""
    def parse(text: str) -> int:
        if not _WHOLE.fullmatch(text.strip()) or int(text) < least:
            raise argparse.ArgumentTypeError(f"a whole number of {least} or more, not {text!r}")
        return int(text)
    return parse


def numbers(text: str, name: str) -> list[int]:
    """A comma-separated list of whole numbers of 1 or more (``name``: the option, for the
    message); raises SystemExit saying what is wrong."""
    parts = [v.strip() for v in text.split(",") if v.strip()]
    if not all(_WHOLE.fullmatch(v) for v in parts):
        raise SystemExit(f"{name}: a comma-separated list of whole numbers, not {text!r}")
    values = [int(v) for v in parts]
    if not values or min(values) < 1:
        raise SystemExit(f"{name}: whole numbers ≥ 1, not {text!r}")
    return values


def pairs(text: str, name: str, second: int) -> list[tuple[int, int]]:
    """``50000/2000,400000/2000`` as [(50000, 2000), (400000, 2000)]; a pair without its
    second number (``50000``) takes ``second``. Raises SystemExit saying what is wrong."""
    out = []
    for item in (text.split(",") if text.strip() else [""]):
        first, slash, rest = item.strip().partition("/")
        if not _WHOLE.fullmatch(first) or (slash and not _WHOLE.fullmatch(rest)) \
                or int(first) < 1 or (slash and int(rest) < 1):
            raise SystemExit(f"{name}: EVENTS/SUBJECTS,... of whole numbers ≥ 1, not {text!r}")
        out.append((int(first), int(rest) if slash else second))
    return out
