"""The initial store: events, decisions, subjects, obligations, documents, redaction keys.

Revision ID: 0001
Revises:
Create Date: 2026-05-09
"""

from alembic import op
import sqlalchemy as sa

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("seq", BigId, primary_key=True, autoincrement=True),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("event_id", sa.Text, nullable=False),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("subject", sa.Text, nullable=True),
        sa.Column("time", sa.Text, nullable=False),
        sa.Column("event", sa.Text, nullable=False),
        sa.UniqueConstraint("source", "event_id", name="uq_events_source_event_id"),
    )
    op.create_index("ix_events_subject_seq", "events", ["subject", "seq"])
    op.create_table(
        "decisions",
        sa.Column("seq", BigId, sa.ForeignKey("events.seq", name="fk_decisions_events"),
                  primary_key=True),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("policy_version", sa.Text, nullable=True),
        sa.Column("decision", sa.Text, nullable=False),
    )
    op.create_table(
        "subjects",
        sa.Column("subject_id", sa.Text, primary_key=True),
        sa.Column("record", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("last_seq", sa.BigInteger, nullable=True),
    )
    op.create_table(
        "obligations",
        sa.Column("subject_id", sa.Text, primary_key=True),
        sa.Column("ref", sa.Text, primary_key=True),
        sa.Column("obligation", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("due_by", sa.Text, nullable=True),
        sa.Column("due_at", sa.Text, nullable=True),
        sa.Column("opened_at", sa.Text, nullable=True),
        sa.Column("missed", sa.Boolean, nullable=False),
    )
    op.create_index("ix_obligations_missed_due_at", "obligations", ["missed", "due_at"])
    op.create_index("ix_obligations_due_at", "obligations", ["due_at"])
    op.create_table(
        "documents",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("document", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_table(
        "redaction_keys",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("key_hex", sa.Text, nullable=False),
    )


def downgrade() -> None:
    for name in ("redaction_keys", "documents", "obligations", "subjects", "decisions", "events"):
        op.drop_table(name)
