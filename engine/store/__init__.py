"""Durable stores: SQLite (the embedded default) and PostgreSQL, chosen by URL.

``open_store(url)`` connects, runs the versioned migrations (Alembic, ``migrations/``) and returns
a :class:`SqlStore` that a :class:`clauseline.session.Session` uses. URL forms:

- ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db``, or a bare path ending in
  ``.db``, ``.sqlite`` or ``.sqlite3``: SQLite in WAL mode, one writer at a time.
- ``postgresql://user@host:port/dbname`` (also ``postgres://`` and ``postgresql+psycopg://``):
  PostgreSQL through psycopg 3; any number of writers, per-subject advisory locks.

See docs/storage.md for what is stored and how sensitive values are reduced.
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event as sa_event

from ..errors import ClauselineError, Problem
from ..redact import Redactor
from .sql import SqlStore, lock_key
from .tables import redaction_keys

#: Environment variable holding the HMAC key (any text; 32+ random bytes recommended).
KEY_ENV = "CLAUSELINE_REDACTION_KEY"
MIGRATIONS = Path(__file__).parent / "migrations"
_MIGRATION_LOCK = lock_key("migrations")


class StoreError(ClauselineError):
    """A store that cannot be opened or used (code ``store.unavailable``), or, for a command
    that only reads, a URL that names no existing store (``store.not_found``)."""

    def __init__(self, message: str, code: str = "store.unavailable"):
        super().__init__([Problem(code, message)])


def engine_url(url: str) -> str:
    """The SQLAlchemy URL for a clauseline store URL (see the module's doc)."""
    if not isinstance(url, str) or not url.strip():
        raise StoreError("an empty store URL; use sqlite:///file.db or postgresql://...")
    url = url.strip()
    if url.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
        target = "postgresql+psycopg://" + url.split("://", 1)[1]
        try:
            database = sa.make_url(target).database
        except (sa.exc.ArgumentError, ValueError):
            raise StoreError("a malformed PostgreSQL URL; write postgresql://user@host:port/dbname "
                             "(percent-encode special characters of the password)") from None
        if not database:
            # libpq would pick a default database (the user's name) and tables would be made there
            raise StoreError("the PostgreSQL URL names no database: write "
                             "postgresql://user@host:port/dbname")
        return target
    if url.startswith("sqlite:///"):
        if url in ("sqlite:///", "sqlite:///:memory:"):
            raise StoreError("an in-memory SQLite store keeps nothing; give a file "
                             "(sqlite:///clauseline.db) or omit --db")
        return url
    if "://" not in url and re.search(r"\.(db|sqlite3?)$", url):
        return "sqlite:///" + url
    raise StoreError(f"unsupported store URL {url!r}: use sqlite:///file.db, a path ending in .db, "
                     "or postgresql://user@host/dbname")


def _sqlite_engine(url: str) -> sa.Engine:
    path = sa.make_url(url).database
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, connect_args={"timeout": 60})

    @sa_event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record):
        # Take transaction control from the sqlite3 module so that BEGIN IMMEDIATE is ours.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.close()

    @sa_event.listens_for(engine, "begin")
    def _begin(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _postgres_engine(url: str) -> sa.Engine:
    # SQLAlchemy imports the DBAPI module in create_engine (not at the first connect): without
    # the postgres extra that is ModuleNotFoundError("No module named 'psycopg'"); an installed
    # psycopg that finds neither psycopg-binary nor libpq raises ImportError from its own import.
    try:
        return sa.create_engine(url, pool_size=2, max_overflow=8)
    except ImportError as error:
        raise StoreError("the PostgreSQL store needs its driver, psycopg, which is not importable "
                         f"({error}): install clauseline with its postgres extra "
                         "(pip install '/path/to/clauseline[postgres]'), or the driver alone "
                         "(pip install 'psycopg[binary]>=3.1')") from None


def migrate(engine: sa.Engine) -> None:
    """Bring the store's schema to the newest migration (a no-op when it is there already).

    PostgreSQL: under a transaction-scoped advisory lock, so that several processes opening the
    same database at once migrate it once. SQLite: under BEGIN IMMEDIATE, to the same effect.
    """
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_MIGRATION_LOCK)))
        config.attributes["connection"] = conn
        command.upgrade(config, "head")


def head_revision() -> str:
    """The newest migration revision this clauseline ships."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config).get_current_head()


def schema_version(engine: sa.Engine) -> str | None:
    """The migration revision the store is at."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def _redaction_key(engine: sa.Engine, url: str) -> bytes:
    """The HMAC key: $CLAUSELINE_REDACTION_KEY, else one generated once per store (a file
    ``DB.key`` next to a SQLite database, mode 0600; a row of ``redaction_keys`` in PostgreSQL)."""
    given = os.environ.get(KEY_ENV)
    if given:
        return given.encode()
    if engine.dialect.name == "sqlite":
        path = Path(sa.make_url(url).database + ".key")
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_hex(32) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
        for _ in range(100):  # another process may be writing it right now
            text = path.read_text().strip()
            if text:
                return text.encode()
            import time
            time.sleep(0.01)
        raise StoreError(f"the redaction key file {path} is empty; delete it or set {KEY_ENV}")
    from sqlalchemy.dialects.postgresql import insert
    with engine.begin() as conn:
        conn.execute(insert(redaction_keys).values(id=1, key_hex=secrets.token_hex(32))
                     .on_conflict_do_nothing(index_elements=["id"]))
        return conn.execute(sa.select(redaction_keys.c.key_hex)
                            .where(redaction_keys.c.id == 1)).scalar_one().encode()


def _not_found(url: str) -> StoreError:
    return StoreError(f"no clauseline store at {url}: check the URL, or create one with "
                      f"clauseline db init --db {url} (or any command that writes, such as "
                      "replay --db)", code="store.not_found")


def open_store(url: str, create: bool = True) -> SqlStore:
    """Open the store at ``url``, migrating it to the newest schema. With ``create`` (commands
    that write) a store that does not exist yet is created; without it (commands that only
    read) a URL naming no existing store raises :class:`StoreError` ``store.not_found`` and
    leaves nothing behind: no file, no folder, no key file, no table."""
    target = engine_url(url)
    shown = sa.make_url(target).render_as_string(hide_password=True)
    if url.strip().startswith(("postgres://", "postgresql://")):  # as the user wrote it
        shown = url.strip().split("://", 1)[0] + "://" + shown.split("://", 1)[1]
    if not create and target.startswith("sqlite"):
        path = Path(sa.make_url(target).database)
        if not path.is_file() or path.stat().st_size == 0:
            raise _not_found(shown)
    engine = _sqlite_engine(target) if target.startswith("sqlite") else _postgres_engine(target)
    try:
        if not create and not sa.inspect(engine).has_table("alembic_version"):
            engine.dispose()
            raise _not_found(shown)
        migrate(engine)
        key = _redaction_key(engine, target)
    except sa.exc.OperationalError as error:
        engine.dispose()
        raise StoreError(f"cannot open the store {shown}: {error.orig}") from error
    return SqlStore(engine, Redactor(key), url)


__all__ = ["KEY_ENV", "Redactor", "SqlStore", "StoreError", "engine_url", "head_revision", "migrate",
           "open_store", "schema_version"]
