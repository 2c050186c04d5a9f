"""Group commit across requests: single events posted at the same time share one transaction.

Each ``POST /v1/events`` of one event waits for its decision as before (a 2xx only once the
event and its decision are stored), but instead of a transaction of its own it joins a queue:
while one batch is being evaluated and committed, the events that arrive queue up, and the next
batch takes all of them (up to ``max_batch``) through ``Session.submit_many``, in arrival order.
An idle service commits a lone event at once, under its own per-subject locks; a busy one pays
one commit (an fsync in SQLite, a round trip in PostgreSQL) per batch instead of per event.

Arrival order is the order events reach the queue, as it was the order they took the store's
lock: a producer keeps each subject's events on one connection, in order (docs/service.md). A
store fault fails every request of its batch (none of it is stored, each answers 503); a client
that goes away does not withdraw its event, which is stored as if it had waited.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import anyio

from ..decision import Decision
from ..session import Session


class Committer:
    """The queue of one worker process (see the module's doc)."""

    def __init__(self, limiter: anyio.CapacityLimiter, max_batch: int = 256):
        self.limiter = limiter
        self.max_batch = max_batch
        self._waiting: list[tuple[Session, Any, asyncio.Future, str | None]] = []
        self._draining = False

    async def submit(self, session: Session, event: Any,
                     request_id: str | None = None) -> Decision:
        """The event's decision through ``session`` (the request's), once the batch it joined
        is committed. A batch holds events of sessions over the same policy and store; each
        event's ``request_id`` is stored with its decision."""
        future = asyncio.get_running_loop().create_future()
        self._waiting.append((session, event, future, request_id))
        if not self._draining:
            self._draining = True
            asyncio.get_running_loop().create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self._waiting:
                session = self._waiting[0][0]
                size = 0
                for other, _, _, _ in self._waiting[:self.max_batch]:
                    if other is not session and (other.policy is not session.policy
                                                 or other.store is not session.store):
                        break
                    size += 1
                batch = self._waiting[:size]
                del self._waiting[:size]
                try:
                    decisions = await anyio.to_thread.run_sync(functools.partial(
                        session.submit_many, [event for _, event, _, _ in batch],
                        request_ids=[rid for _, _, _, rid in batch]), limiter=self.limiter)
                except Exception as error:  # a store fault: every request of the batch fails
                    for _, _, future, _ in batch:
                        if not future.done():
                            future.set_exception(error)
                    continue
                for (_, _, future, _), decision in zip(batch, decisions, strict=True):
                    if not future.done():
                        future.set_result(decision)
        finally:
            self._draining = False
