"""The OpenAPI document's schemas: clauseline's own JSON Schemas (``schemas/``), bundled.

The event envelope, the decision and the outcome are the contract's schemas, with their
cross-file ``$ref`` rewritten to ``#/components/schemas/...`` so that the document stands alone
(OpenAPI 3.1 speaks JSON Schema 2020-12). Problem details and the read endpoints' shapes are
written here.
"""

from __future__ import annotations

import copy
import json
from importlib.resources import files

_BASE = "https://clauseline.dev/schemas/"
_FILES = {"cloudevent.schema.json": "CloudEvent", "decision.schema.json": "Decision",
          "outcome.schema.json": "Outcome"}


def _load(name: str) -> dict:
    return json.loads(files("clauseline.schemas").joinpath(name).read_text(encoding="utf-8"))


def _rewrite(node, local_file: str):
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key in ("$schema", "$id"):
                continue
            if key == "$ref" and isinstance(value, str):
                target, _, pointer = value.partition("#")
                if target.startswith(_BASE):
                    target = target[len(_BASE):]
                target = target or local_file
                if pointer.startswith("/$defs/"):
                    value = f"#/components/schemas/{target.split('.')[0]}.{pointer[len('/$defs/'):]}"
                else:
                    value = f"#/components/schemas/{_FILES[target]}"
            out[key] = _rewrite(value, local_file)
        return out
    if isinstance(node, list):
        return [_rewrite(v, local_file) for v in node]
    return node


PROBLEM = {
    "type": "object",
    "description": "RFC 9457 problem details.",
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string", "description": "Stable machine code (docs/errors.md)."},
        "request_id": {"type": ["string", "null"]},
        "errors": {"type": "array", "items": {
            "type": "object", "required": ["pointer", "detail"],
            "properties": {"pointer": {"type": "string"}, "detail": {"type": "string"},
                           "code": {"type": "string"}}}},
        "decision": {"$ref": "#/components/schemas/Decision"},
        "required_scope": {"type": "string"},
    },
}

OBLIGATION = {
    "type": "object",
    "required": ["subject", "ref", "obligation", "status", "due_by", "missed", "overdue"],
    "properties": {
        "subject": {"type": "string"}, "ref": {"type": "string"}, "obligation": {"type": "string"},
        "status": {"enum": ["open", "extended", "missed"]},
        "due_by": {"type": ["string", "null"]}, "opened_at": {"type": ["string", "null"]},
        "missed": {"type": "boolean"}, "overdue": {"type": "boolean"},
    },
}

SUBJECT = {
    "type": "object",
    "required": ["subject", "record", "obligations"],
    "properties": {
        "subject": {"type": "string"},
        "record": {"type": "object", "description": "The subject's current memory: profile, "
                   "remembered facts and obligations, as stored (sensitive numbers reduced)."},
        "first_seen": {"type": ["string", "null"]},
        "last_seen": {"type": ["string", "null"]},
        "obligations": {"type": "array", "items": {"$ref": "#/components/schemas/Obligation"}},
    },
}

OBLIGATIONS = {
    "type": "object",
    "required": ["obligations"],
    "properties": {
        "due_before": {"type": ["string", "null"]},
        "obligations": {"type": "array", "items": {"$ref": "#/components/schemas/Obligation"}},
    },
}

POLICY = {
    "type": "object",
    "required": ["engine_version", "versions"],
    "properties": {"engine_version": {"type": "string", "description": "The clauseline version "
                                      "serving (every chained record names the one that decided it)"},
                   "versions": {"type": "array", "items": {
        "type": "object",
        "required": ["version", "title", "effective_from", "policy_hash", "clauses", "rules",
                     "interpretations"],
        "properties": {
            "version": {"type": "string"}, "title": {"type": "string"},
            "effective_from": {"type": "string"},
            "policy_hash": {"type": "string", "description": "SHA-256 of the version's files, "
                            "facility profiles and schemas: what the decision log records"},
            "derived": {"type": "array", "items": {"type": "object"}},
            "profile_changes": {"type": "object"},
            "default_exempt_user_types": {"type": "array", "items": {"type": "string"}},
            "clauses": {"type": "array", "items": {"type": "object"}},
            "rules": {"type": "array", "items": {"type": "object"}},
            "overrides": {"type": "array", "items": {"type": "object"}},
            "interpretations": {"type": "array", "items": {"type": "object"}},
        }}}},
}


def components() -> dict:
    """The ``components.schemas`` of the OpenAPI document."""
    out = {}
    for name, title in _FILES.items():
        schema = _rewrite(copy.deepcopy(_load(name)), name)
        out[title] = schema
    defs = _rewrite(_load("defs.schema.json"), "defs.schema.json")
    for key, schema in defs.get("$defs", {}).items():
        out[f"defs.{key}"] = schema
    for title in list(out):
        if "$defs" in out[title]:
            for key, schema in out[title].pop("$defs").items():
                out[f"{title.lower()}.{key}"] = schema
    out.update(Problem=PROBLEM, Obligation=OBLIGATION, Subject=SUBJECT, Obligations=OBLIGATIONS,
               Policy=POLICY)
    return out


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def problem_responses(*statuses: int) -> dict:
    """``responses`` entries for problem details with these statuses."""
    return {status: {"description": TEXT.get(status, "Problem details"),
                     "content": {"application/problem+json": {"schema": ref("Problem")}}}
            for status in statuses}


TEXT = {400: "The body is not JSON (problem details)",
        401: "No valid API key (problem details)", 403: "The key lacks the scope (problem details)",
        404: "Not found (problem details)", 413: "The body is over the size limit (problem details)",
        415: "Unsupported Content-Type (problem details)",
        422: "The event or a parameter is invalid: every error with its JSON Pointer (problem details)",
        503: "The store is unavailable (problem details)"}
