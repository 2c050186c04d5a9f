"""``serve``: the HTTP service (``clauseline.service``) on uvicorn."""

from __future__ import annotations

import argparse
import sys
import textwrap

from .common import at_least_one, echo, port_number


def cmd_serve(args) -> int:
    from ..service.server import ServeError, StoppedStarting, serve
    from ..service.settings import Settings
    import os
    from ..service.settings import ENV_ENQUEUE_NATS, ENV_ENQUEUE_STREAM
    args.enqueue_nats = args.enqueue_nats or os.environ.get(ENV_ENQUEUE_NATS) or None
    args.enqueue_stream = args.enqueue_stream or os.environ.get(ENV_ENQUEUE_STREAM) or None
    if bool(args.enqueue_nats) != bool(args.enqueue_stream):
        echo("clauseline serve: --enqueue-nats and --enqueue-stream go together", sys.stderr)
        return 2
    settings = Settings(db=args.db, rules=args.rules, auth=not args.insecure_no_auth,
                        max_body_bytes=args.max_body_bytes, max_batch=args.max_batch,
                        enqueue_nats=args.enqueue_nats, enqueue_stream=args.enqueue_stream,
                        watermark_every=args.enqueue_watermark_every,
                        watermark_interval=args.enqueue_watermark_interval)
    try:
        return serve(settings, host=args.host, port=args.port, workers=args.workers,
                     log_level=args.log_level, access_log=args.access_log)
    except ServeError as error:
        echo(f"clauseline serve: {error}", sys.stderr)
        return 2
    except StoppedStarting:  # SIGTERM before it served: stopped, as a running server stops
        echo("clauseline serve: stopped (SIGTERM) while starting", sys.stderr)
        return 0


def register(subparsers, parents) -> None:
    """``serve``."""
    from ..events.parsing import MAX_EVENT_BYTES
    from ..service.settings import (DEFAULT_DB, DEFAULT_MAX_BATCH, DEFAULT_MAX_BODY_BYTES,
                                    DEFAULT_WATERMARK_EVERY, DEFAULT_WATERMARK_INTERVAL)

    p = subparsers.add_parser(
        "serve", parents=[parents.rules,
                          parents.db(f"the store (default {DEFAULT_DB}; several workers need "
                                     "postgresql://...)", default=DEFAULT_DB)],
        help="run the HTTP service (FastAPI on uvicorn)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=textwrap.fill("Serve the HTTP API under /v1: POST /v1/events (CloudEvents in structured, "
        "binary or batch mode; a 2xx only once the event and its decision are stored), "
        "GET /v1/decisions/{source}/{id}, /v1/subjects/{id}, /v1/obligations, /v1/policy, "
        "POST /v1/evaluate (dry run), /healthz, /readyz, /metrics; API docs at /docs and "
        "/redoc (their assets served from here: no internet needed), OpenAPI at "
        "/openapi.json. Requests need an API key (clauseline keys create) unless "
        "--insecure-no-auth. Access logs are JSON lines on stderr. Stop with Ctrl-C (SIGINT) "
        "or SIGTERM: requests in flight finish first; a SIGTERM while it starts stops it "
        "there.", 78),
        epilog="examples:\n"
        "  clauseline keys create --db sqlite:///clauseline.db --name ingest --scope events:write\n"
        "  clauseline serve --db sqlite:///clauseline.db --port 8000\n"
        "  clauseline serve --db postgresql://app@db/clauseline --workers 4 --host 0.0.0.0\n"
        "exit codes: 0 stopped; 1 the store or the rules cannot be opened; 2 wrong usage "
        "(e.g. several workers on SQLite)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=port_number, default=8000,
                   help="port, 0 to 65535 (default 8000)")
    p.add_argument("--workers", type=at_least_one, default=1,
                   help="worker processes (default 1; more than 1 needs PostgreSQL)")
    p.add_argument("--insecure-no-auth", action="store_true",
                   help="accept requests without an API key (announced loudly; test networks only)")
    p.add_argument("--max-body-bytes", type=at_least_one, default=DEFAULT_MAX_BODY_BYTES,
                   metavar="N", help="largest request body, 413 past it (default "
                   f"{DEFAULT_MAX_BODY_BYTES}; one event, alone or in a batch, is at most "
                   f"{MAX_EVENT_BYTES})")
    p.add_argument("--max-batch", type=at_least_one, default=DEFAULT_MAX_BATCH, metavar="N",
                   help=f"most events in one batch request (default {DEFAULT_MAX_BATCH})")
    p.add_argument("--enqueue-nats", metavar="URL",
                   help="enqueue instead of evaluate: POST /v1/events publishes each valid event "
                   "to this NATS server's --enqueue-stream and answers 202 (accepted for "
                   "processing; clauseline consume decides it). Env CLAUSELINE_ENQUEUE_NATS")
    p.add_argument("--enqueue-stream", metavar="NAME",
                   help="the events stream of --enqueue-nats (created when absent, 6 partitions). "
                   "Env CLAUSELINE_ENQUEUE_STREAM")
    from .stream import event_time_span
    p.add_argument("--enqueue-watermark-every", metavar="N", type=at_least_one,
                   default=DEFAULT_WATERMARK_EVERY,
                   help="with --enqueue-nats: a watermark message to every partition after this "
                   f"many events (default {DEFAULT_WATERMARK_EVERY}) ...")
    p.add_argument("--enqueue-watermark-interval", metavar="SPAN", type=event_time_span,
                   default=DEFAULT_WATERMARK_INTERVAL,
                   help="... or once the event time moved this far since the last one (default "
                   "1d): partitions that get no event still see time pass (docs/scale.md)")
    p.add_argument("--log-level", default="info",
                   choices=["critical", "error", "warning", "info", "debug"],
                   help="the level of uvicorn's logs and clauseline's (default info; the access "
                   "lines are info: warning and above drop them)")
    p.add_argument("--no-access-log", dest="access_log", action="store_false",
                   help="no access line per request (errors and warnings are still logged; the "
                   "latency histogram at /metrics still counts every request)")
    p.set_defaults(func=cmd_serve)
