"""Events in: raw bytes to a parsed CloudEvent (size, depth and strict-JSON limits), and its
validation against the JSON Schemas (the envelope, then the data schema of its type)."""

from .parsing import MAX_DEPTH, MAX_EVENT_BYTES, Oversized, parse_event, read_lines
from .validation import SchemaSet

__all__ = ["MAX_DEPTH", "MAX_EVENT_BYTES", "Oversized", "SchemaSet", "parse_event", "read_lines"]
