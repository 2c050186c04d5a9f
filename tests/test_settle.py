"""A long-running process keeps what its start-up made out of the garbage collector's full
collections (``clauseline.process.settle``): such a collection walked the policy, its compiled
rules and the app every time, and stopped the server (every request in flight) for 50 to 63 ms
on the machine of bench/README.md, "Issue 23, sixth round"; frozen, it walks only what was made
since. Checked where each process has started: ``clauseline serve`` (one worker) at the moment
uvicorn would run, a worker of ``clauseline serve --workers N`` once its factory returned, and
``clauseline consume`` when it begins to read."""

from __future__ import annotations

import gc
import signal
import sys

import pytest

from service.server import free_port


@pytest.fixture
def unfrozen():
    """Leaves this test process's collector as it found it."""
    gc.unfreeze()
    yield
    gc.unfreeze()


def _tracked(thing) -> bool:
    """Whether ``thing`` is among the objects the collector's generations hold (a frozen object
    is not: it is in the permanent generation)."""
    return any(o is thing for o in gc.get_objects())


def test_serve_freezes_its_start_up_before_it_serves(tmp_path, monkeypatch, unfrozen):
    import uvicorn

    from clauseline.service import server as server_module
    from clauseline.service.settings import Settings

    seen = {}

    def instead_of_serving(self, *args, **kwargs):
        app = self.config.app
        seen.update(frozen=gc.get_freeze_count(), app_tracked=_tracked(app),
                    policy_tracked=_tracked(app.state.policy),
                    young=_tracked(object.__new__(type("Later", (), {}))))
        app.state.store.close()  # its shutdown, which never comes here
        self.started = True

    monkeypatch.setattr(uvicorn.Server, "run", instead_of_serving)
    monkeypatch.setattr(server_module, "_stopped", [])
    monkeypatch.setattr(sys, "unraisablehook", sys.unraisablehook)  # serve() wraps it
    previous = signal.getsignal(signal.SIGTERM)
    try:
        code = server_module.serve(Settings(db=f"sqlite:///{tmp_path / 'serve.db'}", auth=False),
                                   host="127.0.0.1", port=free_port(), workers=1)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert code == 0 and seen, "uvicorn was never reached"
    # the app and its policy are frozen: a full collection no longer walks them
    assert seen["app_tracked"] is False and seen["policy_tracked"] is False
    assert seen["frozen"] > 10_000
    # what is made once it serves is collected as usual
    assert seen["young"] is True


def test_a_worker_of_several_freezes_its_start_up(tmp_path, monkeypatch, unfrozen):
    from clauseline.service.app import app_from_env
    from clauseline.service.settings import Settings

    for name, value in Settings(db=f"sqlite:///{tmp_path / 'worker.db'}", auth=False) \
            .to_env().items():
        monkeypatch.setenv(name, value)
    before = gc.get_freeze_count()
    app = app_from_env()
    assert gc.get_freeze_count() > before + 10_000
    assert not _tracked(app) and not _tracked(app.state.policy)
    app.state.store.close()


def test_an_app_made_elsewhere_is_left_to_its_process(tmp_path, unfrozen):
    """``create_app`` (an embedding, a test client) does not touch the collector."""
    from clauseline.service.app import create_app
    from clauseline.service.settings import Settings

    app = create_app(Settings(db=f"sqlite:///{tmp_path / 'embedded.db'}", auth=False))
    assert gc.get_freeze_count() == 0
    assert _tracked(app)
    app.state.store.close()


def test_consume_freezes_its_start_up_before_it_reads(monkeypatch, unfrozen, policy):
    import argparse

    from clauseline.stream import consume as consume_module

    seen = {}

    async def instead_of_reading(policy, **options):
        seen.update(frozen=gc.get_freeze_count(), policy_tracked=_tracked(policy))
        return consume_module.Counters()

    monkeypatch.setattr(consume_module, "consume", instead_of_reading)
    args = argparse.Namespace(metrics_port=None, metrics_host=None, quiet=True, nats="nats://x",
                              stream="S", db="sqlite:///unused.db", partitions=None,
                              partition=None, drain=True, batch=10, decisions="-", max_age=None)
    assert consume_module.run_consume(policy, args) == 0
    assert seen["frozen"] > 10_000 and seen["policy_tracked"] is False
