"""The floor of the HTTP row of `make bench`: a minimal FastAPI endpoint on `clauseline serve`'s
own uvicorn stack.

Run: `.venv/bin/python bench/minimal_app.py --port N [--db sqlite:///...]`. `POST /v1/events`
is an `async def` that parses the JSON body and answers 201 with a one-field JSON object;
`GET /healthz` answers 200 (only so that the benchmark knows it is up). Issue 23 measures what
clauseline's HTTP path adds per event against the CPU per request of this app, posted the same
bodies by the same load generator.

"The same uvicorn stack" is made true by construction rather than by copying options: this
process runs `clauseline.service.server.serve` itself, one worker, with the app factory
swapped for the minimal one, so the event loop, the HTTP protocol class, the log
configuration and every uvicorn option are whatever `clauseline serve` uses today, and follow
it when it changes. `serve` opens the store once before starting (to check it and find its
keys), hence `--db`: a throwaway SQLite file the app never touches.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import Response


def minimal_app() -> FastAPI:
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @app.post("/v1/events")
    async def post_event(request: Request) -> Response:
        json.loads(await request.body())
        return Response(b'{"status":"accepted"}', status_code=201, media_type="application/json")

    @app.get("/healthz")
    async def healthz() -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--db", help="the store serve opens before starting (default: a temporary "
                        "SQLite file)")
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)

    from clauseline.service import app as service_app
    from clauseline.service import server
    from clauseline.service.settings import Settings

    folder = None
    if args.db is None:
        folder = tempfile.TemporaryDirectory(prefix="clauseline-minimal-")
        args.db = f"sqlite:///{Path(folder.name) / 'unused.db'}"
    swapped = lambda settings=None, **_: minimal_app()  # noqa: E731 - serve's factory, swapped
    service_app.create_app = swapped
    if hasattr(server, "create_app"):  # should serve import the factory at module level one day
        server.create_app = swapped
    try:
        return server.serve(Settings(db=args.db, auth=False), host=args.host, port=args.port,
                            workers=1, log_level=args.log_level)
    finally:
        if folder is not None:
            folder.cleanup()


if __name__ == "__main__":
    sys.exit(main())
