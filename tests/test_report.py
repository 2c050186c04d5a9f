"""The audit report (clauseline.report): what an auditor reads must match the log, explain every
violation with the sentence it breaks, keep untrusted event data as text, show no card, bank or
SSN number, fetch nothing, and be the same bytes for the same log; and it must render in a real
browser (headless Chromium) with its charts and without a console error.

The records are the demo log replayed in memory (not reduced: the report itself must mask), plus
a few lines that bring what the demo lacks: a subject id that is an HTML script, a card number in
free text, an obligation still open and one missed (reported by the engine's timer, a decision of
its own in the records). Obligations and the chain result come from the same lines replayed into
a SQLite store, as the CLI would give them."""

from __future__ import annotations

import csv
import html
import io
import json
import re
import struct
import zlib
from collections import Counter
from pathlib import Path

import pytest
from helpers import chromium, run_chromium

from clauseline import Session, canonical, chain
from clauseline.eventtime import format_time, parse_time
from clauseline.report import (MAX_EXAMPLES, OBLIGATION_FIELDS, obligations_csv, reading_html,
                               render_html, violations_csv)
from clauseline.report import replayed as report_records
from clauseline.store import open_store
from clauseline.timers import TIMER_SOURCE

REPO = Path(__file__).resolve().parents[1]
LOG = REPO / "examples" / "demo-log.jsonl"
OUT = REPO / "out"

HOSTILE = "<script>alert(1)</script>"
CARD = "6011111111111117"          # a Luhn-valid test card number the demo log does not carry
CARD_SPACED = "6011 1111 1111 1117"
EXTRA = [
    {"specversion": "1.0", "id": "r-0001", "source": "/tests/report", "type": "account.opened",
     "time": "2020-03-01T07:00:00Z", "subject": HOSTILE,
     "data": {"profile": {"role": "customer", "user_type": "family",
                          "residence": {"country": "US", "region": "US-CA"}},
              "collected": ["name", "email", "voice"], "channel": "web"}},
    {"specversion": "1.0", "id": "r-0002", "source": "/tests/report", "type": "payment.made",
     "time": "2020-03-01T07:10:00Z", "subject": HOSTILE,
     "data": {"transaction_id": f"txn {CARD_SPACED}", "amount": 10, "currency": "USD",
              "instrument": "credit_card", "status": "completed", "encrypted_in_transit": False,
              "product": "advance_connect", "card_number": CARD}},
    {"specversion": "1.0", "id": "r-0003", "source": "/tests/report", "type": "ccpa.request.filed",
     "time": "2020-03-01T07:20:00Z", "subject": HOSTILE,
     "data": {"request_id": "ccpa-2020-0101", "kinds": ["categories"], "delivery": "account",
              "has_account": True}},
    {"specversion": "1.0", "id": "r-0004", "source": "/privacy/ccpa", "type": "ccpa.request.filed",
     "time": "2020-01-10T10:00:00Z", "subject": "vis-c44f21",
     "data": {"request_id": "ccpa-2020-0102", "kinds": ["categories"], "delivery": "mail",
              "has_account": False}},
    {"specversion": "1.0", "id": "r-0005", "source": "/scheduler", "type": "clock.tick",
     "time": "2020-03-02T06:00:00Z", "data": {}},
]
LAST_TIME = "2020-03-02T06:00:00Z"


def log_lines() -> list[str]:
    return LOG.read_text(encoding="utf-8").splitlines() + [json.dumps(e) for e in EXTRA]


def replayed(policy, lines: list[str]) -> list[dict]:
    """Records as the report takes them: each replayed line's parsed event and decision, and
    each timer's tick and decision (yielded just before the line that fired it)."""
    return [{"event": event, "decision": decision.as_dict()}
            for event, decision in report_records(Session(policy).replay(lines), lines)]


def timer_records(records):
    return [r for r in records if r["decision"]["event_source"] == TIMER_SOURCE]


@pytest.fixture(scope="module")
def records(policy):
    return replayed(policy, log_lines())


@pytest.fixture(scope="module")
def stored(policy, tmp_path_factory):
    """(obligations owed at the log's end, chain result, records of the store's log)."""
    path = tmp_path_factory.mktemp("report") / "report.db"
    store = open_store(f"sqlite:///{path}")
    try:
        for _ in Session(policy, store).replay(log_lines()):
            pass
        owed = store.owed()
        log = list(store.log())
    finally:
        store.close()
    verdict = chain.verify(canonical.dumps(r) for r in log)
    return owed, str(verdict), [{"event": r["event"], "decision": r["decision"]} for r in log]


@pytest.fixture(scope="module")
def page(records, stored, policy):
    owed, verdict, _ = stored
    return render_html(records, policy=policy, obligations=owed, chain=verdict)


def stats(text: str) -> dict[str, str]:
    return dict(re.findall(r'data-stat="([^"]+)">([^<]*)<', text))


def accepted_outcomes(records):
    return [o for r in records if r["decision"]["status"] == "accepted" for o in r["decision"]["outcomes"]]


def violation_section(text: str, code: str) -> str:
    start = text.index(f'<div class="violation" id="v-{html.escape(code)}">')
    ends = [text.find(mark, start + 1) for mark in ('<div class="violation"', "</section>")]
    return text[start:min(end for end in ends if end > 0)]


def test_the_records_carry_what_the_tests_rely_on(records, stored):
    owed, verdict, _ = stored
    statuses = Counter(r["decision"]["status"] for r in records)
    assert statuses["rejected"] == 3 and statuses["duplicate"] == 1
    assert {o["status"] for o in owed} == {"open", "missed"}
    timers = timer_records(records)  # the demo's missed deadline and the one missed here
    assert [o["violation"] for r in timers for o in r["decision"]["outcomes"]] == [
        "ccpa.deadline_missed"] * 2
    assert statuses["accepted"] == 412  # 410 events and the 2 timers' decisions: the chain's
    assert verdict.startswith("chain intact: 412 record(s)")
    assert any(o.get("subject") == HOSTILE for o in accepted_outcomes(records))


def test_summary_counts_equal_counts_from_the_records(page, records):
    shown = stats(page)
    timers = timer_records(records)  # counted apart from the events, their outcomes with them
    statuses = Counter(r["decision"]["status"] for r in records if r not in timers)
    outcomes = accepted_outcomes(records)
    kinds = Counter(o["kind"] for o in outcomes)
    effects = Counter(o["effect"] for o in outcomes if o["kind"] == "disclosure")
    times = [parse_time(r["decision"]["time"]) for r in records if r["decision"]["time"]]
    assert shown["records"] == str(len(records))
    for status in ("accepted", "duplicate", "rejected"):
        assert shown[f"status.{status}"] == str(statuses[status])
    assert shown["timers"] == str(len(timers)) == "2"
    for kind in ("disclosure", "retention", "notice", "obligation", "violation"):
        assert shown[f"kind.{kind}"] == str(kinds[kind])
    assert shown["outcomes"] == str(len(outcomes))
    assert (shown["effect.permit"], shown["effect.deny"]) == (str(effects["permit"]), str(effects["deny"]))
    assert (shown["first"], shown["last"]) == (format_time(min(times)), format_time(max(times)))
    assert shown["out_of_order"] == str(sum(1 for r in records if r["decision"].get("out_of_order")))
    for letter, count in Counter(o["clause"] for o in outcomes).items():
        assert shown[f"clause.{letter}"] == str(count)


def test_every_violation_code_is_explained_by_its_rule(page, records, policy):
    version = policy.latest
    found = Counter((o["violation"], o["rule"]) for o in accepted_outcomes(records) if o["kind"] == "violation")
    assert len({code for code, _ in found}) == 7
    shown = stats(page)
    for (code, rule_id), _ in found.items():
        assert shown[f"violation.{html.escape(code)}"] == str(
            sum(n for (c, _), n in found.items() if c == code))
        section = violation_section(page, code)
        rule = version.rule(rule_id)
        assert rule_id in section
        assert html.escape(rule.title) in section
        assert html.escape(rule.quote) in section
        assert f"clause <b>{rule.clause}</b>: {html.escape(version.clauses[rule.clause].title)}" in section
        for name in rule.interpretations:  # as prose (tests/test_report_prose.py)
            assert reading_html(version.interpretations[name].reading, version.memory) in section
    # examples are capped, and the page says how many it left out
    exempt = sum(n for (c, _), n in found.items() if c == "recording.exempt_user_type")
    assert exempt > MAX_EXAMPLES
    assert (f"{exempt - MAX_EXAMPLES} more violation(s) of this code not shown"
            in violation_section(page, "recording.exempt_user_type"))


def test_a_hostile_subject_id_is_rendered_as_text(page, records, policy):
    assert HOSTILE not in page
    assert html.escape(HOSTILE) in page
    assert page.count("<script") == 1  # the page's own filter script, and nothing else
    titled = render_html(records[:3], policy=policy, obligations=[], chain=None, title='<img src=x onerror=alert(1)>')
    assert "<img" not in titled and "&lt;img src=x onerror=alert(1)&gt;" in titled


def test_the_page_fetches_nothing(page):
    assert not re.search(r"""\b(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", page, re.I)
    assert not re.search(r"@import|url\(\s*['\"]?\s*(?:https?:)?//", page, re.I)
    assert not re.search(r"<(?:link|iframe|object|embed|img)\b|<script[^>]*\bsrc", page, re.I)
    assert html.escape("default-src 'none'") in page  # and the browser is told to block any fetch


def test_no_card_or_bank_number_reaches_the_page_or_the_csv(page, records, stored):
    owed, _, _ = stored
    raw = log_lines()
    numbers = {CARD, CARD_SPACED}
    for line in raw:
        numbers.update(re.findall(
            r'"(?:card_number|account_number|routing_number|ssn)":\s*"([^"]+)"', line))
    # the decisions quote the card number already masked (the engine masks outcomes); the
    # events the report shows beside them still hold it raw, so the report must mask them
    assert any("[redacted card ...1117]" in json.dumps(o) for o in accepted_outcomes(records))
    assert not any(CARD_SPACED in json.dumps(o) for o in accepted_outcomes(records))
    assert any(CARD_SPACED in json.dumps(r["event"]) for r in records if r["event"]), \
        "the replayed events should hold the card number, so that the report must mask it"
    outputs = {"html": page, "violations.csv": violations_csv(records),
               "obligations.csv": obligations_csv(owed)}
    for name, text in outputs.items():
        for number in numbers:
            assert number not in text, (name, number)
    assert "[redacted card ...1117]" in page and "[redacted card ...1117]" in outputs["violations.csv"]


def test_violations_csv_has_one_row_per_violation_outcome(records):
    rows = list(csv.DictReader(io.StringIO(violations_csv(records))))
    violations = [(r["decision"], o) for r in records if r["decision"]["status"] == "accepted"
                  for o in r["decision"]["outcomes"] if o["kind"] == "violation"]
    assert len(rows) == len(violations)
    assert list(rows[0]) == ["time", "event_source", "event_id", "subject", "clause", "rule",
                             "violation", "ref", "detail"]
    for row, (decision, outcome) in zip(rows, violations):
        assert (row["event_id"], row["rule"], row["violation"], row["subject"]) == (
            decision["event_id"], outcome["rule"], outcome["violation"], outcome["subject"])
    assert HOSTILE in {row["subject"] for row in rows}  # CSV is not HTML: the id is kept as text


def test_a_csv_cell_is_never_a_spreadsheet_formula(records):
    record = json.loads(json.dumps(next(r for r in records if any(
        o["kind"] == "violation" for o in r["decision"]["outcomes"]))))
    for outcome in record["decision"]["outcomes"]:
        outcome["subject"] = '=HYPERLINK("http://x","y")'
    rows = list(csv.DictReader(io.StringIO(violations_csv([record]))))
    assert rows and all(row["subject"] == "'" + '=HYPERLINK("http://x","y")' for row in rows)


def test_open_obligations_are_listed_and_drawn_on_a_timeline(page, stored, policy):
    owed, _, _ = stored
    rows = list(csv.DictReader(io.StringIO(obligations_csv(owed))))  # without the records:
    assert [r["ref"] for r in rows] == [o["ref"] for o in owed]        # one row per owed one
    assert list(rows[0]) == list(OBLIGATION_FIELDS)
    assert [(r["status"], r["owed"], r["step"], r["time"]) for r in rows] == [
        (o["status"], "true", "opened", o["opened_at"]) for o in owed]
    section = page[page.index('<section id="obligations">'):page.index('<section id="subjects">')]
    assert stats(section)["obligations"] == str(len(owed))
    start = section.index('<svg class="chart timeline"')
    timeline = section[start:section.index("</svg>", start)]
    for obligation in owed:
        assert obligation["ref"] in timeline and obligation["due_by"] in timeline
    assert f"last event {LAST_TIME}" in timeline
    assert stats(section)["obligations.late"] == "1"  # the missed one
    empty = render_html([], policy=policy, obligations=[], chain=None)
    assert "No obligation is owed." in empty and "No violation." in empty


def test_the_chain_result_is_shown(page, stored, records, policy):
    _, verdict, _ = stored
    assert f'data-chain="intact">{html.escape(verdict)}</p>' in page
    broken = "chain broken at line 5 (seq 5): its hash does not match its content: the record was changed"
    assert 'data-chain="broken"' in render_html(records, policy=policy, obligations=[], chain=broken)
    assert 'data-chain="none">Not applicable' in render_html(records, policy=policy, obligations=[], chain=None)


def test_each_subject_has_a_drill_down(page, records):
    subjects = {r["event"]["subject"] for r in records if r["event"] and "subject" in r["event"]}
    for subject in ("det-tx-40117", "cus-100262", HOSTILE):
        assert subject in subjects
        assert f'<details class="subject" data-subject="{html.escape(subject)}">' in page
    part = page[page.index(f'data-subject="{html.escape(HOSTILE)}"'):]
    part = part[:part.index("</details>")]
    assert "r-0001" in part and "r-0002" in part and "collection.unlisted_category" in part


def test_records_of_a_store_render_too(stored, policy):
    owed, verdict, log_records = stored
    text = render_html(log_records, policy=policy, obligations=owed, chain=verdict)
    timers = timer_records(log_records)  # a store keeps the timers' ticks and decisions
    assert len(timers) == 2 and all(r["event"]["source"] == TIMER_SOURCE for r in timers)
    shown = stats(text)
    assert shown["records"] == str(len(log_records))
    assert (shown["status.accepted"], shown["timers"]) == (str(len(log_records) - 2), "2")
    assert CARD not in text and HOSTILE not in text


def test_the_same_input_gives_the_same_bytes(page, records, stored, policy):
    owed, verdict, _ = stored
    again = json.loads(json.dumps(records))  # equal data, new objects
    assert render_html(again, policy=policy, obligations=list(owed), chain=verdict) == page
    assert violations_csv(again) == violations_csv(records)
    assert obligations_csv(list(owed)) == obligations_csv(owed)


# --- in a browser -----------------------------------------------------------------------------

def png_pixels(data: bytes) -> tuple[int, int, bytes]:
    """Width, height and the inflated image data of a PNG (filter bytes included)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    idat, offset = b"", 8
    while offset < len(data):
        length, kind = struct.unpack(">I4s", data[offset:offset + 8])
        if kind == b"IDAT":
            idat += data[offset + 8:offset + 8 + length]
        offset += 12 + length
    return width, height, zlib.decompress(idat)


@pytest.mark.skipif(chromium() is None, reason="Chromium is not installed (/usr/bin/chromium; "
                    "Debian: apt-get install -y chromium): the report is not checked in a browser")
def test_the_page_renders_in_headless_chromium(page, tmp_path):
    binary = chromium()
    OUT.mkdir(exist_ok=True)
    target = OUT / "report.html"
    target.write_text(page, encoding="utf-8")
    url = target.as_uri()

    dom = run_chromium(binary, tmp_path / "profile-dom", "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    console = [line for line in dom.stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]
    assert console == [], "\n".join(console)  # no error, no CSP refusal, no message at all
    rendered = dom.stdout
    assert rendered.count("<svg") >= 20  # charts, legends, sparklines, the timeline
    assert '<svg class="chart" role="img"' in rendered and '<svg class="chart timeline"' in rendered
    assert '<svg class="chart history"' in rendered  # each obligation's history
    assert rendered.count("<rect") >= 100
    # the inline script ran (the CSP hash matches it): it shows the subject filter
    assert re.search(r'<input id="subject-filter"[^>]*>', rendered)
    assert " hidden" not in re.search(r'<input id="subject-filter"[^>]*>', rendered).group()
    assert HOSTILE not in rendered and "alert(1)" in rendered

    shot = OUT / "report.png"
    shot.unlink(missing_ok=True)
    taken = run_chromium(binary, tmp_path / "profile-shot", f"--screenshot={shot}",
                         "--window-size=1280,2000", "--hide-scrollbars", url)
    assert taken.returncode == 0 and shot.is_file(), taken.stderr[-2000:]
    data = shot.read_bytes()
    width, height, pixels = png_pixels(data)
    assert (width, height) == (1280, 2000)
    assert len(data) > 50_000  # a page of text and charts, not a blank one
    assert len(set(pixels)) > 64  # many colours: the charts are drawn
