"""Group commit across requests: single events posted at the same time share one transaction.

Each ``POST /v1/events`` of one event waits for its decision as before (a 2xx only once the
event and its decision are stored), but instead of a transaction of its own it joins a queue:
while one batch is being evaluated and committed, the events that arrive queue up, and the next
batch takes all of them (up to ``max_batch``) through ``Session.submit_many``, in arrival order.
An idle service commits a lone event at once, under its own per-subject locks; a busy one pays
one commit (an fsync in SQLite, a round trip in PostgreSQL) per batch instead of per event.

The batches run on one writer thread of the committer's own, not on the event loop (a commit's
fsync there would stall every request) and not through a thread hop per batch: the loop puts an
event on a queue, the writer takes everything queued at once, and one callback per batch hands
the decisions back to the loop. The writer ends after ``idle`` seconds without work and the
next event starts it again. Each batch's size is observed (``observe``: the
``clauseline_group_commit_events`` histogram of ``/metrics``).

Arrival order is the order events reach the queue, as it was the order they took the store's
lock: a producer keeps each subject's events on one connection, in order (docs/service.md). A
store fault fails every request of its batch (none of it is stored, each answers 503); a client
that goes away does not withdraw its event, which is stored as if it had waited.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from typing import Any, Callable

from ..decision import Decision
from ..session import Session


class Committer:
    """The queue and writer thread of one worker process (see the module's doc)."""

    def __init__(self, max_batch: int = 256, observe: Callable[[int], None] | None = None,
                 idle: float = 1.0):
        self.max_batch = max_batch
        self.observe = observe
        self.idle = idle
        #: (session, event, future, request id, the future's loop), in arrival order
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()  # the writer's start and end against a put
        self._writer: threading.Thread | None = None
        self._held: tuple | None = None  # taken from the queue, for the next batch

    async def submit(self, session: Session, event: Any,
                     request_id: str | None = None) -> Decision:
        """The event's decision through ``session`` (the request's), once the batch it joined
        is committed. A batch holds events of sessions over the same policy and store; each
        event's ``request_id`` is stored with its decision."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        with self._lock:
            self._queue.put((session, event, future, request_id, loop))
            if self._writer is None:
                self._writer = threading.Thread(target=self._write, name="clauseline-committer",
                                                daemon=True)
                self._writer.start()
        return await future

    def _write(self) -> None:
        while True:
            first = self._held
            self._held = None
            if first is None:
                try:
                    first = self._queue.get(timeout=self.idle)
                except queue.Empty:
                    with self._lock:
                        if self._queue.empty():  # a put after this finds no writer: starts one
                            self._writer = None
                            return
                    continue
            self._commit(self._batch(first))

    def _batch(self, first: tuple) -> list[tuple]:
        """``first`` and what is queued behind it, up to ``max_batch``, as long as the events'
        sessions share a policy and a store (the first that does not waits for the next)."""
        session = first[0]
        batch = [first]
        while len(batch) < self.max_batch:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            other = item[0]
            if other is not session and (other.policy is not session.policy
                                         or other.store is not session.store):
                self._held = item
                break
            batch.append(item)
        return batch

    def _commit(self, batch: list[tuple]) -> None:
        session = batch[0][0]
        if self.observe is not None:
            self.observe(len(batch))
        try:
            outcome: list[Decision] | BaseException = session.submit_many(
                [item[1] for item in batch], request_ids=[item[3] for item in batch])
        except Exception as error:  # a store fault: every request of the batch fails
            outcome = error
        loops: dict[asyncio.AbstractEventLoop, list[int]] = {}
        for index, item in enumerate(batch):
            loops.setdefault(item[4], []).append(index)
        for loop, indexes in loops.items():
            try:
                loop.call_soon_threadsafe(_settle, [batch[i][2] for i in indexes],
                                          outcome if isinstance(outcome, BaseException)
                                          else [outcome[i] for i in indexes])
            except RuntimeError:  # that loop is closed: no one waits there any more
                pass


def _settle(futures: list[asyncio.Future], outcome: list[Decision] | BaseException) -> None:
    """On the futures' loop: each request's decision, or the batch's error."""
    for index, future in enumerate(futures):
        if future.done():  # the request was cancelled (its client went away)
            continue
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome[index])
