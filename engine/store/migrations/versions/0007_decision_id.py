"""Add ``decisions.decision_id`` (unique, indexed) and ``decisions.request_id``.

``decision_id`` is the decision's own id, :func:`clauseline.chain.decision_id` of the event's
source and id and the policy version that decided it: derived, so records stored before this
revision get theirs here, from the stored ``events.source``, ``events.event_id`` and
``decisions.policy_version`` (the same values the stored decision names). ``request_id`` is the
HTTP request that stored the decision (``X-Request-ID``); it was never recorded before, so older
rows keep it null, as do rows stored by a replay or a stream consumer. Neither is part of the
hash chain: the chained records, and their hashes, are as they were.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from alembic import op
import sqlalchemy as sa

from clauseline.chain import decision_id

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

#: Rows updated per statement while the ids of older rows are filled in.
CHUNK = 1000


def upgrade() -> None:
    op.add_column("decisions", sa.Column("decision_id", sa.Text, nullable=True))
    op.add_column("decisions", sa.Column("request_id", sa.Text, nullable=True))
    conn = op.get_bind()
    rows = conn.execute(sa.text(
        "select d.seq, e.source, e.event_id, d.policy_version from decisions d "
        "join events e on e.seq = d.seq order by d.seq")).fetchall()
    update = sa.text("update decisions set decision_id = :id where seq = :seq")
    for start in range(0, len(rows), CHUNK):
        conn.execute(update, [{"id": decision_id(source, event_id, version), "seq": seq}
                              for seq, source, event_id, version in rows[start:start + CHUNK]])
    op.create_index("ix_decisions_decision_id", "decisions", ["decision_id"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_decisions_decision_id", table_name="decisions")
    with op.batch_alter_table("decisions") as batch:
        batch.drop_column("request_id")
        batch.drop_column("decision_id")
