"""The store's tables, as SQLAlchemy Core metadata (the schema the migrations build).

The migrations under ``migrations/versions`` create and change these tables; this module is what
the code queries with. When you change a table here, add a migration (``alembic revision``, see
docs/storage.md) and keep the two in step: ``tests/store`` checks that they agree.

JSON documents are stored as canonical JSON text (sorted keys, no spaces) in ``Text`` columns:
the same bytes in SQLite and PostgreSQL, and the stored decision is byte-identical to the one
returned. Times are stored twice where they are queried: as given (RFC 3339) and as ``*_at``
columns normalised to UTC in a fixed-width form (``YYYY-MM-DDTHH:MM:SS.ffffffZ``) that sorts and
compares as text in both backends.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

#: A BIGINT key that is also SQLite's auto-incrementing rowid.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

#: Every accepted event, append-only, reduced (see redact.py). ``seq`` is the order of
#: acceptance; the unique (source, event_id) constraint is the idempotency index.
events = sa.Table(
    "events", metadata,
    sa.Column("seq", BigId, primary_key=True, autoincrement=True),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("event_id", sa.Text, nullable=False),
    sa.Column("type", sa.Text, nullable=False),
    sa.Column("subject", sa.Text, nullable=True),
    sa.Column("time", sa.Text, nullable=False),
    sa.Column("event", sa.Text, nullable=False),
    sa.UniqueConstraint("source", "event_id", name="uq_events_source_event_id"),
)
sa.Index("ix_events_subject_seq", events.c.subject, events.c.seq)

#: The decision of each accepted event (canonical JSON of ``Decision.as_dict()``, reduced).
decisions = sa.Table(
    "decisions", metadata,
    sa.Column("seq", BigId, sa.ForeignKey("events.seq", name="fk_decisions_events"),
              primary_key=True),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("policy_version", sa.Text, nullable=True),
    sa.Column("decision", sa.Text, nullable=False),
    # the decision log's hash chain (clauseline.chain): the content hash of the policy version
    # that decided, the hash of the record before, and this record's own hash
    sa.Column("policy_hash", sa.Text, nullable=True),
    sa.Column("prev_hash", sa.Text, nullable=True),
    sa.Column("hash", sa.Text, nullable=True),
    # the clauseline version that decided it (null for records stored before revision 0006)
    sa.Column("engine_version", sa.Text, nullable=True),
    # the decision's own id (clauseline.chain.decision_id of its event's source and id and its
    # policy version; revision 0007 filled it for older rows), and the id of the HTTP request
    # that stored it (X-Request-ID; null for a replay, a consumer, and rows stored before 0007)
    sa.Column("decision_id", sa.Text, nullable=True),
    sa.Column("request_id", sa.Text, nullable=True),
)
sa.Index("ix_decisions_decision_id", decisions.c.decision_id, unique=True)

#: One row per subject: its whole record (profile, obligations, remembered facts) as JSON, and
#: a version that every write increments (optimistic check against lost updates).
subjects = sa.Table(
    "subjects", metadata,
    sa.Column("subject_id", sa.Text, primary_key=True),
    sa.Column("record", sa.Text, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("last_seq", sa.BigInteger, nullable=True),
)

#: Open and extended obligations, mirrored from the subject records so they can be queried by
#: due time. A row disappears when its obligation is fulfilled or declined.
obligations = sa.Table(
    "obligations", metadata,
    sa.Column("subject_id", sa.Text, primary_key=True),
    sa.Column("ref", sa.Text, primary_key=True),
    sa.Column("obligation", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("due_by", sa.Text, nullable=True),
    sa.Column("due_at", sa.Text, nullable=True),
    sa.Column("opened_at", sa.Text, nullable=True),
    sa.Column("missed", sa.Boolean, nullable=False),
)
sa.Index("ix_obligations_missed_due_at", obligations.c.missed, obligations.c.due_at)
sa.Index("ix_obligations_due_at", obligations.c.due_at)

#: The generated HMAC key of a PostgreSQL store without CLAUSELINE_REDACTION_KEY (one row).
redaction_keys = sa.Table(
    "redaction_keys", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("key_hex", sa.Text, nullable=False),
)

#: API keys of the HTTP service (``clauseline keys``). Only a SHA-256 digest of each key is kept:
#: keys are 256-bit random tokens, so a fast digest is as strong as a password hash here, and it
#: is checked on every request. ``revoked_at`` is set by ``clauseline keys revoke``; a revoked key
#: stays listed.
api_keys = sa.Table(
    "api_keys", metadata,
    sa.Column("key_id", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("scopes", sa.Text, nullable=False),
    sa.Column("digest", sa.Text, nullable=False),
    sa.Column("created_at", sa.Text, nullable=False),
    sa.Column("revoked_at", sa.Text, nullable=True),
)

#: A store that holds one partition of a NATS JetStream stream (``clauseline consume``, see
#: docs/scale.md): which partition of how many (a consumer refuses a store partitioned otherwise)
#: and the stream sequence it has applied up to (written after each committed batch, so it may
#: lag the store by one batch: replaying from it only meets duplicates).
stream_positions = sa.Table(
    "stream_positions", metadata,
    sa.Column("stream", sa.Text, primary_key=True),
    sa.Column("partition", sa.Integer, nullable=False),
    sa.Column("partitions", sa.Integer, nullable=False),
    sa.Column("applied_seq", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.Text, nullable=False),
)
