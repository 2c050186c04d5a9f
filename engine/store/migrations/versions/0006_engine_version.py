"""Add ``decisions.engine_version``: the clauseline version that decided each record of the
decision log (its chained record names it, ``clauseline.chain``).

Records stored before this revision keep it null: the engine that decided them was not
recorded, and their chain records, exported without the key, hash as they were written.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from alembic import op
import sqlalchemy as sa

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("decisions", sa.Column("engine_version", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("decisions") as batch:
        batch.drop_column("engine_version")
