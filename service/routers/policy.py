"""``GET /v1/policy``: the engine version, and the loaded policy versions with their content
hashes, derived profile fields, profile changes, clauses, rules and interpretations."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from ...policy.model import Policy, PolicyVersion
from ..dependencies import get_policy, require
from ..openapi import problem_responses, ref

router = APIRouter(prefix="/v1", tags=["policy"])


def describe_version(version: PolicyVersion) -> dict:
    """One policy version as JSON: what ``clauseline clauses``, ``rules list`` and
    ``interpretations`` print, in one document."""
    return {
        "version": version.version,
        "title": version.title,
        "effective_from": version.effective_from.isoformat().replace("+00:00", "Z"),
        # the content hash the decision log records for the version (rules, derivations,
        # facility profiles, schemas)
        "policy_hash": version.content_hash,
        "derived": [{"field": d.name, "op": d.op, "path": "profile." + d.path, "value": d.value,
                     "given": "profile." + (d.given or d.path)} for d in version.derived],
        "profile_changes": {t: {"replace": c.replace, "merge": c.merge, "set": dict(c.set)}
                            for t, c in sorted(version.profile_changes.items())},
        "default_exempt_user_types": list(version.default_exempt_user_types),
        "clauses": [{"clause": c.letter, "title": c.title, "operative": c.operative,
                     "reason": c.reason, "text": c.text}
                    for _, c in sorted(version.clauses.items())],
        "rules": [{"id": r.id, "clause": r.clause, "title": r.title, "events": list(r.events),
                   "quote": r.quote, "interpretations": list(r.interpretations),
                   "fallback": r.fallback} for r in version.rules],
        "overrides": [{"id": o.id, "clause": o.clause, "title": o.title, "quote": o.quote,
                       "while": o.holds, "disclosure": o.disclosure, "retain": o.retain,
                       "interpretations": list(o.interpretations)} for o in version.overrides],
        "interpretations": [{"id": i.id, "clause": i.clause, "sentence": i.sentence,
                             "reading": i.reading, "why": i.why}
                            for i in sorted(version.interpretations.values(),
                                            key=lambda i: (i.clause, i.id))],
    }


@router.get("/policy", summary="The policy: versions, clauses, rules, interpretations",
            responses={200: {"description": "Every loaded version",
                             "content": {"application/json": {"schema": ref("Policy")}}},
                       **problem_responses(401, 503)},
            dependencies=[Depends(require(None))])
async def get_policy_document(policy: Policy = Depends(get_policy)):
    from ...chain import engine_version
    return JSONResponse({"engine_version": engine_version(),
                         "versions": [describe_version(v) for v in policy.versions]})
