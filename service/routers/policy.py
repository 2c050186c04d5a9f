"""``GET /v1/policy``: the loaded policy versions, their clauses, rules and interpretations."""

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
    return JSONResponse({"versions": [describe_version(v) for v in policy.versions]})
