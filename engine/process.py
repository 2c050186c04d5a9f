"""What a long-running clauseline process does once its start-up is over."""

from __future__ import annotations

import gc


def settle() -> None:
    """The process's start-up is over: what it made (the modules, the policy and its compiled
    rules, the app of a server) lives as long as the process. It is collected once, then moved
    to the collector's permanent generation (``gc.freeze()``), so that a full collection walks
    only what was made since. Measured (bench/README.md, "Issue 23, sixth round"): a full
    collection stopped ``clauseline serve`` for 50 to 63 ms, every request in flight waiting,
    and takes 3 to 10 ms after this; one ``clauseline consume`` draining 20,000 events spent
    0.40 s of CPU in its 8 full collections, 0.12 s after this.

    Called by the long-running commands once loaded (``serve`` before uvicorn runs, each
    worker of ``serve --workers N`` once its app is made, ``consume`` before it reads). An app
    embedded elsewhere, or made by a test, is left to its process's own collector settings."""
    gc.collect()
    gc.freeze()


__all__ = ["settle"]
