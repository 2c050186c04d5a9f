"""Fixtures of the store tests: one ``store_url`` per backend, each test on a fresh store.

SQLite: a file in the test's tmp_path. PostgreSQL: a fresh schema (dropped afterwards) of the
``test`` database of the local server at 127.0.0.1:5432, reached as ``root`` or ``postgres`` with
trust authentication; set CLAUSELINE_TEST_PG to another base URL. Only when no server answers are
the PostgreSQL tests skipped, with the reason.
"""

from __future__ import annotations

import os
import uuid

import pytest

PG_CANDIDATES = [os.environ["CLAUSELINE_TEST_PG"]] if os.environ.get("CLAUSELINE_TEST_PG") else [
    "postgresql://root@127.0.0.1:5432/test",
    "postgresql://postgres@127.0.0.1:5432/test",
]
_pg_base: list = []


def pg_base() -> str:
    """The first PostgreSQL base URL that answers (skips the test when none does)."""
    if not _pg_base:
        import psycopg

        errors = []
        for url in PG_CANDIDATES:
            try:
                with psycopg.connect(url, connect_timeout=3) as conn:
                    conn.execute("select 1")
                _pg_base.append(url)
                break
            except Exception as error:  # noqa: BLE001 - any failure means "not this one"
                errors.append(f"{url}: {str(error).strip().splitlines()[0]}")
        else:
            _pg_base.append(None)
            _pg_base.append("; ".join(errors))
    if _pg_base[0] is None:
        pytest.skip(f"no PostgreSQL server answers at 127.0.0.1:5432: {_pg_base[1]}")
    return _pg_base[0]


class PgSchema:
    """A fresh schema in the test database, as a store URL selecting it (search_path)."""

    def __init__(self):
        import psycopg

        self.base = pg_base()
        self.name = "cl_test_" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.base, autocommit=True) as conn:
            conn.execute(f'create schema "{self.name}"')
        self.url = f"{self.base}?options=-csearch_path%3D{self.name}"

    def drop(self):
        import psycopg

        with psycopg.connect(self.base, autocommit=True) as conn:
            conn.execute(f'drop schema if exists "{self.name}" cascade')


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request):
    return request.param


def _new_store(backend: str, path):
    """A URL of a new, empty store of ``backend`` (SQLite at ``path``), dropped afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{path}"
        return
    schema = PgSchema()
    try:
        yield schema.url
    finally:
        schema.drop()


@pytest.fixture
def store_url(backend, tmp_path):
    """A URL of a new, empty store of the backend under test."""
    yield from _new_store(backend, tmp_path / "clauseline.db")


@pytest.fixture
def other_url(backend, tmp_path):
    """A second new store of the same backend."""
    yield from _new_store(backend, tmp_path / "other.db")


@pytest.fixture
def pg_url():
    schema = PgSchema()
    try:
        yield schema.url
    finally:
        schema.drop()


@pytest.fixture(autouse=True)
def _fixed_redaction_key(monkeypatch):
    """The same HMAC key in every store of a test, so stores compare byte for byte."""
    monkeypatch.setenv("CLAUSELINE_REDACTION_KEY", "test-key-not-secret")
