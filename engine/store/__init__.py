"""Durable stores: SQLite (the embedded default) and PostgreSQL, chosen by URL.

``open_store(url)`` connects, runs the versioned migrations (Alembic, ``migrations/``) and returns
a :class:`SqlStore` that a :class:`clauseline.session.Session` uses. URL forms:

- ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db``, or a bare path ending in
  ``.db``, ``.sqlite`` or ``.sqlite3``: SQLite in WAL mode, one writer at a time.
- ``postgresql://user@host:port/dbname`` (also ``postgres://`` and ``postgresql+psycopg://``):
  PostgreSQL through psycopg 3; any number of writers, per-subject advisory locks.

See docs/storage.md for what is stored and how sensitive values are reduced, and for the faults:
every failure of a store is one :class:`StoreError` with a ``store.*`` code (docs/errors.md).
"""

from __future__ import annotations

import os
import re
import secrets
import sqlite3
import time
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event as sa_event

from ..redact import Redactor, quote
from .sql import (SqlStore, StoreError, classify, fault_error, guard, lock_key, retrying,
                  shown_url)
from .tables import redaction_keys

#: Environment variable holding the HMAC key (any text; 32+ random bytes recommended).
KEY_ENV = "CLAUSELINE_REDACTION_KEY"
MIGRATIONS = Path(__file__).parent / "migrations"
#: The tables of a clauseline store (a database that has one of them without ``alembic_version``
#: is not one, and clauseline does not build its own beside them).
OWN_TABLES = frozenset({"events", "decisions", "subjects", "obligations", "api_keys",
                        "redaction_keys", "documents", "stream_positions"})


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
        if "?" in url:
            # SQLAlchemy would pass some to sqlite3 and make a file named with the rest
            raise StoreError("a SQLite store URL takes no query parameters (?...): give the "
                             "file alone, sqlite:///path/to/file.db")
        return url
    if "://" not in url and re.search(r"\.(db|sqlite3?)$", url):
        return "sqlite:///" + url
    if "://" in url:  # only the scheme: the rest may hold a password
        scheme = url.split("://", 1)[0]
        plain = scheme.isascii() and scheme.isprintable() and len(scheme) < 30
        shown = f"'{scheme}://...'" if plain else "(a URL)"
    else:  # quoted only when short and safe (docs/errors.md): it may be anything
        shown = quote(url)
    raise StoreError(f"unsupported store URL {shown}: use sqlite:///file.db, a path ending in "
                     ".db, or postgresql://user@host/dbname")


def _sqlite_engine(url: str, shown: str) -> sa.Engine:
    path = Path(sa.make_url(url).database)
    engine = sa.create_engine(url, connect_args={"timeout": 60}, hide_parameters=True)
    guard(engine, shown, path)

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
        # a write takes the database's one write lock at once; a read (SqlStore marks its own)
        # reads a snapshot, does not wait for writers, and works on a read-only file
        read = conn.get_execution_options().get("clauseline_read", False)
        conn.exec_driver_sql("BEGIN" if read else "BEGIN IMMEDIATE")

    return engine


def _postgres_engine(url: str, shown: str) -> sa.Engine:
    # SQLAlchemy imports the DBAPI module in create_engine (not at the first connect): without
    # the postgres extra that is ModuleNotFoundError("No module named 'psycopg'"); an installed
    # psycopg that finds neither psycopg-binary nor libpq raises ImportError from its own import.
    try:
        engine = sa.create_engine(url, pool_size=2, max_overflow=8, hide_parameters=True)
    except ImportError as error:
        raise StoreError("the PostgreSQL store needs its driver, psycopg, which is not importable "
                         f"({error}): install clauseline with its postgres extra "
                         "(pip install '/path/to/clauseline[postgres]'), or the driver alone "
                         "(pip install 'psycopg[binary]>=3.1')") from None
    return guard(engine, shown)


#: The newest migration revision this clauseline ships (``migrations/versions``; the tests hold
#: it to Alembic's own head). A store already at it opens without loading Alembic at all.
HEAD_REVISION = "0008"


def _scripts():
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config)


def _revision_text(revision: object) -> str:
    text = str(revision)
    return repr(text) if re.fullmatch(r"[0-9A-Za-z_.-]{1,40}", text) else "(an unreadable revision)"


def check_revisions(heads, shown: str = "the store") -> None:
    """Raise ``store.unknown_revision`` unless the store's revisions (``alembic_version``) are
    one this clauseline ships: a store written by a newer clauseline (or another application's
    Alembic table in the same schema) is never "migrated"."""
    heads = [h for h in heads if h is not None]
    if heads == [HEAD_REVISION]:
        return  # the newest: known without reading the migration scripts
    known = {script.revision for script in _scripts().walk_revisions()}
    unknown = [h for h in heads if h not in known]
    if unknown or len(heads) > 1:
        named = ", ".join(_revision_text(h) for h in (unknown or heads))
        raise StoreError(
            f"{shown} is at schema revision {named}, which this clauseline does not know (its "
            f"newest is {head_revision()}): a newer clauseline wrote it, or another application "
            "keeps its own alembic_version there. Nothing was changed: use the clauseline that "
            "wrote it, or give this one a store of its own", code="store.unknown_revision")


def _not_clauseline(shown: str, tables) -> StoreError:
    return StoreError(
        f"{shown} is a database of something else: it has {len(tables)} table(s) but not "
        "clauseline's alembic_version, and clauseline does not add its tables to it. Nothing was "
        "changed: give a new file (SQLite) or a database or schema of its own (PostgreSQL, "
        "?options=-csearch_path%3Dclauseline)", code="store.not_clauseline")


def migrate(engine: sa.Engine, shown: str | None = None) -> None:
    """Bring the store's schema to the newest migration (a no-op when it is there already).

    PostgreSQL: under a transaction-scoped advisory lock (one per schema), so that several
    processes opening the same store at once migrate it once. SQLite: under BEGIN IMMEDIATE, to
    the same effect.
    Refused, before anything changes, with ``store.unknown_revision`` when the store is at a
    revision this clauseline does not ship, and with ``store.not_clauseline`` when it holds
    clauseline's table names (SQLite: any table) without ``alembic_version``.
    """
    if _at_head(engine):
        return  # nothing to migrate: Alembic (a tenth of a second to import) is not loaded
    if _made_at_head(engine):
        return  # a new store: its tables made as the migrations leave them, without Alembic
    from alembic import command
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext

    shown = shown or shown_url(engine.url.render_as_string(hide_password=True))
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        _lock_migrations(conn)
        tables = set(sa.inspect(conn).get_table_names())
        if "alembic_version" not in tables and (
                tables & OWN_TABLES if conn.dialect.name == "postgresql" else tables):
            raise _not_clauseline(shown, tables)
        check_revisions(MigrationContext.configure(conn).get_current_heads(), shown)
        config.attributes["connection"] = conn
        command.upgrade(config, "head")


def _lock_migrations(conn) -> None:
    """PostgreSQL: the transaction-scoped advisory lock of the connection's schema, one per
    schema (stores in other schemas of the database migrate on their own). SQLite's BEGIN
    IMMEDIATE is its lock already."""
    if conn.dialect.name == "postgresql":
        schema = conn.execute(sa.select(sa.func.current_schema())).scalar() or ""
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(lock_key(f"migrations:{schema}"))))


#: Alembic's own table, as ``alembic upgrade`` makes it (the name of its key included).
_VERSION_TABLE = sa.Table("alembic_version", sa.MetaData(),
                          sa.Column("version_num", sa.String(32), nullable=False),
                          sa.PrimaryKeyConstraint("version_num", name="alembic_version_pkc"))


def _made_at_head(engine: sa.Engine) -> bool:
    """Make the tables of a store that has none (a new SQLite file, a new PostgreSQL schema)
    as the migrations leave them, and record :data:`HEAD_REVISION`, in one transaction and under
    the migrations' lock: Alembic's way to start a database ("create_all, then stamp head"),
    without importing Alembic. False, changing nothing, when the store has a table already (the
    migrations then bring it up, or refuse it). ``tests/store`` holds the tables made this way
    to those the migrations make, column for column and index for index."""
    from .tables import metadata
    with engine.begin() as conn:
        _lock_migrations(conn)
        if sa.inspect(conn).get_table_names():
            return False
        metadata.create_all(conn)
        _VERSION_TABLE.create(conn)
        conn.execute(_VERSION_TABLE.insert().values(version_num=HEAD_REVISION))
    return True


def _at_head(engine: sa.Engine) -> bool:
    """Whether the store's ``alembic_version`` holds exactly :data:`HEAD_REVISION` (read
    without Alembic; a store without the table, or at any other revision, is not)."""
    with engine.connect().execution_options(clauseline_read=True) as conn:
        if not sa.inspect(conn).has_table("alembic_version"):
            return False
        versions = conn.execute(sa.text("select version_num from alembic_version")).scalars().all()
    return versions == [HEAD_REVISION]


def head_revision() -> str:
    """The newest migration revision this clauseline ships."""
    return HEAD_REVISION


def schema_version(engine: sa.Engine) -> str | None:
    """The migration revision the store is at."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def _inspect_sqlite_file(path: Path, shown: str) -> tuple[set[str], list[str]]:
    """(tables, alembic revisions) of an existing SQLite file, read without writing anything
    (before the connection of a store switches it to WAL): a file that is not a database, or
    is damaged where SQLite looks first, is ``store.corrupt``."""
    sides = [Path(f"{path}-wal"), Path(f"{path}-shm")]
    existed = [side.exists() for side in sides]
    conn = None
    try:
        conn = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True, timeout=60)
        tables = {r[0] for r in conn.execute("select name from sqlite_master where type = 'table'")}
        heads = ([r[0] for r in conn.execute("select version_num from alembic_version")]
                 if "alembic_version" in tables else [])
        return tables, heads
    except sqlite3.Error as error:
        fault = classify(error, path=path)
        if conn is not None:
            conn.close()
            conn = None
        if fault.code == "store.corrupt":
            # a header that says WAL made SQLite create the -wal and -shm files to read it: the
            # damaged file is left as it was found
            for side, was in zip(sides, existed):
                if not was and side.exists() and (side.name.endswith("-shm")
                                                  or side.stat().st_size == 0):
                    side.unlink(missing_ok=True)
        raise fault_error(fault, shown) from None
    finally:
        if conn is not None:
            conn.close()


def _redaction_key(engine: sa.Engine, url: str, create: bool = True) -> bytes:
    """The HMAC key: $CLAUSELINE_REDACTION_KEY, else one generated once per store (a file
    ``DB.key`` next to a SQLite database, mode 0600; a row of ``redaction_keys`` in PostgreSQL).
    Without ``create`` (a command that only reads, and writes no reduced value) a store that has
    no key yet gets none: a key of this process alone stands in, and nothing is written."""
    given = os.environ.get(KEY_ENV)
    if given:
        return given.encode()
    if engine.dialect.name == "sqlite":
        path = Path(sa.make_url(url).database + ".key")
        if not create and not path.exists():
            return secrets.token_hex(32).encode()
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            try:
                with os.fdopen(fd, "w") as handle:
                    handle.write(secrets.token_hex(32) + "\n")
                    handle.flush()
                    os.fsync(handle.fileno())
            except OSError:
                path.unlink(missing_ok=True)  # no half-written key: the next open makes one
                raise
        for _ in range(100):  # another process may be writing it right now
            text = path.read_text().strip()
            if text:
                return text.encode()
            time.sleep(0.01)
        raise StoreError(f"the redaction key file {path} is empty; delete it or set {KEY_ENV}")
    from sqlalchemy.dialects.postgresql import insert
    with engine.begin() as conn:
        if not create:
            found = conn.execute(sa.select(redaction_keys.c.key_hex)
                                 .where(redaction_keys.c.id == 1)).scalar()
            return (found or secrets.token_hex(32)).encode()
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
    leaves nothing behind: no file, no folder, no key file, no table.

    Every failure is one :class:`StoreError` (docs/errors.md): a transient one (the server does
    not answer yet) after :data:`clauseline.store.sql.ATTEMPTS` attempts with backoff. A file
    that is not a SQLite database (``store.corrupt``), a database of something else
    (``store.not_clauseline``) and a store of a newer clauseline (``store.unknown_revision``)
    are refused before anything is written to them."""
    target = engine_url(url)
    shown = shown_url(url)
    sqlite = target.startswith("sqlite")
    current = False  # known to be at the newest revision already (nothing to migrate)
    if sqlite:
        path = Path(sa.make_url(target).database)
        try:
            exists = path.is_file() and path.stat().st_size > 0
        except OSError as error:
            raise fault_error(classify(error), shown) from None
        if path.is_dir():
            raise StoreError(f"{shown} is a folder; give a file in it, e.g. "
                             f"{shown.rstrip('/')}/clauseline.db")
        if exists:
            tables, heads = _inspect_sqlite_file(path, shown)
            if "alembic_version" not in tables and tables:
                raise _not_clauseline(shown, tables)
            check_revisions(heads, shown)
            if not create and "alembic_version" not in tables:
                raise _not_found(shown)
            current = heads == [head_revision()]
        elif not create:
            raise _not_found(shown)
        else:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise fault_error(classify(error), shown) from None
        engine = _sqlite_engine(target, shown)
    else:
        engine = _postgres_engine(target, shown)

    def attempt() -> bytes:
        if not create and not sqlite:
            tables = set(sa.inspect(engine).get_table_names())
            if "alembic_version" not in tables:
                raise _not_clauseline(shown, tables) if tables & OWN_TABLES else _not_found(shown)
        if create or not current:  # a reading command on a current store writes nothing
            migrate(engine, shown)
        return _redaction_key(engine, target, create)

    try:
        key = retrying(attempt, shown)
    except BaseException:
        engine.dispose()
        raise
    return SqlStore(engine, Redactor(key), url)


__all__ = ["KEY_ENV", "Redactor", "SqlStore", "StoreError", "check_revisions", "engine_url",
           "head_revision", "migrate", "open_store", "schema_version"]
