"""The command's entry point: Ctrl-C is never lost, wherever it lands."""

from __future__ import annotations

import sys

import clauseline.cli
from clauseline import _entry


class _Finalized:
    """An object whose finalizer is running when Ctrl-C arrives (a database cursor's, say)."""

    def __del__(self):
        raise KeyboardInterrupt  # what the SIGINT handler raises in the code it interrupts


def test_ctrl_c_landing_in_a_finalizer_still_stops_the_command(monkeypatch, capsys):
    ran = []

    def command(argv):
        _Finalized()  # dropped at once: its __del__ runs, and Python can only report its error
        for _ in range(10**8):  # the rest of a long replay
            pass
        ran.append("to the end")
        return 0

    monkeypatch.setattr(clauseline.cli, "main", command)
    assert _entry.main([]) == 130
    err = capsys.readouterr().err
    assert ran == [] and err == "clauseline: interrupted\n"  # one line, no "Exception ignored"


def test_other_errors_in_finalizers_go_to_the_hook_as_before(monkeypatch):
    class Broken:
        def __del__(self):
            raise RuntimeError("a finalizer's own bug")

    def command(argv):
        Broken()
        return 0

    seen = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: seen.append(u.exc_value))
    monkeypatch.setattr(clauseline.cli, "main", command)
    assert _entry.main([]) == 0
    assert [str(e) for e in seen] == ["a finalizer's own bug"]
