"""Canonical JSON: the byte-stable form of decisions, so replays compare byte for byte."""

from __future__ import annotations

import json
from json.encoder import c_make_encoder, encode_basestring
from typing import Any


#: Characters kept as escapes although JSON allows them raw: common JSON Lines readers split a
#: line at them (U+2028, U+2029, U+0085), so one decision would span several lines.
_LINE_BREAKS = {"\u2028": "\\u2028", "\u2029": "\\u2029", "\u0085": "\\u0085"}


#: ``json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)``
#: as the C encoder that ``json`` builds at every call, built once (a decision is encoded
#: for its output and for its digest: the building was a third of the cost). Without the
#: check for circular references: what is encoded here is JSON data, read or built, never a cycle.
_ENCODE = c_make_encoder(None, json.JSONEncoder().default, encode_basestring, None, ":", ",",
                         True, False, False)


def dumps(value: Any) -> str:
    """Sorted keys, no insignificant white space, UTF-8 text kept as is except the characters
    that some readers take for a line break (escaped: one document is always one line)."""
    text = "".join(_ENCODE(value, 0))
    if not text.isascii():
        for raw, escaped in _LINE_BREAKS.items():
            text = text.replace(raw, escaped)
    return text
