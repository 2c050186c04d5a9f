"""What routes depend on: settings, policy, store, session, and the caller's key.

Each is a FastAPI dependency reading what :func:`clauseline.service.create_app` put on
``app.state``; override any of them with ``app.dependency_overrides[get_store] = ...``.
"""

from __future__ import annotations

from typing import Callable

import anyio
from fastapi import Depends, Request

from ..policy.model import Policy
from ..session import Session
from ..store import SqlStore
from .keys import ApiKey, authenticate
from .observability import Metrics
from .problems import ProblemError
from .settings import Settings


def get_settings(request: Request) -> Settings:
    """The service's settings."""
    return request.app.state.settings


def get_policy(request: Request) -> Policy:
    """The loaded policy (every version)."""
    return request.app.state.policy


def get_store(request: Request) -> SqlStore:
    """The durable store events are recorded in."""
    return request.app.state.store


def get_metrics(request: Request) -> Metrics:
    """The app's Prometheus metrics."""
    return request.app.state.metrics


def get_session(policy: Policy = Depends(get_policy), store: SqlStore = Depends(get_store)) -> Session:
    """A session over the policy and the store (cheap: it holds the two, nothing else)."""
    return Session(policy, store)


def get_limiter(request: Request) -> anyio.CapacityLimiter:
    """Bounds the store work running at once to what the store's connection pool holds."""
    return request.app.state.limiter


_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="clauseline"'}


def require(scope: str | None) -> Callable:
    """A dependency admitting a request whose ``Authorization: Bearer`` key has ``scope``
    (None: any valid key): 401 without a valid key, 403 without the scope. With
    ``--insecure-no-auth`` every request is admitted."""

    async def check(request: Request, settings: Settings = Depends(get_settings),
                    store: SqlStore = Depends(get_store),
                    limiter: anyio.CapacityLimiter = Depends(get_limiter)) -> ApiKey | None:
        if not settings.auth:
            return None
        header = request.headers.get("authorization") or ""
        method, _, token = header.partition(" ")
        if method.lower() != "bearer" or not token.strip():
            raise ProblemError(401, "this endpoint needs an API key: Authorization: Bearer <key> "
                               "(create one with clauseline keys create)", code="auth.missing_key",
                               headers=_CHALLENGE)
        key = await anyio.to_thread.run_sync(authenticate, store, token.strip(), limiter=limiter)
        if key is None:
            raise ProblemError(401, "the API key is not valid (unknown, malformed or revoked)",
                               code="auth.invalid_key", headers=_CHALLENGE)
        if not key.allows(scope):
            raise ProblemError(403, f"the API key {key.key_id} lacks the scope {scope}",
                               code="auth.forbidden", required_scope=scope)
        return key

    check.scope = scope
    return check
