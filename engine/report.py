"""The audit report: one self-contained HTML page over a decision log, and CSV of its findings.

Auditors read a log as a whole, not decision by decision: how many events were decided and how,
what each clause produced over time, every violation with the sentence it breaks, the obligations
still owed against their deadlines, what happened to each subject, and whether the stored log is
the one that was written (the hash chain). :func:`render_html` puts all of that on one page;
:func:`violations_csv` and :func:`obligations_csv` give the rows to work with in a spreadsheet.

What the page promises:

- **Self-contained.** Charts are SVG written here, styles and the one small script are inline,
  and a Content-Security-Policy forbids every fetch: the page opens from a file, offline, and
  reaches no network. The script (a subject filter) only adds to the page; without it every
  subject is listed.
- **Untrusted data stays text.** Every value that comes from an event or a decision is escaped
  (``html.escape``), and first passed through :func:`clauseline.redact.mask_numbers`, with the
  value of a field named like a card, bank or SSN number (``kind_of_key``) reduced as well: the
  records of a store are already reduced, those of a replayed log are not.
- **Deterministic.** The same records, policy, obligations and chain give byte-identical HTML and
  CSV: everything is sorted, and no clock is read (the "as of" of the page is the time of the
  log's last event).
- **Bounded.** Counts and charts aggregate every record; lists of examples, subjects and events
  are capped (the ``MAX_*`` constants) and say how many they leave out, so a 10,000-event log
  gives a page of a few megabytes at most.

Counting: a record is one line of the log, or a timer's decision (``{"event", "decision"}``);
outcomes are counted over accepted decisions only, since a duplicate repeats its first decision
and a rejected one has none;
for a log, beside them, with the duplicates' repeats (as ``clauseline replay``'s summary line
counts). A store keeps accepted events only: its report says duplicates and rejected events are
"not kept" (``source="store"``), never 0. The decisions of the engine's deadline timers (a replay
and a store's log hold them as records of their own) are counted apart from the events, as
``clauseline replay``'s summary counts them, and their outcomes with the accepted events'.

Obligations: each one's history (:func:`obligation_history`: opened, extended, fulfilled,
declined, missed, with times, rule and clause) is derived from the decisions, so a log and a store
give the same (a missed deadline from the decision of the engine's timer at its due instant, which
a replay and a store's log both hold); :func:`obligations_csv` has a row per step.

Readings: the policy's interpretations are Markdown, rendered as HTML by markdown-it-py with raw
HTML off and no links or images (:func:`reading_html`); the rule language's syntax in them is said
in words from one table of its filters and paths (:data:`FILTER_WORDS`, :data:`PATH_WORDS`).
"""

from __future__ import annotations

import base64
import csv
import functools
import hashlib
import heapq
import html
import io
import json
import re
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable

from .decision import GLOBAL, KIND_ORDER
from .eventtime import format_time, parse_time
from .explain import clause_title, outcome_summary, rule_text
from .policy.model import Policy
from .policy.templates import PLACEHOLDER, parse_placeholder
from .records import instant_key
from .redact import kind_of_key, mask_numbers
from .timers import TIMER_SOURCE, tick_of, timer_id

#: Example events listed under each violation code.
MAX_EXAMPLES = 5
#: Subjects given a drill-down (those with the most violations, then the most events, first).
MAX_SUBJECTS = 200
#: Events listed per subject.
MAX_SUBJECT_EVENTS = 25
#: Obligations drawn on the deadline timeline and listed in its table.
MAX_OBLIGATIONS = 300
#: Rejected lines listed in the summary.
MAX_REJECTED = 20
#: Characters of an event's data shown in the drill-down.
MAX_DATA_CHARS = 240
#: Characters of an id past which it may break anywhere in a table (:func:`id_code`).
LONG_ID = 32

#: One colour per clause letter (A to W), stable across reports.
CLAUSE_COLOURS = dict(zip("ABCDEFGHIJKLMNOPQRSTUVW", (
    "#1f77b4", "#aec7e8", "#ff7f0e", "#ffbb78", "#2ca02c", "#98df8a", "#d62728", "#ff9896",
    "#9467bd", "#c5b0d5", "#8c564b", "#c49c94", "#e377c2", "#f7b6d2", "#7f7f7f", "#c7c7c7",
    "#bcbd22", "#dbdb8d", "#17becf", "#9edae5", "#393b79", "#637939", "#8c6d31")))
OTHER_COLOUR = "#555555"
STATUS_COLOURS = {"open": "#1f77b4", "extended": "#ff7f0e", "missed": "#d62728"}

KINDS = tuple(sorted(KIND_ORDER, key=KIND_ORDER.get))
#: Where records come from: a log replayed (every line), or a store (accepted events only).
SOURCES = ("log", "store")
VIOLATION_FIELDS = ("time", "event_source", "event_id", "subject", "clause", "rule", "violation",
                    "ref", "detail")
#: obligations.csv: one row per step of each obligation's history (:func:`obligation_history`);
#: ``status`` and ``owed`` are the obligation's at the end of the records, on each of its rows.
OBLIGATION_FIELDS = ("subject", "ref", "obligation", "step", "time", "due_by", "rule", "clause",
                     "event_source", "event_id", "violations", "status", "owed", "overdue")


# --- values made safe -------------------------------------------------------------------------

def safe_text(value: Any) -> str:
    """A value as text with card-like and SSN-like numbers masked (``None`` is empty)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return mask_numbers(value if isinstance(value, str) else str(value))


def esc(value: Any) -> str:
    """A value as masked, HTML-escaped text (safe in element content and quoted attributes)."""
    return html.escape(safe_text(value), quote=True)


def id_code(value: Any) -> str:
    """An id from an event (subject, ref, event id) as code: one too long for a table column
    (over :data:`LONG_ID` characters) may break anywhere, so that it cannot widen its table."""
    text = esc(value)
    return f'<code class="long">{text}</code>' if len(safe_text(value)) > LONG_ID else f"<code>{text}</code>"


def _reduce_fields(value: Any) -> Any:
    """A copy of JSON data with the value of every field named like a card, bank or SSN number
    replaced by ``[redacted KIND ...last4]`` (the last four only of a value of 8 digits or more)."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            kind = kind_of_key(key) if isinstance(key, str) else None
            if kind is None or (isinstance(item, dict) and "redacted" in item) or item is None:
                out[key] = _reduce_fields(item)
            elif isinstance(item, (dict, list)):
                out[key] = f"[redacted {kind}]"
            else:
                digits = "".join(c for c in str(item) if c.isdigit())
                out[key] = f"[redacted {kind} ...{digits[-4:]}]" if len(digits) >= 8 else f"[redacted {kind}]"
        return out
    if isinstance(value, list):
        return [_reduce_fields(v) for v in value]
    return value


def safe_json(value: Any) -> str:
    """JSON data as compact text, sensitive fields reduced and numbers masked."""
    text = json.dumps(_reduce_fields(value), sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False, default=str)
    return mask_numbers(text)


def _csv_cell(value: Any) -> str:
    # A spreadsheet runs a cell that starts with one of these as a formula: event data is
    # untrusted, so such a cell is quoted as text (OWASP's advice for CSV injection).
    text = safe_text(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


# --- the policy's readings as prose ----------------------------------------------------------

#: Each filter of the template language (:data:`clauseline.policy.templates.FILTERS`) in words:
#: the unit it shifts a time by, singular and plural. ``{time|add_days:45}`` reads "the event's
#: time plus 45 days"; a negative argument reads "minus".
FILTER_WORDS = {
    "add_days": ("day", "days"),
    "add_months": ("month", "months"),
    "add_years": ("year", "years"),
}

#: The paths of the template language in words: the longest prefix of a path that is listed here
#: names it, and the steps after that prefix are named after it ("the event's data field
#: request_id"). The engine's own memory (``memory.obligations`` ... ``memory.global``) is here;
#: what rules remember is worded by the policy itself (``memory:`` of policy.yaml).
PATH_WORDS = {
    "time": "the event's time",
    "id": "the event's id",
    "source": "the event's source",
    "type": "the event's type",
    "subject": "the event's subject",
    "data": "the event's data",
    "item": "the item being checked",
    "facility": "the facility's profile",
    "policy": "the policy's settings",
    "policy.contact": "the policy's contact details",
    "sets": "the named set",
    "profile": "the subject's profile",
    "memory": "what the engine remembers of the subject",
    "memory.obligations": "the subject's obligations",
    "memory.open_obligations": "the subject's obligations still open",
    "memory.overdue_obligations": "the obligations already overdue",
    "memory.first_seen_at": "the time the subject was first seen",
    "memory.request": "the request the event answers",
    "memory.request.opened_at": "the time the request was received",
    "memory.request.due_by": "the request's deadline",
    "memory.global": "what the engine remembers for every subject",
}

#: A code span that is a bare memory path (``memory.overdue_obligations``) is template syntax too.
_MEMORY_PATH = re.compile(r"memory(?:\.[a-z_*][a-z0-9_]*|\.<[a-z]+>)+")
_CLAUSE_TAG = re.compile(r"\s*\([A-W](?:, [A-W])*\)$")
#: Paths whose next step names a field of a record ("the event's data field request_id").
_RECORDS = ("data", "item", "facility", "profile")


def _remembered(rest: str, memory: dict[str, str]) -> str | None:
    """The policy's own wording of a memory path (``*`` in its keys is any one step)."""
    steps = rest.split(".")
    for key, words in memory.items():
        pattern = key.split(".")
        if len(pattern) <= len(steps) and all(p in ("*", s) for p, s in zip(pattern, steps)):
            tail = steps[len(pattern):]
            words = _CLAUSE_TAG.sub("", str(words))
            return words + (f" (its {'.'.join(tail)})" if tail else "")
    return None


def path_words(path: str, memory: dict[str, str] | None = None) -> str:
    """A template path in words: ``memory.overdue_obligations`` is "the obligations already
    overdue"; a path the policy's ``memory:`` describes (``memory.svv_recordings``) is worded as
    the policy describes it; ``data.request_id`` is "the event's data field request_id"."""
    steps = path.split(".")
    if steps[0] == "memory" and len(steps) > 1 and memory and "memory." + steps[1] not in PATH_WORDS:
        found = _remembered(".".join(steps[1:]), memory)
        if found is not None:
            return "the subject's remembered " + found
    for cut in range(len(steps), 0, -1):
        words = PATH_WORDS.get(".".join(steps[:cut]))
        if words is None:
            continue
        rest = ".".join(steps[cut:])
        if not rest:
            return words
        return f"{words} field {rest}" if cut == 1 and steps[0] in _RECORDS else f"{words} ({rest})"
    return f"the value at {path}"


def template_words(body: str, memory: dict[str, str] | None = None) -> str:
    """A placeholder of the template language (the text between the braces) in words:
    ``time|add_days:45`` is "the event's time plus 45 days". Raises ValueError when ``body`` is
    not a placeholder (:func:`clauseline.policy.templates.parse_placeholder`)."""
    path, filters = parse_placeholder(body)
    words = path_words(path, memory)
    for name, arg in filters:
        one, many = FILTER_WORDS[name]
        words += f" {'minus' if arg < 0 else 'plus'} {abs(arg)} {one if abs(arg) == 1 else many}"
    return words


def syntax_words(code: str, memory: dict[str, str] | None = None) -> str | None:
    """What a code span of a reading says in words when it is template syntax (one placeholder,
    or a bare memory path such as ``memory.overdue_obligations``); None when it is not."""
    whole = PLACEHOLDER.fullmatch(code.strip())
    if whole:
        try:
            return template_words(whole.group(1), memory)
        except ValueError:  # braces, but not a placeholder: JSON, an object's fields
            return None
    if _MEMORY_PATH.fullmatch(code.strip()):
        return path_words(code.strip().replace("<", "").replace(">", ""), memory)
    return None


def _code_inline(tokens, idx, options, env) -> str:
    code = tokens[idx].content
    words = syntax_words(code, env.get("memory"))
    if words is None:
        return f"<code>{html.escape(code)}</code>"
    return f'<span class="syntax" title="{html.escape(code, quote=True)}">{html.escape(words)}</span>'


@functools.lru_cache(maxsize=1)
def _markdown():
    from markdown_it import MarkdownIt
    # CommonMark with raw HTML off (it stays text), and nothing that points elsewhere: no links,
    # no images, no autolinks (the page fetches nothing and leads nowhere)
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.disable(["link", "image", "autolink", "html_inline", "html_block"])
    md.renderer.rules["code_inline"] = _code_inline
    return md


def reading_html(reading: str, memory: dict[str, str] | None = None) -> str:
    """A reading of the policy (Markdown) as HTML prose: raw HTML stays text, numbers are masked,
    and template syntax in code spans is said in words (the raw syntax in its ``title``)."""
    return _markdown().render(mask_numbers(str(reading)), {"memory": memory or {}}).strip()


# --- times and periods ------------------------------------------------------------------------

def _instant(value: Any) -> datetime | None:
    """An RFC 3339 time as an aware UTC datetime, or None when it is missing or unreadable."""
    if not isinstance(value, str):
        return None
    try:
        return parse_time(value)
    except (ValueError, TypeError):
        return None


def _period_unit(first: datetime, last: datetime) -> str:
    """Weeks for a span of up to 16 weeks, months up to 4 years, years beyond."""
    span = last - first
    if span <= timedelta(weeks=16):
        return "week"
    if span <= timedelta(days=4 * 366):
        return "month"
    return "year"


def _period_start(moment: datetime, unit: str) -> datetime:
    day = datetime(moment.year, moment.month, moment.day, tzinfo=timezone.utc)
    if unit == "week":
        return day - timedelta(days=day.weekday())
    if unit == "month":
        return day.replace(day=1)
    return day.replace(month=1, day=1)


def _next_period(start: datetime, unit: str) -> datetime:
    if unit == "week":
        return start + timedelta(weeks=1)
    if unit == "month":
        return start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
    return start.replace(year=start.year + 1)


def _period_label(start: datetime, unit: str) -> str:
    if unit == "week":
        return "week of " + start.strftime("%Y-%m-%d")
    return start.strftime("%Y-%m") if unit == "month" else start.strftime("%Y")


def _periods(first: datetime, last: datetime, unit: str) -> list[datetime]:
    out, cursor = [], _period_start(first, unit)
    while cursor <= last:
        out.append(cursor)
        try:
            cursor = _next_period(cursor, unit)
        except (ValueError, OverflowError):  # the last period of year 9999
            break
    return out


# --- reading the records ----------------------------------------------------------------------

def _decision(record: dict) -> dict:
    decision = record.get("decision")
    return decision if isinstance(decision, dict) else {}


def _event(record: dict) -> dict | None:
    event = record.get("event")
    return event if isinstance(event, dict) else None


def _accepted_outcomes(record: dict) -> list[dict]:
    decision = _decision(record)
    if decision.get("status") != "accepted":
        return []
    return [o for o in decision.get("outcomes") or () if isinstance(o, dict)]


def _violations(records: Iterable[dict]) -> Iterable[tuple[dict, dict]]:
    for record in records:
        for outcome in _accepted_outcomes(record):
            if outcome.get("kind") == "violation":
                yield record, outcome


def is_timer_record(record: dict) -> bool:
    """Whether ``record`` is a timer's (:mod:`clauseline.timers`): a decision the engine made
    at a deadline, not an event of the log (a posted event under the timer's source is
    rejected, and counted as a rejected event)."""
    decision = _decision(record)
    return decision.get("event_source") == TIMER_SOURCE and decision.get("status") != "rejected"


def _subject_of(record: dict) -> str | None:
    event = _event(record)
    subject = event.get("subject") if event else None
    return subject if isinstance(subject, str) else None


# --- obligations' histories ------------------------------------------------------------------

#: The steps of an obligation's history, in the order they are told: the statuses an obligation
#: outcome carries (``open`` is told as "opened"), and ``missed``, which the engine marks itself.
STEPS = ("opened", "extended", "fulfilled", "declined", "missed")
STEP_OF_STATUS = {"open": "opened", "extended": "extended", "fulfilled": "fulfilled",
                  "declined": "declined"}
STEP_COLOURS = {"opened": "#1f77b4", "extended": "#ff7f0e", "fulfilled": "#2ca02c",
                "declined": "#7f7f7f", "missed": "#d62728"}
#: Statuses that still owe something (``clauseline.decision.OWED``), and the step that set each.
_OWING_STEPS = ("opened", "extended")


def obligation_history(records: list[dict], obligations: Iterable[dict] = ()) -> list[dict]:
    """Each obligation's history, derived from the decisions: one entry per (subject, ref) with
    ``subject``, ``ref``, ``obligation``, ``status`` (after its last step, as ``clauseline due``
    names it: open, extended, missed, fulfilled, declined), ``due_by`` (the last deadline set),
    ``owed`` (whether it still owes something at the end of the records), ``overdue`` (as the
    caller's list of owed obligations says) and ``steps``.

    A step is ``{"step", "time", "due_by", "rule", "clause", "event_source", "event_id",
    "violations"}``: ``opened``, ``extended``, ``fulfilled`` or ``declined`` where an accepted
    decision has an obligation outcome with that status (its rule and clause); ``missed`` at the
    decision of the obligation's **timer** (``docs/decisions.md``, "Obligations"): the engine's
    ``clock.tick`` at the due instant (``event_source`` :data:`~clauseline.timers.TIMER_SOURCE`,
    ``event_id`` :func:`~clauseline.timers.timer_id` of the subject, ref and instant) that
    fired while it was still open or extended, citing the violation that decision reports for it
    if any; so the step's time is the due instant. Records that hold no timer for a deadline
    passed (a store written before the engine had timers) get the step where that engine
    marked it: at the first accepted event later than the deadline, whatever its subject.
    ``violations`` lists the codes of the violations about the same subject and ref in the same
    decision. An obligation the caller says is owed that no decision tells of (a log cut short)
    gets one step, opened at its ``opened_at``, with no rule. Ordered by the first step's time,
    then subject and ref."""
    entries: dict[tuple[str, str], dict] = {}
    order: list[tuple[str, str]] = []
    pending: list[tuple[datetime, tuple[str, str], Any]] = []  # a heap of (due, key, due_by)
    due_then: dict[datetime, list[tuple[tuple[str, str], Any]]] = defaultdict(list)  # for timers

    def watch(key: tuple[str, str]) -> None:
        entry = entries[key]
        due = _instant(entry["due_by"])
        if entry["status"] in ("open", "extended") and due is not None:
            heapq.heappush(pending, (due, key, entry["due_by"]))
            due_then[due].append((key, entry["due_by"]))

    def owing(key: tuple[str, str], due_by: Any) -> bool:
        """Whether the obligation still owes what was due by ``due_by`` (no later step)."""
        entry = entries[key]
        return entry["status"] in ("open", "extended") and entry["due_by"] == due_by

    def timer_of(decision: dict, outcomes: list[dict], moment: datetime) -> list[tuple[str, str]]:
        """The obligation(s) whose timer made ``decision``: still owed, due at its instant,
        and named by its id (or, where ids were masked, by its violation)."""
        owed = [(key, due_by) for key, due_by in due_then.get(moment, ()) if owing(key, due_by)]
        named = {(safe_text(o.get("subject")), safe_text(o.get("ref"))) for o in outcomes
                 if o.get("kind") == "violation"}
        found = []
        for key, due_by in owed:
            entry = entries[key]
            try:
                ident = timer_id(entry["subject"], entry["ref"], instant_key(due_by))
            except (TypeError, ValueError):
                ident = None
            if (ident is not None and ident == decision.get("event_id")) or key in named:
                found.append(key)
        return found

    def step_of(record: dict, kind: str, outcome: dict | None, due_by: Any) -> dict:
        decision = _decision(record)
        return {"step": kind, "time": decision.get("time"), "due_by": due_by,
                "rule": outcome.get("rule") if outcome else None,
                "clause": outcome.get("clause") if outcome else None,
                "event_source": decision.get("event_source"), "event_id": decision.get("event_id"),
                "violations": []}

    for record in records:
        decision = _decision(record)
        if decision.get("status") != "accepted":
            continue
        outcomes = _accepted_outcomes(record)
        moment = _instant(decision.get("time"))
        made: dict[tuple[str, str], list[dict]] = defaultdict(list)

        def missed(key: tuple[str, str]) -> None:
            entry = entries[key]
            reported = next((o for o in outcomes if o.get("kind") == "violation" and (
                safe_text(o.get("subject")), safe_text(o.get("ref"))) == key), None)
            step = step_of(record, "missed", reported, entry["due_by"])
            entry["steps"].append(step)
            entry["status"] = "missed"
            made[key].append(step)
        # first a deadline these records passed with no timer (records made before timers):
        # missed at this event, the first later than it, as the engine that made them marked it
        while moment is not None and pending and pending[0][0] < moment:
            _, key, due_by = heapq.heappop(pending)
            if owing(key, due_by):
                missed(key)
        # a timer's decision: its obligation missed at its due instant, this decision's time
        if decision.get("event_source") == TIMER_SOURCE and moment is not None:
            for key in timer_of(decision, outcomes, moment):
                missed(key)
        # then what the rules decided
        for outcome in outcomes:
            if outcome.get("kind") != "obligation":
                continue
            subject, ref = outcome.get("subject"), outcome.get("ref")
            key = (safe_text(subject), safe_text(ref))
            kind = STEP_OF_STATUS.get(str(outcome.get("status")), safe_text(outcome.get("status")))
            if key not in entries:
                entries[key] = {"subject": subject, "ref": ref, "obligation": outcome.get("obligation"),
                                "status": None, "due_by": None, "owed": False, "overdue": False,
                                "steps": []}
                order.append(key)
            entry = entries[key]
            step = step_of(record, kind, outcome, outcome.get("due_by"))
            entry["steps"].append(step)
            entry["status"] = str(outcome.get("status"))
            if outcome.get("due_by") is not None:
                entry["due_by"] = outcome.get("due_by")
            made[key].append(step)
            watch(key)
        for outcome in outcomes:  # the violations about an obligation, beside its step
            key = (safe_text(outcome.get("subject")), safe_text(outcome.get("ref")))
            if outcome.get("kind") == "violation" and made.get(key):
                made[key][-1]["violations"].append(outcome.get("violation"))
    for owed in obligations:
        key = (safe_text(owed.get("subject")), safe_text(owed.get("ref")))
        entry = entries.get(key)
        if entry is None:  # owed, but no decision of these records tells of it
            entry = entries[key] = {
                "subject": owed.get("subject"), "ref": owed.get("ref"),
                "obligation": owed.get("obligation"), "status": owed.get("status"),
                "due_by": owed.get("due_by"), "owed": True, "overdue": False,
                "steps": [{"step": "opened", "time": owed.get("opened_at"),
                           "due_by": owed.get("due_by"), "rule": None,
                           "clause": None, "event_source": None, "event_id": None,
                           "violations": []}]}
            order.append(key)
        entry["owed"] = True
        entry["overdue"] = bool(owed.get("overdue"))
        if owed.get("status") == "missed" and entry["status"] in ("open", "extended"):
            entry["status"] = "missed"  # marked by an event these records do not hold
    for entry in entries.values():
        if entry["status"] in ("open", "extended", "missed"):
            entry["owed"] = True
    far = datetime.max.replace(tzinfo=timezone.utc)

    def first(key):
        steps = entries[key]["steps"]
        return (_instant(steps[0]["time"]) if steps else None) or far, key
    return [entries[key] for key in sorted(order, key=first)]


# --- CSV --------------------------------------------------------------------------------------

def violations_csv(records: list[dict]) -> str:
    """One row per violation outcome of an accepted decision, in log order, with a header:
    time, event_source, event_id, subject, clause, rule, violation (the code), ref, detail."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(VIOLATION_FIELDS)
    for record, outcome in _violations(records):
        decision = _decision(record)
        writer.writerow([_csv_cell(v) for v in (
            decision.get("time"), decision.get("event_source"), decision.get("event_id"),
            outcome.get("subject"), outcome.get("clause"), outcome.get("rule"),
            outcome.get("violation"), outcome.get("ref"), outcome.get("detail"))])
    return out.getvalue()


def obligations_csv(obligations: list[dict], records: list[dict] | None = None) -> str:
    """One row per step of each obligation's history (:func:`obligation_history` of ``records``,
    with the obligations still owed, ``obligations``), with a header: subject, ref, obligation,
    step (opened, extended, fulfilled, declined, missed), time, due_by (the deadline after the
    step), rule, clause, event_source, event_id (the event of the step), violations (codes about
    it in the same decision, ``;``-separated), status (the obligation's at the end), owed and
    overdue (true/false). Without ``records``, the owed obligations only, one ``opened`` row each."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(OBLIGATION_FIELDS)
    for entry in obligation_history(records or [], obligations):
        for step in entry["steps"]:
            row = {**step, "subject": entry["subject"], "ref": entry["ref"],
                   "obligation": entry["obligation"], "status": entry["status"],
                   "owed": entry["owed"], "overdue": entry["overdue"],
                   "violations": ";".join(safe_text(v) for v in step["violations"])}
            writer.writerow([_csv_cell(row.get(name)) for name in OBLIGATION_FIELDS])
    return out.getvalue()


# --- SVG --------------------------------------------------------------------------------------

def _nice_max(value: int) -> int:
    """The top of a count axis: 1, 2 or 5 times a power of ten, at least ``value``."""
    if value <= 0:
        return 1
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= value:
                return step * factor
        step *= 10


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _stacked_bars(labels: list[str], series: dict[str, list[int]], caption: str,
                  width: int = 960, height: int = 280) -> str:
    """A stacked bar chart: one bar per label, one coloured segment per clause letter."""
    left, right, top, bottom = 48, 12, 14, 64
    plot_w, plot_h = width - left - right, height - top - bottom
    totals = [sum(s[i] for s in series.values()) for i in range(len(labels))]
    top_value = _nice_max(max(totals, default=0))
    slot = plot_w / max(len(labels), 1)
    bar = max(slot * 0.8, 1.0)
    parts = [f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" '
             f'xmlns="http://www.w3.org/2000/svg"><title>{esc(caption)}</title>']
    steps = next(n for n in (4, 5, 2, 1) if top_value % n == 0)
    for i in range(steps + 1):  # horizontal grid lines with their (whole) counts
        value = top_value * i // steps
        y = top + plot_h - plot_h * i / steps
        parts.append(f'<line class="grid" x1="{left}" x2="{width - right}" y1="{_num(y)}" '
                     f'y2="{_num(y)}"/><text class="tick" x="{left - 6}" y="{_num(y + 4)}" '
                     f'text-anchor="end">{value}</text>')
    every = max(1, -(-len(labels) // 24))  # at most about 24 period labels
    for i, label in enumerate(labels):
        x = left + slot * i + (slot - bar) / 2
        y = top + plot_h
        for letter, counts in series.items():
            count = counts[i]
            if not count:
                continue
            h = plot_h * count / top_value
            y -= h
            parts.append(f'<rect x="{_num(x)}" y="{_num(y)}" width="{_num(bar)}" height="{_num(h)}" '
                         f'fill="{CLAUSE_COLOURS.get(letter, OTHER_COLOUR)}"><title>{esc(label)}: '
                         f'clause {esc(letter)}, {count}</title></rect>')
        if i % every == 0:
            cx, cy = left + slot * i + slot / 2, top + plot_h + 10
            parts.append(f'<text class="tick" x="{_num(cx)}" y="{_num(cy)}" text-anchor="end" '
                         f'transform="rotate(-45 {_num(cx)} {_num(cy)})">{esc(label)}</text>')
    parts.append(f'<line class="axis" x1="{left}" x2="{width - right}" y1="{top + plot_h}" '
                 f'y2="{top + plot_h}"/></svg>')
    return "".join(parts)


def _legend(letters: Iterable[str], titles: dict[str, str]) -> str:
    items = []
    for letter in letters:
        colour = CLAUSE_COLOURS.get(letter, OTHER_COLOUR)
        items.append(f'<li><svg class="swatch" viewBox="0 0 10 10" width="10" height="10">'
                     f'<rect width="10" height="10" fill="{colour}"/></svg> '
                     f'<b>{esc(letter)}</b> {esc(titles.get(letter, ""))}</li>')
    return '<ul class="legend">' + "".join(items) + "</ul>"


def _spark(counts: list[int], top_value: int, colour: str, labels: list[str],
           width: int = 240, height: int = 28) -> str:
    """A small bar chart of one clause's outcomes per period, on a scale shared by all clauses."""
    slot = width / max(len(counts), 1)
    parts = [f'<svg class="spark" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
             f'xmlns="http://www.w3.org/2000/svg">']
    for i, count in enumerate(counts):
        if count:
            h = max(height * count / max(top_value, 1), 1.0)
            parts.append(f'<rect x="{_num(slot * i)}" y="{_num(height - h)}" '
                         f'width="{_num(max(slot - 1, 0.5))}" height="{_num(h)}" fill="{colour}">'
                         f'<title>{esc(labels[i])}: {count}</title></rect>')
    parts.append(f'<line class="axis" x1="0" x2="{width}" y1="{height}" y2="{height}"/></svg>')
    return "".join(parts)


def _time_ticks(first: datetime, last: datetime) -> list[tuple[datetime, str]]:
    """Tick marks for a time axis: days, weeks, months, quarters or years, at most about 12."""
    days = (last - first).total_seconds() / 86400
    if days <= 12:
        start, months, fmt = _period_start(first, "year").replace(month=first.month, day=first.day), 0, "%m-%d"
    elif days <= 84:
        start, months, fmt = _period_start(first, "week"), 0, "%m-%d"
    elif days <= 366:
        start, months, fmt = _period_start(first, "month"), 1, "%Y-%m"
    elif days <= 3 * 366:
        start, months, fmt = _period_start(first, "month"), 3, "%Y-%m"
        start = start.replace(month=(start.month - 1) // 3 * 3 + 1)
    else:
        start, months, fmt = _period_start(first, "year"), 12 * -(-int(days // 365) // 12), "%Y"
    ticks, cursor = [], start
    while cursor <= last:
        if cursor >= first:
            ticks.append((cursor, cursor.strftime(fmt)))
        try:
            if months == 0:
                cursor += timedelta(days=1 if days <= 12 else 7)
            else:
                total = cursor.month - 1 + months
                cursor = cursor.replace(year=cursor.year + total // 12, month=total % 12 + 1)
        except (ValueError, OverflowError):  # past year 9999
            break
    return ticks


class _TimeAxis:
    """The time axis the obligation charts share: padded to the instants they show (positions
    computed on seconds, so that the padding never leaves the datetime range), its ticks and
    grid drawn from ``top`` down to ``height``."""

    def __init__(self, instants: list[datetime], width: int, label_w: int, right: int):
        first, last = min(instants), max(instants)
        low, high = first.timestamp(), max(last.timestamp(), first.timestamp() + 86400)
        pad = (high - low) * 0.03
        self.low, self.high = low - pad, high + pad
        self.first, self.last = first, last
        self.label_w, self.plot_w = label_w, width - label_w - right

    def x(self, moment: datetime) -> float:
        return self.label_w + self.plot_w * (moment.timestamp() - self.low) / (self.high - self.low)

    def grid(self, top: int, height: int) -> list[str]:
        try:
            span = (datetime.fromtimestamp(self.low, timezone.utc),
                    datetime.fromtimestamp(self.high, timezone.utc))
        except (ValueError, OverflowError, OSError):
            span = (self.first, self.last)
        parts = []
        for moment, label in _time_ticks(*span):
            x = _num(self.x(moment))
            parts.append(f'<line class="grid" x1="{x}" x2="{x}" y1="{top - 8}" y2="{height - 16}"/>'
                         f'<text class="tick" x="{x}" y="{top - 12}" text-anchor="middle">{esc(label)}</text>')
        return parts


def _timeline(rows: list[dict], as_of: datetime | None, width: int = 1100) -> str:
    """Obligations as bars from opening to due time, one row each, with the log's end marked."""
    label_w, right, top, row_h = 300, 16, 34, 18
    instants = [t for r in rows for t in (r["opened"], r["due"]) if t is not None]
    if as_of is not None:
        instants.append(as_of)
    axis = _TimeAxis(instants, width, label_w, right)
    x_of = axis.x
    height = top + row_h * len(rows) + 24
    parts = [f'<svg class="chart timeline" role="img" viewBox="0 0 {width} {height}" '
             f'xmlns="http://www.w3.org/2000/svg"><title>Open obligations by deadline</title>']
    parts.extend(axis.grid(top, height))
    for i, row in enumerate(rows):
        y = top + row_h * i
        colour = STATUS_COLOURS.get(row["status"], OTHER_COLOUR)
        tip = (f'{safe_text(row["subject"])} {safe_text(row["ref"])}: {safe_text(row["obligation"])}, '
               f'{safe_text(row["status"])}, opened {safe_text(row["opened_at"])}, due {safe_text(row["due_by"])}'
               + (", past due" if row["late"] else ""))
        label = safe_text(row["subject"]) + " · " + safe_text(row["ref"])
        if len(label) > 44:
            label = label[:43] + "…"
        parts.append(f'<g><title>{html.escape(tip)}</title>'
                     f'<text class="rowlabel" x="{label_w - 8}" y="{y + 13}" text-anchor="end">'
                     f'{html.escape(label)}</text>')
        if row["due"] is not None:
            due_x = x_of(row["due"])
            start_x = x_of(row["opened"]) if row["opened"] is not None else due_x
            outline = ' stroke="#d62728" stroke-width="2"' if row["late"] else ""
            parts.append(f'<rect x="{_num(start_x)}" y="{y + 3}" width="{_num(max(due_x - start_x, 2))}" '
                         f'height="{row_h - 6}" rx="2" fill="{colour}" fill-opacity="0.75"{outline}/>'
                         f'<path d="M{_num(due_x)} {y + 1}l5 8l-5 8l-5 -8z" fill="{colour}"/>')
        parts.append("</g>")
    if as_of is not None:
        x = _num(x_of(as_of))
        parts.append(f'<line class="asof" x1="{x}" x2="{x}" y1="{top - 8}" y2="{height - 16}"/>'
                     f'<text class="asof-label" x="{_num(x_of(as_of) - 4)}" y="{height - 4}" text-anchor="end">'
                     f'last event {esc(format_time(as_of))}</text>')
    parts.append("</svg>")
    return "".join(parts)


# --- the page ---------------------------------------------------------------------------------

_STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#1b1b1b;margin:0;background:#fafafa}
main{max-width:1180px;margin:0 auto;padding:16px 24px 48px;background:#fff}
h1{font-size:24px;margin:8px 0 4px}h2{font-size:19px;margin:32px 0 8px;border-bottom:2px solid #ddd;padding-bottom:4px}
h3{font-size:16px;margin:20px 0 6px}.meta{color:#555}
nav ul{list-style:none;padding:0;margin:8px 0;display:flex;flex-wrap:wrap;gap:6px 16px}
table{border-collapse:collapse;margin:6px 0 10px}th,td{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f2f2f2}td.n{text-align:right;font-variant-numeric:tabular-nums}
.cards{display:grid;grid-template-columns:max-content minmax(0,1fr) minmax(0,1fr);gap:16px 28px}.cards td:first-child{white-space:nowrap}.cards code{overflow-wrap:anywhere}.cards .note{width:0;min-width:100%}@media (max-width:900px){.cards{grid-template-columns:minmax(0,1fr)}}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px;overflow-wrap:break-word}
code.data{word-break:break-all}code.long{overflow-wrap:anywhere}.scroll{max-width:100%;overflow-x:auto}
blockquote{margin:6px 0;padding:4px 12px;border-left:4px solid #9467bd;background:#f7f4fb}
.chart{width:100%;height:auto;display:block}.spark{display:block}
.chart text,.spark text{font-size:11px;fill:#333}.grid{stroke:#e5e5e5}.axis{stroke:#888}
.rowlabel{font-size:11px;fill:#222;font-family:ui-monospace,Menlo,Consolas,monospace}
.asof{stroke:#000;stroke-dasharray:4 3}.asof-label{font-size:11px;fill:#000}
.legend{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:2px 14px;font-size:12px}
.chain{padding:8px 12px;border-radius:4px;font-weight:600}.chain.intact{background:#e3f4e1;color:#1d5e1a}
.chain.broken{background:#fde2e1;color:#8a1612}.chain.none{background:#eee;color:#444}
.violation{border:1px solid #e4c6c6;border-radius:4px;padding:4px 12px 8px;margin:12px 0;background:#fffafa}
.count{display:inline-block;min-width:24px;padding:0 6px;border-radius:10px;background:#d62728;color:#fff;text-align:center;font-size:12px}
.note{color:#666;font-style:italic}.status-rejected{color:#8a1612}.status-duplicate{color:#8c6d31}
details.subject{border:1px solid #ddd;border-radius:4px;margin:4px 0;padding:2px 8px}
details.subject>summary{cursor:pointer;padding:2px 0}details.subject table{width:100%}
ul.outcomes{margin:0;padding-left:16px}#subject-filter{padding:4px 8px;width:320px;margin:4px 0 8px}
.span{stroke:#999;stroke-width:2}.flag{display:inline-block;margin-left:4px;padding:0 6px;border-radius:8px;background:#fde2e1;color:#8a1612;font-size:12px}
table.history{table-layout:fixed;width:100%}table.history th:nth-child(1){width:17%}
table.history th:nth-child(2){width:15%}table.history th:nth-child(3){width:11%}table.history th:nth-child(4){width:9%}
ol.steps{margin:0;padding-left:18px}ol.steps li{margin:0 0 2px}.time{font-variant-numeric:tabular-nums;white-space:nowrap}
.step-opened{color:#1f77b4}.step-extended{color:#b35900}.step-fulfilled{color:#1d7a1d}.step-declined{color:#555}.step-missed{color:#c41e1e}
.syntax{border-bottom:1px dotted #777;cursor:help}.reading p{margin:2px 0 6px}.reading-name{font-size:12px;color:#555}
ul.readings{padding-left:18px}ul.readings li{margin:4px 0}
@media print{details.subject{break-inside:avoid}#subject-filter{display:none}}
"""

_SCRIPT = """
(function(){var box=document.getElementById("subject-filter");if(!box){return;}box.hidden=false;
var items=document.querySelectorAll("details.subject");
box.addEventListener("input",function(){var q=box.value.trim().toLowerCase();
for(var i=0;i<items.length;i++){var s=(items[i].getAttribute("data-subject")||"").toLowerCase();
items[i].hidden=q!==""&&s.indexOf(q)<0;}});})();
"""


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"


def _table(head: Iterable[str] | None, rows: Iterable[Iterable[str]], classes: Iterable[str] = (),
           kind: str = "") -> str:
    """An HTML table from cells that are already HTML (no header row when ``head`` is None);
    ``classes`` per column (e.g. ``n``); ``kind`` the table's own class (its column widths)."""
    classes = list(classes)
    out = ['<div class="scroll"><table' + (f' class="{kind}"' if kind else "") + ">"]
    if head is not None:
        out += ["<thead><tr>", *(f"<th>{h}</th>" for h in head), "</tr></thead>"]
    out.append("<tbody>")
    for row in rows:
        out.append("<tr>")
        for i, cell in enumerate(row):
            cls = f' class="{classes[i]}"' if i < len(classes) and classes[i] else ""
            out.append(f"<td{cls}>{cell}</td>")
        out.append("</tr>")
    out.append("</tbody></table></div>")
    return "".join(out)


def _more(shown: int, total: int, what: str, where: str = "") -> str:
    if total <= shown:
        return ""
    return f'<p class="note">{total - shown} more {what} not shown{where}.</p>'


def _decided_by(records: list[dict]) -> list[tuple[str, str]]:
    """The summary's rows naming what decided the records: the engine versions (a record of a
    store written before versions were recorded has none) and the policy content hashes (rules,
    derivations, facility profiles, schemas), each with how many records."""
    engines = Counter(r.get("engine_version") or "not recorded" for r in records
                      if "engine_version" in r)
    hashes = Counter(r["policy_hash"] for r in records if r.get("policy_hash"))
    rows = []
    if engines:
        rows.append(("engine versions", '<span data-stat="engine_versions">' + ", ".join(
            f"{esc(v)} ({n})" for v, n in sorted(engines.items())) + "</span>"))
    if hashes:
        rows.append(("policy hashes", ", ".join(
            f"<code>{esc(h)}</code> ({n})" for h, n in sorted(hashes.items()))))
    return rows


def _summary(records: list[dict], first: datetime | None, last: datetime | None, source: str) -> str:
    # events by status, as clauseline replay's summary counts them; the timers apart
    statuses = Counter(_decision(r).get("status") or "unknown" for r in records
                       if not is_timer_record(r))
    timers = sum(1 for r in records if is_timer_record(r))
    kinds: Counter = Counter()
    printed: Counter = Counter()  # outcomes of every decision, a duplicate's repeat included
    effects: Counter = Counter()
    versions: Counter = Counter()
    subjects = set()
    out_of_order = 0
    for record in records:
        decision = _decision(record)
        if decision.get("status") == "accepted":
            versions[decision.get("policy_version") or "?"] += 1
            out_of_order += bool(decision.get("out_of_order"))
        subject = _subject_of(record)
        if subject is not None:
            subjects.add(subject)
        if decision.get("status") in ("accepted", "duplicate"):
            printed.update(o.get("kind") for o in decision.get("outcomes") or () if isinstance(o, dict))
        for outcome in _accepted_outcomes(record):
            kinds[outcome.get("kind")] += 1
            if outcome.get("kind") == "disclosure":
                effects[outcome.get("effect")] += 1
            if outcome.get("subject") not in (None, GLOBAL):
                subjects.add(outcome["subject"])
    if source == "store":  # a store keeps accepted events only: the others are not zero, unknown
        status_rows = [("accepted", f'<span data-stat="status.accepted">{statuses.get("accepted", 0)}</span>')]
        status_rows += [(esc(s), f'<span class="note" data-stat="status.{esc(s)}">not kept</span>')
                        for s in ("duplicate", "rejected") if not statuses.get(s)]
        status_rows += [(esc(s), f'<span data-stat="status.{esc(s)}">{statuses[s]}</span>')
                        for s in ("duplicate", "rejected") if statuses.get(s)]
    else:
        status_rows = [(esc(s), f'<span data-stat="status.{esc(s)}">{statuses.get(s, 0)}</span>')
                       for s in ("accepted", "duplicate", "rejected")]
    status_rows += [(esc(s), f'<span data-stat="status.{esc(s)}">{n}</span>')
                    for s, n in sorted(statuses.items()) if s not in ("accepted", "duplicate", "rejected")]
    status_rows.append(("deadline timers", f'<span data-stat="timers">{timers}</span>'))
    status_rows.append(("<b>records</b>", f'<b data-stat="records">{len(records)}</b>'))
    kind_rows = []
    for kind in KINDS:
        extra = ""
        if kind == "disclosure" and kinds.get(kind):
            extra = (f' (permit <span data-stat="effect.permit">{effects.get("permit", 0)}</span>, '
                     f'deny <span data-stat="effect.deny">{effects.get("deny", 0)}</span>)')
        row = (esc(kind), f'<span data-stat="kind.{kind}">{kinds.get(kind, 0)}</span>{extra}')
        if source == "log":
            row += (f'<span data-stat="repeats.{kind}">{printed.get(kind, 0)}</span>',)
        kind_rows.append(row)
    total = ("<b>outcomes</b>", f'<b data-stat="outcomes">{sum(kinds.values())}</b>')
    if source == "log":
        total += (f'<b data-stat="repeats.outcomes">{sum(printed.values())}</b>',)
    kind_rows.append(total)
    span_rows = [
        ("first event", f'<span data-stat="first">{esc(format_time(first)) if first else "-"}</span>'),
        ("last event", f'<span data-stat="last">{esc(format_time(last)) if last else "-"}</span>'),
        ("days", esc(f"{(last - first).total_seconds() / 86400:.1f}") if first and last else "-"),
        ("subjects", f'<span data-stat="subjects">{len(subjects)}</span>'),
        ("out of order", f'<span data-stat="out_of_order">{out_of_order}</span>'),
        ("policy versions", ", ".join(f"{esc(v)} ({n})" for v, n in sorted(versions.items())) or "-"),
        *_decided_by(records),
    ]
    parts = ['<section id="summary"><h2>Summary</h2><div class="cards">',
             "<div><h3>Events by status</h3>", _table(("status", "events"), status_rows, ("", "n")),
             ('<p class="note">A deadline timer is not an event of the log: it is a decision of '
              "the engine's own, a <code>clock.tick</code> from "
              f"<code>{esc(TIMER_SOURCE)}</code> at the due instant of an obligation still owed "
              "then, fired by the first event later than it (as <code>clauseline replay</code>'s "
              "summary counts them). Its outcomes are counted with the accepted events'.</p>"
              if timers else ""),
             "</div><div><h3>Outcomes by kind</h3>",
             _table(("kind", "outcomes", "with repeats") if source == "log" else ("kind", "outcomes"),
                    kind_rows, ("", "n", "n")),
             '<p class="note">Outcomes of accepted events: a duplicate repeats its first decision, '
             "a rejected event has none. "
             + ("<i>With repeats</i> adds the outcomes a duplicate repeats, as the "
                "<code>outcomes</code> line of <code>clauseline replay</code>'s summary counts them."
                if source == "log" else
                "A store keeps accepted events only: a repeat is answered <code>duplicate</code> "
                "and a rejected event is refused, and neither is stored, so neither is counted "
                "here.")
             + "</p></div><div><h3>Time span</h3>",
             _table(None, span_rows, ("", "n")), "</div></div>"]
    rejected = [r for r in records if _decision(r).get("status") == "rejected"]
    if rejected:
        rows = []
        for record in rejected[:MAX_REJECTED]:
            decision = _decision(record)
            errors = decision.get("errors") or ()
            rows.append((esc(decision.get("event_id") or "-"), esc(decision.get("event_type") or "-"),
                         "<br>".join(f'<code>{esc(e.get("code"))}</code> {esc(e.get("message"))}'
                                     for e in errors if isinstance(e, dict))))
        parts += ["<h3>Rejected events</h3>", _table(("event", "type", "errors"), rows),
                  _more(len(rows), len(rejected), "rejected event(s)")]
    parts.append("</section>")
    return "".join(parts)


def _charts(records: list[dict], policy: Policy) -> str:
    dated = []
    for record in records:
        outcomes = _accepted_outcomes(record)
        moment = _instant(_decision(record).get("time"))
        if moment is not None:
            dated.append((moment, outcomes))
    parts = ['<section id="clauses"><h2>Outcomes by clause over time</h2>']
    if not dated:
        parts.append('<p class="note">No event with a readable time.</p></section>')
        return "".join(parts)
    first = min(m for m, _ in dated)
    last = max(m for m, _ in dated)
    unit = _period_unit(first, last)
    periods = _periods(first, last, unit)
    index = {p: i for i, p in enumerate(periods)}
    labels = [_period_label(p, unit) for p in periods]
    every: dict[str, list[int]] = defaultdict(lambda: [0] * len(periods))
    violations: dict[str, list[int]] = defaultdict(lambda: [0] * len(periods))
    kinds_by_clause: dict[str, Counter] = defaultdict(Counter)
    for moment, outcomes in dated:
        i = index[_period_start(moment, unit)]
        for outcome in outcomes:
            letter = str(outcome.get("clause") or "?")
            every[letter][i] += 1
            label = outcome.get("kind")
            if label == "disclosure":
                label = outcome.get("effect")
            kinds_by_clause[letter][label] += 1
            if outcome.get("kind") == "violation":
                violations[letter][i] += 1
    letters = sorted(every)
    titles = {letter: clause_title(policy, letter) for letter in letters}
    parts.append(f'<p class="meta">Outcomes of accepted events per {unit} (UTC), stacked by the '
                 "clause they cite; hover a segment for its count.</p>")
    parts.append("<h3>All outcomes</h3>")
    parts.append(_stacked_bars(labels, {k: every[k] for k in letters},
                               f"Outcomes per {unit} by clause"))
    parts.append(_legend(letters, titles))
    if violations:
        vletters = sorted(violations)
        parts.append("<h3>Violations</h3>")
        parts.append(_stacked_bars(labels, {k: violations[k] for k in vletters},
                                   f"Violations per {unit} by clause", height=220))
        parts.append(_legend(vletters, titles))
    top_value = max((max(every[k]) for k in letters), default=1)
    rows = []
    for letter in letters:
        breakdown = ", ".join(f"{esc(k)} {n}" for k, n in sorted(
            kinds_by_clause[letter].items(), key=lambda kv: (-kv[1], str(kv[0]))))
        rows.append((f"<b>{esc(letter)}</b>", esc(titles[letter]),
                     f'<span data-stat="clause.{esc(letter)}">{sum(every[letter])}</span>', breakdown,
                     _spark(every[letter], top_value, CLAUSE_COLOURS.get(letter, OTHER_COLOUR), labels)))
    parts.append(f"<h3>Per clause</h3><p class=\"meta\">One row per clause, bars per {unit} on one "
                 f"shared scale ({esc(labels[0])} to {esc(labels[-1])}).</p>")
    parts.append(_table(("clause", "title", "outcomes", "by kind", f"per {unit}"), rows,
                        ("", "", "n", "", "")))
    parts.append("</section>")
    return "".join(parts)


def _violations_section(records: list[dict], policy: Policy) -> str:
    by_code: dict[str, list[tuple[dict, dict]]] = defaultdict(list)
    for record, outcome in _violations(records):
        by_code[str(outcome.get("violation"))].append((record, outcome))
    parts = ['<section id="violations"><h2>Violations by code</h2>']
    if not by_code:
        parts.append('<p class="note">No violation.</p></section>')
        return "".join(parts)
    codes = sorted(by_code, key=lambda c: (-len(by_code[c]), c))
    parts.append(_table(("code", "violations", "rules"), [
        (f'<a href="#v-{esc(c)}"><code>{esc(c)}</code></a>',
         f'<span data-stat="violation.{esc(c)}">{len(by_code[c])}</span>',
         ", ".join(f"<code>{esc(r)}</code>" for r in sorted({str(o.get('rule')) for _, o in by_code[c]})))
        for c in codes], ("", "n", "")))
    for code in codes:
        found = by_code[code]
        parts.append(f'<div class="violation" id="v-{esc(code)}"><h3><code>{esc(code)}</code> '
                     f'<span class="count">{len(found)}</span></h3>')
        rules = Counter((_decision(r).get("policy_version"), str(o.get("rule"))) for r, o in found)
        shown_rules = set()
        for (version, rule_id), count in sorted(rules.items(), key=lambda kv: (kv[0][1], str(kv[0][0]))):
            # the deciding version's sentence, or any version's that has the rule
            info = rule_text(policy, version, rule_id, anywhere=True)
            if info is None:
                parts.append(f"<p><code>{esc(rule_id)}</code> ({count}): not a rule of the policy given.</p>")
                continue
            if info.id in shown_rules:
                continue
            shown_rules.add(info.id)
            total = sum(n for (_, r), n in rules.items() if r == rule_id)
            parts.append(f'<p><code>{esc(info.id)}</code> ({total}): {esc(info.title)}<br>'
                         f'clause <b>{esc(info.clause)}</b>: {esc(info.clause_title or "")} '
                         f'<span class="meta">({esc(info.version)})</span></p>'
                         f'<blockquote class="quote">{esc(info.quote)}</blockquote>')
            if info.readings:
                memory = getattr(policy.version_named(info.version), "memory", None)
                parts.append("<ul class=\"readings\">" + "".join(
                    f'<li><span class="reading-name">reading <code>{esc(name)}</code></span>'
                    f'<div class="reading">{reading_html(reading, memory)}</div></li>'
                    for name, reading in info.readings) + "</ul>")
        rows = []
        for record, outcome in found[:MAX_EXAMPLES]:
            decision = _decision(record)
            rows.append((f'<span class="time">{esc(decision.get("time"))}</span>',
                         f'{esc(decision.get("event_type"))}<br>{id_code(decision.get("event_id"))}'
                         f' <span class="meta">{esc(decision.get("event_source"))}</span>',
                         f'{id_code(outcome.get("subject"))}', f'{id_code(outcome.get("ref"))}',
                         esc(outcome.get("detail"))))
        parts.append("<h4>Examples</h4>" + _table(("time", "event", "subject", "ref", "detail"), rows))
        parts.append(_more(len(rows), len(found), "violation(s) of this code",
                           " (every one is in the violations CSV)"))
        parts.append("</div>")
    parts.append("</section>")
    return "".join(parts)


def _obligations_section(obligations: list[dict], as_of: datetime | None, records: list[dict]) -> str:
    history = obligation_history(records, obligations)
    parts = ['<section id="obligations"><h2>Obligations</h2>', _history_summary(history),
             "<h3>Still owed</h3>"]
    if not obligations:
        parts.append('<p class="note">No obligation is owed.</p>')
        parts.append(_history_section(history, as_of))
        parts.append("</section>")
        return "".join(parts)
    rows = []
    for o in obligations:
        rows.append({"subject": o.get("subject"), "ref": o.get("ref"), "obligation": o.get("obligation"),
                     "status": o.get("status"), "due_by": o.get("due_by"), "opened_at": o.get("opened_at"),
                     "missed": bool(o.get("missed")), "overdue": bool(o.get("overdue")),
                     "due": _instant(o.get("due_by")), "opened": _instant(o.get("opened_at"))})
    far = datetime.max.replace(tzinfo=timezone.utc)
    rows.sort(key=lambda r: (r["due"] or far, safe_text(r["subject"]), safe_text(r["ref"]),
                             safe_text(r["obligation"])))
    statuses = Counter(safe_text(r["status"]) for r in rows)
    for row in rows:  # past due when the caller says so, or when the log ran past the deadline
        row["late"] = row["missed"] or row["overdue"] or (
            row["due"] is not None and as_of is not None and row["due"] < as_of)
    late = sum(1 for r in rows if r["late"])
    parts.append(f'<p><span data-stat="obligations">{len(rows)}</span> obligation(s) owed: '
                 + ", ".join(f"{esc(s)} {n}" for s, n in sorted(statuses.items()))
                 + f'; <span data-stat="obligations.late">{late}</span> past due (missed, overdue, or due '
                 "before the log's last event). Bars run from opening to the deadline (the diamond); "
                 "a red outline marks one past due; the dashed line is the log's last event.</p>")
    shown = rows[:MAX_OBLIGATIONS]
    parts.append(_legend_status())
    parts.append(_timeline(shown, as_of) if any(r["due"] or r["opened"] for r in shown) or as_of
                 else "")
    parts.append(_table(("due by", "subject", "ref", "obligation", "status", "opened", "missed", "overdue"), [
        (esc(r["due_by"]), f'{id_code(r["subject"])}', f'{id_code(r["ref"])}',
         esc(r["obligation"]), esc(r["status"]), esc(r["opened_at"]), esc(r["missed"]), esc(r["overdue"]))
        for r in shown]))
    parts.append(_more(len(shown), len(rows), "obligation(s)", " (every one is in the obligations CSV)"))
    parts.append(_history_section(history, as_of))
    parts.append("</section>")
    return "".join(parts)


def _history_summary(history: list[dict]) -> str:
    steps = Counter(step["step"] for entry in history for step in entry["steps"])
    now = Counter(safe_text(entry["status"]) for entry in history)
    told = ", ".join(f'{esc(k)} <span data-stat="obligations.steps.{esc(k)}">{steps.get(k, 0)}</span>'
                     for k in STEPS)
    return (f'<p><span data-stat="obligations.history">{len(history)}</span> obligation(s) in these '
            f"records: {told} (steps of their histories). At the end: "
            + (", ".join(f"{esc(k)} {n}" for k, n in sorted(now.items())) or "none") + ".</p>")


def _history_section(history: list[dict], as_of: datetime | None) -> str:
    """Each obligation's history: a chart (one row each, a marker per step, its deadlines) and
    a table with every step's time, rule and clause."""
    parts = ["<h3>History</h3>"]
    if not history:
        parts.append('<p class="note">No obligation was opened in these records.</p>')
        return "".join(parts)
    shown = history[:MAX_OBLIGATIONS]
    parts.append('<p class="meta">One row per obligation, in the order they were opened: a dot per '
                 "step (hover for its time and rule), a diamond per deadline (hollow: one an "
                 "extension replaced), the line from the first step to the last (to the log's last "
                 "event while still owed). A step is an obligation outcome of a decision "
                 "(opened, extended, fulfilled, declined), or <b>missed</b>: the decision of the "
                 "engine's timer for the deadline (a <code>clock.tick</code> at the due instant, "
                 f"from <code>{esc(TIMER_SOURCE)}</code>), made when time passed the deadline "
                 "while the obligation was still open or extended.</p>")
    parts.append('<ul class="legend">' + "".join(
        f'<li><svg class="swatch" viewBox="0 0 10 10" width="10" height="10"><circle cx="5" cy="5" '
        f'r="5" fill="{colour}"/></svg> {esc(step)}</li>' for step, colour in STEP_COLOURS.items())
        + "</ul>")
    parts.append(_history_chart(shown, as_of))
    rows = []
    for entry in shown:
        items = []
        for step in entry["steps"]:
            cited = (f'<code>{esc(step["rule"])}</code>, clause {esc(step["clause"])}'
                     if step["rule"] else "no decision of these records")
            violations = "".join(f' <span class="flag">{esc(v)}</span>' for v in step["violations"])
            items.append(f'<li><b class="step-{esc(step["step"])}">{esc(step["step"])}</b> '
                         f'<span class="time">{esc(step["time"])}</span>'
                         + (f', due by <span class="time">{esc(step["due_by"])}</span>'
                            if step["due_by"] else "")
                         + f'<br><span class="meta">{cited}'
                         + (f'; event {id_code(step["event_id"])}' if step["event_id"] else "")
                         + f"</span>{violations}</li>")
        status = safe_text(entry["status"])
        rows.append((f'{id_code(entry["subject"])}', f'{id_code(entry["ref"])}',
                     esc(entry["obligation"]),
                     f'<span class="step-{esc(STEP_OF_STATUS.get(status, status))}">{esc(status)}</span>'
                     + (" (owed)" if entry["owed"] else ""),
                     '<ol class="steps">' + "".join(items) + "</ol>"))
    parts.append(_table(("subject", "ref", "obligation", "at the end", "history"), rows, kind="history"))
    parts.append(_more(len(shown), len(history), "obligation(s)", " (every one is in the obligations CSV)"))
    return "".join(parts)


def _history_chart(entries: list[dict], as_of: datetime | None, width: int = 1100) -> str:
    """Obligations' histories on one time axis: a row each, a dot per step, a diamond per deadline."""
    label_w, right, top, row_h = 300, 16, 34, 20
    instants = [t for e in entries for s in e["steps"] for t in (_instant(s["time"]), _instant(s["due_by"]))
                if t is not None]
    if as_of is not None:
        instants.append(as_of)
    if not instants:
        return ""
    axis = _TimeAxis(instants, width, label_w, right)
    x_of = axis.x
    height = top + row_h * len(entries) + 24
    parts = [f'<svg class="chart history" role="img" viewBox="0 0 {width} {height}" '
             f'xmlns="http://www.w3.org/2000/svg"><title>Obligations, step by step</title>']
    parts.extend(axis.grid(top, height))
    for i, entry in enumerate(entries):
        y = top + row_h * i
        mid = y + row_h / 2
        label = safe_text(entry["subject"]) + " · " + safe_text(entry["ref"])
        if len(label) > 44:
            label = label[:43] + "…"
        parts.append(f'<g><title>{esc(entry["subject"])} {esc(entry["ref"])}: {esc(entry["obligation"])}, '
                     f'{esc(entry["status"])} at the end</title><text class="rowlabel" x="{label_w - 8}" '
                     f'y="{_num(mid + 4)}" text-anchor="end">{html.escape(label)}</text></g>')
        times = [t for t in (_instant(s["time"]) for s in entry["steps"]) if t is not None]
        if times:
            end = max(times)
            if entry["owed"] and as_of is not None and as_of > end:
                end = as_of
            parts.append(f'<line class="span" x1="{_num(x_of(min(times)))}" x2="{_num(x_of(end))}" '
                         f'y1="{_num(mid)}" y2="{_num(mid)}"/>')
        deadlines = []
        for step in entry["steps"]:
            if step["due_by"] is not None and step["due_by"] not in deadlines:
                deadlines.append(step["due_by"])
        for n, due_by in enumerate(deadlines):
            due = _instant(due_by)
            if due is None:
                continue
            last = n == len(deadlines) - 1
            fill = 'fill="#333"' if last else 'fill="#fff" stroke="#333"'
            parts.append(f'<path d="M{_num(x_of(due))} {_num(mid - 6)}l5 6l-5 6l-5 -6z" {fill}>'
                         f'<title>{"deadline" if last else "deadline replaced"} {esc(due_by)}</title></path>')
        for step in entry["steps"]:
            moment = _instant(step["time"])
            if moment is None:
                continue
            colour = STEP_COLOURS.get(step["step"], OTHER_COLOUR)
            tip = (f'{step["step"]} {safe_text(step["time"])}'
                   + (f', due by {safe_text(step["due_by"])}' if step["due_by"] else "")
                   + (f', {safe_text(step["rule"])} (clause {safe_text(step["clause"])})'
                      if step["rule"] else "")
                   + "".join(f", {safe_text(v)}" for v in step["violations"]))
            parts.append(f'<circle cx="{_num(x_of(moment))}" cy="{_num(mid)}" r="5" fill="{colour}" '
                         f'stroke="#fff"><title>{html.escape(tip)}</title></circle>')
    if as_of is not None:
        x = _num(x_of(as_of))
        parts.append(f'<line class="asof" x1="{x}" x2="{x}" y1="{top - 8}" y2="{height - 16}"/>'
                     f'<text class="asof-label" x="{_num(x_of(as_of) - 4)}" y="{height - 4}" text-anchor="end">'
                     f'last event {esc(format_time(as_of))}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _legend_status() -> str:
    return '<ul class="legend">' + "".join(
        f'<li><svg class="swatch" viewBox="0 0 10 10" width="10" height="10"><rect width="10" '
        f'height="10" fill="{colour}"/></svg> {esc(status)}</li>'
        for status, colour in STATUS_COLOURS.items()) + "</ul>"


def _subjects_section(records: list[dict]) -> str:
    per_subject: dict[str, list[tuple[dict, list[dict]]]] = defaultdict(list)
    violations: Counter = Counter()
    for record in records:
        decision = _decision(record)
        own = _subject_of(record)
        outcomes = [o for o in decision.get("outcomes") or () if isinstance(o, dict)]
        about: dict[str, list[dict]] = {}
        if own is not None:
            about[own] = [o for o in outcomes if o.get("subject") in (own, GLOBAL, None)]
        for outcome in outcomes:
            subject = outcome.get("subject")
            if isinstance(subject, str) and subject != GLOBAL:
                about.setdefault(subject, [])
                if subject != own:
                    about[subject].append(outcome)
        for subject, listed in about.items():
            per_subject[subject].append((record, listed))
            if decision.get("status") == "accepted":
                violations[subject] += sum(1 for o in listed if o.get("kind") == "violation")
    parts = ['<section id="subjects"><h2>Subjects</h2>']
    if not per_subject:
        parts.append('<p class="note">No event names a subject.</p></section>')
        return "".join(parts)
    order = sorted(per_subject, key=lambda s: (-violations[s], -len(per_subject[s]), s))
    shown = order[:MAX_SUBJECTS]
    parts.append(f'<p class="meta"><span data-stat="subjects.listed">{len(order)}</span> subject(s), '
                 "those with the most violations, then the most events, first; each lists the "
                 "events that name it (as the event's subject or in an outcome) with the outcomes "
                 f"about it, in log order, at most {MAX_SUBJECT_EVENTS} per subject.</p>"
                 '<input id="subject-filter" type="search" placeholder="filter subjects by id" '
                 'aria-label="filter subjects by id" hidden>')
    for subject in shown:
        items = per_subject[subject]
        accepted = [(r, o) for r, o in items if _decision(r).get("status") == "accepted"]
        n_outcomes = sum(len(o) for _, o in accepted)
        flag = (f' <span class="count">{violations[subject]} violation(s)</span>'
                if violations[subject] else "")
        parts.append(f'<details class="subject" data-subject="{esc(subject)}"><summary>'
                     f'<code>{esc(subject)}</code>: {len(items)} event(s), {n_outcomes} outcome(s)'
                     f"{flag}</summary>")
        rows = []
        for record, listed in items[:MAX_SUBJECT_EVENTS]:
            decision = _decision(record)
            event = _event(record)
            status = str(decision.get("status") or "unknown")
            lines = []
            if status == "rejected":
                lines = [f'<li><code>{esc(e.get("code"))}</code> {esc(e.get("message"))}</li>'
                         for e in decision.get("errors") or () if isinstance(e, dict)]
            for outcome in listed:
                try:
                    said = outcome_summary(outcome)
                except (KeyError, TypeError):
                    said = safe_json(outcome)
                lines.append(f'<li><b>{esc(outcome.get("kind"))}</b> {esc(said)} '
                             f'<span class="meta">[{esc(outcome.get("rule"))}, clause '
                             f'{esc(outcome.get("clause"))}]</span></li>')
            data = safe_json(event.get("data")) if event and "data" in event else ""
            if len(data) > MAX_DATA_CHARS:
                data = data[:MAX_DATA_CHARS - 1] + "…"
            rows.append((f'<span class="time">{esc(decision.get("time"))}</span>',
                         f'{esc(decision.get("event_type"))}<br>{id_code(decision.get("event_id"))}',
                         f'<span class="status-{esc(status)}">{esc(status)}</span>',
                         ('<ul class="outcomes">' + "".join(lines) + "</ul>") if lines else "-",
                         f'<code class="data">{esc(data)}</code>' if data else "-"))
        parts.append(_table(("time", "event", "status", "outcomes about this subject", "data"), rows))
        parts.append(_more(len(rows), len(items), "event(s) of this subject"))
        parts.append("</details>")
    parts.append(_more(len(shown), len(order), "subject(s)", " (fewest violations and events)"))
    parts.append("</section>")
    return "".join(parts)


def _chain_section(chain: str | None) -> str:
    if chain is None:
        cls, text = "none", ("Not applicable: these records were replayed in memory, so they have "
                             "no hash chain to verify.")
    else:
        cls = "intact" if chain.startswith("chain intact") else (
            "broken" if chain.startswith("chain broken") else "none")
        text = chain
    # verify's verdict masks what it quotes of an event itself; masked again, a head hash whose
    # hex digits happen to hold a card-like run (about one in a hundred) would not be the head
    # an auditor compares with ``verify --head``
    return (f'<section id="chain"><h2>Chain verification</h2><p class="chain {cls}" '
            f'data-chain="{cls}">{html.escape(text, quote=True)}</p></section>')


def render_html(records: list[dict], *, policy: Policy, obligations: list[dict], chain: str | None,
                title: str = "clauseline report", source: str = "log") -> str:
    """The audit report of a decision log as one self-contained HTML page (see the module).

    ``records``: ``{"event": dict | None, "decision": Decision.as_dict()}`` per log line, in log
    order, optionally with the ``engine_version`` and ``policy_hash`` that decided it (the
    summary names them); ``policy``: the loaded policy that explains rules and clauses; ``obligations``: those
    still owed (``SqlStore.owed()``); ``chain``: the one-line result of the hash-chain check, or
    None when the records have no chain (a replay in memory); ``source``: ``"log"`` (a log
    replayed: every line is a record) or ``"store"`` (a store's log: accepted events only, so the
    summary says duplicates and rejected events are not kept instead of counting 0)."""
    if source not in SOURCES:
        raise ValueError(f"source is one of {', '.join(SOURCES)}, not {source!r}")
    moments = [m for m in (_instant(_decision(r).get("time")) for r in records) if m is not None]
    first, last = (min(moments), max(moments)) if moments else (None, None)
    versions = ", ".join(f"{v.version} (from {format_time(v.effective_from)})" for v in policy.versions)
    csp = ("default-src 'none'; base-uri 'none'; form-action 'none'; img-src data:; "
           f"style-src {_csp_hash(_STYLE)}; script-src {_csp_hash(_SCRIPT)}")
    head = (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{html.escape(csp)}">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<meta name="referrer" content="no-referrer">'
            f"<title>{esc(title)}</title><style>{_STYLE}</style></head><body><main>")
    intro = (f"<header><h1>{esc(title)}</h1><p class=\"meta\">{len(records)} record(s)"
             + (f" from {esc(format_time(first))} to {esc(format_time(last))}" if first else "")
             + f"; policy {esc(versions)}. Card, bank and SSN numbers are masked.</p>"
             '<nav><ul><li><a href="#summary">Summary</a></li><li><a href="#chain">Chain</a></li>'
             '<li><a href="#clauses">Clauses over time</a></li><li><a href="#violations">Violations</a>'
             '</li><li><a href="#obligations">Obligations</a></li><li><a href="#subjects">Subjects</a>'
             "</li></ul></nav></header>")
    body = [head, intro, _summary(records, first, last, source), _chain_section(chain),
            _charts(records, policy), _violations_section(records, policy),
            _obligations_section(obligations, last, records), _subjects_section(records),
            f"</main><script>{_SCRIPT}</script></body></html>\n"]
    return "".join(body)


__all__ = ["FILTER_WORDS", "MAX_DATA_CHARS", "MAX_EXAMPLES", "MAX_OBLIGATIONS", "MAX_REJECTED",
           "MAX_SUBJECTS", "MAX_SUBJECT_EVENTS", "OBLIGATION_FIELDS", "PATH_WORDS", "SOURCES", "STEPS",
           "esc", "obligation_history", "obligations_csv", "path_words", "reading_html",
           "render_html", "safe_json", "safe_text", "syntax_words", "template_words",
           "violations_csv"]


def replayed(decisions: Iterable[tuple[int, Any]], lines: list) -> Iterable[tuple[dict | None, Any]]:
    """(event, decision) of each decision of a replay of ``lines`` (``Session.replay``'s
    (line number, decision) pairs), as a store keeps them: a timer's decision with its own tick
    (:func:`clauseline.timers.tick_of`), every other with its line's event (None when the line
    is no event). What ``clauseline report LOG`` reports on."""
    from .events import parse_event
    for number, decision in decisions:
        if decision.event_source == TIMER_SOURCE and decision.status != "rejected":
            yield tick_of(decision), decision
            continue
        event, problems = parse_event(lines[number - 1])
        yield (None if problems else event), decision
