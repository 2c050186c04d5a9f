"""Canonical JSON: the byte-stable form of decisions, so replays compare byte for byte."""

from __future__ import annotations

import json
from typing import Any


def dumps(value: Any) -> str:
    """Sorted keys, no insignificant white space, UTF-8 text kept as is."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
