"""The FastAPI app: routers, dependencies, problem details, access log and metrics."""

from __future__ import annotations

from contextlib import asynccontextmanager

import anyio
from fastapi import FastAPI

from ..policy import load_policy
from ..policy.model import Policy
from ..process import settle
from ..session import Session
from ..store import SqlStore, open_store
from . import docs, problems
from .committer import Committer
from .keys import KeyCache
from .observability import AccessLog, Metrics
from .openapi import components
from .routers import events, health, policy as policy_router, read, rights
from .settings import Settings

DESCRIPTION = """\
clauseline decides every CloudEvent against the Securus privacy policy (clauses A to W) and
stores the event with its decision. Post events in structured, binary or batch mode; read
decisions, subjects and obligations back. A 2xx on `POST /v1/events` means the event and its
decision are committed. Errors are RFC 9457 problem details. Keys: `Authorization: Bearer <key>`
(`clauseline keys create`); scopes `events:write`, `decisions:read`, `subjects:read` (the
right-to-know document, `GET /v1/subjects/{id}/right-to-know`), `admin`.
"""


def _version() -> str:
    import clauseline
    return clauseline.__version__


def create_app(settings: Settings | None = None, *, policy: Policy | None = None,
               store: SqlStore | None = None) -> FastAPI:
    """The service's app. Without ``policy`` it loads ``settings.rules`` (the shipped policy by
    default); without ``store`` it opens ``settings.db`` (migrating it) and closes it at
    shutdown. A ``store`` given here belongs to the caller."""
    settings = settings or Settings()
    policy = policy if policy is not None else load_policy(settings.rules)
    owned = store is None
    store = store if store is not None else open_store(settings.db)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        if app.state.enqueuer is not None:
            await app.state.enqueuer.close()
        if owned:
            store.close()

    # the documentation pages are docs.py's, with their assets served from here, not a CDN
    app = FastAPI(title="clauseline", version=_version(), description=DESCRIPTION,
                  lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.settings = settings
    app.state.policy = policy
    app.state.store = store
    app.state.metrics = Metrics(policy.schemas.event_types if policy.schemas else ())
    app.state.enqueuer = None
    if settings.enqueue_nats:  # enqueue instead of evaluate (service/enqueue.py)
        from .enqueue import Enqueuer
        app.state.enqueuer = Enqueuer(settings.enqueue_nats, settings.enqueue_stream or "",
                                      policy, watermark_every=settings.watermark_every,
                                      watermark_interval=settings.watermark_interval)
    # at most as many threads on the store as its connection pool holds connections
    app.state.limiter = anyio.CapacityLimiter(8 if store.dialect == "postgresql" else 4)
    # one session for every request (it holds the policy and the store, nothing of a request)
    app.state.session = Session(policy, store)
    # single events posted at once share a transaction (service/committer.py)
    app.state.committer = Committer(observe=app.state.metrics.group_commit.observe)
    app.state.keys = KeyCache()  # keys checked in the last few seconds (service/keys.py)
    problems.install(app)
    for router in (events.router, read.router, rights.router, policy_router.router, health.router):
        app.include_router(router)
    docs.install(app)
    app.add_middleware(AccessLog, metrics=app.state.metrics)

    def openapi() -> dict:
        if app.openapi_schema is None:
            from fastapi.openapi.utils import get_openapi
            schema = get_openapi(title=app.title, version=app.version, description=app.description,
                                 routes=app.routes)
            schema.setdefault("components", {}).setdefault("schemas", {}).update(components())
            schema["components"]["securitySchemes"] = {
                "bearer": {"type": "http", "scheme": "bearer",
                           "description": "An API key from `clauseline keys create`."}}
            schema["security"] = [{"bearer": []}]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi
    return app


def app_from_env() -> FastAPI:
    """The app of one ``clauseline serve`` worker process: settings from the environment; what
    it made is then kept out of the garbage collector's full collections
    (:func:`clauseline.process.settle`)."""
    app = create_app(Settings.from_env())
    settle()
    return app


__all__ = ["app_from_env", "create_app"]
