"""What a running service is configured with: from ``clauseline serve``'s options or, in each
uvicorn worker process, from the environment variables that ``serve`` sets."""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..redact import quote

#: Default store of ``clauseline serve``: a SQLite file in the working directory.
DEFAULT_DB = "sqlite:///clauseline.db"
#: Largest request body accepted, in bytes (413 past it); one event is also limited to
#: ``clauseline.events.parsing.MAX_EVENT_BYTES``.
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
#: Most events accepted in one batch request.
DEFAULT_MAX_BATCH = 1000

ENV_DB = "CLAUSELINE_DB"
ENV_RULES = "CLAUSELINE_RULES"
ENV_NO_AUTH = "CLAUSELINE_INSECURE_NO_AUTH"
ENV_MAX_BODY = "CLAUSELINE_MAX_BODY_BYTES"
ENV_MAX_BATCH = "CLAUSELINE_MAX_BATCH"
ENV_ENQUEUE_NATS = "CLAUSELINE_ENQUEUE_NATS"
ENV_ENQUEUE_STREAM = "CLAUSELINE_ENQUEUE_STREAM"
ENV_WATERMARK_EVERY = "CLAUSELINE_ENQUEUE_WATERMARK_EVERY"
ENV_WATERMARK_INTERVAL = "CLAUSELINE_ENQUEUE_WATERMARK_INTERVAL"
#: The rate of the watermark messages an enqueuing worker sends (as ``clauseline publish``'s).
DEFAULT_WATERMARK_EVERY = 1000
DEFAULT_WATERMARK_INTERVAL = 86400.0


@dataclass(frozen=True)
class Settings:
    """The service's configuration."""

    #: The store URL (``sqlite:///file.db``, a path ending ``.db``, or ``postgresql://...``).
    db: str = DEFAULT_DB
    #: A rules folder; None for the shipped policy.
    rules: str | None = None
    #: False only with ``--insecure-no-auth``: every request is then allowed without a key.
    auth: bool = True
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_batch: int = DEFAULT_MAX_BATCH
    #: Enqueue instead of evaluate (docs/scale.md): POST /v1/events publishes each valid event
    #: to this NATS server's stream ``enqueue_stream`` and answers 202; None: evaluate here.
    enqueue_nats: str | None = None
    enqueue_stream: str | None = None
    #: With ``enqueue_nats``: a watermark message to every partition after this many events, or
    #: once the event time moved this many seconds since the last (docs/scale.md).
    watermark_every: int = DEFAULT_WATERMARK_EVERY
    watermark_interval: float = DEFAULT_WATERMARK_INTERVAL

    def __post_init__(self) -> None:
        # a limit of 0 or below would refuse every request (or, for a batch, accept none): a
        # mistake to stop at start, not a service to run (``serve`` refuses it as wrong usage)
        for name in ("max_body_bytes", "max_batch", "watermark_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a whole number of at least 1, not {quote(value)}")
        interval = self.watermark_interval
        if isinstance(interval, bool) or not isinstance(interval, (int, float)) \
                or not 0 < interval < float("inf"):
            raise ValueError(f"watermark_interval must be a positive number of seconds, not "
                             f"{quote(interval)}")

    def to_env(self) -> dict[str, str]:
        """The environment variables that :meth:`from_env` reads back (for worker processes)."""
        env = {ENV_DB: self.db, ENV_MAX_BODY: str(self.max_body_bytes),
               ENV_MAX_BATCH: str(self.max_batch), ENV_NO_AUTH: "" if self.auth else "1"}
        if self.rules:
            env[ENV_RULES] = self.rules
        if self.enqueue_nats:
            env[ENV_ENQUEUE_NATS] = self.enqueue_nats
            env[ENV_ENQUEUE_STREAM] = self.enqueue_stream or ""
            env[ENV_WATERMARK_EVERY] = str(self.watermark_every)
            env[ENV_WATERMARK_INTERVAL] = repr(float(self.watermark_interval))
        return env

    @classmethod
    def from_env(cls) -> "Settings":
        """Settings from the environment (as :meth:`to_env` wrote them); defaults elsewhere."""
        return cls(db=os.environ.get(ENV_DB) or DEFAULT_DB,
                   rules=os.environ.get(ENV_RULES) or None,
                   auth=os.environ.get(ENV_NO_AUTH) != "1",
                   max_body_bytes=int(os.environ.get(ENV_MAX_BODY) or DEFAULT_MAX_BODY_BYTES),
                   max_batch=int(os.environ.get(ENV_MAX_BATCH) or DEFAULT_MAX_BATCH),
                   enqueue_nats=os.environ.get(ENV_ENQUEUE_NATS) or None,
                   enqueue_stream=os.environ.get(ENV_ENQUEUE_STREAM) or None,
                   watermark_every=int(os.environ.get(ENV_WATERMARK_EVERY)
                                       or DEFAULT_WATERMARK_EVERY),
                   watermark_interval=float(os.environ.get(ENV_WATERMARK_INTERVAL)
                                            or DEFAULT_WATERMARK_INTERVAL))
