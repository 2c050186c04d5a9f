"""The HTTP service: FastAPI over a durable store, for integrators (``clauseline serve``).

The app is composed from routers (``routers/``) and dependencies (``dependencies.py``): the
policy, the store and the settings are provided through dependencies that tests and embedders
override with ``app.dependency_overrides``. It holds no policy logic: every event goes through
the same :class:`clauseline.session.Session` as ``clauseline replay``.

    from clauseline.service import Settings, create_app
    app = create_app(Settings(db="sqlite:///clauseline.db"))

See docs/service.md for the endpoints, content modes, errors, keys and logs.
"""

from .settings import Settings


def __getattr__(name: str):
    # FastAPI is imported when the app is asked for, not by every ``clauseline`` command that
    # reads the service's settings (its --help, keys)
    if name == "create_app":
        from .app import create_app
        return create_app
    raise AttributeError(f"module 'clauseline.service' has no attribute {name!r}")


__all__ = ["Settings", "create_app"]
