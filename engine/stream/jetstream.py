"""Talking to NATS JetStream: connecting, the events stream and its layout, errors.

Every failure of NATS becomes one :class:`StreamError` with a ``nats.*`` or ``stream.*`` code
(docs/errors.md); the message names the server with any password masked and quotes no event.
"""

from __future__ import annotations

import asyncio
import re
from urllib.parse import urlsplit

from ..errors import OneProblem
from ..redact import mask_numbers, shown_url
from .partitioning import MAX_PARTITIONS, PARTITION_TOKEN

#: The stream's description records its partition count and its layout: publishers and
#: consumers read it. Layout 2: every message a partition must see is on its own subject
#: ``NAME.p.K`` (events fanned out, broadcasts copied, watermarks), which its consumer alone
#: reads (docs/scale.md); a stream without ``layout=2`` was made by an earlier clauseline, whose
#: consumers read every message of the stream.
_DESCRIPTION = "clauseline events, partitions={n}, layout=2"
_PARTITIONS = re.compile(r"partitions=(\d+)")
_LAYOUT = re.compile(r"layout=(\d+)")
LAYOUT = 2
_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
DEFAULT_PARTITIONS = 6
#: Seconds to wait for a server to answer a connection.
CONNECT_TIMEOUT = 3.0
#: Attempts to reconnect a lost connection, and the seconds between two of them (a connection
#: lost for longer is closed, and the command ends with ``nats.unavailable``).
RECONNECT_ATTEMPTS = 60
RECONNECT_WAIT = 0.5
#: How long a stream made by clauseline keeps a message (``--max-age``): JetStream deletes older
#: ones (the stream is a queue between producers and consumers, not the record: the stores are).
DEFAULT_MAX_AGE = "7d"
#: JetStream's window for dropping a repeat (``Nats-Msg-Id``): two minutes, or the stream's
#: max age when that is shorter (JetStream refuses a window longer than the max age).
DUPLICATE_WINDOW = 120.0
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)", re.IGNORECASE)
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
#: Longest max age accepted (JetStream holds it in nanoseconds, a 64-bit integer).
MAX_MAX_AGE = 100 * 365 * 86400.0


class StreamError(OneProblem):
    """NATS or a stream cannot be used: one problem with a stable code."""


def shown_nats(url: str) -> str:
    """A NATS URL as messages show it: the one URL formatter of clauseline
    (:func:`clauseline.redact.shown_url`: user, password or token masked, one printable line)."""
    return shown_url(url)


def parse_duration(text: str, what: str = "--max-age") -> float:
    """Seconds of a duration written as numbers with units, ``7d``, ``36h``, ``1d12h``, ``90m``,
    ``30s`` (``ms``, ``s``, ``m``, ``h``, ``d``, ``w``). Refused (ValueError, a message naming
    ``what``): no unit, zero, a negative or unparseable one, or more than 100 years."""
    shown = mask_numbers(text) if isinstance(text, str) and len(text) <= 24 \
        and text.isprintable() else "the value"  # never a card number echoed
    plain = text.strip() if isinstance(text, str) else ""
    pieces = list(_DURATION.finditer(plain))
    if plain.startswith("-"):
        raise ValueError(f"{what}: {shown!r} is negative; a stream keeps messages for a positive "
                         f"duration, e.g. {DEFAULT_MAX_AGE}")
    zero = ValueError(f"{what}: {shown!r} is no time at all; a stream keeps messages for a "
                      "positive duration (JetStream's 0, keeping them for ever, is what "
                      "--max-age exists to avoid)")
    if re.fullmatch(r"0+(?:\.0*)?", plain):
        raise zero  # a bare 0, whatever the unit would have been
    if not plain or "".join(m.group(0) for m in pieces).replace(" ", "") != plain.replace(" ", ""):
        raise ValueError(f"{what}: {shown!r} is not a duration; write a number and a unit, e.g. "
                         f"7d, 36h, 90m, 30s (default {DEFAULT_MAX_AGE})")
    seconds = sum(float(m.group(1)) * _UNITS[m.group(2).lower()] for m in pieces)
    if seconds <= 0:
        raise zero
    if seconds > MAX_MAX_AGE:
        raise ValueError(f"{what}: {shown!r} is more than 100 years")
    return seconds


def shown_duration(seconds: float) -> str:
    """A duration as the messages show it: ``7d``, ``36h``, ``90m``, ``30s``."""
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("m", 60.0), ("s", 1.0)):
        if seconds >= size and float(seconds / size).is_integer():
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def check_name(stream: str, what: str = "--stream") -> str:
    if not isinstance(stream, str) or not _NAME.fullmatch(stream):
        raise StreamError("stream.invalid_name", f"{what}: a stream name is 1 to 64 letters, "
                          "digits, '-' or '_'")
    return stream


async def _quiet(_error) -> None:
    """nats-py reports connection errors through this callback (by default: a traceback)."""


async def connect(url: str, *, reconnect: bool = True, on_disconnect=None, on_reconnect=None):
    """A connection to the NATS server at ``url``, or ``nats.unavailable`` when none answers
    within :data:`CONNECT_TIMEOUT` seconds. Once connected, a lost connection is reconnected
    in the background (``reconnect``: :data:`RECONNECT_ATTEMPTS` attempts,
    :data:`RECONNECT_WAIT` seconds apart) while the caller's requests wait or time out;
    ``on_disconnect`` and ``on_reconnect`` (coroutine functions of no argument) are told."""
    import nats
    from nats.errors import NoServersError

    if not isinstance(url, str) or not url.strip():
        raise StreamError("nats.unavailable", "--nats: an empty URL; e.g. nats://127.0.0.1:4222")
    shown = shown_nats(url)
    await _answers(url.strip(), shown)
    try:
        return await nats.connect(url.strip(), connect_timeout=CONNECT_TIMEOUT,
                                  allow_reconnect=False if not reconnect else True,
                                  max_reconnect_attempts=1 if not reconnect
                                  else RECONNECT_ATTEMPTS,
                                  reconnect_time_wait=RECONNECT_WAIT, error_cb=_quiet,
                                  disconnected_cb=on_disconnect, reconnected_cb=on_reconnect,
                                  closed_cb=None)
    except (NoServersError, OSError, asyncio.TimeoutError) as error:
        raise StreamError("nats.unavailable", f"no NATS server answers at {shown} "
                          f"({type(error).__name__}); start one, or check --nats") from None
    except Exception as error:  # noqa: BLE001 - nats-py raises many kinds for a bad URL
        raise StreamError("nats.unavailable", f"cannot connect to NATS at {shown} "
                          f"({type(error).__name__})") from None


async def _answers(url: str, shown: str) -> None:
    """Fail at once when no server of ``url`` (comma-separated) accepts a TCP connection:
    nats-py would otherwise retry the first connection as long as it retries lost ones."""
    errors = []
    for one in url.split(","):
        one = one.strip()
        try:
            parts = urlsplit(one if "://" in one else "nats://" + one)
            host, port = parts.hostname or "127.0.0.1", parts.port or 4222
        except ValueError:
            errors.append("a malformed URL")
            continue
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, port),
                                               CONNECT_TIMEOUT)
            writer.close()
            return
        except (OSError, asyncio.TimeoutError) as error:
            errors.append(type(error).__name__)
    raise StreamError("nats.unavailable", f"no NATS server answers at {shown} "
                      f"({', '.join(errors)}); start one, or check --nats")


def _partitions_of(info) -> int | None:
    found = _PARTITIONS.search(getattr(info.config, "description", None) or "")
    return int(found.group(1)) if found else None


async def events_stream(js, stream: str, partitions: int | None, *, create: bool,
                        shown: str, max_age: float | None = None, notify=None) -> int:
    """The partition count of the events stream ``stream`` (created with ``partitions``, or
    :data:`DEFAULT_PARTITIONS`, when absent and ``create``). Refuses a stream with another
    count than ``partitions`` (``stream.partitions_mismatch``), one that is not clauseline's
    (``stream.not_clauseline``) and, without ``create``, a missing one (``stream.not_found``);
    nats-py's own errors on the way are :func:`guarded` ones. With ``create`` the stream keeps
    messages for ``max_age`` seconds (:func:`retention`)."""
    try:
        return await _events_stream(js, stream, partitions, create, shown, max_age, notify)
    except StreamError:
        raise
    except Exception as error:  # noqa: BLE001
        raise guarded(shown)(error) from None


async def _events_stream(js, stream: str, partitions: int | None, create: bool,
                         shown: str, max_age: float | None, notify) -> int:
    from nats.js.api import StorageType, StreamConfig
    from nats.js.errors import NotFoundError

    if partitions is not None and not 1 <= partitions <= MAX_PARTITIONS:
        raise StreamError("stream.partitions_mismatch",
                          f"--partitions must be 1 to {MAX_PARTITIONS}, not {partitions}")
    try:
        info = await js.stream_info(stream)
    except NotFoundError:
        if not create:
            raise StreamError("stream.not_found", f"no stream {stream!r} on {shown}: publish to "
                              "it first (clauseline publish creates it)") from None
        n = partitions or DEFAULT_PARTITIONS
        age = max_age or parse_duration(DEFAULT_MAX_AGE)
        await js.add_stream(StreamConfig(
            name=stream, subjects=[f"{stream}.{PARTITION_TOKEN}.*"],
            description=_DESCRIPTION.format(n=n), storage=StorageType.FILE,
            duplicate_window=min(DUPLICATE_WINDOW, age), max_age=age))
        return n
    found = _partitions_of(info)
    if found is None:
        raise StreamError("stream.not_clauseline", f"stream {stream!r} on {shown} was not made "
                          "by clauseline publish (its description names no partition count)")
    layout = _LAYOUT.search(getattr(info.config, "description", None) or "")
    if (int(layout.group(1)) if layout else 1) != LAYOUT:
        raise StreamError("stream.layout_old", f"stream {stream!r} on {shown} was made by an "
                          "earlier clauseline, whose consumers read every message of the stream; "
                          "this one reads only its partitions' subjects. Publish the log again "
                          "into a new stream (and new stores: another schema prefix in --db)")
    if partitions is not None and partitions != found:
        raise StreamError("stream.partitions_mismatch", f"stream {stream!r} has {found} "
                          f"partitions, not {partitions}: re-partitioning needs a new stream "
                          "(docs/scale.md, 'Re-partitioning')")
    if create:
        await retention(js, info, max_age, notify)
    return found


async def retention(js, info, max_age: float | None, notify=None) -> None:
    """Keep an existing stream's retention in line with ``--max-age``: given and different, the
    stream is updated to it (``notify`` is told); not given, a stream that keeps messages for
    ever (made before ``--max-age`` existed, or by hand) is left so, and ``notify`` is told how
    to set one."""
    config = info.config
    held = float(getattr(config, "max_age", None) or 0)
    name = config.name
    if max_age is None:
        if held <= 0 and notify:
            notify(f"stream {name!r} keeps its messages for ever (no max age): give --max-age "
                   f"(e.g. {DEFAULT_MAX_AGE}) to let JetStream delete old ones")
        return
    if abs(held - max_age) < 0.001:
        return
    from dataclasses import replace
    window = float(getattr(config, "duplicate_window", None) or DUPLICATE_WINDOW)
    await js.update_stream(replace(config, max_age=max_age,
                                   duplicate_window=min(window, max_age)))
    if notify:
        before = shown_duration(held) if held > 0 else "for ever"
        notify(f"stream {name!r}: max age changed from {before} to {shown_duration(max_age)}")


async def decisions_stream(js, stream: str, max_age: float | None = None, notify=None) -> None:
    """Create the decisions stream (subjects ``STREAM.p.K``) when absent, keeping messages for
    ``max_age`` seconds (default :data:`DEFAULT_MAX_AGE`); an existing one: :func:`retention`."""
    from nats.js.api import StorageType, StreamConfig
    from nats.js.errors import NotFoundError

    try:
        info = await js.stream_info(stream)
    except NotFoundError:
        age = max_age or parse_duration(DEFAULT_MAX_AGE)
        try:
            await js.add_stream(StreamConfig(
                name=stream, subjects=[f"{stream}.{PARTITION_TOKEN}.*"],
                description="clauseline decisions: one message per event and partition",
                storage=StorageType.FILE, duplicate_window=min(DUPLICATE_WINDOW, age),
                max_age=age))
        except Exception:  # noqa: BLE001 - another consumer created it at the same moment
            await js.stream_info(stream)
        return
    await retention(js, info, max_age, notify)


def guarded(shown: str):
    """A decorator-free helper: turn nats-py's own errors met while working into StreamError."""
    def convert(error: BaseException) -> StreamError:
        name = type(error).__name__
        if name in ("ServiceUnavailableError", "NoRespondersError"):
            return StreamError("nats.unavailable", f"the NATS server at {shown} has no "
                               "JetStream (start it with -js)")
        if isinstance(error, (asyncio.TimeoutError, OSError)) or name in (
                "TimeoutError", "ConnectionClosedError", "NoServersError", "StaleConnectionError",
                "OutboundBufferLimitError", "FlushTimeoutError"):
            return StreamError("nats.unavailable", f"the NATS server at {shown} stopped "
                               f"answering ({name})")
        return StreamError("nats.unavailable", f"NATS at {shown} refused a request ({name}: "
                           f"{' '.join(str(error).split())[:160]})")
    return convert


__all__ = ["CONNECT_TIMEOUT", "DEFAULT_MAX_AGE", "DEFAULT_PARTITIONS", "RECONNECT_ATTEMPTS",
           "RECONNECT_WAIT", "StreamError", "check_name", "connect", "decisions_stream",
           "events_stream", "guarded", "parse_duration", "retention", "shown_duration",
           "shown_nats"]
