"""Reading YAML files of a policy (rules, index, interpretations, facilities, scenarios).

Line numbers are kept (ruamel.yaml's round-trip mode) so that every problem names its file, line
and key; duplicate keys are errors; a document is checked against its JSON Schema with every
error reported at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jsonschema.exceptions import ValidationError, best_match
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from ..errors import Problem
from ..events.validation import SchemaSet


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    return yaml


def read_yaml(path: Path, display: str) -> tuple[Any, list[Problem]]:
    """Parse one YAML file keeping line numbers; syntax and duplicate-key errors are located."""
    try:
        with path.open(encoding="utf-8") as handle:
            return _yaml().load(handle), []
    except MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark else None
        code = "duplicate_key" if "duplicate key" in str(error.problem) else "yaml_syntax"
        return None, [Problem(code, str(error.problem).strip(), file=display, line=line)]
    except OSError as error:
        return None, [Problem("unreadable_file", str(error), file=display)]


def read_checked(path: Path, display: str, schemas: SchemaSet, schema_id: str) -> tuple[Any, list[Problem]]:
    """Read a YAML file and check it against a schema: ``(doc, [])`` or ``(None, problems)``."""
    doc, problems = read_yaml(path, display)
    if doc is None:
        return None, problems
    problems = schema_problems(schemas, schema_id, doc, display)
    return (None if problems else doc), problems


def plain(node: Any) -> Any:
    """A YAML document as plain dicts, lists and scalars (for schema validation and the model)."""
    if isinstance(node, dict):
        return {str(k): plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [plain(v) for v in node]
    return node


def line_of(root: Any, path: list, key: str | None = None) -> int | None:
    """The 1-based line of the node at ``path`` (or of ``key`` inside it)."""
    node, line = root, None
    for step in path:
        if isinstance(node, CommentedMap) and step in node:
            line = node.lc.key(step)[0] + 1
            node = node[step]
        elif isinstance(node, CommentedSeq) and isinstance(step, int) and step < len(node):
            line = node.lc.item(step)[0] + 1
            node = node[step]
        else:
            break
    if key is not None and isinstance(node, CommentedMap) and key in node:
        return node.lc.key(key)[0] + 1
    if line is None and hasattr(node, "lc"):
        line = node.lc.line + 1
    return line


def dotted_key(path: list) -> str:
    """A key path as text: ``rules[2].when.match``."""
    out = ""
    for step in path:
        out += f"[{step}]" if isinstance(step, int) else (f".{step}" if out else str(step))
    return out


def condition_operators(branches: list) -> list[str]:
    """The operator names a rule-file condition accepts, read from the schema's ``oneOf``
    branches (so that messages list exactly what the schema allows)."""
    return [name for branch in branches if isinstance(branch, dict)
            for name in (branch.get("properties") or {})]


def schema_problems(schemas: SchemaSet, schema_id: str, doc: Any, display: str) -> list[Problem]:
    """Every schema error of a document read by :func:`read_yaml`, with file, line and key."""
    out = []
    for error in schemas.validator(schema_id).iter_errors(plain(doc)):
        out.extend(_explain(error, doc, display))
    out.sort(key=lambda p: (p.line or 0, p.key or "", p.code))
    return out


def _explain(error: ValidationError, doc: Any, display: str) -> list[Problem]:
    path = list(error.absolute_path)
    if error.validator in ("additionalProperties", "unevaluatedProperties"):
        known = set(error.schema.get("properties", {}))
        extras = sorted(k for k in error.instance if k not in known)
        return [Problem("unknown_field",
                        f"unknown key {k!r}; expected one of: {', '.join(sorted(known))}",
                        file=display, line=line_of(doc, path, k), key=dotted_key(path + [k]))
                for k in extras]
    if error.validator == "required":
        missing = [k for k in error.validator_value if k not in error.instance]
        return [Problem("missing_field", f"required key {k!r} is missing", file=display,
                        line=line_of(doc, path), key=dotted_key(path + [k])) for k in missing]
    if error.validator == "oneOf" and error.context:
        in_match = "match" in path or "match_any" in path
        deepest = best_match(error.context)
        if in_match:
            message = ("a condition is a scalar (equality) or an object of one or more operators (all must "
                       "hold), each one operator of: "
                       + ", ".join(condition_operators(error.validator_value)) + "; got "
                       + repr(plain(error.instance)))
            return [Problem("bad_condition", message, file=display, line=line_of(doc, path),
                            key=dotted_key(path))]
        return _explain(deepest, doc, display)
    code = "bad_condition" if "match" in path else "invalid_value"
    return [Problem(code, error.message, file=display, line=line_of(doc, path), key=dotted_key(path))]
