"""``clauseline publish``: send a JSON Lines log into the events stream, partitioned.

Each line becomes one message, in the log's order, on ``STREAM.p.K`` (K the partition of its
CloudEvents ``subject``) or ``STREAM.all`` (no subject: a clock tick, a policy change), with the
headers

- ``Nats-Msg-Id``: a SHA-256 of the event's (source, id): JetStream drops a repeat sent within
  the stream's duplicate window (two minutes), as the store would answer it ``duplicate``; a
  line without them (not JSON, not an event: it is decided rejected) is known by a SHA-256 of
  its published (reduced) bytes, so a log published again does not append it again;
- ``Clauseline-Partitions``: the partitions that evaluate it (``*``, or the owner first).

The body is the event reduced as the store reduces it (:mod:`clauseline.stream.reduction`): no
card, bank or social security number reaches the stream in full. The stream keeps messages for
``--max-age`` (default :data:`clauseline.stream.jetstream.DEFAULT_MAX_AGE`).

What an integrator's producer does is the same: :func:`message_for` gives the subject, headers
and body of one event.
"""

from __future__ import annotations

import asyncio
import hashlib
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Iterable

from ..events import Oversized
from .jetstream import StreamError, check_name, connect, events_stream, guarded, shown_nats
from .partitioning import Router
from .reduction import StreamRedactor, reduced, stream_redactor

#: Messages published before their acknowledgements are awaited (bounded memory).
WINDOW = 512


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


def dedup_id(event: Any) -> str | None:
    """The ``Nats-Msg-Id`` of an event: a digest of its (source, id) (never the ids themselves,
    which a header could not hold whatever they are), or None without them."""
    if isinstance(event, dict) and isinstance(event.get("source"), str) \
            and isinstance(event.get("id"), str):
        raw = f"{event['source']}\x00{event['id']}".encode("utf-8", "surrogatepass")
        return hashlib.sha256(raw).hexdigest()[:40]
    return None


def message_for(router: Router, stream: str, body: bytes,
                redactor: StreamRedactor) -> tuple[str, dict, Any, bytes]:
    """(NATS subject, headers, route, reduced body) of one event's JSON bytes: routed by the
    raw event, published reduced (:func:`clauseline.stream.reduction.reduced`)."""
    event, data = reduced(redactor, body)
    route = router.route(event, exact=True)
    headers = {"Clauseline-Partitions": route.header()}
    # a line that is no event with a source and an id (it will be decided rejected) is known
    # by its published bytes, so publishing the same log again does not append it again
    key = dedup_id(event) or "line-" + hashlib.sha256(data).hexdigest()[:40]
    headers["Nats-Msg-Id"] = key
    return router.nats_subject(stream, route), headers, route, data


async def publish_lines(lines: Iterable[bytes], url: str, stream: str, partitions: int | None,
                        policy, progress=None, max_age: float | None = None,
                        notify=None) -> Published:
    """Publish each non-blank line, in order, reduced (see the module's doc); a new stream
    keeps messages for ``max_age`` seconds, an existing one is updated to it when given."""
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
        pending: list = []

        async def settle():
            for future in pending:
                ack = await future
                done.last_seq = max(done.last_seq, ack.seq)
                if ack.duplicate:
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
                subject, headers, route, data = message_for(router, stream, body, redactor)
                pending.append(await js.publish_async(subject, data, headers=headers,
                                                      wait_stall=30.0))
                done.sent += 1
                owner = "all" if route.owner is None else route.owner
                done.per_partition[owner] = done.per_partition.get(owner, 0) + 1
                if len(pending) >= WINDOW:
                    await settle()
                    if progress:
                        progress(done)
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
                quiet: bool = False, max_age: float | None = None) -> Published:
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
                                         progress, max_age, notify))
    finally:
        if handle is not sys.stdin.buffer:
            handle.close()
    if tty:
        print("\r" + " " * 60 + "\r", end="", file=sys.stderr)
    spread = ", ".join(f"{k}: {v}" for k, v in sorted(done.per_partition.items(), key=str))
    print(f"clauseline publish: {done.sent} event(s) to stream {stream!r} ({done.partitions} "
          f"partitions; by owner {spread or 'none'}), {done.duplicates} dropped as repeats, "
          f"{done.oversized} line(s) over the event size limit not sent, "
          f"last sequence {done.last_seq}, in {time.monotonic() - started:.1f} s",
          file=sys.stderr)
    return done


__all__ = ["Published", "WINDOW", "dedup_id", "message_for", "publish_lines", "run_publish"]
