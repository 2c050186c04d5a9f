"""The policy's readings in the audit report read as prose: their Markdown rendered to HTML with
raw HTML kept as text and nothing that points elsewhere, and the template language's syntax
(``{time|add_days:45}``, ``memory.overdue_obligations``) said in words, from one mapping of its
filters and paths (clauseline.report.FILTER_WORDS, PATH_WORDS)."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from clauseline.policy.templates import FILTERS, PLACEHOLDER, parse_placeholder
from clauseline.report import (FILTER_WORDS, PATH_WORDS, path_words, reading_html, render_html,
                               syntax_words, template_words)

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "rules"
CODE_SPAN = re.compile(r"`([^`]+)`")


def shipped_placeholders() -> set[str]:
    """Every placeholder body of the shipped rule files (rules, policy and interpretations)."""
    found = set()
    for path in RULES.rglob("*.yaml"):
        for match in PLACEHOLDER.finditer(path.read_text(encoding="utf-8")):
            try:
                parse_placeholder(match.group(1))
            except ValueError:  # braces that are not a placeholder (a YAML flow mapping)
                continue
            found.add(match.group(1))
    return found


def shipped_readings(policy) -> list[tuple[str, str, dict]]:
    return [(name, i.reading, v.memory) for v in policy.versions
            for name, i in v.interpretations.items()]


def test_every_filter_of_the_template_language_has_a_wording():
    assert set(FILTER_WORDS) == set(FILTERS)
    for name, (one, many) in FILTER_WORDS.items():
        assert template_words(f"time|{name}:3") == f"{PATH_WORDS['time']} plus 3 {many}"
        assert template_words(f"time|{name}:-1") == f"{PATH_WORDS['time']} minus 1 {one}"
        assert name not in template_words(f"time|{name}:7")


def test_every_filter_the_shipped_rules_use_is_said_in_words(policy):
    used = {name for body in shipped_placeholders() for name, _ in parse_placeholder(body)[1]}
    assert used, "the shipped rules use time filters; the scan found none"
    assert used <= set(FILTER_WORDS), used - set(FILTER_WORDS)
    for body in shipped_placeholders():
        path, filters = parse_placeholder(body)
        words = template_words(body, policy.latest.memory)
        expected = path_words(path, policy.latest.memory) + "".join(
            f" {'minus' if arg < 0 else 'plus'} {abs(arg)} "
            f"{FILTER_WORDS[name][0] if abs(arg) == 1 else FILTER_WORDS[name][1]}"
            for name, arg in filters)
        assert words == expected
        assert "|" not in words and "{" not in words and not any(f in words for f in FILTERS)


def test_the_issue_s_examples_read_as_the_issue_asks():
    assert syntax_words("{time|add_days:45}") == "the event's time plus 45 days"
    assert syntax_words("memory.overdue_obligations") == "the obligations already overdue"
    assert syntax_words("{memory.request.opened_at|add_days:90}") == (
        "the time the request was received plus 90 days")
    assert syntax_words("{time|add_years:1}") == "the event's time plus 1 year"


def test_every_memory_path_a_reading_names_has_its_own_wording(policy):
    """No memory path in a shipped reading falls back to the generic wording."""
    named = set()
    for _, reading, memory in shipped_readings(policy):
        for code in CODE_SPAN.findall(reading):
            words = syntax_words(code, memory)
            if words is not None:
                named.add(code)
                assert not words.startswith("the value at"), (code, words)
                assert "memory." not in words and "{" not in words, (code, words)
    assert {"memory.overdue_obligations", "{time|add_days:45}"} <= named


def test_code_that_is_not_template_syntax_stays_code():
    for code in ('{"status": "pending"}', "{from, to}", "call.recorded", "data.profile",
                 "recording:<id>", "{}"):
        assert syntax_words(code) is None, code
    rendered = reading_html('a `{"status": "pending"}` and `call.recorded`')
    assert "<code>{&quot;status&quot;: &quot;pending&quot;}</code>" in rendered
    assert "<code>call.recorded</code>" in rendered


def test_reading_markdown_is_html_safe_and_leads_nowhere():
    hostile = ("<script>alert(1)</script> <img src=x onerror=alert(2)> [here](javascript:alert(3)) "
               "![pic](http://example.com/p.png) <http://example.com> **bold** `<b>x</b>` "
               "card 4111 1111 1111 1111, SSN 123-45-6789")
    out = reading_html(hostile)
    assert "<script" not in out and "<img" not in out and "<a " not in out and "href" not in out
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out
    assert "<strong>bold</strong>" in out and "<code>&lt;b&gt;x&lt;/b&gt;</code>" in out
    assert "4111 1111 1111 1111" not in out and "123-45-6789" not in out
    # the raw syntax stays available in the title, escaped
    titled = reading_html('`{time|add_days:45}` "quoted"')
    assert 'title="{time|add_days:45}"' in titled and "the event&#x27;s time plus 45 days" in titled


@pytest.fixture(scope="module")
def page(policy):
    from test_report import log_lines, replayed
    return render_html(replayed(policy, log_lines()), policy=policy, obligations=[], chain=None)


def test_the_page_shows_readings_as_prose_without_template_syntax(page, policy):
    readings = re.findall(r'<div class="reading">(.*?)</div>', page, re.S)
    assert readings
    shown = "".join(readings)
    visible = re.sub(r'title="[^"]*"', "", shown)  # the raw syntax is kept only in titles
    assert "`" not in visible
    assert not re.search(r"\{[a-z_.]+\|[a-z_]+:-?\d+\}", visible)
    assert not re.search(r"\bmemory\.[a-z_]", visible)
    # U's readings are shown (the demo log misses a CCPA deadline) and say it in words
    assert html.escape("the event's time plus 45 days") in shown
    assert "the obligations already overdue" in shown
    for name, reading, memory in shipped_readings(policy):
        if f"reading <code>{html.escape(name)}</code>" in page:
            assert reading_html(reading, memory) in page
