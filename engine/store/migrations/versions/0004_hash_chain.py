"""Add the decision log's hash chain to ``decisions``: ``policy_hash``, ``prev_hash``, ``hash``.

Records stored before this revision are chained here, in ``seq`` order, with ``policy_hash``
null (the policy that decided them was not recorded).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

import json

from alembic import op
import sqlalchemy as sa

from clauseline.chain import GENESIS, link

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for name in ("policy_hash", "prev_hash", "hash"):
        op.add_column("decisions", sa.Column(name, sa.Text, nullable=True))
    conn = op.get_bind()
    rows = conn.execute(sa.text(
        "select e.seq, e.event, d.decision from events e join decisions d on d.seq = e.seq "
        "order by e.seq")).fetchall()
    prev = GENESIS
    for seq, event, decision in rows:
        record = link(seq, json.loads(event), json.loads(decision), None, prev)
        conn.execute(sa.text("update decisions set prev_hash = :prev, hash = :hash where seq = :seq"),
                     {"prev": prev, "hash": record["hash"], "seq": seq})
        prev = record["hash"]


def downgrade() -> None:
    with op.batch_alter_table("decisions") as batch:
        for name in ("hash", "prev_hash", "policy_hash"):
            batch.drop_column(name)
