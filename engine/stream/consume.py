"""``clauseline consume``: a durable JetStream consumer that decides its partitions' events.

One process owns a set of partitions (``--partition K``, repeatable; default all) and keeps one
store per partition (:mod:`clauseline.stream.stores`). Each partition K is read through a
durable pull consumer of its own, filtered on its subject ``NAME.p.K`` (what ``publish`` sends
it: its events, those fanned out to it, the broadcasts and the watermark messages), in the
stream's order, a batch at a time (``--batch``, the bound on messages in flight:
``max_ack_pending``); a process with several partitions reads them in turn, each apart. For
each message:

- its ``Clauseline-Watermark`` (the producer's event time) first fires the partition's
  deadline timers due before it (:meth:`clauseline.session.Session.advance`;
  :mod:`clauseline.timers`: each a decision of its own at its due instant), where a serial
  replay fires them: before the first event later than their instant;
- its event, if any (a watermark message has none), is evaluated against the partition's store.
  The timers an event fires itself (due before its own time) are published the same way.

The batch's events are evaluated with ``Session.submit_many`` (one transaction per batch where
the store groups commits), cut where the partition must see its own deadlines first. Only once
every event of the batch is committed are its decisions
published (``--decisions`` stream, one message per event and partition, ``Nats-Msg-Id`` for
de-duplication) and the batch acknowledged (AckAll on its last message). A crash before the
acknowledgement means the batch is delivered again: the stores answer ``duplicate``, and the
decisions published again carry the same ``Nats-Msg-Id``. On start the consumer resumes at the
acknowledged floor (it is recreated there, so that a redelivery never overtakes newer messages).

A lost connection (the NATS server restarted, say) is reconnected in the background; the
consumer then re-creates its JetStream consumer at the stores' applied position (a restarted
server may hold it with messages awaiting an acknowledgement that will never come, which would
stall delivery for the ack wait), publishes the decisions of a batch committed while the
connection was down, and goes on. A connection that does not come back within the reconnect
attempts (:data:`clauseline.stream.jetstream.RECONNECT_ATTEMPTS`, about 30 s) ends the run with
``nats.unavailable``; every step is said on stderr.
"""

from __future__ import annotations

import asyncio
import hashlib
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from .. import canonical
from ..decision import rejected
from ..records import instant_key
from ..events import parse_event
from ..session import Session
from .jetstream import (RECONNECT_ATTEMPTS, RECONNECT_WAIT, StreamError, check_name, connect,
                        decisions_stream, events_stream, guarded, shown_nats)
from .merge import partial
from .partitioning import SHARED_WRITES, Router, nats_subject, peek
from .publish import WATERMARK
from .stores import applied_seq, open_partition, record_position

DEFAULT_BATCH = 500
#: Seconds the server waits for an acknowledgement before it delivers a message again.
ACK_WAIT = 120.0
#: Seconds a consumer waits for a lost connection to come back, and then for JetStream to
#: answer again, before it gives up with ``nats.unavailable``.
RECOVER_WITHIN = RECONNECT_ATTEMPTS * RECONNECT_WAIT + 15.0
#: Seconds a batch's published decisions wait for JetStream's acknowledgements.
PUBLISH_ACK_WAIT = 10.0


@dataclass
class Counters:
    """What a consumer did so far (the progress line, the summary and the metrics)."""

    messages: int = 0
    evaluated: int = 0
    watermarks: int = 0
    timers: int = 0
    skipped: int = 0
    rejected: int = 0
    duplicates: int = 0
    #: events none of whose subjects is the partition's, whose shared writes it made
    shared: int = 0
    reconnects: int = 0
    lag: int = 0
    last_seq: int = 0
    started: float = field(default_factory=time.monotonic)

    def rate(self) -> float:
        return self.messages / max(time.monotonic() - self.started, 1e-9)


def _watermark(headers: dict) -> tuple[str, str] | None:
    """(instant, text) of a message's ``Clauseline-Watermark``; None without one, or with one
    that is no time (a producer's mistake: the message is decided, its watermark ignored)."""
    text = headers.get(WATERMARK) if headers else None
    if not isinstance(text, str):
        return None
    try:
        return instant_key(text), text
    except (TypeError, ValueError):
        return None


def _msg_id(decision: dict, partition: int) -> str:
    raw = f"{decision.get('event_source')}\x00{decision.get('event_id')}\x00{partition}"
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()[:40]


class Partitions:
    """The stores and sessions of the partitions one process owns, and the batch logic: each
    partition's messages (its own subject, ``NAME.p.K``) are decided apart from the others'."""

    def __init__(self, policy, db: str, stream: str, partitions: int, mine: list[int]):
        self.policy = policy
        self.stream = stream
        self.partitions = partitions
        self.mine = mine
        self.router = Router(policy, partitions)
        self.stores = {}
        try:
            for k in mine:
                self.stores[k] = open_partition(db, k, partitions, stream)
        except BaseException:
            self.close()
            raise
        self.sessions = {k: Session(policy, s) for k, s in self.stores.items()}
        #: each partition's earliest due instant still owed (None: none), kept after a commit
        self.due = {k: s.next_due() for k, s in self.stores.items()}
        #: each partition's applied stream sequence (its store's ``stream_positions``)
        self.applied = {k: applied_seq(s, stream) for k, s in self.stores.items()}

    def close(self) -> None:
        for store in self.stores.values():
            store.close()

    # -- one batch ---------------------------------------------------------------------------

    def process(self, k: int, batch: list[tuple[int, bytes, dict]],
                counters: Counters) -> list[tuple[str, bytes, dict]]:
        """Decide a batch of partition ``k``'s messages (stream sequence, body, headers) in
        order; commit; return the messages for the decisions stream (subject suffix, body,
        headers). A message's watermark first fires the partition's timers due before it (an
        event of the batch that may open or move an obligation is committed first, to know)."""
        pending: list = []
        creates = False
        out: list = []
        last = 0
        for seq, body, headers in batch:
            last = max(last, seq)
            if seq <= self.applied[k]:
                counters.skipped += 1
                continue  # applied before a restart: its effects are stored
            counters.messages += 1
            mark = _watermark(headers)
            if mark is not None:
                if creates:
                    self._flush(k, pending, out, counters)
                    creates = False
                due = self.due[k]
                if due is not None and due < mark[0]:
                    self._flush(k, pending, out, counters)
                    for timer in self.sessions[k].advance(mark[1]):
                        self._timer(k, timer, out, counters)
                    self.due[k] = self.stores[k].next_due()
            if not body.strip():
                counters.watermarks += 1  # a watermark message: time passes, nothing else
                continue
            event = peek(body)
            route = self.router.from_header(event, headers.get("Clauseline-Partitions"))
            # an event none of whose subjects is this partition's, sent for its writes to the
            # shared record: made without evaluating it, when the producer gave them
            writes = self.router.writes_from_header(event, headers.get(SHARED_WRITES)) \
                if not route.concerns(k) else None
            pending.append((writes, body, route))
            if isinstance(event, dict) and event.get("type") in self.router.obligation_types:
                creates = True
        self._flush(k, pending, out, counters)
        if last:
            record_position(self.stores[k], self.stream, k, self.partitions, last)
        self.applied[k] = max(self.applied[k], last)
        counters.last_seq = max(counters.last_seq, last)
        return out

    def _flush(self, k: int, pending: list, out, counters) -> None:
        """Decide and commit partition ``k``'s pending events (emptied), in one batch."""
        items = list(pending)
        if not items:
            return
        pending.clear()
        parsed, places, shared = [], [], []
        results: list = [None] * len(items)
        for i, (writes, payload, _) in enumerate(items):
            event, problems = parse_event(payload)
            if problems:
                results[i] = rejected(None, problems)
            else:
                parsed.append(event)
                places.append(i)
                shared.append(writes)
        decided = self.sessions[k].submit_many(
            parsed, shared=shared if any(w is not None for w in shared) else None) \
            if parsed else []
        for i, decision in zip(places, decided):
            results[i] = decision
        for (writes, _, route), decision in zip(items, results):
            for timer in decision.fired:  # deadlines of this partition's subjects
                self._timer(k, timer, out, counters)
            if writes is not None and decision.status != "rejected":
                if decision.status == "duplicate":
                    counters.duplicates += 1
                else:
                    counters.shared += 1  # this partition vouches for nothing of it
                continue
            self._publishable(k, route, decision, out, counters)
        self.due[k] = self.stores[k].next_due()

    def _publishable(self, k: int, route, decision, out, counters) -> None:
        data = decision.as_dict()
        if data["status"] == "duplicate":
            counters.duplicates += 1
            data["status"] = "accepted"  # the stored decision, published again (same msg id)
        counters.evaluated += 1
        # the owner vouches for the envelope, the trace and the outcomes about everyone; of an
        # event without subject every partition does (each decided it for its own subjects)
        owner = route.owner in (k, None)
        reporter = route.owner == k or (route.owner is None and k == 0)
        if data["status"] == "rejected":
            counters.rejected += 1
            if reporter:
                out.append((str(k), canonical.dumps(data).encode(), self._headers(data, k, True)))
            return
        part = partial(data, k, self.partitions, owner=owner)
        if not reporter and not part["outcomes"]:
            return  # nothing of this partition's own in it
        out.append((str(k), canonical.dumps(part).encode(),
                    self._headers(data, k, reporter)))

    def _timer(self, k: int, timer, out, counters) -> None:
        """A timer this partition fired (an obligation of one of its subjects still owed at
        its due instant): a decision of its own, which only this partition makes."""
        counters.timers += 1
        data = timer.as_dict()
        out.append((str(k), canonical.dumps(partial(data, k, self.partitions, owner=True))
                    .encode(), self._headers(data, k, True)))

    @staticmethod
    def _headers(data: dict, k: int, owner: bool) -> dict:
        return {"Nats-Msg-Id": _msg_id(data, k), "Clauseline-Partition": str(k),
                "Clauseline-Owner": "1" if owner else "0"}


async def consume(policy, *, url: str, stream: str, db: str, partitions: int | None,
                  mine: list[int] | None, drain: bool, batch: int, decisions: str | None,
                  durable: str | None = None, on_batch=None, stop: asyncio.Event | None = None,
                  max_age: float | None = None, notify=None) -> Counters:
    """Run a consumer until stopped (or, with ``drain``, until the stream is consumed).
    ``max_age``: the retention of a decisions stream made here (or given to an existing one);
    ``notify(text)``: told of a lost and a regained connection."""
    from nats.errors import TimeoutError as NatsTimeout
    from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
    from nats.js.errors import NotFoundError

    check_name(stream)
    if decisions is not None:
        check_name(decisions, "--decisions")
    shown = shown_nats(url)
    convert = guarded(shown)
    say = notify or (lambda text: None)
    link = {"lost": 0, "handled": 0, "up": True, "closing": False}

    async def on_disconnect():
        if link["up"] and not link["closing"]:
            link["up"] = False
            link["lost"] += 1
            say(f"lost the NATS server at {shown}; reconnecting (for up to "
                f"{RECONNECT_ATTEMPTS * RECONNECT_WAIT:.0f} s)")

    async def on_reconnect():
        link["up"] = True
        say(f"reconnected to the NATS server at {shown}")

    nc = await connect(url, on_disconnect=on_disconnect, on_reconnect=on_reconnect)
    counters = Counters()
    loop = asyncio.get_running_loop()
    owned = None
    try:
        js = nc.jetstream(timeout=10.0)
        n = await events_stream(js, stream, partitions, create=False, shown=shown)
        chosen = sorted(set(mine)) if mine else list(range(n))
        bad = [k for k in chosen if not 0 <= k < n]
        if bad:
            raise StreamError("stream.partitions_mismatch", f"--partition {bad[0]}: stream "
                              f"{stream!r} has partitions 0 to {n - 1}")
        owned = await loop.run_in_executor(None, Partitions, policy, db, stream, n, chosen)
        try:
            last_seq = (await js.stream_info(stream)).state.last_seq
        except Exception as error:  # noqa: BLE001
            raise convert(error) from None
        applied = max(owned.applied.values())
        counters.last_seq = applied  # where a consumer that reads nothing stands
        if applied > last_seq:
            raise StreamError("stream.recreated", f"the partition stores have applied stream "
                              f"{stream!r} up to sequence {applied}, past its end "
                              f"({last_seq}): the stream was deleted and made again. Give the "
                              "new stream new stores (another schema prefix in --db)")
        # one durable consumer per partition, filtered on the partition's subject
        names = {k: f"{durable or f'clauseline-{stream}'}"[:190] + f"-p{k}" for k in chosen}
        subs: dict = {}

        async def subscribe(k: int):
            """(Re-)create partition ``k``'s durable consumer at its acknowledged floor (or its
            store's applied position, if later) and bind to it: redeliveries then come first,
            in stream order, and a consumer a restarted server holds stale is replaced."""
            name = names[k]
            floor = 0
            try:
                info = await js.consumer_info(stream, name)
                floor = info.ack_floor.stream_seq if info.ack_floor else 0
                await js.delete_consumer(stream, name)
            except NotFoundError:
                pass
            start = max(floor, owned.applied[k]) + 1
            config = ConsumerConfig(
                durable_name=name, ack_policy=AckPolicy.ALL, ack_wait=ACK_WAIT,
                max_ack_pending=batch, max_deliver=-1, filter_subject=nats_subject(stream, k),
                deliver_policy=DeliverPolicy.BY_START_SEQUENCE if start > 1 else DeliverPolicy.ALL,
                opt_start_seq=start if start > 1 else None,
                description=f"clauseline consume: partition {k} of {n}")
            await js.add_consumer(stream, config)
            return await js.pull_subscribe_bind(durable=name, stream=stream)

        async def subscribe_all() -> None:
            for k in chosen:
                subs[k] = await subscribe(k)

        try:
            if decisions:
                await decisions_stream(js, decisions, max_age, say)
            await subscribe_all()
        except StreamError:
            raise
        except Exception as error:  # noqa: BLE001
            raise convert(error) from None

        async def publish(out) -> None:
            if decisions and out:
                futures = [await js.publish_async(f"{decisions}.p.{suffix}", body,
                                                  headers=headers, wait_stall=30.0)
                           for suffix, body, headers in out]
                # bounded: an acknowledgement lost with a restarted server would otherwise be
                # awaited for ever (a recovery then publishes again, under the same Nats-Msg-Id)
                await asyncio.wait_for(asyncio.gather(*futures), PUBLISH_ACK_WAIT)

        async def recover(unsent) -> None:
            """After a lost connection: wait for it (bounded), publish the decisions of a
            committed batch not yet published (same Nats-Msg-Id: never twice), and re-create
            the consumers past the committed batches."""
            deadline = time.monotonic() + RECOVER_WITHIN
            while not nc.is_connected:
                if nc.is_closed or time.monotonic() > deadline:
                    raise StreamError("nats.unavailable", f"lost the NATS server at {shown} and "
                                      f"it did not come back within {RECOVER_WITHIN:.0f} s; "
                                      "what was committed is kept: run consume again") from None
                if stop is not None and stop.is_set():
                    return
                await asyncio.sleep(0.1)
            while True:  # JetStream may not answer for a moment after a restart
                try:
                    await publish(unsent)
                    for old in subs.values():
                        try:
                            await old.unsubscribe()
                        except Exception:  # noqa: BLE001 - a subscription of the lost connection
                            pass
                    await subscribe_all()
                    link["handled"] = link["lost"]
                    counters.reconnects += 1
                    say("resuming after stream sequence "
                        + ", ".join(f"{owned.applied[k]} (partition {k})" for k in chosen))
                    return
                except Exception as error:  # noqa: BLE001
                    if time.monotonic() > deadline or nc.is_closed:
                        raise convert(error) from None
                    await asyncio.sleep(0.5)

        def transient() -> bool:
            """Whether a failure may be the lost connection's (then it is recovered from)."""
            return not nc.is_connected or link["lost"] != link["handled"]

        async def drained() -> bool:
            """Whether every message of every owned partition is delivered and acknowledged."""
            for k in chosen:
                info = await js.consumer_info(stream, names[k])
                if info.num_pending or info.num_ack_pending:
                    return False
            return True

        lags = {k: 0 for k in chosen}
        # with several partitions, a short wait on each in turn (an idle one holds none up)
        wait = 1.0 if len(chosen) == 1 else 0.2
        while stop is None or not stop.is_set():
            unsent = None  # decisions of a committed batch, until published
            try:
                if link["lost"] != link["handled"] and nc.is_connected:
                    await recover(None)  # reconnected: the consumers may be stale
                idle = True
                for k in chosen:
                    if stop is not None and stop.is_set():
                        break
                    try:
                        msgs = await subs[k].fetch(batch, timeout=wait)
                    except (NatsTimeout, asyncio.TimeoutError):  # "none yet", either kind
                        msgs = []
                    if not msgs:
                        lags[k] = 0
                        continue
                    idle = False
                    items = [(m.metadata.sequence.stream, m.data, m.headers or {}) for m in msgs]
                    lags[k] = msgs[-1].metadata.num_pending
                    counters.lag = sum(lags.values())
                    decided = loop.run_in_executor(None, owned.process, k, items, counters)
                    unsent = await _not_nats(decided)
                    await publish(unsent)
                    unsent = None
                    await msgs[-1].ack_sync(timeout=10.0)
                    if on_batch:
                        on_batch(counters)
                counters.lag = sum(lags.values())
                if idle:
                    if drain and await drained():
                        break
                    if on_batch:
                        on_batch(counters)
                elif drain and counters.lag == 0 and await drained():
                    break
            except StreamError:
                raise
            except _StoreFailure as failure:
                raise failure.args[0]  # the stores' own error, as it was
            except Exception as error:  # noqa: BLE001
                if not transient():
                    raise convert(error) from None
                await recover(unsent)
        return counters
    finally:
        if owned is not None:
            owned.close()
        link["closing"] = True
        try:
            await asyncio.wait_for(nc.close(), 5)
        except Exception:  # noqa: BLE001
            pass


class _StoreFailure(Exception):
    """Carries a failure of the stores' side (deciding, committing) past the handling of a lost
    NATS connection; :func:`consume` raises the error it carries."""


async def _not_nats(work):
    """Await the stores' work of a batch; its failure is never taken for NATS's."""
    try:
        return await work
    except Exception as error:  # noqa: BLE001 - re-raised as it was by consume
        raise _StoreFailure(error) from None


def run_consume(policy, args) -> int:
    """``clauseline consume``: run, with a progress line on a terminal and a summary at the
    end on stderr; Prometheus metrics on ``--metrics-port``."""
    import signal

    metrics = None
    if args.metrics_port is not None:
        from .metrics import ConsumeMetrics
        metrics = ConsumeMetrics(args.metrics_port, args.metrics_host)
    tty = sys.stderr.isatty() and not args.quiet
    last = [0.0]

    def on_batch(c: Counters) -> None:
        if metrics:
            metrics.update(c)
        now = time.monotonic()
        if tty and now - last[0] > 0.2:
            last[0] = now
            print(f"\rclauseline consume: {c.messages} messages, {c.rate():,.0f}/s, lag {c.lag}, "
                  f"seq {c.last_seq}   ", end="", file=sys.stderr, flush=True)

    async def main() -> Counters:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(sig, stop.set)
            except (NotImplementedError, RuntimeError):
                pass
        return await consume(policy, url=args.nats, stream=args.stream, db=args.db,
                             partitions=args.partitions, mine=args.partition, drain=args.drain,
                             batch=args.batch, decisions=decisions, on_batch=on_batch,
                             stop=stop, max_age=args.max_age, notify=notify)

    def notify(text: str) -> None:
        if tty:
            print("\r" + " " * 100 + "\r", end="", file=sys.stderr)
        print(f"clauseline consume: {text}", file=sys.stderr, flush=True)

    decisions = None if args.decisions == "-" else (args.decisions or f"{args.stream}_DECISIONS")
    from ..process import settle
    settle()  # the modules and the policy: full collections walk only what is made from now on
    c = asyncio.run(main())
    if tty:
        print("\r" + " " * 100 + "\r", end="", file=sys.stderr)
    elapsed = time.monotonic() - c.started
    print(f"clauseline consume: {c.messages} message(s) read in {elapsed:.1f} s "
          f"({c.rate():,.0f}/s): {c.evaluated} decided, {c.watermarks} watermark(s), "
          f"{c.timers} deadline timer(s) fired, {c.shared} shared write(s) made, "
          f"{c.duplicates} already stored, {c.rejected} rejected; "
          + (f"stream sequence {c.last_seq}" if c.last_seq else "nothing applied yet")
          + f", lag {c.lag}"
          + (f"; resumed after {c.reconnects} lost connection(s)" if c.reconnects else ""),
          file=sys.stderr)
    return 0


__all__ = ["ACK_WAIT", "Counters", "DEFAULT_BATCH", "Partitions", "consume", "run_consume"]
