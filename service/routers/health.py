"""``/healthz`` (the process answers), ``/readyz`` (the store answers and its schema is
current) and ``/metrics`` (Prometheus). None needs a key: they carry no personal data."""

from __future__ import annotations

import anyio
from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from ...store import SqlStore, head_revision, schema_version
from ..dependencies import get_limiter, get_metrics, get_store
from ..observability import Metrics
from ..openapi import problem_responses
from ..problems import ProblemError

#: No key: the document's global bearer requirement does not apply to these.
router = APIRouter(tags=["operations"])
_OPEN = {"security": []}

_STATUS = {"application/json": {"schema": {"type": "object", "required": ["status"],
                                           "properties": {"status": {"type": "string"}}}}}


@router.get("/healthz", summary="Liveness: the process answers",
            responses={200: {"description": "Alive", "content": _STATUS}}, openapi_extra=_OPEN)
async def healthz():
    return JSONResponse({"status": "ok"})


@router.get("/readyz", summary="Readiness: the store answers and its migrations are current",
            responses={200: {"description": "Ready", "content": _STATUS},
                       **problem_responses(503)}, openapi_extra=_OPEN)
async def readyz(store: SqlStore = Depends(get_store),
                 limiter: anyio.CapacityLimiter = Depends(get_limiter)):
    def check():
        store.ping()
        return schema_version(store.engine), head_revision()

    try:
        at, head = await anyio.to_thread.run_sync(check, limiter=limiter)
    except Exception:  # noqa: BLE001 - any failure to answer means not ready
        raise ProblemError(503, "the store does not answer", code="store.unavailable",
                           headers={"Retry-After": "1"}) from None
    if at != head:
        raise ProblemError(503, f"the store's schema is at revision {at}, not {head}: run "
                           "clauseline with this version once to migrate it",
                           code="store.migration_pending")
    return JSONResponse({"status": "ready", "store": store.dialect, "schema": at})


@router.get("/metrics", summary="Prometheus metrics (text format)",
            responses={200: {"description": "Metrics", "content": {CONTENT_TYPE_LATEST: {
                "schema": {"type": "string"}}}}}, openapi_extra=_OPEN)
async def metrics_endpoint(metrics: Metrics = Depends(get_metrics)):
    return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
