"""``clauseline publish``: send a JSON Lines log into the events stream, partitioned.

Each line becomes one message, in the log's order, on ``STREAM.p.K`` for each partition K that
evaluates it (:meth:`clauseline.stream.partitioning.Router.targets`): the partition of its
CloudEvents ``subject`` (its owner) and those of the subjects it names, or every partition for a
subject-less event (a clock tick, a policy change) and one that writes the shared record. A
partition's consumer reads ``STREAM.p.K`` alone. Headers:

- ``Nats-Msg-Id``: a SHA-256 of the event's (source, id), then ``-K``: JetStream drops a repeat
  sent within the stream's duplicate window (two minutes), as the store would answer it
  ``duplicate``; a line without them (not JSON, not an event: it is decided rejected, by
  partition 0) is known by a SHA-256 of its published (reduced) bytes, so a log published again
  does not append it again;
- ``Clauseline-Partitions``: the partitions that evaluate it (``*``, or the owner first);
- ``Clauseline-Watermark``: the producer's event time after this event (:class:`Watermark`):
  the latest ``time`` of the valid events it has published. Before a message, a partition
  fires the deadline timers due before its watermark (:mod:`clauseline.timers`), as a serial
  replay fires them before the first event later than their instant.

Every ``--watermark-every`` events, or once the producer's time moved ``--watermark-interval``
of event time past the last, and at the end, a **watermark message** goes to every partition:
an empty body with ``Clauseline-Watermark`` (``Nats-Msg-Id`` ``wm-<instant>-K``), so that a
partition that gets no event still sees time pass and fires its timers.

The body is the event reduced as the store reduces it (:mod:`clauseline.stream.reduction`): no
card, bank or social security number reaches the stream in full. The stream keeps messages for
``--max-age`` (default :data:`clauseline.stream.jetstream.DEFAULT_MAX_AGE`).

What an integrator's producer does is the same: :func:`messages_for` gives the messages of one
event (subject, headers and body of each), with a :class:`Watermark` kept across its events, and
:meth:`Watermark.messages` the watermark messages to send now and then.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Iterable

from ..events import Oversized
from ..eventtime import parse_time
from ..records import instant_key, named_subjects
from ..timers import is_timer
from .jetstream import StreamError, check_name, connect, events_stream, guarded, shown_nats
from .partitioning import SHARED_WRITES, Route, Router, nats_subject
from .reduction import StreamRedactor, reduced, stream_redactor

#: Messages published before their acknowledgements are awaited (bounded memory).
WINDOW = 512
#: The header of a producer's event time (see the module's doc).
WATERMARK = "Clauseline-Watermark"
#: Default rate of watermark messages: every this many events, or this much event time.
WATERMARK_EVERY = 1000
WATERMARK_INTERVAL = "1d"


class Watermark:
    """A producer's event time: the latest ``time`` of the valid events it has published (valid
    as the engine validates them: its schemas, and not under the timers' source), and when to
    send a watermark message (every ``every`` events, or ``interval`` seconds of event time).

    A serial replay fires a deadline's timer before the first valid event later than it; a
    partition fires it before its first message whose watermark is later, which is the same
    place for every message of that partition (docs/scale.md, "Deadlines: timers and
    watermarks")."""

    def __init__(self, policy, every: int = WATERMARK_EVERY, interval: float = 86400.0):
        self.schemas = policy.schemas
        self.every, self.interval = every, interval
        self.text: str | None = None  # the latest valid time, as the event gave it
        self.key: str | None = None  # and as an instant (records.instant_key)
        self._sent: str | None = None  # the key of the last watermark message
        self._sent_at = None  # and its instant
        self._since = 0  # events since that message

    def saw(self, event: Any) -> None:
        """Take a parsed event (or anything a line parsed to) into the producer's time."""
        self._since += 1
        if not isinstance(event, dict) or is_timer(event) or self.schemas.event_problems(event):
            return
        key = instant_key(event["time"])
        if self.key is None or key > self.key:
            self.text, self.key = event["time"], key
            if self._sent_at is None:  # the first valid event starts the interval
                self._sent_at = parse_time(self.text)

    def unsent(self) -> bool:
        """Whether the producer's time moved since the last watermark message."""
        return self.key is not None and self.key != self._sent

    def headers(self) -> dict:
        """The watermark header of the message just built (none before a valid event)."""
        return {WATERMARK: self.text} if self.text is not None else {}

    def due(self) -> bool:
        """Whether a watermark message should go now (see the class's doc)."""
        if not self.unsent():
            return False
        return self._since >= self.every or \
            (parse_time(self.text) - self._sent_at).total_seconds() >= self.interval

    def messages(self, stream: str, partitions: int) -> list[tuple[str, dict, bytes]]:
        """A watermark message for every partition, now (none before a valid event); the next
        is due ``every`` events or ``interval`` of event time later."""
        if self.key is None:
            return []
        self._sent, self._sent_at, self._since = self.key, parse_time(self.text), 0
        return [(nats_subject(stream, k), {WATERMARK: self.text,
                                           "Nats-Msg-Id": f"wm-{self.key}-{k}"}, b"")
                for k in range(partitions)]


@dataclass
class Published:
    """What a publish did: messages sent, repeats JetStream dropped, the stream's partitions and
    its last sequence."""

    sent: int = 0
    duplicates: int = 0
    partitions: int = 0
    last_seq: int = 0
    oversized: int = 0
    per_partition: dict = field(default_factory=dict)
    copies: int = 0  # messages beyond one per event: fanned out to other partitions
    watermarks: int = 0  # rounds of watermark messages (one per partition each)


def dedup_id(event: Any) -> str | None:
    """The ``Nats-Msg-Id`` of an event: a digest of its (source, id) (never the ids themselves,
    which a header could not hold whatever they are), or None without them."""
    if isinstance(event, dict) and isinstance(event.get("source"), str) \
            and isinstance(event.get("id"), str):
        raw = f"{event['source']}\x00{event['id']}".encode("utf-8", "surrogatepass")
        return hashlib.sha256(raw).hexdigest()[:40]
    return None


def messages_for(router: Router, stream: str, body: bytes, redactor: StreamRedactor,
                 watermark: Watermark) -> tuple[list[tuple[str, dict, bytes]], Any]:
    """The messages of one event's JSON bytes, one per partition that evaluates it, the owner's
    first (each (NATS subject, headers, reduced body)), and its route: routed by the raw event,
    published reduced (:func:`clauseline.stream.reduction.reduced`), with the producer's
    ``watermark`` after it. What an integrator's producer of its own sends, in its order."""
    event, data = reduced(redactor, body)
    route = router.route(event, exact=True)
    watermark.saw(event)
    # a line that is no event with a source and an id (it will be decided rejected) is known
    # by its published bytes, so publishing the same log again does not append it again
    key = dedup_id(event) or "line-" + hashlib.sha256(data).hexdigest()[:40]
    if route.writes is not None:
        # what the consumers decide is the reduced event: its writes are what they would make
        published = json.loads(data)
        writes = router.writes_elsewhere(published, named_subjects(published))
        route = Route(route.owner, None) if writes is None else \
            Route(route.owner, route.partitions, tuple(writes) if writes else None)
    common = {"Clauseline-Partitions": route.header(), **watermark.headers()}
    shared = {SHARED_WRITES: json.dumps(route.writes, ensure_ascii=True,
                                        separators=(",", ":"))} if route.writes else {}
    return [(nats_subject(stream, k), dict(common, **{"Nats-Msg-Id": f"{key}-{k}"},
                                           **({} if route.concerns(k) else shared)), data)
            for k in router.targets(route)], route


async def publish_lines(lines: Iterable[bytes], url: str, stream: str, partitions: int | None,
                        policy, progress=None, max_age: float | None = None,
                        notify=None, watermark_every: int = WATERMARK_EVERY,
                        watermark_interval: float = 86400.0) -> Published:
    """Publish each non-blank line, in order, reduced, to every partition that evaluates it,
    and watermarks (see the module's doc); a new stream keeps messages for ``max_age`` seconds,
    an existing one is updated to it when given."""
    check_name(stream)
    shown = shown_nats(url)
    convert = guarded(shown)
    nc = await connect(url)
    done = Published()
    try:
        js = nc.jetstream(timeout=10.0)
        n = await events_stream(js, stream, partitions, create=True, shown=shown,
                                max_age=max_age, notify=notify)
        done.partitions = n
        router = Router(policy, n)
        redactor = stream_redactor()
        watermark = Watermark(policy, watermark_every, watermark_interval)
        pending: list = []

        async def send(messages, event: bool = True) -> None:
            """Publish; an event's first message is the one counted (a repeat JetStream
            drops is a repeated event; its copies and the watermarks are not events)."""
            for i, (subject, headers, data) in enumerate(messages):
                pending.append((await js.publish_async(subject, data, headers=headers,
                                                       wait_stall=30.0), event and i == 0))

        async def settle():
            for future, counted in pending:
                ack = await future
                done.last_seq = max(done.last_seq, ack.seq)
                if ack.duplicate and counted:
                    done.duplicates += 1
            pending.clear()

        try:
            for line in lines:
                if isinstance(line, Oversized):
                    done.oversized += 1  # never held whole, so never sent (event.too_large)
                    continue
                body = line.rstrip(b"\r\n")
                if not body.strip():
                    continue
                messages, route = messages_for(router, stream, body, redactor, watermark)
                await send(messages)
                done.sent += 1
                done.copies += len(messages) - 1
                owner = "all" if route.owner is None else route.owner
                done.per_partition[owner] = done.per_partition.get(owner, 0) + 1
                if watermark.due():
                    await send(watermark.messages(stream, n), event=False)
                    done.watermarks += 1
                if len(pending) >= WINDOW:
                    await settle()
                    if progress:
                        progress(done)
            if watermark.unsent():  # time reaches every partition at the end
                await send(watermark.messages(stream, n), event=False)
                done.watermarks += 1
            await settle()
        except StreamError:
            raise
        except Exception as error:  # noqa: BLE001
            raise convert(error) from None
        return done
    finally:
        try:
            await asyncio.wait_for(nc.close(), 5)
        except Exception:  # noqa: BLE001 - closing a broken connection
            pass


def run_publish(path: str, url: str, stream: str, partitions: int | None, policy,
                quiet: bool = False, max_age: float | None = None,
                watermark_every: int = WATERMARK_EVERY,
                watermark_interval: float = 86400.0) -> Published:
    """``clauseline publish``: a log file (or ``-``) into the stream; a summary on stderr."""
    from ..events import read_lines

    started = time.monotonic()
    handle = sys.stdin.buffer if path == "-" else open(path, "rb")
    tty = sys.stderr.isatty() and not quiet

    def notify(text: str) -> None:
        print(f"clauseline publish: {text}", file=sys.stderr, flush=True)

    def progress(done: Published) -> None:
        if tty:
            rate = done.sent / max(time.monotonic() - started, 1e-9)
            print(f"\rclauseline publish: {done.sent} sent, {rate:,.0f}/s", end="",
                  file=sys.stderr, flush=True)

    try:
        done = asyncio.run(publish_lines(read_lines(handle), url, stream, partitions, policy,
                                         progress, max_age, notify, watermark_every,
                                         watermark_interval))
    finally:
        if handle is not sys.stdin.buffer:
            handle.close()
    if tty:
        print("\r" + " " * 60 + "\r", end="", file=sys.stderr)
    spread = ", ".join(f"{k}: {v}" for k, v in sorted(done.per_partition.items(), key=str))
    print(f"clauseline publish: {done.sent} event(s) to stream {stream!r} ({done.partitions} "
          f"partitions; by owner {spread or 'none'}; {done.copies} more message(s) fanned out "
          f"to other partitions, {done.watermarks} watermark(s) to every partition), "
          f"{done.duplicates} dropped as repeats, "
          f"{done.oversized} line(s) over the event size limit not sent, "
          f"last sequence {done.last_seq}, in {time.monotonic() - started:.1f} s",
          file=sys.stderr)
    return done


__all__ = ["Published", "WATERMARK", "WINDOW", "Watermark", "dedup_id", "messages_for",
           "publish_lines", "run_publish"]
