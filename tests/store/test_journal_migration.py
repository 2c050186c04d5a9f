"""Revision 0008 compacts the journals of records stored before it (``clauseline.records.compact``):
the current values stay, the journals are bounded, and the store decides on as an in-memory
replay of the whole log does."""

from __future__ import annotations

import json

import sqlalchemy as sa

import clauseline.records as records
from clauseline.records import JOURNAL, current
from clauseline.session import Session
from clauseline.store import migrate, open_store, schema_version

from .logs import mixed_log


def _stored(engine) -> dict[str, tuple[dict, int]]:
    with engine.connect() as conn:
        return {sid: (json.loads(text), version) for sid, text, version in conn.execute(
            sa.text("select subject_id, record, version from subjects"))}


def _changes(record: dict) -> int:
    return sum(1 for e in record[JOURNAL] if e[0] != "")


def test_the_migration_compacts_stored_journals(policy, store_url, monkeypatch):
    from alembic import command
    from alembic.config import Config

    from clauseline.store import MIGRATIONS

    lines = mixed_log(400, subjects=3)
    cut = len(lines) * 2 // 3
    with monkeypatch.context() as before_0008:  # journals as they grew before compaction
        before_0008.setattr(records, "MOST", 10 ** 9)
        before_0008.setattr(records, "HORIZON", 10 ** 4)
        store = open_store(store_url)
        try:
            for _ in Session(policy, store).replay(lines[:cut], batch=50):
                pass
            config = Config()
            config.set_main_option("script_location", str(MIGRATIONS))
            with store.engine.begin() as conn:
                config.attributes["connection"] = conn
                command.downgrade(config, "0007")
            old = _stored(store.engine)
        finally:
            store.close()
    assert max(_changes(r) for r, _ in old.values()) > records.MOST

    store = open_store(store_url)
    try:
        assert schema_version(store.engine) == "0008"
        new = _stored(store.engine)
        assert new.keys() == old.keys()
        for sid, (record, version) in new.items():
            assert current(record) == current(old[sid][0]), sid
            assert _changes(record) <= records.MOST, sid
            assert version == old[sid][1] + (record != old[sid][0]), sid
        migrate(store.engine)  # again: nothing left to fold
        assert _stored(store.engine) == new
        # and the store goes on deciding as a replay of the whole log in memory does
        decided = [d.to_json() for _, d in Session(policy, store).replay(lines[cut:], batch=50)]
    finally:
        store.close()
    memory = Session(policy)
    for _ in memory.replay(lines[:cut]):
        pass
    assert decided == [d.to_json() for _, d in memory.replay(lines[cut:])]
