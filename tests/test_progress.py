"""Progress on long replays and exports: a bar on stderr when stderr is a terminal, nothing when
it is not (a pipe, a file, CI) or with --quiet, and never a change to what goes to stdout."""

from __future__ import annotations

import math
import os
import pty
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "examples" / "demo-log.jsonl"


def run(args, *, tty: bool, stdin: Path | None = None) -> tuple[int, str, str]:
    """The CLI with stderr on a pseudo-terminal (``tty``) or a pipe; stdout always a pipe;
    stdin from a file when given."""
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "120",
           "CLAUSELINE_REDACTION_KEY": "k"}
    if not tty:
        done = subprocess.run([sys.executable, "-m", "clauseline", *args], capture_output=True,
                              text=True, cwd=ROOT, env=env, timeout=300)
        return done.returncode, done.stdout, done.stderr
    leader, follower = pty.openpty()
    # stdout to a file: a pipe nobody reads while the terminal is read would fill and block
    stdout = tempfile.TemporaryFile()
    source = open(stdin, "rb") if stdin else subprocess.DEVNULL
    process = subprocess.Popen([sys.executable, "-m", "clauseline", *args], stdout=stdout,
                               stderr=follower, cwd=ROOT, env=env, stdin=source)
    if stdin:
        source.close()
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed with the process
            break
        if not chunk:
            break
        chunks.append(chunk)
    process.wait(timeout=300)
    stdout.seek(0)
    out = stdout.read().decode()
    stdout.close()
    os.close(leader)
    return process.returncode, out, b"".join(chunks).decode(errors="replace")


@pytest.mark.slow  # about 12 s: make test-slow (and .ci/run)
def test_a_replay_shows_progress_on_a_terminal_only(tmp_path):
    code, out, err = run(["replay", str(DEMO)], tty=True)
    piped = run(["replay", str(DEMO)], tty=False)
    quiet = run(["replay", str(DEMO), "--quiet"], tty=True)
    assert code == piped[0] == quiet[0] == 0
    assert out == piped[1] == quiet[1]  # the decisions do not change
    events = sum(1 for line in DEMO.open() if line.strip())
    assert "clauseline replay" in err and f"/{events}" in err, err[-500:]
    assert "━" in err or "\x1b[" in err  # a drawn bar
    for text in (piped[2], quiet[2]):
        assert f"/{events}" not in text and "\x1b[" not in text
        assert text.startswith("clauseline replay: ") and "events in" in text


def test_a_log_export_shows_progress_on_a_terminal_only(tmp_path):
    db = f"sqlite:///{tmp_path / 'p.db'}"
    assert run(["replay", str(DEMO), "--db", db, "--quiet"], tty=False)[0] == 0
    code, out, err = run(["log", "export", "--db", db], tty=True)
    assert code == 0 and "clauseline log export" in err and "\x1b[" in err
    piped = run(["log", "export", "--db", db], tty=False)
    assert piped[1] == out and "\x1b[" not in piped[2]


# --- what the bar says: labelled elapsed and remaining times, a rate, a smoothed estimate ------

from clauseline.cli.common import RateEstimate, clock_text, progress_line  # noqa: E402

#: one frame of the bar as the terminal shows it (escape sequences removed)
ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
FRAME = re.compile(r"clauseline (?P<what>[a-z -]+?) ━+ (?P<done>\d+)(?:/(?P<total>\d+))? events  "
                   r"elapsed (?P<elapsed>\d+:\d\d:\d\d)  (?P<rate>[\d,]+|-) events/s"
                   r"(?:  remaining ~(?P<remaining>\d+:\d\d:\d\d|-:--:--))?")


def frames(err: str) -> list[re.Match]:
    text = ESCAPES.sub("", err.replace("\r", "\n"))
    return [m for m in map(FRAME.search, text.splitlines()) if m]


def run_steady(estimate: RateEstimate, rate: float, seconds: float, step: float = 0.1,
               start: float = 0.0) -> float:
    """Feed ``rate`` events a second for ``seconds``, one call per ``step``; the clock after."""
    now, carry = start, 0.0
    while now < start + seconds - 1e-9:
        now += step
        carry += rate * step
        done, carry = int(carry), carry - int(carry)
        estimate.advance(done, now)
    return now


def test_a_steady_rate_is_measured_and_the_remaining_time_follows_from_it():
    estimate = RateEstimate(total=10_000, now=0.0)
    now = run_steady(estimate, 400.0, 8.0)
    estimate.measure(now, force=True)
    assert abs(estimate.rate - 400.0) / 400.0 < 0.02
    assert estimate.remaining(now) == pytest.approx((10_000 - estimate.completed) / estimate.rate)
    # between two measures the remaining time counts down with the clock
    later = now + estimate.interval / 2
    assert estimate.remaining(later) == pytest.approx(estimate.remaining(now) - estimate.interval / 2)
    assert not estimate.measure(later)  # no new measure inside an interval


def test_batches_give_a_smoothed_rate_and_a_remaining_time_that_does_not_jump():
    """A replay into a store is decided in batches: 500 events at once, then nothing for a
    second. Measured per interval the rate is 0 or thousands; the estimate stays near the true
    average, and the remaining time counts down with the clock, off it by well under a second
    at each step, while the naive estimate (events left over the last interval's rate) jumps."""
    total, batch, period, step = 30_000, 500, 1.0, 0.1
    estimate = RateEstimate(total=total, now=0.0)
    now, shown, naive, last = 0.0, [], [], (0.0, 0)
    while estimate.completed < total:
        for tick in range(round(period / step)):
            now += step
            estimate.advance(batch if tick == 0 else 0, now)
            if now - last[0] >= 0.3:  # the naive estimate, measured over the same intervals
                rate = (estimate.completed - last[1]) / (now - last[0])
                naive.append((now, (total - estimate.completed) / rate if rate else math.inf))
                last = (now, estimate.completed)
            if 2 * estimate.tau < now and estimate.completed < total - 2 * batch:
                shown.append((now, estimate.rate, estimate.remaining(now), estimate.completed))
    true_rate = batch / period
    assert all(abs(rate - true_rate) / true_rate < 0.15 for _, rate, _, _ in shown), shown[:20]
    for _, _, left, done in shown:
        assert abs(left - (total - done) / true_rate) < 0.15 * (total - done) / true_rate + 1
    off = [abs((left1 - left0) + (t1 - t0))
           for (t0, _, left0, _), (t1, _, left1, _) in zip(shown, shown[1:])]
    assert max(off) < 1.0, max(off)
    # the naive one: an endless time for the intervals with no batch, a fraction of the
    # truth for those with one
    assert sum(1 for _, left in naive if math.isinf(left)) > len(naive) / 3
    assert min(left for _, left in naive) < 0.5 * (total - batch) / true_rate


def test_a_first_batch_slower_than_the_warm_up_starts_the_rate_from_the_average():
    """Nothing done for 7 seconds (a first batch of slow events), then 500: the rate starts
    from the average since the start, not from a moving average of zeros."""
    estimate = RateEstimate(total=5_000, now=0.0)
    for tenth in range(1, 71):
        estimate.advance(0, tenth / 10)
    assert estimate.rate == 0 and estimate.remaining(7.0) is None
    estimate.advance(500, 7.5)
    assert estimate.rate == pytest.approx(500 / 7.5)
    assert estimate.remaining(7.5) == pytest.approx(4_500 / estimate.rate)


def test_the_words_of_the_bar():
    estimate = RateEstimate(total=409, now=100.0)
    assert progress_line("replay", estimate, 100.0) == (
        "0/409 events  elapsed 0:00:00  - events/s  remaining ~-:--:--")
    estimate.advance(200, 101.0)
    line = progress_line("replay", estimate, 101.0)
    assert line == (f"200/409 events  elapsed 0:00:01  {estimate.rate:,.0f} events/s  "
                    f"remaining ~{clock_text((409 - 200) / estimate.rate)}")
    unknown = RateEstimate(total=None, now=0.0)
    unknown.advance(3_000, 2.0)
    assert progress_line("replay", unknown, 2.0) == "3000 events  elapsed 0:00:02  1,500 events/s"
    assert clock_text(3725) == "1:02:05" and clock_text(None) == "-:--:--"


def test_the_bar_on_a_terminal_is_labelled_with_a_rate_and_the_quiet_summary_stays():
    events = sum(1 for line in DEMO.open() if line.strip())
    code, out, err = run(["replay", str(DEMO)], tty=True)
    assert code == 0
    shown = frames(err)
    assert shown, err[-800:]
    last = shown[-1]
    assert last["what"] == "replay" and last["total"] == str(events)
    assert last["done"] == str(events) and last["rate"] != "-" and last["remaining"] == "0:00:00"
    assert all(f["remaining"] is not None for f in shown)
    # --quiet: no bar, and the summary (the command's result) on stderr all the same
    code, quiet_out, quiet_err = run(["replay", str(DEMO), "--quiet"], tty=True)
    assert code == 0 and quiet_out == out and not frames(quiet_err) and "\x1b[" not in quiet_err
    assert quiet_err.startswith(f"clauseline replay: {events} events in ")
    assert "accepted" in quiet_err and "outcomes" in quiet_err


def test_with_no_total_the_bar_shows_the_count_and_rate_but_no_remaining_time(tmp_path):
    """A log on stdin is not counted first: no total, so no remaining time."""
    lines = DEMO.read_text(encoding="utf-8").splitlines()[:60]
    log = tmp_path / "sixty.jsonl"
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, out, err = run(["replay", "-"], tty=True, stdin=log)
    assert code == 0 and len(out.splitlines()) == len(lines)
    shown = frames(err)
    assert shown and all(f["total"] is None and f["remaining"] is None for f in shown), err[-500:]
    assert shown[-1]["done"] == str(len(lines))
