"""Fixtures of the HTTP service tests: the real app over a fresh store of each backend (SQLite
in tmp_path; PostgreSQL in a fresh schema of the local server, skipped only when none answers),
with an API key of every scope."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from clauseline.service import Settings, create_app
from clauseline.service.keys import create_key
from clauseline.store import open_store
# one store per backend (SQLite in tmp_path; PostgreSQL in a fresh schema), as the store tests have
from store.conftest import _fixed_redaction_key, backend, store_url  # noqa: F401 - fixtures

STRUCTURED = {"content-type": "application/cloudevents+json"}
BATCH = {"content-type": "application/cloudevents-batch+json"}


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path / 'service.db'}"


class Api:
    """The app, a client, and keys: ``admin`` (every scope), ``writer``, ``reader``."""

    def __init__(self, url: str, policy, **settings):
        self.url = url
        self.store = open_store(url)
        self.keys = {name: create_key(self.store, name, scopes)[1] for name, scopes in
                     {"admin": ["admin"], "writer": ["events:write"],
                      "reader": ["decisions:read"]}.items()}
        self.app = create_app(Settings(db=url, **settings), policy=policy, store=self.store)
        self.client = TestClient(self.app, raise_server_exceptions=False)

    def auth(self, who: str = "admin") -> dict:
        return {"authorization": f"Bearer {self.keys[who]}"}

    def post(self, path: str, body, headers: dict | None = None, who: str = "admin", **kw):
        import json
        content = body if isinstance(body, (str, bytes)) else json.dumps(body)
        return self.client.post(path, content=content,
                                headers={**STRUCTURED, **self.auth(who), **(headers or {})}, **kw)

    def get(self, path: str, who: str = "admin", **kw):
        return self.client.get(path, headers=self.auth(who), **kw)

    def close(self):
        self.client.close()
        self.store.close()


@pytest.fixture
def api(store_url, policy):
    """The service over a fresh store of each backend."""
    made = Api(store_url, policy)
    try:
        yield made
    finally:
        made.close()


@pytest.fixture
def sqlite_api(sqlite_url, policy):
    """The service over a fresh SQLite store (for what does not depend on the backend)."""
    made = Api(sqlite_url, policy)
    try:
        yield made
    finally:
        made.close()
