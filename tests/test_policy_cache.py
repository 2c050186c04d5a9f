"""The cache of parsed policy files (clauseline.policy.reading, CLAUSELINE_CACHE_DIR): a process
that loads the policy again reads its files' documents back instead of parsing them, and the
cache never changes what is loaded."""

from __future__ import annotations

import os

import pytest

from clauseline import load_policy
from clauseline.policy import reading


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv(reading.CACHE_ENV, str(folder))
    monkeypatch.setattr(reading, "_MEMO", {})
    return folder


def _never_parse(monkeypatch):
    def refuse():
        raise AssertionError("parsed although the cache holds the document")
    monkeypatch.setattr(reading, "_yaml", refuse)


def test_a_second_load_reads_the_documents_back_and_loads_the_same_policy(cache, monkeypatch):
    first = load_policy()
    kept = sorted(p.name for p in cache.iterdir())
    assert kept and all(len(name) == 64 for name in kept)
    assert (cache.stat().st_mode & 0o777) == 0o700
    monkeypatch.setattr(reading, "_MEMO", {})  # as another process: the disk only
    _never_parse(monkeypatch)
    second = load_policy()
    assert [v.content_hash for v in second.versions] == [v.content_hash for v in first.versions]
    assert [r.id for r in second.latest.rules] == [r.id for r in first.latest.rules]


def test_a_damaged_or_foreign_entry_is_parsed_again(cache, monkeypatch):
    load_policy()
    entries = sorted(cache.iterdir())
    entries[0].write_bytes(b"not a pickle")
    os.chmod(entries[1], 0o666)  # others may write it: never read back
    monkeypatch.setattr(reading, "_MEMO", {})
    parsed = []
    real = reading._yaml

    def counting():
        parsed.append(1)
        return real()
    monkeypatch.setattr(reading, "_yaml", counting)
    load_policy()
    assert len(parsed) == 2
    assert entries[0].read_bytes() != b"not a pickle"  # replaced by a good one


def test_off_keeps_nothing_on_disk(tmp_path, monkeypatch):
    monkeypatch.setenv(reading.CACHE_ENV, "off")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(reading, "_MEMO", {})
    load_policy()
    assert not any(tmp_path.rglob("*"))


def test_a_cache_folder_that_cannot_be_made_still_loads(tmp_path, monkeypatch):
    """A home that cannot hold the cache (here its place is a file): parsed each time."""
    (tmp_path / "file").write_text("not a folder")
    monkeypatch.setenv(reading.CACHE_ENV, str(tmp_path / "file" / "yaml"))
    monkeypatch.setattr(reading, "_MEMO", {})
    assert load_policy().latest.rules
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_a_document_with_unquoted_times_is_never_kept(cache, tmp_path):
    """ruamel.yaml keeps how a timestamp was written on the object, and pickling drops it: a
    scenario's ``time: 2019-07-01T09:00:00Z`` read a second time must still end in ``Z``."""
    from clauseline.testing.scenarios import load_scenarios
    path = tmp_path / "timed.yaml"
    path.write_text("name: a timed scenario\ndefaults:\n  time: 2019-07-01T09:00:00.123456Z\n"
                    "events:\n  - tick: P1D\n    expect: {outcomes: []}\n", encoding="utf-8")
    first = load_scenarios(path)[0].defaults["time"]
    again = load_scenarios(path)[0].defaults["time"]
    assert first == again == "2019-07-01T09:00:00.123456Z"
    assert not cache.exists() or not any(
        b"timed scenario" in entry.read_bytes() for entry in cache.iterdir())
