"""The tamper-evident decision log, as an auditor uses it: the store chains every accepted event
and its decision (SHA-256 over canonical JSON, with the content hash of the policy version that
decided it), ``clauseline log export`` writes the chain, ``clauseline verify`` checks it and names
the first record that was changed, deleted, inserted or moved; on SQLite and PostgreSQL, with
concurrent writers too."""

from __future__ import annotations

import json
import threading

import sqlalchemy as sa

from clauseline.chain import GENESIS, record_hash, verify
from clauseline.session import Session
from clauseline.store import migrate, open_store, schema_version

from .logs import mixed_log
from .test_store import cli


def filled(policy, url, lines):
    store = open_store(url)
    for _ in Session(policy, store).replay(lines):
        pass
    return store


def export(capsys, url, tmp_path) -> tuple[list[str], str]:
    out = tmp_path / "log.jsonl"
    code, _, err = cli(capsys, "log", "export", "--db", url, "--out", str(out))
    assert code == 0, err
    head = err.split("head ")[1].split()[0]
    return out.read_text(encoding="utf-8").splitlines(), head


def check(capsys, tmp_path, lines, *extra) -> tuple[int, str]:
    path = tmp_path / "checked.jsonl"
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    code, out, err = cli(capsys, "verify", str(path), *extra)
    return code, out + err


def test_the_exported_log_is_a_chain_of_every_accepted_event(policy, store_url, tmp_path, capsys):
    lines = mixed_log(60, subjects=8)
    store = filled(policy, store_url, lines + lines[:3])  # three duplicates: not new records
    try:
        accepted = [d for d in store.decisions()]
    finally:
        store.close()
    exported, head = export(capsys, store_url, tmp_path)
    records = [json.loads(line) for line in exported]
    assert len(records) == len(accepted) and [r["decision"] for r in records] == [
        json.loads(d) for _, _, d in accepted]
    assert records[0]["prev"] == GENESIS and records[-1]["hash"] == head
    assert all(r["prev"] == p["hash"] for p, r in zip(records, records[1:]))
    assert all(r["hash"] == record_hash(r) for r in records)
    (version,) = policy.versions
    assert {r["policy_hash"] for r in records} == {version.content_hash}
    assert len(version.content_hash) == 64
    code, text = check(capsys, tmp_path, exported, "--head", head)
    assert code == 0 and f"chain intact: {len(records)} record(s), head {head}" in text


def test_each_kind_of_tampering_is_found_at_its_record(policy, tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'chain.db'}"
    filled(policy, url, mixed_log(20, subjects=4)).close()
    exported, head = export(capsys, url, tmp_path)
    k = 7  # the 8th record, line 8

    changed = json.loads(exported[k])
    changed["decision"]["status"] = "duplicate"
    cases = {
        "changed": (exported[:k] + [json.dumps(changed)] + exported[k + 1:], k + 1, "was changed"),
        "deleted": (exported[:k] + exported[k + 1:], k + 1, "deleted, inserted or moved"),
        "moved": (exported[:k] + [exported[k + 1], exported[k]] + exported[k + 2:], k + 1,
                  "deleted, inserted or moved"),
        "inserted": (exported[:k] + [exported[3]] + exported[k:], k + 1, "deleted, inserted or moved"),
        "not a record": (exported[:k] + ['{"seq": 1}'] + exported[k + 1:], k + 1, "not a log record"),
    }
    for name, (lines, line, why) in cases.items():
        code, text = check(capsys, tmp_path, lines)
        assert code == 1, name
        assert f"chain broken at line {line}" in text and why in text, (name, text)
    # a record cut from the end leaves a valid chain: the head the auditor kept tells
    assert check(capsys, tmp_path, exported[:-1])[0] == 0
    code, text = check(capsys, tmp_path, exported[:-1], "--head", head)
    assert code == 1 and "not at the expected head" in text
    # a changed record whose hash was recomputed breaks the next record's prev
    forged = dict(changed)
    forged["hash"] = record_hash(forged)
    code, text = check(capsys, tmp_path, exported[:k] + [json.dumps(forged)] + exported[k + 1:])
    assert code == 1 and f"chain broken at line {k + 2}" in text
    assert cli(capsys, "verify", str(tmp_path / "missing.jsonl"))[0] == 2


def test_a_row_changed_in_the_database_is_found_in_the_export(policy, store_url, tmp_path, capsys):
    store = filled(policy, store_url, mixed_log(12, subjects=3))
    try:
        seq = [r["seq"] for r in store.log()][4]
        with store.engine.begin() as conn:
            conn.execute(sa.text("update decisions set decision = replace(decision, 'accepted', "
                                 "'rejected') where seq = :seq"), {"seq": seq})
    finally:
        store.close()
    exported, _ = export(capsys, store_url, tmp_path)
    verdict = verify(exported)
    assert not verdict.ok and verdict.seq == seq and verdict.line == 5


def test_concurrent_writers_append_one_chain(policy, store_url, tmp_path, capsys):
    lines = mixed_log(80, subjects=16)
    store = open_store(store_url)
    try:
        by_subject: dict[str, list[str]] = {}
        for line in lines:
            by_subject.setdefault(json.loads(line).get("subject") or "*", []).append(line)
        parts = [[], [], [], []]
        for i, subject_lines in enumerate(by_subject.values()):
            parts[i % 4].extend(subject_lines)

        def run(part):
            session = Session(policy, store)
            for line in part:
                session.submit_text(line)

        threads = [threading.Thread(target=run, args=(p,)) for p in parts]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        stored = len(store.decisions())
    finally:
        store.close()
    exported, _ = export(capsys, store_url, tmp_path)
    assert verify(exported).ok and len(exported) == stored
    assert [json.loads(line)["seq"] for line in exported] == sorted(
        json.loads(line)["seq"] for line in exported)


def test_records_stored_before_the_chain_are_chained_by_the_migration(policy, tmp_path, capsys):
    from alembic import command
    from alembic.config import Config

    from clauseline.store import MIGRATIONS

    url = f"sqlite:///{tmp_path / 'old.db'}"
    store = filled(policy, url, mixed_log(15, subjects=3))
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with store.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0003")
    assert schema_version(store.engine) == "0003"
    migrate(store.engine)
    try:
        records = list(store.log())
    finally:
        store.close()
    assert records and {r["policy_hash"] for r in records} == {None}
    assert verify(canonical_lines(records)).ok


def canonical_lines(records):
    from clauseline import canonical
    return [canonical.dumps(r) for r in records]


def test_records_name_the_engine_version_and_records_stored_before_still_verify(
        policy, tmp_path, capsys):
    """Each chained record names the clauseline version that decided it. A store written before
    versions were recorded (its records hashed without the key) is migrated with a null version:
    its old records export without the key and verify as written, the new ones name theirs."""
    from alembic import command
    from alembic.config import Config

    import clauseline
    from clauseline.chain import link
    from clauseline.store import MIGRATIONS

    lines = mixed_log(30, subjects=4)
    url = f"sqlite:///{tmp_path / 'engines.db'}"
    store = filled(policy, url, lines[:15])
    try:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with store.engine.begin() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "0005")
            # the chain as a store of revision 0005 wrote it: records without an engine version
            prev = GENESIS
            rows = conn.execute(sa.text(
                "select e.seq, e.event, d.decision, d.policy_hash from events e join decisions d "
                "on d.seq = e.seq order by e.seq")).fetchall()
            for seq, event, decision, policy_hash in rows:
                old = link(seq, json.loads(event), json.loads(decision), policy_hash, prev)
                conn.execute(sa.text("update decisions set prev_hash = :p, hash = :h where seq = :s"),
                             {"p": prev, "h": old["hash"], "s": seq})
                prev = old["hash"]
        old_count = len(rows)
        migrate(store.engine)
        for _ in Session(policy, store).replay(lines):
            pass
    finally:
        store.close()
    exported, head = export(capsys, url, tmp_path)
    records = [json.loads(line) for line in exported]
    assert old_count and len(records) > old_count
    assert all("engine_version" not in r for r in records[:old_count])
    assert {r["engine_version"] for r in records[old_count:]} == {clauseline.__version__}
    code, text = check(capsys, tmp_path, exported, "--head", head)
    assert code == 0, text
    assert (f"decided by engine version {clauseline.__version__} ({len(records) - old_count}), "
            f"not recorded ({old_count})") in text
    # the engine version is part of what the hash covers
    changed = json.loads(exported[-1])
    changed["engine_version"] = "9.9.9"
    code, text = check(capsys, tmp_path, exported[:-1] + [json.dumps(changed)])
    assert code == 1 and f"line {len(records)}" in text and "was changed" in text
