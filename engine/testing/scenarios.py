"""Scenario files: events in, expected decisions out, checked by the pytest plugin.

A scenario file is YAML validated against ``schemas/scenario.schema.json``; every problem names
the file, the line and the key, like a rule file's (the same located-error machinery). Loading
reports every problem of a file at once; a scenario that expects nothing is one of them. Running
a scenario feeds its events to a :class:`clauseline.testing.Timeline` and returns each unmet
expectation as readable text naming the step's line.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from ..errors import ClauselineError, Problem
from ..events.validation import BASE, SchemaSet
from ..eventtime import FRACTION_DIGITS, format_time
from ..policy.reading import dotted_key, line_of, plain, read_yaml, schema_problems
from .assertions import expectation_failures
from .timeline import Timeline

SCENARIO = BASE + "scenario.schema.json"
#: Fields a step that writes a shorthand event may carry besides ``type``.
_SHORTHAND = ("subject", "id", "source", "time", "data")


class ScenarioError(ClauselineError):
    """A scenario file could not be loaded: every located problem of the file."""


@dataclass(frozen=True)
class Step:
    """One step of a scenario: an event (complete or shorthand) or a clock tick, and what
    its decision must show (``expect``, possibly None)."""

    line: int
    event: dict | None = None
    after: str | None = None
    tick: str | None = None
    expect: dict | None = None

    @property
    def label(self) -> str:
        return "clock.tick" if self.tick else str((self.event or {}).get("type"))


@dataclass(frozen=True)
class Scenario:
    """A named scenario: steps, or a log with expectations keyed by event id
    (``log_expect``) or by the log's line number (``log_lines``); each expectation is kept
    with the line of the scenario file that states it."""

    name: str
    file: Path
    display: str
    line: int
    description: str = ""
    defaults: dict = field(default_factory=dict)
    rules: Path | None = None
    steps: tuple[Step, ...] = ()
    log: Path | None = None
    log_expect: dict[str, tuple[int, dict]] = field(default_factory=dict)
    log_lines: dict[int, tuple[int, dict]] = field(default_factory=dict)

    def timeline(self, rules: str | Path | None = None, observer=None) -> Timeline:
        """A fresh timeline for this scenario: its own ``rules`` first, then ``rules``."""
        return Timeline.for_rules(self.rules or rules, start=self.defaults.get("time"),
                                  subject=self.defaults.get("subject"), observer=observer,
                                  **({"source": self.defaults["source"]} if "source" in self.defaults else {}))

    def run(self, timeline: Timeline) -> list[str]:
        """Feed the scenario to ``timeline``; every unmet expectation, located, as text."""
        failures = []
        if self.log is not None:
            decisions: dict[str, Any] = {}
            by_line: dict[int, Any] = {}
            for number, decision in timeline.replay(self.log):
                decisions.setdefault(decision.event_id, decision)
                by_line[number] = decision
            for event_id, (line, expect) in self.log_expect.items():
                where = f"{self.display}:{line}: event {event_id}"
                if event_id not in decisions:
                    failures.append(f"{where}: no decision for this event id in {self.log.name}")
                    continue
                failures += [f"{where}: {f}" for f in expectation_failures(decisions[event_id], expect)]
            for number, (line, expect) in self.log_lines.items():
                where = f"{self.display}:{line}: {self.log.name} line {number}"
                failures += [f"{where}: {f}" for f in expectation_failures(by_line[number], expect)]
            return failures
        for number, step in enumerate(self.steps, start=1):
            if step.tick:
                decision = timeline.tick(step.tick)
            else:
                if step.after:
                    timeline.clock.advance(step.after)
                decision = timeline.submit(dict(step.event or {}))
            if step.expect is None:
                continue
            where = f"{self.display}:{step.line}: step {number} ({step.label})"
            failures += [f"{where}: {f}" for f in expectation_failures(decision, step.expect)]
        return failures


#: An unquoted YAML timestamp as written (YAML 1.1's form), from its first character.
_YAML_TIMESTAMP = re.compile(
    r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}"
    r"(?:\.(?P<fraction>[0-9]*))?(?:[ \t]*(?:Z|[-+][0-9]{1,2}(?::?[0-9]{2})?))?")


def _position(node: Any, key: Any) -> tuple[int, int] | None:
    """(line, column), counted from 0, of a YAML mapping's value or sequence's item."""
    try:
        return node.lc.value(key) if isinstance(node, dict) else node.lc.item(key)
    except (AttributeError, KeyError, IndexError, TypeError):
        return None


def _finer_than_microsecond(lines: list[str], where: tuple[int, int] | None) -> str | None:
    """The timestamp as written at ``where`` if YAML had to round it to the microsecond."""
    if where is None or where[0] >= len(lines):
        return None
    written = _YAML_TIMESTAMP.match(lines[where[0]], where[1])
    if written and (written.group("fraction") or "")[FRACTION_DIGITS:].strip("0"):
        return written.group(0)
    return None


def _textual_times(node: Any, lines: list[str] = (), where: tuple[int, int] | None = None) -> Any:
    """YAML reads unquoted timestamps and dates as objects; events carry them as text.

    ``lines`` (the file's text) lets a timestamp finer than a microsecond, which YAML rounds,
    be kept as written so that the schema refuses it with its line, never silently rounded.
    """
    if isinstance(node, dict):
        for key in list(node):
            node[key] = _textual_times(node[key], lines, _position(node, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            node[index] = _textual_times(value, lines, _position(node, index))
    elif isinstance(node, datetime):
        written = _finer_than_microsecond(lines, where)
        if written is not None:
            return written
        if node.tzinfo is None:
            return node.isoformat()  # no offset: the schema refuses it, with its line
        text = node.isoformat()
        zulu = getattr(node, "_yaml", {}).get("tz") in ("Z", "z")
        return format_time(node) if zulu else text
    elif isinstance(node, date):
        return node.isoformat()
    return node


def _log_ids(lines: list[str]) -> set[str]:
    ids = set()
    for line in lines:
        try:
            event = json.loads(line) if line.strip() else None
        except ValueError:
            continue
        if isinstance(event, dict) and isinstance(event.get("id"), str):
            ids.add(event["id"])
    return ids


def _log_lines(path: Path) -> list[str]:
    """The log's lines, numbered as ``clauseline replay`` numbers them (universal newlines)."""
    with path.open(encoding="utf-8") as handle:
        return [line.rstrip("\r\n") for line in handle]


class _FileLoader:
    def __init__(self, path: Path, display: str, doc: Any):
        self.path, self.display, self.doc = path, display, doc
        self.problems: list[Problem] = []

    def problem(self, code: str, message: str, path: list, key: str | None = None) -> None:
        dotted = dotted_key(path + ([key] if key else []))
        self.problems.append(Problem(code, message, file=self.display,
                                     line=line_of(self.doc, path, key), key=dotted or None))

    def scenarios(self) -> list[Scenario]:
        doc = self.doc
        if "scenarios" in doc:
            entries = [(["scenarios", i], raw) for i, raw in enumerate(doc["scenarios"])]
            shared = plain(doc.get("defaults") or {})
        else:
            entries, shared = [([], doc)], {}
        out, names = [], {}
        for at, raw in entries:
            scenario = self.scenario(at, raw, shared)
            if scenario is None:
                continue
            if scenario.name in names:
                self.problem("duplicate_name", f"scenario name {scenario.name!r} is already used on "
                             f"line {names[scenario.name]}; names are test ids", at, "name")
                continue
            names[scenario.name] = scenario.line
            out.append(scenario)
        return out

    def scenario(self, at: list, raw: dict, shared: dict) -> Scenario | None:
        before = len(self.problems)
        name = str(raw["name"])
        has_events, has_log = "events" in raw, "log" in raw
        if has_events == has_log:
            self.problem("no_events" if not has_events else "bad_scenario",
                         "a scenario has either `events` or a `log`" + ("" if not has_events else ", not both"),
                         at, "name")
        for key, what in (("expect", "event id"), ("expect_lines", "line number")):
            if key in raw and not has_log:
                self.problem("bad_scenario", f"a scenario-level `{key}` (keyed by {what}) goes with "
                             "`log`; put each step's `expect` on the step", at, key)
        steps = [self.step(at + ["events", i], s) for i, s in enumerate(raw.get("events") or [])]
        log, log_expect, log_lines = None, {}, {}
        if has_log:
            log = (self.path.parent / str(raw["log"])).resolve()
            if not log.is_file():
                self.problem("missing_file", f"log file {raw['log']!r} not found next to the scenario",
                             at, "log")
            else:
                lines = _log_lines(log)
                ids = _log_ids(lines)
                for event_id, expect in (raw.get("expect") or {}).items():
                    if event_id not in ids:
                        self.problem("unknown_event_id", f"no event with id {event_id!r} in "
                                     f"{raw['log']}", at + ["expect"], event_id)
                    log_expect[str(event_id)] = (line_of(self.doc, at + ["expect"], event_id) or 0,
                                                 plain(expect))
                for key, expect in (raw.get("expect_lines") or {}).items():
                    number = int(key)
                    if number > len(lines) or not lines[number - 1].strip():
                        where = "is blank" if number <= len(lines) else f"is past its end ({len(lines)} lines)"
                        self.problem("unknown_line", f"line {number} of {raw['log']} {where}: no "
                                     "event there to expect anything of", at + ["expect_lines"], key)
                        continue
                    log_lines[number] = (line_of(self.doc, at + ["expect_lines"], key) or 0, plain(expect))
        rules = None
        if "rules" in raw:
            rules = (self.path.parent / str(raw["rules"])).resolve()
            if not rules.exists():
                self.problem("missing_file", f"rules folder {raw['rules']!r} not found", at, "rules")
        expects = any(s is not None and s.expect is not None for s in steps) or log_expect or log_lines
        if not expects and len(self.problems) == before:
            self.problem("no_expectations", f"scenario {name!r} expects nothing: give a step an "
                         "`expect` (status, outcomes, absent, ...)", at, "name")
        if len(self.problems) > before:
            return None
        return Scenario(name, self.path, self.display, line_of(self.doc, at) or 1,
                        str(raw.get("description", "")).strip(), {**shared, **plain(raw.get("defaults") or {})},
                        rules, tuple(steps), log, log_expect, log_lines)

    def step(self, at: list, raw: dict) -> Step | None:
        line = line_of(self.doc, at) or 0
        given = [k for k in ("event", "type", "tick") if k in raw]
        if len(given) != 1:
            self.problem("bad_step", "a step has exactly one of `event` (a CloudEvent), `type` "
                         "(a shorthand event) or `tick` (a duration)" + (f"; got {', '.join(given)}" if given else ""), at)
            return None
        if "time" in raw and "after" in raw:
            self.problem("bad_step", "`time` and `after` both say when the event happens: give one", at, "after")
            return None
        expect = plain(raw["expect"]) if "expect" in raw else None
        if "tick" in raw:
            extra = [k for k in raw if k not in ("tick", "expect")]
            if extra:
                self.problem("bad_step", f"a `tick` step takes only `expect`, not {', '.join(extra)}", at, extra[0])
                return None
            return Step(line, tick=str(raw["tick"]), expect=expect)
        if "event" in raw:
            extra = [k for k in _SHORTHAND + ("type",) if k in raw]
            if extra:
                self.problem("bad_step", f"with `event`, write {extra[0]!r} inside the event", at, extra[0])
                return None
            event = plain(raw["event"])
        else:
            event = {k: plain(raw[k]) for k in ("type",) + _SHORTHAND if k in raw}
        return Step(line, event=event, after=raw.get("after"), expect=expect)


def load_scenarios(path: str | Path, display: str | None = None,
                   schemas: SchemaSet | None = None) -> list[Scenario]:
    """The scenarios of one file; raises :class:`ScenarioError` listing every located problem."""
    path = Path(path)
    display = display or str(path)
    doc, problems = read_yaml(path, display)
    if doc is None and not problems:
        problems = [Problem("empty_file", "the scenario file is empty", file=display, line=1)]
    if problems:
        raise ScenarioError(problems)
    _textual_times(doc, path.read_text(encoding="utf-8").split("\n"))
    problems = schema_problems(schemas or SchemaSet(), SCENARIO, doc, display)
    if problems:
        raise ScenarioError(problems)
    loader = _FileLoader(path, display, doc)
    scenarios = loader.scenarios()
    if loader.problems:
        raise ScenarioError(sorted(loader.problems, key=lambda p: (p.line or 0, p.code)))
    return scenarios


__all__ = ["Scenario", "ScenarioError", "Step", "load_scenarios"]
