"""Store faults: each ends in one ``store.*`` error (docs/errors.md), with no traceback, exit 1
from the CLI, no password and no event value in the message, and nothing half-written (an event
is stored together with its decision and state, or not at all).

How each fault is made, for real wherever the kernel lets a test do it:

- **Disk full**: through the CLI, a 1 MiB tmpfs mounted in a private mount namespace
  (``unshare --user --map-root-user --mount``: works for root, and for other users where user
  namespaces are enabled; skipped with the reason otherwise); in process, SQLite's
  ``PRAGMA max_page_count`` (the same SQLITE_FULL); PostgreSQL's own ``disk_full`` (53100),
  raised by a trigger.
- **Read-only**: a read-only bind mount of the database file, or of its folder, in such a
  namespace. The kernel answers EROFS even to root, who ignores permission bits (so ``chmod``
  proves nothing here); ``chattr +i`` needs ext4 and cleanup, and ``setpriv`` to nobody cannot
  reach the interpreter under ``/root``. In process: SQLite's ``mode=ro`` and PostgreSQL's
  ``default_transaction_read_only`` (what a hot standby answers, 25006).
- **Corrupt**: random bytes, a zero-page header, a header alone, a truncated store, a damaged
  index page, a SQLite database of another application.
- **Unknown revision**: ``alembic_version`` set to a revision this clauseline does not ship.
- **PostgreSQL terminated**: ``pg_terminate_backend`` from another connection during a CLI replay
  and between the events of an in-process session; a commit the server made whose answer is
  lost; serialization failures and deadlocks raised by a trigger; a server that does not answer.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from functools import lru_cache
from pathlib import Path

import pytest
import sqlalchemy as sa

from clauseline.chain import verify
from clauseline.session import MemoryStore, Session
from clauseline.store import head_revision, open_store
from clauseline.store import sql as store_sql
from clauseline.store import StoreError

from .conftest import PgSchema
from .logs import mixed_log

ROOT = Path(__file__).resolve().parents[2]
NEWER = "0099"  # a revision this clauseline does not ship


# -- helpers ----------------------------------------------------------------------------------

def cli_command(*args) -> list[str]:
    return [sys.executable, "-m", "clauseline", *args]


def run_cli(*args, timeout=120) -> subprocess.CompletedProcess:
    return subprocess.run(cli_command(*args), capture_output=True, text=True, cwd=ROOT,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=timeout)


def the_error(stderr: str, code: str) -> str:
    """The one ``clauseline: <code>: ...`` line of a failed command (no traceback)."""
    assert "Traceback" not in stderr, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("clauseline: ")]
    assert len(errors) == 1 and errors[0].startswith(f"clauseline: {code}: "), stderr
    return errors[0]


def write_log(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def clean_run(policy, lines: list[str]) -> list[str]:
    """Each line's decision (JSON) in an uninterrupted in-memory replay."""
    return [d.to_json() for _, d in Session(policy, MemoryStore()).replay(lines)]


def accepted_of(decisions: list[str]) -> dict[tuple[str, str], str]:
    out = {}
    for text in decisions:
        d = json.loads(text)
        if d["status"] == "accepted":
            out[(d["event_source"], d["event_id"])] = text
    return out


def event_values(lines: list[str]) -> set[str]:
    """Ids, subjects and free texts of a log: none may appear in an error message."""
    found = set()
    for line in lines:
        event = json.loads(line)
        found |= {event["id"], event.get("subject") or event["id"]}
        found |= {v for v in (event.get("data") or {}).values() if isinstance(v, str) and len(v) > 4}
    return found


def quoted(values: set[str], message: str) -> set[str]:
    """The values that a message quotes as words of their own."""
    return values & set(re.split(r"[\s,;:()'\"]+", message))


def assert_consistent(store, policy, lines: list[str]) -> int:
    """What the store holds is a prefix of the clean run's accepted events, each with its
    decision (none without), the state after exactly those, and an intact chain. Returns how
    many events it holds."""
    got = store.decisions()
    assert len(got) == len({(s, i) for s, i, _ in got})  # none applied twice
    stored = {(s, i): d for s, i, d in got}
    with store.engine.connect() as conn:
        assert conn.execute(sa.text("select count(*) from events")).scalar_one() == len(got)
        assert conn.execute(sa.text("select count(*) from decisions")).scalar_one() == len(got)
    # the same lines, in memory, up to the last stored event: the same decisions and state
    session, want = Session(policy, MemoryStore()), {}
    if stored:
        for _, decision in session.replay(lines):
            if decision.status == "accepted":
                want[(decision.event_source, decision.event_id)] = decision.to_json()
            if len(want) == len(stored):
                break
    assert stored == want
    assert store.state() == session.store.state
    assert verify([json.dumps(r) for r in store.log()]).ok
    return len(got)


def sqlite_digest(path: Path) -> str:
    """A digest of what a SQLite database holds: its file and its write-ahead log."""
    files = [p for p in (path, path.with_name(path.name + "-wal")) if p.exists()]
    return hashlib.sha256(b"".join(p.read_bytes() for p in files)).hexdigest()


def execute(url: str, statement: str, **params) -> None:
    """One statement on a store's database, outside clauseline."""
    engine = sa.create_engine(store_sql_url(url))
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(statement), params)
    finally:
        engine.dispose()


def store_sql_url(url: str) -> str:
    from clauseline.store import engine_url
    return engine_url(url)


def _snapshot(url: str):
    """Every row of every table of a store, and (SQLite) its files' bytes."""
    engine = sa.create_engine(store_sql_url(url))
    try:
        with engine.connect() as conn:
            tables = sorted(sa.inspect(conn).get_table_names())
            rows = {t: sorted(map(repr, conn.execute(sa.text(f'select * from "{t}"')))) for t in tables}
    finally:
        engine.dispose()
    files = None
    if url.startswith("sqlite"):
        path = Path(sa.make_url(url).database)
        files = sqlite_digest(path)
    return tables, rows, files


@lru_cache(maxsize=None)
def namespaces() -> str | None:
    """None when this machine lets a test mount a tmpfs and a read-only bind mount in a private
    user and mount namespace; else why not."""
    if shutil.which("unshare") is None:
        return "no unshare command"
    probe = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c",
                            "d=$(mktemp -d) && mount -t tmpfs -o size=64k tmpfs $d && "
                            "mount --bind $d $d && mount -o remount,ro,bind $d"],
                           capture_output=True, text=True)
    return None if probe.returncode == 0 else f"cannot mount in a user namespace: {probe.stderr.strip()}"


def in_namespace(script: str, *args: str, timeout=180) -> subprocess.CompletedProcess:
    """Run a shell script as mapped root in a private user and mount namespace ($1... = args):
    its mounts vanish with it."""
    reason = namespaces()
    if reason:
        pytest.skip(reason)
    return subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script,
                           "sh", *args], capture_output=True, text=True, cwd=ROOT, timeout=timeout,
                          env=dict(os.environ, PYTHONPATH=str(ROOT), CL=" ".join(cli_command())))


def make_store(url: str, policy, lines: list[str]) -> None:
    store = open_store(url)
    try:
        for _ in Session(policy, store).replay(lines):
            pass
    finally:
        store.close()


@pytest.fixture
def fast_backoff(monkeypatch):
    """Backoff of a millisecond: the retries happen as in production, without the waits."""
    monkeypatch.setattr(store_sql, "BACKOFF_BASE", 0.001)
    monkeypatch.setattr(store_sql, "BACKOFF_CAP", 0.004)


# -- corrupted SQLite files -------------------------------------------------------------------

def _damage_index(path: Path) -> None:
    """Overwrite the page of the (source, event_id) index with random bytes."""
    conn = sqlite3.connect(path)
    page, size = conn.execute("select rootpage from sqlite_master where name = "
                              "'sqlite_autoindex_events_1'").fetchone()[0], \
        conn.execute("pragma page_size").fetchone()[0]
    conn.close()
    with open(path, "r+b") as handle:
        handle.seek((page - 1) * size)
        handle.write(random.Random(1).randbytes(size))


def test_corrupt_and_foreign_sqlite_files_are_refused_with_one_error(policy, tmp_path):
    lines = mixed_log(60, subjects=8, seed=21)
    log = write_log(tmp_path / "log.jsonl", lines)
    real = tmp_path / "real.db"
    make_store(f"sqlite:///{real}", policy, lines[:40])
    data = real.read_bytes()
    assert not list(tmp_path.glob("real.db-wal"))  # closed cleanly: one file holds it all
    files = {
        "random_bytes.db": (random.Random(7).randbytes(64 * 1024), "store.corrupt"),
        "zero_page_header.db": (b"SQLite format 3\0" + bytes(4080), "store.corrupt"),
        "header_alone.db": (data[:100], "store.corrupt"),
        "truncated_store.db": (data[:len(data) // 2], "store.corrupt"),
        "damaged_index.db": (data, "store.corrupt"),
        "foreign_database.db": (None, "store.not_clauseline"),
    }
    for name, (content, _) in files.items():
        if content is not None:
            (tmp_path / name).write_bytes(content)
    _damage_index(tmp_path / "damaged_index.db")
    foreign = sqlite3.connect(tmp_path / "foreign_database.db")
    foreign.execute("create table notes (body text)")
    foreign.execute("insert into notes values ('kept as it is')")
    foreign.commit()
    foreign.close()
    before = {name: sqlite_digest(tmp_path / name) for name in files}

    # through the CLI, all at once
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    running = {name: subprocess.Popen(cli_command("replay", str(log), "--db", str(tmp_path / name)),
                                      cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True) for name in files}
    for name, process in running.items():
        out, err = process.communicate(timeout=120)
        code = files[name][1]
        assert process.returncode == 1, (name, err)
        line = the_error(err, code)
        assert f"sqlite:///{tmp_path / name}" in line
        assert out == "", name  # the first event already found the fault: nothing was decided
        assert not quoted(event_values(lines), line), line

    # in process: the same one error, whether the command writes or only reads
    for name, (_, code) in files.items():
        for create in (True, False):
            with pytest.raises(StoreError) as caught:
                store = open_store(str(tmp_path / name), create=create)
                try:
                    Session(policy, store).submit(json.loads(lines[45]))
                finally:
                    store.close()
            assert caught.value.code == code, (name, create)
    # refused before anything was written: byte for byte as they were (the damaged and the
    # truncated store may show their damage only at their first use)
    for name in ("random_bytes.db", "zero_page_header.db", "header_alone.db", "foreign_database.db"):
        assert sqlite_digest(tmp_path / name) == before[name], name
        assert not [p.name for p in tmp_path.glob(name + "?*")], name  # no -wal, -shm, .key


def test_a_store_path_that_cannot_be_a_file(tmp_path, capsys):
    from clauseline.cli import main
    (tmp_path / "folder.db").mkdir()
    (tmp_path / "plain").write_text("a file, not a folder")
    for url, says in ((str(tmp_path / "folder.db"), "is a folder"),
                      (str(tmp_path / "plain" / "x.db"), "a folder on the path of the store is a file")):
        assert main(["replay", str(ROOT / "examples" / "demo-log.jsonl"), "--db", url]) == 1
        captured = capsys.readouterr()
        assert captured.out == "" and says in the_error(captured.err, "store.unavailable")


# -- a store of a newer clauseline ------------------------------------------------------------

def test_a_store_of_a_newer_clauseline_is_refused_and_left_as_it_is(policy, store_url, backend,
                                                                     tmp_path):
    lines = mixed_log(40, subjects=6, seed=5)
    make_store(store_url, policy, lines[:20])
    execute(store_url, "update alembic_version set version_num = :v", v=NEWER)
    snapshot = _snapshot(store_url)

    log = write_log(tmp_path / "log.jsonl", lines)
    for args in (["replay", str(log), "--db", store_url],
                 ["due", "--db", store_url, "--at", "2030-01-01T00:00:00Z"],
                 ["db", "init", "--db", store_url]):
        done = run_cli(*args)
        assert (done.returncode, done.stdout) == (1, ""), (args, done.stderr)
        line = the_error(done.stderr, "store.unknown_revision")
        assert f"'{NEWER}'" in line and head_revision() in line and "newer clauseline" in line
    for create in (True, False):
        with pytest.raises(StoreError) as caught:
            open_store(store_url, create=create)
        assert caught.value.code == "store.unknown_revision"
    assert _snapshot(store_url) == snapshot  # never "migrated", nothing added

    # a revision that is not an identifier is not quoted (it could be anything)
    execute(store_url, "update alembic_version set version_num = :v",
            v="0004\nok 4111111111111111")
    with pytest.raises(StoreError) as caught:
        open_store(store_url)
    assert caught.value.code == "store.unknown_revision"
    assert "\n" not in caught.value.message and "4111" not in caught.value.message
    assert "(an unreadable revision)" in caught.value.message


def test_a_database_of_another_application_is_not_taken_over(store_url, backend, tmp_path):
    # a table named like one of clauseline's, without clauseline's alembic_version
    execute(store_url, "create table events (what text)")
    execute(store_url, "insert into events (what) values ('theirs')")
    snapshot = _snapshot(store_url)
    for create in (True, False):
        with pytest.raises(StoreError) as caught:
            open_store(store_url, create=create)
        assert caught.value.code == "store.not_clauseline", caught.value
        assert "theirs" not in caught.value.message
    done = run_cli("replay", str(ROOT / "examples" / "demo-log.jsonl"), "--db", store_url)
    assert done.returncode == 1 and done.stdout == ""
    the_error(done.stderr, "store.not_clauseline")
    assert _snapshot(store_url) == snapshot


# -- keys no database can hold ----------------------------------------------------------------

def _unstorable_events(lines: list[str]) -> list[dict]:
    """Events whose identifiers hold a NUL (PostgreSQL text cannot) or a lone surrogate (not
    UTF-8): the store is asked about them (idempotency, state, locks) before validation
    rejects them."""
    base = next(json.loads(line) for line in lines if '"profile.updated"' in line)
    variants = []
    for n, (field, value) in enumerate((("id", "a\x00b"), ("id", "a\udc80b"),
                                        ("source", "/x\x00y"), ("subject", "acct\x00-1"),
                                        ("subject", "acct\ud800-1"))):
        variants.append(dict(base, **{"id": f"new-{n}", field: value}))
    variants.append(dict(base, id="party", data=dict(base["data"], party={"subject": "p\x00q"})))
    return variants


def _surrogate(value) -> bool:
    return isinstance(value, str) and any("\ud800" <= c <= "\udfff" for c in value)


def test_identifiers_no_database_can_hold_are_rejected_not_store_faults(policy, store_url, tmp_path):
    lines = mixed_log(30, subjects=4, seed=53)
    make_store(store_url, policy, lines)
    before = _snapshot(store_url)[:2]
    hostile = _unstorable_events(lines)
    want = [Session(policy, MemoryStore()).submit(e).to_json() for e in hostile]
    assert all(json.loads(w)["status"] == "rejected" for w in want)
    store = open_store(store_url)
    try:
        assert [Session(policy, store).submit(e).to_json() for e in hostile] == want
        assert store.subject("acct\x00-1") is None and store.owed(subject="a\ud800") == []
    finally:
        store.close()
    # the same through the CLI, for those JSON can carry (\u0000; a lone surrogate escape is
    # refused by the parser already)
    carried = [e for e in hostile if not any(map(_surrogate, (e["id"], e["source"], e["subject"])))]
    assert len(carried) == 4
    log = write_log(tmp_path / "log.jsonl", [json.dumps(e) for e in carried])
    done = run_cli("replay", str(log), "--db", store_url)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert done.stdout.splitlines() == clean_run(policy, log.read_text().splitlines())
    assert _snapshot(store_url)[:2] == before


# -- disk full --------------------------------------------------------------------------------

def _limit_pages(store, pages: int) -> None:
    """Give every connection of the store ``PRAGMA max_page_count``: SQLite then answers
    SQLITE_FULL, as on a full disk, to a transaction that would grow the file past it."""
    @sa.event.listens_for(store.engine, "connect")
    def _limit(dbapi_connection, _record):
        dbapi_connection.execute(f"PRAGMA max_page_count={pages}")

    store.engine.dispose()  # the connections made before


@pytest.mark.parametrize("batch", [1, 8])
def test_disk_full_mid_replay_keeps_what_was_committed_in_process(policy, tmp_path, batch):
    lines = mixed_log(300, subjects=20, seed=13)
    url = f"sqlite:///{tmp_path / 'full.db'}"
    store = open_store(url)
    with store.engine.connect() as conn:
        used = conn.exec_driver_sql("PRAGMA page_count").scalar()
    _limit_pages(store, used + 12)
    printed = []
    with pytest.raises(StoreError) as caught:
        for _, decision in Session(policy, store).replay(lines, batch=batch):
            printed.append(decision.to_json())
    error = caught.value
    assert error.code == "store.full" and "SQLITE_FULL" in error.message
    stored = len(accepted_of(printed))
    assert 0 < stored == store.stored
    assert f"the {stored} event(s) this process stored before it are kept" in error.message
    assert not quoted(event_values(lines), error.message)
    assert "INSERT" not in error.message and "[parameters" not in error.message
    store.close()

    # what was committed is readable and whole: each event with its decision and its state
    store = open_store(url)
    try:
        assert assert_consistent(store, policy, lines) == stored
        assert printed == clean_run(policy, lines)[:len(printed)]
        # room again: the same log, run again, ends where an uninterrupted run ends
        again = [d.to_json() for _, d in Session(policy, store).replay(lines)]
        want = clean_run(policy, lines)
        kept = set(accepted_of(printed))
        for a, w in zip(again, want, strict=True):
            w = json.loads(w)
            if w["status"] == "accepted" and (w["event_source"], w["event_id"]) in kept:
                assert json.loads(a) == dict(w, status="duplicate")  # stored before the fault
            else:
                assert json.loads(a) == w
        assert assert_consistent(store, policy, lines) == len(accepted_of(want))
    finally:
        store.close()


@pytest.mark.slow  # about 12 s: make test-slow (and .ci/run)
def test_disk_full_mid_replay_through_the_cli_on_a_tiny_file_system(policy, tmp_path):
    lines = mixed_log(3000, subjects=20, seed=17)
    log = write_log(tmp_path / "log.jsonl", lines)
    small, kept = tmp_path / "small", tmp_path / "kept"
    small.mkdir()
    kept.mkdir()
    done = in_namespace('mount -t tmpfs -o size=1m tmpfs "$1" && cd "$1" && '
                        '$CL replay "$2" --db sqlite:///s.db --batch 25 > "$3/out"; echo $? > "$3/rc"; '
                        'cp "$1"/s.db* "$3"/', str(small), str(log), str(kept))
    assert done.returncode == 0, done.stderr
    assert (kept / "rc").read_text().strip() == "1"
    line = the_error(done.stderr, "store.full")
    printed = (kept / "out").read_text().splitlines()
    stored = len(accepted_of(printed))
    assert stored > 0 and f"the {stored} event(s) this process stored before it are kept" in line
    assert printed == clean_run(policy, lines)[:len(printed)]  # each printed after its commit

    store = open_store(f"sqlite:///{kept / 's.db'}")
    try:
        assert assert_consistent(store, policy, lines) == stored
        assert {(s, i): d for s, i, d in store.decisions()} == accepted_of(printed)
    finally:
        store.close()
    # on a disk with room, the same command completes the job
    done = run_cli("replay", str(log), "--db", f"sqlite:///{kept / 's.db'}", "--out", os.devnull)
    assert done.returncode == 0, done.stderr
    store = open_store(f"sqlite:///{kept / 's.db'}")
    try:
        assert {(s, i): d for s, i, d in store.decisions()} == accepted_of(clean_run(policy, lines))
    finally:
        store.close()


FAULT_TRIGGER = """
create sequence fault_n;
create function fault() returns trigger language plpgsql as $$
begin
  if {when} then
    raise exception using errcode = '{errcode}', message = 'refused ' || new.decision;
  end if;
  return new;
end $$;
create trigger fault before insert on decisions for each row execute function fault();
"""


def _trigger(store, errcode: str, when: str) -> None:
    """A real PostgreSQL error ``errcode`` from the server on inserting a decision (after the
    event's row: the transaction has written something), ``when`` the condition holds (it may
    count with the sequence ``fault_n``, which no rollback resets). Its message quotes the
    decision, as server messages quote values."""
    with store.engine.begin() as conn:
        conn.exec_driver_sql(FAULT_TRIGGER.format(errcode=errcode, when=when))


def _drop_trigger(store) -> None:
    with store.engine.begin() as conn:
        conn.exec_driver_sql("drop trigger fault on decisions; drop function fault(); "
                             "drop sequence fault_n")


def _fault_count(store) -> int:
    with store.engine.connect() as conn:
        return conn.exec_driver_sql("select last_value from fault_n").scalar_one()


def test_disk_full_on_postgresql(policy, pg_url, tmp_path):
    lines = mixed_log(120, subjects=10, seed=23)
    log = write_log(tmp_path / "log.jsonl", lines)
    store = open_store(pg_url)
    _trigger(store, "disk_full", when="nextval('fault_n') > 6")
    # the CLI, one commit per event: six events stored, the seventh refused whole
    done = run_cli("replay", str(log), "--db", pg_url, "--batch", "1")
    assert done.returncode == 1
    line = the_error(done.stderr, "store.full")
    assert "53100" in line and "refused" not in line  # the server's text quotes the decision
    assert "the 6 event(s) this process stored" in line
    printed = done.stdout.splitlines()
    assert len(accepted_of(printed)) == 6 and printed == clean_run(policy, lines)[:len(printed)]
    assert assert_consistent(store, policy, lines) == 6
    # in process: six more, then the same error
    with store.engine.begin() as conn:
        conn.exec_driver_sql("alter sequence fault_n restart with 1")
    with pytest.raises(StoreError) as caught:
        for _ in Session(policy, store).replay(lines):
            pass
    assert caught.value.code == "store.full" and store.stored == 6
    assert assert_consistent(store, policy, lines) == 12
    # group commit: the first batch holds more than six new events and is refused whole
    with store.engine.begin() as conn:
        conn.exec_driver_sql("alter sequence fault_n restart with 1")
    done = run_cli("replay", str(log), "--db", pg_url, "--batch", "50")
    assert done.returncode == 1 and done.stdout == ""
    line = the_error(done.stderr, "store.full")
    assert "this batch of 50 event(s) was rolled back and nothing of it is stored" in line
    assert assert_consistent(store, policy, lines) == 12
    _drop_trigger(store)
    for _ in Session(policy, store).replay(lines):
        pass
    assert assert_consistent(store, policy, lines) == len(accepted_of(clean_run(policy, lines)))
    store.close()


# -- read-only --------------------------------------------------------------------------------

def test_read_only_file_and_folder_through_the_cli(policy, tmp_path):
    lines = mixed_log(80, subjects=8, seed=29)
    log = write_log(tmp_path / "all.jsonl", lines)
    file_folder, folder = tmp_path / "file", tmp_path / "folder"
    for where in (file_folder, folder):
        where.mkdir()
        make_store(f"sqlite:///{where / 's.db'}", policy, lines[:40])
        assert not (where / "s.db-wal").exists()  # closed: the file holds everything
    before = {where: sqlite_digest(where / "s.db") for where in (file_folder, folder)}
    # a read-only database file in a writable folder, and a read-only folder, at once
    script = r'''
out="$1"; file="$2"; dir="$3"; log="$4"
run() { name=$1; shift; "$@" > "$out/$name.out" 2> "$out/$name.err"; echo $? > "$out/$name.rc"; }
mount --bind "$file/s.db" "$file/s.db" && mount -o remount,ro,bind "$file/s.db" || exit 9
mount --bind "$dir" "$dir" && mount -o remount,ro,bind "$dir" || exit 9
run file_replay $CL replay "$log" --db "$file/s.db" --batch 1 &
run file_replay_grouped $CL replay "$log" --db "$file/s.db" &
run file_export $CL log export --db "$file/s.db" &
run file_export_nokey env -u CLAUSELINE_REDACTION_KEY $CL log export --db "$file/s.db" &
run folder_replay $CL replay "$log" --db "$dir/s.db" &
run folder_new $CL replay "$log" --db "$dir/new.db" &
run folder_sub $CL replay "$log" --db "$dir/sub/new.db" &
wait
'''
    out = tmp_path / "out"
    out.mkdir()
    done = in_namespace(script, str(out), str(file_folder), str(folder), str(log))
    assert done.returncode == 0, done.stderr

    def result(name):
        return (int((out / f"{name}.rc").read_text()), (out / f"{name}.out").read_text(),
                (out / f"{name}.err").read_text())

    # writing fails at the first new event, with one error
    code, printed, err = result("file_replay")
    assert code == 1
    assert "SQLITE_READONLY" in the_error(err, "store.read_only")
    assert [json.loads(p)["status"] for p in printed.splitlines()] == \
        [("duplicate" if json.loads(w)["status"] == "accepted" else json.loads(w)["status"])
         for w in clean_run(policy, lines[:40])]  # the stored ones answered as duplicates
    # group commit (the default): the batch holding the first new event is refused whole
    code, printed, err = result("file_replay_grouped")
    assert (code, printed) == (1, "")
    assert "SQLITE_READONLY" in the_error(err, "store.read_only")
    # reading still works, and makes no key file
    for name in ("file_export", "file_export_nokey"):
        code, printed, err = result(name)
        assert code == 0, err
        assert len(printed.splitlines()) == len(accepted_of(clean_run(policy, lines[:40])))
        assert verify(printed.splitlines()).ok
    assert not (file_folder / "s.db.key").exists()
    # a read-only folder: an existing store, a new one, a new one in a new folder
    for name in ("folder_replay", "folder_new", "folder_sub"):
        code, printed, err = result(name)
        assert (code, printed) == (1, ""), (name, err)
        the_error(err, "store.read_only")
    assert not (folder / "new.db").exists() and not (folder / "sub").exists()
    assert sqlite_digest(folder / "s.db") == before[folder]
    # the read-only file: beside it, SQLite left its lock index (-shm) and an empty -wal
    assert sqlite_digest(file_folder / "s.db") == before[file_folder]
    assert not (file_folder / "s.db-wal").exists() or (file_folder / "s.db-wal").stat().st_size == 0


def test_read_only_sqlite_and_postgresql_in_process(policy, store_url, backend):
    """SQLite: ``PRAGMA query_only`` on every connection (SQLITE_READONLY, as a read-only file
    gives); PostgreSQL: ``default_transaction_read_only`` (25006, as a hot standby answers)."""
    lines = mixed_log(60, subjects=6, seed=31)
    make_store(store_url, policy, lines[:30])
    before = _snapshot(store_url)[:2]
    stored = len(accepted_of(clean_run(policy, lines[:30])))

    def read_only(create):
        if backend == "postgresql":
            return open_store(store_url.replace(
                "options=", "options=-cdefault_transaction_read_only%3Don%20"), create=create)
        store = open_store(store_url, create=create)
        _query_only(store)
        return store

    # a reading command reads; a write is refused with one error, and writes nothing
    store = read_only(create=False)
    try:
        assert store.count() == stored and store.due("2030-01-01T00:00:00Z") is not None
        with pytest.raises(StoreError) as caught:
            for _ in Session(policy, store).replay(lines):
                pass
        assert caught.value.code == "store.read_only", caught.value
        assert ("25006" if backend == "postgresql" else "SQLITE_READONLY") in caught.value.message
        assert store.stored == 0
    finally:
        store.close()
    assert _snapshot(store_url)[:2] == before
    if backend == "postgresql":
        # a new store on a read-only connection: refused at once, no table made
        schema = PgSchema()
        try:
            with pytest.raises(StoreError) as caught:
                open_store(schema.url.replace("options=",
                                              "options=-cdefault_transaction_read_only%3Don%20"))
            assert caught.value.code == "store.read_only"
            assert _snapshot(schema.url)[0] == []
        finally:
            schema.drop()


def _query_only(store) -> None:
    @sa.event.listens_for(store.engine, "connect")
    def _read_only(dbapi_connection, _record):
        dbapi_connection.execute("PRAGMA query_only=ON")
    store.engine.dispose()


# -- PostgreSQL: connections lost, transactions in the way ------------------------------------

def _named(url: str, name: str) -> str:
    return f"{url}&application_name={name}"


def _terminate(name: str) -> int:
    """End every session of application ``name`` from another connection; how many there were."""
    from .conftest import pg_base
    import psycopg

    with psycopg.connect(pg_base(), autocommit=True) as conn:
        pids = [r[0] for r in conn.execute(
            "select pid from pg_stat_activity where application_name = %s", (name,))]
        for pid in pids:
            conn.execute("select pg_terminate_backend(%s)", (pid,))
        for _ in range(100):  # until they are gone
            if not conn.execute("select 1 from pg_stat_activity where pid = any(%s)",
                                (pids,)).fetchone():
                break
            time.sleep(0.02)
    return len(pids)


def test_postgresql_backend_terminated_during_a_cli_replay(policy, pg_url, tmp_path):
    lines = mixed_log(300, subjects=30, seed=37)
    log = write_log(tmp_path / "log.jsonl", lines)
    name = "cl_fault_" + os.urandom(4).hex()
    process = subprocess.Popen(cli_command("replay", str(log), "--db", _named(pg_url, name),
                                           "--batch", "20"),
                               cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    printed, hits = [], 0
    for target in (40, 110, 180):
        while len(printed) < target:
            line = process.stdout.readline()
            if not line:
                break
            printed.append(line.rstrip("\n"))
        if process.poll() is None:
            hits += _terminate(name) > 0
    printed += process.stdout.read().splitlines()
    err = process.stderr.read()
    process.wait(timeout=120)
    assert hits >= 2, "the replay ended before the sessions could be terminated"
    assert process.returncode == 0, err
    assert "Traceback" not in err and err.count("retrying in") >= 1, err
    assert printed == clean_run(policy, lines)  # as if nothing had happened
    store = open_store(pg_url)
    try:
        assert assert_consistent(store, policy, lines) == len(accepted_of(printed))
    finally:
        store.close()


@pytest.mark.parametrize("batch", [1, 20])
def test_postgresql_backend_terminated_between_events_in_process(policy, pg_url, caplog, batch):
    lines = mixed_log(150, subjects=12, seed=41)
    name = "cl_fault_" + os.urandom(4).hex()
    store = open_store(_named(pg_url, name))
    kills = 0
    got = []
    try:
        with caplog.at_level("WARNING", logger="clauseline.store"):
            for number, decision in Session(policy, store).replay(lines, batch=batch):
                got.append(decision.to_json())
                if number % 25 == 0 and number < len(lines) - 10:  # events follow each kill
                    kills += _terminate(name) > 0
        assert kills >= 4  # 25, 50, ..., 125
        retries = [r for r in caplog.records if "retrying in" in r.getMessage()]
        assert len(retries) >= kills
        assert all(("57P01" in r.getMessage() or "lost" in r.getMessage()) for r in retries)
        assert got == clean_run(policy, lines)
        assert assert_consistent(store, policy, lines) == len(accepted_of(got))
    finally:
        store.close()


@pytest.mark.parametrize("batch", [1, 4])
def test_a_commit_whose_answer_is_lost_is_applied_once_and_answered_as_accepted(policy, pg_url,
                                                                                batch):
    import psycopg

    lines = mixed_log(60, subjects=6, seed=43)
    name = "cl_fault_" + os.urandom(4).hex()
    store = open_store(_named(pg_url, name))
    dialect = store.engine.dialect
    real_commit = dialect.do_commit
    wrote = threading.local()
    lost, writes = [], []

    @sa.event.listens_for(store.engine, "before_cursor_execute")
    def _spy(conn, cursor, statement, *args):
        if statement.startswith("INSERT INTO events"):
            wrote.event = True

    def do_commit(dbapi_connection):
        real_commit(dbapi_connection)  # the server commits ...
        if getattr(wrote, "event", False):
            writes.append(1)
        if getattr(wrote, "event", False) and len(writes) % 5 == 0 and len(lost) < 3:
            wrote.event = False
            lost.append(len(writes))
            _terminate(name)  # ... and the connection dies before its answer arrives
            raise psycopg.OperationalError("consuming input failed: server closed the connection "
                                           "unexpectedly")
        wrote.event = False

    dialect.do_commit = do_commit
    try:
        got = [d.to_json() for _, d in Session(policy, store).replay(lines, batch=batch)]
    finally:
        dialect.do_commit = real_commit
    try:
        assert len(lost) == 3
        assert got == clean_run(policy, lines)  # accepted, not "duplicate" of itself
        assert assert_consistent(store, policy, lines) == len(accepted_of(got))
    finally:
        store.close()


@pytest.mark.parametrize("errcode,sqlstate", [("serialization_failure", "40001"),
                                              ("deadlock_detected", "40P01")])
def test_serialization_failures_and_deadlocks_are_retried_then_given_up(
        policy, pg_url, fast_backoff, caplog, errcode, sqlstate):
    lines = mixed_log(12, subjects=3, seed=47)
    store = open_store(pg_url)
    try:
        events = [json.loads(line) for line in lines]
        session = Session(policy, store)
        want = clean_run(policy, lines)
        # two failed attempts, then success: one decision, stored once
        _trigger(store, errcode, when="nextval('fault_n') <= 2")
        with caplog.at_level("WARNING", logger="clauseline.store"):
            first = session.submit(events[0])
        assert first.to_json() == want[0] and _fault_count(store) == 3
        retries = [r.getMessage() for r in caplog.records if "retrying in" in r.getMessage()]
        assert len(retries) == 2 and all(sqlstate in r and "refused" not in r for r in retries)
        # failing every time: given up after ATTEMPTS attempts, nothing stored
        _drop_trigger(store)
        _trigger(store, errcode, when="nextval('fault_n') > 0")
        at = next(i for i, w in enumerate(want) if i > 0 and json.loads(w)["status"] == "accepted")
        with pytest.raises(StoreError) as caught:
            session.submit(events[at])
        assert caught.value.code == "store.unavailable" and sqlstate in caught.value.message
        assert f"tried {store_sql.ATTEMPTS} times" in caught.value.message
        assert _fault_count(store) == store_sql.ATTEMPTS
        assert store.count() == 1
    finally:
        store.close()


def test_an_unreachable_server_is_retried_then_reported_without_its_password(fast_backoff, capsys):
    from clauseline.cli import main

    started = time.monotonic()
    with pytest.raises(StoreError) as caught:
        open_store("postgresql://root:s3cret-Pw@127.0.0.1:9/test")
    message = caught.value.message
    assert caught.value.code == "store.unavailable"
    assert f"tried {store_sql.ATTEMPTS} times" in message and "Connection refused" in message
    assert "s3cret-Pw" not in message and "root:***@127.0.0.1:9/test" in message
    assert time.monotonic() - started < 30
    # a fault that waiting does not mend is reported at once
    from .conftest import pg_base
    missing = pg_base().rsplit("/", 1)[0] + "/no_such_database_" + os.urandom(3).hex()
    with pytest.raises(StoreError) as caught:
        open_store(missing)
    assert "does not exist" in caught.value.message and "tried" not in caught.value.message
    # the CLI: one line, exit 1
    assert main(["replay", str(ROOT / "examples" / "demo-log.jsonl"), "--db",
                 "postgres://root:s3cret-Pw@127.0.0.1:9/test"]) == 1
    captured = capsys.readouterr()
    line = the_error(captured.err, "store.unavailable")
    assert captured.out == "" and "s3cret-Pw" not in captured.err and "postgres://root:***@" in line
