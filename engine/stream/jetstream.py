"""Talking to NATS JetStream: connecting, the events stream and its layout, errors.

Every failure of NATS becomes one :class:`StreamError` with a ``nats.*`` or ``stream.*`` code
(docs/errors.md); the message names the server with any password masked and quotes no event.
"""

from __future__ import annotations

import asyncio
import re
from urllib.parse import urlsplit, urlunsplit

from ..errors import ClauselineError, Problem
from .partitioning import ALL_TOKEN, MAX_PARTITIONS, PARTITION_TOKEN

#: The stream's description records its partition count: publishers and consumers read it.
_DESCRIPTION = "clauseline events, partitions={n}"
_PARTITIONS = re.compile(r"partitions=(\d+)")
_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
DEFAULT_PARTITIONS = 6
#: Seconds to wait for a server to answer a connection.
CONNECT_TIMEOUT = 3.0


class StreamError(ClauselineError):
    """NATS or a stream cannot be used: one problem with a stable code."""

    def __init__(self, code: str, message: str):
        super().__init__([Problem(code, message)])

    @property
    def code(self) -> str:
        return self.problems[0].code


def shown_nats(url: str) -> str:
    """A NATS URL as messages show it (password or token masked, one printable line)."""
    try:
        parts = urlsplit(url.strip())
        netloc = parts.netloc
        if "@" in netloc:
            netloc = "***@" + netloc.rsplit("@", 1)[1]
        text = urlunsplit(parts._replace(netloc=netloc))
    except ValueError:
        return "(a malformed NATS URL)"
    return "".join(c if c.isprintable() else "?" for c in text)[:200]


def check_name(stream: str, what: str = "--stream") -> str:
    if not isinstance(stream, str) or not _NAME.fullmatch(stream):
        raise StreamError("stream.invalid_name", f"{what}: a stream name is 1 to 64 letters, "
                          "digits, '-' or '_'")
    return stream


async def _quiet(_error) -> None:
    """nats-py reports connection errors through this callback (by default: a traceback)."""


async def connect(url: str, *, reconnect: bool = True):
    """A connection to the NATS server at ``url``, or ``nats.unavailable`` when none answers
    within :data:`CONNECT_TIMEOUT` seconds. Once connected, a lost connection is reconnected
    in the background (``reconnect``) while the caller's requests wait or time out."""
    import nats
    from nats.errors import NoServersError

    if not isinstance(url, str) or not url.strip():
        raise StreamError("nats.unavailable", "--nats: an empty URL; e.g. nats://127.0.0.1:4222")
    shown = shown_nats(url)
    await _answers(url.strip(), shown)
    try:
        return await nats.connect(url.strip(), connect_timeout=CONNECT_TIMEOUT,
                                  allow_reconnect=False if not reconnect else True,
                                  max_reconnect_attempts=1 if not reconnect else 60,
                                  reconnect_time_wait=0.5, error_cb=_quiet,
                                  disconnected_cb=None, closed_cb=None)
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
                        shown: str) -> int:
    """The partition count of the events stream ``stream`` (created with ``partitions``, or
    :data:`DEFAULT_PARTITIONS`, when absent and ``create``). Refuses a stream with another
    count than ``partitions`` (``stream.partitions_mismatch``), one that is not clauseline's
    (``stream.not_clauseline``) and, without ``create``, a missing one (``stream.not_found``);
    nats-py's own errors on the way are :func:`guarded` ones."""
    try:
        return await _events_stream(js, stream, partitions, create, shown)
    except StreamError:
        raise
    except Exception as error:  # noqa: BLE001
        raise guarded(shown)(error) from None


async def _events_stream(js, stream: str, partitions: int | None, create: bool,
                         shown: str) -> int:
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
        await js.add_stream(StreamConfig(
            name=stream, subjects=[f"{stream}.{PARTITION_TOKEN}.*", f"{stream}.{ALL_TOKEN}"],
            description=_DESCRIPTION.format(n=n), storage=StorageType.FILE,
            duplicate_window=120.0))
        return n
    found = _partitions_of(info)
    if found is None:
        raise StreamError("stream.not_clauseline", f"stream {stream!r} on {shown} was not made "
                          "by clauseline publish (its description names no partition count)")
    if partitions is not None and partitions != found:
        raise StreamError("stream.partitions_mismatch", f"stream {stream!r} has {found} "
                          f"partitions, not {partitions}: re-partitioning needs a new stream "
                          "(docs/scale.md, 'Re-partitioning')")
    return found


async def decisions_stream(js, stream: str) -> None:
    """Create the decisions stream (subjects ``STREAM.p.K``) when absent."""
    from nats.js.api import StorageType, StreamConfig
    from nats.js.errors import NotFoundError

    try:
        await js.stream_info(stream)
    except NotFoundError:
        try:
            await js.add_stream(StreamConfig(
                name=stream, subjects=[f"{stream}.{PARTITION_TOKEN}.*"],
                description="clauseline decisions: one message per event and partition",
                storage=StorageType.FILE, duplicate_window=120.0))
        except Exception:  # noqa: BLE001 - another consumer created it at the same moment
            await js.stream_info(stream)


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


__all__ = ["CONNECT_TIMEOUT", "DEFAULT_PARTITIONS", "StreamError", "check_name", "connect",
           "decisions_stream", "events_stream", "guarded", "shown_nats"]
