"""The stores of a partitioned stream: one clauseline store per partition.

A partition's store is an ordinary clauseline store (the same tables, migrations, hash-chained
decision log, idempotency index and locks) holding what its partition decided: the events it
evaluated with the decisions it made, its subjects' records and obligations. Given one
``--db`` URL, partition K's store is

- PostgreSQL: the schema ``PREFIX_pK`` of the URL's database, where PREFIX is the schema the URL
  selects (``?options=-csearch_path%3DPREFIX``) or ``clauseline``; the schema is created when
  missing. ``clauseline log export --db URL?options=-csearch_path%3Dclauseline_p3`` reads one.
- SQLite (for trying it out on one machine): the file ``NAME.pK.db`` beside ``NAME.db``.

``stream_positions`` (migration 0005) records in each store which partition of how many it
holds and the stream sequence applied, so that a consumer refuses a store partitioned otherwise.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import sqlalchemy as sa

from ..errors import ClauselineError, Problem
from ..store import StoreError, engine_url, open_store
from ..store.sql import SqlStore, classify, fault_error, retrying, shown_url

DEFAULT_PREFIX = "clauseline"
_SCHEMA = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,40}")
_SEARCH_PATH = re.compile(r"-c\s*search_path\s*=\s*([^\s,]+)")


def _postgres(url: str) -> bool:
    return url.strip().startswith(("postgresql://", "postgres://", "postgresql+psycopg://"))


def partition_url(base: str, partition: int) -> str:
    """The store URL of partition ``partition`` for the ``--db`` URL ``base`` (module doc)."""
    base = base.strip()
    if _postgres(base):
        parts = urlsplit(base)
        query = parse_qsl(parts.query, keep_blank_values=True)
        prefix, rest = DEFAULT_PREFIX, []
        for key, value in query:
            found = _SEARCH_PATH.search(value) if key == "options" else None
            if found:
                prefix = found.group(1).strip('"')
                value = _SEARCH_PATH.sub("", value).strip()
                if not value:
                    continue
            rest.append((key, value))
        if not _SCHEMA.fullmatch(prefix):
            raise StoreError(f"{shown_url(base)}: the schema it selects is not a plain name "
                             "(letters, digits and _, at most 41): partition schemas are named "
                             "after it")
        rest.append(("options", f"-csearch_path={prefix}_p{partition}"))
        return urlunsplit(parts._replace(query=urlencode(rest, quote_via=quote)))
    if base.startswith("sqlite:///") or base.endswith(".db"):
        head, _, tail = base.rpartition(".db") if base.endswith(".db") else (base, "", "")
        return f"{head}.p{partition}.db{tail}" if _ else f"{base}.p{partition}"
    engine_url(base)  # raises the store's own error for an unsupported URL
    return base


def schema_of(url: str) -> str | None:
    """The schema a PostgreSQL store URL selects (None for SQLite)."""
    if not _postgres(url):
        return None
    for key, value in parse_qsl(urlsplit(url.strip()).query):
        found = _SEARCH_PATH.search(value) if key == "options" else None
        if found:
            return found.group(1).strip('"')
    return None


def ensure_schema(url: str) -> None:
    """Create the PostgreSQL schema a partition URL selects, if missing (no-op for SQLite)."""
    schema = schema_of(url)
    if schema is None:
        return
    shown = shown_url(url)
    try:
        engine = sa.create_engine(engine_url(url), hide_parameters=True,
                                  poolclass=sa.pool.NullPool)
    except ImportError as error:
        # create_engine imports the driver: without it, open_store's own store.unavailable
        raise StoreError("the PostgreSQL store needs its driver, psycopg, which is not importable "
                         f"({error}): install clauseline with its postgres extra "
                         "(pip install '/path/to/clauseline[postgres]'), or the driver alone "
                         "(pip install 'psycopg[binary]>=3.1')") from None

    def attempt() -> None:
        try:
            with engine.begin() as conn:
                conn.execute(sa.text(f'create schema if not exists "{schema}"'))
        except sa.exc.IntegrityError:
            pass  # another consumer created it at the same moment
        except (sa.exc.DBAPIError, OSError) as error:
            raise fault_error(classify(getattr(error, "orig", None) or error), shown) from None

    try:
        retrying(attempt, shown)  # a server starting up is waited for, as open_store does
    finally:
        engine.dispose()


def open_partition(base: str, partition: int, partitions: int, stream: str) -> SqlStore:
    """Open (creating it if need be) partition ``partition``'s store, after checking that it
    holds that partition of ``partitions`` for ``stream`` (``stream.partitions_mismatch``)."""
    url = partition_url(base, partition)
    ensure_schema(url)
    store = open_store(url)
    try:
        held = store.stream_position(stream)
        if held is not None and held[:2] != (partition, partitions):
            raise ClauselineError([Problem(
                "stream.partitions_mismatch",
                f"{store.shown} holds partition {held[0]} of {held[1]} of stream {stream!r}, not "
                f"partition {partition} of {partitions}: re-partitioning needs new stores "
                "(docs/scale.md, 'Re-partitioning')")])
    except BaseException:
        store.close()
        raise
    return store


def applied_seq(store: SqlStore, stream: str) -> int:
    """The stream sequence this store has applied up to (0 when none)."""
    held = store.stream_position(stream)
    return held[2] if held is not None else 0


def record_position(store: SqlStore, stream: str, partition: int, partitions: int,
                    seq: int) -> None:
    """Write the applied stream sequence (after a committed batch; idempotent)."""
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    store.set_stream_position(stream, partition, partitions, seq, now)


__all__ = ["DEFAULT_PREFIX", "applied_seq", "ensure_schema", "open_partition",
           "partition_url", "record_position", "schema_of"]
