"""What routes depend on: settings, policy, store, session, and the caller's key.

Each is a FastAPI dependency reading what :func:`clauseline.service.create_app` put on
``app.state``; override any of them with ``app.dependency_overrides[get_store] = ...``.
They are ``async def`` although none awaits anything: FastAPI runs a plain ``def`` dependency
in a worker thread, a thread hop per dependency per request for what is an attribute read.
"""

from __future__ import annotations

import inspect
from typing import Callable

import anyio
from fastapi import Depends, Request, Response
from fastapi.routing import APIRoute

from ..policy.model import Policy
from ..session import Session
from ..store import SqlStore
from .keys import ApiKey, KeyCache, authenticate
from .observability import Metrics
from .problems import ProblemError
from .settings import Settings


async def get_settings(request: Request) -> Settings:
    """The service's settings."""
    return request.app.state.settings


async def get_policy(request: Request) -> Policy:
    """The loaded policy (every version)."""
    return request.app.state.policy


async def get_store(request: Request) -> SqlStore:
    """The durable store events are recorded in."""
    return request.app.state.store


async def get_metrics(request: Request) -> Metrics:
    """The app's Prometheus metrics."""
    return request.app.state.metrics


async def get_session(policy: Policy = Depends(get_policy), store: SqlStore = Depends(get_store)) -> Session:
    """A session over the policy and the store (cheap: it holds the two, nothing else)."""
    return Session(policy, store)


async def get_limiter(request: Request) -> anyio.CapacityLimiter:
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
        token = token.strip()
        cache: KeyCache = request.app.state.keys
        key = cache.get(store, token)
        if key is None:  # not checked in the last few seconds (keys.KEY_CACHE_SECONDS)
            key = await anyio.to_thread.run_sync(authenticate, store, token, limiter=limiter)
            cache.put(store, token, key)
        if key is None:
            raise ProblemError(401, "the API key is not valid (unknown, malformed or revoked)",
                               code="auth.invalid_key", headers=_CHALLENGE)
        if not key.allows(scope):
            raise ProblemError(403, f"the API key {key.key_id} lacks the scope {scope}",
                               code="auth.forbidden", required_scope=scope)
        return key

    check.scope = scope
    return check


#: What a :class:`StateRoute` endpoint's parameter gets, by its dependency: read from the state.
_FROM_STATE = {get_settings: "settings", get_policy: "policy", get_store: "store",
               get_metrics: "metrics", get_session: "session", get_limiter: "limiter"}


class StateRoute(APIRoute):
    """A route whose dependencies are all this module's (the ``get_*`` above and :func:`require`
    checks): each request gets them straight from ``app.state``, without FastAPI's dependency
    resolution, which costs a few hundred microseconds of CPU a request (``POST /v1/events``
    is the hot path: docs/service.md). The endpoint, its errors and the OpenAPI document are
    the route's as declared; an app with ``dependency_overrides`` set takes FastAPI's own path,
    which resolves the overrides. A parameter of another dependency is refused when the route
    is made."""

    def get_route_handler(self) -> Callable:
        resolving = super().get_route_handler()
        endpoint = self.endpoint
        checks = [depends.dependency for depends in self.dependencies]
        for check in checks:
            if not hasattr(check, "scope"):
                raise TypeError(f"{self.path}: {check!r} is not a require() check")
        given: list[tuple[str, str | None]] = []  # (parameter, its state attribute or None)
        for name, parameter in inspect.signature(endpoint).parameters.items():
            dependency = getattr(parameter.default, "dependency", None)
            if dependency in _FROM_STATE:
                given.append((name, _FROM_STATE[dependency]))
            elif parameter.annotation in (Request, "Request"):
                given.append((name, None))
            else:
                raise TypeError(f"{self.path}: the parameter {name} is not read from app.state")

        async def handler(request: Request) -> Response:
            app = request.app
            if app.dependency_overrides:
                return await resolving(request)
            state = app.state
            for check in checks:
                await check(request, state.settings, state.store, state.limiter)
            return await endpoint(**{name: request if attribute is None else
                                     getattr(state, attribute) for name, attribute in given})

        return handler
