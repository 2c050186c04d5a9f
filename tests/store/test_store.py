"""The durable store, against SQLite and PostgreSQL alike (the ``backend`` fixture)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from clauseline import records
from clauseline.records import current
from clauseline.session import MemoryStore, Session
from clauseline.store import engine_url, migrate, open_store, schema_version, StoreError
from clauseline.redact import Redactor, luhn_ok
from clauseline.store.tables import metadata

from .logs import START, ccpa_log, envelope, mixed_log, payment, stamp

ROOT = Path(__file__).resolve().parents[2]
HEAD = "0008"


@pytest.fixture
def store(store_url):
    s = open_store(store_url)
    yield s
    s.close()


def counts(store) -> dict:
    with store.engine.connect() as conn:
        return {t: conn.execute(sa.text(f"select count(*) from {t}")).scalar_one()
                for t in ("events", "decisions", "subjects", "obligations")}


def profile_event(event_id, subject="acct-1", time="2019-07-01T09:00:00Z", **profile):
    return {"specversion": "1.0", "id": event_id, "source": "/t", "type": "profile.updated",
            "time": time, "subject": subject, "data": {"profile": profile or {"user_type": "family"}}}


# -- idempotency, persistence, rejection ------------------------------------------------------

def test_duplicate_returns_first_decision_and_changes_nothing(policy, store):
    session = Session(policy, store)
    first = session.submit(profile_event("e-1", user_type="family"))
    assert first.status == "accepted"
    before, state = counts(store), store.state()
    # Same (source, id), different content: still the first event.
    again = session.submit(profile_event("e-1", user_type="attorney"))
    assert again.status == "duplicate"
    assert again.as_dict() | {"status": "accepted"} == first.as_dict()
    assert counts(store) == before and store.state() == state
    assert store.subject("acct-1")["profile"] == {"user_type": "family"}
    # Another source with the same id is another event.
    other = dict(profile_event("e-1", user_type="clergy"), source="/other")
    assert session.submit(other).status == "accepted"


def test_state_survives_close_and_reopen(policy, store_url):
    s = open_store(store_url)
    Session(policy, s).submit(profile_event("e-1", user_type="family"))
    Session(policy, s).submit(profile_event("e-2", subject="acct-2", role="customer"))
    s.close()
    s = open_store(store_url)
    try:
        session = Session(policy, s)
        assert session.submit(profile_event("e-1")).status == "duplicate"
        session.submit(profile_event("e-3", birth_date="1980-01-02"))
        assert s.subject("acct-1")["profile"] == {"user_type": "family", "birth_date": "1980-01-02"}
        assert s.subject("acct-2")["profile"] == {"role": "customer"}
        assert counts(s)["events"] == 3
    finally:
        s.close()


def test_rejected_event_is_not_recorded_and_can_be_corrected(policy, store):
    session = Session(policy, store)
    bad = profile_event("e-9")
    bad["data"] = {"profile": {"role": "pirate"}}
    assert session.submit(bad).status == "rejected"
    assert counts(store)["events"] == 0
    assert session.submit(profile_event("e-9", role="customer")).status == "accepted"


def test_store_decisions_equal_memory_decisions(policy, store):
    lines = mixed_log(300, subjects=12, seed=3)
    with_store = [d.to_json() for _, d in Session(policy, store).replay(lines)]
    in_memory = [d.to_json() for _, d in Session(policy, MemoryStore()).replay(lines)]
    assert with_store == in_memory


@pytest.mark.parametrize("subject", ["acct-123456", "acct-4111111111111111"])
def test_a_stored_decision_reads_back_as_it_was_answered(policy, store, subject):
    """A subject id is kept as given (SECURITY.md), in the answer and in the stored decision:
    the store once reduced an outcome's ``subject`` that read like a named account number
    (``acct-`` and six digits or more), so ``GET /v1/decisions/...`` differed from the answer."""
    request = json.loads((ROOT / "examples" / "disclosure-request.json").read_text())
    answered = Session(policy, store).submit(dict(request, subject=subject))
    assert answered.status == "accepted" and answered.outcomes
    assert {o["subject"] for o in answered.outcomes} == {subject}
    stored = store.decision_for(request["source"], request["id"])
    assert stored.to_json() == answered.to_json()


# -- group commit ----------------------------------------------------------------------------

def _rows(store) -> dict[str, list]:
    """Every row of the store's tables, in a stable order; subject versions left out (a group
    commit writes a subject once per batch, so its version counts batches, not events)."""
    with store.engine.connect() as conn:
        found = {}
        for table in ("events", "decisions", "subjects", "obligations"):
            result = conn.execute(sa.text(f"select * from {table}"))
            rows = [{k: v for k, v in row._mapping.items() if k != "version"} for row in result]
            found[table] = sorted(json.dumps(row, sort_keys=True) for row in rows)
    return found


def _demo_lines() -> list[str]:
    return (ROOT / "examples" / "demo-log.jsonl").read_text().splitlines()


@pytest.mark.parametrize("log,batch", [("demo", 64), ("ccpa", 7), ("ccpa", 1000), ("mixed", 500)])
def test_group_commit_stores_what_one_commit_per_event_stores(policy, store_url, other_url,
                                                               log, batch):
    lines = {"demo": _demo_lines, "ccpa": lambda: ccpa_log(40, 120),
             "mixed": lambda: mixed_log(400, subjects=15, seed=19)}[log]()
    stores = [open_store(store_url), open_store(other_url)]
    try:
        one = [d.to_json() for _, d in Session(policy, stores[0]).replay(lines)]
        grouped = [d.to_json() for _, d in Session(policy, stores[1]).replay(lines, batch=batch)]
        assert grouped == one
        assert stores[1].stored == stores[0].stored == len(accepted_of_lines(one))
        first, second = _rows(stores[0]), _rows(stores[1])
        assert second == first  # events, decisions and chain, subjects, obligations
        if log == "ccpa":  # the batches crossed deadlines: ticks found obligations overdue
            assert first["obligations"] and '"U.ccpa-deadline-missed"' in "".join(one)
        again = [d.to_json() for _, d in Session(policy, stores[1]).replay(lines, batch=batch)]
        assert again == [d.to_json() for _, d in Session(policy, stores[0]).replay(lines)]
        assert all(json.loads(d)["status"] != "accepted" for d in again)
    finally:
        for store in stores:
            store.close()


def accepted_of_lines(decisions: list[str]) -> set[tuple[str, str]]:
    return {(d["event_source"], d["event_id"]) for d in map(json.loads, decisions)
            if d["status"] == "accepted"}


def test_group_commit_answers_a_repeat_inside_its_batch_as_duplicate(policy, store):
    event = profile_event("e-1", "acct-1")
    decisions = Session(policy, store).submit_many([event, dict(event), profile_event("e-2")])
    assert [d.status for d in decisions] == ["accepted", "duplicate", "accepted"]
    assert decisions[1].to_json() == decisions[0].as_duplicate().to_json()
    assert counts(store)["events"] == 2 and store.stored == 2


# -- obligations and the due query ------------------------------------------------------------

def _obligation(ref, status, due_by, missed=False):
    return {"obligation": "ccpa.respond", "ref": ref, "status": status, "due_by": due_by,
            "opened_at": "2019-07-01T09:00:00Z", "missed": missed}


def _write(store, event, records):
    """Record an event with hand-made subject records: the store's unit of work without the
    evaluator (the changes given as ``evaluate(..., fold=True)`` gives them)."""
    from clauseline.decision import Decision
    from clauseline.records import SubjectsAfter

    decision = Decision(event["id"], event["source"], event["type"], event["time"],
                        "securus-2019-05-04", "accepted")
    for tx in store.transactions([event]):
        with tx:
            state = tx.state(event)
            tx.record(event, decision, dict(state, subjects=SubjectsAfter(state["subjects"], records)),
                      None)
            tx.commit([decision])


def _state(store, event):
    """What a transaction loads for ``event`` before it is evaluated (a read-only one)."""
    for tx in store.transactions([event], read_only=True):
        with tx:
            state = tx.state(event)
    return state


def test_obligations_are_indexed_and_due_lists_them(store):
    t = "2019-07-01T09:00:00Z"
    _write(store, profile_event("e-1", "a"), {"a": {"obligations": {
        "r1": _obligation("r1", "open", "2019-08-15T09:00:00Z"),
        "r2": _obligation("r2", "fulfilled", "2019-08-01T09:00:00Z"),
        "r3": _obligation("r3", "extended", "2019-09-29T09:00:00+02:00")}}})
    _write(store, profile_event("e-2", "b"), {"b": {"obligations": {
        "r4": _obligation("r4", "open", "2019-08-15T09:00:00Z"),
        "r5": _obligation("r5", "open", "2019-08-10T00:00:00Z", missed=True)}}})
    assert store.due("2019-08-01T00:00:00Z") == []
    due = store.due("2019-08-15T09:00:00Z")
    assert [(d["subject"], d["ref"]) for d in due] == [("b", "r5"), ("a", "r1"), ("b", "r4")]
    assert [d["overdue"] for d in due] == [True, False, False]
    assert due[0]["missed"] is True and due[1]["status"] == "open"
    # +02:00 is 07:00Z: due at 07:00Z, not at 06:59Z.
    assert "r3" not in {d["ref"] for d in store.due("2019-09-29T06:59:59Z")}
    assert "r3" in {d["ref"] for d in store.due("2019-09-29T07:00:00Z")}

    # A tick loads every subject with a due obligation not yet reported missed.
    tick = envelope("clock.tick", "tick-1", START, {}, None)
    tick["time"] = "2019-08-20T00:00:00Z"
    state = _state(store, tick)
    assert {"a", "b"} <= set(dict(state["subjects"]))
    tick["time"] = "2019-08-12T00:00:00Z"
    assert not {"a", "b"} & set(dict(_state(store, tick)["subjects"]))  # b's r5 is missed

    # Closing an obligation removes its row.
    _write(store, profile_event("e-3", "a", time=t), {"a": {"obligations": {
        "r1": _obligation("r1", "fulfilled", "2019-08-15T09:00:00Z")}}})
    assert [(d["subject"], d["ref"]) for d in store.due("2030-01-01T00:00:00Z")] == [
        ("b", "r5"), ("b", "r4")]


def cli(capsys, *args):
    """Run the clauseline CLI in this process: (exit code, stdout, stderr)."""
    from clauseline.cli import main

    try:
        code = main(list(args))
    except SystemExit as exit:
        code = exit.code
    out = capsys.readouterr()
    return code, out.out, out.err


def _tables(store_url) -> list[str]:
    import sqlalchemy as sa
    from clauseline.store import engine_url
    engine = sa.create_engine(engine_url(store_url))
    try:
        return sa.inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_reading_commands_never_create_a_store(store_url, tmp_path, capsys):
    # a mistyped SQLite path (in a folder that does not exist either), an existing empty file,
    # and an existing PostgreSQL database without clauseline's tables
    if store_url.startswith("sqlite"):
        missing = f"sqlite:///{tmp_path / 'typo' / 'clauseline.db'}"
        (tmp_path / "empty.db").write_bytes(b"")
        urls = [missing, f"{tmp_path / 'empty.db'}"]
    else:
        urls = [store_url]
    for url in urls:
        for args in (["due", "--db", url, "--at", "2019-09-01T00:00:00Z"],
                     ["keys", "list", "--db", url], ["keys", "revoke", "--db", url, "000000000000"]):
            code, out, err = cli(capsys, *args)
            assert (code, out) == (1, ""), (args, err)
            assert "store.not_found" in err and "clauseline db init" in err and "Traceback" not in err
    if store_url.startswith("sqlite"):
        assert not (tmp_path / "typo").exists() and not (tmp_path / "empty.db.key").exists()
        assert (tmp_path / "empty.db").stat().st_size == 0
    else:
        assert _tables(store_url) == []
    # db init creates it; then the reading commands read it
    code, _, err = cli(capsys, "db", "init", "--db", urls[0])
    assert code == 0 and "ready (schema revision" in err
    assert cli(capsys, "due", "--db", urls[0], "--at", "2019-09-01T00:00:00Z")[:2] == (0, "")
    assert cli(capsys, "db", "init", "--db", urls[0])[0] == 0  # again: nothing to do


def test_due_cli(store_url, capsys):
    s = open_store(store_url)
    _write(s, profile_event("e-1", "z"), {"z": {"obligations": {
        "q": _obligation("q", "open", "2019-08-15T09:00:00Z")}}})
    s.close()
    code, out, err = cli(capsys, "due", "--db", store_url, "--at", "2019-09-01T00:00:00Z")
    assert code == 0, err
    assert [json.loads(line) for line in out.splitlines()] == [
        {"subject": "z", "ref": "q", "obligation": "ccpa.respond", "status": "open",
         "due_by": "2019-08-15T09:00:00Z", "opened_at": "2019-07-01T09:00:00Z",
         "missed": False, "overdue": True}]
    assert cli(capsys, "due", "--db", store_url, "--at", "2019-08-01T00:00:00Z")[:2] == (0, "")
    assert cli(capsys, "due", "--db", store_url, "--at", "yesterday")[0] == 2
    assert "--at" in cli(capsys, "due", "--help")[1]


def test_evaluate_cli_with_db(store_url, tmp_path, capsys):
    path = tmp_path / "event.json"
    path.write_text(json.dumps(profile_event("e-1", user_type="family")))
    first = run_cli("evaluate", str(path), "--db", store_url)  # the real entry point, once
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["status"] == "accepted"
    code, out, _ = cli(capsys, "evaluate", str(path), "--db", store_url)
    assert code == 0 and json.loads(out) == dict(json.loads(first.stdout), status="duplicate")
    assert cli(capsys, "evaluate", str(path), "--db", store_url, "--state", "x.json")[0] == 2
    assert "--db" in cli(capsys, "evaluate", "--help")[1]


# -- migrations -------------------------------------------------------------------------------

def test_migrations_are_versioned_and_rerunning_is_a_noop(policy, store):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from clauseline.store import MIGRATIONS

    from alembic.config import Config
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    revisions = list(ScriptDirectory.from_config(config).walk_revisions())
    # walk_revisions goes from the head down to the base: one line of history, ending at HEAD
    assert revisions[0].revision == HEAD and revisions[-1].down_revision is None
    assert len({r.revision for r in revisions}) == len(revisions)
    assert schema_version(store.engine) == ScriptDirectory.from_config(config).get_current_head()
    # the constant a store at the head is recognised by, without loading Alembic
    from clauseline.store import HEAD_REVISION
    assert HEAD_REVISION == ScriptDirectory.from_config(config).get_current_head()

    Session(policy, store).submit(profile_event("e-1"))
    before = counts(store)
    migrate(store.engine)
    migrate(store.engine)
    assert schema_version(store.engine) == HEAD and counts(store) == before
    with store.engine.connect() as conn:
        assert conn.execute(sa.text("select count(*) from alembic_version")).scalar_one() == 1
        # The tables the migrations built are the ones the code queries (tables.py).
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []


def _schema_of(url: str) -> dict:
    """What a store's catalog says of its tables: each column in order (name, type, null,
    default, key), each index (name, unique, columns), each foreign key and constraint."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                out = {}
                for (table,) in conn.exec_driver_sql(
                        "select name from sqlite_master where type = 'table' order by name"):
                    indexes = []
                    for _, name, unique, origin, partial in conn.exec_driver_sql(
                            f"pragma index_list('{table}')"):
                        columns = [r[2] for r in conn.exec_driver_sql(
                            f"pragma index_info('{name}')")]
                        indexes.append((name if origin == "c" else origin, unique, partial,
                                        columns))
                    out[table] = {
                        "columns": [tuple(r[1:]) for r in conn.exec_driver_sql(
                            f"pragma table_info('{table}')")],
                        "indexes": sorted(indexes),
                        "foreign keys": sorted(tuple(r[2:]) for r in conn.exec_driver_sql(
                            f"pragma foreign_key_list('{table}')"))}
                return out
            schema = conn.execute(sa.select(sa.func.current_schema())).scalar()
            rows = lambda sql: [tuple(r) for r in conn.execute(sa.text(sql), {"s": schema})]
            return {
                "columns": rows("select table_name, ordinal_position, column_name, data_type, "
                                "character_maximum_length, is_nullable, column_default from "
                                "information_schema.columns where table_schema = :s "
                                "order by 1, 2"),
                "indexes": [(t, n, d.replace(f'{schema}.', "")) for t, n, d in rows(
                    "select tablename, indexname, indexdef from pg_indexes where "
                    "schemaname = :s order by 1, 2")],
                "constraints": rows("select c.table_name, c.constraint_name, c.constraint_type, "
                                    "k.column_name, k.ordinal_position from "
                                    "information_schema.table_constraints c left join "
                                    "information_schema.key_column_usage k using "
                                    "(constraint_schema, constraint_name, table_name) where "
                                    "c.table_schema = :s and c.constraint_type <> 'CHECK' "
                                    "order by 1, 2, 5"),
                "references": rows("select constraint_name, unique_constraint_name, "
                                   "update_rule, delete_rule from "
                                   "information_schema.referential_constraints where "
                                   "constraint_schema = :s order by 1")}
    finally:
        engine.dispose()


def test_a_new_store_is_made_without_alembic_as_the_migrations_make_it(backend, store_url,
                                                                       other_url):
    """A store with no table gets the tables of tables.py and the newest revision in one
    transaction, without loading Alembic (Alembic's "create_all, then stamp head"): the very
    tables, columns, indexes and keys that running every migration from the first gives."""
    from alembic import command
    from alembic.config import Config
    from clauseline.store import MIGRATIONS

    made = subprocess.run([sys.executable, "-c", (
        "import sys\nfrom clauseline.store import open_store\n"
        f"open_store({store_url!r}).close()\n"
        "print('alembic' in sys.modules)")], capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    assert made.stdout.strip() == "False"  # Alembic was not imported

    engine = sa.create_engine(other_url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
    engine.dispose()

    assert _schema_of(store_url) == _schema_of(other_url)
    store = open_store(store_url)
    try:
        assert schema_version(store.engine) == HEAD
    finally:
        store.close()


def test_a_store_made_by_the_first_release_upgrades_in_place_keeping_its_events(policy, tmp_path):
    from alembic import command
    from alembic.config import Config
    from clauseline.store import MIGRATIONS

    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = sa.create_engine(url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with old.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0001")
    event = profile_event("e-1")
    decision = Session(policy).submit(event)
    with old.begin() as conn:
        assert "documents" in sa.inspect(conn).get_table_names()
        conn.execute(sa.text("insert into events (source, event_id, type, subject, time, event) "
                             "values (:source, :id, :type, :subject, :time, :event)"),
                     dict(event, event=json.dumps(event)))
        conn.execute(sa.text("insert into decisions (seq, status, policy_version, decision) "
                             "values (1, 'accepted', :version, :decision)"),
                     {"version": decision.policy_version, "decision": decision.to_json()})
    old.dispose()

    store = open_store(url)
    try:
        assert schema_version(store.engine) == HEAD
        with store.engine.connect() as conn:
            assert "documents" not in sa.inspect(conn).get_table_names()
        again = Session(policy, store).submit(event)
        assert again.status == "duplicate" and again.outcomes == decision.outcomes
        assert Session(policy, store).submit(profile_event("e-2")).status == "accepted"
    finally:
        store.close()


def test_store_urls():
    assert engine_url("clauseline.db") == "sqlite:///clauseline.db"
    assert engine_url("sqlite:////var/x.db") == "sqlite:////var/x.db"
    assert engine_url("postgresql://u@h/d") == "postgresql+psycopg://u@h/d"
    assert engine_url("postgres://u@h/d") == "postgresql+psycopg://u@h/d"
    for bad in ("mysql://x/y", "sqlite:///:memory:", "notes.txt", ""):
        with pytest.raises(StoreError):
            engine_url(bad)


# -- redaction --------------------------------------------------------------------------------

CARD = "4111 1111 1111 1111"
CARD2 = "5500-0000-0000-0004"
CARD3 = "378282246310005"  # American Express, 15 digits
ACCOUNT = "000123456789"
ROUTING = "021000021"
SSN = "078-05-1120"
SSN2 = "219099999"


def sensitive_events():
    t = START
    yield payment("p-1", t, "acct-7", 1, card_number=CARD)
    yield payment("p-2", t, "acct-7", 2, account_number=ACCOUNT, routing_number=ROUTING, ssn=SSN2)
    yield payment("p-3", t, "acct-7", 3, ssn=SSN)
    # Hidden where no field says so: free text that passes the schemas.
    yield payment("p-4", t, "acct-8", 4, product=f"calls paid with {CARD2} thanks")
    yield payment("p-5", t, "acct-8", 5, product=f"card {CARD3.replace(' ', '')} 2019 ssn {SSN}")
    yield profile_event("p-6", "acct-9", user_type=f"family {CARD.replace(' ', '')}")
    yield payment("p-7", t, "acct-9", 7, transaction_id=f"tx-{CARD2}",
                  profile={"user_type": f"ssn {SSN}"})


def digit_forms(number):
    digits = "".join(c for c in number if c.isdigit())
    return {number, digits}


SECRETS = set().union(*(digit_forms(n) for n in (CARD, CARD2, CARD3, ACCOUNT, ROUTING, SSN, SSN2)))


def test_no_full_sensitive_number_reaches_the_store(policy, store, store_url, backend):
    session = Session(policy, store)
    for event in sensitive_events():
        assert session.submit(event).status == "accepted", event["id"]
    # Every text column of every table.
    found = []
    with store.engine.connect() as conn:
        for table in sa.inspect(conn).get_table_names():
            for row in conn.execute(sa.text(f"select * from {table}")):
                text = " ".join(str(v) for v in row)
                found += [(table, s) for s in SECRETS if s in text]
    assert found == []
    with store.engine.connect() as conn:
        stored = {e["id"]: e for e in (json.loads(r[0]) for r in conn.execute(
            sa.text("select event from events")))}
    assert stored["p-1"]["data"]["card_number"]["last4"] == "1111"
    assert set(stored["p-2"]["data"]["account_number"]) == {"redacted", "last4", "hmac"}
    assert "[redacted card ...0004" in stored["p-4"]["data"]["product"]
    store.close()
    if backend == "sqlite":
        # The raw bytes of the database, its WAL and its key file.
        path = Path(sa.make_url(store_url).database)
        for file in path.parent.glob(path.name + "*"):
            data = file.read_bytes()
            assert not [s for s in SECRETS if s.encode() in data], file


def test_redactor_shapes():
    r = Redactor(b"k")
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
    assert r.scrub_text("call 555-123-4567 at 2019-07-01") == "call 555-123-4567 at 2019-07-01"
    # an SSN's groups with a separator between each, the same or not, one to three characters
    for written in ("001-01-0001", "001 01 0001", "001  01  0001", "001\u00a0\u00a001\u00a0\u00a00001",
                    "001  01 0001", "001,01,0001", "001:01:0001", "001-01 0001", "001\u201301\u20140001"):
        assert r.scrub_text(f"id {written}.") == f"id {r._inline('ssn', '001010001')}.", written
    # the items of a list are not an SSN's groups
    assert r.scrub_text("sizes 100, 20, 3000") == "sizes 100, 20, 3000"
    assert "4111" not in r.scrub_text("x 4111-1111-1111-1111 y").replace("...1111", "")
    assert r.scrub({"order": 4111111111111111})["order"]["last4"] == "1111"
    assert r.scrub({"SSN": 123456789})["SSN"] == {"redacted": "ssn", "last4": "6789",
                                                   "hmac": r.mac("ssn", "123456789")}
    assert r.scrub({"cardNumber": "12"})["cardNumber"] == {"redacted": "card", "hmac": r.mac("card", "12")}
    # A card inside a longer run (concatenated, or followed by a year) reduces the whole run;
    # so does a run one of whose 13 to 19 consecutive digits pass Luhn (4111111111111112 holds
    # 411111111111111), since a mistyped card is as sensitive as a card.
    assert r.scrub_text("41111111111111115555555555554444") == r._inline("card", "41111111111111115555555555554444")
    assert "4111" not in r.scrub_text("4111111111111112 x")
    # Not a card: no 13 to 19 consecutive digits pass Luhn, or fewer than 13 digits.
    assert r.scrub_text("1111111111111111") == "1111111111111111"
    assert r.scrub_text("order 123456789012") == "order 123456789012"


def test_generated_redaction_key_is_kept_once(policy, store_url, monkeypatch):
    monkeypatch.delenv("CLAUSELINE_REDACTION_KEY")
    a = open_store(store_url)
    b = open_store(store_url)
    try:
        assert a.redactor.mac("card", "1") == b.redactor.mac("card", "1")
    finally:
        a.close()
        b.close()


# -- crash safety -----------------------------------------------------------------------------

def run_cli(*args, **kw):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "clauseline", *args], capture_output=True,
                          text=True, cwd=ROOT, env=env, timeout=120, **kw)


def test_sigkill_during_replay_loses_nothing_and_applies_nothing_twice(policy, store_url, tmp_path):
    lines = mixed_log(2000, subjects=80, seed=11)
    log = tmp_path / "log.jsonl"
    log.write_text("\n".join(lines) + "\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    command = [sys.executable, "-m", "clauseline", "replay", str(log), "--db", store_url]
    rng = random.Random(5)
    kills = []
    for _ in range(3):
        # Kill after a random number of decisions came out (each is printed after its commit;
        # the pipe's buffering only puts the kill later than the count read).
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.DEVNULL, text=True)
        target, seen = rng.randint(100, 700), 0
        while seen < target and process.stdout.readline():
            seen += 1
        process.send_signal(signal.SIGKILL)
        process.wait()
        process.stdout.close()
        kills.append((seen, process.returncode))
    assert all(code == -signal.SIGKILL for _, code in kills), kills
    done = subprocess.run(command + ["--out", os.devnull], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    # The clean run: the same log once, from an empty state (MemoryStore gives the same
    # decisions as a store: test_store_decisions_equal_memory_decisions).
    clean = Session(policy, MemoryStore())
    want = {}
    for _, decision in clean.replay(lines):
        if decision.status == "accepted":
            want[(decision.event_source, decision.event_id)] = decision.to_json()
    resumed = open_store(store_url)
    try:
        got = resumed.decisions()
        assert len(got) == len({(s, i) for s, i, _ in got})  # no event applied twice
        assert {(s, i): d for s, i, d in got} == want  # none lost, none different
        assert counts(resumed)["events"] == counts(resumed)["decisions"] == len(want)
        assert resumed.state() == clean.store.state
        open_rows = sum(1 for record in clean.store.state["subjects"].values()
                        for o in (record.get("obligations") or {}).values()
                        if o["status"] in ("open", "extended"))
        assert counts(resumed)["obligations"] == open_rows
    finally:
        resumed.close()


# -- concurrency ------------------------------------------------------------------------------

def _field_patch(worker: int, n: int) -> dict:
    """Worker ``worker``'s n-th patch: each worker owns one profile field."""
    if worker == 0:
        return {"user_type": f"type-{n}"}
    if worker == 1:
        return {"birth_date": f"19{50 + n % 40}-0{1 + n % 9}-1{n % 10}"}
    if worker == 2:
        return {"residence": {"country": "US", "region": f"US-{'CA TX NY WA OR'.split()[n % 5]}"}}
    return {"parental_consent_verified": n % 2 == 0}


def test_four_writers_on_shared_subjects_equal_a_serial_run(policy, backend, store_url, tmp_path):
    subjects = [f"shared-{i}" for i in range(12)]
    parts = []
    for worker in range(4):
        lines = []
        for n in range(75):
            for subject in subjects[(n % 3)::3]:
                event = envelope("profile.updated", f"w{worker}-{n}-{subject}", START,
                                 {"profile": _field_patch(worker, n)}, subject,
                                 source=f"/writer/{worker}")
                event["time"] = stamp(START.replace(hour=10) if worker % 2 else START)
                lines.append(json.dumps(event))
        path = tmp_path / f"part-{worker}.jsonl"
        path.write_text("\n".join(lines) + "\n")
        parts.append(path)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    processes = [subprocess.Popen([sys.executable, "-m", "clauseline", "replay", str(p), "--db",
                                   store_url, "--out", os.devnull], cwd=ROOT, env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                 for p in parts]
    for process in processes:
        _, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
    serial = Session(policy, MemoryStore())
    for p in parts:
        for _ in serial.replay(p.read_text().splitlines()):
            pass
    shared = open_store(store_url)
    try:
        # the same values and the same obligations due; each record's journal is bounded
        # (where it was folded depends on the order the writers' events happened to arrive)
        stored, expected = shared.state(), serial.store.state
        assert {s: current(r) for s, r in stored["subjects"].items()} == \
            {s: current(r) for s, r in expected["subjects"].items()}
        assert stored["due"] == expected["due"]
        for sid, record in stored["subjects"].items():
            assert len([e for e in record["_journal"] if e[0] != ""]) <= records.MOST, sid
        assert counts(shared)["events"] == sum(len(p.read_text().splitlines()) for p in parts)
    finally:
        shared.close()


def test_store_urls_that_name_no_store_are_refused_before_anything_runs(capsys):
    for url, says in (("", "an empty store URL"), ("postgres://", "names no database"),
                      ("postgresql://127.0.0.1", "names no database"),
                      ("postgresql://u@[::1/x", "malformed PostgreSQL URL")):
        code, out, err = cli(capsys, "replay", str(ROOT / "examples" / "demo-log.jsonl"), "--db", url)
        assert (code, out) == (1, ""), (url, err)
        assert "store.unavailable" in err and says in err and "Traceback" not in err, (url, err)


def test_ctrl_c_stops_a_replay_with_one_line_and_exit_130(tmp_path):
    process = subprocess.Popen([sys.executable, "-m", "clauseline", "replay", "-",
                                "--db", f"sqlite:///{tmp_path / 'c.db'}"], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    first = (ROOT / "examples" / "demo-log.jsonl").read_text(encoding="utf-8").splitlines()[0]
    process.stdin.write(first + "\n")
    process.stdin.flush()
    import time
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait until the first event is stored
        time.sleep(0.2)
        try:
            store = open_store(f"sqlite:///{tmp_path / 'c.db'}", create=False)
        except StoreError:  # not created, or not migrated, yet
            continue
        try:
            if store.count() == 1:
                break
        finally:
            store.close()
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130 and "clauseline: interrupted" in err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    store = open_store(f"sqlite:///{tmp_path / 'c.db'}", create=False)
    try:
        assert store.count() == 1  # what was stored stays stored
    finally:
        store.close()


def test_every_write_only_field_of_the_schemas_is_reduced_by_name():
    """The schemas mark the fields that hold raw card, bank and SSN numbers `writeOnly`; the
    store's redaction must know each of them by name (a new one is covered or this fails)."""
    from clauseline.redact import kind_of_key
    from clauseline.resources import schemas_dir

    def write_only(node, name=None):
        if isinstance(node, dict):
            if node.get("writeOnly") and name:
                yield name
            for key, child in node.items():
                yield from write_only(child, key if key not in ("properties", "$defs") else name)
        elif isinstance(node, list):
            for child in node:
                yield from write_only(child, name)

    fields = {f for path in schemas_dir().rglob("*.schema.json")
              for f in write_only(json.loads(path.read_text(encoding="utf-8")))}
    assert fields >= {"card_number", "account_number", "routing_number", "ssn"}
    assert {f: kind_of_key(f) for f in fields if kind_of_key(f) is None} == {}


def test_a_store_at_the_newest_revision_opens_without_loading_alembic(tmp_path):
    """Every command with --db opens its store: one at the newest revision is recognised from
    its alembic_version row alone (Alembic costs a tenth of a second to import); a new one is
    made at the head without it too (the next test); one at an older revision is migrated."""
    url = f"sqlite:///{tmp_path / 'head.db'}"
    probe = ("import sys\nfrom clauseline.store import open_store\n"
             f"open_store({url!r}).close()\nprint('alembic' in sys.modules)")
    env = {**os.environ, "CLAUSELINE_REDACTION_KEY": "test-key"}
    made = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env)
    assert made.returncode == 0 and made.stdout.strip() == "False", made.stderr  # made
    opened = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env)
    assert opened.returncode == 0 and opened.stdout.strip() == "False", opened.stderr
    with sa.create_engine(url).begin() as conn:  # an older revision is migrated again
        conn.execute(sa.text("update alembic_version set version_num = '0007'"))
    again = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env)
    assert again.returncode == 0 and again.stdout.strip() == "True", again.stderr


def test_what_a_batch_reads_from_a_sqlite_store_is_found_by_index_not_by_a_scan(policy, tmp_path):
    """A batch (a replay's, a group commit of the service's) reads the stored decisions of its
    events, the obligations due before it and the records it names. Each read must search an
    index: a scan costs in proportion to the store, so every event of a large store would cost
    more than one of a small store. (SQLite planned the decisions' ``(source, id) IN (...)``
    as a scan of the whole events index; the batch now joins its keys to it.)"""
    url = f"sqlite:///{tmp_path / 'plans.db'}"
    store = open_store(url)
    session = Session(policy, store)
    session.submit_many([json.loads(line) for line in mixed_log(400, seed=3)])
    statements = []

    @sa.event.listens_for(store.engine, "before_cursor_execute")
    def capture(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().lower().startswith(("select", "with")):
            statements.append((statement, parameters))

    batch = [json.loads(line) for line in mixed_log(12, seed=4)]
    for i, event in enumerate(batch):
        event["id"] = f"plan-{i}"
    batch.append(json.loads(mixed_log(400, seed=3)[5]))  # one already stored: a duplicate
    session.submit_many(batch)
    store.close()
    assert any("events" in s for s, _ in statements)
    import sqlite3
    with sqlite3.connect(tmp_path / "plans.db") as conn:
        for statement, parameters in statements:
            plan = [row[3] for row in conn.execute("explain query plan " + statement, parameters)]
            scans = [step for step in plan if step.startswith("SCAN") and "CONSTANT ROWS" not in
                     step and step != "SCAN k"]
            # the newest decision (the hash chain's last link) is read in rowid order, one row
            scans = [step for step in scans if not (step == "SCAN decisions"
                                                    and "LIMIT" in statement.upper())]
            assert scans == [], (statement, plan)


def test_records_kept_by_sharing_within_a_batch_are_stored_as_if_reduced_in_full(policy, tmp_path):
    """Within a batch, a SQL store keeps a record an event wrote in its reduced form, reducing
    only what the event changed (the rest is shared with the record before: a list appended to
    keeps its old items). What it stores must be exactly what reducing the whole record gives:
    compared with a store made to reduce every record in full, on a log whose shared record
    (``*``, the recordings deleted for exempt parties) grows all along."""
    import importlib.util

    from clauseline.store import sql
    spec = importlib.util.spec_from_file_location(
        "bench_logs", Path(__file__).resolve().parents[2] / "bench" / "logs.py")
    logs = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(logs)
    log = tmp_path / "log.jsonl"
    logs.make_log(log, 3000, 200, 5)
    lines = log.read_bytes().splitlines()

    def stored(name: str) -> tuple[list, list]:
        url = f"sqlite:///{tmp_path / name}"
        store = open_store(url)
        try:
            for _ in Session(policy, store).replay(lines, batch=250):
                pass
        finally:
            store.close()
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            records = conn.execute(sa.text("select subject_id, record from subjects "
                                           "order by subject_id")).all()
            decisions = conn.execute(sa.text("select decision from decisions order by seq")).all()
        engine.dispose()
        return records, decisions

    shared, shared_decisions = stored("shared.db")
    original = sql._Kept._shares
    sql._Kept._shares = lambda self, record: False  # every write reduced and serialised whole
    try:
        whole, whole_decisions = stored("whole.db")
    finally:
        sql._Kept._shares = original
    assert shared_decisions == whole_decisions
    assert shared == whole
    remembered = json.loads(dict(shared)["*"])["deleted_recordings"]
    assert len(remembered) > 40  # the shared record did grow, batch after batch
