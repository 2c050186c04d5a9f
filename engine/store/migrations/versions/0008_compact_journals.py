"""Compact the journals of the subject records already stored.

A record's journal keeps its changes back to a horizon and, within it, a bounded number of them
(:func:`clauseline.records.compact`; docs/decisions.md, "How far back memory is kept"); what is
older is folded into the record's base values. Records written before this revision hold every
change they ever had: each is compacted here as the next change to it would compact it, and
stored again (its ``version`` incremented, as by any write) when that folded something. The
current values, the obligations and everything else of the store are as they were. A
downgrade leaves the records compacted: the revision before reads them as it reads a record
stored before the journal existed, whose base values count as written before any event.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

import json

from alembic import op
import sqlalchemy as sa

from clauseline import canonical
from clauseline.records import compact

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

#: Records read (and those changed, written) per statement.
CHUNK = 500


def upgrade() -> None:
    conn = op.get_bind()
    read = sa.text("select subject_id, record, version from subjects where subject_id > :after "
                   "order by subject_id limit :limit")
    write = sa.text("update subjects set record = :record, version = :new "
                    "where subject_id = :sid and version = :old")
    after = ""
    while True:
        rows = conn.execute(read, {"after": after, "limit": CHUNK}).fetchall()
        if not rows:
            break
        changed = []
        for sid, text, version in rows:
            record = json.loads(text)
            if isinstance(record, dict) and isinstance(record.get("_journal"), list):
                before = list(record["_journal"])
                compact(record)
                if record["_journal"] != before:
                    changed.append({"sid": sid, "record": canonical.dumps(record),
                                    "old": version, "new": version + 1})
        if changed:
            conn.execute(write, changed)
        after = rows[-1][0]


def downgrade() -> None:
    pass  # folded changes cannot be told apart again; the records stay valid (module doc)
