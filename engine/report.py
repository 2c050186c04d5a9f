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

Counting: a record is one line of the log (``{"event", "decision"}``); outcomes are counted over
accepted decisions only, since a duplicate repeats its first decision and a rejected one has none.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import html
import io
import json
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable

from .decision import GLOBAL, KIND_ORDER
from .eventtime import format_time, parse_time
from .explain import clause_title, outcome_summary, rule_text
from .policy.model import Policy
from .redact import kind_of_key, mask_numbers

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

#: One colour per clause letter (A to W), stable across reports.
CLAUSE_COLOURS = dict(zip("ABCDEFGHIJKLMNOPQRSTUVW", (
    "#1f77b4", "#aec7e8", "#ff7f0e", "#ffbb78", "#2ca02c", "#98df8a", "#d62728", "#ff9896",
    "#9467bd", "#c5b0d5", "#8c564b", "#c49c94", "#e377c2", "#f7b6d2", "#7f7f7f", "#c7c7c7",
    "#bcbd22", "#dbdb8d", "#17becf", "#9edae5", "#393b79", "#637939", "#8c6d31")))
OTHER_COLOUR = "#555555"
STATUS_COLOURS = {"open": "#1f77b4", "extended": "#ff7f0e", "missed": "#d62728"}

KINDS = tuple(sorted(KIND_ORDER, key=KIND_ORDER.get))
VIOLATION_FIELDS = ("time", "event_source", "event_id", "subject", "clause", "rule", "violation",
                    "ref", "detail")
OBLIGATION_FIELDS = ("subject", "ref", "obligation", "status", "due_by", "opened_at", "missed",
                     "overdue")


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


def _subject_of(record: dict) -> str | None:
    event = _event(record)
    subject = event.get("subject") if event else None
    return subject if isinstance(subject, str) else None


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


def obligations_csv(obligations: list[dict]) -> str:
    """One row per obligation still owed, in the order given, with a header: subject, ref,
    obligation, status, due_by, opened_at, missed, overdue (booleans as true/false)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(OBLIGATION_FIELDS)
    for obligation in obligations:
        writer.writerow([_csv_cell(obligation.get(name)) for name in OBLIGATION_FIELDS])
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


def _timeline(rows: list[dict], as_of: datetime | None, width: int = 1100) -> str:
    """Obligations as bars from opening to due time, one row each, with the log's end marked."""
    label_w, right, top, row_h = 300, 16, 34, 18
    instants = [t for r in rows for t in (r["opened"], r["due"]) if t is not None]
    if as_of is not None:
        instants.append(as_of)
    first, last = min(instants), max(instants)
    # positions are computed on seconds, so that the padding never leaves the datetime range
    low, high = first.timestamp(), max(last.timestamp(), first.timestamp() + 86400)
    pad = (high - low) * 0.03
    low, high = low - pad, high + pad
    plot_w = width - label_w - right
    height = top + row_h * len(rows) + 24

    def x_of(moment: datetime) -> float:
        return label_w + plot_w * (moment.timestamp() - low) / (high - low)

    parts = [f'<svg class="chart timeline" role="img" viewBox="0 0 {width} {height}" '
             f'xmlns="http://www.w3.org/2000/svg"><title>Open obligations by deadline</title>']
    try:
        span = (datetime.fromtimestamp(low, timezone.utc), datetime.fromtimestamp(high, timezone.utc))
    except (ValueError, OverflowError, OSError):
        span = (first, last)
    for moment, label in _time_ticks(*span):
        x = _num(x_of(moment))
        parts.append(f'<line class="grid" x1="{x}" x2="{x}" y1="{top - 8}" y2="{height - 16}"/>'
                     f'<text class="tick" x="{x}" y="{top - 12}" text-anchor="middle">{esc(label)}</text>')
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
.cards{display:flex;flex-wrap:wrap;gap:16px}.cards>div{flex:1 1 240px}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px;word-break:break-all}
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


def _table(head: Iterable[str] | None, rows: Iterable[Iterable[str]], classes: Iterable[str] = ()) -> str:
    """An HTML table from cells that are already HTML (no header row when ``head`` is None);
    ``classes`` per column (e.g. ``n``)."""
    classes = list(classes)
    out = ["<table>"]
    if head is not None:
        out += ["<thead><tr>", *(f"<th>{h}</th>" for h in head), "</tr></thead>"]
    out.append("<tbody>")
    for row in rows:
        out.append("<tr>")
        for i, cell in enumerate(row):
            cls = f' class="{classes[i]}"' if i < len(classes) and classes[i] else ""
            out.append(f"<td{cls}>{cell}</td>")
        out.append("</tr>")
    out.append("</tbody></table>")
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


def _summary(records: list[dict], first: datetime | None, last: datetime | None) -> str:
    statuses = Counter(_decision(r).get("status") or "unknown" for r in records)
    kinds: Counter = Counter()
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
        for outcome in _accepted_outcomes(record):
            kinds[outcome.get("kind")] += 1
            if outcome.get("kind") == "disclosure":
                effects[outcome.get("effect")] += 1
            if outcome.get("subject") not in (None, GLOBAL):
                subjects.add(outcome["subject"])
    status_rows = [(esc(s), f'<span data-stat="status.{esc(s)}">{statuses.get(s, 0)}</span>')
                   for s in ("accepted", "duplicate", "rejected")]
    status_rows += [(esc(s), f'<span data-stat="status.{esc(s)}">{n}</span>')
                    for s, n in sorted(statuses.items()) if s not in ("accepted", "duplicate", "rejected")]
    status_rows.append(("<b>records</b>", f'<b data-stat="records">{len(records)}</b>'))
    kind_rows = []
    for kind in KINDS:
        extra = ""
        if kind == "disclosure" and kinds.get(kind):
            extra = (f' (permit <span data-stat="effect.permit">{effects.get("permit", 0)}</span>, '
                     f'deny <span data-stat="effect.deny">{effects.get("deny", 0)}</span>)')
        kind_rows.append((esc(kind), f'<span data-stat="kind.{kind}">{kinds.get(kind, 0)}</span>{extra}'))
    kind_rows.append(("<b>outcomes</b>", f'<b data-stat="outcomes">{sum(kinds.values())}</b>'))
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
             "</div><div><h3>Outcomes by kind</h3>",
             _table(("kind", "outcomes"), kind_rows, ("", "n")),
             '<p class="note">Outcomes of accepted events: a duplicate repeats its first decision, '
             "a rejected event has none.</p></div><div><h3>Time span</h3>",
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
                parts.append("<ul class=\"readings\">" + "".join(
                    f"<li>reading <code>{esc(name)}</code>: {esc(reading)}</li>"
                    for name, reading in info.readings) + "</ul>")
        rows = []
        for record, outcome in found[:MAX_EXAMPLES]:
            decision = _decision(record)
            rows.append((esc(decision.get("time")),
                         f'{esc(decision.get("event_type"))}<br><code>{esc(decision.get("event_id"))}</code>'
                         f' <span class="meta">{esc(decision.get("event_source"))}</span>',
                         f'<code>{esc(outcome.get("subject"))}</code>', f'<code>{esc(outcome.get("ref"))}</code>',
                         esc(outcome.get("detail"))))
        parts.append("<h4>Examples</h4>" + _table(("time", "event", "subject", "ref", "detail"), rows))
        parts.append(_more(len(rows), len(found), "violation(s) of this code",
                           " (every one is in the violations CSV)"))
        parts.append("</div>")
    parts.append("</section>")
    return "".join(parts)


def _obligations_section(obligations: list[dict], as_of: datetime | None) -> str:
    parts = ['<section id="obligations"><h2>Open obligations</h2>']
    if not obligations:
        parts.append('<p class="note">No obligation is owed.</p></section>')
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
        (esc(r["due_by"]), f'<code>{esc(r["subject"])}</code>', f'<code>{esc(r["ref"])}</code>',
         esc(r["obligation"]), esc(r["status"]), esc(r["opened_at"]), esc(r["missed"]), esc(r["overdue"]))
        for r in shown]))
    parts.append(_more(len(shown), len(rows), "obligation(s)", " (every one is in the obligations CSV)"))
    parts.append("</section>")
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
            rows.append((esc(decision.get("time")),
                         f'{esc(decision.get("event_type"))}<br><code>{esc(decision.get("event_id"))}</code>',
                         f'<span class="status-{esc(status)}">{esc(status)}</span>',
                         ('<ul class="outcomes">' + "".join(lines) + "</ul>") if lines else "-",
                         f"<code>{esc(data)}</code>" if data else "-"))
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
    return (f'<section id="chain"><h2>Chain verification</h2><p class="chain {cls}" '
            f'data-chain="{cls}">{esc(text)}</p></section>')


def render_html(records: list[dict], *, policy: Policy, obligations: list[dict], chain: str | None,
                title: str = "clauseline report") -> str:
    """The audit report of a decision log as one self-contained HTML page (see the module).

    ``records``: ``{"event": dict | None, "decision": Decision.as_dict()}`` per log line, in log
    order, optionally with the ``engine_version`` and ``policy_hash`` that decided it (the
    summary names them); ``policy``: the loaded policy that explains rules and clauses; ``obligations``: those
    still owed (``SqlStore.owed()``); ``chain``: the one-line result of the hash-chain check, or
    None when the records have no chain (a replay in memory)."""
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
    body = [head, intro, _summary(records, first, last), _chain_section(chain),
            _charts(records, policy), _violations_section(records, policy),
            _obligations_section(obligations, last), _subjects_section(records),
            f"</main><script>{_SCRIPT}</script></body></html>\n"]
    return "".join(body)


__all__ = ["MAX_DATA_CHARS", "MAX_EXAMPLES", "MAX_OBLIGATIONS", "MAX_REJECTED", "MAX_SUBJECTS",
           "MAX_SUBJECT_EVENTS", "esc", "obligations_csv", "render_html", "safe_json", "safe_text",
           "violations_csv"]
