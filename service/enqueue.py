"""Enqueue instead of evaluate: ``clauseline serve --enqueue-nats URL --enqueue-stream NAME``.

``POST /v1/events`` then checks each event against its schema, publishes the valid ones to the
events stream with the partitioning of ``clauseline publish`` (docs/scale.md) and answers
**202 Accepted** once JetStream has stored the message: the event is accepted for processing,
not yet decided. ``clauseline consume`` decides it; its decision goes to the decisions stream
and the partition stores. An invalid event still answers 422 and is not published. The body of
a 202 is ``{"status": "queued", "event_id", "event_source", "stream", "seq", "duplicate"}``
(``duplicate``: JetStream already held the same source and id, within its two-minute window;
``seq``: the stream sequence of the message to the event's owner partition, the first of those
fanned out to every partition that evaluates it). Each message carries the worker's watermark
(``Clauseline-Watermark``: the latest time of the valid events it published), and every
``--enqueue-watermark-every`` events or ``--enqueue-watermark-interval`` of event time (default
1,000 and 1 day) a watermark message goes to every partition, as ``clauseline publish`` sends them (docs/scale.md, "Deadlines: timers and
watermarks"); a ``clock.tick`` posted reaches every partition too.
What is published is the event reduced as the store reduces it (no card, bank or social
security number in full: :mod:`clauseline.stream.reduction`), and a stream made here keeps
messages for ``--enqueue-max-age`` (default 7 days).
"""

from __future__ import annotations

import asyncio
import json

from ..decision import Decision, rejected
from ..stream.jetstream import StreamError, connect, events_stream, guarded, shown_nats
from ..stream.partitioning import Router
from ..stream.publish import Watermark, messages_for
from ..stream.reduction import stream_redactor


class Enqueuer:
    """One NATS connection per worker process, opened on first use in the server's loop."""

    def __init__(self, url: str, stream: str, policy, max_age: float | None = None,
                 watermark_every: int = 1000, watermark_interval: float = 86400.0):
        self.url, self.stream, self.policy, self.max_age = url, stream, policy, max_age
        self.redactor = stream_redactor()
        self.watermark = Watermark(policy, watermark_every, watermark_interval)
        self.shown = shown_nats(url)
        self._lock = asyncio.Lock()
        self._nc = self._js = self._router = None

    async def _ready(self):
        async with self._lock:
            if self._nc is None or self._nc.is_closed:
                nc = await connect(self.url)
                js = nc.jetstream(timeout=5.0)
                try:
                    n = await events_stream(js, self.stream, None, create=True, shown=self.shown,
                                            max_age=self.max_age)
                except StreamError:
                    await nc.close()
                    raise
                self._nc, self._js, self._router = nc, js, Router(self.policy, n)
        return self._js, self._router

    async def enqueue(self, events: list) -> list[dict | Decision]:
        """For each event: a rejected decision (invalid, not published), or the queued answer."""
        js, router = await self._ready()
        out: list = []
        futures = []
        extra = []  # the copies and watermarks: stored before the answer too
        for event in events:
            problems = self.policy.schemas.event_problems(event)
            if problems:
                out.append(rejected(event, problems))
                continue
            body = json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()
            messages, _ = messages_for(router, self.stream, body, self.redactor, self.watermark)
            if self.watermark.due():
                messages += self.watermark.messages(self.stream, router.partitions)
            try:
                sent = [await js.publish_async(subject, data, headers=headers, wait_stall=10.0)
                        for subject, headers, data in messages]
            except Exception as error:  # noqa: BLE001
                raise guarded(self.shown)(error) from None
            futures.append((len(out), sent[0]))
            extra.extend(sent[1:])
            out.append({"status": "queued", "event_id": event.get("id"),
                        "event_source": event.get("source"), "stream": self.stream})
        for index, future in futures:
            try:
                ack = await asyncio.wait_for(future, 10.0)
            except Exception as error:  # noqa: BLE001
                raise guarded(self.shown)(error) from None
            out[index].update(seq=ack.seq, duplicate=bool(ack.duplicate))
        try:
            await asyncio.wait_for(asyncio.gather(*extra), 10.0)
        except Exception as error:  # noqa: BLE001
            raise guarded(self.shown)(error) from None
        return out

    async def close(self) -> None:
        if self._nc is not None and not self._nc.is_closed:
            try:
                await asyncio.wait_for(self._nc.close(), 5)
            except Exception:  # noqa: BLE001
                pass
