"""Running the app on uvicorn: ``clauseline serve`` (see ``clauseline serve --help``)."""

from __future__ import annotations

import copy
import os
import shlex
import signal
import sys
import tempfile

from ..store import engine_url, open_store
from .keys import has_keys
from .settings import Settings

#: uvicorn's own logs as plain lines; clauseline's access and error logs are JSON objects, one
#: per line, already formatted. uvicorn's access log is off: it prints raw paths, which carry
#: subject ids. :func:`log_config` sets the levels ``serve`` is given.
LOG_CONFIG = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(message)s"},
                   "uvicorn": {"format": "%(levelname)s uvicorn: %(message)s"}},
    "handlers": {"json": {"class": "logging.StreamHandler", "formatter": "plain",
                          "stream": "ext://sys.stderr"},
                 "uvicorn": {"class": "logging.StreamHandler", "formatter": "uvicorn",
                             "stream": "ext://sys.stderr"}},
    "loggers": {"clauseline": {"handlers": ["json"], "level": "INFO", "propagate": False},
                "uvicorn": {"handlers": ["uvicorn"], "level": "INFO", "propagate": False},
                "uvicorn.error": {"level": "INFO"}},
}


def log_config(level: str = "info", access_log: bool = True) -> dict:
    """:data:`LOG_CONFIG` at ``--log-level`` ``level``, for uvicorn's loggers and clauseline's
    alike (the access lines are INFO: ``warning`` drops them with the rest of INFO);
    ``access_log=False`` (``--no-access-log``) drops the access lines alone. A line not written
    is not formatted either (``clauseline.service.observability``)."""
    config = copy.deepcopy(LOG_CONFIG)
    config["loggers"]["clauseline"]["level"] = level.upper()
    if not access_log:
        config["loggers"]["clauseline.access"] = {"level": "WARNING"}
    return config


class ServeError(Exception):
    """A configuration ``serve`` refuses before starting (exit code 2)."""


class StoppedStarting(BaseException):
    """SIGTERM arrived while ``serve`` was starting (opening the store, loading the rules),
    before uvicorn took the signal over: the start-up stops there (a BaseException, as
    ``KeyboardInterrupt`` is, so that no ``except Exception`` on the way swallows it)."""


#: the SIGTERM that arrived while starting, if any. The handler also raises, but an exception
#: raised in a signal handler is lost where the interrupted code was a callback whose errors
#: are ignored (a weakref or GC callback, as SQLAlchemy's): the start-up checks this too
_stopped: list[int] = []


def _stop_starting(signum, frame) -> None:
    _stopped.append(signum)
    raise StoppedStarting(signum)


def _unraisable(hook):
    """``sys.unraisablehook`` while starting: a :class:`StoppedStarting` lost in a callback is
    not printed as a traceback (the start-up stops on its record all the same); anything else
    goes to ``hook``."""
    def quiet(unraisable) -> None:
        if not isinstance(unraisable.exc_value, StoppedStarting):
            hook(unraisable)
    return quiet


def _stop_if_stopped() -> None:
    """Raise :class:`StoppedStarting` if a SIGTERM arrived whose handler's raise was lost."""
    if _stopped:
        raise StoppedStarting(_stopped[0])


def check(settings: Settings, workers: int) -> str:
    """Refuse what would corrupt or expose anything; return the store's dialect."""
    target = engine_url(settings.db)
    dialect = "sqlite" if target.startswith("sqlite") else "postgresql"
    if workers < 1:
        raise ServeError("--workers must be at least 1")
    if workers > 1 and dialect == "sqlite":
        raise ServeError(f"--workers {workers} needs PostgreSQL (--db postgresql://...): the "
                         "SQLite store is for one process, and several worker processes would "
                         "contend for its single writer lock. Use --workers 1 with SQLite.")
    return dialect


def serve(settings: Settings, *, host: str, port: int, workers: int, log_level: str = "info",
          access_log: bool = True) -> int:
    """Check the settings, open (and migrate) the store once, then run uvicorn until stopped."""
    # SIGTERM stops the start-up at once, wherever it is (uvicorn answers it once it runs)
    signal.signal(signal.SIGTERM, _stop_starting)
    sys.unraisablehook = _unraisable(sys.unraisablehook)
    import uvicorn

    check(settings, workers)
    store = open_store(settings.db)  # a StoreError here is reported by the CLI, before binding
    try:
        keys_exist = has_keys(store)
        shown = store.shown  # the one URL formatter: no password (clauseline.redact.shown_url)
    finally:
        store.close()
    if not settings.auth:
        print("\n".join(["", "*" * 78,
                         "*  WARNING: --insecure-no-auth: NO API KEYS ARE CHECKED.",
                         "*  Anyone who can reach this port can post events and read decisions",
                         "*  about people in custody and their families. Use it only on a closed",
                         "*  test network; create keys with clauseline keys create.",
                         "*" * 78, ""]), file=sys.stderr)
    elif not keys_exist:
        hidden = " (the --db URL given to serve; its password is not printed)" if "***" in shown \
            else ""
        print(f"clauseline serve: the store {shown} has no API key yet: every request to /v1 "
              "will answer 401 until one is created with\n"
              f"  clauseline keys create --db {shlex.quote(shown)} --name NAME --scope "
              f"events:write{hidden}", file=sys.stderr)
    print(f"clauseline serve: store {shown}, {workers} worker(s), http://{host}:{port}/v1 "
          f"(OpenAPI at /docs)", file=sys.stderr)
    if workers == 1:
        from ..process import settle
        from .app import create_app
        app = create_app(settings)  # the rules load here, SIGTERM still stopping the start-up
        settle()  # full collections walk only what is made from now on
    _stop_if_stopped()
    # uvicorn's httptools protocol, but a request that is not well-formed HTTP is answered as
    # problem details like every other error (service/protocol.py), not as text/plain
    from .protocol import ProblemHttpToolsProtocol
    common = dict(host=host, port=port, loop="uvloop", http=ProblemHttpToolsProtocol,
                  log_config=log_config(log_level, access_log),
                  log_level=log_level, access_log=False, proxy_headers=False,
                  server_header=False)
    if workers == 1:
        server = uvicorn.Server(uvicorn.Config(app, **common))

        def stopping(signum, frame) -> None:
            # uvicorn shuts down gracefully on SIGTERM, then raises the signal again once this
            # handler is back: nothing more to do then (a SIGTERM stop exits 0, as a Ctrl-C stop
            # does). One that arrives before uvicorn took the signal over stops the start-up.
            if not server.should_exit:
                server.should_exit = True  # should the raise be lost, uvicorn stops at once
                _stop_starting(signum, frame)

        signal.signal(signal.SIGTERM, stopping)
        _stop_if_stopped()
        try:
            server.run()
        except KeyboardInterrupt:  # as uvicorn.run does
            pass
        if not server.started:  # it could not start (the port taken): as uvicorn.run exits
            from uvicorn.config import STARTUP_FAILURE
            sys.exit(STARTUP_FAILURE)
        return 0
    # several workers: uvicorn's supervisor answers SIGTERM, then raises it again once stopped;
    # a no-op handler makes that stop exit 0, as a Ctrl-C stop does
    signal.signal(signal.SIGTERM, lambda *_: None)
    _stop_if_stopped()
    os.environ.update(settings.to_env())
    metrics_dir = tempfile.mkdtemp(prefix="clauseline-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    try:
        uvicorn.run("clauseline.service.app:app_from_env", factory=True, workers=workers, **common)
    finally:
        import shutil
        shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0
