"""Show the rejected lines of a replay's output, each with its errors: what `make demo` prints
after it replays the example log, so that the lines it counts as rejected are seen.

    python examples/show_rejected.py out/demo-decisions.jsonl

Reads the decisions `clauseline replay` wrote (one JSON object a line) and prints, for every
rejected one, its log line, each error's code and JSON Pointer, and the message (without the
`line N:` prefix the line already says). Messages are shown as clauseline's own messages are:
card-like and SSN-like numbers masked, control characters escaped. Exit 0; 2 when the file
cannot be read or holds a line that is not a decision.
"""

from __future__ import annotations

import json
import re
import sys

from clauseline.redact import mask_numbers

#: The prefix every error message of a replayed line carries.
LINE_PREFIX = re.compile(r"^line \d+: ")


def shown(text: object) -> str:
    """Untrusted text as one printable line: numbers masked, control characters escaped."""
    return "".join(c if c.isprintable() else f"\\u{ord(c):04x}"
                   for c in mask_numbers(str(text)))


def rejected_lines(lines) -> tuple[int, list[str]]:
    """(how many decisions, the lines to print for the rejected ones)."""
    total, out = 0, []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            decision = json.loads(line)
        except ValueError:
            raise SystemExit(f"show_rejected: line {number} is not JSON: not a replay's output")
        if not isinstance(decision, dict) or "status" not in decision:
            raise SystemExit(f"show_rejected: line {number} is not a decision")
        total += 1
        if decision["status"] != "rejected":
            continue
        for error in decision.get("errors") or [{}]:
            where = error.get("line", total)
            pointer = error.get("path") or "/"
            message = LINE_PREFIX.sub("", str(error.get("message", "")))
            out.append(f"  line {where:<5} {shown(error.get('code', '?')):<22} {shown(pointer):<14} "
                       f"{shown(message)}")
    return total, out


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python examples/show_rejected.py DECISIONS.jsonl", file=sys.stderr)
        return 2
    try:
        with open(argv[0], encoding="utf-8", errors="replace") as handle:
            total, out = rejected_lines(handle)
    except OSError as error:
        print(f"show_rejected: cannot read {shown(argv[0])}: {error.strerror}", file=sys.stderr)
        return 2
    except SystemExit as error:
        print(shown(error.code), file=sys.stderr)
        return 2
    rejected = len({line.split()[1] for line in out})
    print(f"{rejected} of {total} line(s) rejected (line, error code, JSON Pointer, message):")
    print("\n".join(out) if out else "  (none)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
