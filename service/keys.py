"""API keys of the HTTP service, kept hashed in the store (``clauseline keys``).

A key reads ``clk_<key id>_<secret>``: the key id (12 hex digits) finds its row, the secret
(256 random bits) is checked against the SHA-256 digest of the whole key in constant time. The
store keeps the digest, never the key, which is shown once, when it is created. Scopes:

- ``events:write``: ``POST /v1/events``;
- ``decisions:read``: ``GET /v1/decisions``, ``/v1/subjects``, ``/v1/obligations`` and
  ``POST /v1/evaluate`` (a dry run reads stored state and writes nothing);
- ``subjects:read``: ``GET /v1/subjects/{id}/right-to-know``, the CCPA right-to-know document
  (everything the store holds about one person: neither ``events:write`` nor
  ``decisions:read`` grants it);
- ``admin``: every scope.

Any valid key may read ``GET /v1/policy``; ``/healthz``, ``/readyz`` and ``/metrics`` need none.

A service checks a key against the store once, then trusts it for ``KEY_CACHE_SECONDS``
(:class:`KeyCache`): a key revoked with ``clauseline keys revoke`` is refused at the latest that
long after, and a request reads no key from the store in between.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timezone

import sqlalchemy as sa

from ..redact import quote
from ..store import SqlStore
from ..store.tables import api_keys

SCOPES = ("events:write", "decisions:read", "subjects:read", "admin")
PREFIX = "clk_"
_SHAPE = re.compile(r"clk_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")


@dataclass(frozen=True)
class ApiKey:
    """A stored key, without its secret."""

    key_id: str
    name: str
    scopes: tuple[str, ...]
    created_at: str
    revoked_at: str | None = None

    def allows(self, scope: str | None) -> bool:
        """Whether this key may use an endpoint that needs ``scope`` (None: any valid key)."""
        return scope is None or "admin" in self.scopes or scope in self.scopes

    def as_dict(self) -> dict:
        return {"key_id": self.key_id, "name": self.name, "scopes": list(self.scopes),
                "created_at": self.created_at, "revoked_at": self.revoked_at}


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def _now() -> str:
    # key bookkeeping, not evaluation: the wall clock is right here
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def check_scopes(scopes) -> tuple[str, ...]:
    """The scopes, checked and sorted; ValueError names an unknown one."""
    out = sorted(set(scopes))
    if not out:
        raise ValueError(f"a key needs at least one scope: {', '.join(SCOPES)}")
    for scope in out:
        if scope not in SCOPES:
            raise ValueError(f"unknown scope {quote(scope)}: the scopes are {', '.join(SCOPES)}")
    return tuple(out)


def create_key(store: SqlStore, name: str, scopes) -> tuple[ApiKey, str]:
    """A new key: its stored description and the key itself (shown once, never stored)."""
    scopes = check_scopes(scopes)
    key_id = secrets.token_hex(6)
    token = f"{PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    key = ApiKey(key_id, name, scopes, _now())
    with store.engine.begin() as conn:
        conn.execute(sa.insert(api_keys).values(key_id=key_id, name=name, scopes=" ".join(scopes),
                                                digest=_digest(token), created_at=key.created_at))
    return key, token


def list_keys(store: SqlStore) -> list[ApiKey]:
    """Every key, revoked ones included, oldest first."""
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(api_keys).order_by(api_keys.c.created_at, api_keys.c.key_id))
        return [ApiKey(r.key_id, r.name, tuple(r.scopes.split()), r.created_at, r.revoked_at)
                for r in rows]


def revoke_key(store: SqlStore, key_id: str) -> ApiKey | None:
    """Revoke a key by id (or by the whole key); None when no such key exists."""
    match = _SHAPE.fullmatch(key_id)
    key_id = match.group(1) if match else key_id
    with store.engine.begin() as conn:
        conn.execute(sa.update(api_keys).where(api_keys.c.key_id == key_id,
                                               api_keys.c.revoked_at.is_(None))
                     .values(revoked_at=_now()))
        row = conn.execute(sa.select(api_keys).where(api_keys.c.key_id == key_id)).first()
    if row is None:
        return None
    return ApiKey(row.key_id, row.name, tuple(row.scopes.split()), row.created_at, row.revoked_at)


def authenticate(store: SqlStore, token: str) -> ApiKey | None:
    """The live key this token is, or None (malformed, unknown, wrong secret or revoked)."""
    match = _SHAPE.fullmatch(token)
    if match is None:
        return None
    # a read: on SQLite a snapshot that does not queue behind the writers for the write lock
    with store.engine.connect().execution_options(clauseline_read=True) as conn:
        row = conn.execute(sa.select(api_keys).where(api_keys.c.key_id == match.group(1))).first()
    if row is None or row.revoked_at is not None:
        return None
    if not hmac.compare_digest(row.digest, _digest(token)):
        return None
    return ApiKey(row.key_id, row.name, tuple(row.scopes.split()), row.created_at)


#: How long a service trusts a key it checked against the store: a revoked key is refused at the
#: latest this many seconds after its revocation (docs/service.md, "Keys and scopes").
KEY_CACHE_SECONDS = 5.0


class KeyCache:
    """The live keys a service checked, by the digest of the whole key and the store that
    answered: :meth:`get` answers one checked less than ``ttl`` seconds ago without reading the
    store. Only live keys are kept (an unknown, wrong or revoked one is asked again each time),
    so the cache holds at most the store's keys."""

    def __init__(self, ttl: float = KEY_CACHE_SECONDS, clock=time.monotonic):
        self.ttl = ttl
        self.clock = clock
        self._keys: dict[str, tuple[ApiKey, SqlStore, float]] = {}

    def get(self, store: SqlStore, token: str) -> ApiKey | None:
        """The key this token is, as ``store`` answered less than ``ttl`` seconds ago; None:
        ask the store (:func:`authenticate`), then :meth:`put` its answer."""
        kept = self._keys.get(_digest(token)) if _SHAPE.fullmatch(token) else None
        if kept is None or kept[1] is not store or self.clock() - kept[2] >= self.ttl:
            return None
        return kept[0]

    def put(self, store: SqlStore, token: str, key: ApiKey | None) -> None:
        """What ``store`` answered for this token now (None: not a live key, nothing kept)."""
        if not _SHAPE.fullmatch(token):
            return  # malformed: never a key
        if key is None:
            self._keys.pop(_digest(token), None)
        else:
            self._keys[_digest(token)] = (key, store, self.clock())


def has_keys(store: SqlStore) -> bool:
    """Whether any key that is not revoked exists."""
    with store.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(api_keys)
                            .where(api_keys.c.revoked_at.is_(None))).scalar_one() > 0
